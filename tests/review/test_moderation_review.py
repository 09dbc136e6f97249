"""Moderation in review: a flagged image enters the queue flagged, is blurred in every list, and is approved
only after a reviewer's explicit "checked, safe", which is on the record and in the history's CSV export."""

import csv
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from PIL import Image

from generation.models import GenerationRequest
from generation.moderation import describe_flags
from review import decisions
from review.errors import ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview, ReviewEvent, ReviewState
from tests.conftest import checklist_all

RULE_FLAG = {
    "source": "prompt rule",
    "rule": None,
    "pattern": "rival cola",
    "category": "Competitor",
    "field": "prompt",
    "matched": "Rival Cola",
}
CHECKER_FLAG = {
    "source": "safety checker",
    "checker": "CompVis/stable-diffusion-safety-checker",
    "category": "Unsafe",
    "matched": "the safety checker found a sensitive concept",
}


@pytest.fixture
def make_flagged(make_asset, django_capture_on_commit_callbacks):
    """A generated asset that moderation flagged, submitted to review the way a worker's run submits it."""

    def make(*, user=None, flags=(RULE_FLAG, CHECKER_FLAG)):
        with django_capture_on_commit_callbacks(execute=True):
            return make_asset(user=user, prompt="a can of Rival Cola on a desk", flags=flags)

    return make


@pytest.fixture
def flagged(make_flagged):
    return make_flagged()


