"""Reads for review, and the only way delivery reads review state."""

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.channels import channel_choices
from generation.models import Asset
from review.models import AssetReview, ChecklistItem, Comment, PublicIdVersion, ReviewEvent, ReviewState


@dataclass(frozen=True)
class QueueFilters:
    """What the review queue is narrowed to. The defaults are the whole queue: every asset waiting."""

    state: str = ReviewState.IN_REVIEW
    campaign: str = ""
    product: str = ""
    channel: str = ""  # a destination channel: a delivery preset name, one of the asset's ``channels``
    model: str = ""  # the request's model_key
    creator: str = ""  # a username
    submitted_from: date | None = None
    submitted_to: date | None = None  # inclusive
    q: str = ""  # words, each found in the prompt, the title or a comment
    flagged_only: bool = False

    def waiting(self) -> "QueueFilters":
        """The same filters over the assets waiting for a decision: what the asset page walks through."""
        return replace(self, state=ReviewState.IN_REVIEW)


ALL_WAITING = QueueFilters()
SEARCH_TERMS_MAX = 6


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _search(term: str) -> Q:
    """One word, in the title, the prompt, a decision's comment or a comment on the thread (of an asset)."""
    # One list of the assets the word is found for (IN a UNION), each field searched once on its own table,
    # not once per asset (a correlated EXISTS, or ORs across a join): several times faster over 10,000
    # assets on SQLite, and on PostgreSQL each part reads a trigram index of UPPER(field), the expression
    # icontains filters on (review migration 0008), and the planner can size the list.
    titled = Asset.objects.filter(title__icontains=term).order_by().values("pk")
    prompted = Asset.objects.filter(request__prompt__icontains=term).order_by().values("pk")
    commented = ReviewEvent.objects.filter(comment__icontains=term).order_by().values("asset_id")
    discussed = Comment.objects.filter(body__icontains=term).order_by().values("asset_id")
    return Q(pk__in=titled.union(prompted, commented, discussed))


def _matching_assets(*, viewer, filters: QueueFilters) -> QuerySet[Asset]:
    """The assets ``viewer`` reviews that every filter on the asset itself lets through."""
    # Whose work a reviewer reviews is decided in one place (generation's assets_reviewable_by: their teams).
    assets = generation_selectors.assets_reviewable_by(user=viewer)
    if filters.flagged_only:
        assets = assets.filter(is_flagged=True)
    if filters.campaign:
        assets = assets.filter(campaign__iexact=filters.campaign)
    if filters.product:
        assets = assets.filter(product__iexact=filters.product)
    if filters.channel:
        # Membership of a JSON list, the same on SQLite and PostgreSQL: the name with its JSON quotes, in the
        # list's text. Channel names are preset slugs, so they need no JSON escaping and match whole.
        assets = assets.filter(channels__icontains=json.dumps(filters.channel))
    if filters.model:
        assets = assets.filter(request__model_key=filters.model)
    if filters.creator:
        assets = assets.filter(created_by__username=filters.creator)
    for term in filters.q.split()[:SEARCH_TERMS_MAX]:
        assets = assets.filter(_search(term))
    return assets


def _queue_reviews(*, viewer, filters: QueueFilters, few: bool = True) -> QuerySet[AssetReview]:
    """Review rows of the assets ``viewer`` reviews, narrowed by every filter but the state.

    Two shapes of the same rows, for the planner. ``few``: the matching assets are listed once (IN) and
    their reviews looked up: best to count, and to list a page of a few matches. Otherwise each row of the
    queue's index, walked in order, is checked against its asset (EXISTS) until a page is full: best to
    list a page of many matches, which sorting them all would cost.
    """
    assets = _matching_assets(viewer=viewer, filters=filters)
    if few:
        reviews = AssetReview.objects.filter(asset__in=assets.values("pk"))
    else:
        reviews = AssetReview.objects.filter(Exists(assets.filter(pk=OuterRef("asset_id"))))
    if filters.submitted_from:
        reviews = reviews.filter(submitted_at__gte=_start_of(filters.submitted_from))
    if filters.submitted_to:
        reviews = reviews.filter(submitted_at__lt=_start_of(filters.submitted_to + timedelta(days=1)))
    return reviews


