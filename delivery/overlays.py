"""Layers (Cloudinary's overlays): another approved image, or a line of text, drawn over the image.

Pure Python, no Django, like the grammar it extends (``delivery/transformations.py``); the parser hands each
``l_`` component, and the ``fl_layer_apply`` component that closes it, to :func:`parse_layer`.

Grammar (a documented subset of Cloudinary's layer syntax)::

    l_<public_id>[,w_..][,h_..][,c_scale|fit|limit][,fl_relative][,o_..]/fl_layer_apply[,g_..][,x_..][,y_..]
    l_text:<font>_<size>[_bold]:<text>[,co_<colour>][,b_<colour>][,o_..]/fl_layer_apply[,g_..][,x_..][,y_..]

- ``l_<public_id>``: an approved asset; a folder separator is ``:`` as in Cloudinary (``l_brand:logo`` is
  ``brand/logo``). Delivery answers 404 when the id names no approved, live asset.
- ``w_``/``h_``: pixels, or a fraction: of the layer's own size, or of the image under it with
  ``fl_relative``. One side keeps the layer's aspect ratio; ``c_fit`` fits inside both, ``c_limit`` fits
  without enlarging.
- ``o_``: opacity 0-100. ``co_``/``b_``: the text's colour (default black) and a background box behind it
  (default none), as ``b_`` colours elsewhere (``red``, ``rgb:ff0000``, ``rgb:ff000080``).
- ``l_text:``: a font from :data:`FONTS` (shipped in ``delivery/fonts/``, never the machine's own), a size of
  8-300 pixels, optionally ``bold``, then the text, URL-encoded; a comma or slash in it is double-encoded
  (``%252C``, ``%252F``) as Cloudinary asks, because a single ``%2C`` is read as a parameter separator.
  At most 200 characters, one line or several (``%250A``); the text is never read as markup.
- Placement: ``g_`` a compass gravity (default center), ``x_``/``y_`` pixels or fractions of the image
  under the layer, moving inward from the gravity's edge(s), negative to move outward. They may sit in
  ``fl_layer_apply`` or in the ``l_`` component itself, not both. The layer never enlarges the image: what
  falls outside it is cut off (Cloudinary's ``fl_no_overflow``).
- Brand kit variables, for named presets that should stay generic: ``l_$logo``, the font ``$font``
  (``l_text:$font_40:Sale``), the colours ``$primary`` and ``$secondary`` in ``co_``/``b_``. Delivery puts
  in the kit of the asset's team (:func:`substitute_brand`) before the variant is looked up, so the
  substituted form keys it; a ``l_$logo`` layer is left out when the kit has no logo.

Anything else in a layer component (effects, ``l_fetch:``, italic, a chain inside the layer) is a 400 that
says what is supported.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote

from delivery.transformations import (
    COMPASS,
    MAX_PIXELS_PARAM,
    TransformationError,
    _colour,
    _dimension,
    _format_number,
    _one_of,
    _quote,
)
from review.public_ids import PublicIdError, check_public_id

__all__ = [
    "BRAND_VARIABLES",
    "DEFAULT_FONT",
    "FONTS",
    "MAX_FONT_SIZE",
    "MAX_TEXT_LENGTH",
    "MIN_FONT_SIZE",
    "BrandValues",
    "Font",
    "ImageLayer",
    "Overlay",
    "TextLayer",
    "is_layer_apply",
    "is_layer_component",
    "overlay_public_ids",
    "parse_layer",
    "substitute_brand",
    "uses_brand",
]

FONTS_DIR = Path(__file__).resolve().parent / "fonts"


@dataclass(frozen=True)
class Font:
    name: str  # as written in URLs
    family: str  # the family name inside the files, for Pango
    regular: str
    bold: str

    def file(self, *, bold: bool) -> Path:
        return FONTS_DIR / (self.bold if bold else self.regular)


FONTS = {
    font.name: font
    for font in (
        Font("DejaVuSans", "DejaVu Sans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
        Font("DejaVuSerif", "DejaVu Serif", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    )
}
DEFAULT_FONT = "DejaVuSans"
# "DejaVu Sans", "dejavu-sans" and "DejaVuSans" all name one font.
_FONT_KEYS = {re.sub(r"[\s_-]", "", name).lower(): name for name in FONTS}

MAX_TEXT_LENGTH = 200
MIN_FONT_SIZE, MAX_FONT_SIZE = 8, 300
LAYER_CROP_MODES = frozenset({"scale", "fit", "limit"})
# Protocols Cloudinary layers can name that Studio does not serve.
_OTHER_LAYER_KINDS = ("fetch:", "video:", "subtitles:", "lut:", "audio:")

BRAND_VARIABLES = {
    "$logo": "the brand kit's logo (l_$logo)",
    "$font": "the brand kit's font (l_text:$font_<size>:<text>)",
    "$primary": "the brand kit's primary colour (co_$primary, b_$primary)",
    "$secondary": "the brand kit's secondary colour (co_$secondary, b_$secondary)",
}
_COLOUR_VARIABLES = ("$primary", "$secondary")

_INT = re.compile(r"[0-9]{1,9}\Z")
_SIGNED_INT = re.compile(r"-?[0-9]{1,9}\Z")
_SIGNED_DECIMAL = re.compile(r"-?[0-9]{1,9}\.[0-9]{1,9}\Z")
_LAYER_KEYS = ("l", "w", "h", "c", "o", "co", "b", "fl", "g", "x", "y")
_PLACEMENT_KEYS = ("g", "x", "y")


@dataclass(frozen=True)
class ImageLayer:
    public_id: str  # "folder/name", or "$logo"

    def canonical(self) -> str:
        return "l_" + self.public_id.replace("/", ":")


@dataclass(frozen=True)
class TextLayer:
    font: str  # a key of FONTS, or "$font"
    size: int
    bold: bool
    text: str  # decoded

    def canonical(self) -> str:
        style = "_bold" if self.bold else ""
        return f"l_text:{self.font}_{self.size}{style}:{quote(self.text, safe='')}"


@dataclass(frozen=True)
class Overlay:
    """One layer and where it goes, normalised: equal canonical strings draw the same thing."""

    layer: ImageLayer | TextLayer
    width: int | float | None = None
    height: int | float | None = None
    crop: str = "scale"
    relative: bool = False  # fractional w_/h_ are of the image under the layer, not of the layer
    opacity: int | None = None  # 0-99; None is fully opaque
    colour: str | None = None  # text colour, rrggbb[aa] or a colour variable
    background: str | None = None
    gravity: str | None = None  # a compass point; None is center
    x: int | float | None = None
    y: int | float | None = None

    def canonical(self) -> str:
        parts: dict[str, str] = {}
        if self.background is not None:
            parts["b"] = _colour_text(self.background)
        if self.crop != "scale":
            parts["c"] = self.crop
        if self.colour is not None:
            parts["co"] = _colour_text(self.colour)
        if self.relative:
            parts["fl"] = "relative"
        if self.height is not None:
            parts["h"] = _format_number(self.height)
        if self.opacity is not None:
            parts["o"] = str(self.opacity)
        if self.width is not None:
            parts["w"] = _format_number(self.width)
        layer = ",".join([self.layer.canonical(), *(f"{key}_{parts[key]}" for key in sorted(parts))])
        apply = ["fl_layer_apply"] + ([f"g_{self.gravity}"] if self.gravity is not None else [])
        apply += [
            f"{key}_{_format_number(value)}"
            for key, value in (("x", self.x), ("y", self.y))
            if value is not None
        ]
        return f"{layer}/{','.join(apply)}"

    @property
    def brand_variables(self) -> set[str]:
        found = {value for value in (self.colour, self.background) if value in _COLOUR_VARIABLES}
        if isinstance(self.layer, ImageLayer) and self.layer.public_id.startswith("$"):
            found.add(self.layer.public_id)
        if isinstance(self.layer, TextLayer) and self.layer.font.startswith("$"):
            found.add(self.layer.font)
        return found


# --- parsing ---------------------------------------------------------------------------------------------


def is_layer_component(segment: str) -> bool:
    """True for a component that starts a layer (has an ``l_`` parameter)."""
    return any(param.startswith("l_") for param in segment.split(","))


def is_layer_apply(segment: str) -> bool:
    """True for a component that closes a layer (``fl_layer_apply``, alone or with other flags)."""
    return any(
        param.startswith("fl_") and "layer_apply" in param[3:].split(".") for param in segment.split(",")
    )


def parse_layer(segment: str, apply: str | None) -> Overlay:
    """Parse an ``l_`` component and the ``fl_layer_apply`` component after it (``None`` if there is none)."""
    values = _params(segment, allowed=_LAYER_KEYS, where="a layer component (l_...)")
    flags = _flags(values.pop("fl", None))
    if flags - {"relative"}:
        raise TransformationError(
            f"unsupported flag in a layer component: {_flag_list(flags - {'relative'})}; "
            "a layer takes fl_relative, and fl_layer_apply closes it in the next component"
        )
    placement = {key: values.pop(key) for key in _PLACEMENT_KEYS if key in values}
    if apply is not None:
        applied = _params(apply, allowed=("fl", *_PLACEMENT_KEYS), where="fl_layer_apply")
        extra = _flags(applied.pop("fl")) - {"layer_apply"}
        if extra:
            raise TransformationError(f"unsupported flag with fl_layer_apply: {_flag_list(extra)}")
        if applied and placement:
            raise TransformationError(
                "place a layer either in its l_ component or in fl_layer_apply, not in both"
            )
        placement = placement or applied

    layer = _layer_source(values.pop("l"))
    width = _dimension("w", values.get("w"))
    height = _dimension("h", values.get("h"))
    crop = values.get("c")
    if isinstance(layer, TextLayer):
        if width is not None or height is not None or crop is not None:
            raise TransformationError("a text layer is sized by its font size: w_, h_ and c_ do not apply")
        if "relative" in flags:
            raise TransformationError("fl_relative sizes an image layer; a text layer has no w_ or h_")
    else:
        for key in ("co", "b"):
            if key in values:
                raise TransformationError(f"{key}_ colours a text layer (l_text:...), not an image layer")
    if crop is not None:
        if crop not in LAYER_CROP_MODES:
            raise TransformationError(
                f"a layer takes c_ {_one_of(LAYER_CROP_MODES)}, not {_quote(crop)} (crop the layer's "
                "asset with a preset of its own instead)"
            )
        if width is None and height is None:
            raise TransformationError(f"c_{crop} on a layer needs w_ or h_")
    crop = crop or "scale"
    if crop == "fit" and (width is None or height is None):
        crop = "scale"  # fitting inside one side is scaling to it
    relative = "relative" in flags and any(isinstance(v, float) for v in (width, height))

    gravity = placement.get("g")
    if gravity is not None and gravity not in COMPASS:
        raise TransformationError(
            f"a layer's gravity must be a compass point ({_one_of(COMPASS)}), not {_quote(gravity)}"
        )
    x = _layer_offset("x", placement.get("x"))
    y = _layer_offset("y", placement.get("y"))
    return Overlay(
        layer=layer,
        width=width,
        height=height,
        crop=crop,
        relative=relative,
        opacity=_opacity(values.get("o")),
        colour=_layer_colour("co", values.get("co")),
        background=_layer_colour("b", values.get("b")),
        gravity=None if gravity == "center" else gravity,
        x=x or None,  # a zero offset is no offset
        y=y or None,
    )


def _params(segment: str, *, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for param in segment.split(","):
        key, sep, value = param.partition("_")
        if not sep or not key:
            raise TransformationError(f"{_quote(param)} is not a parameter (expected key_value)")
        if key not in allowed:
            raise TransformationError(
                f"{key}_ is not supported in {where}: it takes {', '.join(k + '_' for k in allowed)}"
            )
        if key in values:
            raise TransformationError(f"parameter {key}_ is given twice in one component")
        if not value:
            raise TransformationError(f"parameter {key}_ has no value")
        values[key] = value
    return values


def _flags(raw: str | None) -> set[str]:
    return set(raw.split(".")) if raw else set()


def _flag_list(flags: set[str]) -> str:
    return ", ".join(_quote("fl_" + flag) for flag in sorted(flags))


def _layer_source(raw: str) -> ImageLayer | TextLayer:
    if raw.startswith("text:"):
        return _text_layer(raw[5:])
    if raw.startswith(_OTHER_LAYER_KINDS):
        raise TransformationError(
            "only image layers (l_<public_id>) and text layers (l_text:...) are supported, "
            f"not {_quote('l_' + raw.partition(':')[0] + ':')}"
        )
    if raw.startswith("$"):
        if raw != "$logo":
            raise TransformationError(f"l_ takes the brand variable $logo, not {_quote(raw)}{_known(raw)}")
        return ImageLayer(raw)
    public_id = raw.replace(":", "/")
    try:
        check_public_id(public_id)
    except PublicIdError as error:
        raise TransformationError(
            f"invalid layer public id {_quote(raw)} ({error}), with ':' between folders"
        ) from None
    return ImageLayer(public_id)


def _text_layer(raw: str) -> TextLayer:
    style, sep, encoded = raw.partition(":")
    if not sep or not style or not encoded:
        raise TransformationError(
            "a text layer is l_text:<font>_<size>:<text>, e.g. l_text:DejaVuSans_40:Sale"
        )
    font_name, _, rest = style.partition("_")
    tokens = rest.split("_") if rest else []
    if not tokens or not _INT.match(tokens[0]):
        raise TransformationError(
            f"a text layer needs a size after the font, e.g. l_text:{font_name or DEFAULT_FONT}_40:..."
        )
    size = int(tokens[0])
    if not MIN_FONT_SIZE <= size <= MAX_FONT_SIZE:
        raise TransformationError(f"a text size must be {MIN_FONT_SIZE} to {MAX_FONT_SIZE}, got {size}")
    bold = False
    for token in tokens[1:]:
        if token == "bold":
            bold = True
        elif token != "normal":
            raise TransformationError(f"unsupported text style {_quote(token)}: use bold, or leave it out")
    return TextLayer(font=_font(font_name), size=size, bold=bold, text=_text(encoded))


def _font(name: str) -> str:
    if name.startswith("$"):
        if name != "$font":
            raise TransformationError(f"a text layer's font may be $font, not {_quote(name)}{_known(name)}")
        return name
    name = unquote(name)  # Cloudinary URL-encodes a family's spaces: DejaVu%20Sans
    found = _FONT_KEYS.get(re.sub(r"[\s_-]", "", name).lower())
    if found is None:
        raise TransformationError(f"unknown font {_quote(name)}: use one of {_one_of(FONTS)} or $font")
    return found


def _text(encoded: str) -> str:
    try:
        text = unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        raise TransformationError("the text of a text layer is not valid UTF-8 once decoded") from None
    if len(text) > MAX_TEXT_LENGTH:
        raise TransformationError(
            f"the text of a text layer is {len(text)} characters; at most {MAX_TEXT_LENGTH}"
        )
    if not text.strip():
        raise TransformationError("the text of a text layer is empty")
    for char in text:
        if char != "\n" and unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            raise TransformationError(
                f"the text of a text layer has an unprintable character (U+{ord(char):04X})"
            )
    return text


def _layer_colour(key: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw.startswith("$"):
        if raw not in _COLOUR_VARIABLES:
            raise TransformationError(
                f"{key}_ takes the brand variables $primary or $secondary, not {_quote(raw)}{_known(raw)}"
            )
        return raw
    try:
        return _colour(raw)
    except TransformationError as error:
        raise TransformationError(str(error).replace("b_", f"{key}_")) from None


def _colour_text(value: str) -> str:
    return value if value.startswith("$") else f"rgb:{value}"


def _opacity(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _INT.match(raw) or int(raw) > 100:
        raise TransformationError("o_ (opacity) must be a whole number from 0 to 100")
    value = int(raw)
    return None if value == 100 else value


def _layer_offset(key: str, raw: str | None) -> int | float | None:
    if raw is None:
        return None
    if _SIGNED_DECIMAL.match(raw):
        fraction = float(raw)
        if not -1 <= fraction <= 1:
            raise TransformationError(f"{key}_{raw} is a fraction of the image and must be -1.0 to 1.0")
        return fraction + 0.0  # -0.0 is 0.0
    if not _SIGNED_INT.match(raw):
        raise TransformationError(
            f"a layer's {key}_ must be whole pixels (e.g. {key}_20, {key}_-20) or a fraction"
        )
    value = int(raw)
    if abs(value) > MAX_PIXELS_PARAM:
        raise TransformationError(f"a layer's {key}_ must be at most {MAX_PIXELS_PARAM} pixels either way")
    return value


def _known(name: str) -> str:
    return "" if name in BRAND_VARIABLES else f" (brand variables: {', '.join(BRAND_VARIABLES)})"


# --- the brand kit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandValues:
    """What the brand variables stand for in one render: the kit of the asset's team, or defaults."""

    logo: str | None = None  # the public id of an approved logo; None leaves l_$logo layers out
    font: str = DEFAULT_FONT
    primary: str = "000000"
    secondary: str = "ffffff"


