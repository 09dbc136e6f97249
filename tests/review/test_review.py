import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.urls import reverse

from review import decisions
from review.errors import ReviewConflictError, ReviewError
from review.models import AssetReview, ReviewEvent, ReviewState
from tests.concurrency import at_once
from tests.conftest import checklist_all


@pytest.fixture
def asset(make_asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


def test_a_generated_image_lands_in_the_queue_submitted_by_its_creator(asset, marketer):
    review = AssetReview.objects.get(asset=asset)
    assert review.state == ReviewState.IN_REVIEW
    assert review.public_id is None
    [event] = ReviewEvent.objects.filter(asset=asset)
    assert (event.actor, event.from_state, event.to_state) == (
        marketer,
        ReviewState.DRAFT,
        ReviewState.IN_REVIEW,
    )


def test_reviewer_approves_with_a_comment_and_the_asset_gets_a_public_id(asset, reviewer):
    review = decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all(), comment="Lovely"
    )
    assert review.state == ReviewState.APPROVED
    assert review.public_id and "apple" not in review.public_id, "the prompt is never published"
    assert len(review.public_id) == 10 and review.public_id.isalnum()
    event = ReviewEvent.objects.filter(asset=asset).last()
    assert (event.actor, event.to_state, event.comment) == (reviewer, ReviewState.APPROVED, "Lovely")
    assert event.created_at is not None


def test_marketer_cannot_approve(asset, marketer):
    with pytest.raises(ReviewError, match="Only reviewers"):
        decisions.asset_review_decide(
            asset=asset, actor=marketer, decision="approve", checklist=checklist_all()
        )
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


def test_reviewer_cannot_approve_own_generation(make_asset, reviewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        own = make_asset(user=reviewer)
    with pytest.raises(ReviewError, match="generated yourself"):
        decisions.asset_review_decide(
            asset=own, actor=reviewer, decision="approve", checklist=checklist_all()
        )


def test_self_approval_can_be_allowed_by_setting(
    make_asset, reviewer, settings, django_capture_on_commit_callbacks
):
    settings.STUDIO_ALLOW_SELF_APPROVAL = True
    with django_capture_on_commit_callbacks(execute=True):
        own = make_asset(user=reviewer)
    assert (
        decisions.asset_review_decide(
            asset=own, actor=reviewer, decision="approve", checklist=checklist_all()
        ).state
        == ReviewState.APPROVED
    )


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_rejecting_or_requesting_changes_needs_a_comment(asset, reviewer, decision):
    with pytest.raises(ReviewError, match="comment"):
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision=decision, comment="  ")
    assert ReviewEvent.objects.filter(asset=asset).count() == 1


def test_a_second_decision_on_the_same_asset_is_refused(asset, reviewer, second_reviewer):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all())
    with pytest.raises(ReviewConflictError):
        decisions.asset_review_decide(asset=asset, actor=second_reviewer, decision="reject", comment="no")
    assert AssetReview.objects.get(asset=asset).state == ReviewState.APPROVED
    assert ReviewEvent.objects.filter(asset=asset).count() == 2


def test_changes_requested_can_be_resubmitted(asset, reviewer, marketer):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="request_changes", comment="Brighter")
    assert decisions.asset_review_submit(asset=asset, actor=marketer).state == ReviewState.IN_REVIEW


def test_revoking_an_approval_takes_the_public_id_out_of_delivery(asset, reviewer):
    from review.selectors import approved_asset_by_public_id

    review = decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    assert approved_asset_by_public_id(public_id=review.public_id) == asset
    decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="Licence expired")
    assert approved_asset_by_public_id(public_id=review.public_id) is None
    assert AssetReview.objects.get(asset=asset).public_id == review.public_id, "public ids are never reused"


def test_review_events_are_immutable(asset):
    event = ReviewEvent.objects.get(asset=asset)
    event.comment = "rewritten"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()


def test_the_database_refuses_to_rewrite_a_review_event(asset):
    event = ReviewEvent.objects.get(asset=asset)
    table = connection.ops.quote_name(ReviewEvent._meta.db_table)
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET comment = %s WHERE id = %s", ["rewritten", event.pk])
    event.refresh_from_db()
    assert event.comment == "Submitted on generation."


@pytest.mark.services
def test_the_database_refuses_to_delete_a_review_event_on_postgresql(asset):
    # SQLite refuses only UPDATE: Django flushes SQLite test tables with DELETE (see migration 0002).
    assert connection.vendor == "postgresql"
    event = ReviewEvent.objects.get(asset=asset)
    table = connection.ops.quote_name(ReviewEvent._meta.db_table)
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [event.pk])
    assert ReviewEvent.objects.filter(pk=event.pk).exists()


def test_an_asset_with_a_review_history_cannot_be_deleted(asset):
    with pytest.raises(ProtectedError):
        asset.delete()
    assert ReviewEvent.objects.filter(asset=asset).count() == 1


