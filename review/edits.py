"""Edits to an asset that leave its review state as it is, on the record: each is an immutable "edited" event
whose details hold every changed field's old and new value. The focal point is edited here; metadata and
usage rights in metadata.py."""

import math
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from generation import selectors as generation_selectors
from generation.models import Asset
from review.decisions import SUBMITTABLE_FROM
from review.errors import ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview, ReviewEvent, ReviewState
from review.signals import asset_focal_point_changed
from review.transitions import asset_review_ensure, review_event_record


def asset_edit_record(
    *, asset: Asset, actor: User, state: str, changes: dict[str, list[Any]], comment: str = ""
) -> ReviewEvent:
    """The "edited" event an edit leaves in the asset's history: ``changes`` maps each field to [old, new]
    (JSON-safe). Call it inside the edit's transaction."""
    return review_event_record(
        asset=asset,
        actor=actor,
        kind=ReviewEvent.Kind.EDITED,
        state=state,
        comment=comment,
        details={"changes": changes},
    )


def can_set_focal_point(*, actor: User, asset: Asset, review: AssetReview | None) -> bool:
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
    *, asset: Asset, actor: User, x: float | None, y: float | None
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
    with transaction.atomic():
        # Conditional on the point this actor saw (None matches NULL), so two people moving it at once cannot
        # both think they won.
        updated = Asset.objects.filter(pk=asset.pk, focal_x=asset.focal_x, focal_y=asset.focal_y).update(
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