_C = TypeVar("_C")


def uses_brand(components: Sequence) -> bool:
    """True when some layer in the chain uses a brand variable (so the kit must be looked up)."""
    return any(c.overlay is not None and c.overlay.brand_variables for c in components)


def substitute_brand(components: Sequence[_C], brand: BrandValues) -> tuple[_C, ...]:
    """The chain with the brand variables replaced by ``brand``'s values; a ``l_$logo`` layer is dropped
    when there is no logo, so a preset renders plainly rather than failing."""
    result = []
    for component in components:
        overlay = component.overlay  # type: ignore[attr-defined]
        if overlay is None or not overlay.brand_variables:
            result.append(component)
            continue
        layer = overlay.layer
        if isinstance(layer, ImageLayer) and layer.public_id == "$logo":
            if brand.logo is None:
                continue
            layer = ImageLayer(brand.logo)
        if isinstance(layer, TextLayer) and layer.font == "$font":
            layer = replace(layer, font=brand.font)
        colours = {"$primary": brand.primary, "$secondary": brand.secondary}
        overlay = replace(
            overlay,
            layer=layer,
            colour=colours.get(overlay.colour or "", overlay.colour),
            background=colours.get(overlay.background or "", overlay.background),
        )
        result.append(replace(component, overlay=overlay))  # type: ignore[type-var]
    return tuple(result)


def overlay_public_ids(components: Sequence) -> list[str]:
    """The public ids the chain's image layers name, in order, each once."""
    ids: list[str] = []
    for component in components:
        overlay = component.overlay
        if (
            overlay is not None
            and isinstance(overlay.layer, ImageLayer)
            and overlay.layer.public_id not in ids
        ):
            ids.append(overlay.layer.public_id)
    return ids
