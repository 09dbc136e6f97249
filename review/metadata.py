"""Editing an asset's metadata and usage rights, on the record.

Every edit that changes something is an immutable "edited" review event whose details hold each changed
field's old and new value (``{"changes": {field: [old, new]}}``), so the history says who changed what.
Its creator may edit while the asset is a draft or sent back (before submitting); a reviewer at any time.
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from generation.channels import channel_choices
from generation.models import Asset
from review.decisions import SUBMITTABLE_FROM
from review.edits import asset_edit_record
from review.errors import ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview
from review.transitions import asset_review_ensure

# Field name -> label, in the order forms and the history show them.
EDITABLE_FIELDS: dict[str, str] = {
    "title": "Title",
    "alt_text": "Alt text",
    "campaign": "Campaign",
    "product": "Product",
    "channels": "Destination channels",
    "rights_source": "Rights source",
    "licensor": "Licensor",
    "licence_reference": "Licence reference",
    "territory": "Territory",
    "go_live_at": "Go-live",
    "expires_at": "Expires",
    "usage_rights": "Rights notes",
}
_TEXT_FIELDS = ("title", "alt_text", "campaign", "product", "licensor", "licence_reference", "territory")
_DATETIME_FIELDS = ("go_live_at", "expires_at")


class MetadataInvalidError(ReviewError):
    """The edit breaks a rule; ``problems`` maps each field to what is wrong with it. Nothing was saved."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def metadata_problems(values: dict[str, Any], *, channel_names: set[str] | None = None) -> dict[str, str]:
    """What is wrong with a full set of metadata values, by field; empty when nothing is.

    The one place these rules are written: the edit form shows them beside its fields, the service refuses
    an edit that breaks them, and the database's check constraints back the last two.
    """
    problems: dict[str, str] = {}
    if channel_names is None:
        channel_names = {name for name, _label in channel_choices()}
    unknown = [name for name in values.get("channels") or [] if name not in channel_names]
    if unknown:
        problems["channels"] = (
            f"Not a channel preset: {', '.join(unknown)}. Choose from the presets admins keep."
        )
    if values.get("rights_source") not in Asset.RightsSource.values:
        problems["rights_source"] = "Choose generated, owned, licensed or editorial."
    if values.get("rights_source") == Asset.RightsSource.LICENSED and not values.get("licensor"):
        problems["licensor"] = "A licensed image needs its licensor: say who licensed it to you."
    go_live, expires = values.get("go_live_at"), values.get("expires_at")
    if go_live is not None and expires is not None and expires <= go_live:
        problems["expires_at"] = "The expiry must come after the go-live."
    return problems


def can_edit_metadata(*, actor: User, asset: Asset, state: str) -> bool:
    """A reviewer at any time; the creator while the asset is a draft or sent back (before submitting)."""
    if actor.has_perm("review.decide_assetreview"):
        return True
    return (
        asset.created_by_id == actor.pk
        and state in SUBMITTABLE_FROM
        and actor.has_perm("review.submit_assetreview")
    )


def metadata_values(asset: Asset) -> dict[str, Any]:
    return {name: getattr(asset, name) for name in EDITABLE_FIELDS}


def _normalised(name: str, value: Any) -> Any:
    if name in _TEXT_FIELDS or name in ("usage_rights", "rights_source"):
        return (value or "").strip()
    if name == "channels":
        # Order-insensitive and without repeats, so ticking the same boxes again records nothing.
        return sorted({str(item).strip() for item in value or [] if str(item).strip()})
    return value


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def asset_metadata_update(*, asset: Asset, actor: User, changes: dict[str, Any]) -> dict[str, list[Any]]:
    """Write ``changes`` (a subset of EDITABLE_FIELDS) and record them; returns what changed, as the event's
    ``{field: [old, new]}`` (empty, and no event, when nothing did).

    Raises ``ReviewPermissionError`` (not this actor, or not in this state), ``MetadataInvalidError`` and,
    when the asset left the state that allowed the edit a moment ago, ``ReviewConflictError``.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}.")
    # Assets from before review existed have no row yet: they are drafts.
    review = AssetReview.objects.filter(asset=asset).first() or AssetReview(asset=asset)
    if not can_edit_metadata(actor=actor, asset=asset, state=review.state):
        raise ReviewPermissionError(refusal(review))
    new_values = {name: _normalised(name, value) for name, value in changes.items()}
    with transaction.atomic():
        asset_review_ensure(asset=asset)
        # The review row locked, so a submit cannot slip between the check and the write.
        review = AssetReview.objects.select_for_update().get(asset=asset)
        if not can_edit_metadata(actor=actor, asset=asset, state=review.state):
            raise ReviewConflictError(
                "Someone submitted this asset a moment ago; only a reviewer can edit it now."
            )
        current = Asset.objects.select_for_update().get(pk=asset.pk)
        before = {name: _normalised(name, value) for name, value in metadata_values(current).items()}
        problems = metadata_problems({**before, **new_values})
        # A stored channel whose preset was deleted since does not block an edit that keeps it untouched.
        if "channels" not in changes:
            problems.pop("channels", None)
        if problems:
            raise MetadataInvalidError(problems)
        diff = {
            name: [json_safe(before[name]), json_safe(value)]
            for name, value in new_values.items()
            if value != before[name]
        }
        if not diff:
            return {}
        for name in diff:
            setattr(current, name, new_values[name])
        current.save(update_fields=list(diff))
        asset_edit_record(asset=current, actor=actor, state=review.state, changes=diff)
    for name in diff:
        setattr(asset, name, new_values[name])
    return diff


def refusal(review: AssetReview) -> str:
    """Why this user may not edit the metadata of an asset in this state."""
    if review.state in SUBMITTABLE_FROM:
        return "Only the asset's creator or a reviewer can edit its metadata."
    return (
        f"This asset is {review.get_state_display().lower()}: its creator can edit it only before "
        "submitting; a reviewer can edit it at any time."
    )
