"""Every destination channel signed off before approval: the review page's channel crops, the focal point, and
the approval that needs each crop seen (pages, services and the JSON API)."""

import io
import json

import pytest
from django.test import Client
from PIL import Image

from review import signoff
from review.decisions import CropsNotSeenError, asset_review_decide, asset_review_submit
from review.edits import asset_focal_point_set
from review.errors import ReviewPermissionError
from review.models import ReviewEvent, ReviewState
from review.selectors import review_state_of
from studio.services import api_token_create
from tests.conftest import checklist_all

CHANNELS = ["story", "og-image", "product-thumb"]


@pytest.fixture
def asset(make_asset, channel_presets, django_capture_on_commit_callbacks):
    """A 256x192 image in review, for the vertical story, the Open Graph banner and the product thumbnail."""
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(size=(256, 192))
    asset.channels = CHANNELS
    asset.save(update_fields=["channels"])
    return asset


def seen_all(asset) -> list[str]:
    return [crop.seen_value for crop in signoff.channel_crops(asset=asset)]


def jpeg_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.size


# --- what the channels serve --------------------------------------------------------------------------------


def test_each_destination_channel_has_its_crop_at_the_presets_size_with_an_upscale_warning(asset):
    crops = {crop.channel: crop for crop in signoff.channel_crops(asset=asset)}
    assert list(crops) == CHANNELS
    assert (crops["story"].width, crops["story"].height) == (1080, 1920)
    assert crops["story"].upscale == 10.0 and crops["story"].upscale_warning
    assert (crops["og-image"].width, crops["og-image"].height) == (1200, 630)
    assert crops["og-image"].upscale_warning
    # The pad fits 256x192 into 400x400: enlarged 1.56 times, not enough to warn.
    assert crops["product-thumb"].upscale == 1.56 and not crops["product-thumb"].upscale_warning


def test_the_review_page_shows_every_channel_crop_with_its_size_and_warning(client, asset, reviewer):
    client.force_login(reviewer)
    page = client.get(f"/review/assets/{asset.pk}/").content.decode()
    assert 'id="channel-crops"' in page
    for crop in signoff.channel_crops(asset=asset):
        assert f'id="crop-{crop.channel}"' in page
        assert f'data-seen-value="{crop.seen_value}"' in page
        assert f"/review/assets/{asset.pk}/crops/{crop.channel}.jpg?v={crop.token}" in page
    x = "\N{MULTIPLICATION SIGN}"
    assert f"1080{x}1920" in page and f"1200{x}630" in page and f"400{x}400" in page
    assert f"Upscaled 10.0{x} from the 256{x}192 source" in page
    assert 'id="viewer-image"' in page and 'id="zoom-actual"' in page and 'id="focal-mode"' in page
    assert "viewer.js" in page and "crops.js" in page


def test_an_asset_without_channels_says_there_is_nothing_to_crop(client, asset, reviewer):
    asset.channels = []
    asset.save(update_fields=["channels"])
    client.force_login(reviewer)
    page = client.get(f"/review/assets/{asset.pk}/").content.decode()
    assert 'id="crops-none"' in page and "channel-crop " not in page


def test_the_crop_image_is_what_the_preset_serves_even_before_approval(client, asset, reviewer):
    client.force_login(reviewer)
    [story] = [crop for crop in signoff.channel_crops(asset=asset) if crop.channel == "story"]
    response = client.get(f"/review/assets/{asset.pk}/crops/story.jpg?v={story.token}")
    assert response.status_code == 200
    assert jpeg_size(response.content) == (1080, 1920)
    assert response["Cache-Control"] == "private, max-age=86400"
    assert response["ETag"] == f'"{story.token}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert (
        client.get(
            response.wsgi_request.get_full_path(), headers={"If-None-Match": response["ETag"]}
        ).status_code
        == 304
    )


def test_an_approved_assets_crop_is_its_stored_delivery_variant(client, asset, reviewer):
    from delivery.models import Variant

    asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=seen_all(asset)
    )
    client.force_login(reviewer)
    response = client.get(f"/review/assets/{asset.pk}/crops/og-image.jpg")
    assert response.status_code == 200 and jpeg_size(response.content) == (1200, 630)
    assert Variant.objects.filter(asset=asset, width=1200, height=630, format="jpg").count() == 1


def test_a_channel_the_asset_is_not_for_is_not_found(client, asset, reviewer):
    client.force_login(reviewer)
    assert client.get(f"/review/assets/{asset.pk}/crops/desktop-hero.jpg").status_code == 404
    assert client.get(f"/review/assets/{asset.pk}/crops/no-such.jpg").status_code == 404


