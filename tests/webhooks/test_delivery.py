"""The outbox: signed messages, retries with backoff, giving up, ordering per asset, the sweeper."""

import socket
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from studio.webhooks import services
from studio.webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import FAST_RETRIES, Reply, deliver_until_settled, record_figures

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def _endpoint(url: str, events=None, **extra) -> WebhookEndpoint:
    return services.webhook_endpoint_create(url=url, events=events or list(EventType.values), **extra)


@pytest.fixture
def emit(django_capture_on_commit_callbacks) -> Callable[..., list[WebhookDelivery]]:
    """Emit an event. Its messages go to the broker once the outbox rows commit: here, as it returns."""

    def emit(event_type=EventType.ASSET_APPROVED, *, asset_id: int = 1, **data) -> list[WebhookDelivery]:
        with django_capture_on_commit_callbacks(execute=True):
            return services.webhook_event_emit(
                event_type=event_type, data={"id": asset_id, **data}, ordering_key=f"asset:{asset_id}"
            )

    return emit


def test_messages_are_signed_the_standard_webhooks_way(emit, receiver, queued):
    endpoint = _endpoint(receiver.url)
    assert endpoint.secret.startswith("whsec_")
    [delivery] = emit(title="A red apple")
    assert queued == [delivery.pk]  # sent to the broker once the rows committed
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    [request] = receiver.received
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "asset.approved"
    assert payload["data"] == {"id": 1, "title": "A red apple"}
    assert request.headers["webhook-id"] == delivery.message_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        Webhook(services.new_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body.replace(b"apple", b"pear!"), request.headers)
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED and delivery.attempts == 1
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(emit, receiver, queued):
    answers = iter([500, 503, 200])
    receiver.decide = lambda r: Reply(status=next(answers), body=b"busy" * 600)
    endpoint = _endpoint(receiver.url)
    [delivery] = emit()
    deliver_until_settled()
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED and delivery.attempts == 3
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery))
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert [a.succeeded for a in attempts] == [False, False, True]
    assert attempts[0].error == "The receiver answered 500."
    assert all(len(a.response_excerpt) <= 1024 for a in attempts)
    # The same message each time (one webhook-id), signed afresh, after the scheduled waits.
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.message_id}
    for request in receiver.received:
        Webhook(endpoint.secret).verify(request.body, request.headers)
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:], strict=False)]
    assert gaps[0] >= FAST_RETRIES[0] and gaps[1] >= FAST_RETRIES[1]
    record_figures(
        "retries_after_500s",
        attempts=delivery.attempts,
        status_codes=[a.status_code for a in attempts],
        latencies_ms=[a.latency_ms for a in attempts],
        gaps_s=[round(g, 3) for g in gaps],
    )


def test_after_the_retry_window_the_message_fails_and_the_endpoint_is_marked_failing(
    emit, receiver, queued, settings
):
    settings.STUDIO_WEBHOOKS_RETRY_FOR = 0.5
    receiver.decide = lambda r: Reply(status=500)
    endpoint = _endpoint(receiver.url)
    [delivery] = emit()
    deliver_until_settled()
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.attempts >= 3  # 0.1 s, 0.2 s, 0.2 s... until half a second after the event
    assert endpoint.failing_since is not None
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()  # still registered
    # The receiver recovers: the next message is delivered and the endpoint is healthy again.
    receiver.decide = lambda r: Reply(status=204)
    emit(asset_id=2)
    deliver_until_settled()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    record_figures("gives_up_after_window", attempts=delivery.attempts, retry_for_s=0.5)


