"""The outbound policy (SPEC §11): which URLs Qodex may request, on every hop, with real servers on 127.0.0.1.

tests/conftest.py allows private targets for every test (the targets run on 127.0.0.1); the tests of
the private rule turn it off with `private_targets_refused`.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

import httpx
import pytest

from qodex import outbound
from qodex.outbound import OutboundRefused, check_url
from tests.environments.pages import free_port
from tests.test_settings import run_django

NOT_FULL = "is not a full http:// or https:// URL, such as https://staging.example.com."
SETTING = "QODEX_ALLOW_PRIVATE_TARGETS"
PRIVATE = f"Qodex only sends requests to public addresses unless the server setting {SETTING} is on."
METADATA = "is a cloud metadata address: Qodex never sends requests there, whatever the settings."


@pytest.fixture
def private_targets_refused(settings):
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False


@dataclass
class Listener:
    port: int
    accepted: list[tuple] = field(default_factory=list)


@pytest.fixture
def listener():
    """A bare TCP socket on 127.0.0.1 that records every connection it accepts (for non-HTTP schemes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    found = Listener(server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            found.accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join()
    server.close()


def refusal(url: str) -> str:
    with pytest.raises(OutboundRefused) as raised:
        check_url(url)
    return raised.value.message


# --- The URL itself ------------------------------------------------------------------------------------


INVALID = "is not a valid URL:"
BAD_PORT = "has a port that isn't a number from 1 to 65535."


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1/x", f"{INVALID} its IPv6 host is missing a bracket."),
        ("http://[zz::1]/", f"{INVALID} the host in brackets is not an IPv6 address."),
        ("http://[::1]x/", f"{INVALID} text follows its IPv6 host."),
        ("http://exa mple.com/", f"{INVALID} its host has characters a host can’t hold."),
        ("http://127.0.0.1:abc/", BAD_PORT),
        ("http://127.0.0.1:99999/", BAD_PORT),
        ("http://127.0.0.1:0/", BAD_PORT),
        ("http://[::1]:-1/", BAD_PORT),
        ("file:///etc/hostname", NOT_FULL),
        ("ftp://files.acme.test/", NOT_FULL),
        ("javascript:alert(1)", NOT_FULL),
        ("data:text/html,hi", NOT_FULL),
        ("chrome://version", NOT_FULL),
        ("/api/login", NOT_FULL),
        ("http:///login", NOT_FULL),
    ],
)
def test_malformed_and_non_http_urls_are_refused_with_a_sentence(url, why):
    assert refusal(url) == f"“{url}” {why}"


def test_a_refusal_is_a_value_error_carrying_the_url():
    with pytest.raises(ValueError) as raised:
        check_url("http://127.0.0.1:abc/")
    assert raised.value.url == "http://127.0.0.1:abc/"
    assert str(raised.value) == raised.value.message


def test_an_unknown_host_is_named():
    with pytest.raises(outbound.HostNotFound) as raised:
        check_url("http://no-such-host.invalid/login")
    assert (
        raised.value.message == "The host “no-such-host.invalid” could not be resolved (DNS). Check the URL."
    )


# --- Addresses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/",
        "http://[::ffff:a9fe:a9fe]/latest/",
        "http://2852039166/latest/",  # 169.254.169.254 written as one number
        "http://0xa9fea9fe/latest/",
    ],
)
def test_cloud_metadata_addresses_are_refused_even_with_private_targets_allowed(url):
    assert refusal(url).endswith(METADATA)


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata.goog"])
def test_cloud_metadata_names_are_refused_without_asking_dns(host):
    assert refusal(f"http://{host}/computeMetadata/v1/") == f"“{host.lower().rstrip('.')}” {METADATA}"


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "a loopback"),
        ("127.9.9.9", "a loopback"),
        ("[::1]", "a loopback"),
        ("[::ffff:127.0.0.1]", "a loopback"),
        ("[2002:7f00:1::]", "a loopback"),  # 6to4 for 127.0.0.1
        ("[64:ff9b::a00:1]", "a private"),  # NAT64 for 10.0.0.1
        ("10.1.2.3", "a private"),
        ("172.16.5.4", "a private"),
        ("192.168.1.1", "a private"),
        ("[fc00::1]", "a private"),
        ("169.254.1.1", "a link-local"),
        ("[fe80::1]", "a link-local"),
        ("224.0.0.1", "a multicast"),
        ("[ff02::1]", "a multicast"),
        ("0.0.0.0", "an unspecified"),
        ("[::]", "an unspecified"),
        ("100.64.0.1", "a non-public"),  # shared address space (carrier-grade NAT)
    ],
)
def test_with_private_targets_off_every_non_public_address_is_refused(private_targets_refused, host, kind):
    bare = host.strip("[]")
    assert refusal(f"http://{host}:8080/login") == f"“{bare}” is {kind} address. {PRIVATE}"


