"""The metadata and usage-rights edit (its panel sits on the asset page; this page is where it posts)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from generation.views import get_visible_asset
from review import selectors
from review.errors import ReviewConflictError, ReviewPermissionError
from review.metadata import (
    MetadataInvalidError,
    asset_metadata_update,
    can_edit_metadata,
)
from review.metadata_forms import AssetMetadataEditForm
from review.models import AssetReview
from studio.http import AuthenticatedHttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def asset_metadata(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    if not can_edit_metadata(actor=request.user, asset=asset, state=review.state):
        raise PermissionDenied(
            f"Asset {asset.pk} is {review.get_state_display().lower()}: its creator can edit it before "
            "submitting; a reviewer at any time."
        )
    form = AssetMetadataEditForm.for_asset(asset, data=request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                changed = asset_metadata_update(asset=asset, actor=request.user, changes=form.cleaned_data)
            except ReviewPermissionError as error:
                raise PermissionDenied(str(error)) from error
            except MetadataInvalidError as error:
                for field, problem in error.problems.items():
                    form.add_error(field if field in form.fields else None, problem)
            except ReviewConflictError as error:
                messages.error(request, str(error))
                return redirect("review:asset", asset_id=asset.pk)
            else:
                if changed:
                    messages.success(
                        request, f"Saved: {len(changed)} field{'s' if len(changed) != 1 else ''} changed."
                    )
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("review:asset", asset_id=asset.pk)
        status = 400
    context = {"asset": asset, "review": review, "form": form}
    return render(request, "review/metadata.html", context, status=status)
