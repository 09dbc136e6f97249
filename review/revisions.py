"""Revisions and the versions of a public id: which assets may be revised, and a revision taking over the
public id of the approved version it replaces when a reviewer approves it (``decisions.asset_review_decide``
with ``take_over``). The revision itself is a refine (generation), linked by ``Asset.revision_of``."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User

from generation.models import Asset
from review.errors import ReviewConflictError
from review.models import AssetReview, PublicIdVersion, ReviewEvent, ReviewState
from review.selectors import replaced_version
from review.transitions import review_event_record, transition

# Revise answers a change request, or makes a new version of an approved image that, once approved, may take
# over its public id (the approved original stays live until then).
REVISABLE_FROM = (ReviewState.CHANGES_REQUESTED, ReviewState.APPROVED)


def revision_refusal(review: AssetReview) -> str | None:
    """Why the asset under ``review`` cannot be revised now; None when it can."""
    if review.state in REVISABLE_FROM:
        return None
    return (
        f"Asset {review.asset_id} is {review.get_state_display().lower()}: only an approved asset or one a "
        "reviewer asked changes on can be revised."
    )


def public_id_version_record(*, asset: Asset, public_id: str, version: int | None = None) -> PublicIdVersion:
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

    def record(self) -> dict[str, Any]:
        """As the approval and the revision's "replaced" event keep it."""
        return {
            "public_id": self.public_id,
            "version": self.version,
            "replaced_asset": self.replaced_asset_id,
        }


def public_id_take_over(*, revision: Asset, actor: User) -> TakeOver:
    """Release the public id of the approved version ``revision`` replaces (approved -> replaced), so the
    revision can take it in the same transaction: the unique public id and ``approved_has_public_id`` hold
    at every statement. Call inside the revision's approval transaction, and ``take_over_record`` once the
    approval holds the public id."""
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
    old = public_id_version_record(asset=replaced, public_id=public_id)
    latest = PublicIdVersion.objects.filter(public_id=public_id).order_by("-version").first()
    version = max(old.version, latest.version if latest else 0) + 1
    transition(
        asset=replaced,
        actor=actor,
        from_states=(ReviewState.APPROVED,),
        to_state=ReviewState.REPLACED,
        comment=f"Replaced by asset {revision.pk}, which took over public id {public_id} as version "
        f"{version}; this one stays at version {old.version}.",
        details={"public_id": public_id, "version": old.version, "replaced_by": revision.pk},
        kind=ReviewEvent.Kind.REPLACED,
        public_id=None,
    )
    return TakeOver(public_id=public_id, version=version, replaced_asset_id=replaced.pk)


def take_over_record(*, revision: Asset, actor: User, take_over: TakeOver) -> None:
    """The revision's side of a takeover, in its approval's transaction: its version row and its "replaced"
    event."""
    public_id_version_record(asset=revision, public_id=take_over.public_id, version=take_over.version)
    review_event_record(
        asset=revision,
        actor=actor,
        kind=ReviewEvent.Kind.REPLACED,
        state=ReviewState.APPROVED,
        comment=f"Took over public id {take_over.public_id} from asset {take_over.replaced_asset_id} "
        f"as version {take_over.version}.",
        details=take_over.record(),
    )
