"""Writes for webhooks: endpoints, the outbox of deliveries, and each attempt to send one.

How a message travels:

1. An event (a review transition, a finished generation request) commits; its after-commit signal reaches
   ``webhook_event_emit``, which writes one delivery row per subscribed endpoint (the outbox) and, once
   those rows commit, sends each one's id to the ``webhooks`` Celery queue.
2. A worker of that queue (``webhook_delivery_attempt``) claims the delivery with a conditional update (a
   lease until ``locked_until``), signs the stored body the Standard Webhooks way with a fresh timestamp,
   POSTs it (``transport.post``: checked addresses, no redirects, one deadline) and logs the attempt.
3. A failed attempt sets ``next_attempt_at`` from ``STUDIO_WEBHOOKS_RETRY_SCHEDULE``; the workers' sweeper
   (``webhook_deliveries_sweep``) queues deliveries that are due, whose message was lost, or whose worker
   died mid-attempt (its lease ran out). Past ``retry_until`` (a day after the event) the delivery fails
   and its endpoint is marked failing, until a later delivery to it succeeds.
4. Per endpoint, messages with the same ordering key (one asset's events) go in order: a delivery waits
   while an earlier one with its key is pending, and the worker that finishes the earlier one queues it.

Every step tolerates a duplicate message: only one claim wins.
"""

import base64
import json
import logging
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from generation.models import Asset, GenerationRequest
from studio.webhooks import events, transport
from studio.webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "Studio-Webhooks/1"


# --- Endpoints --------------------------------------------------------------------------------------------


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_endpoint(*, url: str, events: list[str]) -> None:
    """The one rule for what an endpoint may be, for the admin form and the services alike."""
    problems: dict[str, str] = {}
    try:
        target = transport.parse_url(url)
        if not settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE:
            if target.host == "localhost" or target.host.endswith(".localhost"):
                raise transport.UnsafeURLError(
                    f"{target.host} is this machine, which webhooks may not reach."
                )
            # Checked again at every attempt: a name's addresses can change after registration.
            transport.resolve(target.host, target.port, allow_private=False)
    except transport.UnsafeURLError as error:
        problems["url"] = str(error)
    if not isinstance(events, list) or not events:
        problems["events"] = "Choose at least one event."
    else:
        unknown = sorted({str(name) for name in events} - set(EventType.values))
        if unknown:
            problems["events"] = f"Unknown event types: {', '.join(unknown)}."
    if problems:
        raise ValidationError(problems)


