"""What a user may do with an asset now: the asset page shows these buttons and the API lists them as
``actions``. The services check the same rules again when asked to act."""

from dataclasses import dataclass

from django.contrib.auth.models import User

from generation.models import Asset
from review import decisions
from review.metadata import can_edit_metadata
from review.models import AssetReview, ReviewState
from review.revisions import REVISABLE_FROM


@dataclass(frozen=True)
class AssetActions:
    can_submit: bool
    can_decide: bool
    can_check_safe: bool
    can_revoke: bool
    can_refine: bool
    can_revise: bool
    can_edit_metadata: bool


def asset_actions(*, actor: User, asset: Asset, review: AssetReview) -> AssetActions:
    can_decide = review.state == ReviewState.IN_REVIEW and decisions.can_decide(actor=actor, asset=asset)
    can_refine = actor.has_perm("generation.add_generationrequest")
    return AssetActions(
        can_submit=review.state in decisions.SUBMITTABLE_FROM
        and decisions.can_submit(actor=actor, asset=asset),
        can_decide=can_decide,
        can_check_safe=can_decide and decisions.needs_flag_check(asset=asset, review=review),
        can_revoke=review.state in decisions.REVOCABLE_FROM and actor.has_perm("review.revoke_assetreview"),
        can_refine=can_refine,
        can_revise=can_refine and review.state in REVISABLE_FROM,
        can_edit_metadata=can_edit_metadata(actor=actor, asset=asset, state=review.state),
    )
