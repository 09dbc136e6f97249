"""Responsive markup for an approved asset's named preset: ``<img srcset sizes>`` and ``<picture>`` with AVIF
and WebP. The template tags (delivery/templatetags/delivery_tags.py), the embed panel and the JSON API's
snippets all build it here.

Each srcset candidate is the named preset followed by ``c_scale,w_<width>`` for the widths the preset
lists, so every candidate is exactly as wide as its ``w`` descriptor says. A preset followed by a free
component is not unsigned-allowed in strict mode, so the candidates are signed URLs.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from delivery.geometry import planned_size
from delivery.models import NamedPreset
from delivery.transformations import Transformation, parse_transformation
from delivery.urls_builder import variant_url

__all__ = ["Candidate", "candidates", "picture_html", "responsive_image_html"]

logger = logging.getLogger(__name__)

# Newest first: a browser takes the first <source> whose type it supports.
PICTURE_SOURCES = (("avif", "image/avif"), ("webp", "image/webp"))
FALLBACK_EXT = "jpg"


@dataclass(frozen=True)
class Candidate:
    width: int
    height: int
    transformation: str


def candidates(preset: NamedPreset, source_size: tuple[int, int]) -> list[Candidate]:
    """One srcset entry per width the preset lists, narrowest first, with the size each renders at.

    Sizes are planned with the renderer's own geometry (from the source's size alone, nothing decoded),
    so ``width``/``height`` attributes match the pixels served and the page does not shift on load.
    """
    chain = parse_transformation(preset.transformation)
    natural = planned_size(chain, *source_size)
    widths = _listed_widths(preset) or [natural[0]]
    result = []
    for width in widths:
        step = Transformation(crop="scale", width=width)
        result.append(
            Candidate(
                width=width,
                height=planned_size((*chain, step), *source_size)[1],
                transformation=f"t_{preset.name}/{step.canonical()}",
            )
        )
    return result


def responsive_image_html(
    *,
    public_id: str,
    preset: NamedPreset,
    source_size: tuple[int, int],
    alt: str,
    loading: str = "lazy",
    sizes: str | None = None,
    ext: str = FALLBACK_EXT,
    request: HttpRequest | None = None,
    presets: Mapping[str, str] | None = None,
) -> SafeString:
    entries = candidates(preset, source_size)
    urls = [
        variant_url(public_id, c.transformation, ext=ext, request=request, presets=presets) for c in entries
    ]
    largest = entries[-1]
    # The widest candidate as src: browsers without srcset support are mostly large desktop ones.
    return format_html(
        '<img src="{}" srcset="{}" sizes="{}" width="{}" height="{}" alt="{}" loading="{}" decoding="async">',
        urls[-1],
        _srcset(urls, entries),
        sizes or preset.sizes or "100vw",
        largest.width,
        largest.height,
        alt,
        loading,
    )


def picture_html(
    *,
    public_id: str,
    preset: NamedPreset,
    source_size: tuple[int, int],
    alt: str,
    loading: str = "lazy",
    sizes: str | None = None,
    request: HttpRequest | None = None,
    presets: Mapping[str, str] | None = None,
) -> SafeString:
    entries = candidates(preset, source_size)
    sizes = sizes or preset.sizes or "100vw"
    sources = format_html_join(
        "",
        '<source type="{}" srcset="{}" sizes="{}">',
        (
            (
                mime,
                _srcset(
                    [
                        variant_url(public_id, c.transformation, ext=ext, request=request, presets=presets)
                        for c in entries
                    ],
                    entries,
                ),
                sizes,
            )
            for ext, mime in PICTURE_SOURCES
        ),
    )
    fallback = responsive_image_html(
        public_id=public_id,
        preset=preset,
        source_size=source_size,
        alt=alt,
        loading=loading,
        sizes=sizes,
        request=request,
        presets=presets,
    )
    return format_html("<picture>{}{}</picture>", sources, fallback)


def _listed_widths(preset: NamedPreset) -> list[int]:
    widths = set()
    for item in preset.widths.split(","):
        item = item.strip()
        if item.isascii() and item.isdigit() and int(item) > 0:
            widths.add(int(item))
        elif item:
            logger.warning("Preset %s: ignoring srcset width %r (not a whole number)", preset.name, item)
    return sorted(widths)


def _srcset(urls: Sequence[str], entries: Sequence[Candidate]) -> str:
    return ", ".join(f"{url} {entry.width}w" for url, entry in zip(urls, entries, strict=True))
