"""The public image endpoint: /image/upload/[s--SIG--/]<transformation>/.../<public_id>[.<ext>]."""

import logging
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import quote_etag
from django.views.decorators.http import require_safe

from delivery import purge, selectors, services
from delivery.models import Variant
from delivery.rendering import SourceImageError
from delivery.signing import verify
from delivery.transformations import (
    DeliveryRequest,
    TransformationError,
    canonical_transformation,
    parse_delivery_path,
)
from review import selectors as review_selectors
from review.rights import Window, usage_window
from studio.views import client_ip_address

logger = logging.getLogger(__name__)


def _plain(status: int, reason: str, **headers: str) -> HttpResponse:
    response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    _security_headers(response)
    # A busy server or a client over its render rate is about that moment and that client: a CDN must not
    # keep answering everyone with it.
    response["Cache-Control"] = "no-store" if status >= 500 or status == 429 else "public, max-age=60"
    return response


def _security_headers(response: HttpResponseBase) -> None:
    # nosniff comes from SecurityMiddleware (SECURE_CONTENT_TYPE_NOSNIFF), on every response.
    response["Content-Security-Policy"] = "default-src 'none'"


def _allowed_unsigned(delivery: DeliveryRequest, presets: dict[str, str]) -> bool:
    if not settings.STUDIO_DELIVERY_STRICT or not delivery.written_components:
        return True
    if delivery.uses_one_preset_at_most:
        return True
    allowed = set()
    for entry in settings.STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS:
        try:
            allowed.add(canonical_transformation(entry, presets=presets))
        except TransformationError:
            logger.warning("Ignoring invalid STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS entry %r", entry)
    return delivery.canonical_transformation in allowed


def _conditional(request: HttpRequest, etag: str) -> HttpResponseBase | None:
    """Django's answer to the request's conditional headers for this ETag (a 304 when the client's copy is
    current, weak or listed ETags included), or None to send the image."""
    return get_conditional_response(request, etag=quote_etag(etag))


def _variant_and_body(request: HttpRequest, **render_args: Any) -> tuple[Variant, bytes | HttpResponseBase]:
    """The variant and its bytes, or the conditional answer (a 304) without reading them."""
    for _ in range(2):
        variant = services.variant_get_or_render(**render_args)
        conditional = _conditional(request, variant.etag)
        if conditional is not None:
            return variant, conditional
        data = services.variant_read(variant=variant)
        if data is not None:
            return variant, data
        # Evicted between the lookup and the read: look it up, and render it, once more.
    raise services.RenderCapacityError


def _cache_control(*, expires: int | None, versioned: bool, now: float) -> str:
    if expires is not None:
        # No cache may keep it past the link's end.
        remaining = max(0, int(expires - now))
        return f"public, max-age={min(remaining, settings.STUDIO_DELIVERY_MAX_AGE)}"
    if versioned:
        return f"public, max-age={settings.STUDIO_DELIVERY_IMMUTABLE_MAX_AGE}, immutable"
    return (
        f"public, max-age={settings.STUDIO_DELIVERY_MAX_AGE}, "
        f"stale-while-revalidate={settings.STUDIO_DELIVERY_STALE_WHILE_REVALIDATE}"
    )


def _image_response(
    body: bytes | HttpResponseBase,
    *,
    etag: str,
    content_type: str,
    cache_control: str,
    asset_id: int,
    negotiated: bool,
) -> HttpResponseBase:
    """The image (or ``body``, the conditional answer, when the client's copy is current) with its caching
    headers."""
    response: HttpResponseBase
    if isinstance(body, HttpResponseBase):
        response = body
    else:
        response = HttpResponse(body, content_type=content_type)
        response["Content-Length"] = str(len(body))
    response["ETag"] = quote_etag(etag)
    response["Cache-Control"] = cache_control
    # The asset's tag, so a purge names the asset rather than every URL a site used (delivery/purge.py).
    response["Surrogate-Key"] = response["Cache-Tag"] = purge.cache_tag(asset_id)
    if negotiated:
        patch_vary_headers(response, ["Accept"])
    _security_headers(response)
    return response