def test_reviewer_decides_from_the_page_and_moves_to_the_next_in_queue(
    client, make_asset, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, second = make_asset(), make_asset(prompt="a green bottle")
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[first.pk]) + "?from=queue")
    assert page.status_code == 200
    assert 'data-key="a"' in page.content.decode()
    response = client.post(
        reverse("review:decide", args=[first.pk]),
        {"decision": "approve", "checklist": checklist_all(), "comment": "", "from": "queue"},
    )

    assert response.status_code == 302
    assert response.url == reverse("review:asset", args=[second.pk]) + "?from=queue"
    assert AssetReview.objects.get(asset=first).state == ReviewState.APPROVED


def test_the_asset_page_says_where_the_reviewer_is_in_the_queue_as_they_decide(
    client, make_asset, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, second, third = make_asset(), make_asset(), make_asset()
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[second.pk]) + "?from=queue")
    assert "2 of 3 waiting" in page.content.decode()
    assert "of 3 waiting" not in client.get(reverse("review:asset", args=[second.pk])).content.decode()

    decide = reverse("review:decide", args=[second.pk])
    page = client.post(
        decide, {"decision": "approve", "checklist": checklist_all(), "from": "queue"}, follow=True
    )
    assert page.redirect_chain[-1][0] == reverse("review:asset", args=[third.pk]) + "?from=queue"
    assert "2 of 2 waiting" in page.content.decode(), "the one after the decided asset, in a shorter queue"

    decide = reverse("review:decide", args=[third.pk])
    page = client.post(decide, {"decision": "reject", "comment": "Too dark", "from": "queue"}, follow=True)
    assert page.redirect_chain[-1][0] == reverse("review:asset", args=[first.pk]) + "?from=queue"
    assert "1 of 1 waiting" in page.content.decode(), "past the end it goes back to the oldest still waiting"


def test_the_next_in_queue_skips_the_reviewers_own_generations(
    client, make_asset, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, own, third = make_asset(), make_asset(user=reviewer), make_asset()
    client.force_login(reviewer)

    decide = reverse("review:decide", args=[first.pk])
    response = client.post(decide, {"decision": "approve", "checklist": checklist_all(), "from": "queue"})

    assert response.url == reverse("review:asset", args=[third.pk]) + "?from=queue"
    assert AssetReview.objects.get(asset=own).state == ReviewState.IN_REVIEW


def test_marketer_sees_the_status_but_no_decision_buttons(client, asset, marketer):
    client.force_login(marketer)
    body = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert "In review" in body
    assert 'data-key="a"' not in body
    assert client.get(reverse("review:queue")).status_code == 403
    response = client.post(
        reverse("review:decide", args=[asset.pk]), {"decision": "approve", "checklist": checklist_all()}
    )
    assert response.status_code == 403
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW
    assert client.post(reverse("review:revoke", args=[asset.pk]), {"comment": "x"}).status_code == 403


def test_bulk_approval_decides_each_selected_asset(
    client, make_asset, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assets = [make_asset(), make_asset(), make_asset()]
    client.force_login(reviewer)
    response = client.post(
        reverse("review:bulk"),
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "assets": [assets[0].pk, assets[2].pk],
            "comment": "",
        },
    )
    assert response.status_code == 302
    states = dict(AssetReview.objects.values_list("asset_id", "state"))
    assert states == {
        assets[0].pk: ReviewState.APPROVED,
        assets[1].pk: ReviewState.IN_REVIEW,
        assets[2].pk: ReviewState.APPROVED,
    }


def test_unknown_asset_is_a_404(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("review:asset", args=[999999])).status_code == 404


def test_groups_carry_the_right_permissions(marketer, reviewer, admin_user):
    assert marketer.has_perm("generation.add_generationrequest")
    assert not marketer.has_perm("review.decide_assetreview")
    assert reviewer.has_perm("review.decide_assetreview")
    assert admin_user.has_perm("review.decide_assetreview")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_reviewers_at_once_on_postgresql_make_one_decision(make_asset, reviewer, second_reviewer):
    assert connection.vendor == "postgresql"
    asset = make_asset()  # autocommit: on_commit ran at once, so it is in review
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW
    ticks = checklist_all()

    def decide(actor, decision: str) -> str:
        try:
            decisions.asset_review_decide(
                asset=asset, actor=actor, decision=decision, comment="looked at it", checklist=ticks
            )
        except ReviewConflictError:
            return "conflict"
        return decision

    outcomes = at_once(lambda: decide(reviewer, "approve"), lambda: decide(second_reviewer, "reject"))
    assert outcomes.count("conflict") == 1
    [winner] = [outcome for outcome in outcomes if outcome != "conflict"]
    [decision] = ReviewEvent.objects.filter(asset=asset, from_state=ReviewState.IN_REVIEW)
    assert decision.to_state == decisions.DECISIONS[winner]
    assert AssetReview.objects.get(asset=asset).state == decisions.DECISIONS[winner]
