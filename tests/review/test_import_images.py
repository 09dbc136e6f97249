import io
import os
import re
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from delivery.transformations import TransformationError, parse_delivery_path
from generation.models import Asset
from review.models import AssetReview, ReviewEvent, ReviewState
from review.public_ids import PublicIdError, check_public_id

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(size=(120, 80), orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PocketCam"  # Make
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, format="JPEG", exif=exif, quality=90)
    return buffer.getvalue()


def png_bomb(side: int = 60_000) -> bytes:
    """A few hundred bytes that claim side x side pixels: the header alone must get it refused."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (side + 1) * 4)  # a few rows of zeros; the rest is never read
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def stored_files() -> list[str]:
    _, folders = default_storage.listdir("")
    return folders


def read_stored(asset: Asset) -> bytes:
    with default_storage.open(asset.file.name, "rb") as handle:
        return handle.read()


def test_an_imported_jpeg_loses_its_gps_and_camera_exif(tmp_path, admin_user):
    path = write(tmp_path, "beach.jpg", jpeg_with_gps())
    call_command("import_images", str(path), "--campaign", "Summer", stdout=io.StringIO())
    asset = Asset.objects.get()
    data = read_stored(asset)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert not image.getexif().get_ifd(GPS_IFD)
        assert 0x010F not in image.getexif()
    assert b"PocketCam" not in data
    assert (asset.operation, asset.ai_generated, asset.format) == (Asset.Operation.IMPORT, False, "jpg")
    assert (asset.title, asset.campaign, asset.created_by) == ("beach", "Summer", admin_user)
    assert re.fullmatch(r"imported/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", asset.file.name)


def test_an_imported_photo_is_stored_upright(tmp_path, admin_user):
    path = write(tmp_path, "portrait.jpg", jpeg_with_gps(size=(120, 80), orientation=6))
    call_command("import_images", str(path), stdout=io.StringIO())
    asset = Asset.objects.get()
    assert (asset.width, asset.height) == (80, 120)
    with Image.open(io.BytesIO(read_stored(asset))) as image:
        assert image.size == (80, 120)
        assert ORIENTATION not in image.getexif(), "a second rotation by a viewer would turn it again"


def test_approve_with_a_public_id_makes_the_image_deliverable(client, tmp_path, admin_user, channel_presets):
    path = write(tmp_path, "hero.jpg", jpeg_with_gps(size=(400, 300)))
    out = io.StringIO()
    call_command("import_images", str(path), "--approve", "--public-id", "spring-hero", stdout=out)
    assert "approved as spring-hero" in out.getvalue()
    response = client.get("/image/upload/t_preview/spring-hero.jpg")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (320, 240)
    assert b"trainedAlgorithmicMedia" not in response.content, "an imported photo is not AI-generated"
    review = AssetReview.objects.get()
    assert (review.state, review.public_id) == (ReviewState.APPROVED, "spring-hero")
    events = list(ReviewEvent.objects.values_list("to_state", "actor"))
    assert events == [(ReviewState.IN_REVIEW, admin_user.pk), (ReviewState.APPROVED, admin_user.pk)]


def test_approve_by_a_named_reviewer_without_a_public_id_assigns_one(tmp_path, reviewer, channel_presets):
    path = write(tmp_path, "Spring Sale.png", _png())
    call_command("import_images", str(path), "--approve", "--user", "reviewer", stdout=io.StringIO())
    review = AssetReview.objects.get()
    assert review.state == ReviewState.APPROVED
    assert review.public_id.startswith("spring-sale-")
    assert review.asset.created_by == reviewer


def test_a_marketer_cannot_approve_on_import(tmp_path, marketer):
    path = write(tmp_path, "a.png", _png())
    with pytest.raises(CommandError, match="may not approve"):
        call_command("import_images", str(path), "--approve", "--user", "marketer")
    assert not Asset.objects.exists()


def test_without_approve_the_import_waits_in_the_review_queue(
    tmp_path, admin_user, django_capture_on_commit_callbacks
):
    path = write(tmp_path, "a.png", _png())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_images", str(path), stdout=io.StringIO())
    assert AssetReview.objects.get().state == ReviewState.IN_REVIEW


def test_a_text_file_is_refused_with_a_reason_and_creates_nothing(tmp_path, admin_user):
    path = write(tmp_path, "notes.jpg", b"these are not pixels\n")
    with pytest.raises(CommandError, match=r"notes\.jpg: not a JPEG, PNG or WebP image"):
        call_command("import_images", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Asset.objects.exists()
    assert stored_files() == []


def test_a_decompression_bomb_is_refused_and_creates_nothing(tmp_path, admin_user):
    path = write(tmp_path, "bomb.png", png_bomb())
    with pytest.raises(CommandError, match=r"bomb\.png: refused as a decompression bomb"):
        call_command("import_images", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Asset.objects.exists()
    assert stored_files() == []


def test_images_over_the_upload_pixel_limit_are_refused(tmp_path, admin_user, settings):
    settings.STUDIO_UPLOAD_MAX_PIXELS = 1000
    path = write(tmp_path, "big.png", _png(size=(64, 48)))
    with pytest.raises(CommandError, match="64x48 is 3,072 pixels, over the limit of 1,000"):
        call_command("import_images", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Asset.objects.exists()


def test_a_truncated_image_is_refused(tmp_path, admin_user):
    buffer = io.BytesIO()
    Image.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3)).save(buffer, format="JPEG")
    path = write(tmp_path, "cut.jpg", buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(CommandError, match=r"cut\.jpg: the image is damaged or truncated"):
        call_command("import_images", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Asset.objects.exists()


def test_a_taken_public_id_is_refused_before_anything_is_imported(tmp_path, admin_user, channel_presets):
    first = write(tmp_path, "one.png", _png())
    second = write(tmp_path, "two.png", _png())
    call_command("import_images", str(first), "--approve", "--public-id", "hero", stdout=io.StringIO())
    with pytest.raises(CommandError, match="'hero' is already taken"):
        call_command("import_images", str(second), "--approve", "--public-id", "hero")
    assert Asset.objects.count() == 1


@pytest.mark.parametrize("public_id", ["a/b", "hero.jpg", "", "x" * 121, "caf\u00e9", "../etc"])
def test_public_ids_the_grammar_cannot_serve_are_refused(tmp_path, admin_user, public_id):
    path = write(tmp_path, "a.png", _png())
    with pytest.raises(CommandError, match="Invalid public id"):
        call_command("import_images", str(path), "--approve", "--public-id", public_id)
    assert not Asset.objects.exists()


@pytest.mark.parametrize("public_id", ["hero", "Spring_Sale-2026", "v1", "x" * 120, "a/b", "a.b", "a b"])
def test_the_public_id_rule_agrees_with_the_delivery_grammar(public_id):
    try:
        parsed = parse_delivery_path(f"c_scale,w_10/{public_id}.jpg")
        grammar_accepts = parsed.public_id == public_id
    except TransformationError:
        grammar_accepts = False
    try:
        check_public_id(public_id, folders=False)
        rule_accepts = True
    except PublicIdError:
        rule_accepts = False
    assert rule_accepts == grammar_accepts


def test_a_public_id_needs_exactly_one_image_and_approve(tmp_path, admin_user):
    one, two = write(tmp_path, "1.png", _png()), write(tmp_path, "2.png", _png())
    with pytest.raises(CommandError, match="names one image"):
        call_command("import_images", str(one), str(two), "--approve", "--public-id", "hero")
    with pytest.raises(CommandError, match="add --approve"):
        call_command("import_images", str(one), "--public-id", "hero")


@pytest.mark.parametrize(
    ("name", "pillow_format", "mode", "stored_format"),
    [("a.png", "PNG", "RGBA", "png"), ("a.webp", "WEBP", "RGB", "webp"), ("a.jpg", "JPEG", "L", "jpg")],
)
def test_images_keep_their_own_format(tmp_path, admin_user, name, pillow_format, mode, stored_format):
    buffer = io.BytesIO()
    Image.new(mode, (40, 30)).save(buffer, format=pillow_format)
    call_command("import_images", str(write(tmp_path, name, buffer.getvalue())), stdout=io.StringIO())
    asset = Asset.objects.get()
    assert asset.format == stored_format
    with Image.open(io.BytesIO(read_stored(asset))) as image:
        assert image.format == pillow_format
        assert image.size == (40, 30)


@pytest.mark.parametrize(("name", "pillow_format"), [("a.gif", "GIF"), ("a.tiff", "TIFF"), ("a.bmp", "BMP")])
def test_formats_other_than_jpeg_png_and_webp_are_refused_by_name(tmp_path, admin_user, name, pillow_format):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, format=pillow_format)
    path = write(tmp_path, name, buffer.getvalue())
    refusal = rf"{name}: not a JPEG, PNG or WebP image \(it is a {pillow_format} file\)"
    with pytest.raises(CommandError, match=refusal):
        call_command("import_images", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Asset.objects.exists()


def test_a_folder_is_imported_file_by_file_and_bad_files_are_reported(tmp_path, admin_user):
    folder = tmp_path / "library"
    folder.mkdir()
    write(folder, "good.png", _png())
    write(folder, "readme.txt", b"hello")
    with pytest.raises(CommandError, match=r"1 of 2 file\(s\) not imported: .*readme.txt: not a JPEG, PNG"):
        call_command("import_images", str(folder), stdout=io.StringIO(), stderr=io.StringIO())
    assert Asset.objects.get().title == "good"


def test_an_ai_disclosure_in_the_source_is_kept(tmp_path, admin_user):
    from generation.imagefile import encode_png

    data = encode_png(Image.new("RGB", (32, 32)), {"prompt": "an apple"}).data
    call_command("import_images", str(write(tmp_path, "gen.png", data)), stdout=io.StringIO())
    asset = Asset.objects.get()
    assert asset.ai_generated, "delivery writes the IPTC mark on every variant of it"
    assert b"an apple" not in read_stored(asset), "the text chunks themselves are stripped"


def _png(size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()
