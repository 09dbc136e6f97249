"""Encoding generated images: PNG with the parameters and the AI-disclosure mark embedded."""

import hashlib
import io
import json
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

# IPTC's term for media created by a model trained on sampled content; sites and platforms read it to label
# AI images (IPTC Photo Metadata Standard, DigitalSourceType).
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AI_DISCLOSURE_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    Iptc4xmpExt:DigitalSourceType="{TRAINED_ALGORITHMIC_MEDIA}"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""


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
    info.add_itxt("XML:com.adobe.xmp", AI_DISCLOSURE_XMP)
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
    with Image.open(io.BytesIO(data)) as image:
        return json.loads(image.text["studio"])
