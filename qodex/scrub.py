"""Scrubbing secrets out of text shown to people (SPEC §6): test logins, captures, run steps.

A target that echoes a password rarely echoes it verbatim: it comes back URL-encoded from a form,
JSON-escaped from an API, HTML-escaped from a page, or base64 inside a Basic auth header. Each of those
forms is replaced, longest first, so a shorter secret can't break up a longer one's form.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from qodex.crypto import MASK

# A base64 form shorter than this (from a secret of a few bytes) would mask unrelated text.
MIN_BASE64_CORE = 8
# What a browser leaves unencoded in a URL's query and path (WHATWG URL percent-encode sets): the
# form a secret takes in `page.url` after Chromium has navigated with it.
_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))
BROWSER_QUERY_SAFE = "".join(char for char in _PRINTABLE if char not in "\"#<>'")
BROWSER_PATH_SAFE = "".join(char for char in _PRINTABLE if char not in '"#<>?`{}')


def forms(secret: str) -> set[str]:
    """Every common encoding of `secret`: raw, URL-encoded, JSON-escaped, HTML-escaped and base64."""
    if not secret:
        return set()
    found = {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote(secret, safe=BROWSER_QUERY_SAFE),
        quote(secret, safe=BROWSER_PATH_SAFE),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
    }
    found |= _base64_forms(secret.encode())
    found.discard("")
    return found


def _base64_forms(raw: bytes) -> set[str]:
    """The secret's base64 whole (padded or not), and the part of it that shows wherever it starts in a
    longer encoded text (such as `user:password` in a Basic auth header)."""
    found = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        found |= {whole, whole.rstrip("=")}
        for offset in range(3):
            # Preceded by `offset` other bytes: only the groups of 3 bytes made of the secret alone
            # encode the same way, whatever surrounds it.
            encoded = encode(b"\0" * offset + raw).decode()
            first_group = -(-offset // 3)
            last_group = (offset + len(raw)) // 3
            core = encoded[first_group * 4 : last_group * 4]
            if len(core) >= MIN_BASE64_CORE:
                found.add(core)
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by the mask, longest form first."""
    every = set()
    for secret in secrets:
        every |= forms(secret)
    for form in sorted(every, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
