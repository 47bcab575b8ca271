"""The one policy for every outbound request (SPEC §11): login checks and captures today; test runs,
webhook callbacks and provider base URLs use it too.

- `check_url(url)` raises `OutboundRefused` for what may not be requested: anything but an absolute
  http(s) URL with a host and a port from 1 to 65535; cloud metadata addresses, always; and, when
  `settings.QODEX_ALLOW_PRIVATE_TARGETS` is off, any host resolving to a loopback, private,
  link-local, multicast, reserved or unspecified address.
- `client(**kwargs)` is an `httpx.Client` that checks every hop, redirects included, and connects only
  to the addresses it checked.
- `BrowserGuard` keeps a Playwright browser under the same policy on every hop.

Refusal messages quote the URL: callers whose URLs may hold a secret scrub them (`qodex.scrub`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx
from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")

# Cloud metadata endpoints hand out the credentials of the machine Qodex runs on (AWS, GCP, Azure,
# Alibaba, ECS task roles). A project member may point Qodex at any URL, so these stay refused even
# when private targets are allowed: nobody but the operator may read the host's cloud credentials.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_METADATA_REASON = "Qodex never sends requests there, whatever the settings."
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters no host name may hold; urlsplit lets them through and later layers fail less clearly.
BAD_HOST_CHARACTERS = frozenset(' <>"{}|\\^`')

# What a page builds for itself: no request leaves the browser (steps can't use them: `check_url`).
IN_PAGE_SCHEMES = ("data:", "blob:")
IN_PAGE_DOCUMENTS = ("about:blank", "about:srcdoc")
PROXY_TIMEOUT = 30.0  # seconds a proxied connection may stay silent
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade"}
)


class OutboundRefused(ValueError):
    """A URL Qodex won't send a request to; `.message` says why, as a sentence for people."""

    def __init__(self, message: str, url: str = ""):
        super().__init__(message)
        self.message = message
        self.url = url


class HostNotFound(OutboundRefused):
    """The host has no address (DNS): not a policy refusal, but nothing can be checked or sent."""


def check_syntax(url: str) -> SplitResult:
    """Refuse anything but an absolute http(s) URL with a host and a port from 1 to 65535; no DNS.

    Forms validate with this; `check_url` adds the address rules. Returns the split URL.
    """
    not_full = f"“{url}” is not a full http:// or https:// URL, such as https://staging.example.com."
    if not isinstance(url, str):
        raise OutboundRefused("The URL must be text.", "")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        if "Invalid IPv6 URL" in str(exc):
            reason = "its IPv6 host is missing a bracket"
        elif "does not appear to be" in str(exc):
            reason = "the host in brackets is not an IPv6 address"
        else:
            reason = "its host can’t be read"
        raise OutboundRefused(f"“{url}” is not a valid URL: {reason}.", url) from None
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise OutboundRefused(not_full, url)
    hostinfo = parts.netloc.rpartition("@")[2]
    bad = BAD_HOST_CHARACTERS if hostinfo.startswith("[") else BAD_HOST_CHARACTERS | {"%"}  # [v6%25zone]
    if any(char in bad or ord(char) < 32 or ord(char) == 127 for char in hostinfo):
        raise OutboundRefused(f"“{url}” is not a valid URL: its host has characters a host can’t hold.", url)
    if hostinfo.startswith("["):
        host_text, _, after = hostinfo[1:].partition("]")
        try:
            ipaddress.IPv6Address(host_text)
        except ValueError:
            reason = "the host in brackets is not an IPv6 address"
            raise OutboundRefused(f"“{url}” is not a valid URL: {reason}.", url) from None
        if after and not after.startswith(":"):
            raise OutboundRefused(f"“{url}” is not a valid URL: text follows its IPv6 host.", url)
    else:
        after = hostinfo
    _, colon, port = after.partition(":")
    if colon and port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise OutboundRefused(f"“{url}” has a port that isn't a number from 1 to 65535.", url)
    return parts


def check_url(url: str) -> None:
    """Refuse `url` (raising `OutboundRefused`) unless Qodex may send a request to it right now.

    The host is resolved and every address it has is checked; `settings.QODEX_ALLOW_PRIVATE_TARGETS`
    is read on each call. A host without an address raises `HostNotFound`.
    """
    _addresses(url)


