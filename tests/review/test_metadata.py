"""Editable, audited metadata: who may edit when, the rules, and every edit on the record."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from generation.models import Asset
from review.decisions import asset_review_decide
from review.errors import ReviewPermissionError
from review.metadata import MetadataInvalidError, asset_metadata_update
from review.models import ReviewEvent, ReviewState
from studio.roles import MARKETERS


@pytest.fixture
def other_marketer(db):
    user = get_user_model().objects.create_user(username="other", password="pw-other")
    user.groups.add(Group.objects.get(name=MARKETERS))
    return user


@pytest.fixture
def sent_back(make_asset, reviewer, channel_presets):
    """The marketer's asset, sent back by a reviewer: its creator may edit it again."""
    asset = make_asset()
    asset_review_decide(asset=asset, actor=reviewer, decision="request_changes", comment="Alt text, please.")
    return asset


def _form(**overrides) -> dict:
    data = {
        "title": "Spring hero",
        "alt_text": "A red apple on a blue table",
        "campaign": "spring",
        "product": "apple",
        "channels": ["preview", "social-square"],
        "rights_source": "generated",
        "licensor": "",
        "licence_reference": "",
        "territory": "EU",
        "go_live_at": "",
        "expires_at": "",
        "usage_rights": "",
    }
    data.update(overrides)
    return data


def test_an_edit_is_an_event_with_old_and_new_values(sent_back, marketer):
    old_title = sent_back.title
    changed = asset_metadata_update(
        asset=sent_back,
        actor=marketer,
        changes={"title": "Spring hero", "alt_text": "A red apple", "channels": ["preview"]},
    )
    assert changed == {
        "title": [old_title, "Spring hero"],
        "alt_text": ["", "A red apple"],
        "channels": [[], ["preview"]],
    }
    event = ReviewEvent.objects.filter(asset=sent_back, kind=ReviewEvent.Kind.EDITED).get()
    assert event.actor == marketer
    assert event.from_state == event.to_state == ReviewState.CHANGES_REQUESTED
    assert event.details == {"changes": changed}
    json.dumps(event.details)  # JSON-safe
    sent_back.refresh_from_db()
    assert (sent_back.title, sent_back.alt_text, sent_back.channels) == (
        "Spring hero",
        "A red apple",
        ["preview"],
    )


def test_an_edit_that_changes_nothing_records_nothing(sent_back, marketer):
    assert asset_metadata_update(asset=sent_back, actor=marketer, changes={"title": sent_back.title}) == {}
    assert not ReviewEvent.objects.filter(asset=sent_back, kind=ReviewEvent.Kind.EDITED).exists()


def test_datetimes_are_recorded_as_iso_text(sent_back, reviewer):
    expires = timezone.now() + timedelta(days=30)
    changed = asset_metadata_update(asset=sent_back, actor=reviewer, changes={"expires_at": expires})
    assert changed == {"expires_at": [None, expires.isoformat()]}


def test_the_creator_cannot_edit_after_submitting_but_a_reviewer_can(make_asset, marketer, reviewer):
    asset = make_asset()  # new images enter review at once
    with pytest.raises(ReviewPermissionError):
        asset_metadata_update(asset=asset, actor=marketer, changes={"title": "Mine"})
    asset_metadata_update(asset=asset, actor=reviewer, changes={"title": "Reviewer's"})
    asset.refresh_from_db()
    assert asset.title == "Reviewer's"


def test_a_reviewer_edits_an_approved_asset(approved, reviewer):
    asset, _public_id = approved
    asset_metadata_update(asset=asset, actor=reviewer, changes={"territory": "Worldwide"})
    event = ReviewEvent.objects.get(asset=asset, kind=ReviewEvent.Kind.EDITED)
    assert event.from_state == event.to_state == ReviewState.APPROVED


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rights_source": "licensed"}, "licensor"),
        ({"channels": ["no-such-channel"]}, "channels"),
        ({"rights_source": "stolen"}, "rights_source"),
    ],
)
def test_the_service_refuses_what_breaks_a_rule_and_saves_nothing(sent_back, reviewer, changes, field):
    with pytest.raises(MetadataInvalidError) as refused:
        asset_metadata_update(asset=sent_back, actor=reviewer, changes=changes)
    assert field in refused.value.problems
    assert not ReviewEvent.objects.filter(asset=sent_back, kind=ReviewEvent.Kind.EDITED).exists()


def test_the_service_refuses_an_expiry_before_the_go_live(sent_back, reviewer):
    now = timezone.now()
    with pytest.raises(MetadataInvalidError) as refused:
        asset_metadata_update(
            asset=sent_back,
            actor=reviewer,
            changes={"go_live_at": now, "expires_at": now - timedelta(days=1)},
        )
    assert "after the go-live" in refused.value.problems["expires_at"]


