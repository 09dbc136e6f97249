"""Exports: a review's decisions as CSV, and the page that offers them with the campaign ZIP (whose
builder is delivery's, delivery/exports.py, as it renders the channel variants)."""

import csv
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from generation import selectors as generation_selectors
from review.models import ReviewEvent, ReviewState
from review.views import _csv_cell

DECISION_STATES = (
    ReviewState.APPROVED,
    ReviewState.CHANGES_REQUESTED,
    ReviewState.REJECTED,
    ReviewState.REVOKED,
)


class DecisionsExportForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    campaign = forms.CharField(max_length=200, required=False)

    def clean(self) -> dict:
        cleaned = self.cleaned_data
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            raise forms.ValidationError("The end date comes before the start date.")
        return cleaned


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def decisions_for_export(
    *, viewer, start: date | None = None, end: date | None = None, campaign: str = ""
) -> QuerySet[ReviewEvent]:
    """Approvals, change requests, rejections and revocations on assets ``viewer`` may see, oldest first;
    ``start`` and ``end`` are whole days in Studio's time zone, both included."""
    events = ReviewEvent.objects.filter(
        kind=ReviewEvent.Kind.DECISION,
        to_state__in=DECISION_STATES,
        asset__in=generation_selectors.assets_visible_to(user=viewer).values("pk"),
    ).select_related("actor", "asset", "asset__review")
    if start:
        events = events.filter(created_at__gte=_day_start(start))
    if end:
        events = events.filter(created_at__lt=_day_start(end) + timedelta(days=1))
    if campaign:
        events = events.filter(asset__campaign=campaign)
    return events.order_by("created_at", "pk")


def _campaigns(viewer) -> list[str]:
    assets = generation_selectors.assets_visible_to(user=viewer).exclude(campaign="")
    return list(assets.order_by("campaign").values_list("campaign", flat=True).distinct()[:200])


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_GET
def exports_page(request: HttpRequest) -> HttpResponse:
    context = {"form": DecisionsExportForm(), "campaigns": _campaigns(request.user)}
    return render(request, "review/exports.html", context)


@login_required
@permission_required("review.decide_assetreview", raise_exception=True)
@require_GET
def decisions_csv(request: HttpRequest) -> HttpResponse:
    form = DecisionsExportForm(request.GET)
    if not form.is_valid():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponse(
            "Nothing exported: " + " ".join(problems) + "\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    start, end, campaign = form.cleaned_data["start"], form.cleaned_data["end"], form.cleaned_data["campaign"]
    name = "-".join(
        ["decisions", *([campaign] if campaign else []), *(str(day) for day in (start, end) if day)]
    )
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": content_disposition_header(as_attachment=True, filename=f"{name}.csv")
        },
    )
    writer = csv.writer(response)
    writer.writerow(
        [
            "time",
            "asset_id",
            "public_id",
            "title",
            "campaign",
            "product",
            "decision",
            "from_state",
            "reviewer",
            "comment",
        ]
    )
    for event in decisions_for_export(viewer=request.user, start=start, end=end, campaign=campaign):
        asset = event.asset
        review = getattr(asset, "review", None)
        writer.writerow(
            [
                event.created_at.isoformat(),
                asset.pk,
                (review.public_id if review else None) or "",
                _csv_cell(asset.title),
                _csv_cell(asset.campaign),
                _csv_cell(asset.product),
                event.to_state,
                event.from_state,
                _csv_cell(event.actor.get_username()),
                _csv_cell(event.comment),
            ]
        )
    return response
