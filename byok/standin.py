"""A local OpenAI-compatible server: the LLM provider for tests and offline demos.

No LLM provider is reachable from where Qodex is built and tested, so the real `openai` SDK talks to
this stand-in over real HTTP instead, exactly as it would to a provider. It listens on 127.0.0.1 only,
speaks HTTP/1.1 with keep-alive (as providers do) and uses nothing beyond the standard library.

    with StandIn() as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")
        client.chat.completions.create(model="standin-mini", messages=[...])
        server.requests[-1].api_key  # "sk-test"

Endpoints (under `server.url`, which ends in `/v1`):

- `POST /v1/chat/completions`: the Chat Completions shape; the reply is
  `"Stand-in reply to: <last user message, first 200 characters>"`. `usage` counts prompt tokens as
  the characters of every message's content // 4 and completion tokens as len(reply) // 4 (each at
  least 1), with `prompt_tokens_details.cached_tokens` 0. `"stream": true` answers server-sent events:
  a role chunk, the reply in a few content chunks, a chunk with `finish_reason: "stop"`, then, when
  `stream_options.include_usage` is true, a chunk with `choices: []` and the usage, then `data: [DONE]`.
  Any model name is accepted and echoed back without its switches (see below).
- `GET /v1/models` and `GET /v1/models/<id>`: the names given as `StandIn(models=[...])`.

Every request needs `Authorization: Bearer <key>`: a missing header, or a key in `rejected_keys`,
gets 401 `invalid_api_key` in OpenAI's error shape. A body that is not JSON, or a chat completion
without `model` or `messages`, gets 400 `invalid_request_error`.

Switches change what the stand-in answers. Two ways to set them, with the same names and meanings:

- per server: `server.behave(status=429, fail_times=2)` sets the switches for every request that
  follows (replacing the previous ones and restarting the `fail_times` count); `server.reset()` goes
  back to normal and forgets the recorded requests.
- per request, through the model name, query-string style: `model="gpt-4o-mini?status=500&fail_times=1"`.
  They apply to that request only, on top of the server's (a switch set both ways takes the model
  name's value), so tests that share a server (threads, the demo server) do not disturb each other.
  An unknown switch or a bad value is a 400 naming it.

Server switches apply to every endpoint (`reply`, the token numbers and `chunk_delay` only mean something
to chat completions); model-name switches to the chat completion that names them. The switches:

- `latency` (seconds): wait before answering (any answer, the 401 included).
- `status` (400-599): answer that status in OpenAI's error shape: 401 `invalid_api_key`, 403
  `permission_denied`, 404 `model_not_found`, 429 `rate_limit_exceeded` (with `Retry-After`), 500 and
  503 `server_error`, so the SDK raises `AuthenticationError`, `RateLimitError`,
  `InternalServerError`, ...
- `retry_after` (seconds): sent with the error as `Retry-After` (whole seconds, rounded up) and
  `retry-after-ms`, which the SDK honours when it retries. 429 sends 1 second unless told otherwise.
- `hang` (seconds): accept the request and send nothing for that long, then close the connection
  without an answer: a client timeout shorter than `hang` fires first.
- `malformed`, a 200 the SDK cannot use (tests/byok/test_standin.py pins what the SDK then does):
  `not_json`: an `application/json` body cut short, the SDK raises `json.JSONDecodeError` (a
  ValueError, not an `openai.APIError`); `html`: a `text/html` proxy page, the SDK *returns it as a
  str* instead of a completion (an empty stream when streaming); `no_choices`: a completion without
  `choices` (a model list without `data`), the SDK returns it with `choices=None`. Streamed, `not_json`
  sends one good chunk, then a `data:` line the SDK fails on while iterating. (`models.list()` over
  `html` raises AttributeError inside the SDK.)
- `stream_fault` (`cut`, `error` or `stall`), a provider failing in the middle of a streamed reply,
  after the role chunk and `fault_after` content chunks (default 2 of the 4) have gone out: `cut`
  closes the connection without ending the chunked body (the SDK raises `APIConnectionError` from
  httpx's incomplete chunked read); `error` sends OpenAI's mid-stream error event `data: {"error": …}`
  and ends the body (the SDK raises a bare `openai.APIError` with its message); `stall` sends nothing
  more until the client gives up or the server stops (the SDK raises `APITimeoutError` once its read
  timeout passes). None sends a finish or usage chunk. A call that is not streamed gets, with `cut`,
  half of its body before the connection closes (`APIConnectionError`); the others need a stream.
- `fault_after` (n): how many content chunks `stream_fault` lets through first.
- `fail_times` (n): the faults above (`status`, `hang`, `malformed`, `stream_fault`; `status=500` if none
  is given)
  hit only the next n requests; later ones succeed. Per request, the count belongs to the exact model
  string, so concurrent tests give theirs a distinct tag, e.g. `model="m?fail_times=1&tag=t1"`.
- `reply` (text): the reply instead of the default.
- `prompt_tokens`, `completion_tokens`, `cached_tokens`, `total_tokens`: the usage numbers instead of
  the counted ones; `total_tokens` defaults to prompt + completion, so setting it higher imitates
  providers whose completion tokens leave out reasoning tokens.
- `no_usage` (bool): leave `usage` out (and send no usage chunk when streaming).
- `chunk_delay` (seconds): wait between streamed chunks.
- `tag` (text): does nothing; it only tells model strings apart (see `fail_times`).

`server.requests` lists every request received, refused ones included, as `Request(method, path,
headers, body)`: header names lower-case, `body` the parsed JSON (None if absent or not JSON), and
`.api_key` the bearer key.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

DEFAULT_MODELS = ("standin-mini", "gpt-4o-mini", "claude-3-5-haiku", "gemini-1.5-flash")
REPLY_PREFIX = "Stand-in reply to: "
MALFORMED_KINDS = ("not_json", "html", "no_choices")
STREAM_FAULTS = ("cut", "error", "stall")
STALL_SECONDS = 60  # how long `stall` holds the line at most (stop() releases it at once)
HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"  # what a proxy in the way answers
STREAM_PIECES = 4  # content chunks a streamed reply is split into
DEFAULT_RETRY_AFTER_429 = 1.0
DEFAULT_FAULT_AFTER = 2  # content chunks a `stream_fault` lets through: half of STREAM_PIECES
STREAM_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
FAULTS = {"status", "hang", "malformed", "stream_fault"}  # what `fail_times` limits to the first n requests


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on", ""):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    return bool(value)


def _seconds(value: Any) -> float:
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("expected a number of seconds, 0 or more")
    return seconds


def _count(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 0:
        raise ValueError("expected a whole number, 0 or more")
    return number


def _status(value: Any) -> int:
    status = _count(value)
    if not 400 <= status <= 599:
        raise ValueError("expected an HTTP error status, 400-599")
    return status


def _malformed(value: Any) -> str:
    if value is True or value in ("1", "true", ""):
        return "not_json"
    if value not in MALFORMED_KINDS:
        raise ValueError(f"expected one of {', '.join(MALFORMED_KINDS)}")
    return value


def _stream_fault(value: Any) -> str:
    if value not in STREAM_FAULTS:
        raise ValueError(f"expected one of {', '.join(STREAM_FAULTS)}")
    return value


# Every switch and how a value (a Python value from behave(), a string from a model name) is read.
SWITCHES = {
    "latency": _seconds,
    "status": _status,
    "retry_after": _seconds,
    "hang": _seconds,
    "malformed": _malformed,
    "stream_fault": _stream_fault,
    "fault_after": _count,
    "fail_times": _count,
    "reply": str,
    "prompt_tokens": _count,
    "completion_tokens": _count,
    "cached_tokens": _count,
    "total_tokens": _count,
    "no_usage": _boolean,
    "chunk_delay": _seconds,
    "tag": str,  # only names a per-request `fail_times` count apart from others
}


def parse_switches(raw: dict[str, Any]) -> dict[str, Any]:
    """Check and convert switches; ValueError names the first unknown switch or bad value."""
    switches = {}
    for name, value in raw.items():
        if name not in SWITCHES:
            raise ValueError(f"Unknown stand-in switch {name!r}; known: {', '.join(SWITCHES)}.")
        try:
            switches[name] = SWITCHES[name](value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Bad value {value!r} for stand-in switch {name!r}: {error}.") from None
    return switches


def split_model(model: str) -> tuple[str, dict[str, Any]]:
    """`"gpt-4o-mini?status=429"` → `("gpt-4o-mini", {"status": 429})`; ValueError on a bad switch."""
    name, _, query = model.partition("?")
    return name, parse_switches(dict(parse_qsl(query, keep_blank_values=True)))


@dataclass(frozen=True)
class Request:
    """One request the stand-in received. Header names are lower-case; `body` is the parsed JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def api_key(self) -> str | None:
        """The bearer key of the Authorization header, or None without one."""
        scheme, _, key = self.headers.get("authorization", "").partition(" ")
        return (key.strip() or None) if scheme.lower() == "bearer" else None


