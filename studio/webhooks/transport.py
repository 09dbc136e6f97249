"""POST a webhook without opening a way into the network Studio runs in. Pure Python, no Django.

- Only http and https, no credentials in the URL, and no redirect ever followed (http.client does not).
- The host is resolved once per attempt and *every* address it resolves to is checked (private, loopback,
  link-local, multicast, reserved and other non-global addresses are refused unless allowed); the
  connection then goes to the checked address, so a name that resolves to a public address for the check
  and to a private one a moment later (DNS rebinding) cannot slip through. HTTPS still verifies the
  certificate against the host name (SNI), not the address.
- One deadline for the whole attempt (connect, send, headers, body): a timer shuts the socket down when it
  passes, so a receiver that trickles bytes cannot hold the sender longer than a per-read timeout would.
- At most ``max_bytes`` of the response are read; the rest is never downloaded.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[..., list]


class UnsafeURLError(ValueError):
    """The URL may not be called; the message says why, in words an admin can act on."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error (refused, unreachable, timed out)."""

    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_url(url: str) -> Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeURLError(f"Not a valid URL ({error}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURLError("Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("Put no user name or password in the URL: messages are signed instead.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(
        scheme=scheme, host=parts.hostname, port=port or (443 if scheme == "https" else 80), path=path
    )


def address_refusal(address: str) -> str | None:
    """Why a webhook may not go to this IP address, or None when it is a public (global) one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for is_kind, kind in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not publicly routable"),
    ):
        if is_kind:
            return f"{address} is a {kind} address"
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, *, allow_private: bool, resolver: Resolver | None = None) -> list[str]:
    """Every address ``host`` resolves to, each one checked; raises UnsafeURLError if any is refused."""
    if is_ip_literal(host):
        addresses = [host]
    else:
        try:
            infos = (resolver or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnsafeURLError(f"{host} does not resolve ({error}).") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeURLError(f"{host} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                where = reason if host == address else f"{host} resolves to {reason}"
                raise UnsafeURLError(f"{where}, which webhooks may not reach.")
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address checked beforehand; Host still names the URL's host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = sock  # so the deadline can cut a handshake that trickles, too
        # The certificate is checked against the host name, as if the name had been dialled.
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _connection(target: Target, address: str, timeout: float) -> http.client.HTTPConnection:
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return cls(target.host, target.port, address=address, timeout=timeout)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool,
    max_bytes: int = 1024,
    resolver: Resolver | None = None,
) -> Outcome:
    """POST ``body`` once; never raises for what the network or the receiver does."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        target = parse_url(url)
        addresses = resolve(target.host, target.port, allow_private=allow_private, resolver=resolver)
    except UnsafeURLError as error:
        return Outcome(status_code=None, latency_ms=elapsed_ms(), error=f"Refused: {error}")

    deadline = started + timeout
    errors = []
    for address in addresses:  # the next address only when one cannot be connected to
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        conn = _connection(target, address, remaining)
        expired = threading.Event()

        def abort(conn: http.client.HTTPConnection = conn, expired: threading.Event = expired) -> None:
            expired.set()
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(remaining, abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                conn.connect()
            except OSError as error:
                if expired.is_set() or isinstance(error, TimeoutError):
                    break
                errors.append(f"{address}: {error}")
                continue
            try:
                conn.request("POST", target.path, body=body, headers=dict(headers))
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                if expired.is_set() or isinstance(error, TimeoutError):
                    break
                return Outcome(status_code=None, latency_ms=elapsed_ms(), error=_describe(error)[:500])
            if expired.is_set():  # the deadline cut the headers short: what was parsed is not an answer
                break
            outcome_error = ""
            try:
                excerpt = response.read(max_bytes)
            except (OSError, http.client.HTTPException):
                # The status is what counts; a body that does not come in time is just not shown.
                excerpt, outcome_error = b"", "The response body did not arrive in time."
            if 300 <= response.status < 400:
                location = response.getheader("Location", "")[:200]
                outcome_error = f"Redirect to {location or 'nowhere'} not followed."
            return Outcome(
                status_code=response.status,
                latency_ms=elapsed_ms(),
                excerpt=excerpt.decode("utf-8", errors="replace")[:max_bytes],
                error=outcome_error,
            )
        finally:
            watchdog.cancel()
            conn.close()
    if errors and time.monotonic() < deadline:
        return Outcome(
            status_code=None, latency_ms=elapsed_ms(), error=("Cannot connect: " + "; ".join(errors))[:500]
        )
    return Outcome(status_code=None, latency_ms=elapsed_ms(), error=f"No answer within {timeout:g} s.")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
