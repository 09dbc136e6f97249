"""Usage rights enforced without anyone acting: a sweep that purges assets whose usage window closed.

The serve view refuses an asset outside its window on every request (404 before go-live, 410 after
expiry), whatever this sweep has done. The sweep removes what is left of it: the stored variants here and
the copies in the CDN, and it tells webhook subscribers (``asset.rights_expired``). Each closing is claimed
with a conditional update of ``Asset.rights_closed_handled_at``, so two sweepers (every worker runs one) or
a re-run never handle it twice; the mark is cleared when the window is open again, so the next closing is
handled too.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.services import variants_purge_with_cdn
from generation.models import Asset
from review.models import ReviewState
from review.rights import Window, rights_reminder_send, usage_window, window_closed_q
from studio.periodic import OnePerProcess

logger = logging.getLogger(__name__)

BATCH = 200


def rights_sweep(*, at: datetime | None = None) -> dict[str, int]:
    """One round: purge approved assets whose window closed since the last round; forget the mark of those
    whose window is open again. Returns counts of what it did."""
    at = at or timezone.now()
    reopened = (
        Asset.objects.filter(rights_closed_handled_at__isnull=False)
        .exclude(window_closed_q(at=at))
        .update(rights_closed_handled_at=None)
    )
    done = {"closed": 0, "expired": 0, "variants": 0, "reopened": reopened}
    closed = Asset.objects.filter(
        window_closed_q(at=at), review__state=ReviewState.APPROVED, rights_closed_handled_at__isnull=True
    ).values_list("pk", flat=True)
    for asset_id in list(closed.order_by("pk")[:BATCH]):
        handled = _close(asset_id, at=at)
        if handled is None:
            continue
        asset, purged = handled
        done["closed"] += 1
        done["variants"] += purged
        if usage_window(asset=asset, at=at) == Window.EXPIRED:
            done["expired"] += 1
            _emit_expired(asset)
    return done


def _close(asset_id: int, *, at: datetime) -> tuple[Asset, int] | None:
    with transaction.atomic():
        # The claim: another sweeper that got here first leaves nothing to do.
        if not Asset.objects.filter(pk=asset_id, rights_closed_handled_at__isnull=True).update(
            rights_closed_handled_at=at
        ):
            return None
        asset = Asset.objects.select_related("review").get(pk=asset_id)
        purged = variants_purge_with_cdn(asset=asset, public_id=asset.review.public_id)
    logger.info("Asset %s: usage window closed; %s stored variants purged", asset.pk, purged)
    return asset, purged


def rights_payload(asset: Asset) -> dict:
    return {
        "source": asset.rights_source,
        "licensor": asset.licensor,
        "licence_reference": asset.licence_reference,
        "territory": asset.territory,
        "go_live_at": asset.go_live_at.isoformat() if asset.go_live_at else None,
        "expires_at": asset.expires_at.isoformat() if asset.expires_at else None,
    }


def _emit_expired(asset: Asset) -> None:
    from studio.webhooks.models import EventType
    from studio.webhooks.services import asset_event_emit

    # After the purge committed: a failure here must not undo it or stop the round.
    try:
        asset_event_emit(
            asset=asset, event_type=EventType.ASSET_RIGHTS_EXPIRED, extra={"rights": rights_payload(asset)}
        )
    except Exception:
        logger.exception("Webhooks: could not queue asset.rights_expired for asset %s", asset.pk)


def _round() -> dict[str, int]:
    done = rights_sweep()
    at = timezone.now()
    hour = settings.STUDIO_RIGHTS_REMIND_HOUR
    if hour >= 0 and timezone.localtime(at).hour >= hour:
        reminded = rights_reminder_send(at=at)
        done["reminded"] = reminded["assets"]
    return done


_sweeper = OnePerProcess(
    "studio-rights-sweeper", seconds=lambda: settings.STUDIO_RIGHTS_SWEEP_SECONDS, work=_round
)


def start_sweeper(**_kwargs) -> None:
    """Connected to Celery's ``worker_ready``: one rights sweeper per worker (their claims never overlap)."""
    _sweeper.start()
