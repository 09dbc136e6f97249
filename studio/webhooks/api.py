"""The JSON API's webhook endpoints, for admins: register, list and remove receivers, rotate a secret, read
the delivery log and send a message again. Thin: the services and selectors the admin pages use."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from studio.api import Problem, field_error, not_found, scoped, user_of
from studio.webhooks import selectors, services
from studio.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint

router = Router(tags=["webhooks"])


class EndpointIn(Schema):
    url: str = Field(
        max_length=500, description="An http(s) address on a public network; it gets a POST per event."
    )
    events: list[EventType] = Field(min_length=1, description="The events it receives.")
    description: str = Field("", max_length=200)
    is_active: bool = True


class EndpointOut(Schema):
    id: int
    url: str
    description: str
    events: list[str]
    is_active: bool
    failing_since: datetime | None = Field(description="Set when a message ran out of retries.")
    last_success_at: datetime | None
    created_at: datetime


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(description="The Standard Webhooks secret (whsec_...) receivers verify with.")


class DeliveryOut(Schema):
    id: int
    message_id: str = Field(description="The webhook-id header; the same on every attempt.")
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str


def _admin(request: HttpRequest, permission: str) -> None:
    if not user_of(request).has_perm(permission):
        raise Problem(403, "Only admins manage webhooks.")


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


def _out(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    fields = [
        "id",
        "url",
        "description",
        "events",
        "is_active",
        "failing_since",
        "last_success_at",
        "created_at",
    ]
    if with_secret:
        fields.append("secret")
    return {name: getattr(endpoint, name) for name in fields}


@router.get("/webhooks", response=list[EndpointOut], summary="List webhook endpoints", **scoped("webhooks"))
def list_endpoints(request: HttpRequest) -> list[dict]:
    _admin(request, "webhooks.view_webhookendpoint")
    return [_out(endpoint) for endpoint in selectors.webhook_endpoint_list()]


@router.post(
    "/webhooks",
    response={201: EndpointWithSecretOut},
    summary="Register a webhook endpoint",
    **scoped("webhooks"),
)
def create_endpoint(request: HttpRequest, payload: EndpointIn) -> Status:
    """Registers a receiver for the events named. The answer carries its signing secret, as does
    `rotate-secret`; other reads never show it."""
    _admin(request, "webhooks.add_webhookendpoint")
    try:
        endpoint = services.webhook_endpoint_create(
            url=payload.url,
            events=[str(event) for event in payload.events],
            description=payload.description,
            is_active=payload.is_active,
            created_by=user_of(request),
        )
    except ValidationError as error:
        problems = error.message_dict if hasattr(error, "error_dict") else {"url": error.messages}
        raise Problem(
            422,
            " ".join(message for messages in problems.values() for message in messages),
            slug="validation-error",
            errors=[
                field_error(name, message) for name, messages in problems.items() for message in messages
            ],
        ) from None
    return Status(201, _out(endpoint, with_secret=True))


@router.delete(
    "/webhooks/{endpoint_id}", response={204: None}, summary="Remove a webhook endpoint", **scoped("webhooks")
)
def delete_endpoint(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    _admin(request, "webhooks.delete_webhookendpoint")
    services.webhook_endpoint_delete(endpoint=_endpoint(endpoint_id))
    return HttpResponse(status=204)


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response=EndpointWithSecretOut,
    summary="Rotate an endpoint's signing secret",
    **scoped("webhooks"),
)
def rotate_secret(request: HttpRequest, endpoint_id: int) -> dict:
    """A new secret at once: every attempt from now on, retries included, is signed with it."""
    _admin(request, "webhooks.change_webhookendpoint")
    return _out(services.webhook_endpoint_rotate_secret(endpoint=_endpoint(endpoint_id)), with_secret=True)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response=list[DeliveryOut],
    summary="An endpoint's messages and how they went",
    **scoped("webhooks"),
)
def list_deliveries(
    request: HttpRequest, endpoint_id: int, status: WebhookDelivery.Status | None = None
) -> list:
    _admin(request, "webhooks.view_webhookdelivery")
    return list(selectors.webhook_delivery_list(endpoint=_endpoint(endpoint_id), status=status)[:200])


@router.post(
    "/webhook-deliveries/{delivery_id}/send-again",
    response=DeliveryOut,
    summary="Send a message again",
    **scoped("webhooks"),
)
def send_again(request: HttpRequest, delivery_id: int) -> WebhookDelivery:
    """The same message (same webhook-id and body, freshly signed), retried for another day."""
    _admin(request, "webhooks.resend_webhookdelivery")
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise not_found("webhook delivery")
    return services.webhook_delivery_send_again(delivery=delivery)
