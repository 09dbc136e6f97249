"""Layers drawn over delivered images (l_<public_id>, l_text:...) and the brand kit that presets use: where
they land, in what colour, what 404s and 400s, and what revoking an overlaid asset does."""

import importlib
import io

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image

from delivery.geometry import RenderLimitError, RenderLimits
from delivery.models import BrandKit, NamedPreset, Variant
from delivery.overlays import FONTS, FONTS_DIR
from delivery.rendering import render
from delivery.signing import signed_path
from delivery.transformations import parse_transformation
from generation import credentials
from review import decisions as review_decisions
from tests.conftest import checklist_all

BASE = (200, 40, 40)
LOGO = (0, 200, 0)


def _png(size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _render(base: bytes, text: str, **sources: bytes) -> Image.Image:
    rendered = render(base, parse_transformation(text), output_format="png", layer_sources=sources)
    return Image.open(io.BytesIO(rendered.data)).convert("RGB")


def _close(pixel, expected, tolerance: int = 3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def _signed(path: str, settings) -> str:
    return reverse("delivery:serve", args=[signed_path(path, settings.STUDIO_DELIVERY_KEYS)])


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content)).convert("RGB")


@pytest.fixture
def approve(make_asset, reviewer, django_capture_on_commit_callbacks):
    """Make and approve an asset of one colour; returns (asset, public_id)."""

    def make(size: tuple[int, int], colour: tuple[int, int, int]):
        with django_capture_on_commit_callbacks(execute=True):
            # The request's size has a floor of 64; the stored image is the one given.
            asset = make_asset(size=(64, 64), image=Image.new("RGB", size, colour))
        with django_capture_on_commit_callbacks(execute=True):
            review = review_decisions.asset_review_decide(
                asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
            )
        return asset, review.public_id

    return make


