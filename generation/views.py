from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from generation import selectors, services
from generation.engine.registry import available_models
from generation.forms import CHANNEL_SUGGESTIONS, GenerateForm
from generation.models import Asset, GenerationRequest


@login_required
@permission_required("generation.add_generationrequest", raise_exception=True)
def create(request: HttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        generation_request = services.generation_request_create(
            user=request.user, parameters=form.parameters()
        )
        return redirect("generation:request", request_id=generation_request.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "form": form,
        "models": available_models("text2img"),
        "channels": CHANNEL_SUGGESTIONS,
        "recent": selectors.generation_request_list(user=request.user, limit=6),
    }
    return render(request, "generation/create.html", context, status=status)


@login_required
@require_GET
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    generation_request = get_object_or_404(
        GenerationRequest.objects.select_related("created_by"), pk=request_id
    )
    context = {
        "generation_request": generation_request,
        "assets": generation_request.assets.all(),
        "can_cancel": _can_cancel(request, generation_request),
    }
    template = "generation/request.html#progress" if request.htmx else "generation/request.html"
    return render(request, template, context)


def _can_cancel(request: HttpRequest, generation_request: GenerationRequest) -> bool:
    return not generation_request.is_finished and (
        generation_request.created_by_id == request.user.pk or request.user.is_superuser
    )


@login_required
@require_POST
def request_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    generation_request = get_object_or_404(GenerationRequest, pk=request_id)
    if not _can_cancel(request, generation_request):
        raise PermissionDenied("Only the person who started a generation can cancel it.")
    if services.generation_request_cancel(request=generation_request):
        messages.info(request, "Canceling: the generation stops after its current step.")
    return redirect("generation:request", request_id=request_id)


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    only_mine = request.GET.get("mine") == "1"
    requests = selectors.generation_request_list(user=request.user if only_mine else None, limit=60)
    return render(request, "generation/gallery.html", {"requests": requests, "only_mine": only_mine})


@login_required
@require_GET
def asset_file(request: HttpRequest, asset_id: int) -> FileResponse:
    # Unapproved images are never public: they are served only to signed-in staff, from storage.
    if not request.user.has_perm("generation.view_asset"):
        raise PermissionDenied
    asset = get_object_or_404(Asset, pk=asset_id)
    response = FileResponse(asset.file.open("rb"), content_type=f"image/{asset.format}")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
