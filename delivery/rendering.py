"""Render a delivery variant with libvips: Cloudinary's resize/crop/pad semantics, format negotiation,
metadata policy and resource limits. Pure Python, no Django.

Flow for the serve view::

    info = probe(source, limits=limits)                      # header only; enforces the source limit
    choice = choose_format(request.requested_format, accept, info, request.components)
    ... cache lookup by (asset, hash, request.canonical_transformation, choice.format) ...
    image = render(source, request.components, output_format=choice.format, limits=limits,
                   ai_generated=asset_is_generated)

Speed: the first component that changes size is done by ``thumbnail_buffer`` (shrink-on-load: a JPEG
is decoded at 1/2, 1/4 or 1/8 scale when the target allows), and ``g_auto`` fill is one
``thumbnail_buffer(..., crop="attention")`` call, i.e. the bare pyvips call itself. Every size is
planned from the header before any pixel is decoded, so limits are enforced up front.

Semantics (Cloudinary's image resize, crop and padding mode pages):
- scale: exact w x h (may distort); with one side, keep the aspect ratio. Up or down.
- fit: largest size inside w x h keeping the aspect ratio. Up or down.
- limit: fit, but never upscale. mfit: fit, but never downscale.
- fill: cover w x h keeping the aspect ratio, then crop to exactly w x h at the gravity. Up or down.
- lfill: fill without upscaling: the target is clamped to the image per axis (a 400x200 image asked for
  800x100 gives 400x100, as Cloudinary does).
- pad: fit inside w x h, then pad to exactly w x h with ``b_`` (default white) placed by gravity.
- lpad: pad without upscaling (a small image is padded all round). mpad: only when the image is no
  larger than w x h on both axes, pad it to w x h without scaling; otherwise it is left unchanged.
- crop: cut w x h from the image without scaling, placed by gravity; x/y are the top-left corner with no
  gravity, or offsets inward from the gravity's edge(s).
- thumb: with g_face/g_faces, cut a region around the face(s) of the target aspect ratio and scale it
  to w x h; with other gravities (or no face found) it behaves like fill.
- g_auto: libvips' attention-based smartcrop. g_face/g_faces: OpenCV's bundled frontal-face Haar
  cascade; with no face found the crop falls back to center gravity.
- dpr multiplies w/h (pixels and fractions); fractions are of the image entering that component.
- Animated or multi-page sources render their first frame; the source limit counts every frame.
"""

from __future__ import annotations

import math
import re
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

import pyvips

from delivery.transformations import CONTENT_GRAVITIES, Transformation, TransformationError

if TYPE_CHECKING:
    from delivery.overlays import Overlay

__all__ = [
    "AI_DIGITAL_SOURCE_TYPE",
    "FormatChoice",
    "RenderLimitError",
    "RenderLimits",
    "RenderedImage",
    "SourceImageError",
    "SourceInfo",
    "ai_disclosure_xmp",
    "choose_format",
    "declares_ai_generated",
    "edit_actions",
    "embed_ai_disclosure",
    "probe",
    "render",
]

# The operation cache keeps recent images (and the source buffers they reference) alive; in a server
# that renders each variant once and caches the bytes elsewhere it only costs memory.
pyvips.cache_set_max(0)

AI_DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_COMPOSITE_AI_SOURCE_TYPE = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "avif": "image/avif"}
# q_auto levels -> encoder quality. AVIF's quantiser scale runs lower than JPEG/WebP's for the same
# visual quality, so it gets its own column.
_AUTO_QUALITY = {
    "best": {"jpg": 90, "webp": 90, "avif": 70},
    "good": {"jpg": 80, "webp": 80, "avif": 60},
    "eco": {"jpg": 70, "webp": 70, "avif": 50},
    "low": {"jpg": 60, "webp": 60, "avif": 40},
}
_LOADER_FORMATS = {
    "jpegload": "jpg",
    "pngload": "png",
    "webpload": "webp",
    "gifload": "gif",
    "tiffload": "tiff",
}


_PAD_MODES = frozenset({"pad", "lpad", "mpad"})


class RenderLimitError(TransformationError):
    """The request or the source is over a configured size limit (a 4xx, with the reason)."""


class SourceImageError(ValueError):
    """The stored source cannot be decoded: the server's problem, not the URL's."""


@dataclass(frozen=True)
class RenderLimits:
    max_width: int = 4096
    max_height: int = 4096
    max_pixels: int = 16_777_216
    max_source_pixels: int = 100_000_000  # summed over every frame/page


@dataclass(frozen=True)
class SourceInfo:
    width: int  # upright, after the EXIF orientation is applied
    height: int
    pages: int
    format: str  # jpg, png, webp, avif, gif, tiff, heic, ...
    has_alpha: bool


@dataclass(frozen=True)
class FormatChoice:
    format: str  # jpg, png, webp or avif
    vary_accept: bool  # True when negotiated from Accept: the response must say Vary: Accept


@dataclass(frozen=True)
class RenderedImage:
    data: bytes
    content_type: str
    format: str
    width: int
    height: int
    vary_accept: bool
    # What the render did to the source, as C2PA actions with a description each ("c2pa.resized",
    # "resized to 400x300"): the variant's content credentials say so (generation/credentials.py).
    actions: tuple[tuple[str, str], ...] = ()


# --- public API ------------------------------------------------------------------------------------------


