"""Writes for review: every transition is a conditional update plus an immutable event."""

import re
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation.models import Asset
from generation.moderation import describe_flags
from review.models import AssetReview, ReviewEvent, ReviewState
from review.signals import asset_review_changed


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


def can_decide(*, actor: AbstractBaseUser, asset: Asset) -> bool:
    if not actor.has_perm("review.decide_assetreview"):
        return False
    return settings.STUDIO_ALLOW_SELF_APPROVAL or asset.created_by_id != actor.pk


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
    **changes,
) -> AssetReview:
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
        ReviewEvent.objects.create(
            asset=asset,
            actor=actor,
            kind=ReviewEvent.Kind.DECISION,
            from_state=from_state,
            to_state=to_state,
            comment=comment.strip(),
            details=details or {},
        )
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
    *, asset: Asset, actor: AbstractBaseUser, decision: str, comment: str = ""
) -> AssetReview:
    if decision not in DECISIONS:
        raise ReviewError(f"Unknown decision {decision!r}.")
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError("Only reviewers can approve, reject or request changes.")
    if not can_decide(actor=actor, asset=asset):
        raise ReviewPermissionError(
            "You cannot review an image you generated yourself; ask another reviewer."
        )
    to_state = DECISIONS[decision]
    if to_state in (ReviewState.CHANGES_REQUESTED, ReviewState.REJECTED) and not comment.strip():
        raise ReviewCommentRequiredError("Say what should change (or why it is rejected) in the comment.")
    changes: dict = {"decided_at": timezone.now()}
    if to_state == ReviewState.APPROVED:
        review = asset_review_ensure(asset=asset)
        _refuse_unchecked_flag(asset=asset, review=review)
        if review.public_id is None:
            changes["public_id"] = _public_id_for(asset)
    try:
        return _transition(
            asset=asset,
            actor=actor,
            from_states=(ReviewState.IN_REVIEW,),
            to_state=to_state,
            comment=comment,
            **changes,
        )
    except IntegrityError as error:  # a public id collision: 32 random bits make this vanishingly rare
        raise ReviewConflictError("Could not assign a public id; try again.") from error


def asset_review_mark_checked_safe(*, asset: Asset, actor: AbstractBaseUser, comment: str) -> AssetReview:
    """A reviewer vouches for a flagged asset in review ("checked, safe"), so that it may be approved.

    Recorded once: a conditional update claims the check, and an immutable event names who and why.
    """
    if not actor.has_perm("review.decide_assetreview"):
        raise ReviewPermissionError("Only reviewers can mark a flagged image checked, safe.")
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
    if not comment.strip():
        raise ReviewCommentRequiredError("Say why the approval is revoked.")
    return _transition(
        asset=asset,
        actor=actor,
        from_states=(ReviewState.APPROVED,),
        to_state=ReviewState.REVOKED,
        comment=comment,
        decided_at=timezone.now(),
    )


def asset_review_approve_import(
    *, asset: Asset, actor: AbstractBaseUser, public_id: str | None = None
) -> AssetReview:
    """Approve an imported image in the importer's name (``import_images --approve``).

    Unlike ``asset_review_decide`` the importer may approve their own upload: the four-eyes rule is about
    generated images, and an operator importing with --approve vouches for a library approved before
    Studio. Both steps are still recorded events that name them.
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
        return _transition(
            asset=asset,
            actor=actor,
            from_states=(ReviewState.IN_REVIEW,),
            to_state=ReviewState.APPROVED,
            comment="Approved on import (import_images --approve).",
            decided_at=timezone.now(),
            public_id=public_id or review.public_id or _public_id_for(asset),
        )
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