def webhook_endpoint_create(
    *,
    url: str,
    events: list[str],
    description: str = "",
    is_active: bool = True,
    created_by: User | None = None,
) -> WebhookEndpoint:
    """Register an endpoint; raises ValidationError. Its ``secret`` is what the receiver verifies with."""
    endpoint = WebhookEndpoint(
        url=url.strip(),
        events=list(dict.fromkeys(events)),
        description=description.strip(),
        is_active=is_active,
        created_by=created_by,
        secret=new_secret(),
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; raises ValidationError. Pending deliveries go to the new URL, body unchanged."""
    if url is not None:
        endpoint.url = url.strip()
    if events is not None:
        endpoint.events = list(dict.fromkeys(events))
    if description is not None:
        endpoint.description = description.strip()
    if is_active is not None:
        endpoint.is_active = is_active
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret at once: every attempt from now on, retries included, is signed with it."""
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its deliveries and their log."""
    endpoint.delete()


# --- Events into the outbox -------------------------------------------------------------------------------


def webhook_event_emit(*, event_type: str, data: dict, ordering_key: str = "") -> list[WebhookDelivery]:
    """Put one event in the outbox of every active endpoint that subscribed to it, and queue the messages
    once the rows commit. Call it after the change the event reports has committed."""
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}.")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        if event_type in endpoint.events
    ]
    if not endpoints:
        return []
    now = timezone.now()
    body = json.dumps(events.envelope(event_type, data), separators=(",", ":"), ensure_ascii=False)
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                endpoint=endpoint,
                message_id=f"msg_{uuid.uuid4().hex}",
                event_type=event_type,
                ordering_key=ordering_key,
                body=body,
                created_at=now,
                next_attempt_at=now,
                retry_until=now + timedelta(seconds=settings.STUDIO_WEBHOOKS_RETRY_FOR),
            )
            for endpoint in endpoints
        )
        # By message id: bulk_create leaves primary keys unset on backends without RETURNING (MySQL).
        ids = list(
            WebhookDelivery.objects.filter(message_id__in=[d.message_id for d in deliveries])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: [webhook_delivery_dispatch(delivery_id=pk) for pk in ids])
    return list(WebhookDelivery.objects.filter(pk__in=ids).order_by("pk"))


def asset_event_emit(*, asset: Asset, event_type: str, extra: dict | None = None) -> list[WebhookDelivery]:
    """An ``asset.*`` event with the asset's data, in order with the asset's other events.

    The usage-rights work sends ``asset.rights_expired`` through this, after its own change commits:
    ``asset_event_emit(asset=asset, event_type=EventType.ASSET_RIGHTS_EXPIRED, extra={"rights": {...}})``.
    """
    if not _anyone_listens(event_type):
        return []
    data = events.asset_data(asset)
    data.update(extra or {})
    return webhook_event_emit(event_type=event_type, data=data, ordering_key=f"asset:{asset.pk}")


def review_change_emit(*, asset: Asset, from_state: str, to_state: str) -> list[WebhookDelivery]:
    event_type = events.REVIEW_STATE_EVENTS.get(to_state)
    if event_type is None or not _anyone_listens(event_type):
        return []
    data = events.review_change_data(asset=asset, from_state=from_state, to_state=to_state)
    return webhook_event_emit(event_type=event_type, data=data, ordering_key=f"asset:{asset.pk}")


def generation_finished_emit(*, request_id: int, status: str) -> list[WebhookDelivery]:
    event_type = events.GENERATION_STATUS_EVENTS.get(status)
    if event_type is None or not _anyone_listens(event_type):
        return []
    generation_request = GenerationRequest.objects.get(pk=request_id)
    return webhook_event_emit(
        event_type=event_type,
        data=events.generation_data(generation_request),
        ordering_key=f"request:{request_id}",
    )


def _anyone_listens(event_type: str) -> bool:
    """Saves building a payload nobody asked for (one query, the common case with no endpoints)."""
    return any(
        event_type in subscribed
        for subscribed in WebhookEndpoint.objects.filter(is_active=True).values_list("events", flat=True)
    )


# --- Sending ----------------------------------------------------------------------------------------------


def webhook_delivery_dispatch(*, delivery_id: int) -> bool:
    """Send the delivery's id to the webhooks queue. With the broker down the row stays in the outbox for
    the sweeper: True when sent."""
    from studio.webhooks.tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_id)
    except Exception as error:  # kombu and redis raise several types for an unreachable broker
        logger.warning("Webhook delivery %s not queued (%s); the sweeper will send it", delivery_id, error)
        return False
    WebhookDelivery.objects.filter(pk=delivery_id).update(queued_at=timezone.now())
    return True


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based); the schedule's last step repeats."""
    schedule = settings.STUDIO_WEBHOOKS_RETRY_SCHEDULE
    return float(schedule[min(attempt, len(schedule)) - 1])


def sign(*, secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body),
    }


def _earlier_in_line(delivery: WebhookDelivery) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id,
        ordering_key=delivery.ordering_key,
        status=Status.PENDING,
        pk__lt=delivery.pk,
    )


def _unlocked(now: datetime) -> Q:
    return Q(locked_until__isnull=True) | Q(locked_until__lt=now)


def webhook_delivery_attempt(*, delivery_id: int) -> str:
    """One attempt at a delivery, if it is due, unclaimed and first in its line.

    Returns what happened: "succeeded", "retrying", "failed", or "waiting" (an earlier message for the same
    asset is still pending), "skipped" (not due, taken by another worker, delivered, or endpoint inactive).
    """
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Status.PENDING or not delivery.endpoint.is_active:
        return "skipped"
    if delivery.ordering_key and _earlier_in_line(delivery).exists():
        return "waiting"
    token = secrets.token_hex(8)
    lease = timedelta(seconds=settings.STUDIO_WEBHOOKS_TIMEOUT + 30)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .filter(_unlocked(now))
        .update(locked_until=now + lease, claim=token, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return "skipped"
    number = WebhookDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)
    endpoint = delivery.endpoint
    started_at = timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **sign(
            secret=endpoint.secret, message_id=delivery.message_id, timestamp=started_at, body=delivery.body
        ),
    }
    outcome = transport.post(
        endpoint.url,
        delivery.body.encode(),
        headers,
        timeout=settings.STUDIO_WEBHOOKS_TIMEOUT,
        allow_private=settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE,
        max_bytes=RESPONSE_EXCERPT_BYTES,
    )
    result = _record(delivery, token=token, number=number, started_at=started_at, outcome=outcome)
    if result in ("succeeded", "failed") and delivery.ordering_key:
        _queue_next_in_line(delivery)
    return result


