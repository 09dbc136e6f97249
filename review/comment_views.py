"""The asset page's comment thread (general and pinned comments, one level of replies), the checklist and
take-over choice of its decision form, and what a revision shows of the version it revises."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from generation import selectors as generation_selectors
from generation.models import Asset
from generation.views import get_visible_asset
from review import selectors
from review.comments import COMMENT_MAX_LENGTH, comment_create
from review.errors import ReviewError, ReviewPermissionError
from review.models import AssetReview, ReviewState
from studio.http import AuthenticatedHttpRequest, HtmxHttpRequest


class CommentPostForm(forms.Form):
    # Emptiness and length are the service's to refuse, with its words; this bound only keeps posts small.
    body = forms.CharField(max_length=COMMENT_MAX_LENGTH * 2, required=False, strip=False)
    parent = forms.IntegerField(required=False, min_value=1)
    x = forms.FloatField(required=False, min_value=0, max_value=1)
    y = forms.FloatField(required=False, min_value=0, max_value=1)

    def problem(self) -> str:
        if "x" in self.errors or "y" in self.errors:
            return "A pin must be inside the image."
        if "body" in self.errors:
            return f"Keep a comment under {COMMENT_MAX_LENGTH} characters."
        return "That reply names no comment."


def _thread(asset: Asset) -> dict:
    return {
        "asset": asset,
        "thread": selectors.comment_thread(asset=asset),
        "comment_max": COMMENT_MAX_LENGTH,
    }


def thread_context(
    request: AuthenticatedHttpRequest, asset: Asset, review: AssetReview, *, can_decide: bool
) -> dict:
    """What the asset page adds for the thread, the decision checklist and a revision's comparison."""
    context = _thread(asset)
    context["checklist"] = selectors.checklist_items() if can_decide else []
    replaces = selectors.replaced_version(asset=asset) if can_decide and asset.revision_of_id else None
    context["replaces"] = replaces
    context["replaces_public_id"] = selectors.public_id_of(asset=replaces) if replaces else None
    earlier = asset.revision_of
    # The earlier version's comments, read-only, for whoever may see that version too.
    if earlier is not None and generation_selectors.asset_get_visible(user=request.user, asset_id=earlier.pk):
        context["earlier_thread"] = selectors.comment_thread(asset=earlier)
    versions = selectors.public_id_versions(asset=asset)
    context["versions"] = [
        {
            "number": version.version,
            "asset_id": version.asset_id,
            "state": version.asset.review.get_state_display(),
            "current": version.asset.review.state == ReviewState.APPROVED,
            "this": version.asset_id == asset.pk,
            "url": reverse("delivery:serve", args=[f"v{version.version}/{version.public_id}"]),
        }
        for version in versions
    ]
    context["versions_public_id"] = versions[0].public_id if versions else None
    return context


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def comments(request: HtmxHttpRequest, asset_id: int) -> HttpResponse:
    """The thread (GET, a fragment for htmx), or a new comment or reply (POST): htmx gets the thread back,
    a plain form post goes back to the asset page."""
    asset = get_visible_asset(request, asset_id)
    page = f"{reverse('review:asset', args=[asset.pk])}#comments"
    if request.method == "GET":
        if not request.htmx:
            return redirect(page)
        return render(request, "review/comments.html", _thread(asset))
    form = CommentPostForm(request.POST)
    error = None
    if not form.is_valid():
        error = form.problem()
    else:
        parent = None
        if form.cleaned_data["parent"] is not None:
            parent = selectors.comment_get(asset=asset, comment_id=form.cleaned_data["parent"])
            if parent is None:
                error = "The comment you answered is not on this asset."
        if error is None:
            try:
                comment_create(
                    asset=asset,
                    author=request.user,
                    body=form.cleaned_data["body"],
                    parent=parent,
                    x=form.cleaned_data["x"],
                    y=form.cleaned_data["y"],
                )
            except ReviewPermissionError as problem:
                raise PermissionDenied(str(problem)) from problem
            except ReviewError as problem:
                error = str(problem)
    if not request.htmx:
        if error:
            messages.error(request, f"Nothing was posted: {error}")
        return redirect(page)
    context = _thread(asset)
    if error:
        # The words stay in the form, so nothing typed is lost to a refusal.
        context.update(
            comment_error=error,
            draft=request.POST.get("body", ""),
            draft_parent=form.cleaned_data.get("parent") if form.is_valid() else None,
        )
    return render(request, "review/comments.html", context, status=400 if error else 200)
