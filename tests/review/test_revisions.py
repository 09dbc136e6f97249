"""Revisions in review: shown beside the version they revise, and, when approved, taking over the public id
of the approved version they replace: unversioned URLs show the revision at once, v<n> URLs the version
they name."""

import dataclasses
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from PIL import Image

from delivery import services as delivery_services
from delivery.models import Variant
from generation.models import Asset
from review import comments, decisions
from review.errors import ReviewConflictError, ReviewError
from review.models import AssetReview, Comment, PublicIdVersion, ReviewEvent, ReviewState
from studio.roles import MARKETERS
from tests.concurrency import at_once
from tests.conftest import checklist_all

RED, BLUE = (200, 40, 40), (40, 40, 200)


def _url(path: str) -> str:
    return reverse("delivery:serve", args=[path])


def _colour(response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.content
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    return image.getpixel((image.width // 2, image.height // 2))


def _near(colour, expected) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


@pytest.fixture
def revision(approved, make_asset, django_capture_on_commit_callbacks):
    """A blue revision of the approved red asset, waiting in review."""
    original, _ = approved
    with django_capture_on_commit_callbacks(execute=True):
        made = make_asset(size=(256, 192), image=Image.new("RGB", (256, 192), BLUE))
    Asset.objects.filter(pk=made.pk).update(revision_of=original)
    made.refresh_from_db()
    return made


@pytest.fixture
def other_marketer(marketer):
    user = get_user_model().objects.create_user(username="other", password="pw-other")
    user.groups.add(Group.objects.get(name=MARKETERS))
    return user


def _take_over(revision, reviewer, capture):
    with capture(execute=True):
        return decisions.asset_review_decide(
            asset=revision, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
        )


def test_the_first_approval_is_version_1_of_its_public_id(approved):
    asset, public_id = approved
    version = PublicIdVersion.objects.get(asset=asset)
    assert (version.public_id, version.version) == (public_id, 1)


def test_taking_over_moves_the_public_id_and_records_both_sides(
    approved, revision, reviewer, django_capture_on_commit_callbacks
):
    original, public_id = approved
    review = _take_over(revision, reviewer, django_capture_on_commit_callbacks)
    assert (review.state, review.public_id) == (ReviewState.APPROVED, public_id)
    old = AssetReview.objects.get(asset=original)
    assert (old.state, old.public_id) == (ReviewState.REPLACED, None)
    assert list(PublicIdVersion.objects.values_list("public_id", "version", "asset_id")) == [
        (public_id, 1, original.pk),
        (public_id, 2, revision.pk),
    ]
    [replaced] = ReviewEvent.objects.filter(asset=original, kind=ReviewEvent.Kind.REPLACED)
    assert (replaced.from_state, replaced.to_state) == (ReviewState.APPROVED, ReviewState.REPLACED)
    assert replaced.details == {"public_id": public_id, "version": 1, "replaced_by": revision.pk}
    approval, took = ReviewEvent.objects.filter(asset=revision).order_by("pk")[1:]
    assert approval.details["took_over"] == {
        "public_id": public_id,
        "version": 2,
        "replaced_asset": original.pk,
    }
    assert took.kind == ReviewEvent.Kind.REPLACED and public_id in took.comment


def test_sites_get_the_revision_at_their_url_and_versioned_urls_keep_their_version(
    client, approved, revision, reviewer, django_capture_on_commit_callbacks
):
    original, public_id = approved
    unversioned = _url(f"t_preview/{public_id}.jpg")
    assert _near(_colour(client.get(unversioned)), RED)  # remembered by this process, and a stored variant
    [old_variant] = Variant.objects.filter(asset=original)

    _take_over(revision, reviewer, django_capture_on_commit_callbacks)

    assert not old_variant.file.storage.exists(old_variant.file.name), "the purge deletes the old files"
    assert _near(_colour(client.get(unversioned)), BLUE)
    assert _near(_colour(client.get(_url(f"t_preview/v1/{public_id}.jpg"))), RED)
    assert _near(_colour(client.get(_url(f"t_preview/v2/{public_id}.jpg"))), BLUE)
    # A version the id never had (Cloudinary's cache-busting timestamps) shows the current one.
    assert _near(_colour(client.get(_url(f"t_preview/v1700000000/{public_id}.jpg"))), BLUE)
    assert client.get(_url(f"t_preview/v3/{public_id}.jpg")).status_code == 200
    assert client.get(_url(f"t_preview/v99999999999999999999/{public_id}.jpg")).status_code == 200


def test_another_process_remembering_the_old_file_serves_the_new_image(
    client, approved, revision, reviewer, django_capture_on_commit_callbacks
):
    _, public_id = approved
    path = f"t_preview/{public_id}.jpg"
    client.get(_url(path))
    stale = delivery_services.hit_cache.get(path)
    assert stale is not None
    _take_over(revision, reviewer, django_capture_on_commit_callbacks)
    # Another process cleared nothing: its entry still names the old variant's file, which the purge deleted.
    fields = {name: value for name, value in dataclasses.asdict(stale).items() if name != "kept_until"}
    delivery_services.hit_cache.put(path, **fields)
    assert _near(_colour(client.get(_url(path))), BLUE)


def test_revoking_the_replaced_version_ends_its_versioned_urls_only(
    client, approved, revision, reviewer, django_capture_on_commit_callbacks
):
    original, public_id = approved
    _take_over(revision, reviewer, django_capture_on_commit_callbacks)
    assert client.get(_url(f"t_preview/v1/{public_id}.jpg")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        decisions.asset_review_revoke(asset=original, actor=reviewer, comment="Old packaging")
    assert not Variant.objects.filter(asset=original).exists()
    assert client.get(_url(f"t_preview/v1/{public_id}.jpg")).status_code == 404
    assert _near(_colour(client.get(_url(f"t_preview/{public_id}.jpg"))), BLUE)


def test_revoking_the_current_version_ends_its_urls(
    client, approved, revision, reviewer, django_capture_on_commit_callbacks
):
    _, public_id = approved
    _take_over(revision, reviewer, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.asset_review_revoke(asset=revision, actor=reviewer, comment="Pulled")
    assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 404
    assert client.get(_url(f"t_preview/v2/{public_id}.jpg")).status_code == 404


def test_a_plain_approval_of_a_revision_gets_its_own_public_id(approved, revision, reviewer):
    original, public_id = approved
    review = decisions.asset_review_decide(
        asset=revision, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    assert review.public_id and review.public_id != public_id
    assert AssetReview.objects.get(asset=original).state == ReviewState.APPROVED
    assert PublicIdVersion.objects.get(asset=revision).version == 1


def test_approving_twice_takes_over_once(approved, revision, reviewer, second_reviewer):
    _original, public_id = approved
    decisions.asset_review_decide(
        asset=revision, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
    )
    with pytest.raises(ReviewConflictError):
        decisions.asset_review_decide(
            asset=revision,
            actor=second_reviewer,
            decision="approve",
            checklist=checklist_all(),
            take_over=True,
        )
    assert PublicIdVersion.objects.filter(public_id=public_id).count() == 2
    assert ReviewEvent.objects.filter(kind=ReviewEvent.Kind.REPLACED).count() == 2


def test_a_second_revision_cannot_take_over_what_the_first_took(
    approved, revision, reviewer, make_asset, django_capture_on_commit_callbacks
):
    original, public_id = approved
    with django_capture_on_commit_callbacks(execute=True):
        rival = make_asset(size=(256, 192))
    Asset.objects.filter(pk=rival.pk).update(revision_of=original)
    rival.refresh_from_db()
    decisions.asset_review_decide(
        asset=revision, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
    )
    with pytest.raises(ReviewConflictError, match="no approved version"):
        decisions.asset_review_decide(
            asset=rival, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
        )
    assert AssetReview.objects.get(asset=rival).state == ReviewState.IN_REVIEW
    assert AssetReview.objects.get(asset=revision).public_id == public_id


def test_a_revision_of_a_sent_back_revision_still_replaces_the_approved_original(
    approved, revision, reviewer, make_asset, django_capture_on_commit_callbacks
):
    original, public_id = approved
    decisions.asset_review_decide(asset=revision, actor=reviewer, decision="request_changes", comment="Bluer")
    with django_capture_on_commit_callbacks(execute=True):
        second = make_asset(size=(256, 192))
    Asset.objects.filter(pk=second.pk).update(revision_of=revision)
    second.refresh_from_db()
    review = decisions.asset_review_decide(
        asset=second, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
    )
    assert review.public_id == public_id
    assert AssetReview.objects.get(asset=original).state == ReviewState.REPLACED


def test_only_an_approval_takes_over(approved, revision, reviewer):
    with pytest.raises(ReviewError, match="Only an approval"):
        decisions.asset_review_decide(
            asset=revision, actor=reviewer, decision="reject", comment="No", take_over=True
        )
    assert AssetReview.objects.get(asset=revision).state == ReviewState.IN_REVIEW


def test_the_review_page_compares_the_revision_and_offers_the_take_over(
    client, approved, revision, reviewer, marketer
):
    original, public_id = approved
    comments.comment_create(asset=original, author=marketer, body="Earlier note", x=0.3, y=0.6)
    client.force_login(reviewer)
    html = client.get(reverse("review:asset", args=[revision.pk])).content.decode()
    assert "data-compare-modes" in html and 'data-compare-mode="slider"' in html
    assert 'id="revision-compare-range"' in html and 'id="compare-range"' not in html
    assert f"Take over public id <code>{public_id}</code> of asset {original.pk}" in html
    assert 'id="earlier-comments"' in html and "Earlier note" in html
    assert 'data-pin-image="earlier"' in html


def test_the_creator_sees_the_comparison_but_no_take_over(client, approved, revision, marketer):
    client.force_login(marketer)
    html = client.get(reverse("review:asset", args=[revision.pk])).content.decode()
    assert "data-compare-modes" in html
    assert 'id="take-over"' not in html


def test_the_page_form_takes_over_when_ticked(
    client, approved, revision, reviewer, django_capture_on_commit_callbacks
):
    original, public_id = approved
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("review:decide", args=[revision.pk]),
            {"decision": "approve", "checklist": checklist_all(), "take_over": "on"},
        )
    assert AssetReview.objects.get(asset=revision).public_id == public_id
    html = client.get(reverse("review:asset", args=[original.pk])).content.decode()
    assert "Replaced by a revision" in html
    assert 'id="versions"' in html and f'href="{_url(f"v1/{public_id}")}"' in html


# The page and the thread of a revision, for anonymous, its creator, a marketer of another team (today: any
# other marketer), a reviewer and an admin.
@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 200), ("other_marketer", 404), ("reviewer", 200), ("admin_user", 200)],
)
def test_who_may_see_a_revision_and_its_comparison(client, request, revision, who, status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("review:asset", args=[revision.pk]))
    assert page.status_code == status
    if status == 200:
        assert "data-compare-modes" in page.content.decode()


@pytest.mark.parametrize(
    ("who", "status", "took_over"),
    [
        ("anonymous", 302, False),
        ("marketer", 403, False),
        ("other_marketer", 404, False),
        ("reviewer", 302, True),
        ("admin_user", 302, True),
    ],
)
def test_who_may_take_over_a_public_id(
    client, request, approved, revision, who, status, took_over, django_capture_on_commit_callbacks
):
    _, public_id = approved
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("review:decide", args=[revision.pk]),
            {"decision": "approve", "checklist": checklist_all(), "take_over": "on"},
        )
    assert response.status_code == status
    assert (AssetReview.objects.get(asset=revision).public_id == public_id) is took_over


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_takeovers_at_once_on_postgresql_move_the_public_id_once(
    make_asset, reviewer, second_reviewer, channel_presets
):
    assert connection.vendor == "postgresql"
    original = make_asset(size=(256, 192))
    public_id = decisions.asset_review_decide(
        asset=original, actor=reviewer, decision="approve", checklist=checklist_all()
    ).public_id
    rivals = []
    for _ in range(2):
        rival = make_asset(size=(256, 192))
        Asset.objects.filter(pk=rival.pk).update(revision_of=original)
        rival.refresh_from_db()
        rivals.append(rival)

    def take_over(asset, actor) -> str:
        try:
            decisions.asset_review_decide(
                asset=asset, actor=actor, decision="approve", checklist=checklist_all(), take_over=True
            )
        except ReviewConflictError:
            return "conflict"
        return "took"

    outcomes = at_once(lambda: take_over(rivals[0], reviewer), lambda: take_over(rivals[1], second_reviewer))
    assert sorted(outcomes) == ["conflict", "took"]
    versions = PublicIdVersion.objects.filter(public_id=public_id).values_list("version", flat=True)
    assert list(versions) == [1, 2]
    holders = AssetReview.objects.filter(public_id=public_id)
    assert holders.count() == 1 and holders.get().state == ReviewState.APPROVED
    assert AssetReview.objects.get(asset=original).state == ReviewState.REPLACED
    assert Comment.objects.count() == 0


# --- Revising an approved asset: a new version that may take over its public id --------------------------


def _finish(generation_request, colour, capture) -> Asset:
    """Complete ``generation_request`` with one image of ``colour``, as the worker would."""
    from generation.services import generation_request_claim, generation_request_complete

    assert generation_request_claim(request_id=generation_request.pk)
    generation_request.refresh_from_db()
    image = Image.new("RGB", (generation_request.width, generation_request.height), colour)
    with capture(execute=True):
        [made] = generation_request_complete(generation_request=generation_request, images=[image], seeds=[0])
    return made


def test_an_approved_asset_is_revised_into_a_new_version_that_takes_over_its_public_id(
    client, approved, marketer, reviewer, no_enqueue, django_capture_on_commit_callbacks
):
    from generation.models import GenerationRequest

    original, public_id = approved
    unversioned = _url(f"t_preview/{public_id}.jpg")
    client.force_login(marketer)
    page = client.get(reverse("review:asset", args=[original.pk])).content.decode()
    assert f'id="revise-link" href="{reverse("review:revise", args=[original.pk])}"' in page
    assert "Revise: make a new version" in page
    revise = client.get(reverse("review:revise", args=[original.pk]))
    assert revise.status_code == 200
    assert 'id="revise-approved"' in revise.content.decode()
    assert f"<code>{public_id}</code>" in revise.content.decode()

    response = client.post(
        reverse("review:revise", args=[original.pk]),
        {
            "operation": "upscale",
            "model": "tiny",
            "num_images": 1,
            "scale": 2,
            "anchor": "center",
            "mode": "img2img",
        },
    )
    generation_request = GenerationRequest.objects.get(operation="upscale")
    assert response.status_code == 302, response.content
    assert (generation_request.revises, generation_request.source_asset) == (original, original)
    revision = _finish(generation_request, BLUE, django_capture_on_commit_callbacks)
    assert revision.revision_of == original
    assert AssetReview.objects.get(asset=revision).state == ReviewState.IN_REVIEW
    # Until a reviewer lets the new version take over, the approved original stays live.
    assert AssetReview.objects.get(asset=original).state == ReviewState.APPROVED
    assert _near(_colour(client.get(unversioned)), RED)

    client.force_login(reviewer)
    html = client.get(reverse("review:asset", args=[revision.pk])).content.decode()
    assert f"Revision of asset {original.pk}" in html
    assert 'id="revision-comment"' not in html  # no change request to answer
    assert f"Take over public id <code>{public_id}</code> of asset {original.pk}" in html
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("review:decide", args=[revision.pk]),
            {"decision": "approve", "checklist": checklist_all(), "take_over": "on"},
        )

    assert AssetReview.objects.get(asset=revision).public_id == public_id
    assert AssetReview.objects.get(asset=original).state == ReviewState.REPLACED
    assert _near(_colour(client.get(unversioned)), BLUE)
    assert _near(_colour(client.get(_url(f"t_preview/v1/{public_id}.jpg"))), RED)


