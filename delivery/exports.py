"""A campaign's approved assets as one ZIP: each destination channel's variant, rendered and stored the way
delivery serves it, the original, and manifest.json (public id, URLs, alt text, rights) for whoever places
them. Built in a temporary file and streamed; refused past STUDIO_EXPORT_MAX_ASSETS or
STUDIO_EXPORT_MAX_SOURCE_BYTES."""

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Sum
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET

from delivery import selectors, services
from delivery.rights import rights_payload
from delivery.transformations import TransformationError, parse_delivery_path
from delivery.urls_builder import variant_url
from generation import selectors as generation_selectors
from generation.models import Asset
from review.models import ReviewState
from review.rights import Window, usage_window


class ExportTooLargeError(Exception):
    """The campaign is over the export limits; the message says which and what to do."""


@dataclass
class ExportResult:
    assets: int = 0
    files: int = 0
    skipped: list[dict] = field(default_factory=list)


def campaign_assets(*, viewer, campaign: str):
    """Approved assets of ``campaign`` that ``viewer`` may see, oldest first."""
    return (
        generation_selectors.assets_visible_to(user=viewer)
        .filter(campaign=campaign, review__state=ReviewState.APPROVED)
        .select_related("review")
        .order_by("created_at", "pk")
    )


def check_limits(assets) -> None:
    count = assets.count()
    if count > settings.STUDIO_EXPORT_MAX_ASSETS:
        raise ExportTooLargeError(
            f"This campaign has {count} approved images; an export holds at most "
            f"{settings.STUDIO_EXPORT_MAX_ASSETS} (STUDIO_EXPORT_MAX_ASSETS)."
        )
    total = assets.aggregate(total=Sum("byte_size"))["total"] or 0
    if total > settings.STUDIO_EXPORT_MAX_SOURCE_BYTES:
        raise ExportTooLargeError(
            f"This campaign's approved originals take {total // 1_000_000} MB; an export holds at most "
            f"{settings.STUDIO_EXPORT_MAX_SOURCE_BYTES // 1_000_000} MB (STUDIO_EXPORT_MAX_SOURCE_BYTES)."
        )


def campaign_zip_write(
    *, out: IO[bytes], assets, campaign: str, request: HttpRequest | None = None, exported_by: str = ""
) -> ExportResult:
    """Write the ZIP for ``assets`` (already limited) to ``out``. Raises ``services.RenderCapacityError`` when
    the renderer stays busy."""
    presets = selectors.preset_map()
    now = timezone.now()
    result = ExportResult()
    entries = []
    with zipfile.ZipFile(out, "w") as archive:
        for asset in assets:
            public_id = asset.review.public_id
            if usage_window(asset=asset, at=now) == Window.EXPIRED:
                result.skipped.append({"public_id": public_id, "reason": "usage rights expired"})
                continue
            folder = _safe_name(public_id)
            original = f"{folder}/original.{asset.format}"
            # Images are compressed already: stored as they are.
            archive.writestr(original, generation_selectors.asset_read_bytes(asset=asset), zipfile.ZIP_STORED)
            files = {"original": original}
            urls = {"original": variant_url(public_id, ext=asset.format, request=request, presets=presets)}
            skipped_channels = {}
            for channel in asset.channels:
                try:
                    name, data, url = _channel_variant(asset, public_id, channel, presets, request)
                except (TransformationError, services.NotDeliverableError) as error:
                    skipped_channels[channel] = str(error) or "not deliverable"
                    continue
                path = f"{folder}/{name}"
                archive.writestr(path, data, zipfile.ZIP_STORED)
                files[channel], urls[channel] = path, url
            entries.append(
                {
                    "public_id": public_id,
                    "asset_id": asset.pk,
                    "title": asset.title,
                    "alt_text": asset.alt_text or asset.title,
                    "product": asset.product,
                    "channels": asset.channels,
                    "rights": rights_payload(asset),
                    "urls": urls,
                    "files": files,
                    **({"skipped_channels": skipped_channels} if skipped_channels else {}),
                }
            )
            result.assets += 1
            result.files += len(files)
        manifest = {
            "campaign": campaign,
            "exported_at": now.isoformat(),
            "exported_by": exported_by,
            "assets": entries,
            "skipped": result.skipped,
        }
        archive.writestr(
            "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False), zipfile.ZIP_DEFLATED
        )
    return result


def _channel_variant(
    asset: Asset, public_id: str, channel: str, presets: dict[str, str], request: HttpRequest | None
) -> tuple[str, bytes, str]:
    """The channel preset's variant as delivery serves it to a client that asks for no particular format."""
    if channel not in presets:
        raise TransformationError(f"no channel preset {channel!r} any more")
    delivery = parse_delivery_path(f"t_{channel}/{public_id}", presets=presets)
    output_format, _ = services.resolve_format(asset=asset, delivery=delivery, accept="")
    for _attempt in range(2):
        variant = services.variant_get_or_render(asset=asset, delivery=delivery, output_format=output_format)
        data = services.variant_read(variant=variant)
        if data is not None:
            url = variant_url(public_id, f"t_{channel}", ext=output_format, request=request, presets=presets)
            return f"{_safe_name(channel)}.{output_format}", data, url
    raise services.RenderCapacityError


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "asset"


def _plain(status: int, text: str, **headers: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


@login_required
@permission_required("generation.view_asset", raise_exception=True)
@require_GET
def campaign_zip(request: HttpRequest) -> HttpResponseBase:
    """GET ?campaign=<name>: the ZIP of that campaign's approved assets this user may see."""
    campaign = request.GET.get("campaign", "").strip()
    if not campaign or len(campaign) > 200:
        return _plain(400, "Name the campaign to export: ?campaign=<name>.")
    assets = campaign_assets(viewer=request.user, campaign=campaign)
    if not assets.exists():
        return _plain(404, f"No approved images you can see in campaign {campaign!r}.")
    try:
        check_limits(assets)
    except ExportTooLargeError as error:
        return _plain(400, f"Not exported: {error} Split the campaign, or ask an admin to raise the limit.")
    # Closed by the response once sent, or below on failure; the disk copy goes with it.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        campaign_zip_write(
            out=out,
            assets=assets,
            campaign=campaign,
            request=request,
            exported_by=request.user.get_username(),
        )
    except services.RenderCapacityError:
        out.close()
        return _plain(
            503, "Busy rendering other images; try the export again in a moment.", **{"Retry-After": "5"}
        )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=f"{_safe_name(campaign)}-approved.zip",
        content_type="application/zip",
    )
