"""Reads for review, and the only way delivery reads review state."""

from django.db.models import QuerySet

from generation.models import Asset
from review.models import AssetReview, ReviewEvent, ReviewState


def review_queue(*, limit: int = 200) -> QuerySet[AssetReview]:
    """Assets waiting for a decision, oldest submission first."""
    return (
        AssetReview.objects.filter(state=ReviewState.IN_REVIEW)
        .select_related("asset", "asset__request", "asset__created_by")
        .order_by("submitted_at", "asset_id")[:limit]
    )


def review_state_of(*, asset: Asset) -> AssetReview | None:
    return AssetReview.objects.filter(asset=asset).first()


def review_history(*, asset: Asset) -> QuerySet[ReviewEvent]:
    return ReviewEvent.objects.filter(asset=asset).select_related("actor")


def approved_asset_by_public_id(*, public_id: str) -> Asset | None:
    review = (
        AssetReview.objects.filter(public_id=public_id, state=ReviewState.APPROVED)
        .select_related("asset")
        .first()
    )
    return review.asset if review else None


def assets_with_state(*, user=None, state: str | None = None, limit: int = 100) -> QuerySet[AssetReview]:
    reviews = AssetReview.objects.select_related("asset", "asset__request", "asset__created_by").order_by(
        "-asset__created_at"
    )
    if user is not None:
        reviews = reviews.filter(asset__created_by=user)
    if state:
        reviews = reviews.filter(state=state)
    return reviews[:limit]