def test_with_private_targets_off_a_name_is_judged_by_what_it_resolves_to(private_targets_refused):
    message = refusal("http://localhost:8080/")
    assert message.startswith("“localhost” resolves to ")
    assert message.endswith(f", which is a loopback address. {PRIVATE}")


@pytest.mark.parametrize("url", ["http://93.184.215.14/", "https://[2606:4700::1111]:8443/login"])
def test_public_addresses_pass_with_private_targets_off(private_targets_refused, url):
    check_url(url)


def test_the_setting_is_read_on_every_call(settings, http_target):
    check_url(http_target.url)
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False
    assert refusal(http_target.url) == f"“127.0.0.1” is a loopback address. {PRIVATE}"
    settings.QODEX_ALLOW_PRIVATE_TARGETS = True
    check_url(http_target.url)


def test_private_targets_default_to_debug_and_the_environment_can_turn_them_on():
    code = "from django.conf import settings as s; print(s.QODEX_ALLOW_PRIVATE_TARGETS)"
    production = {"DEBUG": "0", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "example.com"}
    assert run_django(code, DEBUG="1").stdout.split() == ["True"]
    assert run_django(code, **production).stdout.split() == ["False"]
    assert run_django(code, **production, QODEX_ALLOW_PRIVATE_TARGETS="1").stdout.split() == ["True"]


# --- The httpx client: every hop -----------------------------------------------------------------------


def test_the_client_refuses_a_private_target_before_sending_anything(private_targets_refused, http_target):
    http_target.route("GET", "/login", body="hello")
    with outbound.client() as client, pytest.raises(OutboundRefused) as raised:
        client.get(f"{http_target.url}/login")
    assert raised.value.message == f"“127.0.0.1” is a loopback address. {PRIVATE}"
    assert http_target.requests == []


def test_the_client_follows_allowed_redirects(http_target):
    http_target.route("GET", "/old", status=302, headers={"Location": "/new"})
    http_target.route("GET", "/new", body="moved here")
    with outbound.client(follow_redirects=True) as client:
        response = client.get(f"{http_target.url}/old")
    assert (response.status_code, response.text) == (200, "moved here")
    assert [request.path for request in http_target.requests] == ["/old", "/new"]


def test_a_redirect_to_a_metadata_address_is_refused_on_the_hop(http_target):
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    http_target.route("GET", "/go", status=302, headers={"Location": metadata})
    with (
        outbound.client(follow_redirects=True, timeout=5) as client,
        pytest.raises(OutboundRefused) as raised,
    ):
        client.get(f"{http_target.url}/go")
    assert raised.value.url == metadata
    assert raised.value.message == f"“169.254.169.254” {METADATA}"


@pytest.mark.parametrize("scheme", ["ftp", "gopher", "file"])
def test_a_redirect_to_another_scheme_is_refused_and_its_target_receives_nothing(
    http_target, listener, scheme
):
    elsewhere = f"{scheme}://127.0.0.1:{listener.port}/etc/passwd"
    http_target.route("GET", "/go", status=302, headers={"Location": elsewhere})
    with (
        outbound.client(follow_redirects=True, timeout=5) as client,
        pytest.raises(OutboundRefused) as raised,
    ):
        client.get(f"{http_target.url}/go")
    assert raised.value.message == f"“{elsewhere}” {NOT_FULL}"
    assert listener.accepted == []


class RebindingDns:
    """A DNS that answers `first` to the first lookup of REBINDING_HOST and `then` to every later one, as a
    hostile name server does to slip a private address past a check (DNS rebinding)."""

    def __init__(self, monkeypatch, first: str, then: str) -> None:
        self.answers, self.lookups = [first, then], 0
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host != REBINDING_HOST:
                return real(host, port, *args, **kwargs)
            address = self.answers[min(self.lookups, 1)]
            self.lookups += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


