"""The JSON API's review endpoints: assets with their review state, history and lineage, metadata edits, the
queue, and the decisions. Thin: the same forms, services and selectors as the pages in review/views.py."""

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router, Schema
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import CursorPagination, paginate
from ninja.responses import Status
from pydantic import ConfigDict, Field

from generation import selectors as generation_selectors
from generation.api import AssetOut, GenerationRequestOut, RefineIn, asset_out, refine
from generation.views import get_visible_asset
from review import decisions, metadata, selectors
from review.actions import asset_actions
from review.decisions import CropsNotSeenError, ReviewChecklistError
from review.edits import asset_focal_point_set
from review.errors import ReviewCommentRequiredError, ReviewConflictError, ReviewError, ReviewPermissionError
from review.forms import CommentForm, DecisionForm
from review.metadata_forms import AssetMetadataEditForm
from review.models import AssetReview, ReviewState
from review.revisions import revision_refusal
from studio.api import Problem, Text, field_error, form_problem, form_schema, scoped, user_of

router = Router(tags=["review"])


# --- Schemas -----------------------------------------------------------------------------------------------


class ReviewOut(Schema):
    state: str = Field(
        description="draft, in_review, approved, changes_requested, rejected, revoked or replaced (a "
        "revision took over its public id; its v<n> URLs still work)."
    )
    public_id: str | None = Field(description="Assigned at first approval; delivery URLs use it.")
    submitted_at: datetime | None
    decided_at: datetime | None
    needs_flag_check: bool = Field(
        description="Flagged and not yet marked checked, safe: cannot be approved."
    )
    flag_checked_at: datetime | None
    flag_checked_by: str | None


class AssetListItem(AssetOut):
    review: ReviewOut


class EventOut(Schema):
    created_at: datetime
    actor: str
    kind: str = Field(description="decision, flagged or checked_safe.")
    from_state: str
    to_state: str
    comment: str


class AssetRef(Schema):
    id: int
    title: str
    operation: str
    page_url: str


class LineageOut(Schema):
    ancestors: list[AssetRef] = Field(description="Oldest first, as far as this user may see.")
    children: list[AssetRef]


class FactOut(Schema):
    label: str
    value: str


class ActionsOut(Schema):
    can_submit: bool
    can_decide: bool
    can_check_safe: bool
    can_revoke: bool
    can_refine: bool
    can_revise: bool
    can_edit_metadata: bool


class AssetDetailOut(AssetListItem):
    facts: list[FactOut] = Field(description="How it was made, as the asset page lists it.")
    history: list[EventOut]
    lineage: LineageOut
    revision_answers: EventOut | None = Field(
        description="For a revision: the change request it answers (none for a new version of an approved "
        "one)."
    )
    actions: ActionsOut = Field(description="What this user may do with it now.")


if TYPE_CHECKING:
    # Built from the forms at run time (studio.api.form_schema): to the type checker, any schema.
    CommentIn = Any
    AssetMetadataBase = Any
else:
    CommentIn = form_schema(CommentForm, "CommentIn")
    AssetMetadataBase = form_schema(AssetMetadataEditForm, "AssetMetadataBase")


class DecisionIn(CommentIn):
    checklist: list[int] = Field(
        [],
        max_length=100,
        description="Ids of the checklist items ticked (GET /checklist), stored on the decision. Required to "
        "approve: every enabled item must be ticked, or the approval is refused (422 on `checklist`, naming "
        "the items left unticked). Requesting changes or rejecting records whatever is sent (possibly none).",
    )
    take_over: bool = Field(
        False,
        description="Approving a revision: take over the public id of the approved version it replaces "
        "(sites keep their URLs; v<n> URLs keep their version).",
    )
    crops_seen: list[Annotated[Text, Field(max_length=200)]] = Field(
        [],
        max_length=100,
        description="The channel crops shown to the reviewer, each a `seen_value` from GET "
        "/assets/{id}/crops. Approving an asset with destination channels needs the current one of each.",
    )


class ChecklistItemOut(Schema):
    id: int
    label: str
    help_text: str


class AssetMetadataIn(AssetMetadataBase):
    """The fields to change; those left out stay as they are, null clears one. Go-live and expiry are ISO
    8601 date-times (one without an offset is read in the server's time zone)."""

    # A partial update: nothing is required (so the form's required fields are not documented as such), and
    # a misspelt or retired field (the old single `channel`) is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid", json_schema_extra=None)


