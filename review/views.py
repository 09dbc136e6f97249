import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generation import selectors as generation_selectors
from generation.views import get_visible_asset, refine_page
from review import selectors, services
from review.forms import BulkDecisionForm, CommentForm, DecisionForm
from review.models import AssetReview, ReviewState
from review.panels import render_asset_panels


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    flagged_only = request.GET.get("flagged") == "1"
    reviews = list(selectors.review_queue(flagged_only=flagged_only))
    context = {"reviews": reviews, "flagged_only": flagged_only, "counts": selectors.review_queue_counts()}
    return render(request, "review/queue.html", context)


@login_required
@require_GET
def asset_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state and state not in ReviewState.values:
        state = ""
    mine = request.GET.get("mine") == "1"
    reviews = selectors.assets_with_state(viewer=request.user, only_own=mine, state=state or None)
    context = {"reviews": reviews, "state": state, "mine": mine, "states": ReviewState.choices}
    return render(request, "review/assets.html", context)


@login_required
@require_GET
def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    # Assets from before review existed have no row yet: show them as drafts without writing on a GET.
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    from_queue = request.GET.get("from") == "queue"
    can_refine = request.user.has_perm("generation.add_generationrequest")
    can_decide = review.state == ReviewState.IN_REVIEW and services.can_decide(
        actor=request.user, asset=asset
    )
    needs_flag_check = services.needs_flag_check(asset=asset, review=review)
    context = {
        "asset": asset,
        "review": review,
        "facts": generation_selectors.asset_facts(asset=asset),
        "history": selectors.review_history(asset=asset),
        "can_decide": can_decide,
        # Moderation: a flagged image shows blurred until asked (?reveal=1), and waits for "checked, safe".
        "needs_flag_check": needs_flag_check,
        "can_check_safe": can_decide and needs_flag_check,
        "reveal": request.GET.get("reveal") == "1",
        "can_submit": review.state in services.SUBMITTABLE_FROM
        and services.can_submit(actor=request.user, asset=asset),
        "can_revoke": review.state == ReviewState.APPROVED
        and request.user.has_perm("review.revoke_assetreview"),
        "is_own": asset.created_by_id == request.user.pk,
        "decision_form": DecisionForm(),
        "from_queue": from_queue,
        "queue_position": selectors.review_queue_position(review=review) if from_queue else None,
        "panels": render_asset_panels(request, asset, review),
        "lineage": generation_selectors.asset_lineage(asset=asset, viewer=request.user),
        "can_refine": can_refine,
        "can_revise": can_refine and review.state == ReviewState.CHANGES_REQUESTED,
        # A revision is shown beside the asset it answers and the reviewer's words it answers.
        "revision_answers": selectors.latest_changes_request(asset=asset.revision_of)
        if asset.revision_of_id
        else None,
    }
    return render(request, "review/asset.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def revise(request: HttpRequest, asset_id: int) -> HttpResponse:
    """The Refine page for an asset a reviewer sent back; what it makes is linked to it as its revision."""
    if not request.user.has_perm("generation.add_generationrequest"):
        raise PermissionDenied("Only people who may generate images can revise one.")
    asset = get_visible_asset(request, asset_id)
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    if review.state != ReviewState.CHANGES_REQUESTED:
        raise PermissionDenied(
            f"Asset {asset.pk} is {review.get_state_display().lower()}: only an asset a reviewer asked "
            "changes on can be revised. Refine makes a new image from it instead."
        )
    event = selectors.latest_changes_request(asset=asset)
    context = {"review_comment": event.comment if event else "", "review_event": event}
    return refine_page(request, asset, revises=asset, extra_context=context)


@login_required
@require_POST
def decide(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve, request changes or reject.")
        return redirect("review:asset", asset_id=asset_id)
    try:
        review = services.asset_review_decide(
            asset=asset,
            actor=request.user,
            decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
        )
    except services.ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except services.ReviewError as error:
        messages.error(request, str(error))
        return redirect("review:asset", asset_id=asset_id)
    messages.success(request, f"Asset {asset.pk}: {review.get_state_display().lower()}.")
    if request.POST.get("from") == "queue":
        own = None if settings.STUDIO_ALLOW_SELF_APPROVAL else request.user
        next_id = selectors.review_queue_next(after=review, skip_created_by=own)
        if next_id:
            return redirect(f"{reverse('review:asset', args=[next_id])}?from=queue")
        return redirect("review:queue")
    return redirect("review:asset", asset_id=asset_id)


@login_required
@require_POST
def checked_safe(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    form = CommentForm(request.POST)
    url = reverse("review:asset", args=[asset_id])
    if request.POST.get("from") == "queue":
        url = f"{url}?from=queue"
    if not form.is_valid():
        messages.error(request, _comment_refused(form))
        return redirect(url)
    try:
        services.asset_review_mark_checked_safe(
            asset=asset, actor=request.user, comment=form.cleaned_data["comment"]
        )
        messages.success(request, "Marked checked, safe: it can be approved now.")
    except services.ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except services.ReviewError as error:
        messages.error(request, str(error))
    return redirect(url)


def _comment_refused(form: CommentForm) -> str:
    # Acting without the comment would record the step with the reviewer's words silently dropped.
    return "Nothing was changed: the comment was refused. " + " ".join(form.errors.get("comment", []))


# Spreadsheets run a cell that starts with one of these as a formula; comments and prompts are user text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


@login_required
@permission_required("review.view_assetreview", raise_exception=True)
@require_GET
def history_csv(request: HttpRequest, asset_id: int) -> HttpResponse:
    """The asset's review history, decisions and moderation steps, one event a row."""
    asset = get_visible_asset(request, asset_id)
    filename = f"asset-{asset.pk}-history.csv"
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(as_attachment=True, filename=filename)},
    )
    writer = csv.writer(response)
    writer.writerow(["time", "actor", "kind", "from_state", "to_state", "comment"])
    for event in selectors.review_history(asset=asset):
        writer.writerow(
            [
                event.created_at.isoformat(),
                _csv_cell(event.actor.get_username()),
                event.kind,
                event.from_state,
                event.to_state,
                _csv_cell(event.comment),
            ]
        )
    return response


@login_required
@require_POST
def submit(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _comment_refused(form))
        return redirect("review:asset", asset_id=asset_id)
    try:
        services.asset_review_submit(asset=asset, actor=request.user, comment=form.cleaned_data["comment"])
        messages.success(request, "Submitted for review.")
    except services.ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except services.ReviewError as error:
        messages.error(request, str(error))
    return redirect("review:asset", asset_id=asset_id)


@login_required
@require_POST
def revoke(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _comment_refused(form))
        return redirect("review:asset", asset_id=asset_id)
    try:
        services.asset_review_revoke(asset=asset, actor=request.user, comment=form.cleaned_data["comment"])
        messages.success(request, "Approval revoked: its delivery URLs now answer 404.")
    except services.ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except services.ReviewError as error:
        messages.error(request, str(error))
    return redirect("review:asset", asset_id=asset_id)


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_POST
def bulk_decide(request: HttpRequest) -> HttpResponse:
    queued_ids = [review.asset_id for review in selectors.review_queue()]
    form = BulkDecisionForm(request.POST, asset_ids=queued_ids)
    if not form.is_valid():
        messages.error(request, "Select images still in the queue and a decision.")
        return redirect("review:queue")
    done, refused = 0, []
    for asset in generation_selectors.asset_list(ids=form.cleaned_data["assets"]):
        try:
            services.asset_review_decide(
                asset=asset,
                actor=request.user,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
            )
            done += 1
        except services.ReviewError as error:
            refused.append(f"#{asset.pk}: {error}")
    if done:
        messages.success(request, f"{done} asset{'s' if done != 1 else ''} updated.")
    for reason in refused:
        messages.error(request, reason)
    return redirect("review:queue")
