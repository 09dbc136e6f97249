"""Which format a variant is encoded in: ``f_``, the URL's extension, or the client's Accept header.

Pure Python, no Django and no pyvips.
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from delivery.geometry import SourceInfo, chain_adds_alpha
from delivery.transformations import Transformation, TransformationError

__all__ = ["CONTENT_TYPES", "FormatChoice", "choose_format"]

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}

_MEDIA_RANGE = re.compile(r"^\s*([a-z0-9.+*-]+/[a-z0-9.+*-]+)\s*(?:;(.*))?$", re.IGNORECASE)


@dataclass(frozen=True)
class FormatChoice:
    format: str  # jpg, png, webp or avif
    vary_accept: bool  # True when negotiated from Accept: the response must say Vary: Accept


def choose_format(
    requested: str | None,
    accept_header: str | None,
    source: SourceInfo,
    chain: Sequence[Transformation] = (),
) -> FormatChoice:
    """Resolve ``f_``/extension/asset format to one concrete output format.

    ``f_auto``: AVIF if the client accepts it, else WebP, else JPEG, or PNG when the result has
    transparency (JPEG cannot carry it). With nothing requested the asset's own format is kept, or the
    nearest web format for sources like GIF/TIFF/HEIC.
    """
    if requested in CONTENT_TYPES:
        return FormatChoice(requested, vary_accept=False)
    if requested == "auto":
        accepted = _accepted_types(accept_header or "")
        if "image/avif" in accepted:
            return FormatChoice("avif", vary_accept=True)
        if "image/webp" in accepted:
            return FormatChoice("webp", vary_accept=True)
        return FormatChoice(_lossless_or_jpeg(source, chain), vary_accept=True)
    if requested is not None:
        raise TransformationError(f"unsupported output format {requested!r}")
    if source.format in CONTENT_TYPES:
        return FormatChoice(source.format, vary_accept=False)
    return FormatChoice(_lossless_or_jpeg(source, chain), vary_accept=False)


def _lossless_or_jpeg(source: SourceInfo, chain: Sequence[Transformation]) -> str:
    return "png" if source.has_alpha or chain_adds_alpha(chain) else "jpg"


def _accepted_types(accept_header: str) -> set[str]:
    """Media types the client accepts with q > 0. Wildcards do not count: a browser that can show AVIF
    or WebP names them, and ``*/*`` alone must get the safe JPEG/PNG."""
    accepted: set[str] = set()
    for item in accept_header[:2048].split(","):
        match = _MEDIA_RANGE.match(item)
        if not match:
            continue
        media_type, params = match.group(1).lower(), match.group(2) or ""
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and math.isfinite(q):
            accepted.add(media_type)
    return accepted