def probe(source: bytes, *, limits: RenderLimits | None = None) -> SourceInfo:
    """Read the header only (no pixel decoding) and enforce the source pixel limit."""
    limits = limits or RenderLimits()
    try:
        header = pyvips.Image.new_from_buffer(source, "", access="sequential")
    except pyvips.Error as error:
        raise SourceImageError(f"the source image cannot be read: {_first_line(error)}") from None
    fields = set(header.get_fields())
    pages = header.get("n-pages") if "n-pages" in fields else 1
    width, height = header.width, header.height
    if "page-height" in fields and pages > 1:
        height = header.get("page-height")
    if "orientation" in fields and header.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    total = width * height * max(1, pages)
    if total > limits.max_source_pixels:
        raise RenderLimitError(
            f"the source image has {total} pixels over {pages} frame(s); "
            f"the limit is {limits.max_source_pixels}"
        )
    loader = header.get("vips-loader") if "vips-loader" in fields else ""
    fmt = _LOADER_FORMATS.get(loader.removesuffix("_buffer"), loader.removesuffix("load_buffer") or "unknown")
    if loader.startswith("heifload"):
        compression = header.get("heif-compression") if "heif-compression" in fields else ""
        fmt = "avif" if compression == "av1" else "heic"
    return SourceInfo(width=width, height=height, pages=pages, format=fmt, has_alpha=bool(header.hasalpha()))


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
        return FormatChoice("png" if _output_has_alpha(source, chain) else "jpg", vary_accept=True)
    if requested is not None:
        raise TransformationError(f"unsupported output format {requested!r}")
    if source.format in CONTENT_TYPES:
        return FormatChoice(source.format, vary_accept=False)
    return FormatChoice("png" if _output_has_alpha(source, chain) else "jpg", vary_accept=False)


def render(
    source: bytes,
    chain: Sequence[Transformation],
    *,
    output_format: str | None,
    accept_header: str | None = None,
    limits: RenderLimits | None = None,
    ai_generated: bool = False,
    focal: tuple[float, float] | None = None,
    layer_sources: Mapping[str, bytes] | None = None,
) -> RenderedImage:
    """Apply ``chain`` to ``source`` and encode it.

    ``layer_sources`` maps the public id of each image layer (``l_<public_id>``) in the chain to that
    approved asset's stored bytes; layers are drawn by delivery/overlay_rendering.py.

    ``output_format`` is what the request asked for (``DeliveryRequest.requested_format``: a format,
    ``"auto"`` or ``None``) or an already-negotiated concrete format. Quality comes from the chain's
    ``q_``. Output is sRGB with all metadata stripped, except that the AI-disclosure XMP is written when
    ``ai_generated`` is true or the source's own XMP already declares it.
    ``focal`` is the asset's focal point as fractions (x, y) of the source: ``g_auto`` centres its crop on it
    (clamped to the image) instead of asking libvips' attention smartcrop.
    Raises :class:`RenderLimitError` (a ``TransformationError``) before decoding when a limit is exceeded.
    """
    limits = limits or RenderLimits()
    info = probe(source, limits=limits)
    choice = choose_format(output_format, accept_header, info, chain)
    steps = _plan(chain, info.width, info.height)
    _check_output_limits(steps, info, limits)
    actions = edit_actions(steps, info, choice.format)

    try:
        image, source_xmp = _load(source, steps, focal=focal)
        for index, step in enumerate(steps):
            if step.overlay is not None:
                # A layer draws over the image and keeps its size, so the focal point stays put.
                from delivery.overlay_rendering import composite_layer  # it builds on this module

                image = composite_layer(image, step.overlay, sources=layer_sources or {}, limits=limits)
                continue
            if not (index == 0 and step.loaded):
                image = _apply(image, step, focal=focal)
            image = _finish(image, step)
            # Each component acts on the one before's output: follow the point into it.
            entering = steps[index - 1].out if index else (info.width, info.height)
            focal = _focal_through(step, focal, size=entering)
        quality = next((c.quality for c in chain if c.quality is not None), None)
        # Never lose a disclosure the source already makes, even if the caller did not flag it.
        disclosure = _declared_source_type(source_xmp) or (AI_DIGITAL_SOURCE_TYPE if ai_generated else None)
        flatten, flags = _flatten_colour(chain), _output_flags(chain)
        data = _encode(image, choice.format, quality, disclosure, flatten, flags)
    except pyvips.Error as error:
        raise SourceImageError(f"the image could not be rendered: {_first_line(error)}") from None
    return RenderedImage(
        data=data,
        content_type=CONTENT_TYPES[choice.format],
        format=choice.format,
        width=image.width,
        height=image.height,
        vary_accept=choice.vary_accept,
        actions=actions,
    )


def edit_actions(
    steps: Sequence[_Step], source: SourceInfo, output_format: str
) -> tuple[tuple[str, str], ...]:
    """The C2PA actions a planned render amounts to: ``c2pa.resized`` (scaled, or padded onto a larger
    canvas), ``c2pa.cropped`` and ``c2pa.transcoded`` (another format, or only re-encoded)."""
    actions: list[tuple[str, str]] = []
    size = (source.width, source.height)
    for step in steps:
        if step.overlay is not None:
            what = "text" if hasattr(step.overlay.layer, "text") else "an approved image"
            actions.append(("c2pa.edited", f"{what} placed over it as a layer"))
            continue
        if step.face_thumb:
            actions.append(("c2pa.cropped", "cropped around the face(s)"))
        if step.resize is not None:
            actions.append(("c2pa.resized", "resized to {}x{}".format(*step.resize)))
            size = step.resize
        if (
            step.crop is not None
            and not step.face_thumb
            and (step.crop[0] < size[0] or step.crop[1] < size[1])
        ):
            actions.append(("c2pa.cropped", "cropped to {}x{}".format(*step.crop)))
        if step.canvas is not None and step.canvas != step.resize and step.canvas != size:
            actions.append(("c2pa.resized", "padded to {}x{}".format(*step.canvas)))
        size = step.out
    if output_format != source.format:
        actions.append(("c2pa.transcoded", f"converted from {source.format} to {output_format}"))
    elif not actions:
        actions.append(("c2pa.transcoded", f"re-encoded as {output_format}"))
    return tuple(actions)


def planned_size(chain: Sequence[Transformation], width: int, height: int) -> tuple[int, int]:
    """The output size ``render`` will produce for a source of this size, computed without any pixels."""
    steps = _plan(chain, width, height)
    return steps[-1].out if steps else (width, height)