def _addresses(url: str) -> list[tuple[int, tuple]]:
    """Check `url` and return its (family, sockaddr) pairs, so a caller can connect to what was checked."""
    parts = check_syntax(url)
    return _checked_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), url)


def _checked_addresses(host: str, port: int, url: str) -> list[tuple[int, tuple]]:
    """Resolve `host` once and return its (family, sockaddr) pairs if every one may be connected to;
    else raise OutboundRefused (its messages and `.url` quote `url`)."""
    host = host.rstrip(".")
    if host in METADATA_HOSTS:
        raise OutboundRefused(f"“{host}” is a cloud metadata address: {_METADATA_REASON}", url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise HostNotFound(f"The host “{host}” could not be resolved (DNS). Check the URL.", url) from None
    allow_private = settings.QODEX_ALLOW_PRIVATE_TARGETS
    literal = _is_ip_literal(host)
    for *_, sockaddr in infos:
        address = _unwrap(ipaddress.ip_address(sockaddr[0].split("%")[0]))
        where = f"“{host}”" if literal else f"“{host}” resolves to {address}, which"
        if address in METADATA_ADDRESSES:
            raise OutboundRefused(f"{where} is a cloud metadata address: {_METADATA_REASON}", url)
        kind = None if allow_private else _non_public_kind(address)
        if kind:
            article = "an" if kind[0] in "aeiou" else "a"
            raise OutboundRefused(
                f"{where} is {article} {kind} address. Qodex only sends requests to public addresses "
                "unless the server setting QODEX_ALLOW_PRIVATE_TARGETS is on.",
                url,
            )
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def _unwrap(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), so each rule sees the real target."""
    if address.version == 6:
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _non_public_kind(address) -> str | None:
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "non-public"


# --- httpx --------------------------------------------------------------------------------------------


def client(**kwargs: Any) -> httpx.Client:
    """An `httpx.Client` whose every request, each redirect hop included, passes `check_url` first, and
    whose every connection goes to an address that passed it.

    A refused hop raises `OutboundRefused` out of the request call, and the refused target receives
    nothing. Takes `httpx.Client`'s arguments but `transport`; its own request hooks run after the check.
    Environment proxies (HTTP_PROXY…) are not used: a proxy would resolve the name again itself.
    """
    hooks = dict(kwargs.pop("event_hooks", None) or {})
    hooks["request"] = [_check_request, *hooks.get("request", [])]
    return httpx.Client(event_hooks=hooks, transport=_CheckedTransport(), **kwargs)


def _check_request(request: httpx.Request) -> None:
    check_url(str(request.url))


class _CheckedBackend(httpcore.SyncBackend):
    """Opens each connection to an address `_checked_addresses` just passed, from the one DNS answer it
    checked. The request hook's check alone left a gap: httpcore resolved the name again to connect, and
    a name can answer a public address to the check and a private one to the connection (DNS rebinding).
    TLS still verifies the certificate against the URL's host name: httpcore takes SNI from the URL."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = _checked_addresses(host, port, f"{host}:{port}")
        failure: Exception | None = None
        for _, sockaddr in addresses:
            try:
                return super().connect_tcp(sockaddr[0], port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host} has no address")


class _CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport with a connection pool that connects through `_CheckedBackend`."""

    def __init__(self) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context)
        limits = httpx.Limits()  # httpx's defaults, as the pool it replaces had them
        # httpx has no argument for httpcore's network backend, so the pool it built is swapped for one
        # that has it (tests/environments/test_outbound.py fails if httpx stops reading `_pool`).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(),
        )


# --- Playwright ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A request the browser tried and the policy stopped (`refused`) or the network failed."""

    url: str
    message: str
    refused: bool = True


class BrowserGuard:
    """Keeps a Playwright browser under the policy, on every request and every redirect hop.

        with BrowserGuard() as guard:
            browser = playwright.chromium.launch(..., proxy=guard.proxy)
            context = browser.new_context()
            guard.watch(context)

    Playwright's routes never see redirect hops, so the browser sends everything through a local
    proxy that checks each request and connects to the very address it checked (DNS can't answer
    differently in between). `watch` routes every request of the context through the same check,
    which also stops schemes that never reach a network (`file:`, `chrome:`…). What was stopped is
    kept in `.refusals`, in order; the refused target receives nothing.
    """

    def __init__(self) -> None:
        self.refusals: list[Refusal] = []
        self._server: _GuardProxy | None = None

    def __enter__(self) -> BrowserGuard:
        self._server = _GuardProxy(self)
        serve = self._server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def proxy(self) -> dict[str, str]:
        """Playwright's `proxy` launch option pointing at the guard (loopback included)."""
        return {"server": f"http://127.0.0.1:{self._server.server_port}"}

    def watch(self, context) -> None:
        """Abort every request of `context` that `check_url` refuses (what the page builds itself passes)."""
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(IN_PAGE_SCHEMES) or url in IN_PAGE_DOCUMENTS:
            route.continue_()  # made by the page itself: no request leaves the browser
            return
        try:
            check_url(url)
        except HostNotFound as failure:
            self.refusals.append(Refusal(url, failure.message, refused=False))
            route.abort("namenotresolved")
        except OutboundRefused as refusal:
            self.refusals.append(Refusal(url, refusal.message))
            route.abort("blockedbyclient")
        else:
            route.continue_()


class _GuardProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, guard: BrowserGuard) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.guard = guard

    def handle_error(self, request, client_address) -> None:
        pass  # a connection either side dropped; the default prints a traceback that may quote a URL


