"""The delivery URL grammar: every parameter, one canonical form, and clear errors."""

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.transformations import (
    DeliveryRequest,
    Transformation,
    TransformationError,
    canonical_transformation,
    parse_delivery_path,
    parse_transformation,
)

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

PRESETS = {"hero": "c_fill,g_auto,w_1600,h_900/f_auto,q_auto", "thumb": "c_thumb,g_face,w_150,h_150"}


def one(text: str) -> Transformation:
    (component,) = parse_transformation(text)
    return component


# --- each parameter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", ["scale", "fit", "limit", "mfit", "fill", "lfill", "pad", "lpad", "mpad", "crop", "thumb"]
)
def test_every_crop_mode_is_accepted(mode: str) -> None:
    assert one(f"c_{mode},w_100,h_50").crop == mode


def test_a_size_without_crop_mode_means_scale_like_cloudinary() -> None:
    assert one("w_100").crop == "scale"
    assert canonical_transformation("w_100") == canonical_transformation("c_scale,w_100")


@pytest.mark.parametrize(
    "gravity",
    [
        "north",
        "south",
        "east",
        "west",
        "north_east",
        "north_west",
        "south_east",
        "south_west",
        "auto",
        "face",
    ],
)
def test_every_gravity_is_accepted(gravity: str) -> None:
    assert one(f"c_fill,w_10,h_10,g_{gravity}").gravity == gravity


def test_g_faces_is_accepted_with_thumb() -> None:
    assert one("c_thumb,w_10,h_10,g_faces").gravity == "faces"


def test_center_gravity_is_the_default_and_is_dropped() -> None:
    assert one("c_fill,w_10,h_10,g_center").gravity is None
    assert canonical_transformation("c_fill,w_10,h_10,g_center") == "c_fill,h_10,w_10"


def test_width_and_height_in_pixels_and_fractions_are_kept_apart() -> None:
    assert one("w_100").width == 100
    assert isinstance(one("w_1").width, int)
    assert one("w_1.0").width == 1.0
    assert isinstance(one("w_1.0").width, float)
    assert one("c_fit,h_0.50").height == 0.5
    assert canonical_transformation("w_0.50") == "c_scale,w_0.5"
    assert canonical_transformation("w_1") != canonical_transformation("w_1.0")


def test_pixel_values_with_leading_zeros_normalise() -> None:
    assert canonical_transformation("w_0100") == canonical_transformation("w_100")


@pytest.mark.parametrize(("written", "expected"), [("16:9", Fraction(16, 9)), ("1.5", Fraction(3, 2))])
def test_aspect_ratio_as_ratio_or_decimal(written: str, expected: Fraction) -> None:
    assert one(f"c_fill,w_100,ar_{written}").aspect_ratio == expected


def test_equal_aspect_ratios_share_one_canonical_form() -> None:
    forms = {canonical_transformation(f"c_fill,w_300,ar_{ar}") for ar in ("3:2", "6:4", "1.5", "1.50")}
    assert forms == {"ar_3:2,c_fill,w_300"}


def test_dpr_multiplies_and_one_is_dropped() -> None:
    assert one("c_scale,w_100,dpr_2").dpr == 2.0
    assert canonical_transformation("c_scale,w_100,dpr_2") == "c_scale,dpr_2.0,w_100"
    assert canonical_transformation("c_scale,w_100,dpr_1.0") == "c_scale,w_100"


def test_x_and_y_place_a_crop_from_its_top_left_corner() -> None:
    t = one("c_crop,w_10,h_10,x_5,y_7")
    assert (t.x, t.y) == (5, 7)
    # Plain x/y are the top-left corner: an offset from north-west, so x_0,y_0 is not the centre.
    assert canonical_transformation("c_crop,w_10,h_10,x_0,y_0") == "c_crop,g_north_west,h_10,w_10"
    assert canonical_transformation("c_crop,w_10,h_10,x_5") == canonical_transformation(
        "c_crop,w_10,h_10,g_north_west,x_5,y_0"
    )


def test_center_gravity_is_kept_with_offsets() -> None:
    text = "c_crop,g_center,w_10,h_10,x_5"
    assert canonical_transformation(text) == "c_crop,g_center,h_10,w_10,x_5"
    assert one(canonical_transformation(text)) == one(text)


def test_x_and_y_are_dropped_with_face_gravity_where_they_have_no_effect() -> None:
    assert canonical_transformation("c_crop,g_face,w_10,h_10,x_5") == "c_crop,g_face,h_10,w_10"


