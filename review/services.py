"""Writes for review: every transition is a conditional update plus an immutable event."""

import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.models import Asset
from generation.moderation import describe_flags
from review import signoff
from review.models import AssetReview, ChecklistItem, Comment, PublicIdVersion, ReviewEvent, ReviewState
from review.selectors import replaced_version
from review.signals import asset_focal_point_changed, asset_review_changed, comment_posted


class ReviewError(Exception):
    """A transition that is not allowed; the message is shown to the user."""


class ReviewPermissionError(ReviewError):
    """The actor may not make this transition (a 403, not a form error)."""


class ReviewConflictError(ReviewError):
    """Someone else changed the asset first (a double click, two reviewers at once)."""


class ReviewCommentRequiredError(ReviewError):
    """The transition needs a comment saying why, and none was given."""


DECISIONS: dict[str, str] = {
    "approve": ReviewState.APPROVED,
    "request_changes": ReviewState.CHANGES_REQUESTED,
    "reject": ReviewState.REJECTED,
}
SUBMITTABLE_FROM = (ReviewState.DRAFT, ReviewState.CHANGES_REQUESTED)
# A replaced version is still served at its versioned URL (v<n>) until it is revoked too.
REVOCABLE_FROM = (ReviewState.APPROVED, ReviewState.REPLACED)
# Revise answers a change request, or makes a new version of an approved image that, once approved, may take
# over its public id (the approved original stays live until then).
REVISABLE_FROM = (ReviewState.CHANGES_REQUESTED, ReviewState.APPROVED)


def can_decide(*, actor: AbstractBaseUser, asset: Asset) -> bool:
    if not actor.has_perm("review.decide_assetreview"):
        return False
    if not generation_selectors.in_review_scope(user=actor, asset=asset):
        return False
    return settings.STUDIO_ALLOW_SELF_APPROVAL or asset.created_by_id != actor.pk


def _refuse_other_team(*, actor: AbstractBaseUser, asset: Asset) -> None:
    """Reviewers decide on the teams they are assigned to review (studio/teams.py)."""
    if not generation_selectors.in_review_scope(user=actor, asset=asset):
        raise ReviewPermissionError(
            "You do not review this team's assets; ask an admin to assign you to the team."
        )


def can_submit(*, actor: AbstractBaseUser, asset: Asset) -> bool:
    return actor.has_perm("review.submit_assetreview") and (
        asset.created_by_id == actor.pk or actor.has_perm("review.decide_assetreview")
    )


def needs_flag_check(*, asset: Asset, review: AssetReview) -> bool:
    """A flagged asset that no reviewer has marked checked, safe yet: it cannot be approved."""
    return asset.is_flagged and review.flag_checked_at is None


def _refuse_unchecked_flag(*, asset: Asset, review: AssetReview) -> None:
    # flag_checked_at only ever goes from empty to set, so reading it before the transition is safe: a stale
    # read can refuse an approval that was just allowed, never allow one that is not.
    if needs_flag_check(asset=asset, review=review):
        raise ReviewError(
            f"Flagged ({describe_flags(asset.flags) or 'no reason recorded'}): "
            "mark it checked, safe before approving."
        )


def asset_edit_record(
    *, asset: Asset, actor: AbstractBaseUser, state: str, changes: dict[str, list], comment: str = ""
) -> ReviewEvent:
    """The "edited" event an edit leaves in the asset's history: ``changes`` maps each field to [old, new]
    (JSON-safe). Call it inside the edit's transaction; the state stays as it is."""
    return ReviewEvent.objects.create(
        asset=asset,
        actor=actor,
        kind=ReviewEvent.Kind.EDITED,
        from_state=state,
        to_state=state,
        comment=comment,
        details={"changes": changes},
    )


def asset_review_ensure(*, asset: Asset) -> AssetReview:
    review, _ = AssetReview.objects.get_or_create(asset=asset)
    return review


