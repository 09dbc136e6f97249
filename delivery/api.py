"""The JSON API's delivery endpoints: channel presets, delivery URLs and responsive snippets for approved
assets. Thin: the URL builder, the presets and the markup helpers the embed panel uses."""

from dataclasses import asdict
from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from delivery import crops, selectors
from delivery.models import NamedPreset
from delivery.responsive import picture_html, responsive_image_html
from delivery.services import RenderCapacityError
from delivery.transformations import TransformationError
from delivery.urls_builder import serve_url, variant_path, variant_url
from generation.views import get_visible_asset
from review import selectors as review_selectors
from review import signoff
from review.models import ReviewState
from studio.api import Problem, not_found, scoped, user_of, validation_problem

router = Router(tags=["delivery"])


class PresetOut(Schema):
    name: str = Field(description="Used as t_<name> in a delivery URL.")
    label: str
    transformation: str
    description: str
    sizes: str
    widths: list[int]
    servable: bool = Field(description="False for a preset saved around the admin's checks; see `problem`.")
    problem: str


class DeliveryUrlOut(Schema):
    public_id: str
    transformation: str
    url: str = Field(description="Absolute: paste it into a site.")
    path: str = Field(description="The part after /image/upload/.")
    signed: bool = Field(description="True unless the URL uses one named preset at most (served unsigned).")
    expires_at: datetime | None = Field(description="When the URL stops working; null: it does not expire.")


class SnippetOut(Schema):
    preset: str
    url: str = Field(description="The preset's URL in JPEG.")
    img: str = Field(description="<img srcset sizes width height> in JPEG.")
    picture: str = Field(description="<picture> with AVIF and WebP sources and a JPEG <img>.")


class SnippetsOut(Schema):
    public_id: str
    snippets: list[SnippetOut]
    skipped: list[PresetOut] = Field(description="Presets that cannot be served, and why.")


def _preset_out(preset: NamedPreset) -> dict:
    problems = preset.problems()
    return {
        "name": preset.name,
        "label": preset.label,
        "transformation": preset.transformation,
        "description": preset.description,
        "sizes": preset.sizes,
        "widths": [int(item) for item in preset.widths.split(",") if item.strip().isdigit()],
        "servable": not problems,
        "problem": " ".join(problems.values()),
    }


def _approved(request: HttpRequest, asset_id: int):
    """The asset and its public id, if this user may see it and it is approved (else a 404 or a 409)."""
    if not user_of(request).has_perm("generation.view_asset"):
        raise Problem(403, "Your account may not build delivery URLs.")
    asset = get_visible_asset(request, asset_id)
    review = review_selectors.review_state_of(asset=asset)
    if review is None or review.state != ReviewState.APPROVED or not review.public_id:
        state = review.get_state_display().lower() if review else "a draft"
        raise Problem(
            409,
            f"Asset {asset.pk} is {state}: only approved assets have delivery URLs.",
            slug="state-conflict",
        )
    return asset, review.public_id


@router.get("/presets", response=list[PresetOut], summary="List channel presets", **scoped("read"))
def list_presets(request: HttpRequest) -> list[dict]:
    """The named presets (t_<name>) admins keep: a channel's crop, size and format, and its srcset widths."""
    return [_preset_out(preset) for preset in selectors.named_presets()]


class DeliveryUrlQuery(Schema):
    transformation: str = Field(
        "", description="Cloudinary grammar, e.g. c_fill,w_400,h_300/f_auto or t_<name>."
    )
    ext: str | None = Field(None, description="The format by extension: jpg, png, webp, avif.")
    sign: bool = Field(False, description="Sign even a URL strict mode would serve unsigned.")
    expires_in: int | None = Field(
        None, ge=1, le=366 * 24 * 3600, description="Seconds until the URL stops working (always signed)."
    )


@router.get(
    "/assets/{asset_id}/delivery-url",
    response=DeliveryUrlOut,
    summary="Build a delivery URL",
    **scoped("read"),
)
def delivery_url(request: HttpRequest, asset_id: int, query: Query[DeliveryUrlQuery]) -> dict:
    """A URL for any transformation of an approved asset: signed, unless it uses one named preset at most
    (and `sign` is not set); with `expires_in`, it stops working after that many seconds."""
    _asset, public_id = _approved(request, asset_id)
    expires = timezone.now() + timedelta(seconds=query.expires_in) if query.expires_in else None
    try:
        path = variant_path(
            public_id, query.transformation, ext=query.ext or None, sign=query.sign, expires=expires
        )
    except TransformationError as error:
        raise validation_problem(str(error), "transformation", "query") from None
    return {
        "public_id": public_id,
        "transformation": query.transformation.strip("/"),
        "url": serve_url(path, request=request),
        "path": path,
        "signed": path.startswith("s--"),
        "expires_at": expires,
    }