def _queue_order(state: str) -> tuple[str, ...]:
    # Waiting assets oldest submission first (fair, and the order the asset page walks); the other states
    # newest submission first. Both read the review_queue_order index (state, submitted_at, asset) in order.
    if state == ReviewState.IN_REVIEW:
        return ("submitted_at", "asset_id")
    return ("-submitted_at", "-asset_id")


def review_queue(*, viewer, filters: QueueFilters = ALL_WAITING, few: bool = False) -> QuerySet[AssetReview]:
    """The queue as ``viewer`` sees it under ``filters``: assets waiting for a decision, oldest first.

    ``few``: the caller knows few rows match (see ``_queue_reviews``); the rows are the same either way.
    """
    return (
        _queue_reviews(viewer=viewer, filters=filters, few=few)
        .filter(state=filters.state)
        .select_related("asset", "asset__request", "asset__created_by")
        .order_by(*_queue_order(filters.state))
    )


def review_queue_counts(*, viewer, filters: QueueFilters = ALL_WAITING) -> dict[str, int]:
    """How many assets each state holds under the other filters (one query).

    Keyed by state; ``waiting`` is the in-review count, ``flagged`` the flagged ones in the chosen state.
    """
    everything = replace(filters, flagged_only=False)
    # The rows counted already match every other filter: the flagged ones are those among them.
    flagged = Asset.objects.filter(is_flagged=True).values("pk")
    counts = {state: Count("pk", filter=Q(state=state)) for state in ReviewState.values}
    counts["flagged"] = Count("pk", filter=Q(state=filters.state, asset__in=flagged))
    result = _queue_reviews(viewer=viewer, filters=everything).aggregate(**counts)
    result["waiting"] = result[ReviewState.IN_REVIEW]
    return result


QUEUE_ROW_FIELDS = (
    "state",
    "submitted_at",
    "asset__title",
    "asset__campaign",
    "asset__product",
    "asset__channels",
    "asset__is_flagged",
    "asset__width",
    "asset__height",
    "asset__request__prompt",
    "asset__request__model_key",
    "asset__created_by__username",
)


@dataclass(frozen=True)
class QueuePage:
    reviews: list[AssetReview]
    counts: dict[str, int]
    number: int
    pages: int
    total: int
    per_page: int

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.reviews else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.reviews)