def _masked(key: str) -> str:
    # OpenAI's own 401 message quotes the key this way; the gateway must not pass it on verbatim.
    return (key[:3] + "*" * max(len(key) - 7, 4) + key[-4:]) if len(key) > 8 else "*" * len(key)


# Status → (error type, error code, message), as OpenAI answers them.
ERRORS = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_body(status: int, message: str | None = None) -> dict:
    """OpenAI's error shape for `status`."""
    kind, code, default = ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}.")
    )
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


def _text(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def compose_reply(messages: list[dict], switches: dict[str, Any]) -> tuple[str, dict | None]:
    """The reply text and `usage` (None with `no_usage`) the stand-in gives `messages`."""
    reply = switches.get("reply")
    if reply is None:
        users = [message for message in messages if message.get("role") == "user"]
        reply = REPLY_PREFIX + (_text(users[-1].get("content"))[:200] if users else "")
    if switches.get("no_usage"):
        return reply, None
    characters = sum(len(_text(message.get("content"))) for message in messages)
    prompt = switches.get("prompt_tokens", max(1, characters // 4))
    completion = switches.get("completion_tokens", max(1, len(reply) // 4))
    return reply, {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": switches.get("total_tokens", prompt + completion),
        "prompt_tokens_details": {"cached_tokens": switches.get("cached_tokens", 0)},
    }


def stream_chunks(completion_id: str, created: int, model: str, reply: str, usage: dict | None) -> list[dict]:
    """The `chat.completion.chunk` objects of a streamed reply; the usage chunk last when given."""

    def chunk(delta: dict | None, finish_reason: str | None = None) -> dict:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_standin",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            data["usage"] = None  # as OpenAI: null on every chunk but the last
        return data

    size = max(1, math.ceil(len(reply) / STREAM_PIECES))
    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": reply[start : start + size]}) for start in range(0, len(reply), size)]
    chunks.append(chunk({}, "stop"))
    if usage is not None:
        chunks.append(chunk(None) | {"usage": usage})
    return chunks


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: StandIn, port: int) -> None:
        self.standin = standin
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client gave up or stop() closed the connection: expected, not worth a traceback
        super().handle_error(request, client_address)


class StandIn:
    """An OpenAI-compatible server on 127.0.0.1 (see the module docstring for what it answers)."""

    def __init__(
        self,
        port: int = 0,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        rejected_keys: Iterable[str] = (),
    ) -> None:
        self.port = port
        self.models = list(models)
        self.rejected_keys = set(rejected_keys)
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._switches: dict[str, Any] = {}
        self._failures: dict[str, int] = {}  # fail_times count per source ("" = the server's switches)
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    def start(self) -> StandIn:
        """Bind 127.0.0.1 (port 0 = any free one) and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("This stand-in is already running.")
        self._stopping.clear()
        self._server = _Server(self, self.port)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"llm-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections, so later requests fail to connect. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # releases `latency`, `hang` and `chunk_delay` waits
        server.shutdown()
        with server.connections_lock:
            for connection in server.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL an SDK takes as `base_url`, e.g. `http://127.0.0.1:54321/v1`."""
        if self._server is None:
            raise RuntimeError("Start the stand-in first: its port is chosen when it binds.")
        return f"http://127.0.0.1:{self.port}/v1"

    # What tests set and read

    def behave(
        self,
        *,
        latency: float | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        hang: float | None = None,
        malformed: str | bool | None = None,
        stream_fault: str | None = None,
        fault_after: int | None = None,
        fail_times: int | None = None,
        reply: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cached_tokens: int | None = None,
        total_tokens: int | None = None,
        no_usage: bool | None = None,
        chunk_delay: float | None = None,
    ) -> None:
        """Set the switches for every request that follows, replacing the previous ones.

        Arguments left out (None) are off. ValueError on a bad value, before anything changes.
        """
        given = {name: value for name, value in locals().items() if name != "self" and value is not None}
        switches = parse_switches(given)
        with self._lock:
            self._switches = switches
            self._failures.pop("", None)

    def reset(self) -> None:
        """Back to normal: no switches, no counts, no recorded requests."""
        with self._lock:
            self._switches = {}
            self._failures.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[Request]:
        """What the stand-in received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    # Used by the handler

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _server_switches(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._switches)

    def _faults_for(self, switches: dict[str, Any], source: str) -> dict[str, Any]:
        """The switches for this request, with the faults gone once `fail_times` of `source` are used."""
        if "fail_times" not in switches:
            return switches
        with self._lock:
            used = self._failures.get(source, 0)
            self._failures[source] = used + 1
        switches = dict(switches)
        if used >= switches["fail_times"]:
            for fault in FAULTS:
                switches.pop(fault, None)
        elif not FAULTS & switches.keys():
            switches["status"] = 500
        return switches

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-standin{next(self._ids)}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects of a provider
    # Headers and body go out in separate writes: without this, Nagle's algorithm meets the client's
    # delayed ACK and every answer waits ~40 ms, which would swamp what the gateway bench measures.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format, *args) -> None:
        pass  # quiet: tests and demos read their own output, and headers carry keys

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # One request, start to end

    def _serve(self) -> None:
        standin: StandIn = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            bad_json = True
        else:
            bad_json = False
        path = self.path.split("?")[0]
        request = Request(self.command, path, {k.lower(): v for k, v in self.headers.items()}, body)
        standin._record(request)

        switches = standin._server_switches()
        source = ""
        model = None
        switch_error = None
        if path == "/v1/chat/completions" and isinstance(body, dict) and isinstance(body.get("model"), str):
            try:
                model, own = split_model(body["model"])
            except ValueError as error:
                switch_error = str(error)
            else:
                switches.update(own)
                if "fail_times" in own:
                    source = body["model"]

        if switches.get("latency"):
            standin._wait(switches["latency"])

        key = request.api_key
        if key is None:
            return self._error(401, "You didn't provide an API key (Authorization: Bearer <key>).")
        if key in standin.rejected_keys:
            return self._error(401, f"Incorrect API key provided: {_masked(key)}.")

        if self.command == "POST" and path == "/v1/chat/completions":
            problem = self._chat_problem(body, bad_json, switch_error)
            if problem:
                return self._error(400, problem)
        elif self.command == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            pass
        else:
            return self._error(404, f"Unknown endpoint: {self.command} {path}.")

        switches = standin._faults_for(switches, source)
        if "hang" in switches:
            standin._wait(switches["hang"])
            self.close_connection = True  # never answer: the client sees its timeout or a dropped line
            return None
        if "status" in switches:
            return self._fault_status(switches)

        if path == "/v1/chat/completions":
            self._chat(standin, body, model, switches)
        else:
            self._models(standin, path, switches.get("malformed"))

    @staticmethod
    def _chat_problem(body: Any, bad_json: bool, switch_error: str | None) -> str | None:
        if bad_json or not isinstance(body, dict):
            return "The request body must be a JSON object."
        if switch_error:
            return switch_error
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "You must provide a model parameter."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array of messages."
        if not all(isinstance(message, dict) and "role" in message for message in messages):
            return "Each message must be an object with a 'role'."
        return None

    def _fault_status(self, switches: dict[str, Any]) -> None:
        status = switches["status"]
        retry_after = switches.get("retry_after", DEFAULT_RETRY_AFTER_429 if status == 429 else None)
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
            headers["retry-after-ms"] = str(int(retry_after * 1000))
        self._error(status, headers=headers)

    # Answers

    def _models(self, standin: StandIn, path: str, malformed: str | None) -> None:
        if malformed == "not_json":
            return self._send(200, b'{"object": "list", "data": [', "application/json")
        if malformed == "html":
            return self._send(200, HTML_PAGE, "text/html")
        listed = [
            {"id": name, "object": "model", "created": 0, "owned_by": "standin"} for name in standin.models
        ]
        if path.startswith("/v1/models/"):
            wanted = path.removeprefix("/v1/models/")
            found = [model for model in listed if model["id"] == wanted]
            if not found:
                return self._error(404, f"The model '{wanted}' does not exist.")
            return self._json(200, found[0])
        if malformed == "no_choices":
            return self._json(200, {"object": "list"})
        self._json(200, {"object": "list", "data": listed})

    def _chat(self, standin: StandIn, body: dict, model: str, switches: dict[str, Any]) -> None:
        reply, usage = compose_reply(body["messages"], switches)
        completion_id, created = standin._next_id(), int(time.time())
        malformed = switches.get("malformed")
        if malformed == "html":
            return self._send(200, HTML_PAGE, "text/html")
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = stream_chunks(completion_id, created, model, reply, usage if include_usage else None)
            fault = switches.get("stream_fault")
            if fault is not None:
                # The role chunk and `fault_after` content chunks, then the fault (no finish, no usage).
                content = [chunk for chunk in chunks[1:] if chunk["choices"] and chunk["choices"][0]["delta"]]
                chunks = chunks[:1] + content[: switches.get("fault_after", DEFAULT_FAULT_AFTER)]
            return self._stream(chunks, malformed, switches.get("chunk_delay", 0), fault)
        if malformed == "not_json":
            return self._send(200, b'{"id": "chatcmpl-standin", "choices": [', "application/json")
        answer = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_standin",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
        }
        if malformed == "no_choices":
            del answer["choices"]
        if usage is not None:
            answer["usage"] = usage
        if switches.get("stream_fault") == "cut":
            return self._cut(json.dumps(answer).encode())
        self._json(200, answer)

    def _stream(self, chunks: list[dict], malformed: str | None, delay: float, fault: str | None = None):
        standin: StandIn = self.server.standin
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for number, chunk in enumerate(chunks):
                if number and delay:
                    standin._wait(delay)
                if malformed == "not_json" and number == 1:
                    self._write_chunk(b'data: {"id": "chatcmpl-standin", "choices": [\n\n')
                    break
                if malformed == "no_choices":
                    chunk = {name: value for name, value in chunk.items() if name != "choices"}
                self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            else:
                if fault and delay:
                    standin._wait(delay)
                if fault == "stall":
                    standin._wait(STALL_SECONDS)
                if fault in ("cut", "stall"):
                    self.close_connection = True  # the body's end never comes: the line just drops
                    return
                if fault == "error":
                    event = error_body(500, STREAM_ERROR_MESSAGE)
                    self._write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
                else:
                    self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except OSError:
            self.close_connection = True  # the client went away mid-stream

    def _cut(self, payload: bytes) -> None:
        """Announce the whole body, send half of it and drop the connection."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked transfer encoding; the empty chunk ends the body.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _error(self, status: int, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        self._json(status, error_body(status, message), headers)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (the timeout tests)
