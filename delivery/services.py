"""Writes for delivery: rendering variants once, storing them, purging them when an asset leaves approval."""

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from delivery.models import NamedPreset, Variant
from delivery.rendering import RenderLimits, SourceInfo, choose_format, probe, render
from delivery.transformations import DeliveryRequest
from generation import selectors as generation_selectors
from generation.models import Asset

logger = logging.getLogger(__name__)


class RenderCapacityError(Exception):
    """Every render slot of this process is busy; the client should retry shortly."""


@dataclass(frozen=True)
class VariantKey:
    asset_id: int
    source_hash: str
    transformation: str
    format: str

    @property
    def storage_name(self) -> str:
        digest = hashlib.sha256(
            f"{self.source_hash}|{self.transformation}|{self.format}".encode()
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


def preset_map() -> dict[str, str]:
    return dict(NamedPreset.objects.values_list("name", "transformation"))


def resolve_format(*, asset: Asset, delivery: DeliveryRequest, accept: str) -> tuple[str, bool]:
    """The output format and whether it was negotiated from Accept, reading the source only when needed."""
    declared = SourceInfo(
        width=asset.width, height=asset.height, pages=1, format=asset.format, has_alpha=False
    )
    choice = choose_format(delivery.requested_format, accept, declared, delivery.components)
    if choice.format in ("jpg", "png") and asset.format in ("png", "webp", "avif") and choice.vary_accept:
        # An old browser on f_auto: whether the answer is PNG depends on real transparency in the source.
        actual = probe(generation_selectors.asset_read_bytes(asset=asset), limits=render_limits())
        choice = choose_format(delivery.requested_format, accept, actual, delivery.components)
    return choice.format, choice.vary_accept


def variant_get_or_render(*, asset: Asset, delivery: DeliveryRequest, output_format: str) -> Variant:
    key = VariantKey(asset.pk, asset.content_hash, delivery.canonical_transformation, output_format)
    variant = _lookup(key)
    if variant is not None:
        return variant
    with _key_lock(key):
        # Another thread may have finished the same render while this one waited for the lock.
        variant = _lookup(key)
        if variant is not None:
            return variant
        with _render_slot():
            source = generation_selectors.asset_read_bytes(asset=asset)
            rendered = render(
                source,
                delivery.components,
                output_format=output_format,
                limits=render_limits(),
                ai_generated=asset.ai_generated,
            )
        return _store(key, rendered)


def _lookup(key: VariantKey) -> Variant | None:
    return Variant.objects.filter(
        asset_id=key.asset_id,
        source_hash=key.source_hash,
        transformation=key.transformation,
        format=key.format,
    ).first()


def _store(key: VariantKey, rendered) -> Variant:
    name = key.storage_name
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(rendered.data))
    etag = hashlib.sha256(rendered.data).hexdigest()[:32]
    try:
        with transaction.atomic():
            variant, _ = Variant.objects.get_or_create(
                asset_id=key.asset_id,
                source_hash=key.source_hash,
                transformation=key.transformation,
                format=key.format,
                defaults={
                    "file": name,
                    "content_type": rendered.content_type,
                    "width": rendered.width,
                    "height": rendered.height,
                    "byte_size": len(rendered.data),
                    "etag": etag,
                },
            )
    except IntegrityError:
        # Another process stored the same variant between our lookup and insert: theirs is as good.
        variant = _lookup(key)
        if variant is None:
            raise
    return variant


def variants_purge(*, asset: Asset) -> int:
    """Delete every stored variant of ``asset`` (on revocation or replacement)."""
    variants = list(Variant.objects.filter(asset=asset))
    for variant in variants:
        default_storage.delete(variant.file.name)
    Variant.objects.filter(pk__in=[variant.pk for variant in variants]).delete()
    return len(variants)