def planned_upscale(chain: Sequence[Transformation], width: int, height: int) -> float:
    """How many times ``render`` enlarges the source's pixels (the larger axis; 1.0 when it never enlarges),
    computed without any pixels. Padding onto a larger canvas adds pixels but does not enlarge any."""
    scale_x = scale_y = 1.0
    for step in _plan(chain, width, height):
        if step.resize is not None:
            scale_x *= step.resize[0] / width
            scale_y *= step.resize[1] / height
        width, height = step.out
    return max(1.0, scale_x, scale_y)


def ai_disclosure_xmp(source_type: str = AI_DIGITAL_SOURCE_TYPE) -> bytes:
    """A minimal XMP packet carrying IPTC ``Iptc4xmpExt:DigitalSourceType``."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{source_type}</Iptc4xmpExt:DigitalSourceType>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def declares_ai_generated(xmp: bytes | None) -> bool:
    """True when an XMP packet carries an AI DigitalSourceType (trained or composite-with-trained)."""
    return _declared_source_type(xmp) is not None


def _declared_source_type(xmp: bytes | None) -> str | None:
    if not xmp:
        return None
    for source_type in (_COMPOSITE_AI_SOURCE_TYPE, AI_DIGITAL_SOURCE_TYPE):
        if source_type.encode() in xmp:
            return source_type
    return None


def embed_ai_disclosure(data: bytes, source_type: str = AI_DIGITAL_SOURCE_TYPE) -> bytes:
    """Return PNG or JPEG ``data`` with the AI-disclosure XMP packet, without re-encoding pixels.

    Any existing XMP packet is replaced; everything else (PNG text chunks with the generation
    parameters, ICC profiles, pixels) is kept byte for byte.
    """
    packet = ai_disclosure_xmp(source_type)
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_with_xmp(data, packet)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_with_xmp(data, packet)
    raise ValueError("embed_ai_disclosure supports PNG and JPEG only")


# --- planning --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One component's geometry, computed from sizes alone (before any decoding)."""

    mode: str
    gravity: str | None
    resize: tuple[int, int] | None  # scale the whole image to this size first
    crop: tuple[int, int] | None  # then cut this box from it
    canvas: tuple[int, int] | None  # or place it on a canvas of this size
    out: tuple[int, int]
    x: int | None = None
    y: int | None = None
    background: str | None = None
    face_thumb: bool = False  # thumb + g_face(s): the face decides the region before scaling
    loaded: bool = False  # done by the loader (shrink-on-load) already
    finish: Transformation | None = None  # e_/r_/bo_/a_ (and c_fill_pad's cut) after the geometry
    shaped: tuple[int, int] | None = None  # the size before the finish, when it changes the size
    overlay: Overlay | None = None  # a layer drawn over the image (l_...), which keeps its size


def _plan(chain: Sequence[Transformation], width: int, height: int) -> list[_Step]:
    steps: list[_Step] = []
    for component in chain:
        if component.overlay is not None:
            size = (width, height)
            layer = _Step("layer", gravity=None, resize=None, crop=None, canvas=None, out=size)
            steps.append(replace(layer, overlay=component.overlay))
            continue
        if component.crop is None and not _has_finish(component):
            continue  # f_/q_ only: nothing to do to the pixels
        geometry = _plan_component(component, width, height) if component.crop is not None else None
        step = _plan_finish(component, width, height, geometry)
        steps.append(step)
        width, height = step.out
    return steps


def _plan_component(t: Transformation, width: int, height: int) -> _Step:
    mode = t.crop or "scale"
    dpr = t.dpr or 1.0
    tw = _target(t.width, width, dpr)
    th = _target(t.height, height, dpr)
    if t.aspect_ratio is not None:
        tw, th = _apply_aspect(t.aspect_ratio, tw, th, width, height, pad=mode in _PAD_MODES)
    if mode not in {"scale", "fit", "limit", "mfit", "crop"}:
        tw, th = _one_side(tw, th, width, height)
    x, y = _offset_pixels(t.x, width), _offset_pixels(t.y, height)
    common = {"mode": mode, "gravity": t.gravity, "x": x, "y": y, "background": t.background}

    if mode in {"scale", "fit", "limit", "mfit"}:
        if mode == "scale" and tw is not None and th is not None:
            size = (tw, th)
        else:
            scale = _fit_scale(width, height, tw, th)
            if mode == "limit":
                scale = min(scale, 1.0)
            elif mode == "mfit":
                scale = max(scale, 1.0)
            size = _scaled(width, height, scale)
        resize = None if size == (width, height) else size
        return _Step(resize=resize, crop=None, canvas=None, out=size, **common)

    if mode == "fill_pad":
        assert tw is not None and th is not None
        return _plan_fill_pad(t, width, height, tw, th, common)

    if mode in {"fill", "lfill", "thumb", "auto"}:  # c_auto: a fill whose gravity defaults to g_auto
        assert tw is not None and th is not None  # the parser guarantees a full box
        if mode == "lfill":
            tw, th = min(tw, width), min(th, height)
        scale = max(tw / width, th / height)
        resized = (max(tw, round(width * scale)), max(th, round(height * scale)))
        face_thumb = mode == "thumb" and t.gravity in {"face", "faces"}
        resize = None if resized == (width, height) else resized
        return _Step(resize=resize, crop=(tw, th), canvas=None, out=(tw, th), face_thumb=face_thumb, **common)

    if mode in {"pad", "lpad", "mpad"}:
        assert tw is not None and th is not None
        if mode == "mpad":
            if width > tw or height > th:
                return _Step(resize=None, crop=None, canvas=None, out=(width, height), **common)
            return _Step(resize=None, crop=None, canvas=(tw, th), out=(tw, th), **common)
        scale = min(tw / width, th / height)
        if mode == "lpad":
            scale = min(scale, 1.0)
        resized = _scaled(width, height, scale)
        resized = (min(resized[0], tw), min(resized[1], th))
        resize = None if resized == (width, height) else resized
        return _Step(resize=resize, crop=None, canvas=(tw, th), out=(tw, th), **common)

    if mode == "crop":
        box = (min(tw or width, width), min(th or height, height))
        return _Step(resize=None, crop=box, canvas=None, out=box, **common)
    raise TransformationError(f"unsupported crop mode {mode!r}")


