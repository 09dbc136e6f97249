"""Reads for webhooks, for the admin's neighbours and the API."""

from django.db.models import QuerySet

from studio.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, active_only: bool = False) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.all()
    return endpoints.filter(is_active=True) if active_only else endpoints


def webhook_endpoint_get(*, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(pk=endpoint_id).first()


def webhook_delivery_list(
    *, endpoint: WebhookEndpoint | None = None, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    """Newest first."""
    deliveries = WebhookDelivery.objects.select_related("endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if status is not None:
        deliveries = deliveries.filter(status=status)
    return deliveries


def webhook_attempt_list(*, delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    """Oldest first, as they happened."""
    return delivery.attempt_log.all()
