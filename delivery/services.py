"""Writes for delivery: rendering variants once, storing them within caps, purging them when an asset leaves
approval."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from delivery import layers, purge, selectors
from delivery.geometry import RenderLimits, SourceInfo
from delivery.models import Variant
from delivery.negotiation import choose_format
from delivery.transformations import DeliveryRequest, Transformation
from generation import credentials
from generation import selectors as generation_selectors
from generation.models import Asset
from review import selectors as review_selectors
from studio.env import parse_rate

if TYPE_CHECKING:
    from delivery.rendering import RenderedImage

logger = logging.getLogger(__name__)

# A hit records its use at most this often per variant, so serving a cached variant rarely writes.
VARIANT_TOUCH_INTERVAL = timedelta(minutes=1)
# The most variants one new render may evict: the store may stay over a cap for a few renders after the
# caps are lowered, but no request pays for cleaning up everything at once.
EVICTION_BATCH = 20


class RenderCapacityError(Exception):
    """Every render slot of this process is busy; the client should retry shortly."""


class RenderRateError(Exception):
    """This client has asked for too many new variants (STUDIO_DELIVERY_RENDER_RATE)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"render rate exceeded; retry after {retry_after}s")
        self.retry_after = retry_after


class NotDeliverableError(Exception):
    """The asset left approval while its variant was rendering; nothing was stored."""


class OverlayNotFoundError(NotDeliverableError):
    """A layer (``l_<public_id>``) names no approved, live asset, or it left approval during the render."""

    def __init__(self, public_id: str) -> None:
        super().__init__(f"No approved image with public id {public_id!r} to overlay.")
        self.public_id = public_id


@dataclass(frozen=True)
class VariantKey:
    asset_id: int
    source_hash: str
    transformation: str
    format: str
    focal: str = ""  # variant_focal_key(): the focal point, for chains it moves

    @property
    def storage_name(self) -> str:
        # The focal point names the file too: a crop around a new point never reuses the old one's name, so a
        # path another process remembers (HitCache) finds the old file gone rather than new bytes under it.
        focal = f"|{self.focal}" if self.focal else ""
        digest = hashlib.sha256(
            f"{self.source_hash}|{self.transformation}|{self.format}{focal}".encode()
        ).hexdigest()
        return f"variants/{self.asset_id}/{digest[:40]}.{self.format}"


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None
# One lock per variant being rendered in this process, so concurrent first requests render it once.
_key_locks: dict[VariantKey, threading.Lock] = {}


def _render_slots() -> threading.BoundedSemaphore:
    global _slots
    size = settings.STUDIO_DELIVERY_MAX_RENDERS
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


@contextmanager
def _render_slot() -> Iterator[None]:
    slots = _render_slots()
    # A short, bounded wait absorbs a page asking for a handful of new variants at once; past it the
    # client is told to come back rather than piling up threads behind the renders in flight.
    if not slots.acquire(timeout=settings.STUDIO_DELIVERY_RENDER_WAIT):
        raise RenderCapacityError
    try:
        yield
    finally:
        slots.release()


@contextmanager
def _key_lock(key: VariantKey) -> Iterator[None]:
    with _slots_lock:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        yield
    with _slots_lock:
        if not lock.locked():
            _key_locks.pop(key, None)


def render_limits() -> RenderLimits:
    return RenderLimits(
        max_width=settings.STUDIO_DELIVERY_MAX_WIDTH,
        max_height=settings.STUDIO_DELIVERY_MAX_HEIGHT,
        max_pixels=settings.STUDIO_DELIVERY_MAX_PIXELS,
        max_source_pixels=settings.STUDIO_DELIVERY_MAX_SOURCE_PIXELS,
    )


def resolve_format(*, asset: Asset, delivery: DeliveryRequest, accept: str) -> tuple[str, bool]:
    """The output format and whether it was negotiated from Accept, reading the source only when needed."""
    declared = SourceInfo(
        width=asset.width, height=asset.height, pages=1, format=asset.format, has_alpha=False
    )
    choice = choose_format(delivery.requested_format, accept, declared, delivery.components)
    if choice.format in ("jpg", "png") and asset.format in ("png", "webp", "avif") and choice.vary_accept:
        # An old browser on f_auto: whether the answer is PNG depends on real transparency in the source.
        from delivery.rendering import probe  # libvips loads on first use: see _render

        actual = probe(generation_selectors.asset_read_bytes(asset=asset), limits=render_limits())
        choice = choose_format(delivery.requested_format, accept, actual, delivery.components)
    return choice.format, choice.vary_accept


