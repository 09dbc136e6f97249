"""Writes for images brought in from outside (a browser upload, a team's library): validate, clean, store.

One code path for both ``manage.py import_images`` and the Upload page. A file is never stored as it came:
only the JPEG, PNG and WebP decoders ever see its bytes (the format is read from the content, not the
name); its size is bounded in bytes and, from the header before any pixel is decoded, in pixels; it is
then decoded in full (so a truncated or disguised file is refused here, not at delivery time), turned
upright, brought to 8-bit L, RGB or RGBA, and re-encoded in its own format without EXIF, XMP, comments or
text chunks, so camera serials and GPS positions never reach storage. Two things survive: the colour
profile, which is what makes the pixels mean the right colours (delivery converts to sRGB from it), and
an AI-disclosure mark the source already declared. C2PA content credentials cannot survive the re-encoding
(their hash covers the original bytes), so a file that carries them is stored signed by Studio with the
original, manifest and all, as its ingredient.
"""

import hashlib
import io
import logging
import struct
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from generation import credentials
from generation.disclosure import declared_source_type, disclosure_xmp
from generation.models import Asset
from generation.signals import assets_created
from generation.storage import storage_key, stored_files
from studio.teams import team_for_new_work

__all__ = ["ImageImportError", "asset_import", "check_byte_size"]

logger = logging.getLogger(__name__)

