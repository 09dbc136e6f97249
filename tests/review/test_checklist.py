"""The review checklist: admins edit it, the decision form, the queue's bulk form and the API take it, an
approval needs every point ticked whichever way it comes, and each decision's event keeps the ticks with the
labels as they read then."""

import json

import pytest
from django.urls import reverse

from review import decisions
from review.errors import ReviewError
from review.models import AssetReview, ChecklistItem, ReviewEvent, ReviewState
from tests.conftest import checklist_all


@pytest.fixture
def asset(make_asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


def _decide(client, asset, decision: str, ticks: list, comment: str = "", **extra):
    data = {"decision": decision, "comment": comment, "checklist": ticks, **extra}
    return client.post(reverse("review:decide", args=[asset.pk]), data, follow=True)


def test_the_migration_seeds_the_four_points_in_order(db):
    assert [item.label for item in ChecklistItem.objects.all()] == [
        "Fits the brand",
        "No garbled text",
        "Product details right",
        "No anatomy artifacts",
    ]


def test_the_decision_form_shows_the_enabled_points_only(client, reviewer, asset):
    ChecklistItem.objects.filter(label="No garbled text").update(enabled=False)
    client.force_login(reviewer)
    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert 'id="checklist"' in html
    assert "Fits the brand" in html and "Colours, tone and style" in html
    assert "No garbled text" not in html


def test_the_creator_sees_no_checklist(client, marketer, asset):
    client.force_login(marketer)
    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert 'id="checklist"' not in html


def test_approving_with_every_point_ticked_records_the_ticks_and_labels(client, reviewer, asset):
    client.force_login(reviewer)
    response = _decide(client, asset, "approve", checklist_all())
    assert response.status_code == 200
    assert AssetReview.objects.get(asset=asset).state == ReviewState.APPROVED
    event = ReviewEvent.objects.filter(asset=asset).last()
    assert event.to_state == ReviewState.APPROVED
    assert [(tick["label"], tick["ticked"]) for tick in event.details["checklist"]] == [
        ("Fits the brand", True),
        ("No garbled text", True),
        ("Product details right", True),
        ("No anatomy artifacts", True),
    ]


def test_approving_with_a_point_left_unticked_is_refused_and_changes_nothing(client, reviewer, asset):
    client.force_login(reviewer)
    response = _decide(client, asset, "approve", checklist_all()[:3])
    assert "Tick every checklist item before approving (No anatomy artifacts)" in response.content.decode()
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW
    assert ReviewEvent.objects.filter(asset=asset).count() == 1


def test_a_request_for_changes_keeps_partial_ticks(client, reviewer, asset):
    client.force_login(reviewer)
    first = checklist_all()[0]
    _decide(client, asset, "request_changes", [first], comment="The text on the sign is garbled.")
    event = ReviewEvent.objects.filter(asset=asset).last()
    assert event.to_state == ReviewState.CHANGES_REQUESTED
    assert [tick["ticked"] for tick in event.details["checklist"]] == [True, False, False, False]


def test_rewording_a_point_later_leaves_the_record_as_it_read(reviewer, asset):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all())
    ChecklistItem.objects.filter(label="Fits the brand").update(label="On brand (2027 guide)")
    event = ReviewEvent.objects.filter(asset=asset).last()
    assert event.details["checklist"][0]["label"] == "Fits the brand"


def test_a_point_the_admin_disabled_meanwhile_is_refused_so_the_reviewer_reloads(reviewer, asset):
    ticks = checklist_all()
    ChecklistItem.objects.filter(pk=ticks[0]).update(enabled=False)
    with pytest.raises(ReviewError, match="checklist changed"):
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=ticks)
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


def test_a_new_point_must_be_ticked_too(reviewer, asset):
    ticks = checklist_all()
    ChecklistItem.objects.create(label="Licensed fonts only", position=9)
    with pytest.raises(decisions.ReviewChecklistError, match="Licensed fonts only"):
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=ticks)