@pytest.mark.parametrize(
    ("written", "expected"),
    [("white", "ffffff"), ("rgb:ff00ff", "ff00ff"), ("rgb:F0F", "ff00ff"), ("rgb:00000000", "00000000")],
)
def test_named_and_rgb_background_colours_are_kept_as_hex(written: str, expected: str) -> None:
    assert one(f"c_pad,w_10,h_10,b_{written}").background == expected


def test_named_and_hex_backgrounds_share_a_canonical_form() -> None:
    assert canonical_transformation("c_pad,w_1,h_1,b_white") == canonical_transformation(
        "c_pad,w_1,h_1,b_rgb:FFF"
    )


@pytest.mark.parametrize("fmt", ["auto", "jpg", "png", "webp", "avif"])
def test_f_auto_jpg_png_webp_and_avif_are_read_as_the_format(fmt: str) -> None:
    assert one(f"f_{fmt}").format == fmt


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("auto", "auto"),
        ("auto:good", "auto"),
        ("auto:best", "auto:best"),
        ("auto:eco", "auto:eco"),
        ("auto:low", "auto:low"),
        ("1", 1),
        ("80", 80),
        ("100", 100),
    ],
)
def test_q_takes_auto_its_levels_and_numbers_from_1_to_100(written: str, expected: object) -> None:
    assert one(f"q_{written}").quality == expected


def test_named_preset_expands_in_place() -> None:
    request = parse_delivery_path("t_hero/cat.jpg", presets=PRESETS)
    assert [c.crop for c in request.components] == ["fill", None]
    assert request.requested_format == "auto"
    assert request.quality == "auto"
    assert request.presets_used == ("hero",)
    assert request.uses_only_presets
    assert request.canonical_transformation == "c_fill,g_auto,h_900,w_1600/f_auto,q_auto"
    # The signable canonical path keeps the preset name, so editing a preset does not break signed URLs.
    assert request.canonical_path == "t_hero/cat.jpg"


def test_chained_components_keep_their_order() -> None:
    request = parse_delivery_path("c_fill,w_400,h_400/c_scale,w_0.5/a.png")
    assert [c.crop for c in request.components] == ["fill", "scale"]
    assert not request.uses_only_presets


def test_version_is_recorded_and_allows_folders() -> None:
    request = parse_delivery_path("c_scale,w_10/v1712345678/campaign/spring/hero-1.webp")
    assert request.version == 1712345678
    assert request.public_id == "campaign/spring/hero-1"
    assert request.extension == "webp"
    assert request.canonical_path == "c_scale,w_10/v1712345678/campaign/spring/hero-1.webp"


def test_version_component_does_not_change_the_cache_key() -> None:
    with_version = parse_delivery_path("c_scale,w_10/v3/a.jpg")
    without = parse_delivery_path("c_scale,w_10/a.jpg")
    assert with_version.canonical_transformation == without.canonical_transformation


def test_signature_is_split_off_and_the_rest_is_what_was_signed() -> None:
    request = parse_delivery_path("s--AbCd_-12EfGh--/w_10,c_scale/a.jpg")
    assert request.signature == "AbCd_-12EfGh"
    assert request.signed_path == "w_10,c_scale/a.jpg"


def test_public_id_alone_is_the_original() -> None:
    request = parse_delivery_path("cat")
    assert request == DeliveryRequest(
        signature=None, components=(), public_id="cat", extension=None, version=None, signed_path="cat"
    )
    assert request.requested_format is None
    assert request.canonical_transformation == ""


@pytest.mark.parametrize(("ext", "fmt"), [("jpg", "jpg"), ("jpeg", "jpg"), ("PNG", "png"), ("avif", "avif")])
def test_extension_picks_the_format(ext: str, fmt: str) -> None:
    assert parse_delivery_path(f"w_10/a.{ext}").requested_format == fmt


def test_f_wins_over_the_extension() -> None:
    assert parse_delivery_path("w_10,f_webp/a.jpg").requested_format == "webp"


# --- one canonical form -----------------------------------------------------------------------------------


def test_parameter_order_inside_a_component_does_not_matter() -> None:
    a = parse_delivery_path("c_fill,g_auto,w_1200,h_630,f_webp,q_80/a.jpg")
    b = parse_delivery_path("q_80,h_630,f_webp,w_1200,g_auto,c_fill/a.jpg")
    assert a.canonical_transformation == b.canonical_transformation
    assert a.canonical_transformation == "c_fill,g_auto,h_630,w_1200/f_webp,q_80"


