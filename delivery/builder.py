"""The variant builder behind the asset page's "Build a variant" page: form choices to one transformation
string, then the same URL builder the JSON API's ``delivery-url`` endpoint uses (``urls_builder``), the
renderer's planner for the output size and the upscale warning, and density-based responsive markup.

Nothing here trusts the form: every value ends up in the grammar, whose plain-English error is what the
page shows in place of the preview.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from delivery import geometry
from delivery.selectors import preset_map
from delivery.services import render_limits
from delivery.transformations import (
    CROP_MODES,
    EFFECTS,
    GRAVITIES,
    check_size_limits,
    parse_transformation,
)
from delivery.urls_builder import serve_url, variant_path, variant_url

CROP_CHOICES = [
    ("", "No resize"),
    ("fill", "Fill: cover the box, crop the rest"),
    ("lfill", "Fill, never enlarging"),
    ("fill_pad", "Fill, padding rather than cutting the subject"),
    ("auto", "Auto: content-aware crop"),
    ("thumb", "Thumbnail (face-aware)"),
    ("crop", "Crop without scaling"),
    ("scale", "Scale (may distort with both sides)"),
    ("fit", "Fit inside the box"),
    ("limit", "Fit, never enlarging"),
    ("mfit", "Fit, never shrinking"),
    ("pad", "Pad to the box"),
    ("lpad", "Pad, never enlarging"),
    ("mpad", "Pad without scaling"),
]
GRAVITY_CHOICES = [
    ("", "Default"),
    ("auto", "Auto (content-aware)"),
    ("face", "Face"),
    ("faces", "Faces"),
] + [
    (name, name.replace("_", " ").capitalize())
    for name in (
        "center",
        "north",
        "north_east",
        "east",
        "south_east",
        "south",
        "south_west",
        "west",
        "north_west",
    )
]
FORMAT_CHOICES = [
    ("auto", "Auto (AVIF, WebP or JPEG per browser)"),
    ("jpg", "JPEG"),
    ("png", "PNG"),
    ("webp", "WebP"),
    ("avif", "AVIF"),
]
QUALITY_CHOICES = [
    ("", "Default"),
    ("auto", "Auto"),
    ("auto:best", "Auto: best"),
    ("auto:eco", "Auto: eco"),
    ("auto:low", "Auto: low"),
    ("90", "90"),
    ("80", "80"),
    ("60", "60"),
]
DPR_CHOICES = [("", "1x"), ("1.5", "1.5x"), ("2.0", "2x"), ("3.0", "3x")]
EFFECT_CHOICES = [
    ("", "None"),
    ("grayscale", "Grayscale"),
    ("blur", "Blur"),
    ("sharpen", "Sharpen"),
    ("improve", "Improve (levels and colour)"),
    ("background_removal", "Remove background"),
]
assert {value for value, _ in CROP_CHOICES if value} <= CROP_MODES
assert {value for value, _ in GRAVITY_CHOICES if value} <= GRAVITIES
assert {value for value, _ in EFFECT_CHOICES if value} <= EFFECTS


class VariantForm(forms.Form):
    crop = forms.ChoiceField(label="Crop mode", choices=CROP_CHOICES, required=False)
    width = forms.CharField(label="Width", required=False, max_length=12, help_text="Pixels, or 0.5 for half")
    height = forms.CharField(label="Height", required=False, max_length=12)
    gravity = forms.ChoiceField(label="Gravity", choices=GRAVITY_CHOICES, required=False)
    format = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, required=False, initial="auto")
    quality = forms.ChoiceField(label="Quality", choices=QUALITY_CHOICES, required=False)
    dpr = forms.ChoiceField(label="Pixel density", choices=DPR_CHOICES, required=False)
    effect = forms.ChoiceField(label="Effect", choices=EFFECT_CHOICES, required=False)
    extra = forms.CharField(
        label="Extra components",
        required=False,
        max_length=1000,
        help_text="Anything else in the URL grammar, e.g. r_20/bo_2px_solid_black or an overlay (l_...)",
    )

    def clean(self) -> dict:
        data = self.cleaned_data
        for name in ("width", "height"):
            value = (data.get(name) or "").strip()
            if any(ch in value for ch in ",/"):
                self.add_error(name, "One value only: pixels such as 400, or a fraction such as 0.5.")
            data[name] = value
        data["extra"] = (data.get("extra") or "").strip().strip("/")
        return data

    def transformation(self, *, with_format: bool = True) -> str:
        """The chain the choices describe (``f_`` only for auto: other formats go in the extension).

        ``with_format=False`` leaves ``f_auto`` out, for the snippet, whose ``<picture>`` picks formats."""
        data = self.cleaned_data
        geometry = []
        if data["crop"] or data["width"] or data["height"]:
            geometry += [f"c_{data['crop'] or 'scale'}"]
        geometry += [f"{key}_{data[name]}" for key, name in (("w", "width"), ("h", "height")) if data[name]]
        if data["gravity"]:
            geometry.append(f"g_{data['gravity']}")
        if data["dpr"]:
            geometry.append(f"dpr_{data['dpr']}")
        components = [",".join(geometry)] if geometry else []
        if data["effect"]:
            components.append(f"e_{data['effect']}")
        if data["extra"]:
            components.append(data["extra"])
        auto = "f_auto" if with_format and self.ext() is None else ""
        delivery = [item for item in (auto, self.quality_param()) if item]
        if delivery:
            components.append(",".join(delivery))
        return "/".join(components)

    def quality_param(self) -> str:
        return f"q_{self.cleaned_data['quality']}" if self.cleaned_data["quality"] else ""

    def ext(self) -> str | None:
        fmt = self.cleaned_data.get("format") or "auto"
        return None if fmt == "auto" else fmt


@dataclass(frozen=True)
class Variant:
    transformation: str
    url: str  # absolute and signed (or unsigned where strict mode serves it so): paste it into a site
    preview_url: str  # site-relative, for the preview <img>
    snippet: SafeString
    size: tuple[int, int]
    source_size: tuple[int, int]
    upscale: float  # > 1.0: the variant enlarges the source's pixels

    @property
    def upscales(self) -> bool:
        return self.upscale > 1.0


def build_variant(
    request: HttpRequest,
    *,
    public_id: str,
    source_size: tuple[int, int],
    transformation: str,
    ext: str | None,
    alt: str,
    snippet_transformation: str | None = None,
) -> Variant:
    """The signed URLs, planned size and snippet for one transformation; ``TransformationError`` (with the
    reason to show) for anything the delivery view would refuse, render limits included."""
    presets = preset_map()
    # The same builder as GET /api/v1/assets/{id}/delivery-url: one path for the UI and the API.
    path = variant_path(public_id, transformation, ext=ext, presets=presets, sign=True)
    chain = parse_transformation(transformation, presets=presets) if transformation else ()
    limits = render_limits()
    check_size_limits(
        chain, max_width=limits.max_width, max_height=limits.max_height, max_pixels=limits.max_pixels
    )
    geometry.check_output_limits(geometry.plan(chain, *source_size), source_size, limits)
    size = geometry.planned_size(chain, *source_size)
    return Variant(
        transformation=transformation,
        url=serve_url(path, request=request),
        preview_url=serve_url(path),
        snippet=_snippet(
            request,
            public_id,
            transformation if snippet_transformation is None else snippet_transformation,
            ext,
            presets,
            size,
            alt,
        ),
        size=size,
        source_size=source_size,
        upscale=geometry.planned_upscale(chain, *source_size),
    )


def _snippet(
    request: HttpRequest,
    public_id: str,
    transformation: str,
    ext: str | None,
    presets: dict[str, str],
    size: tuple[int, int],
    alt: str,
) -> SafeString:
    """A ``<picture>``: AVIF and WebP sources and an ``<img>`` in the chosen format (JPEG for auto), each at
    1x and 2x pixel density (``/dpr_2.0`` doubles the variant), with the 1x size as width/height."""
    base = transformation

    def srcset(kind: str) -> str:
        one = variant_url(public_id, base, ext=kind, presets=presets, sign=True, request=request)
        two = variant_url(
            public_id,
            f"{base}/dpr_2.0" if base else "dpr_2.0",
            ext=kind,
            presets=presets,
            sign=True,
            request=request,
        )
        return f"{one} 1x, {two} 2x"

    fallback = ext or "jpg"
    sources = [
        format_html('<source type="{}" srcset="{}">', mime, srcset(kind))
        for kind, mime in (("avif", "image/avif"), ("webp", "image/webp"))
        if kind != fallback
    ]
    img = format_html(
        '<img src="{}" srcset="{}" width="{}" height="{}" alt="{}" loading="lazy" decoding="async">',
        variant_url(public_id, base, ext=fallback, presets=presets, sign=True, request=request),
        srcset(fallback),
        size[0],
        size[1],
        alt,
    )
    return format_html("<picture>{}{}</picture>", SafeString("".join(sources)), img)