def asset_focal_point(asset: Asset) -> tuple[float, float] | None:
    """The asset's focal point as (x, y) fractions, or None when nobody set one."""
    if asset.focal_x is None or asset.focal_y is None:
        return None
    return (asset.focal_x, asset.focal_y)


def variant_focal_key(*, asset: Asset, components: Sequence[Transformation]) -> str:
    """The part of a variant's key the focal point decides: empty for a chain without ``g_auto`` (the point
    changes nothing there), else the point, or "auto" for libvips' attention crop while there is none."""
    if not any(component.gravity == "auto" for component in components):
        return ""
    focal = asset_focal_point(asset)
    return "auto" if focal is None else f"{focal[0]:.4f},{focal[1]:.4f}"


def variant_render_unstored(*, asset: Asset, delivery: DeliveryRequest, output_format: str) -> RenderedImage:
    """Render a variant as delivery would, without storing it or signing it: review's channel crops of an
    asset that is not (yet) approved. Shares the render slots with delivery."""
    delivery, overlays = layers.delivery_with_layers(asset=asset, delivery=delivery)
    with _render_slot():
        source = generation_selectors.asset_read_bytes(asset=asset)
        return _render(source, asset=asset, delivery=delivery, output_format=output_format, overlays=overlays)


def variant_get_or_render(
    *, asset: Asset, delivery: DeliveryRequest, output_format: str, client: str | None = None
) -> Variant:
    """The stored variant, rendered and stored first on a miss.

    A miss counts against ``client``'s render rate (no limit without a client) and may evict least recently
    used variants to keep the store within its caps. Raises ``RenderRateError``, ``RenderCapacityError``,
    ``NotDeliverableError`` and, for what the renderer refuses, ``TransformationError``.
    """
    # The brand kit goes in before the key is made, and every layer must show an approved asset (a 404).
    delivery, overlays = layers.delivery_with_layers(asset=asset, delivery=delivery)
    key = VariantKey(
        asset.pk,
        asset.content_hash,
        delivery.canonical_transformation,
        output_format,
        focal=variant_focal_key(asset=asset, components=delivery.components),
    )
    variant = _lookup(key)
    if variant is not None:
        _touch(variant)
        return variant
    with _key_lock(key):
        # Another thread may have finished the same render while this one waited for the lock.
        variant = _lookup(key)
        if variant is not None:
            return variant
        _charge_render(client)
        with _render_slot():
            source = generation_selectors.asset_read_bytes(asset=asset)
            rendered = _render(
                source, asset=asset, delivery=delivery, output_format=output_format, overlays=overlays
            )
            rendered = _with_credentials(rendered, asset=asset, source=source, public_id=delivery.public_id)
        drawn = {overlay.pk: public_id for public_id, overlay in overlays.items()}
        variant, created = _store(key, rendered, versioned=delivery.version is not None, overlays=drawn)
    if created:
        try:
            _evict_for(variant)
        except Exception:
            # The variant is stored and can be served; the next render tries the caps again.
            logger.exception("Evicting variants after storing %s failed", variant)
    return variant


def _render(
    source: bytes,
    *,
    asset: Asset,
    delivery: DeliveryRequest,
    output_format: str,
    overlays: Mapping[str, Asset],
) -> RenderedImage:
    # libvips loads with the first render, not with the app: processes that never render (a generation
    # worker, a management command, pages that only plan sizes) do not pay for it.
    from delivery.rendering import render

    return render(
        source,
        delivery.components,
        output_format=output_format,
        limits=render_limits(),
        ai_generated=asset.ai_generated,
        focal=asset_focal_point(asset),
        layer_sources=layers.layer_sources(overlays),
    )


