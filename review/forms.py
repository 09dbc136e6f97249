from datetime import date
from urllib.parse import urlencode

from django import forms
from django.core.validators import RegexValidator
from django.http import QueryDict

from review.decisions import DECISIONS
from review.models import ReviewState
from review.selectors import ALL_WAITING, QueueFilters, checklist_items


class ChecklistField(forms.Field):
    """The checklist items ticked: repeated ``checklist=<id>`` checkboxes as a list of ints (an approval
    needs every enabled item, see decisions.asset_review_decide)."""

    widget = forms.MultipleHiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> list[int]:
        values = value if isinstance(value, list | tuple) else [value] if value not in (None, "") else []
        try:
            return list(dict.fromkeys(int(item) for item in values))
        except (TypeError, ValueError):
            raise forms.ValidationError("Not a checklist item.") from None


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(key, key.replace("_", " ")) for key in DECISIONS])
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    checklist = ChecklistField()
    take_over = forms.BooleanField(required=False)


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class IdListField(forms.Field):
    """Asset ids from checkboxes sharing one name: whole numbers, at most ``max_count`` of them."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, max_count: int, **kwargs) -> None:
        self.max_count = max_count
        super().__init__(**kwargs)

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        try:
            ids = [int(item) for item in value]
        except (TypeError, ValueError):
            raise forms.ValidationError("Asset ids are whole numbers.") from None
        if len(ids) > self.max_count:
            raise forms.ValidationError(f"Select at most {self.max_count} images at once.")
        return list(dict.fromkeys(ids))


class BulkDecisionForm(forms.Form):
    """One decision for the images selected in the queue; each is then decided (and refused) on its own."""

    decision = forms.ChoiceField(choices=[(key, key.replace("_", " ")) for key in DECISIONS])
    comment = forms.CharField(max_length=2000, required=False)
    assets = IdListField(max_count=100, error_messages={"required": "Select at least one image."})
    # Ticked once for the batch: each selected image's decision records the ticks.
    checklist = ChecklistField()
    # The queue's query string, to go back to the same filtered page.
    filters = forms.CharField(max_length=2000, required=False)

    def clean(self) -> dict:
        cleaned = self.cleaned_data
        decision = cleaned.get("decision")
        if decision in ("reject", "request_changes") and not cleaned.get("comment", "").strip():
            # Refused once for the batch, rather than once per image.
            self.add_error("comment", "Say what should change (or why they are rejected) in the comment.")
        if decision == "approve" and "checklist" in cleaned:
            # The same ticks go on every image, so an unticked item refuses the batch once.
            missing = [item.label for item in checklist_items() if item.pk not in cleaned["checklist"]]
            if missing:
                message = f"Tick every checklist item before approving ({', '.join(missing)})."
                self.add_error("checklist", message)
        return cleaned


class QueueFilterForm(forms.Form):
    """The review queue's filters, read from the query string; bad values are reported, not guessed at."""

    PER_PAGE = (10, 25, 50, 100)
    DEFAULT_PER_PAGE = 50

    def __init__(self, data=None, *args, **kwargs) -> None:
        # A query string without per_page means the default: bound to it, the select shows it too.
        if data is not None and not data.get("per_page"):
            data = data.copy()
            data["per_page"] = str(self.DEFAULT_PER_PAGE)
        super().__init__(data, *args, **kwargs)

    q = forms.CharField(
        label="Search",
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Words in the prompt, title or comments"}
        ),
    )
    state = forms.ChoiceField(choices=ReviewState.choices, required=False)
    campaign = forms.CharField(
        max_length=200, required=False, widget=forms.TextInput(attrs={"list": "queue-campaigns"})
    )
    product = forms.CharField(
        max_length=200, required=False, widget=forms.TextInput(attrs={"list": "queue-products"})
    )
    channel = forms.CharField(
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "queue-channels"}),
        validators=[
            RegexValidator(r"^[A-Za-z0-9_-]+$", "A channel is a preset name: letters, digits, '_' and '-'.")
        ],
    )
    model = forms.CharField(max_length=100, required=False)
    creator = forms.CharField(
        max_length=150, required=False, widget=forms.TextInput(attrs={"list": "queue-creators"})
    )
    submitted_from = forms.DateField(
        label="Submitted from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    submitted_to = forms.DateField(
        label="Submitted to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    flagged = forms.BooleanField(label="Flagged only", required=False)
    per_page = forms.TypedChoiceField(
        choices=[(n, n) for n in PER_PAGE],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PER_PAGE,  # type: ignore[arg-type]  # Django takes any value; the stub says str
    )
    page = forms.IntegerField(min_value=1, max_value=1_000_000, required=False)

    # What the query string carries, in this order; page and per_page are not filters.
    FILTER_NAMES = (
        "q",
        "state",
        "campaign",
        "product",
        "channel",
        "model",
        "creator",
        "submitted_from",
        "submitted_to",
        "flagged",
    )

    def clean(self) -> dict:
        cleaned = self.cleaned_data
        start, end = cleaned.get("submitted_from"), cleaned.get("submitted_to")
        if start and end and start > end:
            self.add_error("submitted_to", "The end date is before the start date.")
        for name in ("q", "campaign", "product", "model", "creator"):
            if name in cleaned:
                cleaned[name] = cleaned[name].strip()
        return cleaned

    def filters(self) -> QueueFilters:
        data = self.cleaned_data
        return QueueFilters(
            state=data["state"] or ReviewState.IN_REVIEW,
            campaign=data["campaign"],
            product=data["product"],
            channel=data["channel"],
            model=data["model"],
            creator=data["creator"],
            submitted_from=data["submitted_from"],
            submitted_to=data["submitted_to"],
            q=data["q"],
            flagged_only=data["flagged"],
        )

    def query(self, **changes) -> str:
        """The valid filters as a query string (defaults left out), with ``changes`` applied; '' for none."""
        values = {name: self.cleaned_data.get(name) for name in self.FILTER_NAMES}
        if values["state"] == ReviewState.IN_REVIEW:
            values["state"] = ""
        if self.cleaned_data.get("per_page", 50) != 50:
            values["per_page"] = self.cleaned_data["per_page"]
        values.update(changes)
        pairs = []
        for name, value in values.items():
            if value in (None, "", False, 0):
                continue
            if value is True:
                value = "1"
            pairs.append((name, value.isoformat() if isinstance(value, date) else str(value)))
        return urlencode(pairs)


def queue_filters_from(query: str) -> tuple[QueueFilters, str]:
    """The filters in a queue query string (carried by a form or a link) and that query string cleaned; the
    whole queue when it does not read."""
    form = QueueFilterForm(QueryDict(query or ""))
    if not form.is_valid():
        return ALL_WAITING, ""
    return form.filters(), form.query()
