"""The JSON API's generation endpoints: text-to-image and refine requests, polling, cancel, upload, models and
the original files. Thin: the same forms, services and selectors as the pages in generation/views.py."""

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import get_conditional_response
from ninja import File, Form, Router, Schema, UploadedFile
from ninja.responses import Status
from pydantic import Field

from generation import asset_imports, selectors, services
from generation.engine.registry import available_models
from generation.forms import GenerateForm, RefineForm
from generation.models import Asset, GenerationRequest
from generation.views import _CONTENT_TYPES, _can_cancel, _get_visible_request, get_visible_asset
from studio.api import (
    Problem,
    Text,
    field_error,
    form_data,
    form_problem,
    form_schema,
    scoped,
    user_of,
    validation_problem,
)

router = Router(tags=["generation"])


# --- Schemas -----------------------------------------------------------------------------------------------


class AssetOut(Schema):
    id: int
    title: str
    operation: str
    request_id: int | None
    index: int
    parent_id: int | None = Field(description="The asset this one was refined from (lineage).")
    revision_of_id: int | None = Field(
        description="The asset a reviewer asked changes on, that this answers."
    )
    created_by: str
    created_at: datetime
    format: str
    width: int
    height: int
    byte_size: int
    content_hash: str
    seed: int | None
    ai_generated: bool
    campaign: str
    product: str
    channel: str = Field(
        description="The channel tag it was generated for (destination channels: `channels`)."
    )
    alt_text: str = Field(description="What a screen reader says; embed snippets use the title when empty.")
    channels: list[str] = Field(description="Destination channels: names of channel presets (t_<name>).")
    rights_source: str = Field(description="generated, owned, licensed or editorial.")
    licensor: str
    licence_reference: str
    territory: str
    go_live_at: datetime | None = Field(description="Its delivery URLs answer 404 before this moment.")
    expires_at: datetime | None = Field(description="From this moment its delivery URLs answer 410.")
    usage_rights: str = Field(description="Free-text rights notes.")
    is_flagged: bool
    flags: list[dict]
    file_url: str = Field(description="The original image (signed-in users who may see it only).")
    page_url: str


def asset_out(asset: Asset) -> dict:
    return {
        **{name: getattr(asset, name) for name in AssetOut.model_fields if hasattr(asset, name)},
        "created_by": asset.created_by.get_username(),
        "file_url": reverse("api:asset_file", args=[asset.pk]),
        "page_url": reverse("review:asset", args=[asset.pk]),
    }


class ProgressOut(Schema):
    step: int
    total: int
    percent: int


class GenerationRequestOut(Schema):
    id: int
    status: str = Field(description="queued, running, succeeded, failed or canceled.")
    operation: str
    prompt: str
    negative_prompt: str
    style: str
    full_prompt: str = Field(description="The prompt sent to the model (with the style's words).")
    model: str
    scheduler: str
    width: int
    height: int
    num_images: int
    seed: int
    steps: int
    guidance: float
    campaign: str
    product: str
    channel: str = Field(description="A free-text channel tag, on requests from before destination channels.")
    channels: list[str] = Field(description="Destination channels its images start with (channel presets).")
    options: dict = Field(description="A refine operation's own options (strength, aspect, scale...).")
    source_asset_id: int | None
    revises_id: int | None
    moderation_flags: list[dict]
    progress: ProgressOut
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    can_cancel: bool
    assets: list[AssetOut]
    page_url: str


def request_out(request: HttpRequest, generation_request: GenerationRequest) -> dict:
    fields = GenerationRequestOut.model_fields
    return {
        **{name: getattr(generation_request, name) for name in fields if hasattr(generation_request, name)},
        "model": generation_request.model_key,
        "progress": {
            "step": generation_request.progress_step,
            "total": generation_request.progress_total,
            "percent": generation_request.progress_percent,
        },
        "max_attempts": settings.STUDIO_JOB_MAX_ATTEMPTS,
        "created_by": generation_request.created_by.get_username(),
        "can_cancel": _can_cancel(request, generation_request),
        "assets": [asset_out(asset) for asset in generation_request.assets.all()],
        "page_url": reverse("generation:request", args=[generation_request.pk]),
    }


if TYPE_CHECKING:
    # Built from the forms at run time (studio.api.form_schema): to the type checker, any schema.
    GenerateIn = Any
    RefineIn = Any