def _with_credentials(
    rendered: RenderedImage, *, asset: Asset, source: bytes, public_id: str
) -> RenderedImage:
    """The variant signed at render time, with the approved file as its ingredient, so a cached hit never
    pays for signing. Signing that fails leaves the variant without credentials rather than failing the
    URL a site depends on: the master keeps its own, and the error is logged."""
    if not credentials.enabled() or rendered.format not in credentials.MIME_TYPES:
        return rendered
    try:
        data = credentials.sign(
            rendered.data,
            format=rendered.format,
            title=f"{public_id}.{rendered.format}",
            actions=[credentials.Action(action, description) for action, description in rendered.actions],
            parent=credentials.Ingredient(
                data=source, format=asset.format, title=f"{public_id}.{asset.format}"
            ),
        )
    except credentials.CredentialsError:
        logger.exception("Variant of asset %s served without content credentials", asset.pk)
        return rendered
    return replace(rendered, data=data)


@dataclass(frozen=True)
class CachedHit:
    """What a delivery path resolved to, kept by :class:`HitCache`."""

    asset_id: int
    file_name: str
    etag: str
    content_type: str
    expires: int | None  # the URL's own expiry (e--...--), checked on every hit
    versioned: bool
    # The asset's usage window (go-live, expiry) as Unix times, checked on every hit too.
    live_from: float | None
    live_until: float | None
    kept_until: float  # time.monotonic()


class HitCache:
    """Delivery paths this process resolved lately (approved asset, stored variant), so that a cached hit
    costs one file read instead of parsing and three queries. Kept ``STUDIO_DELIVERY_HIT_CACHE_SECONDS``.

    Revocation stays immediate everywhere: this process forgets everything when an asset is unapproved, and
    in other processes the hit finds the variant's file deleted by the purge and takes the full path, which
    answers 404. Answers negotiated on ``Accept`` (f_auto) are never kept.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: dict[str, CachedHit] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, path: str) -> CachedHit | None:
        hit = self._entries.get(path)
        if hit is None or hit.kept_until < time.monotonic():
            return None
        return hit

    def put(self, path: str, **fields) -> None:
        seconds = settings.STUDIO_DELIVERY_HIT_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.clear()  # cheaper than ordering a cache this short-lived
            self._entries[path] = CachedHit(kept_until=time.monotonic() + seconds, **fields)

    def forget(self, path: str) -> None:
        with self._lock:
            self._entries.pop(path, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


hit_cache = HitCache()


def stored_file_read(name: str) -> bytes | None:
    """A stored variant's bytes by name, or ``None`` when it is gone (purged or evicted)."""
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def variant_read(*, variant: Variant) -> bytes | None:
    """The variant's bytes, or ``None`` when its file is gone (evicted or purged since it was looked up)."""
    try:
        with variant.file.open("rb") as handle:
            return handle.read()
    except FileNotFoundError:
        # Drop the row if it still names this file, so the next lookup renders the variant again.
        Variant.objects.filter(pk=variant.pk, file=variant.file.name).delete()
        return None


def _lookup(key: VariantKey) -> Variant | None:
    return Variant.objects.filter(
        asset_id=key.asset_id,
        source_hash=key.source_hash,
        transformation=key.transformation,
        format=key.format,
        focal=key.focal,
    ).first()


def _touch(variant: Variant) -> None:
    stale = timezone.now() - VARIANT_TOUCH_INTERVAL
    if variant.last_used_at > stale:
        return
    # Conditional, so a burst of hits on one variant writes once.
    Variant.objects.filter(pk=variant.pk, last_used_at__lte=stale).update(last_used_at=timezone.now())


def _charge_render(client: str | None) -> None:
    """Count one render for ``client``; raise ``RenderRateError`` past STUDIO_DELIVERY_RENDER_RATE."""
    rate = parse_rate(settings.STUDIO_DELIVERY_RENDER_RATE)
    if rate is None or not client:
        return
    limit, period = rate
    now = time.time()
    window = int(now // period)
    # A fixed window per client: one counter that the cache expires with its period. A client can get up to
    # twice the rate across a window's edge, which is fine for keeping renders from being starved.
    key = f"delivery:renders:{period}:{window}:{client}"
    if cache.add(key, 1, timeout=period + 1):
        return
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=period + 1)
        return
    if count > limit:
        raise RenderRateError(retry_after=max(1, math.ceil((window + 1) * period - now)))