def _serve_remembered(request: HttpRequest, delivery_path: str, now: float) -> HttpResponseBase | None:
    """A path this process resolved seconds ago (services.HitCache): served from its stored file, or None to
    take the full path (not remembered, the link has expired, or the file is gone: purged or evicted)."""
    hit = services.hit_cache.get(delivery_path)
    if hit is None or (hit.expires is not None and now >= hit.expires):
        return None
    if not _inside(now, hit.live_from, hit.live_until):
        return None  # the full path says why (404 before go-live, 410 after expiry)
    data = services.stored_file_read(hit.file_name)
    if data is None:
        services.hit_cache.forget(delivery_path)
        return None
    return _image_response(
        _conditional(request, hit.etag) or data,
        etag=hit.etag,
        content_type=hit.content_type,
        cache_control=_cache_control(
            expires=_earliest(hit.expires, hit.live_until), versioned=hit.versioned, now=now
        ),
        asset_id=hit.asset_id,
        negotiated=False,
    )


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _earliest(*moments: float | None) -> int | None:
    known = [moment for moment in moments if moment is not None]
    return int(min(known)) if known else None


def _inside(now: float, live_from: float | None, live_until: float | None) -> bool:
    return (live_from is None or now >= live_from) and (live_until is None or now < live_until)


def _outside_window(public_id: str, asset, window: Window, now: float) -> HttpResponse:
    """Before go-live a 404, as for any image not published; after expiry a 410 that says so."""
    if window == Window.EXPIRED:
        expired = asset.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return _plain(
            410, f"The usage rights for {public_id!r} expired on {expired}; it is no longer delivered."
        )
    response = _plain(404, f"No approved image with public id {public_id!r}.")
    # No cache may keep the 404 past the go-live.
    until_live = max(0, int(asset.go_live_at.timestamp() - now))
    response["Cache-Control"] = f"public, max-age={min(until_live, 60)}"
    return response


@require_safe
def serve(request: HttpRequest, delivery_path: str) -> HttpResponseBase:
    now = time.time()
    remembered = _serve_remembered(request, delivery_path, now)
    if remembered is not None:
        return remembered

    presets = selectors.preset_map()
    try:
        delivery = parse_delivery_path(delivery_path, presets=presets)
    except TransformationError as error:
        return _plain(400, f"Bad transformation: {error}")

    if delivery.signature is not None:
        if not verify(delivery.signature, delivery.signed_path, settings.STUDIO_DELIVERY_KEYS):
            return _plain(403, "Invalid signature for this URL.")
        if delivery.expires is not None and now >= delivery.expires:
            expired = datetime.fromtimestamp(delivery.expires, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
            return _plain(403, f"This link expired on {expired}. Ask for a new one.")
    elif not _allowed_unsigned(delivery, presets):
        return _plain(
            403,
            "Strict mode: an unsigned URL may use one named preset (t_<name>) or one allowed transformation, "
            "not a chain. Sign this URL (python manage.py delivery_url) or use a single preset.",
        )

    asset = review_selectors.approved_asset_by_public_id(
        public_id=delivery.public_id, version=delivery.version
    )
    if asset is None:
        return _plain(404, f"No approved image with public id {delivery.public_id!r}.")
    window = usage_window(asset=asset, at=datetime.fromtimestamp(now, tz=UTC))
    if window != Window.LIVE:
        return _outside_window(delivery.public_id, asset, window, now)
    live_from, live_until = _timestamp(asset.go_live_at), _timestamp(asset.expires_at)

    accept = request.headers.get("Accept", "")
    try:
        output_format, negotiated = services.resolve_format(asset=asset, delivery=delivery, accept=accept)
        variant, body = _variant_and_body(
            request,
            asset=asset,
            delivery=delivery,
            output_format=output_format,
            client=client_ip_address(request) or "-",
        )
    except TransformationError as error:  # includes the render limits
        return _plain(400, f"Bad transformation: {error}")
    except services.RenderRateError as error:
        return _plain(
            429,
            "Too many new image variants requested from this address; retry later.",
            Retry_After=str(error.retry_after),
        )
    except services.RenderCapacityError:
        return _plain(503, "Busy rendering other images; retry in a moment.", Retry_After="1")
    except services.OverlayNotFoundError as error:
        return _plain(404, str(error))
    except services.NotDeliverableError:
        return _plain(404, f"No approved image with public id {delivery.public_id!r}.")
    except SourceImageError:
        logger.exception("Stored image %s cannot be rendered", asset.pk)
        return _plain(500, "The stored image could not be rendered.")

    if not negotiated:
        services.hit_cache.put(
            delivery_path,
            asset_id=asset.pk,
            file_name=variant.file.name,
            etag=variant.etag,
            content_type=variant.content_type,
            expires=delivery.expires,
            versioned=delivery.version is not None,
            live_from=live_from,
            live_until=live_until,
        )
    return _image_response(
        body,
        etag=variant.etag,
        content_type=variant.content_type,
        cache_control=_cache_control(
            expires=_earliest(delivery.expires, live_until), versioned=delivery.version is not None, now=now
        ),
        asset_id=asset.pk,
        negotiated=negotiated,
    )