def _target(value: int | float | None, current: int, dpr: float) -> int | None:
    if value is None:
        return None
    base = value * dpr if isinstance(value, int) else current * value * dpr
    return max(1, round(base))


def _apply_aspect(
    ratio: Fraction, tw: int | None, th: int | None, width: int, height: int, *, pad: bool
) -> tuple[int, int]:
    if tw is not None and th is None:
        return tw, max(1, round(tw / ratio))
    if th is not None and tw is None:
        return max(1, round(th * ratio)), th
    if tw is not None and th is not None:
        return tw, th
    # ar alone: the largest box of that shape inside the image (crops), or the smallest around it (pads).
    wider = Fraction(width, height) > ratio
    if wider != pad:
        return max(1, round(height * ratio)), height
    return width, max(1, round(width / ratio))


def _fit_scale(width: int, height: int, tw: int | None, th: int | None) -> float:
    scales = [s for s in (tw / width if tw else None, th / height if th else None) if s is not None]
    return min(scales)


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_output_limits(steps: list[_Step], info: SourceInfo, limits: RenderLimits) -> None:
    sizes = [(info.width, info.height)] if not steps else []
    for step in steps:
        sizes.extend(size for size in (step.resize, step.canvas, step.out) if size is not None)
    for w, h in sizes:
        if w > limits.max_width or h > limits.max_height or w * h > limits.max_pixels:
            raise RenderLimitError(
                f"the result would be {w}x{h} pixels; the limits are {limits.max_width} wide, "
                f"{limits.max_height} high and {limits.max_pixels} pixels in all"
            )


def _output_has_alpha(source: SourceInfo, chain: Sequence[Transformation]) -> bool:
    if source.has_alpha:
        return True
    # Padding with a translucent b_ adds an alpha channel to an opaque image.
    if any(_adds_alpha(t) for t in chain):
        return True  # rounded corners, a cut-out subject or an odd angle leave transparent pixels
    return any(t.crop in _PAD_MODES and t.background is not None and len(t.background) == 8 for t in chain)


def _flatten_colour(chain: Sequence[Transformation]) -> list[int]:
    background = next((t.background for t in reversed(chain) if t.background is not None), "ffffff")
    return _rgba(background)[:3]


# --- execution -------------------------------------------------------------------------------------------


def _load(
    source: bytes, steps: list[_Step], *, focal: tuple[float, float] | None = None
) -> tuple[pyvips.Image, bytes | None]:
    """Decode, using shrink-on-load for the first step when it starts with a resize."""
    header = pyvips.Image.new_from_buffer(source, "", access="sequential")
    source_xmp = header.get("xmp-data") if "xmp-data" in header.get_fields() else None
    first = steps[0] if steps else None
    if first is not None and first.resize is not None and not first.face_thumb:
        rw, rh = first.resize
        if first.crop is not None and first.gravity == "auto" and focal is None:
            # fill + g_auto is exactly libvips' own attention thumbnail: one call, the benchmark floor.
            cw, ch = first.crop
            image = pyvips.Image.thumbnail_buffer(source, cw, height=ch, crop="attention")
            if (image.width, image.height) == (cw, ch):
                steps[0] = replace(first, loaded=True)
                return _to_srgb(image), source_xmp
        image = pyvips.Image.thumbnail_buffer(source, rw, height=rh, size="force")
        steps[0] = replace(first, resize=None)  # done by the loader; any crop or canvas still runs
        return _to_srgb(image), source_xmp
    # Content-aware steps read the image more than once (analyse, then cut), which a sequential
    # decode cannot do; everything else streams top to bottom in little memory.
    content_aware = any(step.face_thumb or step.gravity in CONTENT_GRAVITIES for step in steps)
    image = pyvips.Image.new_from_buffer(source, "", access="random" if content_aware else "sequential")
    return _to_srgb(image.autorot()), source_xmp


def _to_srgb(image: pyvips.Image) -> pyvips.Image:
    if image.interpretation == "cmyk" or "icc-profile-data" in image.get_fields():
        fallback = "cmyk" if image.interpretation == "cmyk" else "srgb"
        if not (image.interpretation == "srgb" and image.format == "uchar" and _is_srgb_profile(image)):
            image = image.icc_transform("srgb", embedded=True, input_profile=fallback, intent="perceptual")
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
        if image.format != "uchar":
            image = image.cast("uchar")
    return image


def _is_srgb_profile(image: pyvips.Image) -> bool:
    # thumbnail() attaches the sRGB profile it converted to; running that through icc_transform again
    # would only cost time. A profile's description tag sits near its start.
    profile = image.get("icc-profile-data")
    return b"sRGB" in profile[:1024] or b"s\x00R\x00G\x00B" in profile[:1024]


def _apply(image: pyvips.Image, step: _Step, *, focal: tuple[float, float] | None = None) -> pyvips.Image:
    if step.face_thumb:
        image = image.copy_memory()  # detection and the cut both read it
        faces = _detect_faces(image)
        if faces:
            return _face_thumb(image, faces, step)
        step = replace(step, gravity=None)  # no face: fill at center, as Cloudinary does
    if step.resize is not None:
        rw, rh = step.resize
        image = image.thumbnail_image(rw, height=rh, size="force")
    if step.crop is not None:
        image = _crop(image, step, focal=focal)
    if step.canvas is not None:
        image = _pad(image, step)
    return image


