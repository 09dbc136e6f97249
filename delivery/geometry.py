"""What a delivery chain does to an image's size, planned from sizes alone: pure Python, no pixels, no pyvips.

The renderer (delivery/rendering.py) executes these plans; the template tags, the variant builder and the
channel crops ask them for the size a variant will have without decoding anything. One planner, so the
sizes they show cannot drift from the pixels served.

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
- dpr multiplies w/h (pixels and fractions); fractions are of the image entering that component.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from delivery.transformations import PAD_MODES, Transformation, TransformationError

if TYPE_CHECKING:
    from delivery.overlays import Overlay

__all__ = [
    "RenderLimitError",
    "RenderLimits",
    "SourceInfo",
    "Step",
    "anchored",
    "around_focal",
    "chain_adds_alpha",
    "check_output_limits",
    "clamp",
    "edit_actions",
    "focal_through",
    "place",
    "plan",
    "planned_size",
    "planned_upscale",
]

# Effects that cut the subject out, leaving transparent pixels around it.
_SUBJECT_EFFECTS = frozenset({"background_removal"})


class RenderLimitError(TransformationError):
    """The request or the source is over a configured size limit (a 4xx, with the reason)."""


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
class Step:
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


# --- planning --------------------------------------------------------------------------------------------


def plan(chain: Sequence[Transformation], width: int, height: int) -> list[Step]:
    """The steps ``chain`` takes on a ``width`` x ``height`` source; components that leave the pixels alone
    (``f_``/``q_`` only) have none."""
    steps: list[Step] = []
    for component in chain:
        if component.overlay is not None:
            size = (width, height)
            layer = Step("layer", gravity=None, resize=None, crop=None, canvas=None, out=size)
            steps.append(replace(layer, overlay=component.overlay))
            continue
        if component.crop is None and not _has_finish(component):
            continue  # f_/q_ only: nothing to do to the pixels
        geometry = _plan_component(component, width, height) if component.crop is not None else None
        step = _plan_finish(component, width, height, geometry)
        steps.append(step)
        width, height = step.out
    return steps


def planned_size(chain: Sequence[Transformation], width: int, height: int) -> tuple[int, int]:
    """The output size ``render`` will produce for a source of this size, computed without any pixels."""
    steps = plan(chain, width, height)
    return steps[-1].out if steps else (width, height)


def planned_upscale(chain: Sequence[Transformation], width: int, height: int) -> float:
    """How many times ``render`` enlarges the source's pixels (the larger axis; 1.0 when it never enlarges),
    computed without any pixels. Padding onto a larger canvas adds pixels but does not enlarge any."""
    scale_x = scale_y = 1.0
    for step in plan(chain, width, height):
        if step.resize is not None:
            scale_x *= step.resize[0] / width
            scale_y *= step.resize[1] / height
        width, height = step.out
    return max(1.0, scale_x, scale_y)


def check_output_limits(steps: Sequence[Step], source_size: tuple[int, int], limits: RenderLimits) -> None:
    """Raise :class:`RenderLimitError` when any size the plan for a source of ``source_size`` passes through
    is over ``limits``."""
    sizes = [source_size] if not steps else []
    for step in steps:
        sizes.extend(size for size in (step.resize, step.canvas, step.out) if size is not None)
    for w, h in sizes:
        if w > limits.max_width or h > limits.max_height or w * h > limits.max_pixels:
            raise RenderLimitError(
                f"the result would be {w}x{h} pixels; the limits are {limits.max_width} wide, "
                f"{limits.max_height} high and {limits.max_pixels} pixels in all"
            )


def chain_adds_alpha(chain: Sequence[Transformation]) -> bool:
    """Whether the chain leaves transparent pixels on an opaque source (so f_auto never picks JPEG for it):
    rounded corners, a cut-out subject, an odd angle without ``b_``, or padding with a translucent ``b_``."""
    for t in chain:
        rotated = isinstance(t.angle, int) and t.angle % 90 != 0 and t.background is None
        if t.effect in _SUBJECT_EFFECTS or t.radius is not None or rotated:
            return True
        if t.crop in PAD_MODES and t.background is not None and len(t.background) == 8:
            return True
    return False


def edit_actions(
    steps: Sequence[Step], source: SourceInfo, output_format: str
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


def _plan_component(t: Transformation, width: int, height: int) -> Step:
    mode = t.crop or "scale"
    dpr = t.dpr or 1.0
    tw = _target(t.width, width, dpr)
    th = _target(t.height, height, dpr)
    if t.aspect_ratio is not None:
        tw, th = _apply_aspect(t.aspect_ratio, tw, th, width, height, pad=mode in PAD_MODES)
    if mode not in {"scale", "fit", "limit", "mfit", "crop"}:
        tw, th = _one_side(tw, th, width, height)
    x, y = _offset_pixels(t.x, width), _offset_pixels(t.y, height)
    common: dict[str, Any] = {"mode": mode, "gravity": t.gravity, "x": x, "y": y, "background": t.background}

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
        return Step(resize=resize, crop=None, canvas=None, out=size, **common)

    if mode == "fill_pad":
        assert tw is not None and th is not None
        return _plan_fill_pad(width, height, tw, th, common)

    if mode in {"fill", "lfill", "thumb", "auto"}:  # c_auto: a fill whose gravity defaults to g_auto
        assert tw is not None and th is not None  # the parser guarantees a full box
        if mode == "lfill":
            tw, th = min(tw, width), min(th, height)
        scale = max(tw / width, th / height)
        resized = (max(tw, round(width * scale)), max(th, round(height * scale)))
        face_thumb = mode == "thumb" and t.gravity in {"face", "faces"}
        resize = None if resized == (width, height) else resized
        return Step(resize=resize, crop=(tw, th), canvas=None, out=(tw, th), face_thumb=face_thumb, **common)

    if mode in PAD_MODES:
        assert tw is not None and th is not None
        if mode == "mpad":
            if width > tw or height > th:
                return Step(resize=None, crop=None, canvas=None, out=(width, height), **common)
            return Step(resize=None, crop=None, canvas=(tw, th), out=(tw, th), **common)
        scale = min(tw / width, th / height)
        if mode == "lpad":
            scale = min(scale, 1.0)
        resized = _scaled(width, height, scale)
        resized = (min(resized[0], tw), min(resized[1], th))
        resize = None if resized == (width, height) else resized
        return Step(resize=resize, crop=None, canvas=(tw, th), out=(tw, th), **common)

    if mode == "crop":
        box = (min(tw or width, width), min(th or height, height))
        return Step(resize=None, crop=box, canvas=None, out=box, **common)
    raise TransformationError(f"unsupported crop mode {mode!r}")


# The rest of the grammar: c_fill_pad, dpr alone, e_, r_, bo_ and a_. A component's "finish" runs after its
# resize/crop/pad, in Cloudinary's order (effect, rounded corners, border, rotation), and may change its size.


def _has_finish(t: Transformation) -> bool:
    if t.effect is not None or t.radius is not None or t.border is not None or t.angle is not None:
        return True
    return t.crop == "fill_pad" or (t.crop is None and t.dpr is not None)


def _plan_finish(t: Transformation, width: int, height: int, step: Step | None) -> Step:
    """``step`` (the component's geometry, None without c_) with its finish: the size it ends at."""
    if step is None:
        # dpr_ alone scales the image entering it; e_/r_/bo_/a_ alone act on it at its size.
        size = _scaled(width, height, t.dpr) if t.dpr is not None else (width, height)
        resize = None if size == (width, height) else size
        step = Step(mode="none", gravity=None, resize=resize, crop=None, canvas=None, out=size)
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


def _plan_fill_pad(width: int, height: int, tw: int, th: int, common: dict[str, Any]) -> Step:
    """c_fill_pad: scaled to fill the box (the most it can be), then shrunk only as far as the subject
    needs to fit, the rest padded; the shrink and the cut are decided on pixels, when it is rendered."""
    scale = max(tw / width, th / height)
    resized = (max(tw, round(width * scale)), max(th, round(height * scale)))
    resize = None if resized == (width, height) else resized
    return Step(resize=resize, crop=None, canvas=None, out=(tw, th), **common)


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


# --- placement -------------------------------------------------------------------------------------------


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


def place(
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
    """Top-left of an inner box inside an outer one for a compass gravity, x/y moving inward, kept inside."""
    if gravity is None and offsets and (x is not None or y is not None):
        gravity = "north_west"  # Cloudinary: plain x/y on a crop are the region's top-left corner
    left, top = anchored(outer_w, outer_h, inner_w, inner_h, gravity, x or 0, y or 0)
    return clamp(left, outer_w - inner_w), clamp(top, outer_h - inner_h)


def around_focal(width: int, height: int, cw: int, ch: int, focal: tuple[float, float]) -> tuple[int, int]:
    """Top-left of a cw x ch box centred on the focal point, moved inside the image if it would leave it."""
    left = clamp(round(focal[0] * width - cw / 2), width - cw)
    top = clamp(round(focal[1] * height - ch / 2), height - ch)
    return left, top


def focal_through(
    step: Step, focal: tuple[float, float] | None, *, size: tuple[int, int]
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
            left, top = around_focal(width, height, cw, ch, focal)
        else:
            left, top = place(width, height, cw, ch, step.gravity, step.x, step.y, offsets=True)
        fx, fy, width, height = fx - left, fy - top, cw, ch
    if step.canvas is not None and step.canvas != (width, height):
        pw, ph = step.canvas
        left, top = place(pw, ph, width, height, step.gravity, None, None, offsets=False)
        fx, fy, width, height = fx + left, fy + top, pw, ph
    return min(1.0, max(0.0, fx / width)), min(1.0, max(0.0, fy / height))


def clamp(value: int, upper: int) -> int:
    return max(0, min(value, upper))