# Detected format -> (stored extension, Pillow writer). MPO is how Pillow reads a JPEG carrying extra
# images (a phone's Ultra HDR gain map, a depth map): it is a JPEG photo, stored as its primary image.
_ACCEPTED_FORMATS = {
    "JPEG": ("jpg", "JPEG"),
    "MPO": ("jpg", "JPEG"),
    "PNG": ("png", "PNG"),
    "WEBP": ("webp", "WEBP"),
}
# Only these decoders are offered the bytes, so no other Pillow parser runs on an untrusted file.
_DECODERS = ["JPEG", "PNG", "WEBP"]
# Signatures of formats people commonly try instead, to name them in the refusal.
_OTHER_FORMATS = [
    (0, b"GIF8", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"BM", "BMP"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
]
# What each writer takes; every stored master is 8-bit L, RGB or RGBA.
_WRITABLE_MODES = {"JPEG": {"L", "RGB"}, "PNG": {"L", "RGB", "RGBA"}, "WEBP": {"RGB", "RGBA"}}
# An ICC profile names its colour space in bytes 16-19; it is kept only if it describes the stored pixels.
_PROFILE_SPACES = {"L": b"GRAY", "RGB": b"RGB ", "RGBA": b"RGB "}
# What Pillow raises on a damaged or truncated file, from the header parsers to the decoders.
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_STORAGE_FOLDERS = {Asset.Operation.IMPORT: "imported", Asset.Operation.UPLOAD: "uploaded"}


class ImageImportError(ValueError):
    """The file cannot be imported; the message names the file and says why, fit to show its owner."""


@dataclass(frozen=True)
class _Cleaned:
    data: bytes
    extension: str
    width: int
    height: int
    ai_generated: bool


def check_byte_size(*, filename: str, byte_size: int | None) -> None:
    """Refuse an empty file or one over ``STUDIO_UPLOAD_MAX_BYTES``.

    Callers holding an upload call this with its declared size (None: not declared) before reading it into
    memory; :func:`asset_import` calls it again on the bytes it is given.
    """
    limit = settings.STUDIO_UPLOAD_MAX_BYTES
    if byte_size == 0:
        raise ImageImportError(f"{filename}: empty file")
    if byte_size is not None and byte_size > limit:
        raise ImageImportError(f"{filename}: {_bytes(byte_size)} is over the limit of {_bytes(limit)}")


def asset_import(
    *,
    data: bytes,
    filename: str,
    user: User,
    campaign: str = "",
    product: str = "",
    operation: Asset.Operation = Asset.Operation.IMPORT,
    team_id: int | None = None,
) -> Asset:
    """Validate and re-encode ``data``, store it under a server-generated key and create its asset.

    ``operation`` is IMPORT (the command) or UPLOAD (the browser). Raises :class:`ImageImportError`, and
    stores nothing, for anything but a readable still JPEG, PNG or WebP within ``STUDIO_UPLOAD_MAX_BYTES``
    and ``STUDIO_UPLOAD_MAX_PIXELS``. The asset belongs to the team ``team_id`` (one of the user's: else
    studio.teams.TeamChoiceError), by default the user's first.
    """
    team = team_for_new_work(user=user, team_id=team_id)
    folder = _STORAGE_FOLDERS[operation]
    cleaned = _clean(data, filename)
    stored = _keep_credentials(data, cleaned, filename)
    key = storage_key(folder=folder, extension=cleaned.extension)
    with stored_files([(key, stored)]) as [name], transaction.atomic():
        asset = Asset.objects.create(
            operation=operation,
            created_by=user,
            team=team,
            file=name,
            content_hash=hashlib.sha256(stored).hexdigest(),
            format=cleaned.extension,
            width=cleaned.width,
            height=cleaned.height,
            byte_size=len(stored),
            ai_generated=cleaned.ai_generated,
            rights_source=Asset.RightsSource.OWNED,
            title=_title_from(filename),
            campaign=campaign.strip()[:200],
            product=product.strip()[:200],
        )
        # Subscribers (review) treat it like any new asset: it enters the review queue, in this same
        # transaction, so a failing receiver rolls the row back (and stored_files deletes the file).
        assets_created.send(sender=Asset, assets=[asset])
    return asset


def _keep_credentials(original: bytes, cleaned: _Cleaned, filename: str) -> bytes:
    """The cleaned file, signed with the original as its ingredient when the original carries C2PA
    credentials (the cleaning would otherwise drop them): see credentials.keep_upload_credentials."""
    try:
        return credentials.keep_upload_credentials(
            original=original,
            cleaned=cleaned.data,
            format=cleaned.extension,
            title=f"upload.{cleaned.extension}",
        )
    except credentials.CredentialsError as error:
        # Storing it without them would silently lose the provenance it came with.
        logger.exception("Upload %r: its content credentials could not be kept", filename)
        raise ImageImportError(f"{filename}: its content credentials could not be kept ({error})") from None


def _title_from(filename: str) -> str:
    """The file's name without its extension, minus control and invisible format characters: a
    right-to-left override would make "invoice\u202egnp.exe" read as "invoiceexe.png" wherever it is shown."""
    stem = PurePath(filename).stem
    return "".join(char for char in stem if unicodedata.category(char) not in {"Cc", "Cf"})[:200]


def _clean(data: bytes, filename: str) -> _Cleaned:
    check_byte_size(filename=filename, byte_size=len(data))
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own bomb threshold and twice that; the pixel limit decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_DECODERS) as image:
                _check_header(image, filename)
                image.load()  # decode it all now: a damaged file fails here, not at delivery
                source_format = image.format or ""
                icc_profile = image.info.get("icc_profile")
                ai_source_type = _declared_source_type(image, data)
                stored = _eight_bit(ImageOps.exif_transpose(image))
    except ImageImportError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageImportError(f"{filename}: refused as a decompression bomb ({error})") from None
    except UnidentifiedImageError:
        raise ImageImportError(f"{filename}: not a JPEG, PNG or WebP image{_named_format(data)}") from None
    except _DAMAGED as error:
        raise ImageImportError(f"{filename}: the image is damaged or truncated ({error})") from None

    extension, writer = _ACCEPTED_FORMATS[source_format]
    if stored.mode not in _WRITABLE_MODES[writer]:
        stored = stored.convert("RGB")  # only WebP, which has no greyscale
    profile = icc_profile if icc_profile and icc_profile[16:20] == _PROFILE_SPACES[stored.mode] else None
    # EXIF, XMP, comments and text chunks ride along in info, and some writers copy them from there.
    stored.info = {}
    return _Cleaned(
        data=_encode(stored, writer, icc_profile=profile, ai_source_type=ai_source_type),
        extension=extension,
        width=stored.width,
        height=stored.height,
        ai_generated=ai_source_type is not None,
    )


