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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import pyvips

from delivery.transformations import CONTENT_GRAVITIES, Transformation, TransformationError

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
) -> RenderedImage:
    """Apply ``chain`` to ``source`` and encode it.

    ``output_format`` is what the request asked for (``DeliveryRequest.requested_format``: a format,
    ``"auto"`` or ``None``) or an already-negotiated concrete format. Quality comes from the chain's
    ``q_``. Output is sRGB with all metadata stripped, except that the AI-disclosure XMP is written when
    ``ai_generated`` is true or the source's own XMP already declares it.
    Raises :class:`RenderLimitError` (a ``TransformationError``) before decoding when a limit is exceeded.
    """
    limits = limits or RenderLimits()
    info = probe(source, limits=limits)
    choice = choose_format(output_format, accept_header, info, chain)
    steps = _plan(chain, info.width, info.height)
    _check_output_limits(steps, info, limits)
    actions = edit_actions(steps, info, choice.format)

    try:
        image, source_xmp = _load(source, steps)
        for index, step in enumerate(steps):
            if index == 0 and step.loaded:
                continue
            image = _apply(image, step)
        quality = next((c.quality for c in chain if c.quality is not None), None)
        # Never lose a disclosure the source already makes, even if the caller did not flag it.
        disclosure = _declared_source_type(source_xmp) or (AI_DIGITAL_SOURCE_TYPE if ai_generated else None)
        data = _encode(image, choice.format, quality, disclosure, _flatten_colour(chain))
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


def _plan(chain: Sequence[Transformation], width: int, height: int) -> list[_Step]:
    steps: list[_Step] = []
    for component in chain:
        if component.crop is None:
            continue  # f_/q_ only: nothing to do to the pixels
        step = _plan_component(component, width, height)
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
    common = {"mode": mode, "gravity": t.gravity, "x": t.x, "y": t.y, "background": t.background}

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

    if mode in {"fill", "lfill", "thumb"}:
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
    return any(t.crop in _PAD_MODES and t.background is not None and len(t.background) == 8 for t in chain)


def _flatten_colour(chain: Sequence[Transformation]) -> list[int]:
    background = next((t.background for t in reversed(chain) if t.background is not None), "ffffff")
    return _rgba(background)[:3]


# --- execution -------------------------------------------------------------------------------------------


def _load(source: bytes, steps: list[_Step]) -> tuple[pyvips.Image, bytes | None]:
    """Decode, using shrink-on-load for the first step when it starts with a resize."""
    header = pyvips.Image.new_from_buffer(source, "", access="sequential")
    source_xmp = header.get("xmp-data") if "xmp-data" in header.get_fields() else None
    first = steps[0] if steps else None
    if first is not None and first.resize is not None and not first.face_thumb:
        rw, rh = first.resize
        if first.crop is not None and first.gravity == "auto":
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


def _apply(image: pyvips.Image, step: _Step) -> pyvips.Image:
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
        image = _crop(image, step)
    if step.canvas is not None:
        image = _pad(image, step)
    return image


def _crop(image: pyvips.Image, step: _Step) -> pyvips.Image:
    assert step.crop is not None
    cw, ch = min(step.crop[0], image.width), min(step.crop[1], image.height)
    if (cw, ch) == (image.width, image.height):
        return image
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
    gravity = gravity or "center"
    dx, dy = (x or 0), (y or 0)
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
    return _clamp(left, outer_w - inner_w), _clamp(top, outer_h - inner_h)


def _face_thumb(image: pyvips.Image, faces: list[tuple[int, int, int, int]], step: _Step) -> pyvips.Image:
    tw, th = step.out
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
    image: pyvips.Image, fmt: str, quality: int | str | None, disclosure: str | None, flatten: list[int]
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
        return image.jpegsave_buffer(Q=_quality(quality, "jpg"), optimize_coding=True, keep=keep)
    if fmt == "webp":
        return image.webpsave_buffer(Q=_quality(quality, "webp"), effort=4, keep=keep)
    if fmt == "avif":
        return image.heifsave_buffer(Q=_quality(quality, "avif"), compression="av1", effort=4, keep=keep)
    if fmt == "png":
        return image.pngsave_buffer(compression=6, keep=keep)
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