class AssetFilters(Schema):
    state: ReviewState | None = None
    mine: bool = Field(False, description="Only this user's own assets.")
    campaign: Annotated[Text, Field(max_length=200)] | None = None
    product: Annotated[Text, Field(max_length=200)] | None = None
    channel: Annotated[Text, Field(max_length=100)] | None = None
    operation: Annotated[Text, Field(max_length=20)] | None = Field(
        None, description="text2img, a refine operation, upload or import."
    )
    flagged: bool | None = None


def _review_out(asset, review: AssetReview) -> dict:
    return {
        "state": review.state,
        "public_id": review.public_id,
        "submitted_at": review.submitted_at,
        "decided_at": review.decided_at,
        "needs_flag_check": decisions.needs_flag_check(asset=asset, review=review),
        "flag_checked_at": review.flag_checked_at,
        "flag_checked_by": review.flag_checked_by.get_username() if review.flag_checked_by else None,
    }


def _event_out(event) -> dict:
    return {
        "created_at": event.created_at,
        "actor": event.actor.get_username(),
        "kind": event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "comment": event.comment,
    }


def _ref(asset) -> dict:
    return {
        "id": asset.pk,
        "title": str(asset),
        "operation": asset.operation,
        "page_url": reverse("review:asset", args=[asset.pk]),
    }


def asset_detail_out(request: HttpRequest, asset) -> dict:
    user = user_of(request)
    # Assets from before review existed have no row yet: shown as drafts, as the asset page does.
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    lineage = generation_selectors.asset_lineage(asset=asset, viewer=user)
    answers = selectors.change_request_answered(revision=asset)
    return {
        **asset_out(asset),
        "review": _review_out(asset, review),
        "facts": [
            {"label": label, "value": value} for label, value in generation_selectors.asset_facts(asset=asset)
        ],
        "history": [_event_out(event) for event in selectors.review_history(asset=asset)],
        "lineage": {
            "ancestors": [_ref(item) for item in lineage["ancestors"]],
            "children": [_ref(item) for item in lineage["children"]],
        },
        "revision_answers": _event_out(answers) if answers else None,
        "actions": asdict(asset_actions(actor=user, asset=asset, review=review)),
    }


def _list_item(review: AssetReview) -> dict:
    return {**asset_out(review.asset), "review": _review_out(review.asset, review)}


class AssetCursorPagination(CursorPagination):
    """Newest first, by id; a cursor that is not one Studio made is a 422 naming ``cursor``."""

    def paginate_queryset(self, queryset, pagination, request: HttpRequest, **params):
        try:
            cursor = self.Cursor.from_encoded_param(pagination.cursor)
        except (pydantic.ValidationError, NinjaValidationError, UnicodeDecodeError):
            cursor = None
        if cursor is None or (cursor.p is not None and not cursor.p.isdigit()):
            raise NinjaValidationError([{"loc": ("query", "cursor"), "msg": "Not a cursor from this API."}])
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["results"] = [_list_item(review) for review in page["results"]]
        return page


# --- Endpoints ---------------------------------------------------------------------------------------------


@router.get("/assets", response=list[AssetListItem], summary="List assets", **scoped("read"))
@paginate(AssetCursorPagination, ordering=("-asset_id",), page_size=50, max_page_size=200)
def list_assets(request: HttpRequest, filters: Query[AssetFilters]):
    """The assets this user may see (reviewers and admins: everyone's), newest first, filtered; follow
    `next` for the following page."""
    reviews = selectors.assets_with_state(
        viewer=user_of(request), only_own=filters.mine, state=filters.state, limit=None
    ).select_related("flag_checked_by")
    for name in ("campaign", "product", "channel", "operation"):
        value = getattr(filters, name)
        if value is not None:
            reviews = reviews.filter(**{f"asset__{name}": value})
    if filters.flagged is not None:
        reviews = reviews.filter(asset__is_flagged=filters.flagged)
    return reviews


@router.get("/assets/{asset_id}", response=AssetDetailOut, summary="Read an asset", **scoped("read"))
def get_asset(request: HttpRequest, asset_id: int) -> dict:
    """Metadata, how it was made, review state and history, lineage, and what this user may do with it."""
    return asset_detail_out(request, get_visible_asset(request, asset_id))