def _check_header(image: Image.Image, filename: str) -> None:
    """Refuse from the header alone, before a single pixel is decoded."""
    limit = settings.STUDIO_UPLOAD_MAX_PIXELS
    frames = getattr(image, "n_frames", 1)
    # Every frame of an animation would be decoded, so each counts; an MPO's extra images never are.
    counted = 1 if image.format == "MPO" else frames
    pixels = image.width * image.height * counted
    if pixels > limit:
        size = f"{image.width}x{image.height}" + (f" x {counted} frames" if counted > 1 else "")
        raise ImageImportError(f"{filename}: {size} is {pixels:,} pixels, over the limit of {limit:,}")
    if counted > 1:
        # A master is one still image: delivery renders a single frame, and silently keeping the first
        # would store something other than what the owner sees play.
        raise ImageImportError(f"{filename}: an animated image ({frames} frames); upload a still image")


def _eight_bit(image: Image.Image) -> Image.Image:
    """The same picture as 8-bit L, RGB or RGBA: what every writer and delivery's renderer take."""
    if image.mode == "CMYK":
        return _cmyk_to_rgb(image)
    if image.mode in {"I", "I;16", "I;16B", "I;16L"}:
        # 16-bit greyscale: scale 0-65535 onto 0-255 (rounded) first; convert("L") alone would clip
        # everything over 255 to white.
        return image.convert("I").point(lambda value: value / 257 + 0.5).convert("L")
    if "transparency" in image.info or image.mode in {"LA", "PA", "La", "RGBa"}:
        return image.convert("RGBA")
    if image.mode in {"L", "RGB", "RGBA"}:
        return image
    return image.convert("L" if image.mode == "1" else "RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """Print colours to screen colours: through the file's own profile when it has a usable one."""
    profile = image.info.get("icc_profile")
    if profile:
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), _srgb_profile(), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError) as error:
            logger.info("CMYK profile not usable (%s); converting without it", error)
        else:
            if converted is not None:
                return converted
    return image.convert("RGB")


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _encode(
    image: Image.Image, writer: str, *, icc_profile: bytes | None, ai_source_type: str | None
) -> bytes:
    # High quality: the file is the master every variant is rendered from.
    options: dict = {
        "JPEG": {"quality": 92, "optimize": True},
        "WEBP": {"quality": 92, "method": 4},
        "PNG": {"optimize": False, "compress_level": 6},
    }[writer]
    if icc_profile:
        options["icc_profile"] = icc_profile
    if ai_source_type is not None:
        # The type the file declared (a composite stays a composite), where encode_png puts it too.
        xmp = disclosure_xmp(ai_source_type)
        if writer == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode())
            options["pnginfo"] = info
        else:
            options["xmp"] = xmp
    buffer = io.BytesIO()
    image.save(buffer, format=writer, **options)
    return buffer.getvalue()


def _declared_source_type(image: Image.Image, data: bytes) -> str | None:
    """The AI DigitalSourceType the file declares: a mark it carries must not be lost on the way in."""
    # Pillow surfaces XMP and (decompressed) PNG text in info; the raw scan finds a packet it does not.
    for value in image.info.values():
        text = value.encode("utf-8", "replace") if isinstance(value, str) else value
        if isinstance(text, bytes) and (source_type := declared_source_type(text)):
            return source_type
    return declared_source_type(data)


def _named_format(data: bytes) -> str:
    for offset, signature, name in _OTHER_FORMATS:
        if data[offset : offset + len(signature)] == signature:
            return f" (it is a {name} file)"
    return ""


def _bytes(byte_size: int) -> str:
    mebibyte = 1024 * 1024
    return f"{byte_size / mebibyte:.1f} MiB" if byte_size >= mebibyte else f"{byte_size:,} bytes"
