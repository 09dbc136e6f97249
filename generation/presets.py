"""Style and size presets for the generate form. Pure data and prompt assembly, no Django."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    key: str
    label: str
    prompt_prefix: str
    prompt_suffix: str
    negative: str


STYLES: dict[str, Style] = {
    style.key: style
    for style in [
        Style("none", "No style", "", "", ""),
        Style(
            "photorealistic",
            "Photorealistic",
            "a photo of",
            "photorealistic, natural light, sharp focus, high detail",
            "illustration, painting, cartoon, blurry",
        ),
        Style(
            "cinematic",
            "Cinematic",
            "a cinematic still of",
            "dramatic lighting, shallow depth of field, film grain, anamorphic",
            "flat lighting, cartoon",
        ),
        Style(
            "watercolor",
            "Watercolor",
            "a watercolor painting of",
            "soft washes, paper texture, loose brush strokes",
            "photo, 3d render, hard edges",
        ),
        Style(
            "3d-render",
            "3D render",
            "a 3D render of",
            "octane render, soft global illumination, clean studio lighting",
            "photo, sketch, flat",
        ),
        Style(
            "flat-illustration",
            "Flat illustration",
            "a flat vector illustration of",
            "bold shapes, limited palette, clean lines, minimal",
            "photo, realistic, gradients, texture",
        ),
        Style(
            "emoji",
            "Emoji",
            "an emoji of",
            "emoji style",
            "photo, 3d render",
        ),
        Style(
            "vintage-poster",
            "Vintage poster",
            "a vintage travel poster of",
            "screen print, muted colours, retro typography style, grain",
            "photo, modern, 3d render",
        ),
        Style(
            "product-photography",
            "Product photography",
            "a product photo of",
            "in a white studio, softbox lighting, clean background, commercial",
            "clutter, people, text, watermark",
        ),
    ]
}


@dataclass(frozen=True)
class SizePreset:
    key: str
    label: str
    width: int
    height: int


SIZE_PRESETS: dict[str, SizePreset] = {
    size.key: size
    for size in [
        SizePreset("square-small", "Square 256 x 256", 256, 256),
        SizePreset("square", "Square 512 x 512", 512, 512),
        SizePreset("landscape", "Landscape 640 x 384", 640, 384),
        SizePreset("portrait", "Portrait 384 x 640", 384, 640),
        SizePreset("banner", "Banner 768 x 256", 768, 256),
    ]
}
CUSTOM_SIZE = "custom"


def compose_prompt(prompt: str, negative_prompt: str, style_key: str) -> tuple[str, str]:
    """The prompt and negative prompt sent to the model once the style's fragments are added."""
    style = STYLES[style_key]
    text = prompt.strip()
    if style.prompt_prefix and not text.lower().startswith(style.prompt_prefix.lower()):
        text = f"{style.prompt_prefix} {text}"
    if style.prompt_suffix:
        text = f"{text}, {style.prompt_suffix}"
    negatives = [part for part in (negative_prompt.strip(), style.negative) if part]
    return text, ", ".join(negatives)
