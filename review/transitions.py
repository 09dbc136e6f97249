"""The one way an asset's review state changes: a conditional update whose row count is checked, an immutable
event that records it, and ``asset_review_changed`` after the commit. Decisions (decisions.py) and takeovers
(revisions.py) are built on ``transition``."""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from generation.models import Asset
from review.comments import comment_store
from review.errors import ReviewConflictError
from review.models import AssetReview, ReviewEvent, ReviewState
from review.signals import asset_review_changed


def asset_review_ensure(*, asset: Asset) -> AssetReview:
    """The asset's review row; assets from before review existed get theirs (a draft) on their first write."""
    review, _ = AssetReview.objects.get_or_create(asset=asset)
    return review


def transition(
    *,
    asset: Asset,
    actor: User,
    from_states: tuple[str, ...],
    to_state: str,
    comment: str,
    details: dict[str, Any] | None = None,
    kind: str = ReviewEvent.Kind.DECISION,
    thread_comment: bool = False,
    **changes: Any,
) -> AssetReview:
    """Move the asset from one of ``from_states`` to ``to_state``, writing ``changes`` on its review row. A
    submission stamps ``submitted_at``; every other transition ``decided_at``.

    ``thread_comment``: the comment also goes into the asset's thread, linked to the event (a reviewer's
    decision, which the marketer answers there).
    """
    with transaction.atomic():
        review = asset_review_ensure(asset=asset)
        from_state = review.state
        if from_state not in from_states:
            raise ReviewConflictError(
                f"This asset is {review.get_state_display().lower()}; it cannot become "
                f"{ReviewState(to_state).label.lower()} from there."
            )
        now = timezone.now()
        stamp = "submitted_at" if to_state == ReviewState.IN_REVIEW else "decided_at"
        updated = AssetReview.objects.filter(asset=asset, state=from_state).update(
            state=to_state, updated_at=now, **{stamp: now}, **changes
        )
        if updated != 1:
            raise ReviewConflictError(
                "Someone else changed this asset a moment ago; reload to see its state."
            )
        event = ReviewEvent.objects.create(
            asset=asset,
            actor=actor,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            comment=comment.strip(),
            details=details or {},
        )
        if thread_comment and event.comment:
            comment_store(asset=asset, author=actor, body=event.comment, event=event)
        review.refresh_from_db()
        transaction.on_commit(
            lambda: asset_review_changed.send(
                sender=AssetReview, asset=asset, from_state=from_state, to_state=to_state
            )
        )
    return review


def review_event_record(
    *,
    asset: Asset,
    actor: User,
    kind: str,
    state: str,
    comment: str = "",
    details: dict[str, Any] | None = None,
) -> ReviewEvent:
    """An event on the record that leaves the state as it is (flagged, checked safe, edited, took over a
    public id). Call it inside the transaction of the change it records."""
    return ReviewEvent.objects.create(
        asset=asset,
        actor=actor,
        kind=kind,
        from_state=state,
        to_state=state,
        comment=comment,
        details=details or {},
    )