def test_one_assets_events_arrive_in_order_while_others_are_not_held_up(emit, receiver, queued):
    first_tries = {"n": 0}

    def decide(request):
        payload = request.payload
        if payload["data"]["id"] == 1 and payload["type"] == "asset.submitted":
            first_tries["n"] += 1
            if first_tries["n"] <= 2:
                return Reply(status=500)
        return Reply()

    receiver.decide = decide
    _endpoint(receiver.url)
    emit(EventType.ASSET_SUBMITTED, asset_id=1)
    emit(EventType.ASSET_APPROVED, asset_id=1)
    emit(EventType.ASSET_SUBMITTED, asset_id=2)
    emit(EventType.ASSET_REVOKED, asset_id=1)
    # A worker asked to send asset 1's approval while its submission is still retrying waits.
    approval = WebhookDelivery.objects.get(event_type=EventType.ASSET_APPROVED)
    assert services.webhook_delivery_attempt(delivery_id=approval.pk) == "waiting"
    assert approval.attempt_log.count() == 0
    deliver_until_settled()
    delivered = [(p["data"]["id"], p["type"]) for p in receiver.payloads()]
    asset_1 = [t for i, t in delivered if i == 1]
    assert asset_1 == [
        "asset.submitted",
        "asset.submitted",
        "asset.submitted",
        "asset.approved",
        "asset.revoked",
    ]
    # Asset 2 did not wait for asset 1's retries.
    assert delivered.index((2, "asset.submitted")) < delivered.index((1, "asset.approved"))


def test_the_worker_that_finishes_a_message_queues_the_one_waiting_behind_it(emit, receiver, queued):
    _endpoint(receiver.url)
    [first] = emit(EventType.ASSET_SUBMITTED)
    [second] = emit(EventType.ASSET_APPROVED)
    queued.clear()
    services.webhook_delivery_attempt(delivery_id=first.pk)
    assert queued == [second.pk]


def test_the_sweeper_queues_what_is_due_and_first_in_line_only(emit, receiver, queued, monkeypatch):
    _endpoint(receiver.url)

    def broker_down(_id):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("studio.webhooks.tasks.deliver_webhook.delay", broker_down)
    [first] = emit(EventType.ASSET_SUBMITTED)
    [second] = emit(EventType.ASSET_APPROVED)
    [other] = emit(EventType.ASSET_SUBMITTED, asset_id=2)
    assert WebhookDelivery.objects.filter(queued_at__isnull=True).count() == 3  # still in the outbox
    assert services.webhook_deliveries_sweep() == {"queued": 0}  # broker still down: nothing lost
    monkeypatch.setattr("studio.webhooks.tasks.deliver_webhook.delay", queued.append)
    assert services.webhook_deliveries_sweep() == {"queued": 2}
    assert sorted(queued) == sorted([first.pk, other.pk])  # the approval waits behind the submission
    assert services.webhook_deliveries_sweep() == {"queued": 0}  # already in the broker
    # A retry that falls due is queued again; so is a message nobody took for too long.
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=1))
    queued.clear()
    assert services.webhook_deliveries_sweep() == {"queued": 0}
    WebhookDelivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    WebhookDelivery.objects.filter(pk=other.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    assert services.webhook_deliveries_sweep() == {"queued": 2}
    # A worker that died mid-attempt holds its claim only until the lease runs out.
    WebhookDelivery.objects.filter(pk=first.pk).update(
        locked_until=timezone.now() + timedelta(seconds=30), queued_at=timezone.now() - timedelta(minutes=5)
    )
    queued.clear()
    services.webhook_deliveries_sweep()
    assert first.pk not in queued
    assert second.pk not in queued


def test_a_duplicate_message_does_not_send_twice(emit, receiver, queued):
    _endpoint(receiver.url)
    [delivery] = emit()
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "succeeded"
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.received) == 1


def test_send_again_redelivers_the_same_message(django_capture_on_commit_callbacks, emit, receiver, queued):
    endpoint = _endpoint(receiver.url)
    [delivery] = emit()
    deliver_until_settled()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.webhook_delivery_send_again(delivery=delivery)
    assert delivery.status == Status.PENDING and queued == [delivery.pk]
    deliver_until_settled()
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    Webhook(endpoint.secret).verify(second.body, second.headers)
    assert delivery.attempt_log.count() == 2