@router.patch(
    "/assets/{asset_id}", response=AssetDetailOut, summary="Edit an asset's metadata", **scoped("generate")
)
def edit_asset(request: HttpRequest, asset_id: int, payload: AssetMetadataIn) -> dict:
    """Title, alt text, campaign, product, destination channels and usage rights (source, licensor, licence
    reference, territory, go-live, expiry, notes), as the asset page's metadata panel edits them: its creator
    before submitting it, a reviewer at any time. Each edit that changes something is an `edited` event in
    the asset's history with the old and new values."""
    asset = get_visible_asset(request, asset_id)
    user = user_of(request)
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    if not metadata.can_edit_metadata(actor=user, asset=asset, state=review.state):
        raise Problem(403, metadata.refusal(review))
    sent = payload.model_dump(exclude_unset=True)
    data = {**metadata.metadata_values(asset), **sent}
    if "channels" not in sent:
        # Not being changed: a stored channel whose preset was deleted since must not block the edit.
        del data["channels"]
    form = AssetMetadataEditForm(data=data)
    if not form.is_valid():
        raise form_problem(form)
    try:
        metadata.asset_metadata_update(
            asset=asset, actor=user, changes={name: form.cleaned_data[name] for name in sent}
        )
    except ReviewPermissionError as error:
        raise Problem(403, str(error)) from None
    except metadata.MetadataInvalidError as error:
        errors = [field_error(name, problem) for name, problem in error.problems.items()]
        raise Problem(422, str(error), slug="validation-error", errors=errors) from None
    except ReviewConflictError as error:
        raise Problem(409, str(error), slug="state-conflict") from None
    return asset_detail_out(request, get_visible_asset(request, asset_id))


@router.get("/review-queue", response=list[AssetListItem], summary="The review queue", **scoped("review"))
def review_queue(request: HttpRequest, flagged: bool = False) -> list[dict]:
    """Assets waiting for a decision, oldest submission first (reviewers)."""
    if not user_of(request).has_perm("review.decide_assetreview"):
        raise Problem(403, "Only reviewers see the review queue.")
    filters = selectors.QueueFilters(flagged_only=flagged)
    reviews = selectors.review_queue(viewer=user_of(request), filters=filters)[:200]
    return [_list_item(review) for review in reviews]


def _comment_step(request: HttpRequest, asset_id: int, payload, act) -> dict:
    """A review step that takes a comment (a decision, submit, revoke, checked safe); refusals as problems."""
    asset = get_visible_asset(request, asset_id)
    form = CommentForm(data={"comment": payload.comment or ""})
    if not form.is_valid():
        raise form_problem(form)
    try:
        act(asset=asset, actor=user_of(request), comment=form.cleaned_data["comment"])
    except ReviewPermissionError as error:
        raise Problem(403, str(error)) from None
    except ReviewCommentRequiredError as error:
        raise Problem(
            422, str(error), slug="validation-error", errors=[field_error("comment", str(error))]
        ) from None
    except ReviewChecklistError as error:
        raise Problem(
            422, str(error), slug="validation-error", errors=[field_error("checklist", str(error))]
        ) from None
    except CropsNotSeenError as error:
        raise Problem(
            422, str(error), slug="validation-error", errors=[field_error("crops_seen", str(error))]
        ) from None
    except ReviewError as error:
        raise Problem(409, str(error), slug="state-conflict") from None
    return asset_detail_out(request, get_visible_asset(request, asset_id))


def _decide(decision: str, payload: DecisionIn | None = None):
    def act(*, asset, actor, comment: str) -> None:
        form = DecisionForm(data={"decision": decision, "comment": comment})
        if not form.is_valid():
            raise form_problem(form)
        decisions.asset_review_decide(
            asset=asset,
            actor=actor,
            decision=decision,
            comment=comment,
            checklist=payload.checklist if payload else (),
            take_over=payload.take_over if payload else False,
            crops_seen=payload.crops_seen if payload else (),
        )

    return act


@router.post(
    "/assets/{asset_id}/submit", response=AssetDetailOut, summary="Submit for review", **scoped("review")
)
def submit(request: HttpRequest, asset_id: int, payload: CommentIn) -> dict:
    """A draft or an asset sent back goes (back) into the review queue. Its creator, or a reviewer."""
    return _comment_step(request, asset_id, payload, decisions.asset_review_submit)


@router.post("/assets/{asset_id}/approve", response=AssetDetailOut, summary="Approve", **scoped("review"))
def approve(request: HttpRequest, asset_id: int, payload: DecisionIn) -> dict:
    """Approve an asset in review: it gets its public id and becomes deliverable. Reviewers, never for their
    own generations (unless STUDIO_ALLOW_SELF_APPROVAL); a flagged one must be marked checked, safe first;
    every enabled checklist item (GET /checklist) must be sent ticked in `checklist`."""
    return _comment_step(request, asset_id, payload, _decide("approve", payload))


