"""Render a delivery variant with libvips: execute the geometry's plan (delivery/geometry.py) on pixels,
apply the finishing effects (delivery/effects.py) and encode, with the metadata policy and resource limits.
No Django.

Flow for the serve view::

    info = probe(source, limits=limits)                      # header only; enforces the source limit
    choice = choose_format(request.requested_format, accept, info, request.components)  # negotiation.py
    ... cache lookup by (asset, hash, request.canonical_transformation, choice.format) ...
    image = render(source, request.components, output_format=choice.format, limits=limits,
                   ai_generated=asset_is_generated)

Speed: the first component that changes size is done by ``thumbnail_buffer`` (shrink-on-load: a JPEG
is decoded at 1/2, 1/4 or 1/8 scale when the target allows), and ``g_auto`` fill is one
``thumbnail_buffer(..., crop="attention")`` call, i.e. the bare pyvips call itself. Every size is
planned from the header before any pixel is decoded, so limits are enforced up front.

Content-aware gravity: g_auto is libvips' attention-based smartcrop; g_face/g_faces use OpenCV's bundled
frontal-face Haar cascade, and with no face found the crop falls back to center gravity. Animated or
multi-page sources render their first frame; the source limit counts every frame.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pyvips

from delivery.effects import add_border, apply_effect, rgba, rotate, round_corners, subject_box
from delivery.geometry import (
    RenderLimitError,
    RenderLimits,
    SourceInfo,
    Step,
    around_focal,
    check_output_limits,
    clamp,
    edit_actions,
    focal_through,
    place,
    plan,
)
from delivery.negotiation import CONTENT_TYPES, choose_format
from delivery.transformations import CONTENT_GRAVITIES, Transformation, TransformationError
from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA, declared_source_type, disclosure_xmp

__all__ = ["RenderedImage", "SourceImageError", "probe", "render", "to_srgb"]

# The operation cache keeps recent images (and the source buffers they reference) alive; in a server
# that renders each variant once and caches the bytes elsewhere it only costs memory.
pyvips.cache_set_max(0)

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


class SourceImageError(ValueError):
    """The stored source cannot be decoded: the server's problem, not the URL's."""


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


# --- public API -------------------------------------------------------------------------------------------


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
    steps = plan(chain, info.width, info.height)
    check_output_limits(steps, (info.width, info.height), limits)
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
            focal = focal_through(step, focal, size=entering)
        quality = next((c.quality for c in chain if c.quality is not None), None)
        # Never lose a disclosure the source already makes, even if the caller did not flag it.
        disclosure = declared_source_type(source_xmp) or (TRAINED_ALGORITHMIC_MEDIA if ai_generated else None)
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


# --- execution -------------------------------------------------------------------------------------------


def _load(
    source: bytes, steps: list[Step], *, focal: tuple[float, float] | None = None
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
                return to_srgb(image), source_xmp
        image = pyvips.Image.thumbnail_buffer(source, rw, height=rh, size="force")
        steps[0] = replace(first, resize=None)  # done by the loader; any crop or canvas still runs
        return to_srgb(image), source_xmp
    # Content-aware steps read the image more than once (analyse, then cut), which a sequential
    # decode cannot do; everything else streams top to bottom in little memory.
    content_aware = any(step.face_thumb or step.gravity in CONTENT_GRAVITIES for step in steps)
    image = pyvips.Image.new_from_buffer(source, "", access="random" if content_aware else "sequential")
    return to_srgb(image.autorot()), source_xmp


def to_srgb(image: pyvips.Image) -> pyvips.Image:
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


def _apply(image: pyvips.Image, step: Step, *, focal: tuple[float, float] | None = None) -> pyvips.Image:
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


def _crop(image: pyvips.Image, step: Step, *, focal: tuple[float, float] | None = None) -> pyvips.Image:
    assert step.crop is not None
    cw, ch = min(step.crop[0], image.width), min(step.crop[1], image.height)
    if (cw, ch) == (image.width, image.height):
        return image
    if step.gravity == "auto" and focal is not None:
        left, top = around_focal(image.width, image.height, cw, ch, focal)
        return image.extract_area(left, top, cw, ch)
    if step.gravity == "auto":
        return image.copy_memory().smartcrop(cw, ch, interesting="attention")
    if step.gravity in {"face", "faces"}:
        image = image.copy_memory()
        faces = _detect_faces(image)
        if faces:
            fx, fy, fw, fh = _union(faces if step.gravity == "faces" else [_largest(faces)])
            left = clamp(round(fx + fw / 2 - cw / 2), image.width - cw)
            top = clamp(round(fy + fh / 2 - ch / 2), image.height - ch)
            return image.extract_area(left, top, cw, ch)
        # Cloudinary: no face found -> the default (center) gravity.
    left, top = place(image.width, image.height, cw, ch, step.gravity, step.x, step.y, offsets=True)
    return image.extract_area(left, top, cw, ch)


def _pad(image: pyvips.Image, step: Step) -> pyvips.Image:
    assert step.canvas is not None
    pw, ph = step.canvas
    if (pw, ph) == (image.width, image.height):
        return image
    colour = rgba(step.background or "ffffff")
    if colour[3] < 255 and not image.hasalpha():
        image = image.bandjoin(255)
    background = colour if image.hasalpha() else colour[:3]
    left, top = place(pw, ph, image.width, image.height, step.gravity, None, None, offsets=False)
    return image.embed(left, top, pw, ph, extend="background", background=background)


def _face_thumb(image: pyvips.Image, faces: list[tuple[int, int, int, int]], step: Step) -> pyvips.Image:
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
    left = clamp(round(fx + fw / 2 - cw / 2), image.width - cw)
    top = clamp(round(fy + fh / 2 - ch / 2), image.height - ch)
    region = image.extract_area(left, top, cw, ch)
    return region.thumbnail_image(tw, height=th, size="force")


_cascades = threading.local()


def _detect_faces(image: pyvips.Image) -> list[tuple[int, int, int, int]]:
    """Frontal faces as (left, top, width, height) in ``image``'s pixels, largest first."""
    import cv2  # only face gravity needs OpenCV: keep it off the import path

    cascade = getattr(_cascades, "frontal", None)
    if cascade is None:
        # CascadeClassifier is not documented as thread-safe: one per thread.
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]  # missing from OpenCV's stubs
        cascade = cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml")
        _cascades.frontal = cascade
    scale = min(1.0, 640 / max(image.width, image.height))
    small = image.resize(scale) if scale < 1.0 else image
    if small.hasalpha():
        small = small.flatten(background=[255, 255, 255])
    grey = small.colourspace("b-w")[0].numpy()
    found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
    faces = [(round(x / scale), round(y / scale), round(w / scale), round(h / scale)) for x, y, w, h in found]
    return sorted(faces, key=lambda f: f[2] * f[3], reverse=True)


