"""The review page's channel crops and focal point: what each destination channel will serve, and the point
its ``g_auto`` crops centre on. One partial (``review/channel_crops.html``) serves the page and htmx."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from generation.models import Asset
from generation.views import get_visible_asset
from review import selectors, signoff
from review.actions import asset_actions
from review.edits import asset_focal_point_set, can_set_focal_point
from review.errors import ReviewConflictError, ReviewError, ReviewPermissionError
from review.models import AssetReview
from studio.http import AuthenticatedHttpRequest, HtmxHttpRequest


class FocalPointForm(forms.Form):
    x = forms.FloatField(required=False, min_value=0, max_value=1)
    y = forms.FloatField(required=False, min_value=0, max_value=1)
    action = forms.ChoiceField(choices=[("set", "set"), ("clear", "clear")], required=False)

    def clean(self) -> dict:
        data = self.cleaned_data
        if (
            data.get("action") != "clear"
            and not self.errors
            and (data.get("x") is None or data.get("y") is None)
        ):
            raise forms.ValidationError(
                "Give both x and y, as fractions from 0 to 1 of the width and height."
            )
        return data


def channel_crops_context(request: AuthenticatedHttpRequest, asset: Asset, review: AssetReview) -> dict:
    """What ``review/channel_crops.html`` needs, for the asset page and the htmx fragment alike."""
    can_decide = asset_actions(actor=request.user, asset=asset, review=review).can_decide
    return {
        "asset": asset,
        "crops": signoff.channel_crops(asset=asset),
        "can_decide": can_decide,
        "can_set_focal": can_set_focal_point(actor=request.user, asset=asset, review=review),
        "focal": (asset.focal_x, asset.focal_y)
        if asset.focal_x is not None and asset.focal_y is not None
        else None,
    }


def _review_of(asset: Asset) -> AssetReview:
    return selectors.review_state_of(asset=asset) or AssetReview(asset=asset)


def _section(
    request: AuthenticatedHttpRequest, asset: Asset, *, status: int = 200, error: str = ""
) -> HttpResponse:
    context = channel_crops_context(request, asset, _review_of(asset)) | {"focal_error": error}
    response = render(request, "review/channel_crops.html", context, status=status)
    patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
@require_GET
@vary_on_headers("HX-Request")
def crops_section(request: HtmxHttpRequest, asset_id: int) -> HttpResponse:
    """The channel crops section alone (htmx reloads it); without htmx, the asset page holds it."""
    asset = get_visible_asset(request, asset_id)
    if not request.htmx:
        return redirect(f"{reverse('review:asset', args=[asset.pk])}#channel-crops")
    return _section(request, asset)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def focal_point(request: HtmxHttpRequest, asset_id: int) -> HttpResponse:
    """Set or clear the asset's focal point; htmx gets the crops re-rendered around it at once."""
    asset = get_visible_asset(request, asset_id)
    # Someone who may not move it is told so, whatever they sent (not that their numbers were wrong).
    if not can_set_focal_point(actor=request.user, asset=asset, review=_review_of(asset)):
        raise PermissionDenied(
            "Its creator can move the focal point before submitting; a reviewer at any time."
        )
    htmx = bool(request.htmx)
    form = FocalPointForm(request.POST)
    if not form.is_valid():
        error = "Nothing was changed: " + " ".join(
            f"{name}: {' '.join(map(str, errors))}" if name != "__all__" else " ".join(map(str, errors))
            for name, errors in form.errors.items()
        )
        return _refused(request, asset, error, status=400, htmx=htmx)
    clear = form.cleaned_data["action"] == "clear"
    try:
        point = asset_focal_point_set(
            asset=asset,
            actor=request.user,
            x=None if clear else form.cleaned_data["x"],
            y=None if clear else form.cleaned_data["y"],
        )
    except ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except ReviewConflictError as error:
        return _refused(request, asset, str(error), status=409, htmx=htmx)
    except ReviewError as error:
        return _refused(request, asset, str(error), status=400, htmx=htmx)
    if htmx:
        return _section(request, asset)
    messages.success(
        request, f"Focal point set to x {point[0]:g}, y {point[1]:g}." if point else "Focal point cleared."
    )
    return redirect(f"{reverse('review:asset', args=[asset.pk])}#channel-crops")


def _refused(
    request: AuthenticatedHttpRequest, asset: Asset, error: str, *, status: int, htmx: bool
) -> HttpResponse:
    if htmx:
        # static/crops.js lets htmx swap this in, so the section itself says what was wrong.
        asset.refresh_from_db(fields=["focal_x", "focal_y"])
        return _section(request, asset, status=status, error=error)
    messages.error(request, error)
    return redirect(f"{reverse('review:asset', args=[asset.pk])}#channel-crops")