def _record(
    delivery: WebhookDelivery, *, token: str, number: int, started_at: datetime, outcome: transport.Outcome
) -> str:
    now = timezone.now()
    error = outcome.error
    if outcome.status_code is not None and not outcome.ok and not error:
        error = f"The receiver answered {outcome.status_code}."
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING, claim=token)
    common = {
        "locked_until": None,
        "claim": "",
        "last_status_code": outcome.status_code,
        "last_error": error[:500],
    }
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started_at,
            succeeded=outcome.ok,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt[:RESPONSE_EXCERPT_BYTES],
            error=error[:500],
        )
        endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
        if outcome.ok:
            mine.update(status=Status.SUCCEEDED, delivered_at=now, next_attempt_at=None, **common)
            endpoint.update(failing_since=None, last_success_at=now)
            return "succeeded"
        if now >= delivery.retry_until:
            if mine.update(status=Status.FAILED, next_attempt_at=None, **common):
                endpoint.filter(failing_since__isnull=True).update(failing_since=now)
                logger.warning(
                    "Webhook %s to endpoint %s failed after %s attempts; endpoint marked failing",
                    delivery.message_id,
                    delivery.endpoint_id,
                    number,
                )
            return "failed"
        next_at = min(now + timedelta(seconds=retry_delay(number)), delivery.retry_until)
        mine.update(next_attempt_at=next_at, **common)
        return "retrying"


def _queue_next_in_line(delivery: WebhookDelivery) -> None:
    """The message that waited behind this one goes now, not at the next sweep."""
    following = (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            ordering_key=delivery.ordering_key,
            status=Status.PENDING,
            pk__gt=delivery.pk,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        webhook_delivery_dispatch(delivery_id=following)


def webhook_delivery_send_again(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Back into the outbox: sent now with the same ``webhook-id`` and body, retried for a day again.

    Works on any delivery, delivered or failed; an attempt in flight loses its claim, so its outcome is
    logged but decides nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.PENDING,
            next_attempt_at=now,
            retry_until=now + timedelta(seconds=settings.STUDIO_WEBHOOKS_RETRY_FOR),
            locked_until=None,
            claim="",
            delivered_at=None,
        )
        transaction.on_commit(lambda: webhook_delivery_dispatch(delivery_id=delivery.pk))
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_sweep(*, limit: int = 500) -> dict[str, int]:
    """One pass of the sweeper: queue every delivery that is due, first in its line, not being attempted,
    and whose message is not already waiting in the broker (or was sent so long ago it was lost)."""
    now = timezone.now()
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        ordering_key=OuterRef("ordering_key"),
        status=Status.PENDING,
        pk__lt=OuterRef("pk"),
    )
    stale = now - timedelta(seconds=settings.STUDIO_WEBHOOKS_REQUEUE_SECONDS)
    due = (
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
        )
        .filter(_unlocked(now))
        .filter(Q(ordering_key="") | ~Exists(earlier))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=F("next_attempt_at")) | Q(queued_at__lt=stale))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "queued_at")[:limit]
    )
    done = {"queued": 0}
    for delivery_id, queued_at in due:
        # Taken conditionally, so two sweepers never queue the same delivery twice in one round.
        if not WebhookDelivery.objects.filter(pk=delivery_id, queued_at=queued_at).update(queued_at=now):
            continue
        if webhook_delivery_dispatch(delivery_id=delivery_id):
            done["queued"] += 1
        else:
            WebhookDelivery.objects.filter(pk=delivery_id, queued_at=now).update(queued_at=queued_at)
            break  # the broker is down: the next round tries again
    return done
