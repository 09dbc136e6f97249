"""What each event says: the payloads, built from the other apps' selectors at the moment the event happens.

A payload is a snapshot (Standard Webhooks' shape: ``type``, ``timestamp``, ``data``): a message retried an
hour later still says what was true when it was made.
"""

import logging

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from delivery.transformations import TransformationError
from delivery.urls_builder import serve_url, variant_path
from generation.models import Asset, GenerationRequest
from review import selectors as review_selectors
from review.models import AssetReview, ReviewEvent, ReviewState
from studio.webhooks.models import EventType

logger = logging.getLogger(__name__)

# Review states to the events they are; read from review's states, so a transition into a state that is
# not here (back to draft) sends nothing. tests/webhooks check that every other state has an event.
REVIEW_STATE_EVENTS: dict[str, str] = {
    ReviewState.IN_REVIEW: EventType.ASSET_SUBMITTED,
    ReviewState.APPROVED: EventType.ASSET_APPROVED,
    ReviewState.CHANGES_REQUESTED: EventType.ASSET_CHANGES_REQUESTED,
    ReviewState.REJECTED: EventType.ASSET_REJECTED,
    ReviewState.REVOKED: EventType.ASSET_REVOKED,
    ReviewState.REPLACED: EventType.ASSET_REPLACED,
}

GENERATION_STATUS_EVENTS: dict[str, str] = {
    GenerationRequest.Status.SUCCEEDED: EventType.GENERATION_SUCCEEDED,
    GenerationRequest.Status.FAILED: EventType.GENERATION_FAILED,
}


def absolute_url(path: str) -> str:
    return settings.STUDIO_SITE_URL.rstrip("/") + path


def original_url(*, asset: Asset, public_id: str) -> str | None:
    """The delivery URL of the approved original, in its own format."""
    try:
        return absolute_url(serve_url(variant_path(public_id, ext=asset.format)))
    except TransformationError:
        logger.warning("Asset %s: no delivery URL for format %r", asset.pk, asset.format)
        return None


def asset_data(asset: Asset, review: AssetReview | None = None) -> dict:
    review = review if review is not None else review_selectors.review_state_of(asset=asset)
    state = review.state if review is not None else ReviewState.DRAFT
    # A public id is published once the asset is approved, never before; a revoked asset keeps it in its
    # payload so that sites can find and take down what they embedded (its URLs no longer serve).
    published = state in (ReviewState.APPROVED, ReviewState.REVOKED)
    public_id = review.public_id if review is not None and published else None
    generation_request = asset.request
    return {
        "id": asset.pk,
        "public_id": public_id,
        "urls": {
            "studio": absolute_url(reverse("review:asset", args=[asset.pk])),
            "original": original_url(asset=asset, public_id=public_id)
            if public_id and state == ReviewState.APPROVED
            else None,
        },
        "metadata": {
            "title": asset.title,
            "campaign": asset.campaign,
            "product": asset.product,
            "channel": asset.channel,
            "usage_rights": asset.usage_rights,
            "prompt": asset.prompt,
            "model": generation_request.model_key if generation_request is not None else "",
            "operation": asset.operation,
            "width": asset.width,
            "height": asset.height,
            "format": asset.format,
            "review_state": state,
            "flagged": asset.is_flagged,
            "request_id": asset.request_id,
            "parent_id": asset.parent_id,
            "created_at": asset.created_at.isoformat(),
        },
    }


def review_change_data(*, asset: Asset, from_state: str, to_state: str) -> dict:
    """An ``asset.*`` event's data: the asset, and the decision (who, when, the comment) that made it."""
    decision = (
        review_selectors.review_history(asset=asset)
        .filter(kind=ReviewEvent.Kind.DECISION, from_state=from_state, to_state=to_state)
        .last()
    )
    data = asset_data(asset)
    data["review"] = {
        "from_state": from_state,
        "to_state": to_state,
        "comment": decision.comment if decision else "",
        "actor": decision.actor.get_username() if decision else None,
        "decided_at": decision.created_at.isoformat() if decision else None,
    }
    return data


def generation_data(generation_request: GenerationRequest) -> dict:
    assets = list(generation_request.assets.select_related("request").order_by("index"))
    reviews = {review.asset_id: review for review in AssetReview.objects.filter(asset__in=assets)}
    return {
        "request": {
            "id": generation_request.pk,
            "status": generation_request.status,
            "error": generation_request.error,
            "operation": generation_request.operation,
            "prompt": generation_request.prompt,
            "model": generation_request.model_key,
            "width": generation_request.width,
            "height": generation_request.height,
            "num_images": generation_request.num_images,
            "campaign": generation_request.campaign,
            "product": generation_request.product,
            "channel": generation_request.channel,
            "source_asset_id": generation_request.source_asset_id,
            "created_at": generation_request.created_at.isoformat(),
            "finished_at": generation_request.finished_at.isoformat()
            if generation_request.finished_at
            else None,
            "url": absolute_url(reverse("generation:request", args=[generation_request.pk])),
        },
        "assets": [asset_data(asset, reviews.get(asset.pk)) for asset in assets],
    }


def envelope(event_type: str, data: dict) -> dict:
    return {"type": event_type, "timestamp": timezone.now().isoformat(), "data": data}