def test_a_preset_edited_to_overlay_an_unapproved_image_answers_409_with_the_reason(client, asset, reviewer):
    from delivery.models import NamedPreset

    NamedPreset.objects.filter(name=CHANNELS[0]).update(
        transformation="c_fill,g_auto,w_200,h_200/l_not-approved-anywhere,w_0.2,fl_relative/fl_layer_apply"
    )
    client.force_login(reviewer)
    response = client.get(f"/review/assets/{asset.pk}/crops/{CHANNELS[0]}.jpg")
    assert response.status_code == 409
    assert "not-approved-anywhere" in response.content.decode()


# --- who may see and do what --------------------------------------------------------------------------------


@pytest.fixture
def personas(marketer, other_marketer, reviewer, admin_user):
    return {"marketer": marketer, "other_marketer": other_marketer, "reviewer": reviewer, "admin": admin_user}


@pytest.mark.parametrize(
    "who, expected",
    [
        ("anonymous", 302),
        ("marketer", 200),  # the team's marketer, its creator
        ("other_marketer", 404),  # another team's: the id says nothing
        ("reviewer", 200),
        ("admin", 200),
    ],
)
def test_who_may_see_a_channel_crop(client, asset, personas, who, expected):
    if who != "anonymous":
        client.force_login(personas[who])
    response = client.get(f"/review/assets/{asset.pk}/crops/product-thumb.jpg")
    assert response.status_code == expected
    if who == "anonymous":
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "who, expected",
    [("anonymous", 302), ("marketer", 200), ("other_marketer", 404), ("reviewer", 200), ("admin", 200)],
)
def test_who_may_reload_the_crops_section(client, asset, personas, who, expected):
    if who != "anonymous":
        client.force_login(personas[who])
    response = client.get(f"/review/assets/{asset.pk}/crops/", headers={"HX-Request": "true"})
    assert response.status_code == expected
    if expected == 200:
        assert 'id="channel-crops"' in response.content.decode()


@pytest.mark.parametrize(
    "who, expected",
    # The creator only before submitting: this asset is in review.
    [("anonymous", 302), ("marketer", 403), ("other_marketer", 404), ("reviewer", 200), ("admin", 200)],
)
def test_who_may_set_the_focal_point(client, asset, personas, who, expected):
    if who != "anonymous":
        client.force_login(personas[who])
    response = client.post(
        f"/review/assets/{asset.pk}/focal-point/", {"x": "0.2", "y": "0.3"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == expected
    asset.refresh_from_db()
    assert (asset.focal_x, asset.focal_y) == ((0.2, 0.3) if expected == 200 else (None, None))


def test_the_creator_may_set_the_focal_point_before_submitting(asset, marketer, reviewer):
    asset_review_decide(asset=asset, actor=reviewer, decision="request_changes", comment="Tighter.")
    assert asset_focal_point_set(asset=asset, actor=marketer, x=0.5, y=0.25) == (0.5, 0.25)
    asset_review_submit(asset=asset, actor=marketer)
    with pytest.raises(ReviewPermissionError):
        asset_focal_point_set(asset=asset, actor=marketer, x=0.1, y=0.1)


def test_another_teams_reviewer_cannot_set_the_focal_point(asset, other_reviewer):
    with pytest.raises(ReviewPermissionError):
        asset_focal_point_set(asset=asset, actor=other_reviewer, x=0.5, y=0.5)


# --- the focal point ----------------------------------------------------------------------------------------


def test_setting_the_focal_point_records_it_and_re_renders_the_crops_at_once(
    client, asset, reviewer, django_capture_on_commit_callbacks
):
    client.force_login(reviewer)
    before = {crop.channel: crop.token for crop in signoff.channel_crops(asset=asset)}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/review/assets/{asset.pk}/focal-point/",
            {"x": "0.1", "y": "0.9"},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    section = response.content.decode()
    assert section.lstrip().startswith('<section class="channel-crops" id="channel-crops"')
    assert 'data-focal-x="0.1"' in section and 'data-focal-y="0.9"' in section
    asset.refresh_from_db()
    after = {crop.channel: crop.token for crop in signoff.channel_crops(asset=asset)}
    # The g_auto crops have new tokens (and new URLs); the padded thumbnail does not depend on the point.
    assert after["story"] != before["story"] and after["og-image"] != before["og-image"]
    assert after["product-thumb"] == before["product-thumb"]
    assert f"crops/story.jpg?v={after['story']}" in section
    event = ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.EDITED).get()
    assert event.actor == reviewer
    assert event.details == {"changes": {"focal_point": [None, [0.1, 0.9]]}}
    assert event.from_state == event.to_state == ReviewState.IN_REVIEW


def test_clearing_the_focal_point_is_recorded_too(client, asset, reviewer):
    asset_focal_point_set(asset=asset, actor=reviewer, x=0.25, y=0.75)
    client.force_login(reviewer)
    response = client.post(f"/review/assets/{asset.pk}/focal-point/", {"action": "clear"})
    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.focal_x is None and asset.focal_y is None
    details = [e.details for e in ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.EDITED)]
    assert details[-1] == {"changes": {"focal_point": [[0.25, 0.75], None]}}


