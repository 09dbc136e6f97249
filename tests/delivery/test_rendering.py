"""The renderer: Cloudinary's crop/resize/pad semantics on tiny in-memory images, formats, metadata,
limits."""

import io
import struct
import zlib
from collections.abc import Callable

import pytest
import pyvips
from PIL import Image, ImageDraw, ImageFilter

from delivery import rendering
from delivery.geometry import RenderLimitError, RenderLimits, SourceInfo
from delivery.negotiation import FormatChoice, choose_format
from delivery.rendering import RenderedImage, SourceImageError, probe, render
from delivery.transformations import parse_delivery_path
from generation.disclosure import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    declared_source_type,
    disclosure_xmp,
)

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
CYAN, WHITE = (0, 255, 255), (255, 255, 255)


def quadrants(width: int = 200, height: int = 100, fmt: str = "PNG") -> bytes:
    """Top-left red, top-right green, bottom-left blue, bottom-right yellow."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    for box, colour in (
        ((0, 0, half_w, half_h), RED),
        ((half_w, 0, width, half_h), GREEN),
        ((0, half_h, half_w, height), BLUE),
        ((half_w, half_h, width, height), YELLOW),
    ):
        image.paste(colour, box)
    return encode(image, fmt)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def run(path: str, source: bytes, **kwargs: object) -> RenderedImage:
    request = parse_delivery_path(path)
    kwargs.setdefault("output_format", request.requested_format)
    return render(source, request.components, **kwargs)  # type: ignore[arg-type]


def pixels(result: RenderedImage) -> Image.Image:
    image = Image.open(io.BytesIO(result.data))
    assert image.size == (result.width, result.height)
    return image.convert("RGBA")


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=False))


# --- output sizes of every mode (source 200x100) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("transformation", "size"),
    [
        ("c_scale,w_100", (100, 50)),
        ("c_scale,w_50,h_50", (50, 50)),  # scale distorts when both sides are given
        ("c_scale,h_0.5", (100, 50)),
        ("w_400", (400, 200)),  # scale may enlarge
        ("c_fit,w_50,h_50", (50, 25)),
        ("c_fit,w_400,h_400", (400, 200)),  # fit may enlarge
        ("c_limit,w_400,h_400", (200, 100)),  # limit never enlarges
        ("c_limit,w_100", (100, 50)),
        ("c_mfit,w_400,h_400", (400, 200)),  # mfit enlarges to fit
        ("c_mfit,w_100,h_100", (200, 100)),  # but never shrinks
        ("c_fill,w_50,h_50", (50, 50)),
        ("c_fill,w_400,h_50", (400, 50)),  # fill may enlarge
        ("c_lfill,w_400,h_50", (200, 50)),  # lfill does not: the box is clamped to the image
        ("c_lfill,w_100,h_100", (100, 100)),
        ("c_pad,w_100,h_100", (100, 100)),
        ("c_pad,w_400,h_400", (400, 400)),
        ("c_lpad,w_400,h_400", (400, 400)),
        ("c_mpad,w_300,h_300", (300, 300)),
        ("c_mpad,w_100,h_100", (200, 100)),  # larger than the box: left alone
        ("c_crop,w_50,h_50", (50, 50)),
        ("c_crop,w_500,h_50", (200, 50)),  # a crop cannot be wider than the image
        ("c_crop,h_40", (200, 40)),
        ("c_thumb,w_30,h_30", (30, 30)),
        ("c_thumb,w_30,h_30,g_face", (30, 30)),  # no face: behaves like fill
        ("c_scale,w_50,dpr_2.0", (100, 50)),
        ("c_fill,w_100,ar_2:1", (100, 50)),
        ("c_fill,ar_1:1", (100, 100)),  # ar alone: the largest box of that shape
        ("c_pad,ar_1:1", (200, 200)),  # ...or the smallest around the image for pads
        ("c_fill,w_100,h_100/c_scale,w_0.5", (50, 50)),  # chained: fractions of the previous result
        ("f_png", (200, 100)),
    ],
)
def test_each_crop_mode_makes_the_size_it_promises(transformation: str, size: tuple[int, int]) -> None:
    result = run(f"{transformation}/a.png", quadrants())
    assert (result.width, result.height) == size
    assert Image.open(io.BytesIO(result.data)).size == size


# --- what is kept, cropped and padded ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gravity", "top", "bottom"),
    [("west", RED, BLUE), ("east", GREEN, YELLOW), ("", RED, BLUE)],
)
def test_fill_keeps_the_side_the_gravity_names(gravity: str, top: tuple, bottom: tuple) -> None:
    # 200x100 -> 100x50, then a 50x50 window: west half is red over blue, east half green over yellow.
    g = f",g_{gravity}" if gravity else ""
    image = pixels(run(f"c_fill,w_50,h_50{g}/a.png", quadrants()))
    if not gravity:
        # center straddles the middle: left of the window is red/blue, right is green/yellow
        assert near(image.getpixel((5, 12)), RED) and near(image.getpixel((45, 12)), GREEN)
        return
    assert near(image.getpixel((25, 12)), top)
    assert near(image.getpixel((25, 37)), bottom)


@pytest.mark.parametrize(("gravity", "left", "right"), [("north", RED, GREEN), ("south", BLUE, YELLOW)])
def test_fill_on_a_tall_image_keeps_north_or_south(gravity: str, left: tuple, right: tuple) -> None:
    image = pixels(run(f"c_fill,w_50,h_50,g_{gravity}/a.png", quadrants(100, 200)))
    assert near(image.getpixel((12, 25)), left)
    assert near(image.getpixel((37, 25)), right)


@pytest.mark.parametrize(
    ("transformation", "colour"),
    [
        ("c_crop,w_50,h_50,g_north_west", RED),
        ("c_crop,w_50,h_50,g_north_east", GREEN),
        ("c_crop,w_50,h_50,g_south_west", BLUE),
        ("c_crop,w_50,h_50,g_south_east", YELLOW),
        ("c_crop,w_10,h_10,x_120,y_10", GREEN),  # plain x/y: the top-left corner
        ("c_crop,w_10,h_10,x_0,y_0", RED),
        ("c_crop,w_10,h_10,x_190,y_90", YELLOW),
        ("c_crop,w_20,h_20,g_south_east,x_10,y_10", YELLOW),  # offsets move inward from the corner
        ("c_crop,w_20,h_20,g_west,x_5", None),
    ],
)
def test_crop_cuts_without_scaling_where_gravity_and_offsets_say(
    transformation: str, colour: tuple | None
) -> None:
    result = run(f"{transformation}/a.png", quadrants())
    image = pixels(result)
    if colour is None:
        # g_west: vertically centred on the red/blue edge, 5 px in from the left
        assert near(image.getpixel((5, 2)), RED) and near(image.getpixel((5, 17)), BLUE)
        return
    for point in ((1, 1), (result.width - 2, result.height - 2)):
        assert image.getpixel(point)[:3] == colour


def test_pad_scales_to_fit_and_fills_the_rest_with_the_background() -> None:
    image = pixels(run("c_pad,w_100,h_100,b_rgb:00ffff/a.png", quadrants()))
    # content is 100x50, centred vertically: rows 25..74
    assert near(image.getpixel((50, 5)), CYAN) and near(image.getpixel((50, 95)), CYAN)
    assert near(image.getpixel((25, 35)), RED) and near(image.getpixel((75, 65)), YELLOW)


def test_pad_gravity_places_the_image() -> None:
    image = pixels(run("c_pad,w_100,h_100,g_north,b_rgb:0ff/a.png", quadrants()))
    assert near(image.getpixel((25, 10)), RED)
    assert near(image.getpixel((50, 90)), CYAN)


def test_pad_defaults_to_a_white_background() -> None:
    image = pixels(run("c_pad,w_100,h_100/a.png", quadrants()))
    assert image.getpixel((50, 2))[:3] == WHITE


def test_lpad_does_not_enlarge_a_small_image_it_pads_all_round() -> None:
    image = pixels(run("c_lpad,w_400,h_400/a.png", quadrants()))
    assert image.getpixel((5, 5))[:3] == WHITE
    assert image.getpixel((110, 160))[:3] == RED  # the 200x100 original sits unscaled at (100, 150)
    assert image.getpixel((290, 240))[:3] == YELLOW


def test_a_transparent_pad_keeps_alpha_in_png_and_is_flattened_in_jpeg() -> None:
    png = pixels(run("c_pad,w_100,h_100,b_transparent/a.png", quadrants()))
    assert png.getpixel((50, 5))[3] == 0
    assert png.getpixel((25, 35)) == (*RED, 255)
    jpeg = run("c_pad,w_100,h_100,b_transparent/a.jpg", quadrants())
    assert jpeg.format == "jpg"
    assert Image.open(io.BytesIO(jpeg.data)).mode == "RGB"


def test_scale_distorts_but_keeps_everything() -> None:
    image = pixels(run("c_scale,w_50,h_50/a.png", quadrants()))
    for point, colour in (((12, 12), RED), ((37, 12), GREEN), ((12, 37), BLUE), ((37, 37), YELLOW)):
        assert near(image.getpixel(point), colour)


def busy_patch_image() -> bytes:
    """A flat grey 400x100 image with a saturated, detailed 60x60 patch near the right edge."""
    base = pyvips.Image.black(400, 100, bands=3) + 128
    noise = pyvips.Image.gaussnoise(60, 60, sigma=60, mean=128)
    detail = noise.bandjoin([noise * 0.2, noise * 0.2]).linear([1, 1, 1], [100, 0, 0])
    image = base.insert(detail.cast("uchar"), 320, 20).cast("uchar").copy(interpretation="srgb")
    return image.pngsave_buffer()


@pytest.mark.parametrize(
    "transformation",
    [
        "c_fill,g_auto,w_100,h_100",  # first component: one thumbnail(crop=attention) call
        "c_scale,w_1.0/c_fill,g_auto,w_100,h_100",  # later component: smartcrop on the image so far
        "c_crop,g_auto,w_100,h_100",
        "c_thumb,g_auto,w_100,h_100",
    ],
)
def test_g_auto_keeps_the_interesting_part(transformation: str) -> None:
    result = run(f"{transformation}/a.png", busy_patch_image())
    assert (result.width, result.height) == (100, 100)
    image = pixels(result)
    reds = [image.getpixel((x, 50))[0] for x in range(100)]
    greys = sum(1 for value in reds if value == 128)
    assert greys < 60, "the crop should include most of the detailed patch, not the flat grey"


def test_face_gravity_centres_the_crop_on_the_detected_face(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenCV's cascade is exercised below; here the geometry is checked with a known face box.
    monkeypatch.setattr(rendering, "_detect_faces", lambda image: [(150, 0, 20, 20)])
    image = pixels(run("c_crop,g_face,w_40,h_40/a.png", quadrants()))
    assert image.getpixel((20, 5))[:3] == GREEN  # the window moved to the top-right quadrant


def test_thumb_face_zooms_to_the_face(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "_detect_faces", lambda image: [(10, 10, 20, 20)])
    result = run("c_thumb,g_face,w_100,h_100/a.png", quadrants())
    image = pixels(result)
    assert (result.width, result.height) == (100, 100)
    # A 40x40 region around the face in the red quadrant, enlarged: all red.
    assert near(image.getpixel((5, 5)), RED) and near(image.getpixel((95, 95)), RED)


def test_faces_gravity_covers_every_face(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "_detect_faces", lambda image: [(10, 10, 10, 10), (170, 70, 20, 20)])
    image = pixels(run("c_thumb,g_faces,w_100,h_50/a.png", quadrants()))
    assert near(image.getpixel((5, 5)), RED) and near(image.getpixel((95, 45)), YELLOW)


def drawn_face(width: int = 400, height: int = 300, cx: int = 300, cy: int = 150, size: int = 55) -> bytes:
    """A plain drawn face (skin oval, eyes, brows, nose, mouth) that the frontal Haar cascade finds."""
    image = Image.new("RGB", (width, height), (200, 200, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((cx - size * 0.8, cy - size, cx + size * 0.8, cy + size), fill=(224, 172, 140))
    for side in (-0.35, 0.35):
        ex, ey = cx + side * size, cy - size * 0.3
        draw.ellipse((ex - size * 0.15, ey - size * 0.08, ex + size * 0.15, ey + size * 0.08), fill=WHITE)
        draw.ellipse(
            (ex - size * 0.07, ey - size * 0.07, ex + size * 0.07, ey + size * 0.07), fill=(40, 30, 20)
        )
        draw.rectangle(
            (ex - size * 0.2, cy - size * 0.5, ex + size * 0.2, cy - size * 0.44), fill=(60, 40, 30)
        )
    nose = [
        (cx, cy - size * 0.15),
        (cx - size * 0.12, cy + size * 0.15),
        (cx + size * 0.12, cy + size * 0.15),
    ]
    draw.polygon(nose, fill=(190, 130, 100))
    draw.ellipse((cx - size * 0.3, cy + size * 0.35, cx + size * 0.3, cy + size * 0.5), fill=(150, 60, 60))
    return encode(image.filter(ImageFilter.GaussianBlur(2)), "PNG")


def is_skin(pixel: tuple[int, ...]) -> bool:
    return pixel[0] - pixel[2] > 40  # the drawn face is warm; the background is neutral grey


@pytest.mark.parametrize("transformation", ["c_crop,g_face,w_100,h_100", "c_fill,g_face,w_100,h_150"])
def test_the_bundled_cascade_finds_a_face_and_the_crop_follows_it(transformation: str) -> None:
    source = drawn_face()
    faces = rendering._detect_faces(pyvips.Image.new_from_buffer(source, ""))
    assert len(faces) == 1 and 260 < faces[0][0] + faces[0][2] / 2 < 340
    on_face = pixels(run(f"{transformation}/a.png", source))
    centred = pixels(run(f"{transformation.replace(',g_face', '')}/a.png", source))
    middle = (on_face.width // 2, on_face.height // 2)
    assert is_skin(on_face.getpixel(middle))
    assert not is_skin(centred.getpixel(middle))


def test_thumb_face_frames_the_face() -> None:
    result = pixels(run("c_thumb,g_face,w_100,h_100/a.png", drawn_face()))
    assert result.size == (100, 100)
    assert is_skin(result.getpixel((50, 50)))
    assert not is_skin(result.getpixel((2, 2)))  # a margin of background around the face


def test_the_bundled_face_cascade_runs_and_falls_back_to_center_without_a_face() -> None:
    source = quadrants()
    assert rendering._detect_faces(pyvips.Image.new_from_buffer(source, "")) == []
    with_face = run("c_fill,g_face,w_50,h_50/a.png", source)
    centred = run("c_fill,w_50,h_50/a.png", source)
    assert pixels(with_face).tobytes() == pixels(centred).tobytes()


def test_the_first_resize_uses_shrink_on_load(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = pyvips.Image.thumbnail_buffer

    def spy(*args: object, **kwargs: object) -> pyvips.Image:
        calls.append((args[1:], kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", spy)
    noise = pyvips.Image.gaussnoise(1600, 1200).cast("uchar")
    source = noise.bandjoin([noise, noise]).copy(interpretation="srgb").jpegsave_buffer()
    assert (run("c_limit,w_800/a.jpg", source).width, calls[-1]) == (
        800,
        ((800,), {"height": 600, "size": "force"}),
    )
    fill = run("c_fill,g_auto,w_300,h_200/a.webp", source)
    assert (fill.width, fill.height) == (300, 200)
    assert calls[-1] == ((300,), {"height": 200, "crop": "attention"})


# --- formats ----------------------------------------------------------------------------------------------

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "alpha", "expected"),
    [
        (CHROME, False, "avif"),
        ("image/webp,*/*", False, "webp"),
        ("image/avif;q=0,image/webp", False, "webp"),
        ("*/*", False, "jpg"),
        ("", False, "jpg"),
        ("image/*", True, "png"),
        ("IMAGE/AVIF", True, "avif"),
        ("garbage;;;,,", False, "jpg"),
    ],
)
def test_f_auto_negotiates_from_accept(accept: str, alpha: bool, expected: str) -> None:
    info = SourceInfo(width=10, height=10, pages=1, format="png", has_alpha=alpha)
    choice = choose_format("auto", accept, info)
    assert choice.format == expected
    assert choice.vary_accept


def test_explicit_format_and_kept_format_do_not_vary() -> None:
    info = SourceInfo(width=10, height=10, pages=1, format="webp", has_alpha=False)
    assert choose_format("png", CHROME, info) == FormatChoice("png", vary_accept=False)
    assert choose_format(None, CHROME, info) == FormatChoice("webp", vary_accept=False)
    gif = SourceInfo(width=10, height=10, pages=1, format="gif", has_alpha=True)
    assert choose_format(None, "", gif).format == "png"


MAGIC = {"jpg": b"\xff\xd8", "png": b"\x89PNG", "webp": b"RIFF", "avif": b"ftypavif"}


@pytest.mark.parametrize(
    ("path", "accept", "fmt", "vary"),
    [
        ("f_auto/a.jpg", CHROME, "avif", True),
        ("f_auto/a.jpg", "image/webp", "webp", True),
        ("f_auto/a.jpg", "*/*", "jpg", True),
        ("w_10/a.webp", CHROME, "webp", False),
        ("w_10/a", CHROME, "png", False),  # no f_, no extension: the asset's own format
    ],
)
def test_rendered_bytes_are_in_the_chosen_format(path: str, accept: str, fmt: str, vary: bool) -> None:
    result = run(path, quadrants(), accept_header=accept)
    assert (result.format, result.vary_accept) == (fmt, vary)
    assert result.content_type == f"image/{'jpeg' if fmt == 'jpg' else fmt}"
    assert MAGIC[fmt] in result.data[:16]


def test_f_auto_gives_png_for_a_transparent_image_when_avif_and_webp_are_not_accepted() -> None:
    source = encode(Image.new("RGBA", (20, 20), (255, 0, 0, 128)), "PNG")
    assert run("f_auto/a.png", source, accept_header="*/*").format == "png"


def test_q_auto_levels_trade_size_for_quality() -> None:
    noise = pyvips.Image.gaussnoise(300, 200, sigma=50).cast("uchar")
    source = noise.bandjoin([noise, noise]).copy(interpretation="srgb").jpegsave_buffer(Q=95)
    sizes = [len(run(f"q_auto:{level}/a.jpg", source).data) for level in ("best", "good", "eco", "low")]
    assert sizes == sorted(sizes, reverse=True)
    assert len(run("q_auto/a.jpg", source).data) == sizes[1]
    assert len(run("q_10/a.jpg", source).data) < sizes[-1]


# --- metadata ---------------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), RED)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS IFD
    return encode(image, "JPEG", exif=exif)


def test_exif_and_gps_are_stripped() -> None:
    source = jpeg_with_gps()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)  # the fixture really has GPS
    for fmt in ("jpg", "png", "webp"):
        result = run(f"c_scale,w_32/a.{fmt}", source)
        out = pyvips.Image.new_from_buffer(result.data, "")
        fields = out.get_fields()
        assert not [f for f in fields if f.startswith("exif") or f in {"xmp-data", "iptc-data"}], fields
        assert b"SpyCam" not in result.data and b"Exif\x00\x00" not in result.data
        assert not Image.open(io.BytesIO(result.data)).getexif()


def test_output_is_srgb_without_an_embedded_profile() -> None:
    cmyk = encode(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")
    result = run("c_scale,w_10/a.jpg", cmyk)
    out = pyvips.Image.new_from_buffer(result.data, "")
    assert out.interpretation == "srgb" and out.bands == 3
    assert "icc-profile-data" not in out.get_fields()
    assert near(pixels(result).getpixel((5, 5)), RED, tolerance=60)


def test_sixteen_bit_and_grey_sources_become_eight_bit_srgb() -> None:
    grey16 = pyvips.Image.black(20, 20).copy(interpretation="grey16").cast("ushort") + 30000
    result = run("c_scale,w_10/a.png", grey16.pngsave_buffer())
    out = pyvips.Image.new_from_buffer(result.data, "")
    assert (out.interpretation, out.format, out.bands) == ("srgb", "uchar", 3)


def xmp_of(data: bytes) -> bytes:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.get("xmp-data") if "xmp-data" in image.get_fields() else b""


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "avif"])
def test_ai_disclosure_is_written_when_the_caller_says_so(fmt: str) -> None:
    result = run(f"c_scale,w_32/a.{fmt}", jpeg_with_gps(), ai_generated=True)
    xmp = xmp_of(result.data)
    assert declared_source_type(xmp) == TRAINED_ALGORITHMIC_MEDIA
    assert b"Iptc4xmpExt:DigitalSourceType" in xmp
    assert b"SpyCam" not in result.data


def jpeg_declaring(source_type: str) -> bytes:
    return encode(Image.open(io.BytesIO(quadrants())), "JPEG", xmp=disclosure_xmp(source_type))


def png_declaring(source_type: str) -> bytes:
    image = pyvips.Image.new_from_buffer(quadrants(), "").copy()
    image.set_type(pyvips.GValue.blob_type, "xmp-data", disclosure_xmp(source_type))
    return image.pngsave_buffer(keep="xmp")


@pytest.mark.parametrize("declaring", [jpeg_declaring, png_declaring])
@pytest.mark.parametrize("source_type", [TRAINED_ALGORITHMIC_MEDIA, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA])
def test_ai_disclosure_in_the_source_is_never_lost(
    declaring: Callable[[str], bytes], source_type: str
) -> None:
    source = declaring(source_type)
    assert declared_source_type(xmp_of(source)) == source_type
    result = run("c_fill,w_20,h_20/a.webp", source, ai_generated=False)
    assert declared_source_type(xmp_of(result.data)) == source_type


def test_other_source_xmp_is_dropped() -> None:
    image = pyvips.Image.new_from_buffer(quadrants(), "").copy()
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret location</x:xmpmeta>")
    result = run("c_scale,w_20/a.jpg", image.jpegsave_buffer(keep="xmp"))
    assert b"secret" not in result.data


# --- limits -----------------------------------------------------------------------------------------------


def png_without_pixels(width: int, height: int) -> bytes:
    """A valid PNG header over almost no pixel data: decoding it would fail or take forever."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_output_over_the_size_limits_is_refused_before_decoding() -> None:
    # The pixel data is missing, so a RenderLimitError proves the limit came from the header alone.
    header_only = png_without_pixels(200, 100)
    limits = RenderLimits(max_width=300, max_height=300, max_pixels=50_000)
    with pytest.raises(RenderLimitError, match="the result would be 400x200"):
        run("c_scale,w_400/a.png", header_only, limits=limits)
    with pytest.raises(RenderLimitError, match="pixels in all"):
        run("c_pad,w_250,h_250/a.png", header_only, limits=limits)