# --- pixels: the renderer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("placement", "top_left"),
    [
        ("g_south_east,x_10,y_5", (200 - 10 - 40, 100 - 5 - 20)),
        ("g_north_west,x_10,y_5", (10, 5)),
        ("g_north,y_7", ((200 - 40) // 2, 7)),
        ("g_east,x_0.1", (200 - 20 - 40, (100 - 20) // 2)),  # fractions are of the image under the layer
        ("x_30,y_-10", ((200 - 40) // 2 + 30, (100 - 20) // 2 - 10)),  # center, moved
    ],
)
def test_an_image_layer_lands_where_gravity_and_offsets_say(placement: str, top_left) -> None:
    image = _render(_png((200, 100), BASE), f"l_logo/fl_layer_apply,{placement}", logo=_png((40, 20), LOGO))
    left, top = top_left
    assert image.size == (200, 100)
    assert _close(image.getpixel((left, top)), LOGO) and _close(image.getpixel((left + 39, top + 19)), LOGO)
    for outside in ((left - 1, top), (left + 40, top), (left, top - 1), (left, top + 20)):
        assert _close(image.getpixel(outside), BASE), outside


def test_opacity_blends_the_layer_with_the_image_under_it() -> None:
    image = _render(
        _png((200, 100), BASE), "l_logo,o_25/fl_layer_apply,g_north_west", logo=_png((40, 20), LOGO)
    )
    expected = tuple(round(0.25 * layer + 0.75 * base) for layer, base in zip(LOGO, BASE, strict=True))
    assert _close(image.getpixel((5, 5)), expected)
    assert _close(image.getpixel((50, 50)), BASE)


def test_a_transparent_logo_shows_the_image_through_its_transparent_part() -> None:
    logo = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    logo.paste(Image.new("RGBA", (20, 20), (*LOGO, 255)), (0, 0))
    buffer = io.BytesIO()
    logo.save(buffer, format="PNG")
    image = _render(_png((200, 100), BASE), "l_logo/fl_layer_apply,g_north_west", logo=buffer.getvalue())
    assert _close(image.getpixel((5, 5)), LOGO) and _close(image.getpixel((30, 5)), BASE)


def test_layer_sizes_are_of_the_layer_or_with_fl_relative_of_the_image() -> None:
    base, logo = _png((200, 100), BASE), _png((40, 20), LOGO)
    own = _render(base, "l_logo,w_0.5/fl_layer_apply,g_north_west", logo=logo)  # 20x10
    assert _close(own.getpixel((19, 9)), LOGO) and _close(own.getpixel((21, 5)), BASE)
    relative = _render(base, "l_logo,fl_relative,w_0.5/fl_layer_apply,g_north_west", logo=logo)  # 100x50
    assert _close(relative.getpixel((99, 49)), LOGO) and _close(relative.getpixel((101, 20)), BASE)


def test_a_layer_partly_outside_is_cut_off_and_never_grows_the_image() -> None:
    image = _render(
        _png((200, 100), BASE), "l_logo/fl_layer_apply,g_north_west,x_-20,y_-10", logo=_png((40, 20), LOGO)
    )
    assert image.size == (200, 100)
    assert _close(image.getpixel((0, 0)), LOGO) and _close(image.getpixel((19, 9)), LOGO)
    assert _close(image.getpixel((20, 0)), BASE) and _close(image.getpixel((0, 10)), BASE)


def test_text_is_drawn_in_its_colour_on_its_background_box() -> None:
    blue = (0, 0, 255)
    image = _render(
        _png((400, 160), blue),
        "l_text:DejaVuSans_60_bold:HI,co_red,b_yellow/fl_layer_apply,g_north_west,x_20,y_10",
    )
    pixels = image.load()
    not_blue = [(x, y) for x in range(400) for y in range(160) if not _close(pixels[x, y], blue, 40)]
    xs, ys = [x for x, _ in not_blue], [y for _, y in not_blue]
    assert (min(xs), min(ys)) == (20, 10)  # the box starts where the placement says
    assert 60 < max(xs) - min(xs) < 200 and 40 < max(ys) - min(ys) < 110  # about two glyphs at 60 px
    box = [pixels[x, y] for x in range(min(xs), max(xs) + 1) for y in range(min(ys), max(ys) + 1)]
    red = sum(_close(p, (255, 0, 0), 10) for p in box)
    yellow = sum(_close(p, (255, 255, 0), 10) for p in box)
    assert red > 0.15 * len(box) and yellow > 0.3 * len(box)
    assert _close(pixels[min(xs) + 1, min(ys) + 1], (255, 255, 0), 10)  # the corner is background


def test_text_without_a_background_leaves_the_image_around_the_glyphs() -> None:
    image = _render(
        _png((300, 100), (255, 255, 255)), "l_text:DejaVuSerif_40:Io,co_rgb:0000ff/fl_layer_apply"
    )
    colours = {image.getpixel((x, y)) for x in range(300) for y in range(100)}
    assert any(_close(pixel, (0, 0, 255), 10) for pixel in colours)
    assert _close(image.getpixel((2, 2)), (255, 255, 255))


def test_text_is_never_read_as_markup() -> None:
    # Pango markup would make <big> bigger or fail on a stray '<'; escaped, it is drawn as typed.
    plain = _render(
        _png((600, 100), (255, 255, 255)), "l_text:DejaVuSans_30:%3Cbig%3Ea%3C%2Fbig%3E%20%26/fl_layer_apply"
    )
    assert plain.size == (600, 100)
    dark = [x for x in range(600) if any(plain.getpixel((x, y))[0] < 128 for y in range(100))]
    assert max(dark) - min(dark) > 150  # "<big>a</big> &" is long; "a" alone would be ~20 px


def test_a_text_layer_over_the_render_limits_is_refused() -> None:
    with pytest.raises(RenderLimitError, match="text layer"):
        render(
            _png((100, 100), BASE),
            parse_transformation("l_text:DejaVuSans_300:" + "W" * 40 + "/fl_layer_apply"),
            output_format="png",
            limits=RenderLimits(max_width=2000),
        )


def test_an_image_layer_over_the_render_limits_is_refused() -> None:
    with pytest.raises(RenderLimitError, match="the layer l_logo"):
        render(
            _png((100, 100), BASE),
            parse_transformation("l_logo,w_3000/fl_layer_apply"),
            output_format="png",
            limits=RenderLimits(max_width=2000),
            layer_sources={"logo": _png((40, 20), LOGO)},
        )


def test_the_fonts_ship_with_studio_and_their_licence_is_in_notice() -> None:
    for font in FONTS.values():
        assert font.file(bold=False).is_file() and font.file(bold=True).is_file()
    notice = (FONTS_DIR.parent.parent / "NOTICE").read_text()
    assert "DejaVu" in notice and "Bitstream Vera" in notice


# --- through the serve view -------------------------------------------------------------------------------


def test_a_signed_url_overlays_another_approved_asset(client, approved, approve, settings):
    asset, public_id = approved  # 256x192
    logo, logo_id = approve((40, 20), LOGO)
    response = client.get(
        _signed(f"l_{logo_id},o_50/fl_layer_apply,g_south_east,x_10,y_5/{public_id}.png", settings)
    )
    assert response.status_code == 200, response.content
    image = _image(response)
    assert image.size == (256, 192)
    half = tuple(round((a + b) / 2) for a, b in zip(LOGO, BASE, strict=True))
    assert _close(image.getpixel((256 - 10 - 20, 192 - 5 - 10)), half)
    assert _close(image.getpixel((20, 20)), BASE)
    variant = Variant.objects.get(asset=asset)
    assert list(variant.overlay_assets.all()) == [logo]
    # Its content credentials say a layer was placed over the approved asset.
    found = credentials.read(response.content, format="png")
    assert found is not None and found.intact
    assert "placed over it" in found.summary, found.summary


def test_text_reaches_the_view_double_escaped_as_cloudinary_asks(client, approved, settings):
    _, public_id = approved
    # %2C here is %252C in the URL: a comma in the text, not a parameter separator.
    response = client.get(
        _signed(f"l_text:DejaVuSans_20:Hi%2C%20there,co_white/fl_layer_apply/{public_id}.png", settings)
    )
    assert response.status_code == 200, response.content
    assert "%252C" in _signed(f"l_text:DejaVuSans_20:Hi%2C%20there/fl_layer_apply/{public_id}.png", settings)


def test_urls_built_for_text_layers_are_served(client, approved, settings):
    from delivery.urls_builder import variant_url

    _, public_id = approved
    url = variant_url(
        public_id, "l_text:DejaVuSerif_24:a%2Fb%2C%20c%20%E2%82%AC/fl_layer_apply,g_south", ext="png"
    )
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert _image(response).size == (256, 192)


def test_an_overlay_naming_an_unapproved_asset_is_404(client, approved, make_asset, settings):
    _, public_id = approved
    make_asset()  # a draft: no public id, nothing to overlay
    response = client.get(_signed(f"l_nobody/fl_layer_apply/{public_id}.png", settings))
    assert response.status_code == 404
    assert "'nobody' to overlay" in response.content.decode()
    assert not Variant.objects.exists()


@pytest.mark.parametrize(
    ("layer", "reason"),
    [
        ("l_text:Arial_40:hi/fl_layer_apply", "unknown font 'Arial'"),
        ("l_text:DejaVuSans_40:" + "a" * 201 + "/fl_layer_apply", "at most 200"),
        ("l_logo,e_blur/fl_layer_apply", "not supported in a layer component"),
        ("l_text:DejaVuSans_40:%3Cb%3E/fl_layer_apply.tiled", "unsupported flag"),
    ],
)
def test_bad_layers_are_400_with_the_reason(client, approved, settings, layer, reason):
    _, public_id = approved
    response = client.get(_signed(f"{layer}/{public_id}.png", settings))
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_revoking_an_overlaid_asset_purges_the_variants_that_show_it(
    client, approved, approve, reviewer, settings, django_capture_on_commit_callbacks
):
    asset, public_id = approved
    logo, logo_id = approve((40, 20), LOGO)
    url = _signed(f"l_{logo_id}/fl_layer_apply,g_north_west/{public_id}.png", settings)
    plain = _signed(f"c_scale,w_100/{public_id}.png", settings)
    assert client.get(url).status_code == 200 and client.get(plain).status_code == 200
    overlaid = Variant.objects.get(asset=asset, overlay_assets=logo)
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=logo, actor=reviewer, comment="old logo")
    assert not Variant.objects.filter(pk=overlaid.pk).exists()
    assert not overlaid.file.storage.exists(overlaid.file.name)
    assert Variant.objects.filter(asset=asset).count() == 1  # the base's other variants stay
    response = client.get(url)
    assert response.status_code == 404 and "to overlay" in response.content.decode()


# --- the brand kit ----------------------------------------------------------------------------------------


def test_the_square_social_post_preset_puts_the_kit_logo_in_its_corner(client, approved, approve):
    _, public_id = approved
    logo, _ = approve((40, 20), LOGO)
    BrandKit.objects.create(name="Studio", logo=logo)
    response = client.get(reverse("delivery:serve", args=[f"t_social-square/{public_id}.png"]))
    assert response.status_code == 200, response.content
    image = _image(response)
    assert image.size == (1080, 1080)
    # 15% of the post wide (162x81), 4% (43 px) in from the bottom-right corner
    assert _close(image.getpixel((1080 - 43 - 80, 1080 - 43 - 40)), LOGO, 8)
    assert _close(image.getpixel((1080 - 43 - 170, 1080 - 43 - 40)), BASE, 8)
    assert _close(image.getpixel((1080 - 20, 1080 - 20)), BASE, 8)


def test_without_a_kit_the_preset_renders_without_the_logo(client, approved):
    _, public_id = approved
    response = client.get(reverse("delivery:serve", args=[f"t_social-square/{public_id}.png"]))
    assert response.status_code == 200
    assert _close(_image(response).getpixel((1080 - 43 - 80, 1080 - 43 - 40)), BASE, 8)


def test_a_kit_whose_logo_was_revoked_renders_without_it(
    client, approved, approve, reviewer, django_capture_on_commit_callbacks
):
    _, public_id = approved
    logo, _ = approve((40, 20), LOGO)
    BrandKit.objects.create(name="Studio", logo=logo)
    url = reverse("delivery:serve", args=[f"t_social-square/{public_id}.png"])
    assert _close(_image(client.get(url)).getpixel((1080 - 43 - 80, 1080 - 43 - 40)), LOGO, 8)
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=logo, actor=reviewer, comment="rebrand")
    response = client.get(url)
    assert response.status_code == 200
    assert _close(_image(response).getpixel((1080 - 43 - 80, 1080 - 43 - 40)), BASE, 8)


def test_a_team_kit_wins_over_the_default_kit(client, approved, approve, settings):
    from studio.models import Team

    asset, public_id = approved
    default_logo, _ = approve((40, 20), (0, 0, 250))
    team_logo, _ = approve((40, 20), LOGO)
    team = Team.objects.create(name="Shoes", slug="shoes")
    BrandKit.objects.create(name="Studio", logo=default_logo)
    BrandKit.objects.create(name="Shoes", team=team, logo=team_logo, primary_colour="#FF0000")
    type(asset).objects.filter(pk=asset.pk).update(team=team)
    preset = "l_$logo/fl_layer_apply,g_north_west/l_text:$font_30:Go,co_$primary/fl_layer_apply,g_south"
    NamedPreset.objects.create(name="branded", label="Branded", transformation=preset)
    response = client.get(reverse("delivery:serve", args=[f"t_branded/{public_id}.png"]))
    assert response.status_code == 200, response.content
    image = _image(response)
    assert _close(image.getpixel((5, 5)), LOGO)
    assert any(
        _close(image.getpixel((x, y)), (255, 0, 0), 10) for x in range(100, 156) for y in range(150, 192)
    )
    # The substituted chain keys the variant: a new logo makes a new variant, never a stale one.
    assert "l_$logo" not in Variant.objects.get(asset=asset).transformation


def test_one_kit_per_team_and_one_default(db):
    BrandKit.objects.create(name="Studio")
    with pytest.raises(ValidationError, match="already a brand kit"):
        BrandKit(name="Another").full_clean()


def test_a_kit_logo_must_be_approved(make_asset):
    kit = BrandKit(name="Studio", logo=make_asset(), primary_colour="#ABCDEF")
    with pytest.raises(ValidationError, match="approved"):
        kit.full_clean()


def test_the_migration_adds_the_logo_only_to_the_preset_as_shipped(db):
    migration = importlib.import_module("delivery.migrations.0005_brand_kit")
    preset = NamedPreset.objects.get(name="social-square")
    assert preset.transformation == migration.WITH_LOGO
    assert not preset.problems()
    preset.transformation = migration.SHIPPED
    preset.save()
    migration.add_logo_to_social_square(apps, None)
    assert NamedPreset.objects.get(name="social-square").transformation == migration.WITH_LOGO
    NamedPreset.objects.filter(name="social-square").update(transformation="c_fill,w_1000,h_1000")
    migration.add_logo_to_social_square(apps, None)
    assert NamedPreset.objects.get(name="social-square").transformation == "c_fill,w_1000,h_1000"
