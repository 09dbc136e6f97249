"""Draw a layer (delivery/overlays.py) over the image being rendered, with libvips. Pure Python, no Django.

``rendering.render`` calls :func:`composite_layer` for each layer step of the chain, with the stored bytes
of every image layer's asset (the caller has already resolved each public id to an approved asset). Every
layer is held to the same limits as the render: an image layer's source to ``max_source_pixels`` (checked
on its header, before decoding), the layer's own size to ``max_width``/``max_height``/``max_pixels``.

Text is drawn by Pango from the shipped font files only (``fontfile=``), and escaped so that it is never
read as Pango markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import pyvips

from delivery.effects import rgba
from delivery.geometry import RenderLimitError, RenderLimits, anchored
from delivery.overlays import FONTS, ImageLayer, Overlay, TextLayer
from delivery.rendering import probe, to_srgb
from delivery.transformations import TransformationError

__all__ = ["composite_layer", "layer_image"]

# Cairo cannot draw a surface wider or higher than this; a longer line of text is refused before drawing.
_CAIRO_MAX = 32_767


def composite_layer(
    image: pyvips.Image, overlay: Overlay, *, sources: Mapping[str, bytes], limits: RenderLimits
) -> pyvips.Image:
    """``image`` with the layer drawn over it where the overlay's gravity and offsets say; same size."""
    layer = layer_image(overlay, base_size=(image.width, image.height), sources=sources, limits=limits)
    if overlay.opacity is not None:
        alpha = (layer[3] * (overlay.opacity / 100)).cast("uchar")
        layer = layer[:3].bandjoin(alpha).copy(interpretation="srgb")
    left, top = _position(image.width, image.height, layer.width, layer.height, overlay)
    if left >= image.width or top >= image.height or left + layer.width <= 0 or top + layer.height <= 0:
        return image  # entirely outside: nothing of it shows (layers never enlarge the image)
    had_alpha = image.hasalpha()
    base = image if had_alpha else image.bandjoin(255)
    result = base.composite2(layer, "over", x=left, y=top)
    if result.format != "uchar":
        result = result.cast("uchar")
    return result if had_alpha else result[:3].copy(interpretation="srgb")


def layer_image(
    overlay: Overlay, *, base_size: tuple[int, int], sources: Mapping[str, bytes], limits: RenderLimits
) -> pyvips.Image:
    """The layer as 4-band sRGB (alpha last), sized, before opacity and placement."""
    if isinstance(overlay.layer, TextLayer):
        return _text_image(overlay, limits)
    return _image_layer(overlay, overlay.layer, base_size, sources, limits)


def _image_layer(
    overlay: Overlay,
    layer: ImageLayer,
    base_size: tuple[int, int],
    sources: Mapping[str, bytes],
    limits: RenderLimits,
) -> pyvips.Image:
    source = sources.get(layer.public_id)
    if source is None:
        # The caller resolves every public id first (a 404 there); this is only a second line of defence.
        raise TransformationError(f"no approved image with public id {layer.public_id!r} to overlay")
    info = probe(source, limits=limits)
    width, height = _layer_size(overlay, (info.width, info.height), base_size)
    _check(width, height, limits, what=f"the layer l_{layer.public_id.replace('/', ':')}")
    image = pyvips.Image.thumbnail_buffer(source, width, height=height, size="force")
    image = to_srgb(image)
    if not image.hasalpha():
        image = image.bandjoin(255)
    return image.copy(interpretation="srgb")


def _layer_size(overlay: Overlay, own: tuple[int, int], base: tuple[int, int]) -> tuple[int, int]:
    """Cloudinary's w_/h_ on a layer: pixels, or fractions of the layer (of the base with fl_relative)."""
    ow, oh = own

    def target(value: int | float | None, own_side: int, base_side: int) -> float | None:
        if value is None:
            return None
        if isinstance(value, int):
            return float(value)
        return value * (base_side if overlay.relative else own_side)

    tw, th = target(overlay.width, ow, base[0]), target(overlay.height, oh, base[1])
    if tw is None and th is None:
        return ow, oh
    if overlay.crop == "scale" and tw is not None and th is not None:
        return max(1, round(tw)), max(1, round(th))
    scales = [s for s in (tw / ow if tw else None, th / oh if th else None) if s is not None]
    scale = min(scales)
    if overlay.crop == "limit":
        scale = min(scale, 1.0)
    return max(1, round(ow * scale)), max(1, round(oh * scale))


def _text_image(overlay: Overlay, limits: RenderLimits) -> pyvips.Image:
    layer = overlay.layer
    assert isinstance(layer, TextLayer)
    font = FONTS.get(layer.font)
    if font is None:  # "$font" left unsubstituted, or a font removed since the URL was made
        raise TransformationError(f"unknown font {layer.font!r}")
    longest = max(len(line) for line in layer.text.split("\n"))
    lines = layer.text.count("\n") + 1
    if longest * layer.size * 1.5 > _CAIRO_MAX or lines * layer.size * 1.5 > _CAIRO_MAX:
        raise RenderLimitError(
            f"the text layer would be too large to draw at size {layer.size}: use fewer characters per "
            "line or a smaller size"
        )
    description = f"{font.family}{' Bold' if layer.bold else ''} {layer.size}"
    try:
        mask = pyvips.Image.text(
            html.escape(layer.text, quote=False),  # Pango reads markup: the text must not be any
            font=description,
            fontfile=str(font.file(bold=layer.bold)),
            dpi=72,  # so the size is in pixels
        )
    except pyvips.Error as error:
        raise TransformationError(f"the text could not be drawn: {str(error).strip()[:200]}") from None
    pad = max(2, math.ceil(layer.size / 8)) if overlay.background is not None else 0
    _check(mask.width + 2 * pad, mask.height + 2 * pad, limits, what="the text layer")
    red, green, blue, alpha = rgba(overlay.colour or "000000")
    coverage = mask if alpha == 255 else (mask * (alpha / 255)).cast("uchar")
    text = mask.new_from_image([red, green, blue]).bandjoin(coverage).copy(interpretation="srgb")
    if overlay.background is None:
        return text
    text = text.embed(
        pad, pad, text.width + 2 * pad, text.height + 2 * pad, extend="background", background=0
    )
    box = text.new_from_image(rgba(overlay.background)).copy(interpretation="srgb")
    result = box.composite2(text, "over")
    return (result if result.format == "uchar" else result.cast("uchar")).copy(interpretation="srgb")


def _position(base_w: int, base_h: int, w: int, h: int, overlay: Overlay) -> tuple[int, int]:
    """Top-left of the layer: at the gravity's anchor, moved inward by x/y (fractions of the base)."""
    dx = round(overlay.x * base_w) if isinstance(overlay.x, float) else (overlay.x or 0)
    dy = round(overlay.y * base_h) if isinstance(overlay.y, float) else (overlay.y or 0)
    return anchored(base_w, base_h, w, h, overlay.gravity, dx, dy)


def _check(width: int, height: int, limits: RenderLimits, *, what: str) -> None:
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise RenderLimitError(
            f"{what} would be {width}x{height} pixels; the limits are {limits.max_width} wide, "
            f"{limits.max_height} high and {limits.max_pixels} pixels in all"
        )
