"""A small app for scenarios to test (SPEC §9 tests): a JSON API with a login, users CRUD and a deliberate
bug, plus a sign-in form for UI logins. It records every request it receives, so tests can assert what
arrived and when (`requests`), or that nothing did.

    with Shop() as shop:
        shop.url            # http://127.0.0.1:<port>
        shop.requests       # [Received(at, method, path, headers, body), …] in arrival order

API:
- POST /api/login {"email", "password"} → {"data": {"token": …}} (401 otherwise)
- every /api/users… route needs the token (`Authorization: Bearer …`), the static TOKEN, or the
  session cookie the sign-in form sets; 401 without
- POST /api/users {"name", "role"} → 201 {"id", "name", "role"}. The bug: a user asked for as "admin"
  is created as "user".
- GET /api/users/{id} → 200 or 404; PATCH → 200; DELETE → 204
- GET /api/health → {"ok": true}; GET /api/boom → 500; GET /api/slow?seconds=N → sleeps, then 200
- GET /signin (form) and POST /signin → sets `sid` and redirects to /account
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

EMAIL = "qa@shop.test"
PASSWORD = "s3cret-shop-password"
TOKEN = "static-shop-token-0123456789abcdef"  # what a static_token environment sends
SIGNIN_PAGE = b"""<!doctype html><title>Sign in</title>
<form method="post" action="/signin">
  <label>Email <input id="email" name="email"></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button type="submit">Sign in</button>
</form>"""


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class State:
    requests: list[Received] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    users: dict[int, dict] = field(default_factory=dict)
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ShopServer

    def log_message(self, *args) -> None:
        pass

    def handle_one(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        state = self.server.state
        parts = urlsplit(self.path)
        with state.lock:
            state.requests.append(Received(arrived, self.command, parts.path, dict(self.headers), body))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.route(parts.path, parse_qs(parts.query), body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_one

    # --- answers ---

    def reply(self, status: int, payload=None, headers: dict | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def json_body(self, body: bytes):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            return None

    def signed_in(self) -> bool:
        state = self.server.state
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and (auth[7:] in state.tokens or auth[7:] == TOKEN):
            return True
        if self.headers.get("X-Shop-Token") == TOKEN:
            return True
        cookies = dict(
            part.strip().split("=", 1) for part in self.headers.get("Cookie", "").split(";") if "=" in part
        )
        return cookies.get("sid") in state.sessions

    def route(self, path: str, query: dict, body: bytes) -> None:
        state = self.server.state
        method = self.command
        if path == "/api/health":
            return self.reply(200, {"ok": True, "service": "shop"})
        if path == "/api/boom":
            return self.reply(500, {"error": "database exploded"})
        if path == "/api/slow":
            time.sleep(float(query.get("seconds", ["5"])[0]))
            return self.reply(200, {"slept": True})
        if path == "/api/login" and method == "POST":
            data = self.json_body(body) or {}
            if data.get("email") == EMAIL and data.get("password") == PASSWORD:
                token = "tok-" + secrets.token_hex(12)
                with state.lock:
                    state.tokens.add(token)
                return self.reply(200, {"data": {"token": token}})
            return self.reply(401, {"error": "bad credentials"})
        if path == "/signin":
            if method == "GET":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(SIGNIN_PAGE)))
                self.end_headers()
                return self.wfile.write(SIGNIN_PAGE)
            form = parse_qs(body.decode())
            if form.get("email") == [EMAIL] and form.get("password") == [PASSWORD]:
                sid = "sid-" + secrets.token_hex(12)
                with state.lock:
                    state.sessions.add(sid)
                return self.reply(303, None, {"Location": "/account", "Set-Cookie": f"sid={sid}; Path=/"})
            return self.reply(401, {"error": "bad credentials"})
        if path == "/account":
            page = b"<!doctype html><title>Account</title><h1 class=welcome>Welcome</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            return self.wfile.write(page)
        if path.startswith("/api/users"):
            if not self.signed_in():
                return self.reply(401, {"error": "sign in first"})
            return self.users(path, body)
        return self.reply(404, {"error": "no such route"})

    def users(self, path: str, body: bytes) -> None:
        state = self.server.state
        method = self.command
        rest = path[len("/api/users") :].strip("/")
        if not rest:
            if method == "GET":
                return self.reply(200, {"items": list(state.users.values())})
            if method == "POST":
                data = self.json_body(body)
                if not isinstance(data, dict) or not data.get("name"):
                    return self.reply(400, {"error": "name is required"})
                with state.lock:
                    user_id = state.next_id
                    state.next_id += 1
                    # The deliberate bug: an admin is created as a plain user.
                    role = "user" if data.get("role") == "admin" else data.get("role", "user")
                    state.users[user_id] = {"id": user_id, "name": data["name"], "role": role}
                return self.reply(201, state.users[user_id])
            return self.reply(405, {"error": "method not allowed"})
        if not rest.isdigit() or int(rest) not in state.users:
            return self.reply(404, {"error": "no such user"})
        user_id = int(rest)
        if method == "GET":
            return self.reply(200, state.users[user_id])
        if method in ("PATCH", "PUT"):
            data = self.json_body(body) or {}
            with state.lock:
                state.users[user_id].update({k: v for k, v in data.items() if k in ("name", "role")})
            return self.reply(200, state.users[user_id])
        if method == "DELETE":
            with state.lock:
                del state.users[user_id]
            return self.reply(204)
        return self.reply(405, {"error": "method not allowed"})


class ShopServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = State()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up (a cancelled run abandons its request): not the shop's problem


class Shop:
    """The shop on a free port of 127.0.0.1, served from a thread; a context manager."""

    def __init__(self) -> None:
        self.server = ShopServer()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True

    def start(self) -> Shop:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Shop:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def requests(self) -> list[Received]:
        with self.server.state.lock:
            return list(self.server.state.requests)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def most_in_one_second(self, path_prefix: str = "/api/") -> int:
        """The most requests (under `path_prefix`) that arrived within any one-second window."""
        times = sorted(r.at for r in self.requests if r.path.startswith(path_prefix))
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most


if __name__ == "__main__":  # run it by hand: python -m tests.targets.shop
    with Shop() as shop:
        print(f"Shop listening on {shop.url} (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
