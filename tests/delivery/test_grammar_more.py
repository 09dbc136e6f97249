"""The rest of Cloudinary's grammar: flags, fractional offsets, one-sided crops, dpr alone, c_fill_pad,
c_auto, rounded corners, borders, angles and effects. Parser tests first, then pixels (tiny in-memory
images, as in test_rendering.py)."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from delivery.geometry import SourceInfo, planned_size
from delivery.negotiation import choose_format
from delivery.transformations import (
    TransformationError,
    canonical_transformation,
    parse_delivery_path,
    parse_transformation,
)
from tests.delivery.test_rendering import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    YELLOW,
    encode,
    near,
    pixels,
    quadrants,
    run,
)
from tests.delivery.test_transformations import _parse_or_error, one

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

BLACK = (0, 0, 0)

# --- parser: each new parameter and its canonical form ---------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("fl_progressive", "fl_progressive"),
        ("fl_progressive.png8", "fl_png8.progressive"),
        ("fl_png8.progressive.png8", "fl_png8.progressive"),  # sorted, each once
        ("c_crop,w_50,h_50,x_0.5", "c_crop,g_north_west,h_50,w_50,x_0.5"),
        ("c_crop,w_50,h_50,x_0.0,y_0.25", "c_crop,g_north_west,h_50,w_50,y_0.25"),  # x_0.0 is no offset
        ("c_crop,w_50,h_50,x_1", "c_crop,g_north_west,h_50,w_50,x_1"),  # one pixel, not 100%
        ("c_fill,w_300", "c_fill,w_300"),  # one side: the other follows the image
        ("c_pad,h_0.5", "c_pad,h_0.5"),
        ("dpr_2.0", "dpr_2.0"),
        ("dpr_2", "dpr_2.0"),
        ("c_fill_pad,g_auto,w_100,h_50", "c_fill_pad,g_auto,h_50,w_100"),
        ("c_auto,w_100,h_50", "c_auto,g_auto,h_50,w_100"),  # c_auto's gravity defaults to auto
        ("c_auto,g_north,w_100,h_50", "c_auto,g_north,h_50,w_100"),
        ("r_20", "r_20"),
        ("r_20:20:20:20", "r_20"),
        ("r_10:20", "r_10:20:10:20"),  # CSS order: the missing corners mirror
        ("r_10:20:30", "r_10:20:30:20"),
        ("r_max", "r_max"),
        ("bo_4px_solid_black", "bo_4px_solid_rgb:000000"),
        ("bo_2px_solid_rgb:f00", "bo_2px_solid_rgb:ff0000"),
        ("a_90", "a_90"),
        ("a_-90", "a_270"),
        ("a_450", None),
        ("a_hflip", "a_hflip"),
        ("e_grayscale", "e_grayscale"),
        ("e_blur", "e_blur:100"),  # the documented default strength, written out
        ("e_blur:300", "e_blur:300"),
        ("e_sharpen", "e_sharpen:100"),
        ("e_improve", "e_improve:outdoor:100"),
        ("e_improve:indoor", "e_improve:indoor:100"),
        ("e_improve:50", "e_improve:outdoor:50"),
        ("e_background_removal", "e_background_removal"),
        ("r_max,e_grayscale,c_fill,w_10,h_10,a_90,bo_1px_solid_white", None),
    ],
)
def test_each_effect_has_one_canonical_form_and_it_is_a_fixed_point(
    written: str, canonical: str | None
) -> None:
    if canonical is None:
        if written == "a_450":
            with pytest.raises(TransformationError, match="-360 to 360"):
                parse_transformation(written)
            return
        canonical = canonical_transformation(written)
    assert canonical_transformation(written) == canonical
    assert canonical_transformation(canonical) == canonical  # a fixed point


def test_fractional_and_pixel_offsets_are_kept_apart() -> None:
    assert one("c_crop,w_5,h_5,x_1").x == 1
    assert one("c_crop,w_5,h_5,x_1.0").x == 1.0
    assert isinstance(one("c_crop,w_5,h_5,x_1.0").x, float)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("e_sepia", "e_sepia is not supported here"),
        ("e_cartoonify", "not supported here"),
        ("e_wobble", "unknown effect 'wobble'"),
        ("e_grayscale:5", "takes no value"),
        ("e_blur:0", "strength must be 1-2000"),
        ("e_blur:2001", "strength must be 1-2000"),
        ("e_sharpen:x", "strength must be 1-2000"),
        ("e_improve:kitchen", "e_improve takes a mode and a blend"),
        ("e_improve:indoor:101", "e_improve takes a mode and a blend"),
        ("e_improve:0", "blends nothing"),
        ("fl_keep_iptc", "metadata is always stripped"),
        ("fl_attachment", "fl_attachment is not supported here"),
        ("fl_bogus", "unknown flag 'bogus'"),
        ("fl_progressive.", "unknown flag ''"),
        ("r_-5", "r_ must be pixels"),
        ("r_1:2:3:4:5", "r_ must be pixels"),
        ("r_0", "changes nothing"),
        ("bo_4px_dashed_black", "only solid borders"),
        ("bo_4_solid_black", "bo_ must look like"),
        ("bo_0px_solid_black", "1-1000 pixels"),
        ("bo_4px_solid_chartreuse-ish", "unknown border colour"),
        ("a_auto_right", "not supported here"),
        ("a_ignore", "not supported here"),
        ("a_hflip.90", "not supported here"),
        ("a_1.5", "not supported here"),
        ("a_1x", "whole degrees"),
        ("a_0", "changes nothing"),
        ("a_360", "changes nothing"),
        ("dpr_1.0", "changes nothing"),
        ("c_fill_pad,w_100,h_100", "c_fill_pad needs g_auto"),
        ("c_fill_pad,g_north,w_100,h_100", "c_fill_pad needs g_auto"),
        ("c_auto", "c_auto needs a size"),
        ("c_fill,g_north", "c_fill needs a size"),
        ("c_crop,w_5,h_5,x_1.5", "must be 0 to 1.0"),
        ("c_crop,w_5,h_5,x_-0.5", "whole pixels, 0 or more"),
        ("c_pad,w_5,h_5,g_auto", "g_auto only applies to c_fill, c_lfill, c_fill_pad, c_auto"),
    ],
)
def test_unsupported_and_invalid_values_are_a_plain_400_reason(text: str, reason: str) -> None:
    with pytest.raises(TransformationError) as caught:
        parse_delivery_path(f"{text}/a.jpg")
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_supported_effect_is_named_in_the_refusal_of_another() -> None:
    with pytest.raises(TransformationError) as caught:
        parse_transformation("e_vignette")
    for name in ("grayscale", "blur", "sharpen", "improve", "background_removal"):
        assert name in str(caught.value)


def test_planned_sizes_without_pixels() -> None:
    chain = parse_transformation("c_fill,w_100,h_50/bo_5px_solid_black/a_90")
    assert planned_size(chain, 400, 300) == (60, 110)
    assert planned_size(parse_transformation("c_scale,w_50/dpr_3.0"), 200, 100) == (150, 75)
    assert planned_size(parse_transformation("a_45"), 100, 100) == (141, 141)


NEW_TOKENS = [
    "e_", "fl_", "r_", "bo_", "a_", "c_", "w_", "h_", "g_", "x_", "y_", "dpr_", "b_",
    "grayscale", "blur", "sharpen", "improve", "indoor", "background_removal", "progressive", "png8",
    "max", "solid", "px_", "hflip", "fill_pad", "auto", "fill", "pad", "black", "rgb:", "0.5",
    "1", "0", "90", "-", ".", ":", ",", "/", "_", "a.jpg", "v1/",
]  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(NEW_TOKENS), max_size=30).map("".join))
def test_fuzz_new_grammar_parses_or_gives_a_reason(text: str) -> None:
    _parse_or_error(text)


NEW_VALUES = {
    "e": [
        "grayscale",
        "blur",
        "blur:300",
        "sharpen:50",
        "improve",
        "improve:indoor:40",
        "background_removal",
    ],
    "r": ["5", "max", "1:2", "1:2:3", "0:0:4:0"],
    "bo": ["2px_solid_black", "1px_solid_rgb:abc"],
    "a": ["90", "-45", "hflip", "vflip", "270"],
    "fl": ["progressive", "png8.progressive", "strip_profile"],
    "dpr": ["2.0", "0.5"],
    "c": ["fill_pad", "auto", "fill", "crop"],
    "g": ["auto", "north"],
    "w": ["40", "0.5"],
    "h": ["30"],
    "x": ["0.5", "3"],
}
new_component = st.dictionaries(
    st.sampled_from(sorted(NEW_VALUES)), st.just(None), min_size=1, max_size=5
).flatmap(
    lambda keys: st.tuples(*[st.sampled_from([f"{k}_{v}" for v in NEW_VALUES[k]]) for k in keys]).flatmap(
        st.permutations
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(new_component, min_size=1, max_size=3))
def test_fuzz_new_parameters_round_trip(components: list[list[str]]) -> None:
    _parse_or_error("/".join(",".join(params) for params in components) + "/v1/a/b.jpg")


# --- pixels ----------------------------------------------------------------------------------------------


def subject_on_white(width: int = 200, height: int = 100, box=(80, 30, 120, 70), fmt: str = "PNG") -> bytes:
    """A red disc (the subject) on a plain white backdrop."""
    image = Image.new("RGB", (width, height), WHITE)
    ImageDraw.Draw(image).ellipse(box, fill=RED)
    return encode(image, fmt)


def test_fractional_offsets_are_fractions_of_the_image() -> None:
    # 200x100 quadrants: x_0.5 starts the crop half-way across (green), y_0.5 half-way down.
    assert near(pixels(run("c_crop,w_50,h_40,x_0.5/a.png", quadrants())).getpixel((5, 5))[:3], GREEN)
    assert near(pixels(run("c_crop,w_50,h_40,x_0.5,y_0.5/a.png", quadrants())).getpixel((5, 5))[:3], YELLOW)
    assert near(pixels(run("c_crop,w_50,h_40,y_0.6/a.png", quadrants())).getpixel((5, 5))[:3], BLUE)


@pytest.mark.parametrize(
    ("transformation", "size"),
    [
        ("c_fill,w_50", (50, 25)),
        ("c_fill,h_50", (100, 50)),
        ("c_pad,w_100", (100, 50)),
        ("c_thumb,w_40", (40, 20)),
        ("c_lfill,w_400", (200, 100)),  # never enlarges
        ("c_fill_pad,g_auto,w_50", (50, 25)),
    ],
)
def test_a_crop_given_one_side_keeps_the_image_aspect(transformation: str, size: tuple[int, int]) -> None:
    result = run(f"{transformation}/a.png", quadrants())
    assert (result.width, result.height) == size
    image = pixels(result)
    assert near(image.getpixel((1, 1))[:3], RED)  # nothing cut, nothing padded
    assert near(image.getpixel((size[0] - 2, size[1] - 2))[:3], YELLOW)


def test_dpr_alone_scales_what_enters_it() -> None:
    result = run("c_fill,w_50,h_50/dpr_2.0/a.png", quadrants())
    assert (result.width, result.height) == (100, 100)
    assert (run("dpr_0.5/a.png", quadrants()).width, run("dpr_0.5/a.png", quadrants()).height) == (100, 50)


def test_fill_pad_pads_rather_than_cutting_the_subject() -> None:
    # A wide subject (red bar across most of the image) asked into a square: fill would cut its ends off,
    # fill_pad shrinks until the bar fits and pads above and below with b_.
    source = Image.new("RGB", (200, 100), WHITE)
    ImageDraw.Draw(source).rectangle((10, 35, 190, 65), fill=RED)
    data = encode(source, "PNG")
    padded = pixels(run("c_fill_pad,g_auto,w_100,h_100,b_blue/a.png", data))
    assert padded.size == (100, 100)
    assert near(padded.getpixel((50, 1))[:3], BLUE)  # padding
    assert near(padded.getpixel((50, 50))[:3], RED)
    assert near(padded.getpixel((8, 50))[:3], RED)  # the bar's ends are kept
    filled = pixels(run("c_fill,g_auto,w_100,h_100/a.png", data))
    assert not near(filled.getpixel((50, 1))[:3], BLUE)


def test_fill_pad_crops_like_fill_when_the_subject_fits() -> None:
    result = pixels(run("c_fill_pad,g_auto,w_80,h_80,b_blue/a.png", subject_on_white()))
    assert result.size == (80, 80)
    assert near(result.getpixel((40, 40))[:3], RED)
    assert not near(result.getpixel((40, 1))[:3], BLUE)  # no padding was needed


def test_c_auto_keeps_the_interesting_part() -> None:
    source = Image.new("RGB", (300, 100), WHITE)
    ImageDraw.Draw(source).ellipse((230, 30, 270, 70), fill=RED)
    result = pixels(run("c_auto,w_100,h_100/a.png", encode(source, "PNG")))
    assert result.size == (100, 100)
    assert any(near(result.getpixel((x, 50))[:3], RED) for x in range(0, 100, 5))


def test_rounded_corners_are_transparent_in_png_and_background_in_jpeg() -> None:
    png = pixels(run("r_30/a.png", quadrants()))
    assert png.getpixel((0, 0))[3] == 0
    assert png.getpixel((199, 99))[3] == 0
    assert png.getpixel((100, 50))[3] == 255
    assert png.getpixel((100, 0))[3] == 255  # the straight edge is kept
    jpeg = pixels(run("r_30/a.jpg", quadrants()))
    assert near(jpeg.getpixel((0, 0))[:3], WHITE)
    dark = pixels(run("r_30,b_black/a.jpg", quadrants()))
    assert near(dark.getpixel((0, 0))[:3], BLACK)


def test_r_max_is_an_ellipse_and_per_corner_radii_follow_css_order() -> None:
    oval = pixels(run("r_max/a.png", quadrants()))
    assert oval.getpixel((2, 2))[3] == 0
    assert oval.getpixel((100, 1))[3] > 0 and oval.getpixel((1, 50))[3] > 0
    corners = pixels(run("r_40:0/a.png", quadrants()))  # top-left and bottom-right rounded
    assert corners.getpixel((0, 0))[3] == 0 and corners.getpixel((199, 99))[3] == 0
    assert corners.getpixel((199, 0))[3] == 255 and corners.getpixel((0, 99))[3] == 255


def test_border_grows_the_image_and_follows_rounded_corners() -> None:
    framed = run("bo_4px_solid_black/a.png", quadrants())
    assert (framed.width, framed.height) == (208, 108)
    image = pixels(framed)
    assert near(image.getpixel((1, 1))[:3], BLACK)
    assert near(image.getpixel((6, 6))[:3], RED)
    rounded = pixels(run("r_20,bo_5px_solid_rgb:0000ff/a.png", quadrants()))
    assert rounded.size == (210, 110)
    assert rounded.getpixel((0, 0))[3] == 0  # the frame is rounded too
    assert near(rounded.getpixel((50, 2))[:3], BLUE)
    assert near(rounded.getpixel((50, 8))[:3], RED)


@pytest.mark.parametrize(
    ("angle", "size", "top_left"),
    [
        ("90", (100, 200), BLUE),
        ("-90", (100, 200), GREEN),
        ("180", (200, 100), YELLOW),
        ("hflip", (200, 100), GREEN),
        ("vflip", (200, 100), BLUE),
    ],
)
def test_angles_rotate_clockwise_and_flip(angle: str, size: tuple[int, int], top_left: tuple) -> None:
    result = run(f"a_{angle}/a.png", quadrants())
    assert (result.width, result.height) == size
    assert near(pixels(result).getpixel((2, 2))[:3], top_left)


def test_any_angle_grows_the_canvas_with_clear_or_b_corners() -> None:
    result = run("a_45/a.png", quadrants(100, 100))
    assert (result.width, result.height) == (141, 141)
    assert pixels(result).getpixel((1, 1))[3] == 0
    filled = pixels(run("a_45,b_black/a.jpg", quadrants(100, 100)))
    assert near(filled.getpixel((1, 1))[:3], BLACK)
    # Clockwise, as Cloudinary: a 10-degree turn drops the top-right corner's red-green edge to the right.
    turned = pixels(run("a_10/a.png", quadrants(200, 100)))
    assert turned.getpixel((turned.width - 3, 3))[3] == 0


def test_grayscale_has_no_colour() -> None:
    image = pixels(run("e_grayscale/a.png", quadrants()))
    for point in ((10, 10), (150, 10), (10, 90), (150, 90)):
        r, g, b, _ = image.getpixel(point)
        assert abs(r - g) <= 2 and abs(g - b) <= 2


def _edge(width: int = 100, height: int = 40) -> bytes:
    image = Image.new("RGB", (width, height), BLACK)
    image.paste(WHITE, (width // 2, 0, width, height))
    return encode(image, "PNG")


def test_blur_softens_an_edge_more_with_more_strength() -> None:
    sharp = pixels(run("a.png", _edge())).getpixel((48, 20))[0]
    soft = pixels(run("e_blur/a.png", _edge())).getpixel((48, 20))[0]
    softer = pixels(run("e_blur:1000/a.png", _edge())).getpixel((44, 20))[0]
    assert sharp == 0
    assert soft > 10
    assert softer > pixels(run("e_blur/a.png", _edge())).getpixel((44, 20))[0]


def test_sharpen_steepens_a_soft_edge_more_with_more_strength() -> None:
    soft = Image.new("L", (100, 40))
    soft.putdata([60 + min(130, max(0, (x - 48) * 40)) for _y in range(40) for x in range(100)])
    data = encode(soft.convert("RGB"), "PNG")
    row = {name: pixels(run(f"{name}a.png", data)) for name in ("", "e_sharpen/", "e_sharpen:400/")}
    # Overshoot at both sides of the edge: darker before it, brighter after it.
    before, default, strong = (
        row[name].getpixel((48, 20))[0] for name in ("", "e_sharpen/", "e_sharpen:400/")
    )
    assert strong < default < before
    after = [row[name].getpixel((51, 20))[0] for name in ("", "e_sharpen/", "e_sharpen:400/")]
    assert after[0] < after[1] < after[2]
    assert row["e_sharpen/"].getpixel((20, 20))[0] == 60  # flat areas are left alone


def test_improve_stretches_a_flat_image_and_blend_limits_it() -> None:
    flat = Image.new("RGB", (100, 40), (110, 110, 110))
    flat.paste((150, 150, 150), (50, 0, 100, 40))
    data = encode(flat, "PNG")
    full = pixels(run("e_improve/a.png", data))
    half = pixels(run("e_improve:50/a.png", data))
    spread = full.getpixel((75, 20))[0] - full.getpixel((25, 20))[0]
    assert spread > 100  # from 40 levels apart to most of the range
    half_spread = half.getpixel((75, 20))[0] - half.getpixel((25, 20))[0]
    assert 40 < half_spread < spread


def test_improve_indoor_neutralises_a_colour_cast() -> None:
    cast = Image.new("RGB", (100, 40), (170, 130, 90))  # warm, tungsten-like
    cast.paste((200, 160, 120), (50, 0, 100, 40))
    result = pixels(run("e_improve:indoor/a.png", encode(cast, "PNG"))).getpixel((25, 20))
    assert abs(result[0] - result[2]) < 80 - 30  # much less red-over-blue than the source's 80


def test_background_removal_cuts_out_the_subject() -> None:
    png = run("e_background_removal/a.png", subject_on_white())
    image = pixels(png)
    assert image.mode == "RGBA"
    assert image.getpixel((5, 5))[3] == 0  # the white backdrop is gone
    assert image.getpixel((100, 50))[3] == 255
    assert near(image.getpixel((100, 50))[:3], RED)
    jpeg = pixels(run("e_background_removal,b_black/a.jpg", subject_on_white()))  # JPEG: onto b_ (white)
    assert near(jpeg.getpixel((5, 5))[:3], BLACK)
    assert near(pixels(run("e_background_removal/a.jpg", subject_on_white())).getpixel((5, 5))[:3], WHITE)


def test_f_auto_keeps_transparency_that_the_chain_adds() -> None:
    opaque = SourceInfo(width=10, height=10, pages=1, format="jpg", has_alpha=False)
    assert choose_format("auto", "image/jpeg", opaque, parse_transformation("r_5")).format == "png"
    assert (
        choose_format("auto", "image/jpeg", opaque, parse_transformation("e_background_removal")).format
        == "png"
    )
    assert choose_format("auto", "image/jpeg", opaque, parse_transformation("a_90")).format == "jpg"
    assert choose_format("auto", "image/jpeg", opaque, parse_transformation("a_30,b_white")).format == "jpg"


def test_fl_progressive_and_fl_png8() -> None:
    jpeg = Image.open(io.BytesIO(run("fl_progressive/a.jpg", quadrants()).data))
    assert jpeg.info.get("progressive") or jpeg.info.get("progression")
    plain = Image.open(io.BytesIO(run("a.jpg", quadrants()).data))
    assert not (plain.info.get("progressive") or plain.info.get("progression"))
    assert Image.open(io.BytesIO(run("fl_png8/a.png", quadrants()).data)).mode == "P"
    assert Image.open(io.BytesIO(run("fl_strip_profile/a.png", quadrants()).data)).mode == "RGB"


def test_effects_chain_with_geometry_in_one_component() -> None:
    result = run("c_fill,w_50,h_50,e_grayscale,r_max,bo_2px_solid_black,a_90/a.png", quadrants())
    assert (result.width, result.height) == (54, 54)
    image = pixels(result)
    assert image.getpixel((0, 0))[3] == 0
    r, g, b, _ = image.getpixel((27, 27))
    assert abs(r - g) <= 2 and abs(g - b) <= 2
