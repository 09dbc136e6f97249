"""What needs a user's attention: the count on the navigation badge and the list it links to.

- Reviewers (and admins): the assets waiting in their queue that they may decide (the teams they review,
  not their own generations).
- Everyone else: their assets sent back with changes requested (until they answer with a revision), and
  their assets approved, rejected or revoked since they last opened the list (``outcomes_seen_at``).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.models import Asset
from review.models import AssetReview, ReviewState
from studio.models import NotificationPreference

OUTCOMES = (ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.REVOKED)
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Attention:
    count: int
    url: str
    label: str


def reviews_for_decision(*, user: User) -> bool:
    return user.has_perm("review.decide_assetreview")


def _waiting_for(user: User) -> QuerySet[AssetReview]:
    assets = generation_selectors.assets_reviewable_by(user=user)
    if not settings.STUDIO_ALLOW_SELF_APPROVAL:
        # In the assets' subquery, not as a join from the reviews: the count is then the queue index's rows
        # for the state (review_queue_order) matched once against the assets.
        assets = assets.exclude(created_by=user)
    return AssetReview.objects.filter(state=ReviewState.IN_REVIEW, asset__in=assets.values("pk"))


def _seen_at(user: User) -> Coalesce:
    """When ``user`` last opened their outcomes (never: the epoch), as a subquery: counting is one query."""
    return Coalesce(
        Subquery(NotificationPreference.objects.filter(user=user).values("outcomes_seen_at")[:1]),
        Value(_NEVER),
    )


def _is_new(user: User) -> Q:
    """An outcome that counts on the badge: changes requested and not yet answered, or decided since the
    user last looked."""
    answered = Exists(Asset.objects.filter(revision_of=OuterRef("asset_id")))
    needs_action = Q(state=ReviewState.CHANGES_REQUESTED) & Q(~answered)
    return needs_action | Q(state__in=OUTCOMES, decided_at__gt=_seen_at(user))


def _outcomes_of(user: User) -> QuerySet[AssetReview]:
    """The user's assets with a decision to hear about, each marked ``is_new``."""
    return (
        AssetReview.objects.filter(asset__created_by=user)
        .filter(Q(state=ReviewState.CHANGES_REQUESTED) | Q(state__in=OUTCOMES))
        .annotate(is_new=ExpressionWrapper(_is_new(user), output_field=BooleanField()))
    )


def attention_of(*, user: User) -> Attention:
    """The badge: how many items need ``user``, and where they are listed. One query."""
    if reviews_for_decision(user=user):
        count = _waiting_for(user).count()
        return Attention(count=count, url=reverse("review:queue"), label=f"{count} waiting for your review")
    count = _outcomes_of(user).filter(_is_new(user)).count()
    return Attention(count=count, url=reverse("attention"), label=f"{count} review outcomes for you")


def outcomes_list(*, user: User, limit: int = 100) -> QuerySet[AssetReview]:
    """The user's review outcomes, those needing them first, then newest decision first; with each asset's
    latest comment."""
    return (
        _outcomes_of(user)
        .select_related("asset", "asset__created_by")
        .annotate(**generation_selectors.review_summary_annotations(asset_ref="asset_id"))
        .order_by("-is_new", "-decided_at", "-asset_id")[:limit]
    )


def outcomes_mark_seen(*, user: User) -> None:
    """The user has seen their outcomes: approvals and rejections so far stop counting as new."""
    NotificationPreference.objects.update_or_create(user=user, defaults={"outcomes_seen_at": timezone.now()})