@router.post(
    "/assets/{asset_id}/request-changes",
    response=AssetDetailOut,
    summary="Request changes",
    **scoped("review"),
)
def request_changes(request: HttpRequest, asset_id: int, payload: DecisionIn) -> dict:
    """Send an asset in review back with a comment saying what should change (the comment is required)."""
    return _comment_step(request, asset_id, payload, _decide("request_changes", payload))


@router.post("/assets/{asset_id}/reject", response=AssetDetailOut, summary="Reject", **scoped("review"))
def reject(request: HttpRequest, asset_id: int, payload: DecisionIn) -> dict:
    """Reject an asset in review, saying why (the comment is required)."""
    return _comment_step(request, asset_id, payload, _decide("reject", payload))


@router.get("/checklist", response=list[ChecklistItemOut], summary="The review checklist", **scoped("read"))
def checklist(request: HttpRequest) -> list[dict]:
    """The points a reviewer ticks before approving, in order; send the ticked ids as `checklist`."""
    return [
        {"id": item.pk, "label": item.label, "help_text": item.help_text}
        for item in selectors.checklist_items()
    ]


@router.post(
    "/assets/{asset_id}/revoke", response=AssetDetailOut, summary="Revoke an approval", **scoped("review")
)
def revoke(request: HttpRequest, asset_id: int, payload: CommentIn) -> dict:
    """Withdraw an approval, saying why: its delivery URLs answer 404 from then on."""
    return _comment_step(request, asset_id, payload, decisions.asset_review_revoke)


@router.post(
    "/assets/{asset_id}/checked-safe",
    response=AssetDetailOut,
    summary="Mark checked, safe",
    **scoped("review"),
)
def checked_safe(request: HttpRequest, asset_id: int, payload: CommentIn) -> dict:
    """Vouch for a flagged asset in review, saying what was checked, so that it may be approved."""
    return _comment_step(request, asset_id, payload, decisions.asset_review_mark_checked_safe)


@router.post(
    "/assets/{asset_id}/revisions",
    response={201: GenerationRequestOut},
    summary="Revise an asset sent back or approved",
    **scoped("generate"),
)
def create_revision(request: HttpRequest, response: HttpResponse, asset_id: int, payload: RefineIn) -> Status:
    """A refine request whose results are this asset's revisions, as the Revise page makes it: they answer a
    reviewer's change request on it, or, for an approved asset, are a new version that the reviewer who
    approves one may let take over its public id (the approved original stays live until then)."""
    if not user_of(request).has_perm("generation.add_generationrequest"):
        raise Problem(403, "Only people who may generate images can revise one.")
    asset = get_visible_asset(request, asset_id)
    review = selectors.review_state_of(asset=asset) or AssetReview(asset=asset)
    if refusal := revision_refusal(review):
        raise Problem(
            409,
            f"{refusal} POST /assets/{{id}}/refinements makes a new image from it instead.",
            slug="state-conflict",
        )
    return refine(request, response, asset, payload, revises=asset)


class FocalPointIn(Schema):
    x: float | None = Field(description="From 0 (left edge) to 1 (right edge); null with y to clear.")
    y: float | None = Field(description="From 0 (top edge) to 1 (bottom edge); null with x to clear.")


class FocalPointOut(Schema):
    x: float | None
    y: float | None


@router.put(
    "/assets/{asset_id}/focal-point",
    response=FocalPointOut,
    summary="Set the focal point",
    **scoped("review"),
)
def set_focal_point(request: HttpRequest, asset_id: int, payload: FocalPointIn) -> dict:
    """The point the asset's `g_auto` crops centre on (delivery and the channel presets that use it, from
    now on; the channel crops' tokens change). Reviewers at any time; its creator before submitting it."""
    asset = get_visible_asset(request, asset_id)
    try:
        point = asset_focal_point_set(asset=asset, actor=user_of(request), x=payload.x, y=payload.y)
    except ReviewPermissionError as error:
        raise Problem(403, str(error)) from None
    except ReviewConflictError as error:
        raise Problem(409, str(error), slug="state-conflict") from None
    except ReviewError as error:
        raise Problem(
            422, str(error), slug="validation-error", errors=[field_error("x", str(error))]
        ) from None
    return {"x": point[0], "y": point[1]} if point else {"x": None, "y": None}