class _ProxyHandler(BaseHTTPRequestHandler):
    """One request from the browser: CONNECT for https (and WebSockets), absolute-form for http."""

    protocol_version = "HTTP/1.1"
    timeout = PROXY_TIMEOUT

    def do_CONNECT(self) -> None:
        upstream = self._open(f"https://{self.path}/")
        if upstream is None:
            return
        self.close_connection = True
        with upstream, contextlib.suppress(OSError):
            self.send_response(200, "Connection established")
            self.end_headers()
            _pipe(self.connection, upstream)

    def _forward(self) -> None:
        url = self.path
        upstream = self._open(url)
        if upstream is None:
            return
        self.close_connection = True
        with upstream, contextlib.suppress(OSError):
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [f"{self.command} {target} HTTP/1.1"]
            kept = [(name, value) for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP]
            lines += [f"{name}: {value}" for name, value in kept]
            lines.append("Connection: close")  # one request per connection: the end of the answer is EOF
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self._send_body(upstream)
            while chunk := upstream.recv(65536):
                self.connection.sendall(chunk)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def _send_body(self, upstream: socket.socket) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size_line = self.rfile.readline()
                upstream.sendall(size_line)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                upstream.sendall(self.rfile.read(size + 2))  # the chunk and its CRLF
                if size == 0:
                    return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            upstream.sendall(self.rfile.read(length))

    def _open(self, url: str) -> socket.socket | None:
        """A connection to the checked address of `url`; None once the browser has been answered."""
        guard: BrowserGuard = self.server.guard
        try:
            addresses = _addresses(url)
        except HostNotFound as failure:
            guard.refusals.append(Refusal(url, failure.message, refused=False))
            self._close_abruptly()
            return None
        except OutboundRefused as refusal:
            guard.refusals.append(Refusal(url, refusal.message))
            self._close_abruptly()
            return None
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        error: OSError | None = None
        for family, sockaddr in addresses:
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.settimeout(PROXY_TIMEOUT)
            try:
                upstream.connect(sockaddr)
            except OSError as exc:
                upstream.close()
                error = exc
                continue
            return upstream
        if isinstance(error, ConnectionRefusedError):
            message = f"Connection refused by {where}: nothing is listening there. Is the app running?"
        elif isinstance(error, TimeoutError):
            message = f"Timed out connecting to {where} after {PROXY_TIMEOUT:g}s. Is the host reachable?"
        else:
            message = f"Could not connect to {where}: {error}."
        guard.refusals.append(Refusal(url, message, refused=False))
        self._close_abruptly()
        return None

    def _close_abruptly(self) -> None:
        # No answer at all: the browser then fails the navigation (net::ERR_EMPTY_RESPONSE) the way it
        # fails one it couldn't connect, instead of showing an error page as if the site had answered.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines hold URLs, and URLs may hold secrets


def _pipe(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes or stays silent for PROXY_TIMEOUT."""
    sockets = [one, other]
    while True:
        readable, _, broken = select.select(sockets, [], sockets, PROXY_TIMEOUT)
        if broken or not readable:
            return
        for source in readable:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            (other if source is one else one).sendall(data)
