"""End to end with real Celery workers: the generation worker runs a request, the webhooks worker (threads,
its own queue, as run_studio starts it) delivers the events to a real receiver, retries, and survives a
restart."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook

from generation import services as generation_services
from generation.models import Asset
from review import decisions as review_decisions
from studio.webhooks import services
from studio.webhooks.models import EventType, WebhookDelivery
from tests.concurrency import at_once
from tests.conftest import checklist_all, wait_for, worker_env
from tests.forms import generation_parameters
from tests.webhooks.conftest import (
    WORKER_WEBHOOK_ENV,
    Reply,
    WebhooksWorker,
    purge_webhooks_queue,
    record_figures,
)


@pytest.fixture
def webhook_env(monkeypatch) -> None:
    """Every worker process (the generation worker emits events too) gets the webhook settings."""
    for name, value in WORKER_WEBHOOK_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def start_webhooks_worker(webhook_env, transactional_db, media_root):
    purge_webhooks_queue()
    started: list[WebhooksWorker] = []

    def start(**extra_env) -> WebhooksWorker:
        worker = WebhooksWorker(
            env={**worker_env(media_root), **WORKER_WEBHOOK_ENV, **extra_env},
            log_path=media_root.parent / f"webhooks-worker-{len(started)}.log",
        ).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()  # nothing to finish: its work is in the database (and a warm stop takes seconds)
        print(worker.log_tail())


def _parameters() -> generation_services.GenerationParameters:
    return generation_parameters(style="product-photography", seed=11, campaign="Autumn")


def test_real_workers_deliver_generation_and_review_events(
    webhook_env, start_webhooks_worker, celery_worker_process, receiver, marketer, reviewer, media_root
):
    approvals = {"n": 0}

    def decide(request):
        if request.payload["type"] == "asset.approved":
            approvals["n"] += 1
            if approvals["n"] == 1:
                return Reply(status=500)
        return Reply()

    receiver.decide = decide
    endpoint = services.webhook_endpoint_create(url=receiver.url, events=list(EventType.values))
    start_webhooks_worker()

    started = time.monotonic()
    request = generation_services.generation_request_create(user=marketer, parameters=_parameters())
    receiver.wait_for(2, timeout=90)
    generated = time.monotonic() - started
    # Two ordering lines (the request's, the asset's), sent side by side by the worker's threads.
    by_type = {p["type"]: p["data"] for p in receiver.payloads()}
    assert set(by_type) == {"generation.succeeded", "asset.submitted"}
    succeeded = by_type["generation.succeeded"]
    assert succeeded["request"]["id"] == request.pk and succeeded["request"]["status"] == "succeeded"
    asset = Asset.objects.get(request=request)
    assert [a["id"] for a in succeeded["assets"]] == [asset.pk]

    decided = time.monotonic()
    review = review_decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    received = receiver.wait_for(4, timeout=30)
    retried_in = received[3].at - decided
    approved = received[3].payload
    assert approved["type"] == "asset.approved" and approved["data"]["public_id"] == review.public_id
    assert received[2].headers["webhook-id"] == received[3].headers["webhook-id"]
    for request_seen in received:
        Webhook(endpoint.secret).verify(request_seen.body, request_seen.headers)

    # The receiver records a request before it answers; the worker writes the outcome after the answer.
    done = WebhookDelivery.Status.SUCCEEDED
    wait_for(lambda: not WebhookDelivery.objects.exclude(status=done).exists(), timeout=10)
    deliveries = {d.event_type: d for d in WebhookDelivery.objects.all()}
    assert len(deliveries) == 3
    approval = deliveries["asset.approved"]
    attempts = list(approval.attempt_log.all())
    assert [a.status_code for a in attempts] == [500, 200]
    # The webhooks worker sent them all; the generation worker, which consumes the default queue, none.
    logs = (media_root.parent / "worker.log").read_text(errors="replace")
    assert "Task webhooks.deliver[" not in logs
    record_figures(
        "real_workers",
        broker=settings.CELERY_BROKER_URL.split(":", 1)[0],
        retry_schedule_s=WORKER_WEBHOOK_ENV["STUDIO_WEBHOOKS_RETRY_SCHEDULE"],
        generation_to_two_events_s=round(generated, 2),
        first_attempt_ms={k: d.attempt_log.first().latency_ms for k, d in deliveries.items()},
        approval_attempts=len(attempts),
        approval_decision_to_retried_delivery_s=round(retried_in, 3),
        approval_first_attempt_after_decision_s=round(received[2].at - decided, 3),
    )


def test_a_due_retry_survives_a_webhooks_worker_restart(
    start_webhooks_worker, receiver, make_asset, reviewer, marketer
):
    receiver_up = threading.Event()
    receiver.decide = lambda r: Reply() if receiver_up.is_set() else Reply(status=503)
    endpoint = services.webhook_endpoint_create(url=receiver.url, events=[EventType.ASSET_APPROVED])
    asset = make_asset()
    # A long second wait, so the worker is surely between attempts when it is killed.
    first = start_webhooks_worker(STUDIO_WEBHOOKS_RETRY_SCHEDULE="0.2,3")
    review_decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    receiver.wait_for(2, timeout=30)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    wait_for(lambda: delivery.attempt_log.count() == 2, timeout=10)
    first.kill()
    receiver_up.set()
    killed_at = time.monotonic()
    # The message lives in the database: a fresh worker's sweeper sends it when it falls due.
    start_webhooks_worker(STUDIO_WEBHOOKS_RETRY_SCHEDULE="0.2,3")
    received = receiver.wait_for(3, timeout=30)
    # The worker writes the outcome after the receiver has answered.
    done = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.SUCCEEDED)
    wait_for(done.exists, timeout=10)
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert {r.headers["webhook-id"] for r in received} == {delivery.message_id}
    record_figures(
        "worker_restart",
        attempts=delivery.attempts,
        status_codes=[a.status_code for a in delivery.attempt_log.all()],
        kill_to_delivery_s=round(received[2].at - killed_at, 2),
    )


@pytest.mark.services
def test_concurrent_attempts_on_postgresql_send_a_message_once(transactional_db, receiver, monkeypatch):
    """Four workers handed the same message at once (a redelivery, a sweep): one claim wins, one POST."""
    assert connection.vendor == "postgresql"
    monkeypatch.setattr("studio.webhooks.tasks.deliver_webhook.delay", lambda _id: None)
    services.webhook_endpoint_create(url=receiver.url, events=[EventType.ASSET_APPROVED])
    [delivery] = services.webhook_event_emit(event_type=EventType.ASSET_APPROVED, data={"id": 1})

    def attempt() -> str:
        return services.webhook_delivery_attempt(delivery_id=delivery.pk)

    assert sorted(at_once(attempt, attempt, attempt, attempt)) == [
        "skipped",
        "skipped",
        "skipped",
        "succeeded",
    ]
    assert len(receiver.received) == 1
