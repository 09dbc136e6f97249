"""Reads for review, and the only way delivery reads review state."""

from django.db.models import Count, Q, QuerySet

from generation import selectors as generation_selectors
from generation.models import Asset
from review.models import AssetReview, ReviewEvent, ReviewState


def review_queue(*, flagged_only: bool = False, limit: int = 200) -> QuerySet[AssetReview]:
    """Assets waiting for a decision, oldest submission first; ``flagged_only``: those moderation flagged."""
    reviews = AssetReview.objects.filter(state=ReviewState.IN_REVIEW)
    if flagged_only:
        reviews = reviews.filter(asset__is_flagged=True)
    return reviews.select_related("asset", "asset__request", "asset__created_by").order_by(
        "submitted_at", "asset_id"
    )[:limit]


def review_queue_counts() -> dict[str, int]:
    """How many assets wait for a decision, and how many of them are flagged."""
    return AssetReview.objects.filter(state=ReviewState.IN_REVIEW).aggregate(
        waiting=Count("pk"), flagged=Count("pk", filter=Q(asset__is_flagged=True))
    )


def _queued_before(review: AssetReview) -> Q:
    """Queue order is (submitted_at, asset_id), as in review_queue."""
    return Q(submitted_at__lt=review.submitted_at) | Q(
        submitted_at=review.submitted_at, asset_id__lt=review.asset_id
    )


def review_queue_position(*, review: AssetReview) -> tuple[int, int] | None:
    """Where a waiting asset stands in the queue, 1-based, and how many wait; None if it is not waiting."""
    if review.state != ReviewState.IN_REVIEW or review.submitted_at is None:
        return None
    counts = AssetReview.objects.filter(state=ReviewState.IN_REVIEW).aggregate(
        ahead=Count("pk", filter=_queued_before(review)), waiting=Count("pk")
    )
    return counts["ahead"] + 1, counts["waiting"]


def review_queue_next(*, after: AssetReview, skip_created_by=None) -> int | None:
    """The asset to review after this one: the next waiting one in queue order, else the first still waiting.

    ``after`` has usually just been decided and left the queue; its submitted_at still says where it stood.
    ``skip_created_by`` leaves out that user's own generations (which they may not decide).
    """
    waiting = (
        AssetReview.objects.filter(state=ReviewState.IN_REVIEW)
        .exclude(asset_id=after.asset_id)
        .order_by("submitted_at", "asset_id")
        .values_list("asset_id", flat=True)
    )
    if skip_created_by is not None:
        waiting = waiting.exclude(asset__created_by=skip_created_by)
    if after.submitted_at is not None:
        later = waiting.filter(
            Q(submitted_at__gt=after.submitted_at)
            | Q(submitted_at=after.submitted_at, asset_id__gt=after.asset_id)
        ).first()
        if later is not None:
            return later
    return waiting.first()


def review_state_of(*, asset: Asset) -> AssetReview | None:
    return AssetReview.objects.filter(asset=asset).select_related("flag_checked_by").first()


def review_history(*, asset: Asset) -> QuerySet[ReviewEvent]:
    """Every decision and moderation step on an asset, oldest first."""
    return ReviewEvent.objects.filter(asset=asset).select_related("actor")


def approved_asset_by_public_id(*, public_id: str) -> Asset | None:
    review = (
        AssetReview.objects.filter(public_id=public_id, state=ReviewState.APPROVED)
        .select_related("asset")
        .first()
    )
    return review.asset if review else None


def asset_is_approved_locked(*, asset_id: int) -> bool:
    """Whether the asset is approved now, locking its review row until the caller's transaction ends.

    Call it inside ``transaction.atomic()`` just before writing something that must not outlive approval: a
    revocation then waits for that write to commit (and purges what it wrote), or has already committed and
    this answers False.
    """
    return (
        AssetReview.objects.select_for_update()
        .filter(asset_id=asset_id, state=ReviewState.APPROVED)
        .values_list("pk", flat=True)
        .first()
        is not None
    )


def assets_with_state(
    *, viewer, only_own: bool = False, state: str | None = None, limit: int = 100
) -> QuerySet[AssetReview]:
    """Review rows of the assets ``viewer`` may see (see generation's ``assets_visible_to``), newest first."""
    reviews = AssetReview.objects.select_related("asset", "asset__request", "asset__created_by").order_by(
        "-asset__created_at"
    )
    if only_own or not generation_selectors.sees_everything(user=viewer):
        reviews = reviews.filter(asset__created_by=viewer)
    if state:
        reviews = reviews.filter(state=state)
    return reviews[:limit]


def latest_changes_request(*, asset: Asset) -> ReviewEvent | None:
    """The most recent "request changes" decision on an asset: what a revision of it has to answer."""
    return (
        ReviewEvent.objects.filter(
            asset=asset, kind=ReviewEvent.Kind.DECISION, to_state=ReviewState.CHANGES_REQUESTED
        )
        .select_related("actor")
        .order_by("-created_at", "-pk")
        .first()
    )