def _store(
    key: VariantKey,
    rendered: RenderedImage,
    *,
    versioned: bool = False,
    overlays: dict[int, str] | None = None,
) -> tuple[Variant, bool]:
    """``overlays``: the id of each asset drawn as a layer, with the public id the URL named it by."""
    # The storage makes the name unique if it is taken, so this file is ours alone: deleting it below, or
    # evicting an older variant of the same key, can never remove a file another row points at.
    name = default_storage.save(key.storage_name, ContentFile(rendered.data))
    etag = hashlib.sha256(rendered.data).hexdigest()[:32]
    try:
        with transaction.atomic():
            # Re-checked with the review row locked: a revocation that committed during the render is seen
            # here, and one that comes later waits for this insert and then purges it.
            # A versioned URL may show a version a revision replaced; an unversioned one only the current.
            if not review_selectors.asset_is_approved_locked(asset_id=key.asset_id, or_replaced=versioned):
                raise NotDeliverableError
            # The same for every asset drawn as a layer; its revocation then finds this row to purge.
            for overlay_id, public_id in (overlays or {}).items():
                if not review_selectors.asset_is_approved_locked(asset_id=overlay_id):
                    raise OverlayNotFoundError(public_id)
            variant, created = Variant.objects.get_or_create(
                asset_id=key.asset_id,
                source_hash=key.source_hash,
                transformation=key.transformation,
                format=key.format,
                focal=key.focal,
                defaults={
                    "file": name,
                    "content_type": rendered.content_type,
                    "width": rendered.width,
                    "height": rendered.height,
                    "byte_size": len(rendered.data),
                    "etag": etag,
                },
            )
            if created and overlays:
                variant.overlay_assets.set(overlays)
    except NotDeliverableError:
        default_storage.delete(name)
        raise
    except IntegrityError:
        # Another process stored the same variant between our lookup and insert: theirs is as good.
        default_storage.delete(name)
        theirs = _lookup(key)
        if theirs is None:
            raise
        return theirs, False
    if not created:
        default_storage.delete(name)
    return variant, created


def _evict_for(stored: Variant) -> None:
    """Delete least recently used variants while the store is over a cap, ``stored`` excepted."""
    candidates = Variant.objects.exclude(pk=stored.pk).only("pk", "file", "byte_size", "last_used_at")
    candidates = candidates.order_by("last_used_at", "pk")
    per_asset = settings.STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET
    if per_asset > 0:
        excess = Variant.objects.filter(asset_id=stored.asset_id).count() - per_asset
        if excess > 0:
            _evict(candidates.filter(asset_id=stored.asset_id)[: min(excess, EVICTION_BATCH)])
    max_bytes = settings.STUDIO_DELIVERY_MAX_STORE_BYTES
    if max_bytes > 0:
        excess = (Variant.objects.aggregate(total=Sum("byte_size"))["total"] or 0) - max_bytes
        if excess > 0:
            victims = []
            for victim in candidates[:EVICTION_BATCH]:
                victims.append(victim)
                excess -= victim.byte_size
                if excess <= 0:
                    break
            _evict(victims)


def _evict(victims: Iterable[Variant]) -> None:
    for victim in victims:
        # The row goes first, and only if no hit has used it since it was picked. A request that found the
        # row a moment before may then find no file: it renders the variant again (see variant_read).
        deleted, _ = Variant.objects.filter(pk=victim.pk, last_used_at=victim.last_used_at).delete()
        if deleted:
            default_storage.delete(victim.file.name)


def variants_purge(*, asset: Asset) -> int:
    """Delete every stored variant of ``asset`` (on revocation or replacement)."""
    hit_cache.clear()
    variants = list(Variant.objects.filter(asset=asset))
    for variant in variants:
        default_storage.delete(variant.file.name)
    Variant.objects.filter(pk__in=[variant.pk for variant in variants]).delete()
    # Variants of other assets that show this one as a layer (l_<public_id>) go too.
    layers.overlaying_variants_purge(asset=asset)
    return len(variants)


def variants_purge_with_cdn(*, asset: Asset, public_id: str | None) -> int:
    """:func:`variants_purge`, and once the change commits ask the CDN to forget the URLs the variants were
    served under by ``public_id`` (none to forget without one)."""
    variant_keys = selectors.variant_keys_of(asset=asset)
    purged = variants_purge(asset=asset)
    if public_id:
        paths = purge.asset_paths(
            public_id=public_id, variant_keys=variant_keys, presets=selectors.preset_names()
        )
        purge.purge_asset_on_commit(asset_id=asset.pk, paths=paths)
    return purged
