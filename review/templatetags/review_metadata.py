"""The asset page's metadata and usage-rights panel, and how an "edited" event's values read."""

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from generation.models import Asset
from review.metadata import EDITABLE_FIELDS, can_edit_metadata
from review.metadata_forms import AssetMetadataEditForm
from review.models import AssetReview
from review.rights import usage_window

register = template.Library()


@register.inclusion_tag("review/metadata_panel.html", takes_context=True)
def metadata_panel(context: template.Context) -> dict[str, Any]:
    asset: Asset = context["asset"]
    review: AssetReview = context["review"]
    request = context["request"]
    can_edit = can_edit_metadata(actor=request.user, asset=asset, state=review.state)
    return {
        "asset": asset,
        "review": review,
        "window": usage_window(asset=asset, at=timezone.now()),
        "can_edit": can_edit,
        "form": AssetMetadataEditForm.for_asset(asset) if can_edit else None,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def field_label(name: str) -> str:
    return EDITABLE_FIELDS.get(name, name.replace("_", " "))


@register.filter
def edited_value(value: Any) -> str:
    """An old or new value from an "edited" event's details, as a person reads it."""
    if value in (None, "", []):
        return "(empty)"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, str) and "T" in value:
        moment = parse_datetime(value)
        if moment is not None:
            return _moment(moment)
    return str(value)


def _moment(moment: datetime) -> str:
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return f"{moment:%Y-%m-%d %H:%M}"