def test_a_new_version_answers_no_change_request_that_was_answered_before_the_approval(
    client, make_asset, marketer, reviewer, channel_presets, django_capture_on_commit_callbacks
):
    original = make_asset(size=(256, 192))
    decisions.asset_review_decide(
        asset=original, actor=reviewer, decision="request_changes", comment="Redder"
    )
    decisions.asset_review_submit(asset=original, actor=marketer, comment="Redder now.")
    decisions.asset_review_decide(
        asset=original, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    with django_capture_on_commit_callbacks(execute=True):
        revision = make_asset(size=(256, 192), image=Image.new("RGB", (256, 192), BLUE))
    Asset.objects.filter(pk=revision.pk).update(revision_of=original)

    client.force_login(reviewer)
    html = client.get(reverse("review:asset", args=[revision.pk])).content.decode()
    assert f"Revision of asset {original.pk}" in html
    assert "asked for changes on" not in html and 'id="revision-comment"' not in html


@pytest.mark.parametrize("decision", ["reject", None])
def test_only_an_approved_or_sent_back_asset_can_be_revised(client, make_asset, marketer, reviewer, decision):
    asset = make_asset()
    if decision:
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision=decision, comment="Off brand")
    client.force_login(marketer)
    response = client.get(reverse("review:revise", args=[asset.pk]))
    assert response.status_code == 403
    assert "only an approved asset or one a reviewer asked changes on" in response.content.decode()
    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert 'id="revise-link"' not in html


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("marketer", 200), ("other_marketer", 404), ("reviewer", 403), ("admin_user", 200)],
)
def test_who_may_revise_an_approved_asset(client, request, approved, who, status):
    original, _ = approved
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("review:revise", args=[original.pk])).status_code == status