def _transition(
    *,
    asset: Asset,
    actor: AbstractBaseUser,
    from_states: tuple[str, ...],
    to_state: str,
    comment: str,
    details: dict | None = None,
    kind: str = ReviewEvent.Kind.DECISION,
    thread_comment: bool = False,
    **changes,
) -> AssetReview:
    """``thread_comment``: the comment also goes into the asset's thread, linked to the event (a reviewer's
    decision, which the marketer answers there)."""
    with transaction.atomic():
        review = asset_review_ensure(asset=asset)
        from_state = review.state
        if from_state not in from_states:
            raise ReviewConflictError(
                f"This asset is {review.get_state_display().lower()}; it cannot become "
                f"{ReviewState(to_state).label.lower()} from there."
            )
        updated = AssetReview.objects.filter(asset=asset, state=from_state).update(
            state=to_state, updated_at=timezone.now(), **changes
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
            _comment_store(asset=asset, author=actor, body=event.comment, event=event)
        review.refresh_from_db()
        transaction.on_commit(
            lambda: asset_review_changed.send(
                sender=AssetReview, asset=asset, from_state=from_state, to_state=to_state
            )
        )
    return review


def asset_review_submit(*, asset: Asset, actor: AbstractBaseUser, comment: str = "") -> AssetReview:
    if not can_submit(actor=actor, asset=asset):
        raise ReviewPermissionError("You cannot submit this asset for review.")
    return _transition(
        asset=asset,
        actor=actor,
        from_states=SUBMITTABLE_FROM,
        to_state=ReviewState.IN_REVIEW,
        comment=comment,
        submitted_at=timezone.now(),
    )


# Public ids end in 10 random characters from this alphabet (50 bits): unguessable, and short in a URL.
_PUBLIC_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def _public_id_for(asset: Asset) -> str:
    """A public id that says nothing the team did not choose to publish: never the prompt.

    A name the team chose goes first (the product tag; for an imported or uploaded file, its file name),
    then a random slug.
    """
    chosen = asset.product
    if not chosen and asset.operation in (Asset.Operation.IMPORT, Asset.Operation.UPLOAD):
        chosen = asset.title
    words = re.sub(r"[^a-z0-9]+", "-", (chosen or "").lower()).strip("-")
    name = "-".join(words.split("-")[:6])[:40].strip("-")
    random_part = "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(10))
    return f"{name}-{random_part}" if name else random_part


def asset_review_decide(
    *,
    asset: Asset,
    actor: AbstractBaseUser,
    decision: str,
    comment: str = "",
    checklist: Sequence[int] = (),
    take_over: bool = False,
    crops_seen: Sequence[str] = (),
) -> AssetReview:
    """Approve, request changes or reject an asset in review. The comment joins the asset's thread.

    ``checklist``: the ids of the checklist items the reviewer ticked. Every caller (the asset page, the
    queue's bulk decisions, the API) shows the checklist, so an approval always needs every enabled item
    ticked (none enabled: nothing to tick); changes requested or a rejection keep whatever was ticked. Each
    decision event records the enabled items as they read now and whether each was ticked.
    ``take_over``: approving a revision, it takes over the public id of the approved version it replaces
    (``selectors.replaced_version``), which becomes "replaced": sites keep their URLs and get the revision.
    ``crops_seen``: the crops the reviewer was shown, as ``<channel>:<token>`` (``signoff.ChannelCrop``); an
    approval needs the current crop of every destination channel, and the event records them. A caller that
    shows no crops (the queue's bulk decisions) can approve only assets without destination channels.
    """
    if decision not in DECISIONS:
        raise ReviewError(f"Unknown decision {decision!r}.")
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError("Only reviewers can approve, reject or request changes.")
    _refuse_other_team(actor=actor, asset=asset)
    if not can_decide(actor=actor, asset=asset):
        raise ReviewPermissionError(
            "You cannot review an image you generated yourself; ask another reviewer."
        )
    to_state = DECISIONS[decision]
    if to_state in (ReviewState.CHANGES_REQUESTED, ReviewState.REJECTED) and not comment.strip():
        raise ReviewCommentRequiredError("Say what should change (or why it is rejected) in the comment.")
    if take_over and to_state != ReviewState.APPROVED:
        raise ReviewError("Only an approval can take over a public id.")
    details: dict = {
        "checklist": _checklist_ticks(checklist, require_all=to_state == ReviewState.APPROVED),
    }
    changes: dict = {"decided_at": timezone.now()}
    if to_state == ReviewState.APPROVED:
        review = asset_review_ensure(asset=asset)
        _refuse_unchecked_flag(asset=asset, review=review)
        crops = _channel_crops_signed_off(asset=asset, crops_seen=crops_seen)
        if crops:
            details["crops"] = crops
        if review.public_id is None and not take_over:
            changes["public_id"] = _public_id_for(asset)
    try:
        with transaction.atomic():
            if take_over:
                version = _public_id_take_over(revision=asset, actor=actor)
                changes["public_id"] = version.public_id
                details["took_over"] = {
                    "public_id": version.public_id,
                    "version": version.version,
                    "replaced_asset": version.replaced_asset_id,
                }
            review = _transition(
                asset=asset,
                actor=actor,
                from_states=(ReviewState.IN_REVIEW,),
                to_state=to_state,
                comment=comment,
                details=details,
                thread_comment=True,
                **changes,
            )
            if take_over:
                _public_id_version_record(asset=asset, public_id=review.public_id, version=version.version)
                ReviewEvent.objects.create(
                    asset=asset,
                    actor=actor,
                    kind=ReviewEvent.Kind.REPLACED,
                    from_state=review.state,
                    to_state=review.state,
                    comment=f"Took over public id {review.public_id} from asset {version.replaced_asset_id} "
                    f"as version {version.version}.",
                    details=details["took_over"],
                )
            elif to_state == ReviewState.APPROVED:
                _public_id_version_record(asset=asset, public_id=review.public_id)
            return review
    except IntegrityError as error:  # a public id collision: 32 random bits make this vanishingly rare
        raise ReviewConflictError("Could not assign a public id; try again.") from error


class CropsNotSeenError(ReviewError):
    """An approval before the reviewer saw the current crop of every destination channel."""


def _channel_crops_signed_off(*, asset: Asset, crops_seen: Sequence[str]) -> list[dict]:
    """The crops of the asset's destination channels, as the approval records them; refuses an approval
    while one of them is unseen (or was seen before it changed)."""
    crops = signoff.channel_crops(asset=asset)
    unseen = signoff.crops_unseen(crops=crops, crops_seen=crops_seen)
    broken = [crop.problem for crop in unseen if crop.problem]
    if broken:
        raise CropsNotSeenError(" ".join(broken) + " Change the asset's channels before approving.")
    if unseen:
        names = ", ".join(f"{crop.label} ({crop.channel})" for crop in unseen)
        raise CropsNotSeenError(
            "Look at the crop each channel will use before approving. "
            f"Not seen yet, or changed since: {names}."
        )
    return [crop.record() for crop in crops]


def asset_review_mark_checked_safe(*, asset: Asset, actor: AbstractBaseUser, comment: str) -> AssetReview:
    """A reviewer vouches for a flagged asset in review ("checked, safe"), so that it may be approved.

    Recorded once: a conditional update claims the check, and an immutable event names who and why.
    """
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError("Only reviewers can mark a flagged image checked, safe.")
    _refuse_other_team(actor=actor, asset=asset)
    if not can_decide(actor=actor, asset=asset):
        raise ReviewPermissionError("You cannot check an image you generated yourself; ask another reviewer.")
    if not asset.is_flagged:
        raise ReviewError("This asset is not flagged: there is nothing to check.")
    if not comment.strip():
        raise ReviewCommentRequiredError("Say what you checked in the comment.")
    with transaction.atomic():
        review = asset_review_ensure(asset=asset)
        now = timezone.now()
        updated = AssetReview.objects.filter(
            asset=asset, state=ReviewState.IN_REVIEW, flag_checked_at__isnull=True
        ).update(flag_checked_at=now, flag_checked_by=actor, updated_at=now)
        if updated != 1:
            review.refresh_from_db()
            if review.flag_checked_at is not None:
                raise ReviewConflictError(
                    f"{review.flag_checked_by.get_username()} already marked it checked, safe "
                    f"({timezone.localtime(review.flag_checked_at):%Y-%m-%d %H:%M})."
                )
            raise ReviewConflictError(
                f"This asset is {review.get_state_display().lower()}: only an asset in review can be "
                "marked checked, safe."
            )
        ReviewEvent.objects.create(
            asset=asset,
            actor=actor,
            kind=ReviewEvent.Kind.CHECKED_SAFE,
            from_state=ReviewState.IN_REVIEW,
            to_state=ReviewState.IN_REVIEW,
            comment=comment.strip(),
        )
        review.refresh_from_db()
    return review


def asset_review_revoke(*, asset: Asset, actor: AbstractBaseUser, comment: str) -> AssetReview:
    if not actor.has_perm("review.revoke_assetreview"):
        raise ReviewPermissionError("Only reviewers can revoke an approval.")
    _refuse_other_team(actor=actor, asset=asset)
    if not comment.strip():
        raise ReviewCommentRequiredError("Say why the approval is revoked.")
    return _transition(
        asset=asset,
        actor=actor,
        from_states=REVOCABLE_FROM,
        to_state=ReviewState.REVOKED,
        comment=comment,
        decided_at=timezone.now(),
    )


def asset_review_approve_import(
    *, asset: Asset, actor: AbstractBaseUser, public_id: str | None = None
) -> AssetReview:
    """Approve an imported image in the importer's name (``import_images --approve``).

    Unlike ``asset_review_decide`` the importer may approve their own upload and ticks no checklist: the
    four-eyes rule and the checklist are about a reviewer looking at each new image, and an operator
    importing with --approve vouches for a library approved before Studio, which nobody reviews here. Both
    steps are still recorded events that name them (the approval's records no checklist).
    """
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError("Only reviewers and admins can approve on import.")
    if asset.operation != Asset.Operation.IMPORT:
        raise ReviewError("Only imported images can be approved on import.")
    review = asset_review_ensure(asset=asset)
    _refuse_unchecked_flag(asset=asset, review=review)
    if review.state in SUBMITTABLE_FROM:
        asset_review_submit(asset=asset, actor=actor, comment="Imported.")
    try:
        with transaction.atomic():
            review = _transition(
                asset=asset,
                actor=actor,
                from_states=(ReviewState.IN_REVIEW,),
                to_state=ReviewState.APPROVED,
                comment="Approved on import (import_images --approve).",
                decided_at=timezone.now(),
                public_id=public_id or review.public_id or _public_id_for(asset),
            )
            _public_id_version_record(asset=asset, public_id=review.public_id)
            return review
    except IntegrityError as error:
        raise ReviewConflictError(f"The public id {public_id!r} is already taken.") from error


def _submitted_on(asset: Asset) -> str:
    if asset.operation == Asset.Operation.IMPORT:
        return "Submitted on import."
    if asset.operation == Asset.Operation.UPLOAD:
        return "Submitted on upload."
    if asset.revision_of_id:
        operation = asset.get_operation_display().lower()
        return f"Submitted as a revision of asset {asset.revision_of_id} ({operation})."
    if asset.parent_id:
        return f"Submitted on refine ({asset.get_operation_display().lower()} of asset {asset.parent_id})."
    return "Submitted on generation."


def asset_reviews_submit_new(*, assets: list[Asset]) -> None:
    """New images (generated, refined, uploaded or imported) go straight into the queue, submitted in their
    creator's name. A flagged one enters with a "flagged" event that says why."""
    for asset in assets:
        with transaction.atomic():
            asset_review_ensure(asset=asset)
            review = _transition(
                asset=asset,
                actor=asset.created_by,
                from_states=SUBMITTABLE_FROM,
                to_state=ReviewState.IN_REVIEW,
                comment=_submitted_on(asset),
                submitted_at=timezone.now(),
            )
            if asset.is_flagged:
                ReviewEvent.objects.create(
                    asset=asset,
                    actor=asset.created_by,
                    kind=ReviewEvent.Kind.FLAGGED,
                    from_state=review.state,
                    to_state=review.state,
                    comment=describe_flags(asset.flags) or "Flagged.",
                )


# --- Checklist, public id versions and comments ------------------------------------------------------------


def _checklist_ticks(ticked: Sequence[int], *, require_all: bool) -> list[dict]:
    """The enabled checklist items with the labels they have now and whether each was ticked."""
    items = list(ChecklistItem.objects.filter(enabled=True))
    ticked_ids = set(ticked)
    if ticked_ids - {item.pk for item in items}:
        raise ReviewError("The checklist changed while you reviewed: reload the page and tick it again.")
    missing = [item.label for item in items if item.pk not in ticked_ids]
    if require_all and missing:
        raise ReviewChecklistError(f"Tick every checklist item before approving ({', '.join(missing)}).")
    return [{"id": item.pk, "label": item.label, "ticked": item.pk in ticked_ids} for item in items]


class ReviewChecklistError(ReviewError):
    """An approval with checklist items left unticked."""


def _public_id_version_record(*, asset: Asset, public_id: str, version: int | None = None) -> PublicIdVersion:
    """The version row naming ``asset`` under ``public_id``: kept if it exists, else the next number.

    Two takeovers of one public id at once both ask for the same number; the unique (public_id, version)
    refuses the second, whose whole transaction rolls back.
    """
    existing = PublicIdVersion.objects.filter(asset=asset).first()
    if existing is not None:
        return existing
    if version is None:
        latest = PublicIdVersion.objects.filter(public_id=public_id).order_by("-version").first()
        version = latest.version + 1 if latest else 1
    return PublicIdVersion.objects.create(public_id=public_id, version=version, asset=asset)


@dataclass(frozen=True)
class TakeOver:
    public_id: str
    version: int  # the revision's version number
    replaced_asset_id: int


def _public_id_take_over(*, revision: Asset, actor: AbstractBaseUser) -> TakeOver:
    """Release the public id of the approved version ``revision`` replaces (approved -> replaced), so the
    revision can take it in the same transaction: the unique public id and ``approved_has_public_id`` hold
    at every statement. Call inside the revision's approval transaction."""
    replaced = replaced_version(asset=revision)
    if replaced is None:
        raise ReviewConflictError(
            "There is no approved version for this revision to take over (it was revoked or replaced); "
            "approve it without taking over, and it gets a public id of its own."
        )
    # Locked, then read: a second takeover of the same version waits here and then finds it replaced.
    public_id = (
        AssetReview.objects.select_for_update()
        .filter(asset=replaced, state=ReviewState.APPROVED)
        .values_list("public_id", flat=True)
        .first()
    )
    if public_id is None:
        raise ReviewConflictError(f"Asset {replaced.pk} was replaced or revoked a moment ago; reload.")
    old = _public_id_version_record(asset=replaced, public_id=public_id)
    latest = PublicIdVersion.objects.filter(public_id=public_id).order_by("-version").first()
    version = max(old.version, latest.version) + 1
    _transition(
        asset=replaced,
        actor=actor,
        from_states=(ReviewState.APPROVED,),
        to_state=ReviewState.REPLACED,
        comment=f"Replaced by asset {revision.pk}, which took over public id {public_id} as version "
        f"{version}; this one stays at version {old.version}.",
        details={"public_id": public_id, "version": old.version, "replaced_by": revision.pk},
        kind=ReviewEvent.Kind.REPLACED,
        public_id=None,
        decided_at=timezone.now(),
    )
    return TakeOver(public_id=public_id, version=version, replaced_asset_id=replaced.pk)


COMMENT_MAX_LENGTH = 2000


class CommentError(ReviewError):
    """A comment that cannot be posted as written; the message says why."""


def _comment_store(
    *,
    asset: Asset,
    author: AbstractBaseUser,
    body: str,
    parent: Comment | None = None,
    x: float | None = None,
    y: float | None = None,
    event: ReviewEvent | None = None,
) -> Comment:
    comment = Comment.objects.create(
        asset=asset, author=author, body=body, parent=parent, x=x, y=y, event=event
    )
    transaction.on_commit(lambda: comment_posted.send(sender=Comment, comment=comment))
    return comment


def comment_create(
    *,
    asset: Asset,
    author: AbstractBaseUser,
    body: str,
    parent: Comment | None = None,
    x: float | None = None,
    y: float | None = None,
) -> Comment:
    """A comment on an asset by someone who may see it: general, or pinned at (x, y) as fractions of the
    image's width and height, or a reply. Replies stay one level deep: a reply to a reply joins the thread
    of the comment it answers."""
    body = (body or "").strip()
    if not body:
        raise CommentError("Write something first: the comment is empty.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise CommentError(f"Keep a comment under {COMMENT_MAX_LENGTH} characters (it has {len(body)}).")
    if generation_selectors.asset_get_visible(user=author, asset_id=asset.pk) is None:
        raise ReviewPermissionError("You cannot comment on an asset you cannot see.")
    if (x is None) != (y is None):
        raise CommentError("A pin needs both a horizontal and a vertical position.")
    if x is not None and not all(math.isfinite(value) and 0 <= value <= 1 for value in (x, y)):
        raise CommentError("A pin must be inside the image.")
    if parent is not None:
        if parent.asset_id != asset.pk:
            raise CommentError("That comment is on another asset.")
        if x is not None:
            raise CommentError("A reply answers its comment's pin; it cannot have a pin of its own.")
        parent = parent.parent or parent
    with transaction.atomic():
        return _comment_store(asset=asset, author=author, body=body, parent=parent, x=x, y=y)


def can_set_focal_point(*, actor: AbstractBaseUser, asset: Asset, review: AssetReview | None) -> bool:
    """Reviewers (of the asset's team) may move an asset's focal point at any time; its creator until they
    submit it."""
    if actor.has_perm("review.decide_assetreview"):
        return generation_selectors.in_review_scope(user=actor, asset=asset)
    state = review.state if review is not None else ReviewState.DRAFT
    return asset.created_by_id == actor.pk and state in SUBMITTABLE_FROM


def _focal_value(name: str, value: float) -> float:
    rule = f"The focal point's {name} must be a number from 0 to 1 (a fraction of the image's " + (
        "width)" if name == "x" else "height)"
    )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReviewError(rule + ".")
    if not 0 <= value <= 1:
        raise ReviewError(f"{rule}, not {value}.")
    return round(float(value), 4)


def asset_focal_point_set(
    *, asset: Asset, actor: AbstractBaseUser, x: float | None, y: float | None
) -> tuple[float, float] | None:
    """Set the point crops centre on (x, y as fractions of the width and height), or clear it with both None.

    Delivery's ``g_auto`` and the channel presets that use it crop around it from then on: after the commit
    delivery forgets the crops made around the old point (``asset_focal_point_changed``). Recorded as an
    "edited" event. Returns the point now set.
    """
    if (x is None) != (y is None):
        raise ReviewError("Give both x and y of the focal point, or neither to clear it.")
    new = None if x is None or y is None else (_focal_value("x", x), _focal_value("y", y))
    review = AssetReview.objects.filter(asset=asset).first()
    if not can_set_focal_point(actor=actor, asset=asset, review=review):
        raise ReviewPermissionError(
            "Only a reviewer, or the asset's creator before submitting it, can set its focal point."
        )
    old = (asset.focal_x, asset.focal_y) if asset.focal_x is not None and asset.focal_y is not None else None
    if new == old:
        return old
    # Conditional on the point this actor saw, so two people moving it at once cannot both think they won.
    unchanged = {"focal_x__isnull": True} if asset.focal_x is None else {"focal_x": asset.focal_x}
    unchanged.update({"focal_y__isnull": True} if asset.focal_y is None else {"focal_y": asset.focal_y})
    with transaction.atomic():
        updated = Asset.objects.filter(pk=asset.pk, **unchanged).update(
            focal_x=new[0] if new else None, focal_y=new[1] if new else None
        )
        if updated != 1:
            raise ReviewConflictError("Someone else moved the focal point a moment ago; reload to see it.")
        review = asset_review_ensure(asset=asset)
        asset_edit_record(
            asset=asset,
            actor=actor,
            state=review.state,
            changes={"focal_point": [list(old) if old else None, list(new) if new else None]},
            comment=f"Focal point set to x {new[0]:g}, y {new[1]:g}." if new else "Focal point cleared.",
        )
        transaction.on_commit(lambda: asset_focal_point_changed.send(sender=Asset, asset=asset))
    asset.focal_x, asset.focal_y = new if new else (None, None)
    return new
