from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from generation import asset_imports, selectors, services
from generation.engine.prompt_reading import PromptReading, read_prompt
from generation.engine.registry import available_models, model_name
from generation.forms import MAX_PROMPT_CHARACTERS, GenerateForm, RefineForm
from generation.models import Asset, GenerationRequest
from generation.operations import OPERATIONS, OUTPAINT_ASPECTS
from generation.presets import STYLES, compose_prompt
from studio.http import AuthenticatedHttpRequest, HtmxHttpRequest
from studio.teams import TeamChoiceError, teams_of


@login_required
@permission_required("generation.add_generationrequest", raise_exception=True)
def create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST or None, teams=teams_of(user=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            generation_request = services.generation_request_create(
                user=request.user, parameters=form.parameters(), team_id=form.cleaned_data.get("team")
            )
        except services.PromptBlockedError as error:
            form.add_error("prompt", str(error))
        else:
            return redirect("generation:request", request_id=generation_request.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "models": available_models("text2img"),
        "meters": _prompt_meters(
            prompt=form["prompt"].value() or "",
            negative_prompt=form["negative_prompt"].value() or "",
            style=form.cleaned_data.get("style", "none") if form.is_bound else "none",
        ),
        "recent": selectors.generation_request_list(viewer=request.user, only_own=True, limit=6),
    }
    return render(request, "generation/create.html", context, status=status)


@dataclass(frozen=True)
class _PromptMeter:
    """What the line under a prompt box says: its length, and how much of it the model reads."""

    field: str
    characters: int
    reading: PromptReading | None  # None while the box is empty
    max_characters: int = MAX_PROMPT_CHARACTERS


def _prompt_meters(*, prompt: str, negative_prompt: str, style: str) -> dict[str, _PromptMeter]:
    # The model reads the prompts with the style's words added, so those are what is counted.
    sent_prompt, sent_negative = compose_prompt(prompt, negative_prompt, style)
    return {
        "prompt": _PromptMeter("prompt", len(prompt), read_prompt(sent_prompt) if prompt.strip() else None),
        "negative_prompt": _PromptMeter(
            "negative_prompt",
            len(negative_prompt),
            read_prompt(sent_negative) if negative_prompt.strip() else None,
        ),
    }


@login_required
@permission_required("generation.add_generationrequest", raise_exception=True)
@require_GET
def prompt_meter(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The meter under a prompt box, for htmx as the user types: ``prompt`` or ``negative_prompt``, and the
    ``style`` picked (its words are sent to the model too)."""
    field = "negative_prompt" if "negative_prompt" in request.GET else "prompt"
    style = request.GET.get("style") or "none"
    if style not in STYLES:
        return HttpResponseBadRequest(f"Unknown style {style!r}.", content_type="text/plain")
    text = request.GET.get(field, "")
    if len(text) > 4 * MAX_PROMPT_CHARACTERS:
        # Past what any form accepts: not worth tokenizing.
        return HttpResponseBadRequest(
            f"A prompt is at most {MAX_PROMPT_CHARACTERS} characters.", content_type="text/plain"
        )
    prompts = {"prompt": "", "negative_prompt": "", field: text}
    meter = _prompt_meters(**prompts, style=style)[field]
    return render(request, "generation/prompt_meter.html", {"meter": meter})


@dataclass(frozen=True)
class _Uploaded:
    """One file of an upload: the asset it became, or why it was refused."""

    name: str
    asset: Asset | None = None
    error: str = ""


@login_required
@permission_required("generation.add_generationrequest", raise_exception=True)
@require_http_methods(["GET", "POST"])
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Upload page. Its script posts one file per request and asks for JSON; without script the form
    posts them all at once and gets the page back with a line per file."""
    wants_json = request.get_preferred_type(["text/html", "application/json"]) == "application/json"
    if request.method == "GET":
        return _upload_page(request, results=[])
    files = request.FILES.getlist("files")
    if not files or (wants_json and len(files) > 1):
        error = "Send one file per request." if files else "Choose one or more JPEG, PNG or WebP files."
        if wants_json:
            return JsonResponse({"error": error}, status=400)
        return _upload_page(request, results=[], error=error, status=400)
    results = [_upload_one(request, file) for file in files]
    if wants_json:
        [result] = results
        if result.asset is None:
            return JsonResponse({"error": result.error}, status=400)
        return JsonResponse(_uploaded_json(result.name, result.asset), status=201)
    refused = any(result.asset is None for result in results)
    return _upload_page(request, results=results, status=400 if refused else 200)


def _upload_one(request: AuthenticatedHttpRequest, file: UploadedFile) -> _Uploaded:
    name = file.name or "unnamed file"
    try:
        # The declared size first, so an oversized file is refused before it is read into memory.
        asset_imports.check_byte_size(filename=name, byte_size=file.size)
        asset = asset_imports.asset_import(
            data=file.read(),
            filename=name,
            user=request.user,
            campaign=request.POST.get("campaign", ""),
            product=request.POST.get("product", ""),
            operation=Asset.Operation.UPLOAD,
            team_id=_team_id(request.POST.get("team", "")),
        )
    except (asset_imports.ImageImportError, TeamChoiceError) as error:
        return _Uploaded(name=name, error=str(error))
    return _Uploaded(name=name, asset=asset)


def _team_id(value: str) -> int | None:
    """The team picked on the upload form; nothing picked (or one team only): the uploader's first."""
    if not value:
        return None
    if not value.isdigit():
        raise TeamChoiceError("Pick one of your teams.")
    return int(value)


def _uploaded_json(name: str, asset: Asset) -> dict:
    return {
        "id": asset.pk,
        "name": name,
        "width": asset.width,
        "height": asset.height,
        # By name: the asset page is review's, and generation does not import review.
        "asset_url": reverse("review:asset", args=[asset.pk]),
        "thumbnail_url": reverse("generation:asset-file", args=[asset.pk]),
    }


def _upload_page(
    request: AuthenticatedHttpRequest, *, results: list[_Uploaded], error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "results": results,
        "error": error,
        "campaign": request.POST.get("campaign", ""),
        "product": request.POST.get("product", ""),
        "teams": list(teams_of(user=request.user)),
        "team": request.POST.get("team", ""),
        "max_bytes": settings.STUDIO_UPLOAD_MAX_BYTES,
        "max_megapixels": settings.STUDIO_UPLOAD_MAX_PIXELS / 1_000_000,
    }
    return render(request, "generation/upload.html", context, status=status)


@login_required
@permission_required("generation.add_generationrequest", raise_exception=True)
def refine(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    return refine_page(request, asset)


def get_visible_asset(request: HttpRequest, asset_id: int) -> Asset:
    """The asset if this user may see it, else 404 (never 403: another user's id says nothing)."""
    asset = selectors.asset_get_visible(user=request.user, asset_id=asset_id)
    if asset is None:
        raise Http404("No such asset.")
    return asset


def refine_page(
    request: AuthenticatedHttpRequest,
    asset: Asset,
    *,
    revises: Asset | None = None,
    extra_context: dict | None = None,
) -> HttpResponse:
    """The Refine page for ``asset`` (GET) and its submission (POST); review's "Revise" page reuses it."""
    form = RefineForm(request.POST or None, request.FILES or None, initial=_refine_initial(request, asset))
    if request.method == "POST" and form.is_valid():
        try:
            generation_request = services.refine_request_create(
                user=request.user, source=asset, parameters=form.parameters(), revises=revises
            )
        except services.RefineRequestError as error:
            form.add_error(None, str(error))
        else:
            return redirect("generation:request", request_id=generation_request.pk)
    context = {
        "form": form,
        "asset": asset,
        "operations": [OPERATIONS[key] for key in form.operations],
        "models": form.models,
        "lineage": selectors.asset_lineage(asset=asset, viewer=request.user),
        "revises": revises,
        "aspect_presets": list(OUTPAINT_ASPECTS),
        "meters": _prompt_meters(
            prompt=form["prompt"].value() or "",
            negative_prompt=form["negative_prompt"].value() or "",
            style="none",
        ),
        **(extra_context or {}),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "generation/refine.html", context, status=status)


def _refine_initial(request: AuthenticatedHttpRequest, asset: Asset) -> dict:
    initial: dict = {"operation": request.GET.get("operation") or "inpaint"}
    if asset.request is not None:
        initial["prompt"] = asset.request.prompt
        initial["model"] = asset.request.model_key or None
    return initial


@login_required
@require_GET
@vary_on_headers("HX-Request")
def request_detail(request: HtmxHttpRequest, request_id: int) -> HttpResponse:
    return _request_page(request, _get_visible_request(request, request_id))


def _request_page(request: HtmxHttpRequest, generation_request: GenerationRequest) -> HttpResponse:
    """The request page; to htmx, its progress fragment (what the page polls, and what Cancel swaps in)."""
    context = {
        "generation_request": generation_request,
        "assets": generation_request.assets.all(),
        "can_cancel": _can_cancel(request, generation_request),
        "max_attempts": settings.STUDIO_JOB_MAX_ATTEMPTS,
    }
    if not request.htmx:
        context.update(_request_facts(generation_request))
    template = "generation/request.html#progress" if request.htmx else "generation/request.html"
    return render(request, template, context)


def _request_facts(generation_request: GenerationRequest) -> dict:
    """What the request page says about the request in words: the model's and style's names, and the words
    of each prompt the model did not read."""
    style = STYLES.get(generation_request.style)
    return {
        "model_name": model_name(generation_request.model_key),
        "style_label": style.label if style and style.key != "none" else "",
        "unread_prompt": read_prompt(generation_request.full_prompt).unread,
        "unread_negative_prompt": read_prompt(generation_request.full_negative_prompt).unread,
        "token_limit": PromptReading.limit,
    }


def _get_visible_request(request: HttpRequest, request_id: int) -> GenerationRequest:
    generation_request = selectors.generation_request_get_visible(user=request.user, request_id=request_id)
    if generation_request is None:
        raise Http404("No such generation request.")
    return generation_request


def _can_cancel(request: HttpRequest, generation_request: GenerationRequest) -> bool:
    return not generation_request.is_finished and (
        generation_request.created_by_id == request.user.pk or request.user.is_superuser
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def request_cancel(request: HtmxHttpRequest, request_id: int) -> HttpResponse:
    generation_request = _get_visible_request(request, request_id)
    if not (generation_request.created_by_id == request.user.pk or request.user.is_superuser):
        raise PermissionDenied("Only the person who started a generation can cancel it.")
    outcome = services.generation_request_cancel(generation_request=generation_request)
    if request.htmx:
        # The fragment says what happened: "Canceled", or "Stopping…" until the worker stops at its next step.
        generation_request.refresh_from_db()
        return _request_page(request, generation_request)
    if outcome == "canceled":
        messages.info(request, "Canceled.")
    elif outcome == "stopping":
        messages.info(request, "Stopping: the generation stops after its current step.")
    else:
        messages.info(request, "This generation had already finished; there was nothing to cancel.")
    return redirect("generation:request", request_id=request_id)


@login_required
@require_GET
def gallery(request: AuthenticatedHttpRequest) -> HttpResponse:
    only_mine = request.GET.get("mine") == "1"
    requests = selectors.generation_request_list(viewer=request.user, only_own=only_mine, limit=60)
    context = {
        "requests": requests,
        "only_mine": only_mine,
        "sees_everything": selectors.sees_everything(user=request.user),
    }
    return render(request, "generation/gallery.html", context)


@login_required
@require_GET
def asset_file(request: AuthenticatedHttpRequest, asset_id: int) -> FileResponse:
    # Unapproved images are never public: they are served only to signed-in users who may see them.
    if not request.user.has_perm("generation.view_asset"):
        raise PermissionDenied
    asset = get_visible_asset(request, asset_id)
    response = FileResponse(asset.file.open("rb"), content_type=_CONTENT_TYPES.get(asset.format, "image/png"))
    # Originals, approved or not, never stay in a shared or browser cache: access is decided per request.
    response["Cache-Control"] = "private, no-store"
    return response


_CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