def _largest(faces: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return max(faces, key=lambda f: f[2] * f[3])


def _union(faces: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    left = min(f[0] for f in faces)
    top = min(f[1] for f in faces)
    right = max(f[0] + f[2] for f in faces)
    bottom = max(f[1] + f[3] for f in faces)
    return left, top, right - left, bottom - top


def _output_flags(chain: Sequence[Transformation]) -> frozenset[str]:
    return frozenset(flag for t in chain for flag in t.flags)


def _finish(image: pyvips.Image, step: Step) -> pyvips.Image:
    t = step.finish
    if t is None:
        return image
    if step.mode == "fill_pad":
        assert step.shaped is not None
        image = _fill_pad(image, step.shaped, t.background)
    if t.effect is not None:
        image = apply_effect(image, t.effect)
    if t.radius is not None:
        image = round_corners(image, t.radius)
    if t.border is not None:
        image = add_border(image, t.border, t.radius)
    if t.angle is not None:
        image = rotate(image, t.angle, t.background)
    if (image.width, image.height) != step.out:
        # Rotation by an odd angle can land a pixel off the planned box: the plan is what limits checked.
        image = image.gravity("centre", *step.out, extend="background", background=[0] * image.bands)
    return image


def _fill_pad(image: pyvips.Image, box: tuple[int, int], background: str | None) -> pyvips.Image:
    """``image`` already covers ``box``; shrink it only as far as its subject needs to fit, cut around the
    subject and pad the rest (Cloudinary: "just enough padding to get a good crop")."""
    tw, th = box
    image = image.copy_memory()  # the subject finder reads it, then the cut does
    subject = subject_box(image)
    if subject is None:
        # No subject found: a plain content-aware fill.
        return image.smartcrop(min(tw, image.width), min(th, image.height), interesting="attention")
    sx, sy, sw, sh = subject
    scale = min(1.0, tw / sw, th / sh)
    if scale < 1.0:
        image = image.resize(scale)
        sx, sy, sw, sh = (round(v * scale) for v in (sx, sy, sw, sh))
    cw, ch = min(tw, image.width), min(th, image.height)
    left = clamp(round(sx + sw / 2 - cw / 2), image.width - cw)
    top = clamp(round(sy + sh / 2 - ch / 2), image.height - ch)
    image = image.extract_area(left, top, cw, ch)
    if (cw, ch) == (tw, th):
        return image
    step = Step(mode="pad", gravity=None, resize=None, crop=None, canvas=box, out=box, background=background)
    return _pad(image, step)


def _flatten_colour(chain: Sequence[Transformation]) -> list[int]:
    background = next((t.background for t in reversed(chain) if t.background is not None), "ffffff")
    return rgba(background)[:3]


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
        image.set_type(pyvips.GValue.blob_type, "xmp-data", disclosure_xmp(disclosure))
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


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
