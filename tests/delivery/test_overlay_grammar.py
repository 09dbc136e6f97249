"""Layers in the URL grammar (l_<public_id>, l_text:..., fl_layer_apply): one canonical form, clear errors,
and the brand kit variables."""

import contextlib
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.overlays import (
    BrandValues,
    ImageLayer,
    Overlay,
    TextLayer,
    overlay_public_ids,
    substitute_brand,
    uses_brand,
)
from delivery.transformations import (
    TransformationError,
    canonical_transformation,
    parse_delivery_path,
    parse_transformation,
)

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free


def layer(text: str) -> Overlay:
    (component,) = parse_transformation(text)
    assert component.overlay is not None
    return component.overlay


def test_an_image_layer_and_its_placement_are_one_component() -> None:
    overlay = layer("l_logo,w_40,o_50/fl_layer_apply,g_south_east,x_10,y_5")
    assert overlay.layer == ImageLayer("logo")
    assert (overlay.width, overlay.opacity, overlay.gravity, overlay.x, overlay.y) == (
        40,
        50,
        "south_east",
        10,
        5,
    )


def test_placement_may_sit_in_the_layer_component_as_cloudinary_accepts() -> None:
    assert canonical_transformation("l_logo,g_north,y_8") == canonical_transformation(
        "l_logo/fl_layer_apply,g_north,y_8"
    )


def test_folders_in_layer_ids_use_colons() -> None:
    assert layer("l_brand:logo/fl_layer_apply").layer == ImageLayer("brand/logo")
    assert canonical_transformation("l_brand:logo") == "l_brand:logo/fl_layer_apply"


def test_defaults_are_dropped_from_the_canonical_form() -> None:
    # center gravity, zero offsets, full opacity, c_scale: all what leaving them out means
    assert canonical_transformation("l_logo,c_scale,w_40,o_100/fl_layer_apply,g_center,x_0,y_0") == (
        "l_logo,w_40/fl_layer_apply"
    )


def test_fl_relative_is_kept_only_where_a_fraction_uses_it() -> None:
    assert canonical_transformation("l_logo,fl_relative,w_0.2") == "l_logo,fl_relative,w_0.2/fl_layer_apply"
    assert canonical_transformation("l_logo,fl_relative,w_40") == "l_logo,w_40/fl_layer_apply"
    assert canonical_transformation("l_logo,w_0.2") == "l_logo,w_0.2/fl_layer_apply"


def test_layer_offsets_may_be_negative_or_fractions_of_the_image() -> None:
    overlay = layer("l_logo/fl_layer_apply,g_north_west,x_-12,y_0.25")
    assert (overlay.x, overlay.y) == (-12, 0.25)


def test_a_text_layer_decodes_its_text_and_names_the_shipped_font() -> None:
    # As Django hands the path over: %252C in the URL is %2C here, the text's comma.
    overlay = layer("l_text:dejavu%20sans_40_bold:Sale%2C%2050%25%20off,co_red,b_rgb:00000080")
    assert overlay.layer == TextLayer(font="DejaVuSans", size=40, bold=True, text="Sale, 50% off")
    assert (overlay.colour, overlay.background) == ("ff0000", "00000080")
    assert canonical_transformation(
        "l_text:dejavu%20sans_40_bold:Sale%2C%2050%25%20off,co_red,b_rgb:00000080"
    ) == ("l_text:DejaVuSans_40_bold:Sale%2C%2050%25%20off,b_rgb:00000080,co_rgb:ff0000/fl_layer_apply")


def test_a_text_layer_keeps_its_slashes_and_unicode() -> None:
    overlay = layer("l_text:DejaVuSerif_20:a%2Fb%20%E2%82%AC5")
    assert overlay.layer.text == "a/b €5"
    assert "/" not in canonical_transformation("l_text:DejaVuSerif_20:a%2Fb").split("/fl_layer_apply")[0]


def test_layers_sit_in_the_chain_where_they_are_written() -> None:
    chain = parse_transformation("c_fill,w_100,h_100/l_logo/fl_layer_apply,g_north/c_scale,w_50")
    assert [c.overlay is not None for c in chain] == [False, True, False]
    assert overlay_public_ids(chain) == ["logo"]


def test_a_layer_in_a_delivery_path_round_trips_through_the_canonical_path() -> None:
    request = parse_delivery_path("l_logo,w_0.3,fl_relative/fl_layer_apply,g_south_west,x_4/v3/base.png")
    again = parse_delivery_path(request.canonical_path)
    assert again.canonical_transformation == request.canonical_transformation
    assert again.public_id == "base"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("l_logo/e_grayscale/fl_layer_apply", "fl_layer_apply closes a layer"),
        ("fl_layer_apply,g_north", "fl_layer_apply closes a layer"),
        ("l_logo,e_blur", "e_ is not supported in a layer component"),
        ("l_logo,g_auto", "compass point"),
        ("l_logo,g_north/fl_layer_apply,g_south", "not in both"),
        ("l_logo,c_fill,w_10,h_10", "a layer takes c_"),
        ("l_logo,c_fit", "needs w_ or h_"),
        ("l_logo,co_red", "colours a text layer"),
        ("l_logo,o_101", "o_ (opacity)"),
        ("l_logo,fl_tiled", "unsupported flag"),
        ("l_logo/fl_layer_apply.no_overflow", "unsupported flag"),
        ("l_fetch:aHR0cDovL3g", "only image layers"),
        ("l_../etc", "invalid layer public id"),
        ("l_" + "a" * 121, "at most 120 characters"),
        ("l_$brand", "brand variables"),
        ("l_text:Comic%20Sans_40:hi", "unknown font 'Comic Sans'"),
        ("l_text:DejaVuSans_7:hi", "8 to 300"),
        ("l_text:DejaVuSans_301:hi", "8 to 300"),
        ("l_text:DejaVuSans:hi", "needs a size"),
        ("l_text:DejaVuSans_40_italic:hi", "unsupported text style 'italic'"),
        ("l_text:DejaVuSans_40:" + "a" * 201, "at most 200"),
        ("l_text:DejaVuSans_40:%20%20", "empty"),
        ("l_text:DejaVuSans_40:%07bell", "unprintable"),
        ("l_text:DejaVuSans_40:%ff", "not valid UTF-8"),
        ("l_text:DejaVuSans_40:hi,w_100", "sized by its font size"),
        ("l_text:DejaVuSans_40:hi,co_$tertiary", "brand variables"),
        ("l_text:$typeface_40:hi", "brand variables"),
    ],
)
def test_bad_layers_are_rejected_with_a_plain_reason(text: str, reason: str) -> None:
    with pytest.raises(TransformationError) as excinfo:
        parse_transformation(text)
    assert reason in str(excinfo.value)


