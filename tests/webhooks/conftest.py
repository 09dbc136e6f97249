"""A real HTTP receiver on 127.0.0.1 in the test process, fast retry settings, and a webhooks worker."""

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from tests.workers import Worker


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request was read

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the receiver answers: a status after an optional delay, a redirect, or a trickle of bytes."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    location: str = ""
    trickle_seconds: float = 0.0  # send the status line, then one header byte every 0.1 s for this long


@dataclass
class Receiver:
    url: str
    port: int
    received: list[Received] = field(default_factory=list)
    # Decides each answer from the request; by default every request gets a 200.
    decide: Callable[[Received], Reply] = lambda _received: Reply()
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [r.payload for r in self.received if path is None or r.path == path]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.received)} of {count} requests in {timeout:.0f} s")


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = Received(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length),
            at=time.monotonic(),
        )
        with self.receiver.lock:
            self.receiver.received.append(received)
        reply = self.receiver.decide(received)
        try:
            if reply.trickle_seconds:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                end = time.monotonic() + reply.trickle_seconds
                while time.monotonic() < end:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            time.sleep(reply.delay)
            self.send_response(reply.status)
            if reply.location:
                self.send_header("Location", reply.location)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            pass  # the sender gave up first, as it should

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def receiver():
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    port = server.server_address[1]
    handler.receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks", port=port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler.receiver
    finally:
        server.shutdown()
        server.server_close()


FAST_RETRIES = [0.1, 0.2]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    """Receivers on 127.0.0.1 allowed, a short deadline and retries in tenths of a second."""
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = True
    settings.STUDIO_WEBHOOKS_TIMEOUT = 1.0
    settings.STUDIO_WEBHOOKS_RETRY_SCHEDULE = FAST_RETRIES
    settings.STUDIO_WEBHOOKS_RETRY_FOR = 30.0
    settings.STUDIO_SITE_URL = "https://studio.example"
    return settings


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Messages "sent to the broker" (their delivery ids), for tests that run attempts themselves."""
    sent: list[int] = []
    monkeypatch.setattr("studio.webhooks.tasks.deliver_webhook.delay", sent.append)
    return sent


def deliver_until_settled(*, timeout: float = 15.0) -> None:
    """What a worker and its sweeper do, in this process: attempt every pending delivery, in id order,
    until none is pending."""
    from studio.webhooks.models import WebhookDelivery
    from studio.webhooks.services import webhook_delivery_attempt

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = list(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not pending:
            return
        for delivery_id in pending:
            webhook_delivery_attempt(delivery_id=delivery_id)
        time.sleep(0.02)
    raise AssertionError("deliveries still pending")


FIGURES = Path(os.environ.get("STUDIO_WEBHOOK_FIGURES", "/tmp/webhook-figures.jsonl"))


def record_figures(name: str, **figures) -> None:
    """Delivery figures (attempts, latencies) for the closing note, one JSON line per test."""
    entry = {"test": name, "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1], **figures}
    with FIGURES.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")


class WebhooksWorker(Worker):
    """``celery worker -P threads -Q webhooks`` as run_studio starts it, in its own session."""

    pool = ["-P", "threads", "-c", "4", "-Q", "webhooks", "-n", "webhooks@%h"]


WORKER_WEBHOOK_ENV = {
    "STUDIO_WEBHOOKS_ALLOW_PRIVATE": "1",
    "STUDIO_WEBHOOKS_TIMEOUT": "2",
    "STUDIO_WEBHOOKS_RETRY_SCHEDULE": "0.3,0.6",
    "STUDIO_WEBHOOKS_SWEEP_SECONDS": "0.2",
    "STUDIO_SITE_URL": "https://studio.example",
}


def purge_webhooks_queue() -> None:
    from studio.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        with contextlib.suppress(Exception):  # a queue not declared yet has nothing in it
            channel.queue_purge("webhooks")
