"""Encoding generated images: PNG with the parameters and the AI-disclosure mark embedded."""

import hashlib
import io
import json
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

from generation.disclosure import disclosure_xmp


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    width: int
    height: int
    format: str
    content_hash: str


def parameters_text(parameters: dict) -> str:
    """The human-readable parameters line tools like AUTOMATIC1111 and ComfyUI show."""
    negative = parameters.get("negative_prompt") or ""
    lines = [parameters.get("prompt", "")]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    details = ", ".join(
        f"{label}: {parameters[key]}"
        for key, label in [
            ("steps", "Steps"),
            ("scheduler", "Sampler"),
            ("guidance", "CFG scale"),
            ("seed", "Seed"),
            ("size", "Size"),
            ("model", "Model"),
        ]
        if parameters.get(key) not in (None, "")
    )
    lines.append(details)
    return "\n".join(lines)


def encode_png(image: Image.Image, parameters: dict) -> EncodedImage:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters_text(parameters))
    info.add_itxt("studio", json.dumps(parameters, sort_keys=True))
    info.add_itxt("XML:com.adobe.xmp", disclosure_xmp().decode())
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    data = buffer.getvalue()
    return EncodedImage(
        data=data,
        width=image.width,
        height=image.height,
        format="png",
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def read_png_parameters(data: bytes) -> dict:
    with PngImagePlugin.PngImageFile(io.BytesIO(data)) as image:
        return json.loads(image.text["studio"])
