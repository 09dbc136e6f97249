"""PATCH /assets/{id}: the same audited metadata edit as the asset page (review/metadata.py), its rules and
its history, through the API."""

import pytest

from generation.models import Asset
from review.decisions import asset_review_decide
from review.metadata import metadata_values
from review.models import ReviewEvent, ReviewState
from tests.api.conftest import assert_problem


@pytest.fixture
def sent_back(make_asset, reviewer, channel_presets) -> Asset:
    """The marketer's asset, sent back by a reviewer: its creator may edit it again."""
    asset = make_asset()
    asset_review_decide(asset=asset, actor=reviewer, decision="request_changes", comment="Alt text, please.")
    return asset


def _edits(asset: Asset) -> list[ReviewEvent]:
    return list(ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.EDITED))


def _state(asset: Asset) -> str:
    return asset.review.state if hasattr(asset, "review") else ReviewState.DRAFT


@pytest.mark.django_db
def test_an_api_edit_is_one_edited_event_with_old_and_new_values(sent_back, marketer, as_user):
    old_title = sent_back.title
    response = as_user(marketer).patch(
        f"/api/v1/assets/{sent_back.pk}",
        {"title": "Spring hero", "alt_text": "A red apple", "channels": ["preview"], "territory": "EU"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["alt_text"], body["channels"], body["territory"]) == (
        "Spring hero",
        "A red apple",
        ["preview"],
        "EU",
    )
    assert body["rights_source"] == "generated" and body["go_live_at"] is None
    [event] = _edits(sent_back)
    assert event.actor == marketer
    assert event.from_state == event.to_state == ReviewState.CHANGES_REQUESTED
    assert event.details == {
        "changes": {
            "title": [old_title, "Spring hero"],
            "alt_text": ["", "A red apple"],
            "channels": [[], ["preview"]],
            "territory": ["", "EU"],
        }
    }
    assert [item["kind"] for item in body["history"]].count("edited") == 1


@pytest.mark.django_db
def test_fields_left_out_stay_and_an_unchanged_value_records_nothing(sent_back, reviewer, as_user):
    api = as_user(reviewer)
    licensed = {"rights_source": "licensed", "licensor": "Acme Photo", "licence_reference": "AC-1"}
    assert api.patch(f"/api/v1/assets/{sent_back.pk}", licensed).status_code == 200
    # Only the territory is sent: the stored licensor still satisfies the licensed rule.
    assert api.patch(f"/api/v1/assets/{sent_back.pk}", {"territory": "worldwide"}).status_code == 200
    assert api.patch(f"/api/v1/assets/{sent_back.pk}", {"territory": "worldwide"}).status_code == 200
    sent_back.refresh_from_db()
    assert (sent_back.rights_source, sent_back.licensor, sent_back.territory) == (
        "licensed",
        "Acme Photo",
        "worldwide",
    )
    assert [set(event.details["changes"]) for event in _edits(sent_back)] == [
        {"rights_source", "licensor", "licence_reference"},
        {"territory"},
    ]


@pytest.mark.django_db
def test_null_clears_a_window_date(sent_back, reviewer, as_user):
    api = as_user(reviewer)
    window = {"go_live_at": "2027-01-01T09:00:00+00:00", "expires_at": "2027-06-30T18:00:00+00:00"}
    body = api.patch(f"/api/v1/assets/{sent_back.pk}", window).json()
    assert body["expires_at"].startswith("2027-06-30T18:00:00")
    body = api.patch(f"/api/v1/assets/{sent_back.pk}", {"expires_at": None}).json()
    assert body["expires_at"] is None and body["go_live_at"].startswith("2027-01-01T09:00:00")
    [_, cleared] = _edits(sent_back)
    assert cleared.details["changes"]["expires_at"][1] is None


@pytest.mark.django_db
def test_a_marketer_cannot_edit_after_submitting(make_asset, marketer, as_user):
    asset = make_asset()  # submitted on generation
    before = metadata_values(asset)
    problem = assert_problem(as_user(marketer).patch(f"/api/v1/assets/{asset.pk}", {"title": "Mine"}), 403)
    assert "before submitting" in problem["detail"]
    asset.refresh_from_db()
    assert metadata_values(asset) == before
    assert _state(asset) == ReviewState.IN_REVIEW
    assert _edits(asset) == []


@pytest.mark.django_db
def test_a_marketer_sees_they_may_not_edit_once_submitted(make_asset, sent_back, marketer, as_user):
    api = as_user(marketer)
    submitted = make_asset()
    assert api.get(f"/api/v1/assets/{submitted.pk}").json()["actions"]["can_edit_metadata"] is False
    assert api.get(f"/api/v1/assets/{sent_back.pk}").json()["actions"]["can_edit_metadata"] is True


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["in_review", "approved"])
def test_a_reviewer_may_edit_at_any_time(request, make_asset, reviewer, as_user, state):
    asset = request.getfixturevalue("approved")[0] if state == "approved" else make_asset()
    response = as_user(reviewer).patch(f"/api/v1/assets/{asset.pk}", {"alt_text": "A red apple"})
    assert response.status_code == 200, response.content
    assert response.json()["review"]["state"] == state
    [event] = _edits(asset)
    assert event.actor == reviewer and event.from_state == event.to_state == state
    assert event.details == {"changes": {"alt_text": ["", "A red apple"]}}


@pytest.mark.django_db
def test_another_teams_marketer_gets_404(sent_back, other_marketer, as_user):
    assert_problem(as_user(other_marketer).patch(f"/api/v1/assets/{sent_back.pk}", {"title": "Theirs"}), 404)
    assert _edits(sent_back) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,field",
    [
        ({"rights_source": "licensed"}, "licensor"),
        ({"rights_source": "stolen"}, "rights_source"),
        ({"rights_source": None}, "rights_source"),
        ({"channels": ["preview", "billboard"]}, "channels"),
        ({"go_live_at": "2027-02-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z"}, "expires_at"),
        ({"go_live_at": "next tuesday"}, "go_live_at"),
        ({"title": "x" * 201}, "title"),
        ({"alt_text": "x" * 301}, "alt_text"),
        ({"channel": "web"}, "channel"),
    ],
)
def test_bad_values_are_422_and_change_nothing(sent_back, reviewer, as_user, body, field):
    before = metadata_values(sent_back)
    response = as_user(reviewer).patch(f"/api/v1/assets/{sent_back.pk}", {"title": "Renamed", **body})
    assert_problem(response, 422, field=field, slug="validation-error")
    sent_back.refresh_from_db()
    assert metadata_values(sent_back) == before
    assert _edits(sent_back) == []


@pytest.mark.django_db
def test_a_stored_channel_whose_preset_was_deleted_does_not_block_other_edits(sent_back, reviewer, as_user):
    Asset.objects.filter(pk=sent_back.pk).update(channels=["retired-preset"])
    response = as_user(reviewer).patch(f"/api/v1/assets/{sent_back.pk}", {"title": "Renamed"})
    assert response.status_code == 200, response.content
    assert response.json()["channels"] == ["retired-preset"]
    problem = assert_problem(
        as_user(reviewer).patch(f"/api/v1/assets/{sent_back.pk}", {"channels": ["retired-preset"]}), 422
    )
    assert problem["errors"][0]["field"] == "channels"
