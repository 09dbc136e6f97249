"""Exports: decisions as CSV (reviewers and admins), a campaign's approved images as a ZIP."""

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from generation.models import Asset
from review.decisions import asset_review_decide
from review.models import ReviewEvent
from studio.roles import MARKETERS
from tests.conftest import checklist_all


@pytest.fixture
def other_marketer(db):
    user = get_user_model().objects.create_user(username="other", password="pw-other")
    user.groups.add(Group.objects.get(name=MARKETERS))
    return user


@pytest.fixture
def campaign_assets(make_asset, reviewer, channel_presets, django_capture_on_commit_callbacks):
    """Two of the marketer's images in campaign "spring": one approved (with two channels), one rejected;
    and one approved in another campaign."""
    made = []
    for campaign, decision in (("spring", "approve"), ("spring", "reject"), ("autumn", "approve")):
        with django_capture_on_commit_callbacks(execute=True):
            asset = make_asset(size=(256, 192))
        Asset.objects.filter(pk=asset.pk).update(
            campaign=campaign, title=f"=HYPERLINK {campaign}", alt_text="A red apple", territory="EU"
        )
        asset.refresh_from_db()
        comment = "" if decision == "approve" else "-off brand"
        with django_capture_on_commit_callbacks(execute=True):
            asset_review_decide(
                asset=asset, actor=reviewer, decision=decision, comment=comment, checklist=checklist_all()
            )
        # Destination channels named after the decision (an approval signs off each channel's crop).
        Asset.objects.filter(pk=asset.pk).update(channels=["preview", "product-thumb"])
        asset.refresh_from_db()
        made.append(asset)
    return made


def _rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_decisions_csv_filters_by_campaign_and_escapes_formulas(client, reviewer, campaign_assets):
    client.force_login(reviewer)
    response = client.get(reverse("review:decisions-csv"), {"campaign": "spring"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    rows = _rows(response)
    assert sorted(row["decision"] for row in rows) == ["approved", "rejected"]
    assert {row["title"] for row in rows} == {"'=HYPERLINK spring"}
    assert any(row["comment"] == "'-off brand" for row in rows)
    assert all(row["reviewer"] == "reviewer" for row in rows)


def test_decisions_csv_filters_by_date_range(client, reviewer, campaign_assets):
    client.force_login(reviewer)
    today = timezone.localdate()
    assert len(_rows(client.get(reverse("review:decisions-csv"), {"start": today, "end": today}))) == 3
    tomorrow = today + timedelta(days=1)
    assert _rows(client.get(reverse("review:decisions-csv"), {"start": tomorrow})) == []
    assert _rows(client.get(reverse("review:decisions-csv"), {"end": today - timedelta(days=1)})) == []


def test_decisions_csv_refuses_a_range_that_ends_before_it_starts(client, reviewer):
    client.force_login(reviewer)
    response = client.get(reverse("review:decisions-csv"), {"start": "2030-02-02", "end": "2030-02-01"})
    assert response.status_code == 400
    assert "end date comes before the start date" in response.content.decode()
    assert client.get(reverse("review:decisions-csv"), {"start": "yesterday"}).status_code == 400


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 403), ("other_marketer", 403), ("reviewer", 200), ("admin_user", 200)],
)
@pytest.mark.parametrize("view", ["review:decisions-csv", "review:exports"])
def test_permission_matrix_of_the_decision_exports(client, request, campaign_assets, who, status, view):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    assert client.get(reverse(view)).status_code == status


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_campaign_zip_holds_each_channel_variant_and_a_manifest(client, reviewer, campaign_assets):
    approved = campaign_assets[0]
    public_id = approved.review.public_id
    client.force_login(reviewer)
    response = client.get(reverse("delivery:campaign-zip"), {"campaign": "spring"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = _zip(response)
    names = set(archive.namelist())
    assert names == {
        "manifest.json",
        f"{public_id}/original.png",
        f"{public_id}/preview.png",
        f"{public_id}/product-thumb.png",
    }
    manifest = json.loads(archive.read("manifest.json"))
    [entry] = manifest["assets"]
    assert entry["public_id"] == public_id and entry["alt_text"] == "A red apple"
    assert entry["rights"]["territory"] == "EU" and entry["rights"]["source"] == "generated"
    assert entry["urls"]["preview"].endswith(f"/image/upload/t_preview/{public_id}.png")
    assert entry["urls"]["preview"].startswith("http")
    # The variant in the ZIP is the one delivery serves at that URL.
    served = client.get(entry["urls"]["preview"].split("testserver", 1)[1])
    assert served.status_code == 200 and served.content == archive.read(f"{public_id}/preview.png")


def test_campaign_zip_leaves_out_images_whose_rights_expired(client, reviewer, campaign_assets):
    approved = campaign_assets[0]
    Asset.objects.filter(pk=approved.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(reviewer)
    manifest = json.loads(
        _zip(client.get(reverse("delivery:campaign-zip"), {"campaign": "spring"})).read("manifest.json")
    )
    assert manifest["assets"] == []
    assert manifest["skipped"] == [{"public_id": approved.review.public_id, "reason": "usage rights expired"}]


def test_campaign_zip_is_refused_past_the_limit(client, reviewer, campaign_assets, settings):
    settings.STUDIO_EXPORT_MAX_ASSETS = 0
    client.force_login(reviewer)
    response = client.get(reverse("delivery:campaign-zip"), {"campaign": "spring"})
    assert response.status_code == 400
    assert "STUDIO_EXPORT_MAX_ASSETS" in response.content.decode()


def test_campaign_zip_needs_a_campaign(client, reviewer, db):
    client.force_login(reviewer)
    assert client.get(reverse("delivery:campaign-zip")).status_code == 400
    assert client.get(reverse("delivery:campaign-zip"), {"campaign": "nothing"}).status_code == 404


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 200), ("other_marketer", 404), ("reviewer", 200), ("admin_user", 200)],
)
def test_permission_matrix_of_the_campaign_zip(client, request, campaign_assets, who, status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("delivery:campaign-zip"), {"campaign": "spring"})
    assert response.status_code == status


def test_the_exports_page_links_both_exports(client, reviewer, campaign_assets):
    client.force_login(reviewer)
    page = client.get(reverse("review:exports")).content.decode()
    assert reverse("review:decisions-csv") in page and reverse("delivery:campaign-zip") in page
    assert '<option value="spring">' in page
    assert reverse("review:exports") in client.get(reverse("review:assets")).content.decode()
    assert not ReviewEvent.objects.filter(kind=ReviewEvent.Kind.EDITED).exists()
