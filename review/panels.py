"""Extra panels on the asset page, contributed by apps that build on review (delivery's embed codes), and
review's own (the content credentials the file carries).

Apps that depend on review register here, so review never imports them.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from generation import credentials
from generation.models import Asset
from review.models import AssetReview

AssetPanel = Callable[[HttpRequest, Asset, AssetReview], SafeString | None]
_panels: list[AssetPanel] = []


def register_asset_panel(panel: AssetPanel) -> AssetPanel:
    if panel not in _panels:
        _panels.append(panel)
    return panel


def render_asset_panels(request: HttpRequest, asset: Asset, review: AssetReview) -> list[SafeString]:
    rendered = (panel(request, asset, review) for panel in _panels)
    return [html for html in rendered if html]


def credentials_panel(request: HttpRequest, asset: Asset, review: AssetReview) -> SafeString | None:
    """What the file's C2PA manifest says, read back and validated by the SDK, with a note when the signer is
    not trusted (always so with Studio's development certificate)."""
    context = {"credentials": credentials.asset_credentials(asset=asset), "enabled": credentials.enabled()}
    return render_to_string("review/credentials_panel.html", context, request=request)
