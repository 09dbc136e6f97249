"""Template tags for responsive markup of approved assets (built by delivery/responsive.py).

{% load delivery_tags %}
{% responsive_image public_id "desktop-hero" alt="Spring sale" %}
{% picture public_id "social-square" alt="Spring sale" loading="eager" %}
"""

import logging
from collections.abc import Callable

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from delivery import selectors
from delivery.models import NamedPreset
from delivery.responsive import picture_html, responsive_image_html
from delivery.transformations import TransformationError
from review import selectors as review_selectors

logger = logging.getLogger(__name__)
register = template.Library()


def _tag_html(
    context: template.Context,
    build: Callable[..., SafeString],
    public_id: str,
    preset_name: str,
    **options: str | None,
) -> SafeString:
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
    all_presets = {preset.name: preset for preset in selectors.named_presets()}
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