def test_a_service_approval_with_a_point_left_unticked_is_refused_and_records_nothing(reviewer, asset):
    with pytest.raises(decisions.ReviewChecklistError, match=r"\(No anatomy artifacts\)"):
        decisions.asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()[:3]
        )
    review = AssetReview.objects.get(asset=asset)
    assert (review.state, review.public_id, review.decided_at) == (ReviewState.IN_REVIEW, None, None)
    assert list(ReviewEvent.objects.filter(asset=asset).values_list("to_state", flat=True)) == ["in_review"]


def test_a_service_approval_with_no_ticks_is_refused_naming_every_point(reviewer, asset):
    with pytest.raises(decisions.ReviewChecklistError) as refused:
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve")
    assert str(refused.value) == (
        "Tick every checklist item before approving "
        "(Fits the brand, No garbled text, Product details right, No anatomy artifacts)."
    )
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW
    assert ReviewEvent.objects.filter(asset=asset).count() == 1


def test_with_every_point_disabled_an_approval_needs_no_ticks(reviewer, asset):
    ChecklistItem.objects.update(enabled=False)
    review = decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve")
    assert review.state == ReviewState.APPROVED
    assert ReviewEvent.objects.filter(asset=asset).last().details["checklist"] == []


def test_a_rejection_without_ticks_records_every_point_unticked(reviewer, asset):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="reject", comment="Off brand.")
    event = ReviewEvent.objects.filter(asset=asset).last()
    assert event.to_state == ReviewState.REJECTED
    assert [(tick["label"], tick["ticked"]) for tick in event.details["checklist"]] == [
        ("Fits the brand", False),
        ("No garbled text", False),
        ("Product details right", False),
        ("No anatomy artifacts", False),
    ]


def test_the_decision_page_approval_without_ticks_is_refused(client, reviewer, asset):
    client.force_login(reviewer)
    response = client.post(reverse("review:decide", args=[asset.pk]), {"decision": "approve"}, follow=True)
    assert "Tick every checklist item before approving" in response.content.decode()
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


def test_junk_checklist_values_are_refused_plainly(client, reviewer, asset):
    client.force_login(reviewer)
    response = _decide(client, asset, "approve", ["first", "<script>"])
    assert response.status_code == 200
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