def test_only_active_endpoints_subscribed_to_the_event_get_it(emit, receiver, queued):
    approvals = _endpoint(receiver.url + "/approvals", events=[EventType.ASSET_APPROVED])
    _endpoint(receiver.url + "/generations", events=[EventType.GENERATION_SUCCEEDED])
    _endpoint(receiver.url + "/off", is_active=False)
    [delivery] = emit(EventType.ASSET_APPROVED)
    assert delivery.endpoint == approvals
    assert emit(EventType.ASSET_REJECTED) == []


def test_a_deactivated_endpoints_pending_messages_wait(emit, receiver, queued):
    endpoint = _endpoint(receiver.url)
    [delivery] = emit()
    services.webhook_endpoint_update(endpoint=endpoint, is_active=False)
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "skipped"
    assert services.webhook_deliveries_sweep() == {"queued": 0}
    services.webhook_endpoint_update(endpoint=endpoint, is_active=True)
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "succeeded"


def test_rotating_the_secret_signs_retries_with_the_new_one(emit, receiver, queued):
    endpoint = _endpoint(receiver.url)
    old = endpoint.secret
    [delivery] = emit()
    services.webhook_endpoint_rotate_secret(endpoint=endpoint)
    services.webhook_delivery_attempt(delivery_id=delivery.pk)
    [request] = receiver.received
    Webhook(endpoint.secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("ftp://hooks.example/", ["asset.approved"], "url"),
        ("http://127.0.0.1:9/hook", ["asset.approved"], "url"),
        ("http://10.0.0.5/hook", ["asset.approved"], "url"),
        ("http://localhost:8000/hook", ["asset.approved"], "url"),
        ("http://[::1]/hook", ["asset.approved"], "url"),
        ("https://hooks.example/", [], "events"),
        ("https://hooks.example/", ["asset.exploded"], "events"),
    ],
)
def test_endpoints_are_validated_on_registration(url, events, field, settings, monkeypatch):
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, **kw: [(2, 1, 6, "", ("93.184.216.34", port))]
    )
    with pytest.raises(ValidationError) as error:
        services.webhook_endpoint_create(url=url, events=events)
    assert field in error.value.message_dict


def test_a_name_resolving_to_a_private_address_is_refused_on_registration(settings, monkeypatch):
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, **kw: [(2, 1, 6, "", ("169.254.169.254", port))]
    )
    with pytest.raises(ValidationError, match="link-local"):
        services.webhook_endpoint_create(url="http://metadata.example/", events=["asset.approved"])


def test_dns_rebinding_to_a_private_address_is_blocked_at_send_time(
    emit, receiver, queued, settings, monkeypatch
):
    """The name resolved to a public address when it was registered, and to loopback when the message goes."""
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    answers = {"hooks.example": "93.184.216.34"}
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    endpoint = _endpoint(f"http://hooks.example:{receiver.port}/hooks")
    answers["hooks.example"] = "127.0.0.1"  # the rebinding
    [delivery] = emit()
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None
    assert "hooks.example resolves to 127.0.0.1 is a loopback address" in attempt.error
    assert receiver.received == []
    assert endpoint.deliveries.get().status == Status.PENDING


def test_a_slow_receiver_holds_an_attempt_no_longer_than_the_timeout(emit, receiver, queued, settings):
    settings.STUDIO_WEBHOOKS_TIMEOUT = 0.5
    receiver.decide = lambda r: Reply(delay=5)
    _endpoint(receiver.url)
    [delivery] = emit()
    started = time.monotonic()
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    took = time.monotonic() - started
    [attempt] = delivery.attempt_log.all()
    assert "No answer within 0.5 s" in attempt.error
    assert took < 1.2  # the receiver would take 5 s; the margin is for a busy machine
    record_figures(
        "slow_receiver", timeout_s=0.5, attempt_latency_ms=attempt.latency_ms, held_s=round(took, 3)
    )


def test_the_retry_schedule_repeats_its_last_step(settings):
    settings.STUDIO_WEBHOOKS_RETRY_SCHEDULE = [5, 30, 120]
    assert [services.retry_delay(n) for n in (1, 2, 3, 4, 9)] == [5, 30, 120, 120, 120]