@pytest.fixture
def plain(make_asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


def _kinds(asset) -> list[str]:
    return list(ReviewEvent.objects.filter(asset=asset).values_list("kind", flat=True))


def _img_tag(html: str, asset) -> str:
    """The <img> that shows this asset's file (the first one, when a page shows it twice)."""
    src = reverse("generation:asset-file", args=[asset.pk])
    match = re.search(rf'<img[^>]*src="{re.escape(src)}"[^>]*>', html)
    assert match, f"no image of asset {asset.pk} on the page"
    return match.group(0)


def _is_blurred(html: str, asset) -> bool:
    return re.search(r'class="[^"]*\bflagged\b', _img_tag(html, asset)) is not None


# --- entering review -------------------------------------------------------------------------------------


def test_a_flagged_generation_enters_review_with_a_flagged_event(
    marketer, django_capture_on_commit_callbacks
):
    from generation.services import generation_request_complete

    request = GenerationRequest.objects.create(
        created_by=marketer,
        prompt="a can of Rival Cola",
        full_prompt="a can of Rival Cola",
        model_key="tiny",
        width=64,
        height=64,
        seed=3,
        steps=2,
        guidance=5.0,
        status=GenerationRequest.Status.RUNNING,
        moderation_flags=[RULE_FLAG],
    )
    with django_capture_on_commit_callbacks(execute=True):
        flagged_asset, clean_asset = generation_request_complete(
            generation_request=request,
            images=[Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")],
            seeds=[3, 4],
            image_flags=[CHECKER_FLAG, None],
        )
    assert flagged_asset.flags == [RULE_FLAG, CHECKER_FLAG]
    submitted, flagged_event = ReviewEvent.objects.filter(asset=flagged_asset)
    assert (submitted.kind, submitted.to_state) == (ReviewEvent.Kind.DECISION, ReviewState.IN_REVIEW)
    assert flagged_event.kind == ReviewEvent.Kind.FLAGGED
    assert flagged_event.actor == marketer
    assert (flagged_event.from_state, flagged_event.to_state) == (
        ReviewState.IN_REVIEW,
        ReviewState.IN_REVIEW,
    )
    assert flagged_event.comment == describe_flags([RULE_FLAG, CHECKER_FLAG])
    assert 'Competitor: "Rival Cola" in the prompt' in flagged_event.comment
    # Its sibling carries the request's prompt-rule flag too, but not the checker's.
    assert clean_asset.flags == [RULE_FLAG]
    assert _kinds(clean_asset) == [ReviewEvent.Kind.DECISION, ReviewEvent.Kind.FLAGGED]


def test_an_unflagged_asset_enters_review_with_its_submission_only(plain):
    assert _kinds(plain) == [ReviewEvent.Kind.DECISION]


# --- the services ----------------------------------------------------------------------------------------


def test_a_flagged_asset_cannot_be_approved_before_it_is_checked(flagged, reviewer):
    with pytest.raises(ReviewError, match=r"^Flagged \(Competitor: .*\): mark it checked, safe"):
        decisions.asset_review_decide(
            asset=flagged, actor=reviewer, decision="approve", checklist=checklist_all(), comment="fine"
        )
    review = AssetReview.objects.get(asset=flagged)
    assert (review.state, review.public_id) == (ReviewState.IN_REVIEW, None)
    assert _kinds(flagged) == [ReviewEvent.Kind.DECISION, ReviewEvent.Kind.FLAGGED]


@pytest.mark.parametrize(
    ("decision", "state"),
    [("request_changes", ReviewState.CHANGES_REQUESTED), ("reject", ReviewState.REJECTED)],
)
def test_a_flagged_asset_can_be_sent_back_or_rejected_without_a_check(flagged, reviewer, decision, state):
    review = decisions.asset_review_decide(asset=flagged, actor=reviewer, decision=decision, comment="No.")
    assert review.state == state


def test_a_reviewer_marks_it_checked_safe_and_then_approves(flagged, reviewer):
    review = decisions.asset_review_mark_checked_safe(
        asset=flagged, actor=reviewer, comment="  Our own can, not the rival's.  "
    )
    assert review.state == ReviewState.IN_REVIEW
    assert review.flag_checked_by == reviewer and review.flag_checked_at is not None
    event = ReviewEvent.objects.filter(asset=flagged).last()
    assert event.kind == ReviewEvent.Kind.CHECKED_SAFE
    assert (event.actor, event.comment) == (reviewer, "Our own can, not the rival's.")
    assert (event.from_state, event.to_state) == (ReviewState.IN_REVIEW, ReviewState.IN_REVIEW)

    review = decisions.asset_review_decide(
        asset=flagged, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    assert review.state == ReviewState.APPROVED and review.public_id
    assert _kinds(flagged) == ["decision", "flagged", "checked_safe", "decision"]


def test_checked_safe_needs_a_comment(flagged, reviewer):
    with pytest.raises(ReviewError, match="comment"):
        decisions.asset_review_mark_checked_safe(asset=flagged, actor=reviewer, comment="   ")
    assert AssetReview.objects.get(asset=flagged).flag_checked_at is None


def test_a_marketer_cannot_mark_an_asset_checked_safe(flagged, marketer):
    with pytest.raises(ReviewPermissionError, match="Only reviewers"):
        decisions.asset_review_mark_checked_safe(asset=flagged, actor=marketer, comment="looks fine to me")


def test_the_creator_cannot_mark_their_own_flagged_asset_checked_safe(make_flagged, reviewer):
    own = make_flagged(user=reviewer)
    with pytest.raises(ReviewPermissionError, match="generated yourself"):
        decisions.asset_review_mark_checked_safe(asset=own, actor=reviewer, comment="trust me")
    assert AssetReview.objects.get(asset=own).flag_checked_at is None
    assert ReviewEvent.Kind.CHECKED_SAFE not in _kinds(own)


def test_self_approval_setting_lets_the_creator_check_their_own(make_flagged, reviewer, settings):
    settings.STUDIO_ALLOW_SELF_APPROVAL = True
    own = make_flagged(user=reviewer)
    decisions.asset_review_mark_checked_safe(asset=own, actor=reviewer, comment="Checked it myself.")
    assert (
        decisions.asset_review_decide(
            asset=own, actor=reviewer, decision="approve", checklist=checklist_all()
        ).state
        == "approved"
    )


def test_an_asset_that_is_not_flagged_cannot_be_marked_checked_safe(plain, reviewer):
    with pytest.raises(ReviewError, match="not flagged"):
        decisions.asset_review_mark_checked_safe(asset=plain, actor=reviewer, comment="fine")
    assert _kinds(plain) == [ReviewEvent.Kind.DECISION]


def test_a_second_checked_safe_is_refused(flagged, reviewer, second_reviewer):
    decisions.asset_review_mark_checked_safe(asset=flagged, actor=reviewer, comment="Checked.")
    with pytest.raises(ReviewConflictError, match="reviewer already marked it checked, safe"):
        decisions.asset_review_mark_checked_safe(asset=flagged, actor=second_reviewer, comment="Me too.")
    review = AssetReview.objects.get(asset=flagged)
    assert review.flag_checked_by == reviewer
    assert _kinds(flagged).count(ReviewEvent.Kind.CHECKED_SAFE) == 1


def test_only_an_asset_in_review_can_be_marked_checked_safe(flagged, reviewer):
    decisions.asset_review_decide(asset=flagged, actor=reviewer, decision="reject", comment="Off brand.")
    with pytest.raises(ReviewConflictError, match="rejected"):
        decisions.asset_review_mark_checked_safe(asset=flagged, actor=reviewer, comment="Checked.")


def test_the_database_refuses_a_check_without_a_reviewer(flagged):
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        AssetReview.objects.filter(asset=flagged).update(flag_checked_at=timezone.now())


def test_moderation_events_are_immutable_in_the_database(flagged, reviewer):
    decisions.asset_review_mark_checked_safe(asset=flagged, actor=reviewer, comment="Checked.")
    table = connection.ops.quote_name(ReviewEvent._meta.db_table)
    for event in ReviewEvent.objects.filter(asset=flagged).exclude(kind=ReviewEvent.Kind.DECISION):
        with (
            pytest.raises(IntegrityError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"UPDATE {table} SET kind = %s WHERE id = %s", ["decision", event.pk])
    assert _kinds(flagged) == ["decision", "flagged", "checked_safe"]


# --- the pages -------------------------------------------------------------------------------------------


def test_the_asset_page_shows_why_it_is_flagged_blurs_it_and_holds_approve(client, flagged, reviewer):
    client.force_login(reviewer)
    body = client.get(reverse("review:asset", args=[flagged.pk])).content.decode()
    assert 'id="flag-panel"' in body
    assert "Competitor" in body and "Rival Cola" in body and "in the prompt" in body
    assert "safety checker" in body and "CompVis/stable-diffusion-safety-checker" in body
    assert 'id="checked-safe-form"' in body
    assert _is_blurred(body, flagged)
    assert 'href="?reveal=1"' in body
    assert re.search(r'<button[^>]*value="approve"[^>]*disabled', body)
    assert 'data-key="a"' not in body, "the approve shortcut is off until the check"
    assert 'data-key="r"' in body, "reject stays available"

    revealed = client.get(reverse("review:asset", args=[flagged.pk]), {"reveal": "1"}).content.decode()
    assert not _is_blurred(revealed, flagged)


def test_a_reviewer_checks_and_approves_from_the_page(client, flagged, reviewer):
    client.force_login(reviewer)
    response = client.post(
        reverse("review:decide", args=[flagged.pk]),
        {"decision": "approve", "checklist": checklist_all()},
        follow=True,
    )
    assert "mark it checked, safe before approving" in response.content.decode()
    assert AssetReview.objects.get(asset=flagged).state == ReviewState.IN_REVIEW

    response = client.post(reverse("review:checked-safe", args=[flagged.pk]), {"comment": "Our own can."})
    assert response.status_code == 302
    body = client.get(reverse("review:asset", args=[flagged.pk])).content.decode()
    assert 'id="flag-checked"' in body and "reviewer" in body
    assert 'id="checked-safe-form"' not in body
    assert 'data-key="a"' in body
    assert "Checked, safe" in body and "Our own can." in body  # in the history, as a moderation step

    client.post(
        reverse("review:decide", args=[flagged.pk]), {"decision": "approve", "checklist": checklist_all()}
    )
    assert AssetReview.objects.get(asset=flagged).state == ReviewState.APPROVED


def test_checked_safe_from_the_page_needs_a_comment(client, flagged, reviewer):
    client.force_login(reviewer)
    response = client.post(reverse("review:checked-safe", args=[flagged.pk]), {"comment": ""}, follow=True)
    assert "Say what you checked" in response.content.decode()
    assert AssetReview.objects.get(asset=flagged).flag_checked_at is None


def test_a_marketer_cannot_check_from_the_page_and_sees_no_form(client, flagged, marketer):
    client.force_login(marketer)
    body = client.get(reverse("review:asset", args=[flagged.pk])).content.decode()
    assert 'id="flag-panel"' in body and 'id="checked-safe-form"' not in body
    response = client.post(reverse("review:checked-safe", args=[flagged.pk]), {"comment": "fine"})
    assert response.status_code == 403
    assert AssetReview.objects.get(asset=flagged).flag_checked_at is None


def test_bulk_approval_refuses_flagged_assets_one_by_one(client, flagged, plain, reviewer):
    client.force_login(reviewer)
    response = client.post(
        reverse("review:bulk"),
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "assets": [flagged.pk, plain.pk],
            "comment": "",
        },
        follow=True,
    )
    body = response.content.decode()
    assert f"#{flagged.pk}: Flagged (" in body
    assert "1 asset updated" in body
    states = dict(AssetReview.objects.values_list("asset_id", "state"))
    assert states == {flagged.pk: ReviewState.IN_REVIEW, plain.pk: ReviewState.APPROVED}


def test_the_queue_can_be_filtered_to_flagged_items(client, flagged, plain, reviewer):
    client.force_login(reviewer)
    everything = client.get(reverse("review:queue")).content.decode()
    assert "Flagged only (1)" in everything and "All (2)" in everything
    assert _is_blurred(everything, flagged)
    assert not _is_blurred(everything, plain)

    only_flagged = client.get(reverse("review:queue"), {"flagged": "1"}).content.decode()
    assert reverse("generation:asset-file", args=[flagged.pk]) in only_flagged
    assert reverse("generation:asset-file", args=[plain.pk]) not in only_flagged


@pytest.mark.parametrize(
    "page",
    ["review:assets", "generation:gallery", "generation:request"],
    ids=["assets", "gallery", "request"],
)
def test_lists_blur_flagged_images_only(client, flagged, plain, marketer, page):
    client.force_login(marketer)
    if page == "generation:request":
        pages = [reverse(page, args=[flagged.request_id]), reverse(page, args=[plain.request_id])]
        flagged_body, plain_body = (client.get(url).content.decode() for url in pages)
    else:
        flagged_body = plain_body = client.get(reverse(page)).content.decode()
    assert _is_blurred(flagged_body, flagged)
    assert not _is_blurred(plain_body, plain)
    assert "flag-badge" in flagged_body


def test_lineage_thumbnails_blur_a_flagged_parent(
    client, flagged, reviewer, django_capture_on_commit_callbacks
):
    from generation.services import generation_request_complete

    request = GenerationRequest.objects.create(
        created_by=flagged.created_by,
        operation=GenerationRequest.Operation.RECOLOR,
        source_asset=flagged,
        prompt="",
        model_key="tiny",
        width=96,
        height=64,
        seed=7,
        steps=2,
        guidance=5.0,
        status=GenerationRequest.Status.RUNNING,
    )
    with django_capture_on_commit_callbacks(execute=True):
        [child] = generation_request_complete(
            generation_request=request, images=[Image.new("RGB", (96, 64), "green")], seeds=[7]
        )
    client.force_login(reviewer)
    body = client.get(reverse("review:asset", args=[child.pk])).content.decode()
    lineage = body[body.index('id="lineage"') :]
    assert _is_blurred(lineage, flagged)
    assert not _is_blurred(lineage, child)


# --- the history's CSV export ----------------------------------------------------------------------------


def test_the_history_csv_lists_decisions_and_moderation_steps(client, flagged, reviewer, marketer):
    decisions.asset_review_mark_checked_safe(asset=flagged, actor=reviewer, comment='=HYPERLINK("x")')
    decisions.asset_review_decide(
        asset=flagged, actor=reviewer, decision="approve", checklist=checklist_all(), comment="Good to go"
    )
    client.force_login(marketer)
    page = client.get(reverse("review:asset", args=[flagged.pk])).content.decode()
    assert reverse("review:history-csv", args=[flagged.pk]) in page

    response = client.get(reverse("review:history-csv", args=[flagged.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="asset-{flagged.pk}-history.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["kind"] for row in rows] == ["decision", "flagged", "checked_safe", "decision"]
    assert list(rows[0]) == ["time", "actor", "kind", "from_state", "to_state", "comment"]
    assert [row["actor"] for row in rows] == ["marketer", "marketer", "reviewer", "reviewer"]
    assert (rows[0]["from_state"], rows[0]["to_state"]) == ("draft", "in_review")
    assert rows[1]["comment"] == describe_flags(flagged.flags)
    assert rows[2]["comment"] == '\'=HYPERLINK("x")', "a spreadsheet must not run a comment as a formula"
    assert (rows[3]["to_state"], rows[3]["comment"]) == ("approved", "Good to go")
    event = ReviewEvent.objects.filter(asset=flagged).first()
    assert rows[0]["time"] == event.created_at.isoformat()


def test_the_history_csv_needs_a_login_and_the_view_permission(client, flagged):
    url = reverse("review:history-csv", args=[flagged.pk])
    response = client.get(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    outsider = get_user_model().objects.create_user(username="outsider", password="pw-outsider")
    client.force_login(outsider)
    assert client.get(url).status_code == 403
    assert client.get(reverse("review:history-csv", args=[999999])).status_code == 403
