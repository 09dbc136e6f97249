from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from delivery.models import NamedPreset
from delivery.templatetags.delivery_tags import picture_html
from delivery.urls_builder import variant_url
from generation.models import Asset
from review.models import AssetReview, ReviewState


def embed_panel(request: HttpRequest, asset: Asset, review: AssetReview) -> SafeString | None:
    """Copy-ready responsive snippets and live previews of every channel preset, for approved assets only."""
    if review.state != ReviewState.APPROVED or not review.public_id:
        return None
    named = list(NamedPreset.objects.all())
    # One mapping for every URL below instead of a query per URL.
    presets = {preset.name: preset.transformation for preset in named}
    items = [
        {
            "preset": preset,
            "preview_url": variant_url(review.public_id, f"t_{preset.name}", ext="jpg", presets=presets),
            "url": variant_url(
                review.public_id, f"t_{preset.name}", ext="jpg", request=request, presets=presets
            ),
            # Absolute URLs: the snippet is pasted into other sites.
            "snippet": picture_html(
                public_id=review.public_id,
                preset=preset,
                source_size=(asset.width, asset.height),
                alt=asset.title,
                request=request,
                presets=presets,
            ),
        }
        for preset in named
    ]
    context = {"asset": asset, "review": review, "presets": items}
    return render_to_string("delivery/embed_panel.html", context, request=request)
