from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from delivery.models import NamedPreset
from generation.models import Asset
from review.models import AssetReview, ReviewState


def delivery_url(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(reverse("delivery:serve", args=[path]))


def embed_panel(request: HttpRequest, asset: Asset, review: AssetReview) -> SafeString | None:
    """Copy-ready URLs and live previews of every channel preset, for approved assets only."""
    if review.state != ReviewState.APPROVED or not review.public_id:
        return None
    presets = [
        {
            "preset": preset,
            "url": delivery_url(request, f"t_{preset.name}/{review.public_id}.jpg"),
            "auto_url": delivery_url(request, f"t_{preset.name}/f_auto/{review.public_id}"),
        }
        for preset in NamedPreset.objects.all()
    ]
    context = {"asset": asset, "review": review, "presets": presets}
    return render_to_string("delivery/embed_panel.html", context, request=request)