@router.get(
    "/assets/{asset_id}/snippets", response=SnippetsOut, summary="Responsive snippets", **scoped("read")
)
def snippets(request: HttpRequest, asset_id: int, preset: str | None = None, alt: str | None = None) -> dict:
    """Copy-ready `<img srcset>` and `<picture>` markup per channel preset (or the one named), as the asset
    page's embed panel shows it. `alt` defaults to the asset's alt text (its title when that is empty)."""
    asset, public_id = _approved(request, asset_id)
    named = selectors.named_presets()
    if preset is not None and preset not in {item.name for item in named}:
        raise not_found("preset")
    presets = {item.name: item.transformation for item in named}
    items, skipped = [], []
    for item in named:
        if preset is not None and item.name != preset:
            continue
        if item.problems():
            skipped.append(_preset_out(item))
            continue
        markup = {
            "public_id": public_id,
            "preset": item,
            "source_size": (asset.width, asset.height),
            "alt": (asset.alt_text or asset.title) if alt is None else alt,
            "request": request,
            "presets": presets,
        }
        try:
            items.append(
                {
                    "preset": item.name,
                    "url": variant_url(
                        public_id, f"t_{item.name}", ext="jpg", request=request, presets=presets
                    ),
                    "img": str(responsive_image_html(**markup)),
                    "picture": str(picture_html(**markup)),
                }
            )
        except TransformationError as error:
            skipped.append({**_preset_out(item), "servable": False, "problem": str(error)})
    return {"public_id": public_id, "snippets": items, "skipped": skipped}


# --- Channel crops (review's sign-off) ---------------------------------------------------------------------


class ChannelCropOut(Schema):
    channel: str = Field(description="The destination channel: a channel preset's name (t_<name>).")
    label: str
    transformation: str = Field(description="The preset's transformation, canonical.")
    width: int = Field(description="The crop's size in pixels, as delivery serves it.")
    height: int
    upscale: float = Field(description="How many times the source's pixels are enlarged (1.0: never).")
    upscale_warning: bool = Field(description="Enlarged more than 2x: it will look soft.")
    focal_point: list[float] | None = Field(description="[x, y] the crop centres on, when it uses one.")
    token: str = Field(description="Changes whenever the crop would (focal point, preset, file).")
    seen_value: str = Field(
        description="Once you have shown the crop to the reviewer, send this in `crops_seen` when approving."
    )
    url: str = Field(description="The crop as a JPEG (this API's authentication).")
    problem: str = Field(description="Why the channel has no crop (no such preset); empty when it has one.")


@router.get(
    "/assets/{asset_id}/crops", response=list[ChannelCropOut], summary="Channel crops", **scoped("read")
)
def channel_crops(request: HttpRequest, asset_id: int) -> list[dict]:
    """The crop each destination channel of the asset will serve, approved or not. Approving an asset with
    destination channels needs each crop's `seen_value` in `crops_seen` (POST /assets/{id}/approve)."""
    asset = get_visible_asset(request, asset_id)
    return [
        {
            **asdict(crop),
            "focal_point": list(crop.focal_point) if crop.focal_point else None,
            "upscale_warning": crop.upscale_warning,
            "seen_value": crop.seen_value if not crop.problem else "",
            "url": ""
            if crop.problem
            else request.build_absolute_uri(
                reverse("api:channel_crop_image", args=[asset.pk, crop.channel]) + f"?v={crop.token}"
            ),
        }
        for crop in signoff.channel_crops(asset=asset)
    ]


@router.get(
    "/assets/{asset_id}/crops/{channel}.jpg",
    summary="A channel crop",
    **scoped("read", {"responses": {"200": {"description": "The crop", "content": {"image/jpeg": {}}}}}),
)
def channel_crop_image(request: HttpRequest, asset_id: int, channel: str) -> HttpResponse:
    """The crop a destination channel of the asset serves, as a JPEG, rendered as delivery renders it."""
    asset = get_visible_asset(request, asset_id)
    if channel not in {crop.channel for crop in signoff.channel_crops(asset=asset) if not crop.problem}:
        raise not_found("destination channel of this asset")
    try:
        data, content_type = crops.channel_crop_image(asset=asset, channel=channel)
    except TransformationError as error:
        raise Problem(422, f"This channel's crop cannot be rendered: {error}") from None
    except RenderCapacityError:
        raise Problem(503, "Busy rendering other images; retry in a moment.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"
    return response