def _crop(image: pyvips.Image, step: _Step, *, focal: tuple[float, float] | None = None) -> pyvips.Image:
    assert step.crop is not None
    cw, ch = min(step.crop[0], image.width), min(step.crop[1], image.height)
    if (cw, ch) == (image.width, image.height):
        return image
    if step.gravity == "auto" and focal is not None:
        left, top = _around_focal(image.width, image.height, cw, ch, focal)
        return image.extract_area(left, top, cw, ch)
    if step.gravity == "auto":
        return image.copy_memory().smartcrop(cw, ch, interesting="attention")
    if step.gravity in {"face", "faces"}:
        image = image.copy_memory()
        faces = _detect_faces(image)
        if faces:
            fx, fy, fw, fh = _union(faces if step.gravity == "faces" else [_largest(faces)])
            left = _clamp(round(fx + fw / 2 - cw / 2), image.width - cw)
            top = _clamp(round(fy + fh / 2 - ch / 2), image.height - ch)
            return image.extract_area(left, top, cw, ch)
        # Cloudinary: no face found -> the default (center) gravity.
    left, top = _place(image.width, image.height, cw, ch, step.gravity, step.x, step.y, offsets=True)
    return image.extract_area(left, top, cw, ch)


def _around_focal(width: int, height: int, cw: int, ch: int, focal: tuple[float, float]) -> tuple[int, int]:
    """Top-left of a cw x ch box centred on the focal point, moved inside the image if it would leave it."""
    left = _clamp(round(focal[0] * width - cw / 2), width - cw)
    top = _clamp(round(focal[1] * height - ch / 2), height - ch)
    return left, top


def _focal_through(
    step: _Step, focal: tuple[float, float] | None, *, size: tuple[int, int]
) -> tuple[float, float] | None:
    """The focal point as fractions of ``step``'s output, given fractions of its input of ``size``.

    Scaling keeps fractions; a cut or a canvas moves them. After a face-decided cut the box is not known
    from sizes alone, so the point is dropped (a later ``g_auto`` falls back to attention).
    """
    if focal is None:
        return None
    width, height = step.resize or size
    fx, fy = focal[0] * width, focal[1] * height
    if step.crop is not None:
        if step.face_thumb or step.gravity in {"face", "faces"}:
            return None
        cw, ch = min(step.crop[0], width), min(step.crop[1], height)
        if step.gravity == "auto":
            left, top = _around_focal(width, height, cw, ch, focal)
        else:
            left, top = _place(width, height, cw, ch, step.gravity, step.x, step.y, offsets=True)
        fx, fy, width, height = fx - left, fy - top, cw, ch
    if step.canvas is not None and step.canvas != (width, height):
        pw, ph = step.canvas
        left, top = _place(pw, ph, width, height, step.gravity, None, None, offsets=False)
        fx, fy, width, height = fx + left, fy + top, pw, ph
    return min(1.0, max(0.0, fx / width)), min(1.0, max(0.0, fy / height))


def _pad(image: pyvips.Image, step: _Step) -> pyvips.Image:
    assert step.canvas is not None
    pw, ph = step.canvas
    if (pw, ph) == (image.width, image.height):
        return image
    colour = _rgba(step.background or "ffffff")
    if colour[3] < 255 and not image.hasalpha():
        image = image.bandjoin(255)
    background = colour if image.hasalpha() else colour[:3]
    left, top = _place(pw, ph, image.width, image.height, step.gravity, None, None, offsets=False)
    return image.embed(left, top, pw, ph, extend="background", background=background)


def _place(
    outer_w: int,
    outer_h: int,
    inner_w: int,
    inner_h: int,
    gravity: str | None,
    x: int | None,
    y: int | None,
    *,
    offsets: bool,
) -> tuple[int, int]:
    """Top-left of an inner box inside an outer one for a compass gravity, x/y moving inward."""
    if gravity is None and offsets and (x is not None or y is not None):
        gravity = "north_west"  # Cloudinary: plain x/y on a crop are the region's top-left corner
    left, top = anchored(outer_w, outer_h, inner_w, inner_h, gravity, x or 0, y or 0)
    return _clamp(left, outer_w - inner_w), _clamp(top, outer_h - inner_h)


def anchored(
    outer_w: int, outer_h: int, inner_w: int, inner_h: int, gravity: str | None, dx: int, dy: int
) -> tuple[int, int]:
    """Top-left of an inner box placed at a compass gravity (default center) of an outer one, moved inward
    by dx/dy from the edges it is anchored to (Cloudinary's rule for crops, pads and layers). Unclamped."""
    gravity = gravity or "center"
    if "west" in gravity:
        left = dx
    elif "east" in gravity:
        left = outer_w - inner_w - dx
    else:
        left = (outer_w - inner_w) // 2 + dx
    if gravity.startswith("north"):
        top = dy
    elif gravity.startswith("south"):
        top = outer_h - inner_h - dy
    else:
        top = (outer_h - inner_h) // 2 + dy
    return left, top


def _face_thumb(image: pyvips.Image, faces: list[tuple[int, int, int, int]], step: _Step) -> pyvips.Image:
    tw, th = step.shaped or step.out
    fx, fy, fw, fh = _union(faces if step.gravity == "faces" else [_largest(faces)])
    # Keep a margin of one face size around the face(s), grown to the target's shape.
    region_w, region_h = fw * 2.0, fh * 2.0
    aspect = tw / th
    if region_w / region_h < aspect:
        region_w = region_h * aspect
    else:
        region_h = region_w / aspect
    shrink = min(1.0, image.width / region_w, image.height / region_h)
    cw = max(1, min(image.width, round(region_w * shrink)))
    ch = max(1, min(image.height, round(region_h * shrink)))
    left = _clamp(round(fx + fw / 2 - cw / 2), image.width - cw)
    top = _clamp(round(fy + fh / 2 - ch / 2), image.height - ch)
    region = image.extract_area(left, top, cw, ch)
    return region.thumbnail_image(tw, height=th, size="force")


_cascades = threading.local()


