"""The variant builder page: pick crop, size, gravity, format, quality, density, an effect and any further
components for an approved asset, with a live preview (htmx) and copy-ready signed URL and snippet."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from delivery.builder import VariantForm, build_variant
from delivery.transformations import TransformationError
from generation.views import get_visible_asset
from review import selectors as review_selectors
from review.models import ReviewState
from studio.http import HtmxHttpRequest


@login_required
@require_GET
@vary_on_headers("HX-Request")
def variant_builder(request: HtmxHttpRequest, asset_id: int) -> HttpResponse:
    """The page (GET), or with ``HX-Request`` only its result fragment: the preview, the signed URL, the
    snippet, the planned size and an upscale warning, or the grammar's reason in their place."""
    if not request.user.has_perm("generation.view_asset"):
        raise PermissionDenied("Your account may not build delivery URLs.")
    asset = get_visible_asset(request, asset_id)  # 404 for another team's asset
    review = review_selectors.review_state_of(asset=asset)
    if review is None or review.state != ReviewState.APPROVED or not review.public_id:
        state = review.get_state_display().lower() if review else "a draft"
        return render(
            request,
            "delivery/variant_builder.html",
            {"asset": asset, "not_approved": state},
            status=409,
        )
    form = VariantForm(request.GET or {"format": "auto"})
    context = {"asset": asset, "review": review, "form": form, "variant": None, "error": None}
    if form.is_valid():
        try:
            context["variant"] = build_variant(
                request,
                public_id=review.public_id,
                source_size=(asset.width, asset.height),
                transformation=form.transformation(),
                snippet_transformation=form.transformation(with_format=False),
                ext=form.ext(),
                alt=asset.title or f"Asset {asset.pk}",
            )
        except TransformationError as error:
            context["error"] = str(error)
    else:
        context["error"] = " ".join(
            f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(map(str, errors))}"
            for name, errors in form.errors.items()
        )
    if request.htmx:
        # htmx swaps 2xx only: a bad choice is the fragment with the reason, in place of the preview.
        return render(request, "delivery/variant_builder.html#result", context)
    return render(request, "delivery/variant_builder.html", context, status=400 if context["error"] else 200)