def test_format_and_quality_act_on_delivery_wherever_they_are_written() -> None:
    assert canonical_transformation("c_fill,w_9,h_9,f_webp") == canonical_transformation(
        "c_fill,w_9,h_9/f_webp"
    )


def test_canonical_transformation_is_a_fixed_point() -> None:
    text = "q_auto:good,c_pad,b_white,h_100,w_0.50,g_north/f_png"
    canonical = canonical_transformation(text)
    assert canonical_transformation(canonical) == canonical


# --- errors with reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("e_sepia/a.jpg", "e_sepia is not supported here"),
        ("zz_1/a.jpg", "unknown transformation parameter 'zz_'"),
        ("folder/a.jpg", "not a parameter"),
        ("w_10,w_20/a.jpg", "given twice"),
        ("c_fill,w_1,h_1,ar_1:1/a.jpg", "contradict"),
        ("c_fil,w_10/a.jpg", "unknown crop mode 'fil'"),
        ("c_fill,w_10,h_10,g_middle/a.jpg", "unknown gravity"),
        ("w_0/a.jpg", "between 1 and"),
        ("w_99999/a.jpg", "between 1 and"),
        ("w_1.5/a.jpg", "at most 1.0"),
        ("w_-5/a.jpg", "whole pixels"),
        ("w_1e3/a.jpg", "whole pixels"),
        ("c_fill,w_10,ar_0:1/a.jpg", "zero"),
        ("c_fill,w_10,ar_1000:1/a.jpg", "between 1:100 and 100:1"),
        ("c_scale,w_10,dpr_9/a.jpg", "dpr_"),
        ("ar_16:9/a.jpg", "ar_ alone needs"),
        ("q_0/a.jpg", "q_"),
        ("q_101/a.jpg", "q_"),
        ("q_auto:great/a.jpg", "q_auto level"),
        ("f_gif/a.jpg", "unknown format"),
        ("c_pad,w_10,h_10,b_rgb:12/a.jpg", "hex digits"),
        ("c_pad,w_10,h_10,b_chartreuse-ish/a.jpg", "unknown colour"),
        ("c_fill,g_north/a.jpg", "c_fill needs a size"),
        ("c_fit/a.jpg", "needs w_ or h_"),
        ("c_pad,w_10,h_10,g_auto/a.jpg", "g_auto only applies"),
        ("c_scale,w_10,g_north/a.jpg", "no effect"),
        ("c_fill,w_10,h_10,x_5/a.jpg", "x_ and y_ only apply"),
        ("g_north/a.jpg", "need a crop mode"),
        ("f_webp/f_png/a.jpg", "contradictory formats"),
        ("q_80/q_90/a.jpg", "contradictory qualities"),
        ("t_nope/a.jpg", "unknown named preset 'nope'"),
        ("t_hero,w_10/a.jpg", "alone in its component"),
        ("w_10/a.gif", "unsupported extension"),
        ("w_10/a.tar.gz", "unsupported extension"),
        ("w_10/../a.jpg", "not a parameter"),
        ("v1/../a.jpg", "invalid public id segment"),
        ("v1/a/../b.jpg", "invalid public id segment"),
        # Review's rule, the database column's length: longer ids can never have been approved.
        ("v1/" + "a" * 121 + ".jpg", "at most 120 characters"),
        ("v1/" + "a" * 60 + "/" + "b" * 60 + ".jpg", "at most 120 characters"),
        ("w_10//a.jpg", "empty segment"),
        ("s--short--/a.jpg", "signature"),
        ("s--abcdefghij--", "names no image"),
        ("", "names no image"),
        ("w_/a.jpg", "has no value"),
        ("w_10,/a.jpg", "not a parameter"),
    ],
)
def test_bad_paths_are_rejected_with_a_plain_reason(path: str, reason: str) -> None:
    with pytest.raises(TransformationError, match=None) as caught:
        parse_delivery_path(path, presets=PRESETS)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_presets_cannot_nest() -> None:
    with pytest.raises(TransformationError, match="named preset 'outer' is invalid"):
        parse_delivery_path("t_outer/a.jpg", presets={"outer": "t_inner", "inner": "w_10"})