def test_an_intermediate_over_the_limits_is_refused_too() -> None:
    limits = RenderLimits(max_width=1000, max_height=1000, max_pixels=1_000_000)
    with pytest.raises(RenderLimitError):
        run("c_scale,w_3000/c_scale,w_100/a.png", quadrants(), limits=limits)


def test_source_pixels_count_every_frame() -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "green", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert probe(gif).pages == 3
    with pytest.raises(RenderLimitError, match="300 pixels over 3 frame"):
        probe(gif, limits=RenderLimits(max_source_pixels=250))
    assert run("c_scale,w_5/a.png", gif, limits=RenderLimits(max_source_pixels=300)).width == 5


def test_a_decompression_bomb_header_is_refused() -> None:
    bomb = png_without_pixels(50_000, 50_000)
    with pytest.raises(RenderLimitError, match="2500000000 pixels"):
        run("c_scale,w_10/a.png", bomb)


def test_a_limit_error_is_a_transformation_error_for_one_400_handler() -> None:
    from delivery.transformations import TransformationError

    assert issubclass(RenderLimitError, TransformationError)


def test_an_unreadable_source_is_a_source_error() -> None:
    with pytest.raises(SourceImageError):
        run("c_scale,w_10/a.png", b"not an image at all")


def test_original_larger_than_the_output_limit_is_refused_with_advice() -> None:
    with pytest.raises(RenderLimitError, match="200x100"):
        run("f_png/a.png", quadrants(), limits=RenderLimits(max_width=100))


def test_exif_orientation_is_applied_and_counted_in_the_plan() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    source = encode(Image.new("RGB", (200, 100), RED), "JPEG", exif=exif)
    assert (probe(source).width, probe(source).height) == (100, 200)
    result = run("c_scale,w_50/a.jpg", source)
    assert (result.width, result.height) == (50, 100)
    result = run("c_crop,w_80,h_150/a.jpg", source)
    assert (result.width, result.height) == (80, 150)