def test_admins_edit_the_checklist_in_place(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:review_checklistitem_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="form-0-position"' in html and 'name="form-0-enabled"' in html
    assert html.index("Fits the brand") < html.index("No anatomy artifacts")


def test_reviewers_cannot_edit_the_checklist(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("admin:review_checklistitem_changelist")).status_code in (302, 403)


# --- JSON API ----------------------------------------------------------------------------------------------


def _post_json(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_api_lists_the_checklist(client, marketer):
    client.force_login(marketer)
    response = client.get("/api/v1/checklist")
    assert response.status_code == 200
    assert [item["label"] for item in response.json()][:2] == ["Fits the brand", "No garbled text"]
    assert set(response.json()[0]) == {"id", "label", "help_text"}


def test_the_api_approval_with_a_checklist_needs_every_point(client, reviewer, asset):
    client.force_login(reviewer)
    url = f"/api/v1/assets/{asset.pk}/approve"
    refused = _post_json(client, url, {"checklist": checklist_all()[:1]})
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["checklist"]
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW

    approved = _post_json(client, url, {"checklist": checklist_all()})
    assert approved.status_code == 200, approved.content
    assert approved.json()["review"]["state"] == "approved"
    assert len(ReviewEvent.objects.filter(asset=asset).last().details["checklist"]) == 4


def test_the_api_refuses_a_checklist_that_is_not_a_list_of_ids(client, reviewer, asset):
    client.force_login(reviewer)
    response = _post_json(client, f"/api/v1/assets/{asset.pk}/approve", {"checklist": ["brand"]})
    assert response.status_code in (400, 422)
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


def test_an_api_approval_without_a_checklist_is_refused_and_changes_nothing(client, reviewer, asset):
    client.force_login(reviewer)
    for body in ({}, {"comment": "Looks right.", "checklist": []}):
        response = _post_json(client, f"/api/v1/assets/{asset.pk}/approve", body)
        assert response.status_code == 422, response.content
        [error] = response.json()["errors"]
        assert error["field"] == "checklist"
        assert "Fits the brand" in error["detail"] and "No anatomy artifacts" in error["detail"]
    review = AssetReview.objects.get(asset=asset)
    assert (review.state, review.public_id) == (ReviewState.IN_REVIEW, None)
    assert ReviewEvent.objects.filter(asset=asset).count() == 1


@pytest.mark.django_db
def test_the_api_schema_says_approving_needs_the_checklist(client):
    schema = client.get("/api/v1/openapi.json").json()
    description = schema["components"]["schemas"]["DecisionIn"]["properties"]["checklist"]["description"]
    assert "Required to approve" in description


# --- The queue's bulk decisions ----------------------------------------------------------------------------


def _bulk(client, decision: str, assets: list, ticks: list, comment: str = ""):
    data = {"decision": decision, "assets": [asset.pk for asset in assets], "checklist": ticks}
    return client.post(reverse("review:bulk"), {**data, "comment": comment}, follow=True)


def test_the_queue_shows_the_checklist_for_the_selected_images(client, reviewer, asset):
    ChecklistItem.objects.filter(label="No garbled text").update(enabled=False)
    client.force_login(reviewer)
    html = client.get(reverse("review:queue")).content.decode()
    assert 'id="queue-checklist"' in html and "Each selected image:" in html
    assert 'name="checklist"' in html and "Fits the brand" in html
    assert "No garbled text" not in html


def test_a_bulk_approval_with_every_point_ticked_records_the_ticks_on_each_asset(
    client, reviewer, make_asset, channel_presets, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        plain, other_plain, with_channels = make_asset(), make_asset(), make_asset()
    with_channels.channels = ["desktop-hero"]
    with_channels.save(update_fields=["channels"])
    client.force_login(reviewer)

    response = _bulk(client, "approve", [plain, other_plain, with_channels], checklist_all())

    body = response.content.decode()
    assert "2 assets updated" in body
    assert f"#{with_channels.pk}: Look at the crop each channel will use before approving." in body
    assert "Open it to check its crops, then approve it there." in body
    states = dict(AssetReview.objects.values_list("asset_id", "state"))
    assert states[plain.pk] == states[other_plain.pk] == ReviewState.APPROVED
    assert states[with_channels.pk] == ReviewState.IN_REVIEW
    for asset in (plain, other_plain):
        [event] = ReviewEvent.objects.filter(asset=asset, to_state=ReviewState.APPROVED)
        assert [(tick["label"], tick["ticked"]) for tick in event.details["checklist"]] == [
            ("Fits the brand", True),
            ("No garbled text", True),
            ("Product details right", True),
            ("No anatomy artifacts", True),
        ]


@pytest.mark.parametrize("ticked", [0, 3], ids=["no-ticks", "one-point-left"])
def test_a_bulk_approval_without_every_point_ticked_refuses_the_batch_once(
    client, reviewer, make_asset, django_capture_on_commit_callbacks, ticked
):
    with django_capture_on_commit_callbacks(execute=True):
        first, second = make_asset(), make_asset()
    client.force_login(reviewer)

    response = client.post(
        reverse("review:bulk"),
        {"decision": "approve", "assets": [first.pk, second.pk], "checklist": checklist_all()[:ticked]},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert body.count("Tick every checklist item before approving") == 1
    assert "No anatomy artifacts" in body
    assert f'aria-label="Select asset {first.pk}" checked' in body, "the selection stays"
    assert set(AssetReview.objects.values_list("state", flat=True)) == {ReviewState.IN_REVIEW}
    assert not ReviewEvent.objects.filter(to_state=ReviewState.APPROVED).exists()


def test_a_bulk_request_for_changes_records_the_ticks_given_on_each_asset(
    client, reviewer, make_asset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, second = make_asset(), make_asset()
    client.force_login(reviewer)

    _bulk(client, "request_changes", [first, second], checklist_all()[:1], comment="Garbled sign text.")

    for asset in (first, second):
        event = ReviewEvent.objects.filter(asset=asset).last()
        assert event.to_state == ReviewState.CHANGES_REQUESTED
        assert [tick["ticked"] for tick in event.details["checklist"]] == [True, False, False, False]
