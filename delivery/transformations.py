"""The delivery URL grammar: parse, validate and canonicalise, with Cloudinary's semantics.

Pure Python, no Django: the serve view, the ``delivery_url`` command and the admin all call into this.

Path grammar (everything after ``/image/upload/``)::

    [s--SIGNATURE--/[e--EXPIRY--/]]<transformation>[/<transformation>...][/v<digits>]/<public_id>[.<ext>]

Expiring URLs. A signed URL may carry ``e--<unix seconds>--`` right after its signature, which covers it:
the URL stops working at that moment, and cannot be extended without a new signature. The variant it shows
is the same one the URL without an expiry shows.

Public ids follow review's one rule (review/public_ids.py: segments of ``[A-Za-z0-9_-]`` joined by ``/``,
at most 120 characters in all). Folders are only recognised after a version component, exactly as
Cloudinary's SDKs force ``v1`` into URLs whose public id has a folder: without ``v<digits>`` every segment
but the last is a transformation, so ``a/b.jpg`` is rejected as an unknown transformation instead of
silently becoming a folder.

Every problem raises :class:`TransformationError` with a one-line, plain-English reason for a 400 body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from review.public_ids import PublicIdError, check_public_id

if TYPE_CHECKING:
    from delivery.overlays import Overlay

__all__ = [
    "CROP_MODES",
    "FORMATS",
    "GRAVITIES",
    "PAD_MODES",
    "DeliveryRequest",
    "Transformation",
    "TransformationError",
    "canonical_transformation",
    "check_preset_name",
    "check_size_limits",
    "parse_delivery_path",
    "parse_transformation",
    "parse_written_transformation",
]


class TransformationError(ValueError):
    """A delivery path that cannot be served as asked: the message is the reason, fit for a 400 body."""


CROP_MODES = frozenset(
    {
        "scale", "fit", "limit", "mfit", "fill", "lfill", "pad", "lpad", "mpad", "crop", "thumb",
        "fill_pad", "auto",
    }
)  # fmt: skip
COMPASS = frozenset(
    {"center", "north", "south", "east", "west", "north_east", "north_west", "south_east", "south_west"}
)
CONTENT_GRAVITIES = frozenset({"auto", "face", "faces"})
GRAVITIES = COMPASS | CONTENT_GRAVITIES
FORMATS = frozenset({"auto", "jpg", "png", "webp", "avif"})
# Extensions a URL may end with, mapped to the output format they pick.
EXTENSIONS = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
QUALITY_AUTO_LEVELS = frozenset({"best", "good", "eco", "low"})

# Modes that fill or pad a target box: given one side alone, the other follows the image's aspect ratio.
_BOX_MODES = frozenset({"fill", "lfill", "pad", "lpad", "mpad", "thumb", "fill_pad", "auto"})
# Content-aware gravity picks what to keep, so it only applies where something is cut away.
_CONTENT_GRAVITY_MODES = frozenset({"fill", "lfill", "crop", "thumb", "fill_pad", "auto"})
_OFFSET_MODES = frozenset({"crop", "thumb"})
PAD_MODES = frozenset({"pad", "lpad", "mpad"})

# Hard grammar bounds, well above any sane request; the renderer's configurable limits are stricter.
MAX_PATH_LENGTH = 2048
MAX_COMPONENTS = 16
MAX_PARAMS_PER_COMPONENT = 16
MAX_PIXELS_PARAM = 20_000
MAX_DPR = 4.0
MIN_ASPECT, MAX_ASPECT = Fraction(1, 100), Fraction(100)

NAMED_COLOURS = {
    "black": "000000",
    "white": "ffffff",
    "red": "ff0000",
    "green": "008000",
    "lime": "00ff00",
    "blue": "0000ff",
    "yellow": "ffff00",
    "cyan": "00ffff",
    "aqua": "00ffff",
    "magenta": "ff00ff",
    "fuchsia": "ff00ff",
    "gray": "808080",
    "grey": "808080",
    "silver": "c0c0c0",
    "maroon": "800000",
    "olive": "808000",
    "navy": "000080",
    "purple": "800080",
    "teal": "008080",
    "orange": "ffa500",
    "pink": "ffc0cb",
    "brown": "a52a2a",
    "transparent": "00000000",
}

_PARAM_KEYS = ("c", "g", "w", "h", "ar", "dpr", "x", "y", "b", "f", "q", "t", "a", "bo", "e", "fl", "r")
# ASCII-only patterns: str.isdigit() and \d accept other scripts' digits, which must not reach int().
_INT = re.compile(r"[0-9]{1,9}\Z")
_DECIMAL = re.compile(r"[0-9]{1,9}\.[0-9]{1,9}\Z")
_RATIO = re.compile(r"([0-9]{1,9}):([0-9]{1,9})\Z")
_HEX = re.compile(r"[0-9a-f]+\Z")
_VERSION = re.compile(r"v([0-9]{1,20})\Z")
_SIGNATURE = re.compile(r"s--([A-Za-z0-9_-]{8,64})--\Z")
_EXPIRY = re.compile(r"e--([0-9]{1,12})--\Z")
_PRESET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


@dataclass(frozen=True)
class Transformation:
    """One ``/``-separated component, normalised.

    ``width``/``height`` are ``int`` pixels or ``float`` fractions of the input (``w_0.5``); the two are
    kept apart by type so ``w_1`` (one pixel) and ``w_1.0`` (100%) never collide. ``aspect_ratio`` is an
    exact reduced fraction so ``ar_1.5`` and ``ar_3:2`` are one thing. ``background`` is ``rrggbb`` or
    ``rrggbbaa`` lowercase hex. ``quality`` is an int 1-100 or ``"auto"`` / ``"auto:best"`` etc. (``auto``
    means ``auto:good``, as it does in Cloudinary).
    """

    crop: str | None = None
    gravity: str | None = None
    width: int | float | None = None
    height: int | float | None = None
    aspect_ratio: Fraction | None = None
    dpr: float | None = None
    x: int | float | None = None
    y: int | float | None = None
    background: str | None = None
    format: str | None = None
    quality: int | str | None = None
    # The rest of the grammar (see "Effects, flags, corners, borders and angles" below): ``effect`` is
    # ``name`` or ``name:value`` (``blur:300``), ``radius`` ``max`` or 1-4 ``:``-joined pixel values,
    # ``border`` (pixels, rrggbb[aa]), ``angle`` degrees 1-359 or ``hflip``/``vflip``, ``flags`` sorted.
    effect: str | None = None
    radius: str | None = None
    border: tuple[int, str] | None = None
    angle: int | str | None = None
    flags: tuple[str, ...] = ()
    # A layer (l_...), with its fl_layer_apply component: a component of its own (delivery/overlays.py).
    overlay: Overlay | None = None

    def canonical(self, *, include_delivery: bool = True) -> str:
        """Parameters sorted by key, numbers normalised: equal strings mean equal results."""
        if self.overlay is not None:
            return self.overlay.canonical()
        parts: dict[str, str] = _extra_parts(self)
        if self.aspect_ratio is not None:
            parts["ar"] = f"{self.aspect_ratio.numerator}:{self.aspect_ratio.denominator}"
        if self.background is not None:
            parts["b"] = f"rgb:{self.background}"
        if self.crop is not None:
            parts["c"] = self.crop
        if self.dpr is not None:
            parts["dpr"] = _format_number(self.dpr)
        if self.gravity is not None:
            parts["g"] = self.gravity
        if self.height is not None:
            parts["h"] = _format_number(self.height)
        if self.width is not None:
            parts["w"] = _format_number(self.width)
        if self.x is not None:
            parts["x"] = _format_number(self.x)
        if self.y is not None:
            parts["y"] = _format_number(self.y)
        if include_delivery:
            if self.format is not None:
                parts["f"] = self.format
            if self.quality is not None:
                parts["q"] = str(self.quality)
        return ",".join(f"{key}_{parts[key]}" for key in sorted(parts))


@dataclass(frozen=True)
class PresetReference:
    """A ``t_<name>`` component as written in the URL (kept so signed URLs survive preset edits)."""

    name: str

    def canonical(self) -> str:
        return f"t_{self.name}"


@dataclass(frozen=True)
class DeliveryRequest:
    """A parsed delivery path.

    ``components`` is the chain to render, presets expanded. ``written_components`` is the chain as the
    URL wrote it (``t_<name>`` kept), canonicalised per component. ``signed_path`` is the literal rest of
    the path after ``s--SIG--/``: that is what a signature covers, the expiry (``e--<unix seconds>--``,
    in ``expires``) included.
    """

    signature: str | None
    components: tuple[Transformation, ...]
    public_id: str
    extension: str | None
    version: int | None
    signed_path: str
    written_components: tuple[Transformation | PresetReference, ...] = field(default=())
    expires: int | None = None

    @property
    def presets_used(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.written_components if isinstance(c, PresetReference))

    @property
    def uses_only_presets(self) -> bool:
        """True when every written component is a named preset (strict mode serves these unsigned).

        Also true with no transformation at all (the original, still bound by the renderer's limits).
        """
        return all(isinstance(c, PresetReference) for c in self.written_components)

    @property
    def uses_one_preset_at_most(self) -> bool:
        """True for one named preset, or no transformation at all: what strict mode serves unsigned.

        A chain (``t_a/t_b``, ``t_a/w_100``) is a new stored variant per combination, so it needs a signature.
        """
        return len(self.written_components) <= 1 and self.uses_only_presets

    @property
    def requested_format(self) -> str | None:
        """``f_`` wins over the extension; ``None`` means keep the asset's own format."""
        formats = {c.format for c in self.components if c.format is not None}
        if formats:
            return formats.pop()  # _check_delivery_params guarantees at most one
        return EXTENSIONS[self.extension] if self.extension else None

    @property
    def quality(self) -> int | str | None:
        qualities = {c.quality for c in self.components if c.quality is not None}
        return qualities.pop() if qualities else None

    @property
    def canonical_transformation(self) -> str:
        """The cache-key form: presets expanded, per-component canonical, ``f_``/``q_`` moved to the end.

        ``f_``/``q_`` act on delivery, not on the component they are written in, so ``c_fill,w_9,f_webp``
        and ``c_fill,w_9/f_webp`` must share this key. The extension is not part of it: the cache keys
        on the resolved output format separately.
        """
        return _canonical_chain(self.components)

    @property
    def canonical_path(self) -> str:
        """The path in canonical form (presets not expanded), without a signature: sign this one."""
        parts = [c.canonical() for c in self.written_components]
        if self.version is not None:
            parts.append(f"v{self.version}")
        parts.append(self.public_id + (f".{self.extension}" if self.extension else ""))
        return "/".join(parts)


def parse_delivery_path(path: str, *, presets: Mapping[str, str] | None = None) -> DeliveryRequest:
    """Parse everything after ``/image/upload/``. ``presets`` maps a name to a transformation string."""
    if not isinstance(path, str):
        raise TransformationError("the path must be text")
    if len(path) > MAX_PATH_LENGTH:
        raise TransformationError(f"the path is longer than {MAX_PATH_LENGTH} characters")
    path = path.strip("/")
    if not path:
        raise TransformationError("the path names no image")
    segments = path.split("/")
    if any(not segment for segment in segments):
        raise TransformationError("the path has an empty segment ('//')")

    signature: str | None = None
    if segments[0].startswith("s--"):
        match = _SIGNATURE.match(segments[0])
        if match is None:
            raise TransformationError("the signature must look like s--XXXXXXXX-- (8-64 URL-safe characters)")
        signature = match.group(1)
        segments = segments[1:]
        if not segments:
            raise TransformationError("the path names no image")
    signed_path = "/".join(segments)

    expires: int | None = None
    if segments[0].startswith("e--"):
        match = _EXPIRY.match(segments[0])
        if match is None:
            raise TransformationError("the expiry must look like e--<unix seconds>--")
        if signature is None:
            raise TransformationError("an expiry (e--<unix seconds>--) only works in a signed URL")
        expires = int(match.group(1))
        segments = segments[1:]
        if not segments:
            raise TransformationError("the path names no image")

    version: int | None = None
    version_index = next(
        (i for i, segment in enumerate(segments[:-1]) if _VERSION.match(segment)),
        None,
    )
    if version_index is not None:
        version = int(segments[version_index][1:])
        transformation_segments = segments[:version_index]
        id_segments = segments[version_index + 1 :]
    else:
        transformation_segments = segments[:-1]
        id_segments = segments[-1:]
    public_id, extension = _parse_public_id(id_segments)

    if len(transformation_segments) > MAX_COMPONENTS:
        raise TransformationError(f"at most {MAX_COMPONENTS} transformation components are allowed")
    written = _parse_components(transformation_segments, allow_preset=True)
    components = _expand(written, presets or {})
    _check_delivery_params(components)
    if len(_canonical_chain(components)) > MAX_PATH_LENGTH:
        # The canonical form keys the stored variant (Variant.transformation holds this many characters).
        raise TransformationError(f"the transformation is longer than {MAX_PATH_LENGTH} characters expanded")
    return DeliveryRequest(
        signature=signature,
        components=components,
        public_id=public_id,
        extension=extension,
        version=version,
        signed_path=signed_path,
        written_components=written,
        expires=expires,
    )


def parse_transformation(
    text: str, *, presets: Mapping[str, str] | None = None
) -> tuple[Transformation, ...]:
    """Parse a bare transformation string (``c_fill,w_100/f_auto``), expanding presets.

    For validating preset definitions and allow-list entries in forms and settings.
    """
    written = _parse_written(text, allow_preset=presets is not None)
    components = _expand(written, presets or {})
    _check_delivery_params(components)
    return components


def parse_written_transformation(text: str) -> tuple[Transformation | PresetReference, ...]:
    """Parse a transformation string keeping ``t_<name>`` unexpanded, as written.

    For checking allow-list entries at start-up, before any preset can be read from the database: each
    reference's name is checked here, its definition when the preset is saved.
    """
    written = _parse_written(text, allow_preset=True)
    _check_delivery_params(tuple(c for c in written if isinstance(c, Transformation)))
    return written


def check_preset_name(name: str) -> None:
    """Raise :class:`TransformationError` unless ``t_<name>`` would parse."""
    if not isinstance(name, str) or not _PRESET_NAME.match(name):
        raise TransformationError(
            f"invalid preset name {_quote(str(name))}: use 1-64 letters, digits, '_' and '-'"
        )


def check_size_limits(
    components: tuple[Transformation | PresetReference, ...],
    *,
    max_width: int,
    max_height: int,
    max_pixels: int,
) -> None:
    """Raise :class:`TransformationError` when a component asks for more pixels than the limits allow.

    Only sizes written in pixels can be checked without a source image (``dpr_`` multiplies them, ``ar_``
    completes a missing side); fractions such as ``w_0.5`` are left to the renderer, which checks every
    result against the same limits before it decodes anything.
    """
    for component in components:
        if not isinstance(component, Transformation):
            continue
        width, height = _pixel_box(component)
        if width is not None and width > max_width:
            raise TransformationError(
                f"{component.canonical()} is {width} pixels wide, over the limit of {max_width}"
            )
        if height is not None and height > max_height:
            raise TransformationError(
                f"{component.canonical()} is {height} pixels high, over the limit of {max_height}"
            )
        if width is not None and height is not None and width * height > max_pixels:
            raise TransformationError(
                f"{component.canonical()} is {width}x{height} pixels, over the limit of {max_pixels} in all"
            )


def canonical_transformation(text: str, *, presets: Mapping[str, str] | None = None) -> str:
    """The canonical cache-key form of a transformation string; compare allow-list entries with this."""
    return _canonical_chain(parse_transformation(text, presets=presets))


# --- internals -------------------------------------------------------------------------------------------


def _parse_written(text: str, *, allow_preset: bool) -> tuple[Transformation | PresetReference, ...]:
    if not isinstance(text, str) or not text.strip("/"):
        raise TransformationError("the transformation is empty")
    if len(text) > MAX_PATH_LENGTH:
        raise TransformationError(f"the transformation is longer than {MAX_PATH_LENGTH} characters")
    segments = text.strip("/").split("/")
    if any(not segment for segment in segments):
        raise TransformationError("the transformation has an empty component ('//')")
    if len(segments) > MAX_COMPONENTS:
        raise TransformationError(f"at most {MAX_COMPONENTS} transformation components are allowed")
    return _parse_components(segments, allow_preset=allow_preset)


def _parse_components(
    segments: list[str], *, allow_preset: bool
) -> tuple[Transformation | PresetReference, ...]:
    """Each component parsed; a layer (``l_...`` and the ``fl_layer_apply`` after it) becomes one."""
    # overlays.py builds on this module's helpers, so it is imported here rather than at the top.
    from delivery.overlays import is_layer_apply, is_layer_component, parse_layer

    components: list[Transformation | PresetReference] = []
    index = 0
    while index < len(segments):
        segment = segments[index]
        if is_layer_component(segment):
            following = segments[index + 1] if index + 1 < len(segments) else None
            apply = following if following is not None and is_layer_apply(following) else None
            components.append(Transformation(overlay=parse_layer(segment, apply)))
            index += 2 if apply is not None else 1
            continue
        if is_layer_apply(segment):
            raise TransformationError("fl_layer_apply closes a layer: it must come right after its l_ one")
        components.append(_parse_component(segment, allow_preset=allow_preset))
        index += 1
    return tuple(components)


def _pixel_box(component: Transformation) -> tuple[int | None, int | None]:
    """The width and height a component names in pixels (``dpr_`` applied), ``None`` where it is relative."""
    width = component.width if isinstance(component.width, int) else None
    height = component.height if isinstance(component.height, int) else None
    ratio = component.aspect_ratio
    if ratio is not None and component.width is None and height is not None:
        width = round(height * ratio)
    elif ratio is not None and component.height is None and width is not None:
        height = round(width / ratio)
    dpr = component.dpr or 1.0
    return (
        round(width * dpr) if width is not None else None,
        round(height * dpr) if height is not None else None,
    )


def _canonical_chain(components: tuple[Transformation, ...]) -> str:
    parts = [c.canonical(include_delivery=False) for c in components]
    parts = [p for p in parts if p]
    delivery = Transformation(
        format=next((c.format for c in components if c.format is not None), None),
        quality=next((c.quality for c in components if c.quality is not None), None),
    ).canonical()
    if delivery:
        parts.append(delivery)
    return "/".join(parts)


def _parse_public_id(segments: list[str]) -> tuple[str, str | None]:
    *folders, last = segments
    extension: str | None = None
    if "." in last:
        last, _, extension = last.partition(".")
        if extension.lower() not in EXTENSIONS:
            raise TransformationError(
                f"unsupported extension {_quote(extension)}: use one of {_one_of(EXTENSIONS)}"
            )
        extension = extension.lower()
    public_id = "/".join([*folders, last])
    try:
        check_public_id(public_id)
    except PublicIdError as error:
        raise TransformationError(str(error)) from None
    return public_id, extension


def _parse_component(segment: str, *, allow_preset: bool) -> Transformation | PresetReference:
    params = segment.split(",")
    if len(params) > MAX_PARAMS_PER_COMPONENT:
        raise TransformationError(f"at most {MAX_PARAMS_PER_COMPONENT} parameters are allowed per component")
    values: dict[str, str] = {}
    for param in params:
        key, sep, value = param.partition("_")
        if not sep or not key:
            raise TransformationError(f"{_quote(param)} is not a parameter (expected key_value)")
        if key not in _PARAM_KEYS:
            raise TransformationError(f"unknown transformation parameter {_quote(key + '_')}")
        if key in values:
            raise TransformationError(f"parameter {key}_ is given twice in one component")
        if not value:
            raise TransformationError(f"parameter {key}_ has no value")
        values[key] = value

    if "t" in values:
        if len(values) > 1:
            raise TransformationError("a named preset (t_) must be alone in its component")
        if not allow_preset:
            raise TransformationError("a named preset cannot refer to another preset")
        name = values["t"]
        if not _PRESET_NAME.match(name):
            raise TransformationError(f"invalid preset name {_quote(name)}")
        return PresetReference(name)
    return _build(values)


def _build(values: dict[str, str]) -> Transformation:
    crop = values.get("c")
    if crop is not None and crop not in CROP_MODES:
        raise TransformationError(f"unknown crop mode {_quote(crop)}: use one of {_one_of(CROP_MODES)}")
    gravity = values.get("g")
    if gravity is not None and gravity not in GRAVITIES:
        raise TransformationError(f"unknown gravity {_quote(gravity)}: use one of {_one_of(GRAVITIES)}")
    width = _dimension("w", values.get("w"))
    height = _dimension("h", values.get("h"))
    aspect = _aspect_ratio(values.get("ar"))
    dpr = _dpr(values.get("dpr"))
    x = _offset("x", values.get("x"))
    y = _offset("y", values.get("y"))
    background = _colour(values.get("b"))
    fmt = values.get("f")
    if fmt is not None:
        fmt = "jpg" if fmt == "jpeg" else fmt
        if fmt not in FORMATS:
            raise TransformationError(f"unknown format {_quote(fmt)}: use one of {_one_of(FORMATS)}")
    quality = _quality(values.get("q"))
    extras = _build_extras(values)
    if crop == "auto" and gravity is None:
        gravity = "auto"  # Cloudinary's c_auto decides what to keep by content unless a gravity says
    if crop == "fill_pad" and gravity != "auto":
        raise TransformationError("c_fill_pad needs g_auto: it pads only where a crop would cut the subject")

    sized = width is not None or height is not None or aspect is not None
    if crop is None and aspect is not None and width is None and height is None:
        raise TransformationError("ar_ alone needs w_ or h_, or a crop mode such as c_fill or c_pad")
    if crop is None and sized:
        crop = "scale"  # Cloudinary's default mode whenever a size is given
    if crop is not None:
        _check_geometry(crop, gravity, width, height, aspect, x, y)
    elif gravity is not None or x is not None or y is not None:
        raise TransformationError("g_, x_ and y_ need a crop mode (c_) and a size (w_, h_ or ar_)")
    # dpr_ without a size (in a component of its own) scales that component's input by itself.

    # Drop what Cloudinary treats as identical to leaving it out, so equivalent URLs share a cache entry.
    if gravity is None and (x is not None or y is not None):
        gravity = "north_west"  # plain x/y are the region's top-left corner, i.e. offsets from north-west
    if gravity in CONTENT_GRAVITIES:
        x = y = None  # x/y have no effect with content-aware gravity (Cloudinary documents this for g_face)
    # A zero offset from the gravity's anchor is no offset.
    if x == 0:
        x = None
    if y == 0:
        y = None
    if gravity == "center" and x is None and y is None:
        gravity = None  # the default; kept with offsets, where no gravity would mean north-west
    if dpr == 1.0:
        dpr = None
    if quality == "auto:good":
        quality = "auto"
    if not any((crop, dpr, background, fmt, quality, *extras.values())):
        # e.g. a_0, r_0 or dpr_1.0 alone: an empty component would leave '//' in the canonical path.
        raise TransformationError("this component changes nothing (a_0, r_0 and dpr_1.0 are no-ops)")
    return Transformation(
        crop=crop,
        gravity=gravity,
        width=width,
        height=height,
        aspect_ratio=aspect,
        dpr=dpr,
        x=x,
        y=y,
        background=background,
        format=fmt,
        quality=quality,
        **extras,
    )


def _check_geometry(
    crop: str,
    gravity: str | None,
    width: int | float | None,
    height: int | float | None,
    aspect: Fraction | None,
    x: int | float | None,
    y: int | float | None,
) -> None:
    if width is not None and height is not None and aspect is not None:
        raise TransformationError("w_, h_ and ar_ contradict each other: give at most two of them")
    if crop in _BOX_MODES and width is None and height is None and aspect is None:
        # One side alone is fine: the other follows the image's own aspect ratio (as in Cloudinary).
        raise TransformationError(f"c_{crop} needs a size: w_ and h_, one of them, or one of them with ar_")
    if crop in {"scale", "fit", "limit", "mfit"} and width is None and height is None:
        raise TransformationError(f"c_{crop} needs w_ or h_")
    if crop == "crop" and width is None and height is None and aspect is None:
        raise TransformationError("c_crop needs w_, h_ or ar_")
    if gravity in CONTENT_GRAVITIES and crop not in _CONTENT_GRAVITY_MODES:
        raise TransformationError(
            f"g_{gravity} only applies to c_fill, c_lfill, c_fill_pad, c_auto, c_crop and c_thumb"
        )
    if gravity is not None and crop in {"scale", "fit", "limit", "mfit"}:
        raise TransformationError(f"g_ has no effect with c_{crop}: it only places crops and padding")
    if (x is not None or y is not None) and crop not in _OFFSET_MODES:
        raise TransformationError("x_ and y_ only apply to c_crop and c_thumb")


def _dimension(key: str, raw: str | None) -> int | float | None:
    if raw is None:
        return None
    if _INT.match(raw):
        pixels = int(raw)
        if not 1 <= pixels <= MAX_PIXELS_PARAM:
            raise TransformationError(f"{key}_ must be between 1 and {MAX_PIXELS_PARAM} pixels, got {pixels}")
        return pixels
    if _DECIMAL.match(raw):
        fraction = float(raw)
        if not 0 < fraction <= 1:
            raise TransformationError(
                f"{key}_{raw} is a fraction of the image and must be above 0 and at most 1.0"
            )
        return fraction
    raise TransformationError(f"{key}_ must be whole pixels (e.g. {key}_400) or a fraction (e.g. {key}_0.5)")


def _aspect_ratio(raw: str | None) -> Fraction | None:
    if raw is None:
        return None
    match = _RATIO.match(raw)
    if match:
        numerator, denominator = int(match.group(1)), int(match.group(2))
        if numerator == 0 or denominator == 0:
            raise TransformationError("ar_ cannot have a zero side")
        ratio = Fraction(numerator, denominator)
    elif _DECIMAL.match(raw) or _INT.match(raw):
        ratio = Fraction(raw)
    else:
        raise TransformationError("ar_ must be width:height (ar_16:9) or a decimal (ar_1.5)")
    if not MIN_ASPECT <= ratio <= MAX_ASPECT:
        raise TransformationError("ar_ must be between 1:100 and 100:1")
    return ratio


def _dpr(raw: str | None) -> float | None:
    if raw is None:
        return None
    if not (_INT.match(raw) or _DECIMAL.match(raw)):
        raise TransformationError("dpr_ must be a number such as dpr_2.0")
    value = float(raw)
    if not 0.1 <= value <= MAX_DPR:
        raise TransformationError(f"dpr_ must be between 0.1 and {MAX_DPR:g}")
    return value


def _offset(key: str, raw: str | None) -> int | float | None:
    if raw is None:
        return None
    if _DECIMAL.match(raw):
        # A fraction of the image entering the component (x_0.25: a quarter of its width), as in Cloudinary.
        fraction = float(raw)
        if not 0 <= fraction <= 1:
            raise TransformationError(f"{key}_{raw} is a fraction of the image and must be 0 to 1.0")
        return fraction
    if not _INT.match(raw):
        raise TransformationError(
            f"{key}_ must be whole pixels, 0 or more (e.g. {key}_20), or a fraction (e.g. {key}_0.25)"
        )
    value = int(raw)
    if value > MAX_PIXELS_PARAM:
        raise TransformationError(f"{key}_ must be at most {MAX_PIXELS_PARAM}")
    return value


def _colour(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw.startswith("rgb:"):
        digits = raw[4:].lower()
        if not _HEX.match(digits) or len(digits) not in (3, 4, 6, 8):
            raise TransformationError("b_rgb: needs 3, 4, 6 or 8 hex digits, e.g. b_rgb:ff00ff")
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        if len(digits) == 8 and digits.endswith("ff"):
            digits = digits[:6]  # fully opaque alpha is the same colour as no alpha
        return digits
    if raw.lower() in NAMED_COLOURS:
        return NAMED_COLOURS[raw.lower()]
    raise TransformationError(f"unknown colour {_quote(raw)}: use a name such as white or rgb:rrggbb")


def _quality(raw: str | None) -> int | str | None:
    if raw is None:
        return None
    if raw == "auto":
        return "auto"
    if raw.startswith("auto:"):
        level = raw[5:]
        if level not in QUALITY_AUTO_LEVELS:
            raise TransformationError(f"q_auto level must be one of {_one_of(QUALITY_AUTO_LEVELS)}")
        return f"auto:{level}"
    if _INT.match(raw) and 1 <= int(raw) <= 100:
        return int(raw)
    raise TransformationError("q_ must be auto, auto:best, auto:good, auto:eco, auto:low or 1-100")


def _expand(
    written: tuple[Transformation | PresetReference, ...], presets: Mapping[str, str]
) -> tuple[Transformation, ...]:
    expanded: list[Transformation] = []
    for component in written:
        if isinstance(component, Transformation):
            expanded.append(component)
            continue
        text = presets.get(component.name)
        if text is None:
            raise TransformationError(f"unknown named preset {_quote(component.name)}")
        try:
            expanded.extend(parse_transformation(text))  # no presets passed: presets cannot nest
        except TransformationError as error:
            raise TransformationError(f"named preset {_quote(component.name)} is invalid: {error}") from None
    if len(expanded) > MAX_COMPONENTS:
        raise TransformationError(f"at most {MAX_COMPONENTS} transformation components are allowed")
    return tuple(expanded)


def _check_delivery_params(components: tuple[Transformation, ...]) -> None:
    # f_ and q_ describe the one delivered file, so two different values anywhere in the chain contradict.
    formats = {c.format for c in components if c.format is not None}
    if len(formats) > 1:
        raise TransformationError(f"contradictory formats: {', '.join('f_' + f for f in sorted(formats))}")
    qualities = {str(c.quality) for c in components if c.quality is not None}
    if len(qualities) > 1:
        shown = ", ".join("q_" + q for q in sorted(qualities))
        raise TransformationError(f"contradictory qualities: {shown}")


def _format_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    # repr gives the shortest round-tripping form, always with a '.': 0.5, 1.0, 0.333. Inputs are at
    # most 9+9 digits, so it never switches to exponent notation.
    return repr(float(value))


def _quote(text: str, limit: int = 40) -> str:
    # Reasons end up in a response body: keep them short and printable.
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown.encode("ascii", "backslashreplace").decode("ascii"))


def _one_of(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


# --- effects, flags, corners, borders and angles (Cloudinary's e_, fl_, r_, bo_ and a_) -------------------

# e_<name>[:<value>]: the effects served here, each as Cloudinary's transformation reference defines it.
EFFECTS = frozenset({"grayscale", "blur", "sharpen", "improve", "background_removal"})
# Cloudinary effects that exist but are not served here: named in the 400 so nobody guesses.
_UNSUPPORTED_EFFECTS = frozenset(
    {
        "sepia", "blackwhite", "negate", "pixelate", "pixelate_faces", "blur_faces", "blur_region",
        "vignette", "brightness", "contrast", "saturation", "gamma", "colorize", "tint", "oil_paint",
        "cartoonify", "outline", "shadow", "auto_brightness", "auto_contrast", "auto_color", "vibrance",
        "unsharp_mask", "art", "gen_remove", "gen_replace", "gen_fill", "upscale", "enhance", "trim",
        "make_transparent", "replace_color", "red", "green", "blue", "hue", "noise", "redeye",
    }
)  # fmt: skip
# fl_<flag>[.<flag>...]: what each does is in delivery/rendering.py; strip_profile, force_strip and
# preserve_transparency describe what always happens here (metadata stripped, f_auto keeps transparency).
FLAGS = frozenset({"progressive", "png8", "strip_profile", "force_strip", "preserve_transparency"})
_UNSUPPORTED_FLAGS = {
    "keep_iptc": "metadata is always stripped (only the AI disclosure is written)",
    "keep_attribution": "metadata is always stripped (only the AI disclosure is written)",
    "attachment": "downloads are not offered: link the image and let the browser save it",
    "lossy": "PNG is always lossless here: use f_webp or f_avif for lossy transparency, or fl_png8",
    "animated": "animated sources render their first frame",
    "awebp": "animated sources render their first frame",
}
MAX_EFFECT_STRENGTH = 2000
MAX_BORDER = 1000
_SIGNED_INT = re.compile(r"-?[0-9]{1,4}\Z")
_BORDER = re.compile(r"([0-9]{1,4})px_([a-z]+)_(.+)\Z")


def _build_extras(values: dict[str, str]) -> dict:
    """The e_, r_, bo_, a_ and fl_ values of one component, normalised (``Transformation`` fields)."""
    return {
        "effect": _effect(values.get("e")),
        "radius": _radius(values.get("r")),
        "border": _border(values.get("bo")),
        "angle": _angle(values.get("a")),
        "flags": _flags(values.get("fl")),
    }


def _extra_parts(t: Transformation) -> dict[str, str]:
    parts: dict[str, str] = {}
    if t.angle is not None:
        parts["a"] = str(t.angle)
    if t.border is not None:
        parts["bo"] = f"{t.border[0]}px_solid_rgb:{t.border[1]}"
    if t.effect is not None:
        parts["e"] = t.effect
    if t.flags:
        parts["fl"] = ".".join(t.flags)
    if t.radius is not None:
        parts["r"] = t.radius
    return parts


def _strength(name: str, raw: str, default: int) -> int:
    if raw == "":
        return default
    if not _INT.match(raw) or not 1 <= int(raw) <= MAX_EFFECT_STRENGTH:
        raise TransformationError(f"e_{name} strength must be 1-{MAX_EFFECT_STRENGTH} (e.g. e_{name}:300)")
    return int(raw)


def _effect(raw: str | None) -> str | None:
    if raw is None:
        return None
    name, _, value = raw.partition(":")
    if name in {"grayscale", "background_removal"}:
        if value:
            raise TransformationError(f"e_{name} takes no value")
        return name
    if name in {"blur", "sharpen"}:
        return f"{name}:{_strength(name, value, 100)}"
    if name == "improve":
        # e_improve[:indoor|outdoor][:blend 0-100]; the mode defaults to outdoor, the blend to 100.
        parts = value.split(":") if value else []
        mode = parts.pop(0) if parts and parts[0] in {"indoor", "outdoor"} else "outdoor"
        if len(parts) > 1 or (parts and not (_INT.match(parts[0]) and int(parts[0]) <= 100)):
            raise TransformationError("e_improve takes a mode and a blend: e_improve:indoor:50 (0-100)")
        blend = int(parts[0]) if parts else 100
        if blend == 0:
            raise TransformationError("e_improve:0 blends nothing in: leave the effect out")
        return f"improve:{mode}:{blend}"
    if name in _UNSUPPORTED_EFFECTS:
        raise TransformationError(f"e_{name} is not supported here: use one of {_one_of(EFFECTS)}")
    raise TransformationError(f"unknown effect {_quote(name)}: use one of {_one_of(EFFECTS)}")


def _radius(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw == "max":
        return "max"
    parts = raw.split(":")
    if len(parts) > 4 or not all(_INT.match(part) for part in parts):
        raise TransformationError("r_ must be pixels (r_20), 1-4 of them (r_20:0:20:0) or r_max")
    values = [int(part) for part in parts]
    if any(value > MAX_PIXELS_PARAM for value in values):
        raise TransformationError(f"r_ must be at most {MAX_PIXELS_PARAM} pixels")
    # CSS order, as Cloudinary's: top-left, top-right, bottom-right, bottom-left; missing ones mirror.
    if len(values) == 1:
        values *= 4
    elif len(values) == 2:
        values = [values[0], values[1], values[0], values[1]]
    elif len(values) == 3:
        values = [values[0], values[1], values[2], values[1]]
    if not any(values):
        return None
    return str(values[0]) if len(set(values)) == 1 else ":".join(map(str, values))


def _border(raw: str | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    match = _BORDER.match(raw)
    if match is None:
        raise TransformationError("bo_ must look like bo_4px_solid_black or bo_2px_solid_rgb:ff0000")
    width, style, colour = int(match.group(1)), match.group(2), match.group(3)
    if style != "solid":
        raise TransformationError(f"bo_ style {_quote(style)} is not supported: only solid borders are")
    if not 1 <= width <= MAX_BORDER:
        raise TransformationError(f"a border must be 1-{MAX_BORDER} pixels wide")
    try:
        return width, _colour(colour)  # type: ignore[return-value]
    except TransformationError:
        raise TransformationError(
            f"unknown border colour {_quote(colour)}: use a name such as black or rgb:rrggbb"
        ) from None


def _angle(raw: str | None) -> int | str | None:
    if raw is None:
        return None
    if raw in {"hflip", "vflip"}:
        return raw
    if raw in {"auto_right", "auto_left", "ignore", "auto"} or "." in raw:
        raise TransformationError(f"a_{_quote(raw)[1:-1]} is not supported here: use degrees, hflip or vflip")
    if not _SIGNED_INT.match(raw) or not -360 <= int(raw) <= 360:
        raise TransformationError("a_ must be whole degrees from -360 to 360, a_hflip or a_vflip")
    degrees = int(raw) % 360
    return degrees or None


def _flags(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    flags = raw.split(".")
    for flag in flags:
        if flag in _UNSUPPORTED_FLAGS:
            raise TransformationError(f"fl_{flag} is not supported here: {_UNSUPPORTED_FLAGS[flag]}")
        if flag not in FLAGS:
            raise TransformationError(f"unknown flag {_quote(flag)}: use one of {_one_of(FLAGS)}")
    return tuple(sorted(set(flags)))
