import logging

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from delivery import selectors
from delivery.models import NamedPreset
from delivery.responsive import picture_html
from delivery.transformations import TransformationError
from delivery.urls_builder import variant_url
from generation.models import Asset
from review.models import AssetReview, ReviewState

logger = logging.getLogger(__name__)


def embed_panel(request: HttpRequest, asset: Asset, review: AssetReview) -> SafeString | None:
    """Copy-ready responsive snippets and live previews of every channel preset, for approved assets only.

    A preset that cannot be served (written around the admin's validation) is left out with a warning in
    the log and a note for staff, so one bad row never takes the asset page down.
    """
    if review.state != ReviewState.APPROVED or not review.public_id:
        return None
    named = selectors.named_presets()
    # One mapping for every URL below instead of a query per URL.
    presets = {preset.name: preset.transformation for preset in named}
    items, skipped = [], []
    for preset in named:
        reason = " ".join(preset.problems().values())
        if not reason:
            try:
                items.append(_embed_item(request, asset, review.public_id, preset, presets))
            except TransformationError as error:
                reason = str(error)
        if reason:
            logger.warning("Embed panel: skipping named preset %r: %s", preset.name, reason)
            skipped.append({"preset": preset, "reason": reason})
    user = getattr(request, "user", None)
    context = {
        "asset": asset,
        "review": review,
        "presets": items,
        "skipped": skipped if user is not None and user.is_staff else [],
    }
    return render_to_string("delivery/embed_panel.html", context, request=request)


def _embed_item(
    request: HttpRequest, asset: Asset, public_id: str, preset: NamedPreset, presets: dict[str, str]
) -> dict:
    return {
        "preset": preset,
        "preview_url": variant_url(public_id, f"t_{preset.name}", ext="jpg", presets=presets),
        "url": variant_url(public_id, f"t_{preset.name}", ext="jpg", request=request, presets=presets),
        # Absolute URLs: the snippet is pasted into other sites.
        "snippet": picture_html(
            public_id=public_id,
            preset=preset,
            source_size=(asset.width, asset.height),
            alt=asset.alt_text or asset.title,
            request=request,
            presets=presets,
        ),
    }
