"""Usage rights over time: whether an asset's window is open, and the daily reminder of those about to close.

Delivery asks ``usage_window`` on every request (delivery/views.py) and its sweep (delivery/rights.py)
purges what closed; nothing here writes to delivery.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from generation.models import Asset
from review.models import ReviewState

logger = logging.getLogger(__name__)


class Window(StrEnum):
    LIVE = "live"
    NOT_YET = "not_yet"  # before go-live: delivery answers 404
    EXPIRED = "expired"  # after expiry: delivery answers 410


def usage_window(*, asset: Asset, at: datetime) -> Window:
    if asset.expires_at is not None and at >= asset.expires_at:
        return Window.EXPIRED
    if asset.go_live_at is not None and at < asset.go_live_at:
        return Window.NOT_YET
    return Window.LIVE


def window_closed_q(*, at: datetime) -> Q:
    """Assets whose usage window is closed at ``at`` (not live yet, or expired)."""
    return Q(go_live_at__gt=at) | Q(expires_at__lte=at)


def assets_expiring_soon(*, at: datetime, days: int) -> QuerySet[Asset]:
    """Approved assets still live whose rights expire within ``days`` of ``at``, soonest first."""
    return (
        Asset.objects.filter(
            review__state=ReviewState.APPROVED, expires_at__gt=at, expires_at__lte=at + timedelta(days=days)
        )
        .select_related("created_by", "review")
        .order_by("expires_at", "pk")
    )


def _recipients_for(assets: list[Asset]) -> dict[str, list[Asset]]:
    """Email address -> the assets it hears about: each creator their own, each reviewer all of them."""
    by_address: dict[str, list[Asset]] = defaultdict(list)
    for asset in assets:
        if asset.created_by.is_active and asset.created_by.email:
            by_address[asset.created_by.email].append(asset)
    reviewers = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="decide_assetreview")
            | Q(user_permissions__codename="decide_assetreview")
        )
        .distinct()
    )
    for reviewer in reviewers:
        by_address[reviewer.email] = list(assets)
    return by_address


def _message_body(assets: list[Asset], *, days: int) -> str:
    base = settings.STUDIO_SITE_URL
    lines = [
        f"These approved images stop being delivered within {days} days, when their usage rights expire:",
        "",
    ]
    for asset in assets:
        expires = timezone.localtime(asset.expires_at)
        lines.append(
            f"- {asset} (public id {asset.review.public_id}): expires {expires:%Y-%m-%d %H:%M %Z}"
            f"{f', campaign {asset.campaign}' if asset.campaign else ''}"
        )
        lines.append(f"  {base}{reverse('review:asset', args=[asset.pk])}")
    lines += ["", "Renew the licence and move the expiry on the asset's page, or replace the image."]
    return "\n".join(lines)


def rights_reminder_send(*, at: datetime | None = None, days: int | None = None) -> dict[str, int]:
    """Email creators and reviewers the approved assets expiring within ``days`` (STUDIO_RIGHTS_REMIND_DAYS)
    that no reminder listed today. Each asset is claimed with a conditional update first, so two processes
    running this at once never list it twice in a day."""
    at = at or timezone.now()
    days = settings.STUDIO_RIGHTS_REMIND_DAYS if days is None else days
    start_of_day = timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)
    due = assets_expiring_soon(at=at, days=days).filter(
        Q(rights_reminded_at__isnull=True) | Q(rights_reminded_at__lt=start_of_day)
    )
    claimed = []
    for asset in due:
        if Asset.objects.filter(pk=asset.pk, rights_reminded_at=asset.rights_reminded_at).update(
            rights_reminded_at=at
        ):
            claimed.append(asset)
    if not claimed:
        return {"assets": 0, "emails": 0}
    subject = f"Studio: {len(claimed)} image{'s' if len(claimed) != 1 else ''} expiring within {days} days"
    messages = [
        (subject, _message_body(listed, days=days), settings.DEFAULT_FROM_EMAIL, [address])
        for address, listed in sorted(_recipients_for(claimed).items())
    ]
    sent = send_mass_mail(messages, fail_silently=False) if messages else 0
    return {"assets": len(claimed), "emails": sent}
