"""Responsive markup for approved assets: ``<img srcset sizes>`` and ``<picture>`` with AVIF and WebP.

    {% load delivery_tags %}
    {% responsive_image public_id "desktop-hero" alt="Spring sale" %}
    {% picture public_id "social-square" alt="Spring sale" loading="eager" %}

Each srcset candidate is the named preset followed by ``c_scale,w_<width>`` for the widths the preset
lists, so every candidate is exactly as wide as its ``w`` descriptor says. A preset followed by a free
component is not unsigned-allowed in strict mode, so the candidates are signed URLs.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django import template
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from delivery import rendering
from delivery.models import NamedPreset
from delivery.transformations import Transformation, TransformationError, parse_transformation
from delivery.urls_builder import variant_url
from review import selectors as review_selectors

logger = logging.getLogger(__name__)
register = template.Library()

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
    natural = _planned_size(chain, source_size)
    widths = _listed_widths(preset) or [natural[0]]
    result = []
    for width in widths:
        step = Transformation(crop="scale", width=width)
        result.append(
            Candidate(
                width=width,
                height=_planned_size((*chain, step), source_size)[1],
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


def _tag_html(context: template.Context, build, public_id: str, preset_name: str, **options) -> SafeString:
    found = _lookup(public_id, preset_name)
    if found is None:
        return SafeString("")
    preset, source_size, presets, asset_alt = found
    if options.get("alt") is None:
        options["alt"] = asset_alt
    # A preset saved around the admin's validation: skip it rather than fail the whole page.
    reason = " ".join(preset.problems().values())
    if not reason:
        try:
            return build(
                public_id=public_id, preset=preset, source_size=source_size, presets=presets, **options
            )
        except TransformationError as error:
            reason = str(error)
    logger.warning("Responsive markup skipped: named preset %r cannot be served: %s", preset_name, reason)
    user = getattr(context.get("request"), "user", None)
    if user is not None and user.is_staff:
        return format_html(
            '<span class="preset-invalid" role="note">Named preset t_{} is not shown: {}</span>',
            preset.name,
            reason,
        )
    return SafeString("")


@register.simple_tag(takes_context=True)
def responsive_image(
    context: template.Context,
    public_id: str,
    preset_name: str,
    *,
    alt: str | None = None,
    loading: str = "lazy",
    sizes: str | None = None,
) -> SafeString:
    """``<img src srcset sizes width height>`` in JPEG; empty when the asset is not approved. Without
    ``alt``, the asset's alt text (its title when that is empty)."""
    return _tag_html(
        context, responsive_image_html, public_id, preset_name, alt=alt, loading=loading, sizes=sizes
    )


@register.simple_tag(takes_context=True)
def picture(
    context: template.Context,
    public_id: str,
    preset_name: str,
    *,
    alt: str | None = None,
    loading: str = "lazy",
    sizes: str | None = None,
) -> SafeString:
    """``<picture>`` with AVIF and WebP sources and a JPEG ``<img>``; empty when the asset is not approved.
    Without ``alt``, the asset's alt text (its title when that is empty)."""
    return _tag_html(context, picture_html, public_id, preset_name, alt=alt, loading=loading, sizes=sizes)


# --- internals -------------------------------------------------------------------------------------------


def _lookup(
    public_id: str, preset_name: str
) -> tuple[NamedPreset, tuple[int, int], dict[str, str], str] | None:
    all_presets = {preset.name: preset for preset in NamedPreset.objects.all()}
    preset = all_presets.get(preset_name)
    if preset is None:
        # A typo in a template, like a bad {% url %}: fail loudly rather than ship a page of broken images.
        raise template.TemplateSyntaxError(
            f"No named preset {preset_name!r} (see the admin's named presets)."
        )
    asset = review_selectors.approved_asset_by_public_id(public_id=str(public_id))
    if asset is None:
        # Every URL would be a 404: no markup is better than a broken image on a live page.
        logger.warning("Responsive markup skipped: %r is not an approved public id", public_id)
        return None
    presets = {name: item.transformation for name, item in all_presets.items()}
    return preset, (asset.width, asset.height), presets, asset.alt_text or asset.title


def _listed_widths(preset: NamedPreset) -> list[int]:
    widths = set()
    for item in preset.widths.split(","):
        item = item.strip()
        if item.isascii() and item.isdigit() and int(item) > 0:
            widths.add(int(item))
        elif item:
            logger.warning("Preset %s: ignoring srcset width %r (not a whole number)", preset.name, item)
    return sorted(widths)


def _planned_size(chain: Sequence[Transformation], source_size: tuple[int, int]) -> tuple[int, int]:
    # The renderer's planner is what render() itself uses, so these sizes cannot drift from the output.
    return rendering.planned_size(chain, *source_size)


def _srcset(urls: Sequence[str], entries: Sequence[Candidate]) -> str:
    return ", ".join(f"{url} {entry.width}w" for url, entry in zip(urls, entries, strict=True))