@pytest.mark.parametrize(
    "data",
    [
        {"x": "1.5", "y": "0.5"},
        {"x": "-0.1", "y": "0.5"},
        {"x": "nan", "y": "0.5"},
        {"x": "inf", "y": "0.5"},
        {"x": "left", "y": "0.5"},
        {"x": "0.5"},
        {"x": "0.5", "y": "0.5", "action": "explode"},
    ],
)
def test_a_bad_focal_point_is_refused_and_changes_nothing(client, asset, reviewer, data):
    client.force_login(reviewer)
    response = client.post(f"/review/assets/{asset.pk}/focal-point/", data, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert 'id="focal-error"' in response.content.decode()
    asset.refresh_from_db()
    assert asset.focal_x is None and asset.focal_y is None
    assert not ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.EDITED).exists()


def test_the_service_refuses_half_a_point_or_out_of_range_values(asset, reviewer):
    from review.errors import ReviewError

    for x, y in [(0.5, None), (1.01, 0.5), (float("nan"), 0.5), (True, 0.5)]:
        with pytest.raises(ReviewError):
            asset_focal_point_set(asset=asset, actor=reviewer, x=x, y=y)


def test_setting_the_same_point_again_records_nothing(asset, reviewer):
    asset_focal_point_set(asset=asset, actor=reviewer, x=0.5, y=0.5)
    asset_focal_point_set(asset=asset, actor=reviewer, x=0.5, y=0.5)
    assert ReviewEvent.objects.filter(asset=asset, kind=ReviewEvent.Kind.EDITED).count() == 1


def test_a_point_moved_by_someone_else_meanwhile_is_a_conflict(asset, reviewer, second_reviewer):
    from generation.models import Asset
    from review.errors import ReviewConflictError

    stale = Asset.objects.get(pk=asset.pk)
    asset_focal_point_set(asset=asset, actor=second_reviewer, x=0.3, y=0.3)
    with pytest.raises(ReviewConflictError):
        asset_focal_point_set(asset=stale, actor=reviewer, x=0.7, y=0.7)
    asset.refresh_from_db()
    assert (asset.focal_x, asset.focal_y) == (0.3, 0.3)


# --- approval needs every crop seen -------------------------------------------------------------------------


def test_approval_is_refused_until_every_channel_crop_is_seen(asset, reviewer):
    values = seen_all(asset)
    with pytest.raises(CropsNotSeenError) as refused:
        asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=values[:1]
        )
    assert "Open Graph 1200x630 (og-image)" in str(refused.value)
    assert "Product thumbnail (product-thumb)" in str(refused.value)
    assert "story" not in str(refused.value)
    assert review_state_of(asset=asset).state == ReviewState.IN_REVIEW

    review = asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=values
    )
    assert review.state == ReviewState.APPROVED
    event = ReviewEvent.objects.filter(asset=asset, to_state=ReviewState.APPROVED).get()
    assert event.details["crops"] == [
        {
            "channel": "story",
            "transformation": "c_fill,g_auto,h_1920,w_1080/q_auto",
            "focal_point": None,
            "width": 1080,
            "height": 1920,
        },
        {
            "channel": "og-image",
            "transformation": "c_fill,g_auto,h_630,w_1200/q_auto",
            "focal_point": None,
            "width": 1200,
            "height": 630,
        },
        {
            "channel": "product-thumb",
            "transformation": "b_rgb:ffffff,c_pad,h_400,w_400/q_auto",
            "focal_point": None,
            "width": 400,
            "height": 400,
        },
    ]


def test_a_crop_seen_before_the_focal_point_moved_no_longer_counts(asset, reviewer, second_reviewer):
    values = seen_all(asset)
    asset_focal_point_set(asset=asset, actor=second_reviewer, x=0.2, y=0.4)
    with pytest.raises(CropsNotSeenError) as refused:
        asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=values
        )
    assert "story" in str(refused.value) and "og-image" in str(refused.value)
    assert "product-thumb" not in str(refused.value)  # the pad does not move with the point
    asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=seen_all(asset)
    )
    event = ReviewEvent.objects.filter(asset=asset, to_state=ReviewState.APPROVED).get()
    assert event.details["crops"][0]["focal_point"] == [0.2, 0.4]


