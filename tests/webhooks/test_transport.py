"""The HTTP side on its own: never a way into the network, one deadline, a bounded response."""

import socket
import time

import pytest

from studio.webhooks import transport
from tests.webhooks.conftest import Reply


def _post(url: str, *, timeout: float = 1.0, allow_private: bool = True, resolver=None) -> transport.Outcome:
    return transport.post(
        url,
        b"{}",
        {"Content-Type": "application/json"},
        timeout=timeout,
        allow_private=allow_private,
        resolver=resolver,
    )


def _resolving_to(*addresses: str):
    def resolve(host, port, **_kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("gopher://example.com/", "Only http:// and https://"),
        ("https://user:pw@example.com/hook", "no user name or password"),
        ("https:///hook", "no host"),
        ("http://example.com:99999/", "Not a valid URL"),
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(url, reason):
    with pytest.raises(transport.UnsafeURLError, match=reason):
        transport.parse_url(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_refused(address):
    assert transport.address_refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert transport.address_refusal(address) is None


def test_a_private_receiver_is_refused_unless_allowed(receiver):
    refused = _post(receiver.url, allow_private=False)
    assert refused.status_code is None
    assert "Refused" in refused.error and "loopback" in refused.error
    assert receiver.received == []
    assert _post(receiver.url, allow_private=True).status_code == 200


def test_a_name_with_any_private_address_is_refused():
    # One public and one private answer: a client picking the second would reach the private one.
    outcome = _post(
        "http://hooks.example/", allow_private=False, resolver=_resolving_to("93.184.216.34", "10.0.0.7")
    )
    assert outcome.status_code is None and "10.0.0.7 is a private address" in outcome.error


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(receiver):
    # The name is resolved once, and that very address is dialled: nothing re-resolves it afterwards.
    outcome = _post(f"http://hooks.example:{receiver.port}/in", resolver=_resolving_to("127.0.0.1"))
    assert outcome.status_code == 200
    [request] = receiver.received
    assert request.headers["host"] == f"hooks.example:{receiver.port}"
    assert request.path == "/in"


def test_redirects_are_not_followed(receiver):
    receiver.decide = lambda r: Reply(status=302, location="http://169.254.169.254/latest/meta-data")
    outcome = _post(receiver.url)
    assert outcome.status_code == 302 and not outcome.ok
    assert "not followed" in outcome.error
    assert len(receiver.received) == 1


def test_a_slow_receiver_is_cut_off_at_the_timeout(receiver):
    receiver.decide = lambda r: Reply(delay=5)
    started = time.monotonic()
    outcome = _post(receiver.url, timeout=0.5)
    elapsed = time.monotonic() - started
    assert outcome.status_code is None and "No answer within 0.5 s" in outcome.error
    assert 0.45 <= elapsed < 1.0  # the receiver would take 5 s; the margin is for a busy machine


def test_a_receiver_trickling_its_headers_is_cut_off_at_the_timeout(receiver):
    # Each byte arrives well within a per-read timeout; only a deadline for the whole attempt stops it.
    receiver.decide = lambda r: Reply(trickle_seconds=5)
    started = time.monotonic()
    outcome = _post(receiver.url, timeout=0.6)
    assert outcome.status_code is None and "No answer" in outcome.error
    assert time.monotonic() - started < 1.1


def test_only_the_start_of_a_large_response_is_read(receiver):
    receiver.decide = lambda r: Reply(body=b"x" * 200_000)
    outcome = _post(receiver.url)
    assert outcome.status_code == 200
    assert len(outcome.excerpt) == 1024


def test_a_closed_port_is_a_failed_attempt_not_an_exception():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = _post(f"http://127.0.0.1:{port}/")
    assert outcome.status_code is None and "Cannot connect" in outcome.error


@pytest.fixture
def https_receiver(tmp_path):
    """A receiver with a self-signed certificate for hooks.example; records the name each client asked for."""
    import datetime
    import ssl
    import threading
    from http.server import ThreadingHTTPServer

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.webhooks.conftest import Receiver, _Handler

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda _sock, server_name, _ctx: server_names.append(server_name)
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    handler.receiver = Receiver(url=f"https://hooks.example:{port}/hooks", port=port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler.receiver, cert_path, server_names
    finally:
        server.shutdown()
        server.server_close()


def test_https_checks_the_certificate_against_the_host_name_not_the_address(https_receiver, monkeypatch):
    import ssl

    receiver, cert_path, server_names = https_receiver
    resolver = _resolving_to("127.0.0.1")
    untrusted = _post(receiver.url, resolver=resolver)
    assert untrusted.status_code is None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    assert receiver.received == []
    default_context = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda: default_context(cafile=str(cert_path)))
    trusted = _post(receiver.url, resolver=resolver)
    assert trusted.status_code == 200
    # Dialled 127.0.0.1, asked for (and verified) hooks.example.
    assert server_names[-1] == "hooks.example"
    assert receiver.received[0].headers["host"] == f"hooks.example:{receiver.port}"
