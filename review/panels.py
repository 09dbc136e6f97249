"""Extra panels on the asset page, contributed by apps that build on review (delivery's embed codes).

Apps that depend on review register here, so review never imports them.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

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