else:
    GenerateIn = form_schema(
        GenerateForm,
        "GenerateIn",
        extra={
            "channel": (
                str | None,
                Field(
                    default=None,
                    description="One destination channel, as earlier versions took it: added to "
                    "`channels` and checked against the channel presets the same way.",
                ),
            )
        },
    )
    RefineIn = form_schema(
        RefineForm,
        "RefineIn",
        exclude=["mask"],
        extra={
            "mask": (
                str | None,
                Field(
                    default=None,
                    description="The mask as a base64 PNG (white = change, black = keep), optionally as a "
                    "data: URL. Needed by inpaint and remove.",
                ),
            )
        },
    )


class ModelOut(Schema):
    key: str
    label: str
    tasks: list[str]
    default_steps: int
    default_guidance: float
    max_side: int
    output_size: int = Field(description="The one size a fixed-size model makes; 0 when any size.")
    styles: list[str] = Field(
        description="The style presets it draws (values of `style`); a request with another is a 422."
    )
    notice: str


class UploadIn(Schema):
    campaign: Annotated[Text, Field(max_length=200)] = ""
    product: Annotated[Text, Field(max_length=200)] = ""


class CancelOut(Schema):
    outcome: str = Field(description="canceled, stopping (at the next step) or finished (nothing to cancel).")
    request: GenerationRequestOut


# --- Endpoints ---------------------------------------------------------------------------------------------


def _require_generate_permission(request: HttpRequest) -> None:
    if not user_of(request).has_perm("generation.add_generationrequest"):
        raise Problem(403, "Your account may not generate or upload images.")


@router.get("/models", response=list[ModelOut], summary="List models", **scoped("read"))
def list_models(request: HttpRequest, task: str | None = None) -> list[dict]:
    """The models offered for a task (text2img, img2img, inpaint), or all of them."""
    return [
        {
            "key": spec.key,
            "label": spec.label,
            "tasks": list(spec.tasks),
            "default_steps": spec.default_steps,
            "default_guidance": spec.default_guidance,
            "max_side": spec.max_side,
            "output_size": spec.output_size,
            "styles": [style.key for style in spec.style_choices()],
            "notice": spec.notice,
        }
        for spec in available_models(task)
    ]


@router.post(
    "/requests",
    response={201: GenerationRequestOut},
    summary="Create a text-to-image request",
    **scoped("generate"),
)
def create_request(request: HttpRequest, response: HttpResponse, payload: GenerateIn) -> Status:
    """Queue a text-to-image request; poll it with GET /requests/{id}. Omitted fields take the defaults the
    Generate page shows (the default model, its steps and guidance, a square size, a random seed)."""
    _require_generate_permission(request)
    data = form_data(GenerateForm, payload)
    if payload.channel:
        data["channels"] = [*data.get("channels", []), payload.channel]
    form = GenerateForm(data=data)
    if not form.is_valid():
        raise form_problem(form)
    try:
        generation_request = services.generation_request_create(
            user=user_of(request), parameters=form.parameters()
        )
    except services.PromptBlockedError as error:
        raise validation_problem(str(error), "prompt") from None
    return _created(request, response, generation_request)


def _created(request: HttpRequest, response: HttpResponse, generation_request: GenerationRequest) -> Status:
    visible = selectors.generation_request_get_visible(
        user=user_of(request), request_id=generation_request.pk
    )
    assert visible is not None  # its creator made it a moment ago
    response["Location"] = reverse("api:get_request", args=[visible.pk])
    return Status(201, request_out(request, visible))


def refine(
    request: HttpRequest,
    response: HttpResponse,
    asset: Asset,
    payload: RefineIn,
    *,
    revises: Asset | None = None,
) -> Status:
    """A refine request on ``asset`` from ``payload``, as the Refine page makes it (review's revise too)."""
    mask = None
    if payload.mask:
        encoded = payload.mask.split(",", 1)[1] if payload.mask.startswith("data:") else payload.mask
        try:
            mask = SimpleUploadedFile("mask.png", base64.b64decode(encoded, validate=True), "image/png")
        except (binascii.Error, ValueError):
            raise validation_problem("The mask is not valid base64.", "mask") from None
    form = RefineForm(
        data=form_data(RefineForm, payload.model_copy(update={"mask": None})),
        files={"mask": mask} if mask is not None else None,
    )
    if not form.is_valid():
        raise form_problem(form)
    try:
        generation_request = services.refine_request_create(
            user=user_of(request), source=asset, parameters=form.parameters(), revises=revises
        )
    except services.RefineRequestError as error:
        raise Problem(
            422, str(error), slug="validation-error", errors=[field_error(None, str(error))]
        ) from None
    return _created(request, response, generation_request)


