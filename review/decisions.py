"""Moving an asset through review: submitting it, a reviewer's decision (approve, request changes, reject; one
asset or a batch from the queue), marking a flagged one checked, safe, revoking an approval, and approving on
import. Each is a ``transitions.transition``, so each is a conditional update plus an immutable event."""

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation import selectors as generation_selectors
from generation.models import Asset
from generation.moderation import describe_flags
from review import selectors, signoff
from review.errors import ReviewCommentRequiredError, ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview, ChecklistItem, ReviewEvent, ReviewState
from review.revisions import TakeOver, public_id_take_over, public_id_version_record, take_over_record
from review.transitions import asset_review_ensure, review_event_record, transition

DECISIONS: dict[str, str] = {
    "approve": ReviewState.APPROVED,
    "request_changes": ReviewState.CHANGES_REQUESTED,
    "reject": ReviewState.REJECTED,
}
SUBMITTABLE_FROM = (ReviewState.DRAFT, ReviewState.CHANGES_REQUESTED)
# A replaced version is still served at its versioned URL (v<n>) until it is revoked too.
REVOCABLE_FROM = (ReviewState.APPROVED, ReviewState.REPLACED)


class ReviewChecklistError(ReviewError):
    """An approval with checklist items left unticked."""


class CropsNotSeenError(ReviewError):
    """An approval before the reviewer saw the current crop of every destination channel."""


# --- Who may do what ---------------------------------------------------------------------------------------


def can_submit(*, actor: User, asset: Asset) -> bool:
    return actor.has_perm("review.submit_assetreview") and (
        asset.created_by_id == actor.pk or actor.has_perm("review.decide_assetreview")
    )


def can_decide(*, actor: User, asset: Asset) -> bool:
    if not actor.has_perm("review.decide_assetreview"):
        return False
    if not generation_selectors.in_review_scope(user=actor, asset=asset):
        return False
    return settings.STUDIO_ALLOW_SELF_APPROVAL or asset.created_by_id != actor.pk


def needs_flag_check(*, asset: Asset, review: AssetReview) -> bool:
    """A flagged asset that no reviewer has marked checked, safe yet: it cannot be approved."""
    return asset.is_flagged and review.flag_checked_at is None


def _refuse_other_team(*, actor: User, asset: Asset) -> None:
    """Reviewers decide on the teams they are assigned to review (studio/teams.py)."""
    if not generation_selectors.in_review_scope(user=actor, asset=asset):
        raise ReviewPermissionError(
            "You do not review this team's assets; ask an admin to assign you to the team."
        )


def _refuse_unchecked_flag(*, asset: Asset, review: AssetReview) -> None:
    # flag_checked_at only ever goes from empty to set, so reading it before the transition is safe: a stale
    # read can refuse an approval that was just allowed, never allow one that is not.
    if needs_flag_check(asset=asset, review=review):
        raise ReviewError(
            f"Flagged ({describe_flags(asset.flags) or 'no reason recorded'}): "
            "mark it checked, safe before approving."
        )


# --- Submitting --------------------------------------------------------------------------------------------


def _submit(*, asset: Asset, actor: User, comment: str) -> AssetReview:
    return transition(
        asset=asset,
        actor=actor,
        from_states=SUBMITTABLE_FROM,
        to_state=ReviewState.IN_REVIEW,
        comment=comment,
    )


def asset_review_submit(*, asset: Asset, actor: User, comment: str = "") -> AssetReview:
    if not can_submit(actor=actor, asset=asset):
        raise ReviewPermissionError("You cannot submit this asset for review.")
    return _submit(asset=asset, actor=actor, comment=comment)


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
            review = _submit(asset=asset, actor=asset.created_by, comment=_submitted_on(asset))
            if asset.is_flagged:
                review_event_record(
                    asset=asset,
                    actor=asset.created_by,
                    kind=ReviewEvent.Kind.FLAGGED,
                    state=review.state,
                    comment=describe_flags(asset.flags) or "Flagged.",
                )


# --- Deciding ----------------------------------------------------------------------------------------------

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


def _checklist_ticks(ticked: Sequence[int], *, require_all: bool) -> list[dict[str, Any]]:
    """The enabled checklist items with the labels they have now and whether each was ticked."""
    items = list(ChecklistItem.objects.filter(enabled=True))
    ticked_ids = set(ticked)
    if ticked_ids - {item.pk for item in items}:
        raise ReviewError("The checklist changed while you reviewed: reload the page and tick it again.")
    missing = [item.label for item in items if item.pk not in ticked_ids]
    if require_all and missing:
        raise ReviewChecklistError(f"Tick every checklist item before approving ({', '.join(missing)}).")
    return [{"id": item.pk, "label": item.label, "ticked": item.pk in ticked_ids} for item in items]


