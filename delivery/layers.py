"""Layers and brand kits with the database: which kit an asset's render uses, which approved assets its
layers show, and purging the variants that show an asset when it stops being deliverable.

The grammar and the substitution are pure (delivery/overlays.py); drawing is delivery/overlay_rendering.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from delivery import purge, selectors
from delivery.models import BrandKit, Variant
from delivery.overlays import BrandValues, overlay_public_ids, substitute_brand, uses_brand
from delivery.transformations import DeliveryRequest
from generation import selectors as generation_selectors
from generation.models import Asset
from review import selectors as review_selectors
from review.models import ReviewState
from review.rights import Window, usage_window

logger = logging.getLogger(__name__)

__all__ = [
    "brand_kit_for",
    "brand_values_for",
    "deliverable_overlay",
    "delivery_with_layers",
    "layer_sources",
    "overlaying_variants_purge",
]


def brand_kit_for(*, asset: Asset) -> BrandKit | None:
    """The kit of the asset's team, else the studio's default kit (the one without a team), else None."""
    team_id = getattr(asset, "team_id", None)
    kits = BrandKit.objects.filter(
        Q(team__isnull=True) | Q(team_id=team_id) if team_id else Q(team__isnull=True)
    )
    found = {kit.team_id: kit for kit in kits.select_related("logo")}
    return found.get(team_id) if team_id in found else found.get(None)


def brand_values_for(*, asset: Asset) -> BrandValues:
    """What ``$logo``, ``$font``, ``$primary`` and ``$secondary`` stand for in renders of ``asset``.

    Without a kit the defaults (no logo, DejaVuSans, black, white); a logo that is not approved and live now
    counts as none, so a preset with ``l_$logo`` renders without it rather than failing.
    """
    kit = brand_kit_for(asset=asset)
    if kit is None:
        return BrandValues()
    logo = None
    if kit.logo is not None:
        review = review_selectors.review_state_of(asset=kit.logo)
        if (
            review is not None
            and review.state == ReviewState.APPROVED
            and review.public_id
            and usage_window(asset=kit.logo, at=timezone.now()) == Window.LIVE
        ):
            logo = review.public_id
    return BrandValues(
        logo=logo,
        font=kit.font,
        primary=kit.primary_colour.removeprefix("#").lower(),
        secondary=kit.secondary_colour.removeprefix("#").lower(),
    )


def deliverable_overlay(*, public_id: str) -> Asset | None:
    """The asset ``l_<public_id>`` shows: approved under that id and inside its usage window now."""
    asset = review_selectors.approved_asset_by_public_id(public_id=public_id)
    if asset is None or usage_window(asset=asset, at=timezone.now()) != Window.LIVE:
        return None
    return asset


def delivery_with_layers(
    *, asset: Asset, delivery: DeliveryRequest
) -> tuple[DeliveryRequest, dict[str, Asset]]:
    """``delivery`` with the brand kit of ``asset`` put in, and the asset each image layer shows.

    The substituted chain is what keys the variant, so a kit's new logo or colours make new variants. Raises
    ``services.OverlayNotFoundError`` (a 404) when a layer names no approved, live asset.
    """
    components = delivery.components
    if uses_brand(components):
        components = substitute_brand(components, brand_values_for(asset=asset))
        delivery = replace(delivery, components=components)
    overlays: dict[str, Asset] = {}
    for public_id in overlay_public_ids(components):
        overlay = deliverable_overlay(public_id=public_id)
        if overlay is None:
            from delivery.services import OverlayNotFoundError  # services builds on this module

            raise OverlayNotFoundError(public_id)
        overlays[public_id] = overlay
    return delivery, overlays


def layer_sources(overlays: Mapping[str, Asset]) -> dict[str, bytes]:
    """The stored bytes of each overlaid asset, by the public id the chain names it with."""
    return {public_id: generation_selectors.asset_read_bytes(asset=a) for public_id, a in overlays.items()}


def overlaying_variants_purge(*, asset: Asset) -> int:
    """Delete the stored variants of other assets that show ``asset`` as a layer, and ask the CDN to forget
    those assets' URLs once the change commits (their cache tag is theirs, not the overlaid asset's)."""
    dependents = list(Variant.objects.filter(overlay_assets=asset).exclude(asset=asset).distinct())
    if not dependents:
        return 0
    for variant in dependents:
        default_storage.delete(variant.file.name)
    Variant.objects.filter(pk__in=[variant.pk for variant in dependents]).delete()
    keys_by_asset: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for variant in dependents:
        keys_by_asset[variant.asset_id].append((variant.transformation, variant.format))
    presets = selectors.preset_names()
    for base in Asset.objects.filter(pk__in=keys_by_asset):
        review = review_selectors.review_state_of(asset=base)
        paths = []
        if review is not None and review.public_id:
            paths = purge.asset_paths(
                public_id=review.public_id, variant_keys=keys_by_asset[base.pk], presets=presets
            )
        purge.purge_asset_on_commit(asset_id=base.pk, paths=paths)
    logger.info("Asset %s left delivery: %s variants that overlay it purged", asset.pk, len(dependents))
    return len(dependents)