def review_queue_page(*, viewer, filters: QueueFilters, page: int = 1, per_page: int = 50) -> QueuePage:
    """One page of the queue and the counts per state, in two queries whatever the page size.

    The counts give the total, so no separate COUNT; a page past the end shows the last one.
    """
    counts = review_queue_counts(viewer=viewer, filters=filters)
    total = counts["flagged"] if filters.flagged_only else counts[filters.state]
    pages = max(1, -(-total // per_page))
    number = min(max(page, 1), pages)
    offset = (number - 1) * per_page
    # Walking the index in order reads about (offset + per_page) * (rows in the state / matches) rows; listing
    # the matches reads every asset once. Measured over 10,000 waiting assets, the walk wins while the
    # matches are at least twice the rows up to this page's end.
    few = total < 2 * (offset + per_page)
    # Only the columns a row shows: the asset and its request have some fifty columns each, and building
    # them all is most of a page's time.
    rows = review_queue(viewer=viewer, filters=filters, few=few).only(*QUEUE_ROW_FIELDS)
    reviews = list(rows[offset : offset + per_page])
    return QueuePage(
        reviews=reviews, counts=counts, number=number, pages=pages, total=total, per_page=per_page
    )


def review_queue_suggestions(*, viewer, limit: int = 200) -> dict[str, list[str]]:
    """Values the queue's filter fields offer: campaigns, products and creators of the assets ``viewer``
    reviews, and the destination channels (delivery's presets)."""
    visible = generation_selectors.assets_reviewable_by(user=viewer).order_by()

    def distinct(field: str) -> list[str]:
        values = visible.exclude(**{field: ""}).values_list(field, flat=True).distinct().order_by(field)
        return list(values[:limit])

    # Users who made any of them: an indexed lookup per user, cheaper than a DISTINCT over every asset.
    creators = (
        get_user_model()
        .objects.filter(Exists(visible.filter(created_by=OuterRef("pk"))))
        .order_by("username")
        .values_list("username", flat=True)
    )
    return {
        "campaign": distinct("campaign"),
        "product": distinct("product"),
        "creator": list(creators[:limit]),
        "channel": [name for name, _label in sorted(channel_choices())][:limit],
    }


def _queued_before(review: AssetReview) -> Q:
    """Queue order is (submitted_at, asset_id), as in review_queue."""
    return Q(submitted_at__lt=review.submitted_at) | Q(
        submitted_at=review.submitted_at, asset_id__lt=review.asset_id
    )


def review_queue_position(
    *, review: AssetReview, viewer, filters: QueueFilters = ALL_WAITING
) -> tuple[int, int] | None:
    """Where a waiting asset stands in the (filtered) queue, 1-based, and how many wait there; None if it is
    not waiting or the filters leave it out."""
    if review.state != ReviewState.IN_REVIEW or review.submitted_at is None:
        return None
    counts = (
        review_queue(viewer=viewer, filters=filters.waiting(), few=True)
        .order_by()
        .aggregate(
            ahead=Count("pk", filter=_queued_before(review)),
            waiting=Count("pk"),
            here=Count("pk", filter=Q(pk=review.pk)),
        )
    )
    if not counts["here"]:
        return None
    return counts["ahead"] + 1, counts["waiting"]


def review_queue_next(
    *, after: AssetReview, viewer, filters: QueueFilters = ALL_WAITING, skip_created_by=None
) -> int | None:
    """The asset to review after this one: the next waiting one in queue order, else the first still waiting,
    under the same filters as the queue it was opened from.

    ``after`` has usually just been decided and left the queue; its submitted_at still says where it stood.
    ``skip_created_by`` leaves out that user's own generations (which they may not decide).
    """
    waiting = (
        review_queue(viewer=viewer, filters=filters.waiting())
        .exclude(asset_id=after.asset_id)
        .select_related(None)
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


def review_queue_pick(*, viewer, asset_ids: list[int]) -> list[AssetReview]:
    """The waiting review rows among ``asset_ids`` that ``viewer`` may see, in the order given."""
    found = {review.asset_id: review for review in review_queue(viewer=viewer).filter(asset_id__in=asset_ids)}
    return [found[asset_id] for asset_id in asset_ids if asset_id in found]


def review_state_of(*, asset: Asset) -> AssetReview | None:
    return AssetReview.objects.filter(asset=asset).select_related("flag_checked_by").first()


def review_history(*, asset: Asset) -> QuerySet[ReviewEvent]:
    """Every decision and moderation step on an asset, oldest first."""
    return ReviewEvent.objects.filter(asset=asset).select_related("actor")


# The most a version number can be and still name a row (PositiveIntegerField fits in 31 bits everywhere).
MAX_VERSION = 2**31 - 1


def approved_asset_by_public_id(*, public_id: str, version: int | None = None) -> Asset | None:
    """The asset a delivery URL shows: the approved asset that holds ``public_id`` now; or, with the
    ``version`` of a URL's ``v<n>``, the asset that version names while it is approved or replaced (a
    replaced version keeps its versioned URLs; revoking it ends them). A version number the public id never
    had (Cloudinary's cache-busting timestamps, ``v1`` forced before folders) means the current one."""
    if version is not None and version <= MAX_VERSION:
        named = (
            PublicIdVersion.objects.filter(public_id=public_id, version=version)
            .select_related("asset__review")
            .first()
        )
        if named is not None:
            deliverable = named.asset.review.state in (ReviewState.APPROVED, ReviewState.REPLACED)
            return named.asset if deliverable else None
    review = (
        AssetReview.objects.filter(public_id=public_id, state=ReviewState.APPROVED)
        .select_related("asset")
        .first()
    )
    return review.asset if review else None


def asset_is_approved_locked(*, asset_id: int, or_replaced: bool = False) -> bool:
    """Whether the asset is approved now, locking its review row until the caller's transaction ends.

    Call it inside ``transaction.atomic()`` just before writing something that must not outlive approval: a
    revocation then waits for that write to commit (and purges what it wrote), or has already committed and
    this answers False. ``or_replaced``: a replaced version counts too (what a versioned URL shows).
    """
    states = (ReviewState.APPROVED, ReviewState.REPLACED) if or_replaced else (ReviewState.APPROVED,)
    return (
        AssetReview.objects.select_for_update()
        .filter(asset_id=asset_id, state__in=states)
        .values_list("pk", flat=True)
        .first()
        is not None
    )


def assets_with_state(
    *, viewer: User, only_own: bool = False, state: str | None = None, limit: int | None = 100
) -> QuerySet[AssetReview]:
    """Review rows of the assets ``viewer`` may see (see generation's ``assets_visible_to``), newest first,
    each with its asset's latest comment (``latest_comment``, ``latest_comment_by``); all of them when
    ``limit`` is None."""
    reviews = (
        AssetReview.objects.select_related("asset", "asset__request", "asset__created_by")
        .annotate(**generation_selectors.review_summary_annotations(asset_ref="asset_id"))
        .order_by("-asset__created_at")
    )
    if not generation_selectors.sees_everything(user=viewer):
        # Visible, not reviewable: this is everyone's asset list (a marketer's team's work), not the queue.
        reviews = reviews.filter(asset__in=generation_selectors.assets_visible_to(user=viewer).values("pk"))
    if only_own:
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


def change_request_answered(*, revision: Asset) -> ReviewEvent | None:
    """The change request a revision answers: the decision that stood on the version it revises when it was
    made, if that asked for changes. A new version of an approved asset answers none (nor does an earlier
    change request that was answered before that approval)."""
    if not revision.revision_of_id:
        return None
    standing = (
        ReviewEvent.objects.filter(
            asset_id=revision.revision_of_id,
            kind=ReviewEvent.Kind.DECISION,
            created_at__lte=revision.created_at,
        )
        .select_related("actor")
        .order_by("-created_at", "-pk")
        .first()
    )
    return standing if standing and standing.to_state == ReviewState.CHANGES_REQUESTED else None


def checklist_items() -> list[ChecklistItem]:
    """The checklist a reviewer ticks before approving, in the order admins gave it."""
    return list(ChecklistItem.objects.filter(enabled=True))


def comment_thread(*, asset: Asset) -> list[Comment]:
    """The asset's comments, oldest first: each top-level one with its replies (``thread_replies``) and,
    when pinned, its marker number on the image (``pin_number``, 1, 2... in posting order)."""
    comments = list(Comment.objects.filter(asset=asset).select_related("author", "event"))
    replies: dict[int, list[Comment]] = {}
    for comment in comments:
        if comment.parent_id is not None:
            replies.setdefault(comment.parent_id, []).append(comment)
    thread, number = [], 0
    for comment in comments:
        if comment.parent_id is not None:
            continue
        comment.thread_replies = replies.get(comment.pk, [])
        comment.pin_number = None
        if comment.is_pinned:
            number += 1
            comment.pin_number = number
        thread.append(comment)
    return thread


def comment_get(*, asset: Asset, comment_id: int) -> Comment | None:
    return Comment.objects.filter(asset=asset, pk=comment_id).first()


# How far up a chain of revisions to look for the approved version they replace.
MAX_REVISION_DEPTH = 50


def replaced_version(*, asset: Asset) -> Asset | None:
    """The approved asset a revision would replace: the nearest approved one up its ``revision_of`` chain
    (a revision of a revision that was sent back still replaces the approved original)."""
    current, seen = asset.revision_of, {asset.pk}
    while current is not None and current.pk not in seen and len(seen) <= MAX_REVISION_DEPTH:
        seen.add(current.pk)
        review = AssetReview.objects.filter(asset=current).only("state", "public_id").first()
        if review is not None and review.state == ReviewState.APPROVED and review.public_id:
            return current
        current = current.revision_of
    return None


def public_id_versions(*, asset: Asset) -> list[PublicIdVersion]:
    """Every version of the public id this asset holds or held, oldest first (empty if it never had one)."""
    own = PublicIdVersion.objects.filter(asset=asset).first()
    if own is None:
        return []
    return list(
        PublicIdVersion.objects.filter(public_id=own.public_id)
        .select_related("asset__review")
        .order_by("version")
    )


def public_id_of(*, asset: Asset) -> str | None:
    """The public id the asset is or was delivered under, even after a revision took it over."""
    review = AssetReview.objects.filter(asset=asset).only("public_id").first()
    if review is not None and review.public_id:
        return review.public_id
    return PublicIdVersion.objects.filter(asset=asset).values_list("public_id", flat=True).first()
