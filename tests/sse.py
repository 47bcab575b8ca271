"""Reading the server-sent events our streaming views answer (the playground's and the chat's)."""

from __future__ import annotations

import json
import re


def events(response) -> list[tuple[str, object]]:
    """The server-sent events of a streamed response, as (name, decoded JSON data)."""
    body = b"".join(response.streaming_content).decode()
    found = []
    for block in body.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            found.append((fields["event"], json.loads(fields["data"])))
    return found


def stream_url(response) -> str:
    match = re.search(r'data-stream="([^"]+)"', response.content.decode())
    assert match, response.content.decode()
    return match.group(1)