def test_an_invalid_preset_definition_is_reported_by_name() -> None:
    with pytest.raises(TransformationError, match="named preset 'bad' is invalid: unknown crop mode"):
        parse_delivery_path("t_bad/a.jpg", presets={"bad": "c_squash,w_10"})


def test_too_many_components_is_rejected() -> None:
    with pytest.raises(TransformationError, match="at most 16"):
        parse_delivery_path("/".join(["w_10"] * 17) + "/a.jpg")


def test_reasons_quote_untrusted_text_safely() -> None:
    with pytest.raises(TransformationError) as caught:
        parse_delivery_path("zz\u202e\x00_1/a.jpg")
    message = str(caught.value)
    assert message.isascii()
    assert "\x00" not in message


# --- fuzzing: any text gives a result or a TransformationError, never anything else ----------------------

TOKENS = [
    "c_", "g_", "w_", "h_", "ar_", "dpr_", "x_", "y_", "b_", "f_", "q_", "t_", "v", "s--", "--",
    "fill", "pad", "crop", "thumb", "auto", "face", "north_east", "rgb:", "white", "webp", "hero",
    "1", "0", "9", ".", ":", ",", "/", "_", "-", "a", "jpg", "..", "%2F", "\u0663", "\x00", " ",
]  # fmt: skip


def _parse_or_error(text: str) -> None:
    try:
        request = parse_delivery_path(text, presets=PRESETS)
    except TransformationError:
        return
    # Whatever parses must round-trip through its own canonical forms.
    assert isinstance(request.canonical_transformation, str)
    reparsed = parse_delivery_path(request.canonical_path, presets=PRESETS)
    assert reparsed.components == request.components
    assert reparsed.canonical_transformation == request.canonical_transformation
    if request.canonical_transformation:
        assert parse_transformation(request.canonical_transformation) == _without_empty(request.components)


def _without_empty(components: tuple[Transformation, ...]) -> tuple[Transformation, ...]:
    # The cache-key form gathers f_/q_ into one final component, so compare pixel steps + delivery.
    steps = tuple(replace(c, format=None, quality=None) for c in components)
    steps = tuple(c for c in steps if c != Transformation())
    fmt = next((c.format for c in components if c.format), None)
    quality = next((c.quality for c in components if c.quality is not None), None)
    delivery = Transformation(format=fmt, quality=quality)
    return steps + ((delivery,) if delivery != Transformation() else ())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_any_text_is_refused_plainly_or_round_trips_through_its_canonical_form(text: str) -> None:
    _parse_or_error(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_grammar_shaped_text_is_refused_plainly_or_round_trips_too(text: str) -> None:
    _parse_or_error(text)


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(["c_fill", "g_north", "w_300", "h_200", "f_webp", "q_auto:eco", "b_rgb:abc"]),
)
def test_fuzz_any_parameter_order_gives_one_canonical_form(params: list[str]) -> None:
    assert (
        canonical_transformation(",".join(params))
        == "b_rgb:aabbcc,c_fill,g_north,h_200,w_300/f_webp,q_auto:eco"
    )


VALUES = {
    "c": ["scale", "fit", "limit", "mfit", "fill", "lfill", "pad", "lpad", "mpad", "crop", "thumb"],
    "g": ["center", "north", "south_east", "west", "auto", "face", "faces"],
    "w": ["1", "0100", "640", "0.5", "1.0", "0.25"],
    "h": ["1", "480", "0.75"],
    "ar": ["16:9", "1.5", "3:2", "1"],
    "dpr": ["1", "1.0", "2", "0.5"],
    "x": ["0", "10"],
    "y": ["0", "7"],
    "b": ["white", "rgb:fff", "rgb:00000000", "rgb:ABCDEF"],
    "f": ["auto", "jpg", "jpeg", "webp"],
    "q": ["auto", "auto:good", "auto:low", "80"],
}
component_strategy = st.dictionaries(
    st.sampled_from(sorted(VALUES)), st.just(None), min_size=1, max_size=6
).flatmap(
    lambda keys: st.tuples(*[st.sampled_from([f"{k}_{v}" for v in VALUES[k]]) for k in keys]).flatmap(
        st.permutations
    )
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(component_strategy, min_size=1, max_size=3))
def test_fuzz_valid_looking_chains_round_trip(components: list[list[str]]) -> None:
    _parse_or_error("/".join(",".join(params) for params in components) + "/v1/a/b.jpg")
