"""Events fire from real state changes: generation requests finishing and review decisions."""

import pytest
from standardwebhooks.webhooks import Webhook

from generation import jobs
from generation import services as generation_services
from generation.models import GenerationRequest
from review import decisions as review_decisions
from review.models import ReviewState
from studio.webhooks import events, services
from studio.webhooks.models import EventType, WebhookDelivery
from tests.conftest import checklist_all
from tests.forms import generation_parameters
from tests.webhooks.conftest import deliver_until_settled

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(receiver):
    return services.webhook_endpoint_create(url=receiver.url, events=list(EventType.values))


def test_every_review_state_but_draft_sends_an_event():
    assert set(events.REVIEW_STATE_EVENTS) == set(ReviewState.values) - {ReviewState.DRAFT}
    assert set(events.REVIEW_STATE_EVENTS.values()) | set(events.GENERATION_STATUS_EVENTS.values()) == set(
        EventType.values
    ) - {EventType.ASSET_RIGHTS_EXPIRED}


def test_review_decisions_send_their_events_in_order(
    endpoint,
    receiver,
    queued,
    make_asset,
    marketer,
    reviewer,
    channel_presets,
    client,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()  # a finished request: generation.succeeded, then asset.submitted
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_decide(
            asset=asset, actor=reviewer, decision="request_changes", comment="Brighter, please."
        )
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_submit(asset=asset, actor=marketer)
    with django_capture_on_commit_callbacks(execute=True):
        review = review_decisions.asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
        )
    # The original's delivery URL, which the approval's payload carries, is served while approved.
    original_path = f"/image/upload/{review.public_id}.png"
    assert client.get(original_path).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="Campaign pulled.")
    assert len(queued) == 6
    deliver_until_settled()

    payloads = receiver.payloads()
    assert [p["type"] for p in payloads] == [
        "generation.succeeded",
        "asset.submitted",
        "asset.changes_requested",
        "asset.submitted",
        "asset.approved",
        "asset.revoked",
    ]
    for request in receiver.received:
        Webhook(endpoint.secret).verify(request.body, request.headers)

    generation = payloads[0]["data"]
    assert generation["request"]["id"] == asset.request_id
    assert generation["request"]["status"] == "succeeded" and generation["request"]["error"] == ""
    assert generation["request"]["url"] == f"https://studio.example/requests/{asset.request_id}/"
    assert [a["id"] for a in generation["assets"]] == [asset.pk]

    changes = payloads[2]["data"]
    assert changes["review"]["comment"] == "Brighter, please."
    assert changes["review"]["actor"] == "reviewer"
    assert changes["public_id"] is None and changes["urls"]["original"] is None

    approved = payloads[4]["data"]
    assert approved["id"] == asset.pk
    assert approved["public_id"] == review.public_id
    assert approved["urls"]["studio"] == f"https://studio.example/review/assets/{asset.pk}/"
    original = approved["urls"]["original"]
    assert original == f"https://studio.example{original_path}"
    metadata = approved["metadata"]
    assert metadata["prompt"] == "a red apple on a blue background"
    assert metadata["model"] == "tiny"
    assert (metadata["width"], metadata["height"]) == (96, 64)
    assert metadata["review_state"] == "approved"
    assert {"title", "campaign", "product", "channel"} <= set(metadata)

    revoked = payloads[5]["data"]
    # Sites look up what to take down by public id; the original no longer serves, so no URL for it.
    assert revoked["public_id"] == review.public_id and revoked["urls"]["original"] is None
    assert revoked["metadata"]["review_state"] == "revoked"
    assert revoked["review"]["comment"] == "Campaign pulled."


def test_a_failed_request_sends_generation_failed_with_its_error(
    endpoint, receiver, queued, marketer, no_enqueue, django_capture_on_commit_callbacks
):
    parameters = generation_parameters(prompt="a blue mug", style="product-photography", seed=3)
    with django_capture_on_commit_callbacks(execute=True):
        request = generation_services.generation_request_create(user=marketer, parameters=parameters)
        lease = generation_services.generation_request_claim(request_id=request.pk)
        lease.finish(GenerationRequest.Status.FAILED, "The model ran out of memory.")
    deliver_until_settled()
    [payload] = receiver.payloads()
    assert payload["type"] == "generation.failed"
    assert payload["data"]["request"]["status"] == "failed"
    assert payload["data"]["request"]["error"] == "The model ran out of memory."
    assert payload["data"]["assets"] == []


def test_a_canceled_request_sends_nothing(endpoint, queued, marketer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = GenerationRequest.objects.create(
            created_by=marketer,
            prompt="x",
            model_key="tiny",
            width=64,
            height=64,
            seed=1,
            steps=1,
            guidance=1,
        )
        jobs.cancel(request)
    assert not WebhookDelivery.objects.exists()


def test_without_endpoints_events_cost_no_rows(queued, make_asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_asset()
    assert not WebhookDelivery.objects.exists() and queued == []


def test_rights_expiry_can_be_subscribed_to_and_emitted(
    receiver, queued, make_asset, django_capture_on_commit_callbacks
):
    """Usage rights are another issue's work: it only has to call asset_event_emit once its change commits."""
    endpoint = services.webhook_endpoint_create(url=receiver.url, events=[EventType.ASSET_RIGHTS_EXPIRED])
    asset = make_asset()
    with django_capture_on_commit_callbacks(execute=True):
        services.asset_event_emit(
            asset=asset,
            event_type=EventType.ASSET_RIGHTS_EXPIRED,
            extra={"rights": {"expired_on": "2026-12-31"}},
        )
    deliver_until_settled()
    [request] = receiver.received
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "asset.rights_expired"
    assert payload["data"]["id"] == asset.pk and payload["data"]["rights"] == {"expired_on": "2026-12-31"}


def test_a_broken_webhook_never_undoes_or_fails_a_decision(
    endpoint, queued, make_asset, reviewer, monkeypatch, django_capture_on_commit_callbacks
):
    asset = make_asset()

    def broken(**_kwargs):
        raise RuntimeError("payload builder broke")

    monkeypatch.setattr("studio.webhooks.events.review_change_data", broken)
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
        )
    asset.review.refresh_from_db()
    assert asset.review.state == ReviewState.APPROVED
    assert not WebhookDelivery.objects.filter(event_type=EventType.ASSET_APPROVED).exists()
