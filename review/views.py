import csv
from dataclasses import asdict
from typing import Protocol

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generation import selectors as generation_selectors
from generation.models import Asset
from generation.views import get_visible_asset, refine_page
from review import decisions, selectors
from review.actions import asset_actions
from review.comment_views import thread_context
from review.crop_views import channel_crops_context
from review.errors import ReviewError, ReviewPermissionError
from review.forms import BulkDecisionForm, CommentForm, DecisionForm, QueueFilterForm, queue_filters_from
from review.models import AssetReview, ReviewState
from review.panels import render_asset_panels
from review.revisions import revision_refusal
from studio.http import AuthenticatedHttpRequest


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_GET
def queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The review queue: filtered, searched, counted per state, a page at a time, decided in bulk."""
    return _queue_page(request, QueueFilterForm(request.GET))


def _queue_page(
    request: AuthenticatedHttpRequest, form: QueueFilterForm, *, bulk_form: BulkDecisionForm | None = None
) -> HttpResponse:
    context = {"form": form, "suggestions": selectors.review_queue_suggestions(viewer=request.user)}
    if not form.is_valid():
        # Nothing is listed under filters that do not read: the page says which field is wrong, and why.
        return render(request, "review/queue.html", context, status=400)
    page = selectors.review_queue_page(
        viewer=request.user,
        filters=form.filters(),
        page=form.cleaned_data["page"] or 1,
        per_page=form.cleaned_data["per_page"],
    )
    # After a bulk decision the queue comes back under the same filters, from its first page.
    bulk_form = bulk_form or BulkDecisionForm(initial={"filters": form.query()})
    context |= {
        "page": page,
        "filters": form.filters(),
        "query": form.query(),
        "open_suffix": f"?from=queue&{form.query()}" if form.query() else "?from=queue",
        "state_total": page.counts[form.filters().state],
        "state_tabs": [
            (value, label, page.counts[value], form.query(state=value))
            for value, label in ReviewState.choices
        ],
        "all_query": form.query(flagged=False),
        "flagged_query": form.query(flagged=True),
        "previous_query": form.query(page=page.number - 1) if page.number > 1 else None,
        "next_query": form.query(page=page.number + 1) if page.number < page.pages else None,
        "bulk_form": bulk_form,
        "selected": set(bulk_form.cleaned_data.get("assets", [])) if bulk_form.is_bound else set(),
        "checklist": selectors.checklist_items(),
        "checklist_ticked": set(bulk_form.cleaned_data.get("checklist", [])) if bulk_form.is_bound else set(),
    }
    return render(request, "review/queue.html", context, status=400 if bulk_form.is_bound else 200)


@login_required
@require_GET
def asset_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state and state not in ReviewState.values:
        state = ""
    mine = request.GET.get("mine") == "1"
    reviews = selectors.assets_with_state(viewer=request.user, only_own=mine, state=state or None)
    context = {"reviews": reviews, "state": state, "mine": mine, "states": ReviewState.choices}
    return render(request, "review/assets.html", context)


@login_required
@require_GET
def asset_detail(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    # Assets from before review existed have no row yet: show them as drafts without writing on a GET.
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    from_queue = request.GET.get("from") == "queue"
    filters, queue_query = queue_filters_from(request.GET.urlencode()) if from_queue else (None, "")
    actions = asset_actions(actor=request.user, asset=asset, review=review)
    context = {
        "asset": asset,
        "review": review,
        "facts": generation_selectors.asset_facts(asset=asset),
        "history": selectors.review_history(asset=asset),
        **asdict(actions),
        # Moderation: a flagged image shows blurred until asked (?reveal=1), and waits for "checked, safe".
        "needs_flag_check": decisions.needs_flag_check(asset=asset, review=review),
        "reveal": request.GET.get("reveal") == "1",
        "is_own": asset.created_by_id == request.user.pk,
        "decision_form": DecisionForm(),
        "from_queue": from_queue,
        "queue_position": selectors.review_queue_position(review=review, viewer=request.user, filters=filters)
        if filters is not None  # from the queue
        else None,
        # The queue's filters ride along (links, the decision form), so the walk stays in the filtered queue.
        "queue_query": queue_query,
        "panels": render_asset_panels(request, asset, review),
        "channel_crops": channel_crops_context(request, asset, review),
        "lineage": generation_selectors.asset_lineage(asset=asset, viewer=request.user),
        # A revision is shown beside the asset it revises and the reviewer's words it answers, if any.
        "revision_answers": selectors.change_request_answered(revision=asset),
        **thread_context(request, asset, review, can_decide=actions.can_decide),
    }
    return render(request, "review/asset.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def revise(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    """The Refine page for an asset a reviewer sent back, or for an approved one (a new version that may take
    over its public id when approved); what it makes is linked to it as its revision."""
    if not request.user.has_perm("generation.add_generationrequest"):
        raise PermissionDenied("Only people who may generate images can revise one.")
    asset = get_visible_asset(request, asset_id)
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    if refusal := revision_refusal(review):
        raise PermissionDenied(f"{refusal} Refine makes a new image from it instead.")
    event = (
        selectors.latest_changes_request(asset=asset)
        if review.state == ReviewState.CHANGES_REQUESTED
        else None
    )
    context = {
        "review_comment": event.comment if event else "",
        "review_event": event,
        "revises_approved": review.state == ReviewState.APPROVED,
        "revises_public_id": review.public_id,
    }
    return refine_page(request, asset, revises=asset, extra_context=context)


@login_required
@require_POST
def decide(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    asset = get_visible_asset(request, asset_id)
    form = DecisionForm(request.POST)
    from_queue = request.POST.get("from") == "queue"
    filters, query = queue_filters_from(request.POST.get("queue_filters", ""))
    suffix = f"?from=queue&{query}" if query else "?from=queue"
    # A refused decision comes back to the page as it was opened: still walking the (filtered) queue.
    back = reverse("review:asset", args=[asset_id]) + (suffix if from_queue else "")
    if not form.is_valid():
        messages.error(request, "Choose approve, request changes or reject.")
        return redirect(back)
    try:
        review = decisions.asset_review_decide(
            asset=asset,
            actor=request.user,
            decision=form.cleaned_data["decision"],
            comment=form.cleaned_data["comment"],
            checklist=form.cleaned_data["checklist"],
            take_over=form.cleaned_data["take_over"],
            # Added by static/crops.js as each channel crop is seen on the page.
            crops_seen=request.POST.getlist("crops_seen")[:100],
        )
    except ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except ReviewError as error:
        messages.error(request, str(error))
        return redirect(back)
    messages.success(request, f"Asset {asset.pk}: {review.get_state_display().lower()}.")
    if from_queue:
        own = None if settings.STUDIO_ALLOW_SELF_APPROVAL else request.user
        next_id = selectors.review_queue_next(
            after=review, viewer=request.user, filters=filters, skip_created_by=own
        )
        if next_id:
            return redirect(reverse("review:asset", args=[next_id]) + suffix)
        return redirect(_queue_url(query))
    return redirect("review:asset", asset_id=asset_id)


def _queue_url(query: str) -> str:
    """The queue under the filters of ``query``, from its first page."""
    return f"{reverse('review:queue')}?{query}" if query else reverse("review:queue")


class _CommentStep(Protocol):
    def __call__(self, *, asset: Asset, actor: User, comment: str) -> AssetReview: ...


def _comment_step(
    request: AuthenticatedHttpRequest, asset_id: int, step: _CommentStep, *, done: str, back: str = ""
) -> HttpResponse:
    """A step that takes the actor's comment and nothing else (checked safe, submit, revoke), then goes back
    (to the asset page unless told) saying how it went; a step that is not the actor's to take is a 403."""
    asset = get_visible_asset(request, asset_id)
    back = back or reverse("review:asset", args=[asset_id])
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _comment_refused(form))
        return redirect(back)
    try:
        step(asset=asset, actor=request.user, comment=form.cleaned_data["comment"])
    except ReviewPermissionError as error:
        raise PermissionDenied(str(error)) from error
    except ReviewError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect(back)