def _detect_faces(image: pyvips.Image) -> list[tuple[int, int, int, int]]:
    """Frontal faces as (left, top, width, height) in ``image``'s pixels, largest first."""
    import cv2  # only face gravity needs OpenCV: keep it off the import path

    cascade = getattr(_cascades, "frontal", None)
    if cascade is None:
        # CascadeClassifier is not documented as thread-safe: one per thread.
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        _cascades.frontal = cascade
    scale = min(1.0, 640 / max(image.width, image.height))
    small = image.resize(scale) if scale < 1.0 else image
    if small.hasalpha():
        small = small.flatten(background=[255, 255, 255])
    grey = small.colourspace("b-w")[0].numpy()
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
    faces = [tuple(round(v / scale) for v in face) for face in found]
    return sorted(faces, key=lambda f: f[2] * f[3], reverse=True)  # type: ignore[return-value]


def _largest(faces: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return max(faces, key=lambda f: f[2] * f[3])


def _union(faces: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    left = min(f[0] for f in faces)
    top = min(f[1] for f in faces)
    right = max(f[0] + f[2] for f in faces)
    bottom = max(f[1] + f[3] for f in faces)
    return left, top, right - left, bottom - top


def _clamp(value: int, upper: int) -> int:
    return max(0, min(value, upper))


# --- encoding --------------------------------------------------------------------------------------------


def _encode(
    image: pyvips.Image,
    fmt: str,
    quality: int | str | None,
    disclosure: str | None,
    flatten: list[int],
    flags: frozenset[str] = frozenset(),
) -> bytes:
    image = image.copy()
    for name in image.get_fields():
        # Drop every source field a saver could write; keep= below is the second line of defence.
        if name in {"exif-data", "xmp-data", "iptc-data", "icc-profile-data"} or name.startswith(
            ("exif-", "png-comment", "gif-comment")
        ):
            image.remove(name)
    keep = "none"
    if disclosure is not None:
        # A fresh packet, not the source's: the source XMP may carry GPS, names or editing history.
        image.set_type(pyvips.GValue.blob_type, "xmp-data", ai_disclosure_xmp(disclosure))
        keep = "xmp"
    if fmt == "jpg":
        if image.hasalpha():
            image = image.flatten(background=flatten)
        # fl_progressive: an interlaced JPEG that shows coarse-to-fine while it loads.
        return image.jpegsave_buffer(
            Q=_quality(quality, "jpg"), optimize_coding=True, interlace="progressive" in flags, keep=keep
        )
    if fmt == "webp":
        return image.webpsave_buffer(Q=_quality(quality, "webp"), effort=4, keep=keep)
    if fmt == "avif":
        return image.heifsave_buffer(Q=_quality(quality, "avif"), compression="av1", effort=4, keep=keep)
    if fmt == "png":
        # fl_png8: an 8-bit palette PNG (much smaller, up to 256 colours); fl_progressive: interlaced.
        return image.pngsave_buffer(
            compression=6, palette="png8" in flags, interlace="progressive" in flags, keep=keep
        )
    raise TransformationError(f"unsupported output format {fmt!r}")


def _quality(quality: int | str | None, fmt: str) -> int:
    if isinstance(quality, int):
        return quality
    level = "good" if quality in (None, "auto") else str(quality).partition(":")[2]
    return _AUTO_QUALITY[level][fmt]


def _rgba(hex_colour: str) -> list[int]:
    values = [int(hex_colour[i : i + 2], 16) for i in range(0, len(hex_colour), 2)]
    return values if len(values) == 4 else [*values, 255]


_MEDIA_RANGE = re.compile(r"^\s*([a-z0-9.+*-]+/[a-z0-9.+*-]+)\s*(?:;(.*))?$", re.IGNORECASE)


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


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


# --- XMP embedding without re-encoding -------------------------------------------------------------------


def _png_with_xmp(data: bytes, packet: bytes) -> bytes:
    out = [data[:8]]
    position = 8
    inserted = False
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        chunk_type = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG")
        body = data[position + 8 : position + 8 + length]
        is_xmp = chunk_type == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00")
        if not is_xmp:
            out.append(data[position:end])
        if chunk_type == b"IHDR" and not inserted:
            # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag, empty translated keyword
            payload = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet
            out.append(_png_chunk(b"iTXt", payload))
            inserted = True
        position = end
        if chunk_type == b"IEND":
            break
    if not inserted:
        raise ValueError("PNG without an IHDR chunk")
    return b"".join(out)


def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", crc)


_XMP_JPEG_NS = b"http://ns.adobe.com/xap/1.0/\x00"


def _jpeg_with_xmp(data: bytes, packet: bytes) -> bytes:
    segment_body = _XMP_JPEG_NS + packet
    if len(segment_body) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one JPEG segment")
    xmp_segment = b"\xff\xe1" + struct.pack(">H", len(segment_body) + 2) + segment_body
    out = [b"\xff\xd8"]
    position = 2
    inserted = False
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xDA or not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break  # metadata segments come first; stop at the first non-APPn/COM one
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        segment = data[position:end]
        is_xmp = marker == 0xE1 and segment[4:].startswith(_XMP_JPEG_NS)
        if marker != 0xE0 and not inserted:
            out.append(xmp_segment)  # after JFIF (APP0), which must stay first
            inserted = True
        if not is_xmp:
            out.append(segment)
        position = end
    if not inserted:
        out.append(xmp_segment)
    out.append(data[position:])
    return b"".join(out)


# --- the rest of the grammar: c_fill_pad, dpr alone, e_, r_, bo_, a_ and fl_ ----------------------------
# Kept apart from the geometry above: a component's "finish" runs after its resize/crop/pad, in
# Cloudinary's order (effect, rounded corners, border, rotation), and may change its output size.

_SUBJECT_EFFECTS = frozenset({"background_removal"})


def _has_finish(t: Transformation) -> bool:
    if t.effect is not None or t.radius is not None or t.border is not None or t.angle is not None:
        return True
    return t.crop in {"fill_pad"} or (t.crop is None and t.dpr is not None)


def _plan_finish(t: Transformation, width: int, height: int, step: _Step | None) -> _Step:
    """``step`` (the component's geometry, None without c_) with its finish: the size it ends at."""
    if step is None:
        # dpr_ alone scales the image entering it; e_/r_/bo_/a_ alone act on it at its size.
        size = _scaled(width, height, t.dpr) if t.dpr is not None else (width, height)
        resize = None if size == (width, height) else size
        step = _Step(mode="none", gravity=None, resize=resize, crop=None, canvas=None, out=size)
    if not _has_finish(t):
        return step
    w, h = step.out
    if t.border is not None:
        w, h = w + 2 * t.border[0], h + 2 * t.border[0]
    if t.angle in (90, 270):
        w, h = h, w
    elif isinstance(t.angle, int) and t.angle != 180:
        w, h = _rotated_box(w, h, t.angle)
    return replace(step, finish=t, shaped=step.out, out=(w, h))


def _plan_fill_pad(t: Transformation, width: int, height: int, tw: int, th: int, common: dict) -> _Step:
    """c_fill_pad: scaled to fill the box (the most it can be), then shrunk only as far as the subject
    needs to fit, the rest padded; the shrink and the cut are decided on pixels, in ``_fill_pad``."""
    scale = max(tw / width, th / height)
    resized = (max(tw, round(width * scale)), max(th, round(height * scale)))
    resize = None if resized == (width, height) else resized
    return _Step(resize=resize, crop=None, canvas=None, out=(tw, th), **common)


def _one_side(tw: int | None, th: int | None, width: int, height: int) -> tuple[int | None, int | None]:
    """A box mode given one side: the other keeps the image's aspect ratio (Cloudinary's rule)."""
    if tw is not None and th is None:
        return tw, max(1, round(tw * height / width))
    if th is not None and tw is None:
        return max(1, round(th * width / height)), th
    return tw, th


def _offset_pixels(value: int | float | None, size: int) -> int | None:
    """x_/y_ in pixels; a fraction (x_0.25) is of the image entering the component."""
    if value is None or isinstance(value, int):
        return value
    return round(value * size)


def _rotated_box(width: int, height: int, degrees: int) -> tuple[int, int]:
    radians = math.radians(degrees)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    return max(1, round(width * cos + height * sin)), max(1, round(width * sin + height * cos))


def _adds_alpha(t: Transformation) -> bool:
    """Components whose result has transparent pixels (so f_auto never picks JPEG for them)."""
    rotated = isinstance(t.angle, int) and t.angle % 90 != 0 and t.background is None
    return t.effect in _SUBJECT_EFFECTS or t.radius is not None or rotated


def _output_flags(chain: Sequence[Transformation]) -> frozenset[str]:
    return frozenset(flag for t in chain for flag in t.flags)


def _finish(image: pyvips.Image, step: _Step) -> pyvips.Image:
    t = step.finish
    if t is None:
        return image
    if step.mode == "fill_pad":
        assert step.shaped is not None
        image = _fill_pad(image, step.shaped, t.background)
    if t.effect is not None:
        image = _apply_effect(image, t.effect)
    if t.radius is not None:
        image = _round_corners(image, t.radius)
    if t.border is not None:
        image = _add_border(image, t.border, t.radius)
    if t.angle is not None:
        image = _rotate(image, t.angle, t.background)
    if (image.width, image.height) != step.out:
        # Rotation by an odd angle can land a pixel off the planned box: the plan is what limits checked.
        image = image.gravity("centre", *step.out, extend="background", background=[0] * image.bands)
    return image


def _split_alpha(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image.extract_band(0, n=image.bands - 1), image.extract_band(image.bands - 1)
    return image, None


def _join_alpha(image: pyvips.Image, alpha: pyvips.Image | None) -> pyvips.Image:
    image = image.cast("uchar").copy(interpretation="srgb")
    return image.bandjoin(alpha) if alpha is not None else image


def _subject_mask(image: pyvips.Image) -> pyvips.Image:
    """The refine tools' subject finder (OpenCV GrabCut, generation/engine/masks.py) as a 0/255 band."""
    from PIL import Image as PILImage  # only the subject effects need these: keep them off the import path

    from generation.engine.masks import find_subject

    rgb, _ = _split_alpha(image)
    mask = find_subject(PILImage.fromarray(rgb.numpy(), "RGB"))
    return pyvips.Image.new_from_memory(mask.tobytes(), mask.width, mask.height, 1, "uchar")


def _subject_box(image: pyvips.Image) -> tuple[int, int, int, int] | None:
    mask = _subject_mask(image)
    if mask.max() == 0:
        return None
    left, top, width, height = mask.find_trim(threshold=127, background=[0])
    return (left, top, width, height) if width and height else None


def _fill_pad(image: pyvips.Image, box: tuple[int, int], background: str | None) -> pyvips.Image:
    """``image`` already covers ``box``; shrink it only as far as its subject needs to fit, cut around the
    subject and pad the rest (Cloudinary: "just enough padding to get a good crop")."""
    tw, th = box
    image = image.copy_memory()  # the subject finder reads it, then the cut does
    subject = _subject_box(image)
    if subject is None:
        # No subject found: a plain content-aware fill.
        return image.smartcrop(min(tw, image.width), min(th, image.height), interesting="attention")
    sx, sy, sw, sh = subject
    scale = min(1.0, tw / sw, th / sh)
    if scale < 1.0:
        image = image.resize(scale)
        sx, sy, sw, sh = (round(v * scale) for v in (sx, sy, sw, sh))
    cw, ch = min(tw, image.width), min(th, image.height)
    left = _clamp(round(sx + sw / 2 - cw / 2), image.width - cw)
    top = _clamp(round(sy + sh / 2 - ch / 2), image.height - ch)
    image = image.extract_area(left, top, cw, ch)
    if (cw, ch) == (tw, th):
        return image
    step = _Step(mode="pad", gravity=None, resize=None, crop=None, canvas=box, out=box, background=background)
    return _pad(image, step)


def _apply_effect(image: pyvips.Image, effect: str) -> pyvips.Image:
    name, _, value = effect.partition(":")
    if name == "background_removal":
        image = image.copy_memory()
        rgb, alpha = _split_alpha(image)
        mask = _subject_mask(image).gaussblur(0.8)  # a soft edge, not a staircase
        if alpha is not None:
            mask = (mask * (alpha / 255.0)).cast("uchar")
        return _join_alpha(rgb, mask)
    rgb, alpha = _split_alpha(image)
    if name == "grayscale":
        return _join_alpha(rgb.colourspace("b-w").colourspace("srgb"), alpha)
    if name == "blur":
        # Cloudinary's strength 1-2000 (default 100) as a Gaussian of strength/50 pixels: 2 to 40.
        return _join_alpha(rgb.gaussblur(int(value) / 50), alpha)
    if name == "sharpen":
        k = int(value) / 100  # default 100: libvips' own defaults
        return _join_alpha(rgb.sharpen(sigma=1.0, m2=3 * k, y2=min(100, 10 * k), y3=min(100, 20 * k)), alpha)
    if name == "improve":
        _, mode, blend = effect.split(":")
        return _join_alpha(_improve(rgb.copy_memory(), mode, int(blend) / 100), alpha)
    raise TransformationError(f"unsupported effect e_{name}")


def _improve(rgb: pyvips.Image, mode: str, blend: float) -> pyvips.Image:
    """Cloudinary's e_improve: automatic levels, contrast and colour. Lightness is stretched so the 1st
    and 99th percentiles span the range; ``indoor`` also neutralises a colour cast (grey world), ``outdoor``
    lifts saturation a little. ``blend`` mixes the result with the original."""
    import numpy as np

    lab = rgb.colourspace("lab")
    sample = lab.thumbnail_image(256).numpy() if max(rgb.width, rgb.height) > 256 else lab.numpy()
    low, high = np.percentile(sample[..., 0], [1, 99])
    stretch = 100.0 / max(high - low, 10.0)
    lightness = ((lab[0] - low) * stretch).copy(interpretation="b-w")
    if mode == "indoor":
        a = lab[1] - float(np.mean(sample[..., 1])) * 0.8
        b = lab[2] - float(np.mean(sample[..., 2])) * 0.8
    else:
        a, b = lab[1] * 1.15, lab[2] * 1.15
    improved = lightness.bandjoin([a, b]).copy(interpretation="lab").colourspace("srgb")
    if blend < 1.0:
        improved = rgb * (1 - blend) + improved * blend
    return improved.cast("uchar").copy(interpretation="srgb")


def _corner_radii(radius: str, width: int, height: int) -> list[float] | None:
    if radius == "max":
        return None  # an ellipse touching every side
    values = [int(v) for v in radius.split(":")] if ":" in radius else [int(radius)] * 4
    limit = min(width, height) / 2
    return [min(float(v), limit) for v in values]


def _rounded_mask(width: int, height: int, radius: str) -> pyvips.Image:
    radii = _corner_radii(radius, width, height)
    if radii is None:
        shape = f'<ellipse cx="{width / 2}" cy="{height / 2}" rx="{width / 2}" ry="{height / 2}"/>'
    else:
        tl, tr, br, bl = radii
        shape = (
            f'<path d="M{tl},0 H{width - tr} A{tr},{tr} 0 0 1 {width},{tr} V{height - br} '
            f"A{br},{br} 0 0 1 {width - br},{height} H{bl} A{bl},{bl} 0 0 1 0,{height - bl} "
            f'V{tl} A{tl},{tl} 0 0 1 {tl},0 Z"/>'
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<g fill="#fff">{shape}</g></svg>'
    )
    return pyvips.Image.svgload_buffer(svg.encode()).extract_band(3)


def _round_corners(image: pyvips.Image, radius: str) -> pyvips.Image:
    rgb, alpha = _split_alpha(image)
    mask = _rounded_mask(image.width, image.height, radius)
    if alpha is not None:
        mask = (mask * (alpha / 255.0)).cast("uchar")
    return _join_alpha(rgb, mask)


def _add_border(image: pyvips.Image, border: tuple[int, str], radius: str | None) -> pyvips.Image:
    """A solid border round the image, following its rounded corners when it has them."""
    size, colour = border
    rgba = _rgba(colour)
    width, height = image.width + 2 * size, image.height + 2 * size
    if radius is None and not image.hasalpha() and rgba[3] == 255:
        return image.embed(size, size, width, height, extend="background", background=rgba[:3])
    if not image.hasalpha():
        image = image.bandjoin(255)
    canvas = (pyvips.Image.black(width, height, bands=4) + rgba).cast("uchar").copy(interpretation="srgb")
    if radius is not None:
        outer = radius if radius == "max" else ":".join(str(int(v) + size) for v in radius.split(":"))
        canvas = _round_corners(canvas, outer)
    framed = canvas.composite2(image, "over", x=size, y=size)
    return framed.cast("uchar").copy(interpretation="srgb")


def _rotate(image: pyvips.Image, angle: int | str, background: str | None) -> pyvips.Image:
    if angle == "hflip":
        return image.fliphor()
    if angle == "vflip":
        return image.flipver()
    if angle in (90, 180, 270):
        return image.rot(f"d{angle}")
    # Any other angle: clockwise, on the smallest canvas that holds it all; the corners are b_ or clear.
    if background is None and not image.hasalpha():
        image = image.bandjoin(255)
    fill = _rgba(background or "ffffff00")
    fill = fill if image.hasalpha() else fill[:3]
    return image.rotate(angle, background=fill).cast("uchar").copy(interpretation="srgb")
