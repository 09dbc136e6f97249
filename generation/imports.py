"""Writes for images brought in from outside (a team's existing library): validate, clean, store, record.

An imported file is never stored as it came: it is decoded in full (so a truncated or disguised file is
refused here, not at delivery time), turned upright, and re-encoded in its own format without EXIF, XMP
or comments, so camera serials and GPS positions never reach storage. Its colour profile is kept: it
is what makes the pixels mean the right colours, and delivery converts to sRGB from it.
"""

import hashlib
import io
import logging
import uuid
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from generation.models import Asset
from generation.signals import assets_created

__all__ = ["ImageImportError", "asset_import"]

logger = logging.getLogger(__name__)

# Pillow format -> (stored extension, Pillow writer). Anything else (GIF, TIFF, BMP, ...) becomes PNG,
# which keeps every pixel and any transparency.
_KEPT_FORMATS = {"JPEG": ("jpg", "JPEG"), "PNG": ("png", "PNG"), "WEBP": ("webp", "WEBP")}
_FALLBACK = ("png", "PNG")
# Modes each writer takes as they are; anything else is converted (to RGBA where there is transparency).
_WRITABLE_MODES = {
    "JPEG": {"L", "RGB", "CMYK"},
    "PNG": {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"},
    "WEBP": {"RGB", "RGBA"},
}
# An IPTC DigitalSourceType that a source file already declares must not be lost on the way in.
_AI_SOURCE_TYPE_MARK = b"trainedalgorithmicmedia"


class ImageImportError(ValueError):
    """The file cannot be imported; the message says why, fit to show an operator."""


@dataclass(frozen=True)
class _Cleaned:
    data: bytes
    extension: str
    width: int
    height: int
    ai_generated: bool


def asset_import(*, data: bytes, filename: str, user: AbstractBaseUser, campaign: str = "") -> Asset:
    """Validate and re-encode ``data``, store it under a server-generated key and create its asset.

    Raises :class:`ImageImportError` (and stores nothing) for non-images, damaged files and images over
    ``STUDIO_DELIVERY_MAX_SOURCE_PIXELS`` (counting every frame).
    """
    cleaned = _clean(data, filename)
    now = timezone.now()
    name = default_storage.save(
        f"imported/{now:%Y/%m}/{uuid.uuid4().hex}.{cleaned.extension}", ContentFile(cleaned.data)
    )
    try:
        with transaction.atomic():
            asset = Asset.objects.create(
                operation=Asset.Operation.IMPORT,
                created_by=user,
                file=name,
                content_hash=hashlib.sha256(cleaned.data).hexdigest(),
                format=cleaned.extension,
                width=cleaned.width,
                height=cleaned.height,
                byte_size=len(cleaned.data),
                ai_generated=cleaned.ai_generated,
                title=PurePath(filename).stem[:200],
                campaign=campaign.strip()[:200],
            )
            # Subscribers (review) treat an import like any new asset: it enters the review queue.
            transaction.on_commit(lambda: assets_created.send(sender=Asset, assets=[asset]))
    except Exception:
        default_storage.delete(name)  # no row, so the file would be an orphan
        raise
    return asset


def _clean(data: bytes, filename: str) -> _Cleaned:
    limit = settings.STUDIO_DELIVERY_MAX_SOURCE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own bomb threshold and twice that; the limit below decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                frames = getattr(image, "n_frames", 1)
                pixels = image.width * image.height * frames
                # Checked from the header, before a single pixel is decoded.
                if pixels > limit:
                    raise ImageImportError(
                        f"{filename}: {image.width}x{image.height} pixels over {frames} frame(s) is "
                        f"{pixels} pixels; the limit is {limit} (STUDIO_DELIVERY_MAX_SOURCE_PIXELS)"
                    )
                source_format = image.format or ""
                image.load()  # decode it all now: a damaged file fails here, not at delivery
                ai_generated = _declares_ai(image, data)
                # Animated sources keep their first frame, the one delivery renders.
                upright = ImageOps.exif_transpose(image)
    except ImageImportError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageImportError(f"{filename}: refused as a decompression bomb ({error})") from None
    except UnidentifiedImageError:
        raise ImageImportError(f"{filename}: not an image Studio can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageImportError(f"{filename}: the image is damaged or truncated ({error})") from None

    extension, writer = _KEPT_FORMATS.get(source_format, _FALLBACK)
    icc_profile = upright.info.get("icc_profile")
    transparent = _has_transparency(upright)
    if upright.mode not in _WRITABLE_MODES[writer]:
        upright = upright.convert("RGBA" if transparent else "RGB")
    # EXIF, XMP, comments and text chunks: none of it is written back. A palette's transparent index
    # is pixel data, not metadata.
    kept = upright.info.get("transparency") if upright.mode in {"P", "L", "RGB"} else None
    upright.info = {"transparency": kept} if kept is not None else {}
    options: dict = {"icc_profile": icc_profile} if icc_profile else {}
    if writer == "JPEG":
        # High quality: the file is the master every variant is rendered from.
        options.update(quality=92, optimize=True)
    elif writer == "WEBP":
        options.update(quality=92, method=4)
    else:
        options.update(optimize=False, compress_level=6)
    buffer = io.BytesIO()
    upright.save(buffer, format=writer, **options)
    return _Cleaned(
        data=buffer.getvalue(),
        extension=extension,
        width=upright.width,
        height=upright.height,
        ai_generated=ai_generated,
    )


def _declares_ai(image: Image.Image, data: bytes) -> bool:
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    # The raw scan also finds a packet Pillow does not surface (a PNG iTXt under another key).
    return _AI_SOURCE_TYPE_MARK in xmp.lower() or _AI_SOURCE_TYPE_MARK in data.lower()


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info