def test_unknown_font_lists_the_shipped_ones() -> None:
    with pytest.raises(TransformationError, match="DejaVuSans, DejaVuSerif"):
        parse_transformation("l_text:Arial_40:hi")


def test_the_whole_canonical_chain_is_bounded() -> None:
    text = "%E2%82%AC" * 200  # 200 characters that grow nine-fold when encoded
    path = "/".join([f"l_text:DejaVuSans_20:{text}"] * 2) + "/base.png"
    with pytest.raises(TransformationError, match="longer than 2048"):
        parse_delivery_path(path)


# --- brand kit variables ----------------------------------------------------------------------------------

PRESET = (
    "c_fill,w_100,h_100/l_$logo,fl_relative,w_0.15/fl_layer_apply,g_south_east"
    "/l_text:$font_20:Hi,co_$primary,b_$secondary"
)


def test_brand_variables_parse_and_stay_generic_in_the_canonical_form() -> None:
    canonical = canonical_transformation(PRESET)
    assert "l_$logo" in canonical and "l_text:$font_20:Hi" in canonical
    assert "co_$primary" in canonical and "b_$secondary" in canonical
    assert uses_brand(parse_transformation(PRESET))


def test_substitution_puts_in_the_kit() -> None:
    chain = substitute_brand(
        parse_transformation(PRESET),
        BrandValues(logo="acme", font="DejaVuSerif", primary="112233", secondary="ffeedd"),
    )
    assert not uses_brand(chain)
    assert "/".join(c.canonical() for c in chain) == canonical_transformation(
        "c_fill,w_100,h_100/l_acme,fl_relative,w_0.15/fl_layer_apply,g_south_east"
        "/l_text:DejaVuSerif_20:Hi,co_rgb:112233,b_rgb:ffeedd"
    )


def test_without_a_logo_the_logo_layer_is_left_out() -> None:
    chain = substitute_brand(parse_transformation(PRESET), BrandValues())
    assert overlay_public_ids(chain) == []
    assert len(chain) == 2  # the crop and the text layer


# --- fuzzing ----------------------------------------------------------------------------------------------

_ids = st.from_regex(r"[A-Za-z0-9_-]{1,12}(:[A-Za-z0-9_-]{1,12})?", fullmatch=True)
_sizes = st.one_of(st.none(), st.integers(1, 2000).map(str), st.sampled_from(["0.5", "0.15", "1.0"]))
_offsets = st.one_of(st.none(), st.integers(-500, 500).map(str), st.sampled_from(["0.04", "-0.5", "0.0"]))
_gravities = st.one_of(st.none(), st.sampled_from(["center", "north", "south_east", "west", "north_west"]))


@st.composite
def _layers(draw) -> str:
    if draw(st.booleans()):
        params = [f"l_{draw(_ids)}"]
        for key, value in (("w", draw(_sizes)), ("h", draw(_sizes))):
            if value is not None:
                params.append(f"{key}_{value}")
        if draw(st.booleans()):
            params.append("fl_relative")
    else:
        text = draw(st.text(min_size=1, max_size=30).filter(lambda t: t.strip()))
        font = draw(st.sampled_from(["DejaVuSans", "dejavu%20serif", "$font"]))
        style = draw(st.sampled_from(["", "_bold", "_normal"]))
        params = [f"l_text:{font}_{draw(st.integers(8, 300))}{style}:{quote(text, safe='')}"]
        if draw(st.booleans()):
            params.append(f"co_{draw(st.sampled_from(['red', 'rgb:abc', '$primary']))}")
    if draw(st.booleans()):
        params.append(f"o_{draw(st.integers(0, 100))}")
    placement = [
        f"{key}_{value}"
        for key, value in (("g", draw(_gravities)), ("x", draw(_offsets)), ("y", draw(_offsets)))
        if value is not None
    ]
    params = draw(st.permutations(params))
    return ",".join(params) + "/" + ",".join(["fl_layer_apply", *placement])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_layers())
def test_layer_canonical_form_is_a_fixed_point(text: str) -> None:
    try:
        canonical = canonical_transformation(text)
    except TransformationError:
        return  # refused with a reason is fine; anything else would fail the test
    assert canonical_transformation(canonical) == canonical


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.sampled_from("l_text:$fontDejaVuS0123456789,/%2C.-abgxyoco"), max_size=60))
def test_arbitrary_layer_like_input_never_raises_anything_but_a_reason(text: str) -> None:
    with contextlib.suppress(TransformationError):
        parse_transformation(text)