@router.post(
    "/assets/{asset_id}/refinements",
    response={201: GenerationRequestOut},
    summary="Refine an asset",
    **scoped("generate"),
)
def create_refinement(
    request: HttpRequest, response: HttpResponse, asset_id: int, payload: RefineIn
) -> Status:
    """Queue a refine operation (img2img, inpaint, remove, replace_background, outpaint, recolor, upscale,
    restore, variations) on an asset; the results are its children in the lineage."""
    _require_generate_permission(request)
    return refine(request, response, get_visible_asset(request, asset_id), payload)


@router.get("/requests", response=list[GenerationRequestOut], summary="List requests", **scoped("read"))
def list_requests(request: HttpRequest, mine: bool = False, limit: int = 50) -> list[dict]:
    """The newest requests this user may see (reviewers and admins: everyone's; `mine`: their own)."""
    limit = max(1, min(limit, 200))
    requests = selectors.generation_request_list(viewer=user_of(request), only_own=mine, limit=limit)
    return [request_out(request, item) for item in requests]


@router.get(
    "/requests/{request_id}", response=GenerationRequestOut, summary="Poll a request", **scoped("read")
)
def get_request(request: HttpRequest, request_id: int) -> dict:
    """Status, progress, attempts, the error if it failed, and its assets once it succeeded."""
    return request_out(request, _get_visible_request(request, request_id))


@router.post(
    "/requests/{request_id}/cancel", response=CancelOut, summary="Cancel a request", **scoped("generate")
)
def cancel_request(request: HttpRequest, request_id: int) -> dict:
    """Canceled at once when queued; a running one stops at its next step. Only its creator (or an admin)."""
    generation_request = _get_visible_request(request, request_id)
    user = user_of(request)
    if not (generation_request.created_by_id == user.pk or user.is_superuser):
        raise Problem(403, "Only the person who started a generation can cancel it.")
    outcome = services.generation_request_cancel(generation_request=generation_request) or "finished"
    generation_request.refresh_from_db()
    return {"outcome": outcome, "request": request_out(request, generation_request)}


@router.post("/uploads", response={201: AssetOut}, summary="Upload an image", **scoped("generate"))
def upload(
    request: HttpRequest,
    response: HttpResponse,
    file: File[UploadedFile],
    tags: Form[UploadIn],
) -> Status:
    """A JPEG, PNG or WebP (multipart/form-data, field `file`), checked and cleaned as the Upload page does;
    it becomes an asset in review."""
    _require_generate_permission(request)
    name = file.name or "unnamed file"
    try:
        asset_imports.check_byte_size(filename=name, byte_size=file.size)
        asset = asset_imports.asset_import(
            data=file.read(),
            filename=name,
            user=user_of(request),
            campaign=tags.campaign,
            product=tags.product,
            operation=Asset.Operation.UPLOAD,
        )
    except asset_imports.ImageImportError as error:
        raise validation_problem(str(error), "file", "file") from None
    visible = selectors.asset_get_visible(user=user_of(request), asset_id=asset.pk)
    assert visible is not None  # its uploader made it a moment ago
    response["Location"] = reverse("api:get_asset", args=[visible.pk])
    return Status(201, asset_out(visible))


_IMAGE_RESPONSE = {
    "responses": {
        "200": {
            "description": "The image file.",
            "content": {
                content_type: {"schema": {"type": "string", "format": "binary"}}
                for content_type in ("image/png", "image/jpeg", "image/webp")
            },
        },
        "304": {"description": "Not modified (If-None-Match)."},
    }
}


@router.get(
    "/assets/{asset_id}/file",
    summary="Download the original image",
    response={200: None},
    **scoped("read", openapi_extra=_IMAGE_RESPONSE),
)
def asset_file(request: HttpRequest, asset_id: int):
    """The stored original, approved or not, to users who may see the asset."""
    if not user_of(request).has_perm("generation.view_asset"):
        raise Problem(403, "Your account may not download originals.")
    asset = get_visible_asset(request, asset_id)
    etag = f'"{asset.content_hash}"'
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        not_modified["Cache-Control"] = "private, no-store"
        return not_modified
    response = FileResponse(asset.file.open("rb"), content_type=_CONTENT_TYPES.get(asset.format, "image/png"))
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-store"
    return response