REBINDING_HOST = "rebinding.qodex.test"


def test_a_name_that_answers_a_private_address_to_the_connection_is_refused_before_sending(
    private_targets_refused, http_target, monkeypatch
):
    """The check saw a public address; the connection would have reached the target on 127.0.0.1."""
    http_target.route("GET", "/admin", body="internal")
    dns = RebindingDns(monkeypatch, first="93.184.215.14", then="127.0.0.1")
    port = http_target.url.rsplit(":", 1)[1]
    with outbound.client(timeout=5) as client, pytest.raises(OutboundRefused) as raised:
        client.get(f"http://{REBINDING_HOST}:{port}/admin")
    assert raised.value.message == (
        f"“{REBINDING_HOST}” resolves to 127.0.0.1, which is a loopback address. {PRIVATE}"
    )
    assert http_target.requests == []
    assert dns.lookups == 2  # the request's check, then the connection's own


def test_a_name_that_answers_a_metadata_address_to_the_connection_is_refused(http_target, monkeypatch):
    RebindingDns(monkeypatch, first="127.0.0.1", then="169.254.169.254")
    port = http_target.url.rsplit(":", 1)[1]
    with outbound.client(timeout=5) as client, pytest.raises(OutboundRefused) as raised:
        client.get(f"http://{REBINDING_HOST}:{port}/latest/meta-data/")
    assert raised.value.message == f"“{REBINDING_HOST}” resolves to 169.254.169.254, which {METADATA}"


def test_the_client_connects_to_the_address_it_checked(http_target, monkeypatch):
    http_target.route("GET", "/login", body="hello")
    dns = RebindingDns(monkeypatch, first="127.0.0.1", then="127.0.0.1")
    port = http_target.url.rsplit(":", 1)[1]
    with outbound.client(timeout=5) as client:
        response = client.get(f"http://{REBINDING_HOST}:{port}/login")
    assert (response.status_code, response.text) == (200, "hello")
    assert http_target.requests[0].headers["Host"] == f"{REBINDING_HOST}:{port}"  # the name, not the address
    assert dns.lookups == 2  # the request's check, then the connection's own


# --- The browser guard's proxy (every hop the browser makes goes through it) ---------------------------


def test_the_browser_proxy_refuses_a_private_target_without_connecting(private_targets_refused, http_target):
    with outbound.BrowserGuard() as guard:
        with httpx.Client(proxy=guard.proxy["server"], timeout=5) as client, pytest.raises(httpx.HTTPError):
            client.get(f"{http_target.url}/login")
        with httpx.Client(proxy=guard.proxy["server"], timeout=5) as client, pytest.raises(httpx.HTTPError):
            client.get(f"https://127.0.0.1:{http_target.url.rsplit(':', 1)[1]}/login")  # CONNECT
    assert [(refusal.refused, refusal.message) for refusal in guard.refusals] == [
        (True, f"“127.0.0.1” is a loopback address. {PRIVATE}")
    ] * 2
    assert http_target.requests == []


def test_the_browser_proxy_forwards_allowed_requests_with_their_body(http_target):
    http_target.route("POST", "/login", lambda request: (200, {}, {"echo": request.form()}))
    with outbound.BrowserGuard() as guard, httpx.Client(proxy=guard.proxy["server"], timeout=5) as client:
        response = client.post(f"{http_target.url}/login?next=/home", data={"email": "qa@acme.test"})
    assert response.json() == {"echo": {"email": "qa@acme.test"}}
    assert http_target.requests[0].path == "/login?next=/home"
    assert guard.refusals == []


def test_the_browser_proxy_names_a_closed_port():
    port = free_port()
    guard = outbound.BrowserGuard()
    with (
        guard,
        httpx.Client(proxy=guard.proxy["server"], timeout=5) as client,
        pytest.raises(httpx.HTTPError),
    ):
        client.get(f"http://127.0.0.1:{port}/")
    assert guard.refusals == [
        outbound.Refusal(
            f"http://127.0.0.1:{port}/",
            f"Connection refused by 127.0.0.1:{port}: nothing is listening there. Is the app running?",
            refused=False,
        )
    ]
