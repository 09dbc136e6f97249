"""Admins register endpoints and read every attempt in the admin, with a "send again" button; no one else."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from studio.webhooks import services
from studio.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import Reply, deliver_until_settled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def delivered(receiver, queued):
    """An endpoint and one delivery that took two attempts (a 500, then a 200)."""
    answers = iter([500, 200])
    receiver.decide = lambda r: Reply(status=next(answers, 200), body=b"<h1>receiver said this</h1>")
    endpoint = services.webhook_endpoint_create(
        url=receiver.url, events=[EventType.ASSET_APPROVED], description="CMS"
    )
    services.webhook_event_emit(event_type=EventType.ASSET_APPROVED, data={"id": 5}, ordering_key="asset:5")
    deliver_until_settled()
    return endpoint, WebhookDelivery.objects.get()


@pytest.fixture
def staff_without_permissions(db):
    return get_user_model().objects.create_user(username="clerk", password="pw-clerk", is_staff=True)


def test_an_admin_sees_endpoints_deliveries_and_every_attempt(client, admin_user, delivered):
    endpoint, delivery = delivered
    client.force_login(admin_user)
    endpoints = client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    assert endpoints.status_code == 200 and endpoint.url in endpoints.text
    page = client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and endpoint.secret in page.text
    deliveries = client.get(
        reverse("admin:webhooks_webhookdelivery_changelist"), {"status__exact": "succeeded"}
    )
    assert deliveries.status_code == 200 and "asset.approved" in deliveries.text
    log = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
    assert log.status_code == 200
    assert "500" in log.text and "200" in log.text  # both attempts, with their status codes
    assert "The receiver answered 500." in log.text
    assert "&lt;h1&gt;receiver said this&lt;/h1&gt;" in log.text  # the excerpt, escaped
    assert "Send again" in log.text


def test_send_again_from_the_button_and_the_action(client, admin_user, delivered, queued):
    _, delivery = delivered
    client.force_login(admin_user)
    queued.clear()
    send_again = reverse("admin:webhooks_webhookdelivery_send_again", args=[delivery.pk])
    assert client.get(send_again).status_code == 405
    response = client.post(send_again)
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and queued == [delivery.pk]
    deliver_until_settled()
    response = client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "send_again", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    assert queued == [delivery.pk, delivery.pk]
    deliver_until_settled()
    assert delivery.attempt_log.count() == 4


def test_an_admin_registers_an_endpoint_through_the_form(client, admin_user, settings, receiver):
    client.force_login(admin_user)
    add = reverse("admin:webhooks_webhookendpoint_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "url": receiver.url,
            "description": "Ads",
            "events": ["asset.approved", "asset.revoked"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["asset.approved", "asset.revoked"]
    assert endpoint.secret.startswith("whsec_") and endpoint.created_by == admin_user
    settings.STUDIO_WEBHOOKS_ALLOW_PRIVATE = False
    refused = client.post(
        add, {"url": "http://127.0.0.1:8000/", "events": ["asset.approved"], "is_active": "on"}
    )
    assert refused.status_code == 200 and "loopback address" in refused.text
    assert WebhookEndpoint.objects.count() == 1


def test_reviewers_and_staff_without_permissions_cannot_use_the_webhook_admin(
    client, reviewer, staff_without_permissions, delivered, queued
):
    _, delivery = delivered
    pages = [
        reverse("admin:webhooks_webhookendpoint_changelist"),
        reverse("admin:webhooks_webhookdelivery_changelist"),
        reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]),
    ]
    send_again = reverse("admin:webhooks_webhookdelivery_send_again", args=[delivery.pk])
    queued.clear()
    client.force_login(reviewer)  # not staff: the admin sends them to its login page
    for page in pages:
        assert client.get(page).status_code == 302
    assert client.post(send_again).status_code == 302
    client.force_login(staff_without_permissions)
    for page in pages:
        assert client.get(page).status_code == 403
    assert client.post(send_again).status_code == 403
    assert queued == []
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