def test_requesting_changes_or_rejecting_needs_no_crops(asset, reviewer):
    review = asset_review_decide(asset=asset, actor=reviewer, decision="request_changes", comment="Bluer.")
    assert review.state == ReviewState.CHANGES_REQUESTED


def test_an_asset_without_channels_is_approved_without_crops(asset, reviewer):
    asset.channels = []
    asset.save(update_fields=["channels"])
    review = asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all())
    assert review.state == ReviewState.APPROVED
    assert "crops" not in ReviewEvent.objects.get(asset=asset, to_state=ReviewState.APPROVED).details


def test_a_channel_whose_preset_was_deleted_blocks_approval_with_a_reason(asset, reviewer):
    from delivery.models import NamedPreset

    values = seen_all(asset)
    NamedPreset.objects.filter(name="og-image").delete()
    with pytest.raises(CropsNotSeenError, match="no channel preset named 'og-image'"):
        asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), crops_seen=values
        )


def test_the_decide_form_carries_the_crops_seen(client, asset, reviewer):
    client.force_login(reviewer)
    url = f"/review/assets/{asset.pk}/decide/"
    response = client.post(url, {"decision": "approve", "checklist": checklist_all()}, follow=True)
    assert "Look at the crop each channel will use before approving" in response.content.decode()
    assert review_state_of(asset=asset).state == ReviewState.IN_REVIEW

    client.post(url, {"decision": "approve", "checklist": checklist_all(), "crops_seen": seen_all(asset)})
    assert review_state_of(asset=asset).state == ReviewState.APPROVED


def test_bulk_approval_cannot_approve_an_asset_with_destination_channels(client, asset, make_asset, reviewer):
    """The queue shows no crops, so a bulk approval approves only assets without destination channels."""
    plain = make_asset()
    client.force_login(reviewer)
    client.post(
        "/review/bulk/", {"decision": "approve", "checklist": checklist_all(), "assets": [asset.pk, plain.pk]}
    )
    assert review_state_of(asset=asset).state == ReviewState.IN_REVIEW
    assert review_state_of(asset=plain).state == ReviewState.APPROVED


# --- the JSON API -------------------------------------------------------------------------------------------


def api(user) -> Client:
    secret = api_token_create(user=user, name="test", scopes=["read", "review"]).secret
    return Client(headers={"Authorization": f"Bearer {secret}"})


def test_an_api_client_lists_the_crops_shows_them_and_approves_with_their_seen_values(asset, reviewer):
    client = api(reviewer)
    listing = client.get(f"/api/v1/assets/{asset.pk}/crops")
    assert listing.status_code == 200
    crops = listing.json()
    assert [crop["channel"] for crop in crops] == CHANNELS
    story = crops[0]
    assert (story["width"], story["height"], story["upscale"], story["upscale_warning"]) == (
        1080,
        1920,
        10.0,
        True,
    )
    image = client.get(story["url"])
    assert image.status_code == 200 and jpeg_size(image.content) == (1080, 1920)

    approve = f"/api/v1/assets/{asset.pk}/approve"
    body = {"crops_seen": [story["seen_value"]], "checklist": checklist_all()}
    refused = client.post(approve, json.dumps(body), content_type="application/json")
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["crops_seen"]

    body = {"crops_seen": [crop["seen_value"] for crop in crops], "checklist": checklist_all()}
    done = client.post(approve, json.dumps(body), content_type="application/json")
    assert done.status_code == 200 and done.json()["review"]["state"] == "approved"


def test_an_api_client_sets_and_clears_the_focal_point(asset, reviewer, marketer):
    client = api(reviewer)
    url = f"/api/v1/assets/{asset.pk}/focal-point"
    response = client.put(url, json.dumps({"x": 0.25, "y": 0.5}), content_type="application/json")
    assert response.status_code == 200 and response.json() == {"x": 0.25, "y": 0.5}
    crops = client.get(f"/api/v1/assets/{asset.pk}/crops").json()
    assert crops[0]["focal_point"] == [0.25, 0.5]
    bad = client.put(url, json.dumps({"x": 2, "y": 0.5}), content_type="application/json")
    assert bad.status_code == 422
    assert (
        api(marketer).put(url, json.dumps({"x": 0.1, "y": 0.1}), content_type="application/json").status_code
        == 403
    )
    cleared = client.put(url, json.dumps({"x": None, "y": None}), content_type="application/json")
    assert cleared.json() == {"x": None, "y": None}


def test_another_teams_marketer_gets_404_from_the_crops_api(asset, other_marketer):
    client = api(other_marketer)
    assert client.get(f"/api/v1/assets/{asset.pk}/crops").status_code == 404
    assert client.get(f"/api/v1/assets/{asset.pk}/crops/story.jpg").status_code == 404
