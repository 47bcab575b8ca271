"""Environments fixtures: an environment factory and a real HTTP server on 127.0.0.1 as the target."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from environments.models import Environment
from tests.environments.login_site import DASHBOARD, LOGIN_PAGE, PASSWORD


@pytest.fixture
def make_environment(cast):
    """`make_environment(**fields)`: a saved environment of `cast.project` (production defaults)."""

    def _make(**fields) -> Environment:
        fields.setdefault("project", cast.project)
        fields.setdefault("name", "Staging")
        fields.setdefault("base_url", "https://staging.acme.test")
        variables = fields.pop("variables", {})
        environment = Environment(**fields)
        for name, (value, secret) in variables.items():
            environment.set_variable(name, value, secret=secret)
        environment.save()
        return environment

    return _make


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qs

        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


# A route answers (status, headers, body); body may be bytes, text or anything JSON-serialisable.
Responder = Callable[[Request], tuple[int, dict[str, str], object]]


@dataclass
class Target:
    url: str
    routes: dict[tuple[str, str], tuple[Responder, float]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        responder: Responder | None = None,
        *,
        status: int = 200,
        body: object = "",
        headers: dict[str, str] | None = None,
        delay: float = 0,
    ) -> None:
        """Answer `method path` with `responder(request)`, or a fixed status/body after `delay` s."""
        if responder is None:

            def responder(request, status=status, body=body, headers=headers):
                return status, dict(headers or {}), body

        self.routes[(method, path)] = (responder, delay)


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        target: Target = self.server.target
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
        target.requests.append(request)
        responder, delay = target.routes.get((self.command, self.path.split("?")[0]), (None, 0))
        if responder is None:
            status, headers, body = 404, {}, "not found"
        else:
            time.sleep(delay)
            status, headers, body = responder(request)
        if not isinstance(body, str | bytes):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        payload = body.encode() if isinstance(body, str) else body
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout tests)

    do_GET = do_POST = do_PUT = do_PATCH = _serve

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def http_target():
    """A real HTTP server on 127.0.0.1 (port chosen by the OS), in a thread, for this test only."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.target = Target(url=f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.target
    server.shutdown()
    server.server_close()


@pytest.fixture
def login_site(http_target):
    """GET /login shows a form; POST /login with the right password sets a session cookie → /dashboard."""
    http_target.route("GET", "/login", body=LOGIN_PAGE, headers={"Content-Type": "text/html"})

    def sign_in(request):
        form = request.form()
        if form.get("email") == "qa@acme.test" and form.get("password") == PASSWORD:
            cookie = "session=s3ss10n-value; Path=/; HttpOnly; SameSite=Lax"
            return 302, {"Location": "/dashboard", "Set-Cookie": cookie}, ""
        return 200, {"Content-Type": "text/html"}, LOGIN_PAGE + "<p>Wrong password</p>"

    http_target.route("POST", "/login", sign_in)
    http_target.route("GET", "/dashboard", body=DASHBOARD, headers={"Content-Type": "text/html"})
    return http_target


@pytest.fixture
def ui_environment(make_environment, login_site):
    """`ui_environment(steps)`: a ui_login environment pointed at the login site."""

    def _make(steps) -> Environment:
        return make_environment(
            name="Ui",
            base_url=login_site.url,
            auth_type=Environment.AuthType.UI_LOGIN,
            auth_email="qa@acme.test",
            auth_password=PASSWORD,
            ui_login_steps=steps,
        )

    return _make