@login_required
@require_POST
def checked_safe(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    back = reverse("review:asset", args=[asset_id])
    if request.POST.get("from") == "queue":
        back = f"{back}?from=queue"
    return _comment_step(
        request,
        asset_id,
        decisions.asset_review_mark_checked_safe,
        done="Marked checked, safe: it can be approved now.",
        back=back,
    )


def _comment_refused(form: CommentForm) -> str:
    # Acting without the comment would record the step with the reviewer's words silently dropped.
    return "Nothing was changed: the comment was refused. " + " ".join(
        map(str, form.errors.get("comment", []))
    )


# Spreadsheets run a cell that starts with one of these as a formula; comments and prompts are user text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


@login_required
@permission_required("review.view_assetreview", raise_exception=True)
@require_GET
def history_csv(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
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
def submit(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    return _comment_step(request, asset_id, decisions.asset_review_submit, done="Submitted for review.")


@login_required
@require_POST
def revoke(request: AuthenticatedHttpRequest, asset_id: int) -> HttpResponse:
    done = "Approval revoked: its delivery URLs now answer 404."
    return _comment_step(request, asset_id, decisions.asset_review_revoke, done=done)


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_POST
def bulk_decide(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One decision for the images selected in the queue (``decisions.asset_reviews_decide``): each refused
    one says why and the others are decided. What the form refuses (an approval with a checklist item left
    unticked, a rejection without a comment) refuses the whole batch."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        # Nothing changes: the queue comes back with what was wrong and the selection still ticked.
        filter_form = QueueFilterForm(QueryDict(request.POST.get("filters", "")))
        return _queue_page(request, filter_form, bulk_form=form)
    outcome = decisions.asset_reviews_decide(
        actor=request.user,
        asset_ids=form.cleaned_data["assets"],
        decision=form.cleaned_data["decision"],
        comment=form.cleaned_data["comment"],
        checklist=form.cleaned_data["checklist"],
    )
    if outcome.decided:
        messages.success(request, f"{outcome.decided} asset{'s' if outcome.decided != 1 else ''} updated.")
    for asset_id, reason in outcome.refused:
        messages.error(request, f"#{asset_id}: {reason}")
    _, query = queue_filters_from(form.cleaned_data["filters"])
    return redirect(_queue_url(query))