def test_the_page_saves_and_the_history_shows_old_and_new(client, sent_back, marketer):
    client.force_login(marketer)
    response = client.post(reverse("review:metadata", args=[sent_back.pk]), _form())
    assert response.status_code == 302
    sent_back.refresh_from_db()
    assert sent_back.channels == ["preview", "social-square"] and sent_back.territory == "EU"
    page = client.get(reverse("review:asset", args=[sent_back.pk])).content.decode()
    assert 'id="metadata-panel"' in page
    assert "Destination channels" in page and "<ins>preview, social-square</ins>" in page
    assert "<del>(empty)</del> → <ins>A red apple on a blue table</ins>" in page


def test_the_form_says_a_licensed_image_needs_its_licensor(client, sent_back, marketer):
    client.force_login(marketer)
    response = client.post(reverse("review:metadata", args=[sent_back.pk]), _form(rights_source="licensed"))
    assert response.status_code == 400
    assert "A licensed image needs its licensor" in response.content.decode()
    sent_back.refresh_from_db()
    assert sent_back.rights_source == Asset.RightsSource.GENERATED


def test_the_form_refuses_a_channel_that_is_not_a_preset(client, sent_back, marketer):
    client.force_login(marketer)
    response = client.post(reverse("review:metadata", args=[sent_back.pk]), _form(channels=["billboard"]))
    assert response.status_code == 400
    assert "billboard" in response.content.decode()


def test_the_form_refuses_an_expiry_before_the_go_live(client, sent_back, marketer):
    client.force_login(marketer)
    data = _form(go_live_at="2030-05-02T10:00", expires_at="2030-05-01T10:00")
    response = client.post(reverse("review:metadata", args=[sent_back.pk]), data)
    assert response.status_code == 400
    assert "The expiry must come after the go-live." in response.content.decode()


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 200), ("other_marketer", 404), ("reviewer", 200), ("admin_user", 200)],
)
def test_permission_matrix_of_the_metadata_page(client, request, sent_back, who, status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("review:metadata", args=[sent_back.pk]))
    assert response.status_code == status
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 403), ("other_marketer", 404), ("reviewer", 302), ("admin_user", 302)],
)
def test_permission_matrix_of_an_edit_after_submitting(client, request, make_asset, who, status):
    asset = make_asset()  # in review
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    response = client.post(reverse("review:metadata", args=[asset.pk]), _form(channels=[]))
    assert response.status_code == status
    asset.refresh_from_db()
    assert (asset.territory == "EU") == (who in ("reviewer", "admin_user"))


def test_snippets_and_tags_use_the_alt_text_falling_back_to_the_title(client, approved, reviewer):
    from django.template import Context, Template

    asset, public_id = approved
    Asset.objects.filter(pk=asset.pk).update(title="Apple title", alt_text="")
    tag = Template('{% load delivery_tags %}{% responsive_image pid "preview" %}')
    assert 'alt="Apple title"' in tag.render(Context({"pid": public_id}))
    Asset.objects.filter(pk=asset.pk).update(alt_text="A red apple on blue")
    assert 'alt="A red apple on blue"' in tag.render(Context({"pid": public_id}))

    client.force_login(reviewer)
    page = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert "alt=&quot;A red apple on blue&quot;" in page  # the embed panel's snippets, escaped to show
    snippets = client.get(f"/api/v1/assets/{asset.pk}/snippets?preset=preview").json()
    assert 'alt="A red apple on blue"' in snippets["snippets"][0]["img"]


def test_the_migration_maps_old_free_text_rights_and_channel(make_asset, channel_presets):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("generation.migrations.0007_asset_rights")
    licensed, editorial, plain = make_asset(), make_asset(), make_asset()
    Asset.objects.filter(pk=licensed.pk).update(usage_rights="Licensed from Getty #123", channel="preview")
    Asset.objects.filter(pk=editorial.pk).update(usage_rights="Editorial use only", channel="billboard")
    Asset.objects.filter(pk=plain.pk).update(usage_rights="internal")

    migration.fill_rights(apps, None)

    for asset in (licensed, editorial, plain):
        asset.refresh_from_db()
    assert (licensed.rights_source, licensed.licensor, licensed.channels) == (
        "licensed",
        "Licensed from Getty #123",
        ["preview"],
    )
    assert (editorial.rights_source, editorial.channels) == ("editorial", [])
    assert (plain.rights_source, plain.usage_rights) == ("generated", "internal")
