"""Review's view of a channel crop: /review/assets/<id>/crops/<channel>.jpg, the crop the channel's preset
serves of any asset the viewer may see, approved or not (the public endpoint serves approved assets only)."""

import logging

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import condition, require_safe

from delivery import crops, services
from delivery.rendering import SourceImageError
from delivery.transformations import TransformationError
from generation.views import get_visible_asset
from review import signoff

logger = logging.getLogger(__name__)

# The URL carries the crop's token (?v=...): a crop around a new focal point has a new URL, so the browser
# may keep this one as long as it likes. Private: it may show an asset that is not approved.
CACHE_CONTROL = "private, max-age=86400"


def _channel_crop(request: HttpRequest, asset_id: int, channel: str) -> signoff.ChannelCrop:
    asset = get_visible_asset(request, asset_id)
    crop = next((crop for crop in signoff.channel_crops(asset=asset) if crop.channel == channel), None)
    if crop is None:
        raise Http404(f"{channel!r} is not a destination channel of this asset.")
    # The view below needs it too (one query, not two); HttpRequest's type has no such attribute.
    request.crop_asset = asset  # type: ignore[attr-defined]
    return crop


def _etag(request: HttpRequest, asset_id: int, channel: str) -> str:
    return _channel_crop(request, asset_id, channel).token or "unavailable"


def _plain(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_safe
@condition(etag_func=_etag)
def channel_crop(request: HttpRequest, asset_id: int, channel: str) -> HttpResponse:
    asset = getattr(request, "crop_asset", None) or get_visible_asset(request, asset_id)
    try:
        data, content_type = crops.channel_crop_image(asset=asset, channel=channel)
    except TransformationError as error:
        return _plain(400, f"This channel's crop cannot be rendered: {error}")
    except services.OverlayNotFoundError as error:  # a preset edited to overlay an unapproved image
        return _plain(409, f"This channel's crop cannot be rendered: {error}")
    except services.RenderCapacityError:
        response = _plain(503, "Busy rendering other images; retry in a moment.")
        response["Retry-After"] = "1"
        return response
    except SourceImageError:
        logger.exception("Stored image %s cannot be rendered", asset.pk)
        return _plain(500, "The stored image could not be rendered.")
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = CACHE_CONTROL
    response["Content-Security-Policy"] = "default-src 'none'"  # nosniff: SecurityMiddleware
    return response