def _channel_crops_signed_off(*, asset: Asset, crops_seen: Sequence[str]) -> list[dict[str, Any]]:
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


def asset_review_decide(
    *,
    asset: Asset,
    actor: User,
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
    details: dict[str, Any] = {
        "checklist": _checklist_ticks(checklist, require_all=to_state == ReviewState.APPROVED),
    }
    changes: dict[str, Any] = {}
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
            taken: TakeOver | None = None
            if take_over:
                taken = public_id_take_over(revision=asset, actor=actor)
                changes["public_id"] = taken.public_id
                details["took_over"] = taken.record()
            review = transition(
                asset=asset,
                actor=actor,
                from_states=(ReviewState.IN_REVIEW,),
                to_state=to_state,
                comment=comment,
                details=details,
                thread_comment=True,
                **changes,
            )
            if taken is not None:
                take_over_record(revision=asset, actor=actor, take_over=taken)
            elif to_state == ReviewState.APPROVED and review.public_id:  # set: approved_has_public_id
                public_id_version_record(asset=asset, public_id=review.public_id)
            return review
    except IntegrityError as error:  # a public id collision: 50 random bits make this vanishingly rare
        raise ReviewConflictError("Could not assign a public id; try again.") from error


@dataclass
class BulkDecision:
    decided: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (asset id, why it was left as it was)


def asset_reviews_decide(
    *, actor: User, asset_ids: Sequence[int], decision: str, comment: str, checklist: Sequence[int]
) -> BulkDecision:
    """One decision for the assets selected in the queue, made and logged for each on its own: one refused
    (flagged and unchecked, the reviewer's own, decided meanwhile...) says why and leaves the others decided.
    The checklist is ticked once for the batch and recorded on each asset's decision; the queue shows no
    crops, so an asset with destination channels is approved on its own page."""
    outcome = BulkDecision()
    reviews = selectors.review_queue_pick(viewer=actor, asset_ids=list(asset_ids))
    for missing in sorted(set(asset_ids) - {review.asset_id for review in reviews}):
        outcome.refused.append((missing, "not waiting for a decision (anymore), or not yours to review."))
    for review in reviews:
        try:
            asset_review_decide(
                asset=review.asset, actor=actor, decision=decision, comment=comment, checklist=checklist
            )
            outcome.decided += 1
        except CropsNotSeenError as error:
            outcome.refused.append(
                (review.asset_id, f"{error} Open it to check its crops, then approve it there.")
            )
        except ReviewError as error:
            outcome.refused.append((review.asset_id, str(error)))
    return outcome


# --- Moderation, revoking, importing -----------------------------------------------------------------------


def asset_review_mark_checked_safe(*, asset: Asset, actor: User, comment: str) -> AssetReview:
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
            if review.flag_checked_at is not None and review.flag_checked_by is not None:
                raise ReviewConflictError(
                    f"{review.flag_checked_by.get_username()} already marked it checked, safe "
                    f"({timezone.localtime(review.flag_checked_at):%Y-%m-%d %H:%M})."
                )
            raise ReviewConflictError(
                f"This asset is {review.get_state_display().lower()}: only an asset in review can be "
                "marked checked, safe."
            )
        review_event_record(
            asset=asset,
            actor=actor,
            kind=ReviewEvent.Kind.CHECKED_SAFE,
            state=ReviewState.IN_REVIEW,
            comment=comment.strip(),
        )
        review.refresh_from_db()
    return review


def asset_review_revoke(*, asset: Asset, actor: User, comment: str) -> AssetReview:
    if not actor.has_perm("review.revoke_assetreview"):
        raise ReviewPermissionError("Only reviewers can revoke an approval.")
    _refuse_other_team(actor=actor, asset=asset)
    if not comment.strip():
        raise ReviewCommentRequiredError("Say why the approval is revoked.")
    return transition(
        asset=asset,
        actor=actor,
        from_states=REVOCABLE_FROM,
        to_state=ReviewState.REVOKED,
        comment=comment,
    )


def asset_review_approve_import(*, asset: Asset, actor: User, public_id: str | None = None) -> AssetReview:
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
    public_id = public_id or review.public_id or _public_id_for(asset)
    try:
        with transaction.atomic():
            review = transition(
                asset=asset,
                actor=actor,
                from_states=(ReviewState.IN_REVIEW,),
                to_state=ReviewState.APPROVED,
                comment="Approved on import (import_images --approve).",
                public_id=public_id,
            )
            public_id_version_record(asset=asset, public_id=public_id)
            return review
    except IntegrityError as error:
        raise ReviewConflictError(f"The public id {public_id!r} is already taken.") from error
