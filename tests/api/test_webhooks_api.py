"""The webhook endpoints of the JSON API: admins register receivers, read the log and send again; nobody
else may, and a token needs the `webhooks` scope."""

import pytest
from django.test import Client

from studio.webhooks import services
from studio.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import ApiClient, assert_problem

RECEIVER = "http://127.0.0.1:9/hooks/studio"


@pytest.fixture(autouse=True)
def private_receivers_allowed(settings) -> None:
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.mark.django_db
def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(as_user, admin_user):
    api = as_user(admin_user)
    created = api.post(
        "/api/v1/webhooks",
        {"url": RECEIVER, "events": ["asset.approved", "asset.revoked"], "description": "CMS"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["asset.approved", "asset.revoked"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == body["secret"] and endpoint.created_by == admin_user

    [listed] = api.get("/api/v1/webhooks").json()
    assert listed["id"] == endpoint.pk and "secret" not in listed

    rotated = api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret").json()
    assert rotated["secret"] != body["secret"]
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated["secret"]

    assert api.client.delete(f"/api/v1/webhooks/{endpoint.pk}", headers=api._headers(None)).status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert_problem(api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook", "events": ["asset.approved"]}, "url"),
        ({"url": RECEIVER, "events": ["asset.exploded"]}, "events.0"),
        ({"url": RECEIVER, "events": []}, "events"),
    ],
)
def test_bad_endpoints_are_problems_naming_the_field(as_user, admin_user, body, field):
    assert_problem(as_user(admin_user).post("/api/v1/webhooks", body), 422, field=field)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_private_receivers_are_refused_unless_allowed(as_user, admin_user, settings):
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    response = as_user(admin_user).post("/api/v1/webhooks", {"url": RECEIVER, "events": ["asset.approved"]})
    assert_problem(response, 422, field="url")


@pytest.mark.django_db
def test_admins_read_the_delivery_log_and_send_a_failed_message_again(as_user, admin_user):
    endpoint = services.webhook_endpoint_create(url=RECEIVER, events=["asset.approved"])
    [delivery] = services.webhook_event_emit(event_type="asset.approved", data={"id": 1})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=12, last_status_code=500)
    api = as_user(admin_user)

    [logged] = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries", {"status": "failed"}).json()
    assert (logged["message_id"], logged["status"], logged["attempts"]) == (delivery.message_id, "failed", 12)
    again = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/send-again")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    assert_problem(api.post("/api/v1/webhook-deliveries/999999/send-again"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_only_admins_manage_webhooks(as_user, marketer, reviewer, role):
    api = as_user({"marketer": marketer, "reviewer": reviewer}[role])
    assert_problem(api.get("/api/v1/webhooks"), 403)
    assert_problem(api.post("/api/v1/webhooks", {"url": RECEIVER, "events": ["asset.approved"]}), 403)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_token_needs_the_webhooks_scope(as_user, admin_user):
    assert_problem(as_user(admin_user, ["read", "review"]).get("/api/v1/webhooks"), 403, slug="missing-scope")
    assert as_user(None).get("/api/v1/webhooks").status_code == 401
    assert ApiClient(Client()).get("/api/v1/webhooks").status_code == 401
