"""The Upload page and the validation it shares with ``manage.py import_images`` (generation.asset_imports).

Every hostile or awkward file is built here, in memory: nothing is checked in.
"""

import io
import os
import re
import struct
import zlib

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageChops, ImageCms, PngImagePlugin

from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA, disclosure_xmp
from generation.imagefile import encode_png
from generation.models import Asset

UPLOAD_URL = "/upload/"
GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112
RED, BLUE = (220, 20, 20), (20, 20, 220)


# --- Building files -------------------------------------------------------------------------------------


def encoded(image: Image.Image, pillow_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, **options)
    return buffer.getvalue()


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "PocketCam"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return exif


def photo(pillow_format: str, size=(64, 48)) -> bytes:
    """A file straight off a phone: EXIF with the camera model and a GPS position, and a comment or text."""
    image = Image.new("RGB", size, RED)
    if pillow_format == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "shot at home")
        return encoded(image, "PNG", exif=camera_exif(), pnginfo=text)
    if pillow_format == "JPEG":
        return encoded(image, "JPEG", exif=camera_exif(), comment=b"shot at home", quality=95)
    return encoded(image, pillow_format, exif=camera_exif())


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height pixels; only a few rows are really there."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    noise = Image.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3))
    data = encoded(noise, "JPEG")
    return data[: len(data) // 2]


def animation(pillow_format: str, size=(40, 30), frames: int = 2) -> bytes:
    first, *rest = [Image.new("RGB", size, (i * 60, 0, 0)) for i in range(frames)]
    return encoded(first, pillow_format, save_all=True, append_images=rest, duration=100)


def cmyk_profile_mapping_everything_to_red() -> bytes:
    """A minimal ICC v2 CMYK profile whose A2B tables send every ink mix without black to sRGB red (and full
    black to black): an upload converted through it comes out red where a plain conversion gives white."""

    def s15_fixed16(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    red_xyz = [round(c * 32768) for c in (0.4361, 0.2225, 0.0139)]  # sRGB red, D50, u1Fixed15
    lut = b"mft2" + bytes(4) + bytes([4, 3, 2, 0])  # CMYK in, XYZ out, 2 grid points per channel
    lut += b"".join(s15_fixed16(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut += struct.pack(">HH", 2, 2) + struct.pack(">HH", 0, 65535) * 4
    lut += (struct.pack(">HHH", *red_xyz) + struct.pack(">HHH", 0, 0, 0)) * 8  # K is the fastest axis
    lut += struct.pack(">HH", 0, 65535) * 3
    white = b"XYZ " + bytes(4) + s15_fixed16(0.9642) + s15_fixed16(1.0) + s15_fixed16(0.8249)
    tags = [(b"A2B0", lut), (b"A2B1", lut), (b"wtpt", white)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = struct.pack(">I", offset + len(body)) + bytes(4) + struct.pack(">I", 0x02100000)
    header += b"prtrCMYKXYZ " + bytes(12) + b"acsp" + bytes(28) + white[8:] + bytes(48)
    return header + table + body


# --- Talking to the page --------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, marketer):
    client.force_login(marketer)
    return client


def upload(client, name: str, data: bytes, **fields):
    """What upload.js does: one file, JSON back."""
    file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post(UPLOAD_URL, {"files": file, **fields}, HTTP_ACCEPT="application/json")


def stored_files() -> list:
    return [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()]


def stored_image(asset: Asset) -> Image.Image:
    with asset.file.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def stored_bytes(asset: Asset) -> bytes:
    with asset.file.open("rb") as handle:
        return handle.read()


def near(colour, expected, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# --- Hostile and broken files ---------------------------------------------------------------------------

HOSTILE = [
    pytest.param("empty.jpg", lambda: b"", "empty file", id="zero-bytes"),
    pytest.param("notes.png", lambda: b"campaign ideas\n", "not a JPEG, PNG or WebP image", id="text-as-png"),
    pytest.param("cut.jpg", truncated_jpeg, "the image is damaged or truncated", id="truncated-jpeg"),
    pytest.param(
        "huge.png",
        lambda: png_claiming(30_000, 30_000),
        "refused as a decompression bomb",
        id="30000x30000-png",
    ),
    pytest.param("moving.png", lambda: animation("PNG"), r"an animated image \(2 frames\)", id="apng"),
    pytest.param(
        "moving.webp", lambda: animation("WEBP"), r"an animated image \(2 frames\)", id="animated-webp"
    ),
    pytest.param("moving.gif", lambda: animation("GIF"), r"\(it is a GIF file\)", id="animated-gif"),
    pytest.param(
        "scan.tiff", lambda: encoded(Image.new("RGB", (8, 8)), "TIFF"), r"\(it is a TIFF file\)", id="tiff"
    ),
]


@pytest.mark.parametrize(("name", "build", "reason"), HOSTILE)
def test_a_hostile_or_broken_file_is_refused_by_name_and_nothing_is_stored(signed_in, name, build, reason):
    response = upload(signed_in, name, build())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith(f"{name}: ")
    assert re.search(reason, error), error
    assert not Asset.objects.exists()
    assert stored_files() == []


def test_a_header_over_the_default_pixel_limit_is_refused_before_decoding(signed_in):
    # 64 MP: under Pillow's own bomb threshold, so only Studio's limit stands in the way.
    response = upload(signed_in, "poster.png", png_claiming(8000, 8000))
    assert response.status_code == 400
    assert (
        response.json()["error"] == "poster.png: 8000x8000 is 64,000,000 pixels, over the limit of 50,000,000"
    )
    assert stored_files() == []


def test_the_pixel_limit_comes_from_settings_and_counts_every_frame(signed_in, settings):
    settings.STUDIO_UPLOAD_MAX_PIXELS = 1000
    response = upload(signed_in, "loop.png", animation("PNG", size=(30, 20), frames=2))
    assert response.json()["error"] == "loop.png: 30x20 x 2 frames is 1,200 pixels, over the limit of 1,000"
    still = upload(signed_in, "still.png", encoded(Image.new("RGB", (30, 20)), "PNG"))
    assert still.status_code == 201


def test_the_byte_limit_comes_from_settings_and_is_checked_before_the_content(signed_in, settings):
    settings.STUDIO_UPLOAD_MAX_BYTES = 1000
    response = upload(signed_in, "notes.png", b"x" * 1001)
    assert response.status_code == 400
    assert response.json()["error"] == "notes.png: 1,001 bytes is over the limit of 1,000 bytes"
    assert upload(signed_in, "small.png", encoded(Image.new("L", (8, 8)), "PNG")).status_code == 201


# --- Good files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pillow_format", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
def test_a_photo_is_uploaded_as_a_new_asset_without_its_camera_metadata(
    signed_in, marketer, pillow_format, extension, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            signed_in, f"beach.{extension}", photo(pillow_format), campaign="Summer", product="Mug"
        )
    assert response.status_code == 201, response.content
    asset = Asset.objects.get()
    assert response.json() == {
        "id": asset.pk,
        "name": f"beach.{extension}",
        "width": 64,
        "height": 48,
        "asset_url": f"/review/assets/{asset.pk}/",
        "thumbnail_url": f"/assets/{asset.pk}/file/",
    }
    assert (asset.operation, asset.ai_generated, asset.format) == (Asset.Operation.UPLOAD, False, extension)
    assert (asset.title, asset.campaign, asset.product, asset.created_by) == (
        "beach",
        "Summer",
        "Mug",
        marketer,
    )
    assert asset.file.name.startswith("uploaded/") and asset.file.name.endswith(f".{extension}")
    image = stored_image(asset)
    assert image.format == pillow_format
    assert not image.getexif(), "no EXIF at all: no GPS, no camera, no orientation to apply twice"
    data = stored_bytes(asset)
    assert b"PocketCam" not in data and b"shot at home" not in data
    assert asset.review.state == "in_review", "an upload enters the review queue like any new asset"


def test_a_file_named_png_that_is_really_a_jpeg_is_stored_as_a_jpeg(signed_in):
    response = upload(signed_in, "logo.png", encoded(Image.new("RGB", (32, 32), RED), "JPEG"))
    assert response.status_code == 201
    asset = Asset.objects.get()
    assert asset.format == "jpg" and asset.file.name.endswith(".jpg")
    assert stored_image(asset).format == "JPEG"


@pytest.mark.parametrize("pillow_format", ["PNG", "JPEG", "WEBP"])
def test_a_declared_ai_disclosure_is_kept_and_everything_else_dropped(signed_in, pillow_format):
    image = Image.new("RGB", (32, 32), BLUE)
    if pillow_format == "PNG":
        data = encode_png(image, {"prompt": "an apple"}).data  # Studio's own output: XMP plus parameters
    else:
        data = encoded(image, pillow_format, xmp=disclosure_xmp(), exif=camera_exif())
    response = upload(signed_in, f"generated.{pillow_format.lower()}", data)
    assert response.status_code == 201
    asset = Asset.objects.get()
    assert asset.ai_generated
    stored = stored_image(asset)
    xmp = stored.info.get("xmp") or stored.info.get("XML:com.adobe.xmp")
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert TRAINED_ALGORITHMIC_MEDIA in xmp
    assert b"an apple" not in stored_bytes(asset) and not stored.getexif()


# The EXIF orientations, as the standard states them: how the stored pixels must be turned to be upright.
# Each photo is built by undoing that on an upright picture, so the test does not lean on Pillow's table.
UNDO_ORIENTATION = {
    1: [],
    2: [Image.Transpose.FLIP_LEFT_RIGHT],  # mirrored
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.ROTATE_270, Image.Transpose.FLIP_LEFT_RIGHT],  # mirrored, then turned 270 clockwise
    6: [Image.Transpose.ROTATE_90],  # shown after turning 90 clockwise; ROTATE_90 is anticlockwise
    7: [Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT],  # mirrored, then turned 90 clockwise
    8: [Image.Transpose.ROTATE_270],
}


@pytest.mark.parametrize("orientation", sorted(UNDO_ORIENTATION))
def test_every_exif_orientation_is_stored_upright(signed_in, orientation):
    upright = Image.new("RGB", (60, 40), BLUE)  # landscape, with only its top-left corner red
    upright.paste(RED, (0, 0, 30, 20))
    raw = upright
    for step in UNDO_ORIENTATION[orientation]:
        raw = raw.transpose(step)
    response = upload(
        signed_in, f"turned-{orientation}.jpg", encoded(raw, "JPEG", exif=camera_exif(orientation))
    )
    assert response.status_code == 201
    assert (response.json()["width"], response.json()["height"]) == (60, 40)
    stored = stored_image(Asset.objects.get())
    assert stored.size == (60, 40)
    assert near(stored.getpixel((10, 8)), RED), "top left"
    for corner in [(50, 8), (10, 32), (50, 32)]:
        assert near(stored.getpixel(corner), BLUE), corner
    assert ORIENTATION not in stored.getexif()


def test_a_cmyk_jpeg_without_a_profile_is_stored_as_rgb(signed_in):
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # full magenta and yellow: red
    assert upload(signed_in, "print.jpg", encoded(cmyk, "JPEG", quality=95)).status_code == 201
    stored = stored_image(Asset.objects.get())
    assert (stored.format, stored.mode) == ("JPEG", "RGB")
    assert near(stored.getpixel((16, 16)), (255, 0, 0))


def test_a_cmyk_jpeg_is_converted_through_its_own_profile(signed_in):
    blank = Image.new("CMYK", (32, 32), (0, 0, 0, 0))  # no ink: white, unless the profile says otherwise
    data = encoded(blank, "JPEG", quality=95, icc_profile=cmyk_profile_mapping_everything_to_red())
    assert upload(signed_in, "print.jpg", data).status_code == 201
    stored = stored_image(Asset.objects.get())
    assert stored.mode == "RGB"
    assert near(stored.getpixel((16, 16)), (255, 0, 0)), stored.getpixel((16, 16))
    assert "icc_profile" not in stored.info, "the pixels are sRGB now; a CMYK profile would misdescribe them"


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped(signed_in):
    grey = Image.new("I;16", (16, 16), 32768)
    grey.paste(65535, (0, 0, 8, 16))
    assert upload(signed_in, "scan.png", encoded(grey, "PNG")).status_code == 201
    stored = stored_image(Asset.objects.get())
    assert stored.mode == "L"
    assert stored.getpixel((12, 8)) == 128, "mid-grey stays mid-grey"
    assert stored.getpixel((4, 8)) == 255


@pytest.mark.parametrize(
    ("mode", "pillow_format", "stored_mode"),
    [
        ("P", "PNG", "RGB"),
        ("LA", "PNG", "RGBA"),
        ("1", "PNG", "L"),
        ("L", "WEBP", "RGB"),
        ("RGBA", "WEBP", "RGBA"),
    ],
)
def test_every_stored_master_is_8_bit_l_rgb_or_rgba(signed_in, mode, pillow_format, stored_mode):
    source = Image.new(mode, (16, 16))
    assert upload(signed_in, "a.img", encoded(source, pillow_format)).status_code == 201
    stored = stored_image(Asset.objects.get())
    assert stored.mode == stored_mode
    assert not ImageChops.difference(stored.convert("RGB"), source.convert("RGB")).getbbox()


def test_a_palette_png_keeps_its_transparency(signed_in):
    source = Image.new("P", (16, 16), 1)
    source.putpalette([0, 0, 0, 255, 0, 0])
    assert upload(signed_in, "icon.png", encoded(source, "PNG", transparency=1)).status_code == 201
    stored = stored_image(Asset.objects.get())
    assert stored.mode == "RGBA" and stored.getpixel((4, 4))[3] == 0


# --- The page -------------------------------------------------------------------------------------------


def test_the_page_offers_a_drop_zone_and_a_file_picker(signed_in):
    response = signed_in.get(UPLOAD_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Drop images here or choose files" in page
    assert 'multiple accept="image/jpeg,image/png,image/webp"' in page
    assert 'name="campaign"' in page and 'name="product"' in page
    assert "upload.js" in page
    assert 'href="/upload/"' in page, "the nav links to it"


def test_without_script_the_form_posts_several_files_and_lists_each_result(signed_in):
    files = [
        SimpleUploadedFile("good.png", encoded(Image.new("RGB", (20, 10)), "PNG")),
        SimpleUploadedFile("notes.png", b"not pixels"),
    ]
    response = signed_in.post(UPLOAD_URL, {"files": files, "campaign": "Spring"})
    assert response.status_code == 400, "one file was refused"
    page = response.content.decode()
    asset = Asset.objects.get()
    assert (asset.title, asset.campaign) == ("good", "Spring")
    assert f'href="/review/assets/{asset.pk}/"' in page and "uploaded, 20 x 10 px" in page
    assert "notes.png: not a JPEG, PNG or WebP image" in page


def test_without_script_all_good_files_give_a_plain_page(signed_in):
    files = [SimpleUploadedFile(f"{n}.png", encoded(Image.new("RGB", (20, 10)), "PNG")) for n in "ab"]
    response = signed_in.post(UPLOAD_URL, {"files": files})
    assert response.status_code == 200
    assert Asset.objects.count() == 2


def test_a_post_without_a_file_is_a_bad_request(signed_in):
    response = signed_in.post(UPLOAD_URL, {}, HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Choose one or more JPEG, PNG or WebP files."},
    )
    page = signed_in.post(UPLOAD_URL, {})
    assert page.status_code == 400 and b"Choose one or more JPEG, PNG or WebP files." in page.content


def test_a_signed_out_visitor_is_sent_to_log_in(client, db):
    response = client.get(UPLOAD_URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(UPLOAD_URL, {}).status_code == 302
    assert not Asset.objects.exists()


def test_a_reviewer_may_not_upload(client, reviewer):
    client.force_login(reviewer)
    assert client.get(UPLOAD_URL).status_code == 403
    response = upload(client, "a.png", encoded(Image.new("RGB", (8, 8)), "PNG"))
    assert response.status_code == 403
    assert not Asset.objects.exists()


def test_a_jpeg_carrying_a_second_image_is_stored_as_its_primary_picture(signed_in):
    # Phones write Ultra HDR gain maps and depth maps as extra images (MPO): a still photo, not an animation.
    primary, gain_map = Image.new("RGB", (64, 48), RED), Image.new("L", (16, 12), 128)
    response = upload(
        signed_in, "pixel.jpg", encoded(primary, "MPO", save_all=True, append_images=[gain_map])
    )
    assert response.status_code == 201, response.content
    stored = stored_image(Asset.objects.get())
    assert (stored.format, stored.size, getattr(stored, "n_frames", 1)) == ("JPEG", (64, 48), 1)


def test_an_rgb_colour_profile_is_kept(signed_in):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(Image.new("RGB", (16, 16), RED), "PNG", icc_profile=profile)
    assert upload(signed_in, "brand.png", data).status_code == 201
    assert stored_image(Asset.objects.get()).info["icc_profile"] == profile
