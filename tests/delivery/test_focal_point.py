"""The focal point moves g_auto crops: in the renderer, in stored variants and at the public URL."""

import io

import pytest
from PIL import Image, ImageDraw

from delivery.geometry import planned_size, planned_upscale
from delivery.models import NamedPreset, Variant
from delivery.rendering import render
from delivery.services import hit_cache
from delivery.transformations import parse_transformation
from review.decisions import asset_review_decide
from review.edits import asset_focal_point_set
from tests.conftest import checklist_all

GREEN_X = 50 / 600  # the subject's centre, as a fraction of the width


def two_subjects() -> Image.Image:
    """A small green subject on the left and a large red disc on the right, which attention picks."""
    image = Image.new("RGB", (600, 200), (40, 40, 40))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 70, 80, 130), fill=(0, 200, 0))
    draw.ellipse((440, 40, 560, 160), fill=(255, 30, 30))
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def colour_counts(data: bytes) -> tuple[int, int]:
    """(red pixels, green pixels) in an encoded image."""
    pixels = Image.open(io.BytesIO(data)).convert("RGB").get_flattened_data()
    red = sum(1 for r, g, b in pixels if r > 200 and g < 90)
    green = sum(1 for r, g, b in pixels if g > 150 and r < 90)
    return red, green


@pytest.mark.parametrize("transformation", ["c_fill,g_auto,w_100,h_100", "c_crop,g_auto,w_200,h_200"])
def test_g_auto_centres_on_the_focal_point_instead_of_the_attention_crop(transformation):
    chain = parse_transformation(transformation)
    source = png(two_subjects())

    red, green = colour_counts(render(source, chain, output_format="png").data)
    assert red > 500 and green == 0  # libvips' attention goes for the red disc

    focused = render(source, chain, output_format="png", focal=(GREEN_X, 0.5))
    red, green = colour_counts(focused.data)
    assert green > 500 and red == 0
    assert (focused.width, focused.height) == planned_size(chain, 600, 200)


def test_a_focal_point_near_the_edge_keeps_the_crop_inside_the_image():
    chain = parse_transformation("c_crop,g_auto,w_200,h_200")
    rendered = render(png(two_subjects()), chain, output_format="png", focal=(0.0, 0.0))
    assert (rendered.width, rendered.height) == (200, 200)
    red, green = colour_counts(rendered.data)
    assert green > 500 and red == 0  # the left edge, clamped, not cut off


def test_the_focal_point_follows_the_image_through_an_earlier_crop():
    # The first component keeps the left 300 px; the point (in source fractions) is then at 1/6 of that.
    chain = parse_transformation("c_crop,g_west,w_300,h_200/c_crop,g_auto,w_100,h_100")
    rendered = render(png(two_subjects()), chain, output_format="png", focal=(GREEN_X, 0.5))
    red, green = colour_counts(rendered.data)
    assert green > 2000 and red == 0


def test_planned_upscale_counts_enlargement_not_padding():
    assert planned_upscale(parse_transformation("c_fill,g_auto,w_1080,h_1920"), 256, 192) == 10.0
    assert planned_upscale(parse_transformation("c_fill,g_auto,w_100,h_100"), 600, 200) == 1.0
    # A pad onto a larger canvas enlarges by the fit only (400/256), whatever the canvas adds.
    assert planned_upscale(parse_transformation("c_pad,w_400,h_400"), 256, 192) == pytest.approx(1.5625)


@pytest.fixture
def approved_two_subjects(make_asset, reviewer, channel_presets, django_capture_on_commit_callbacks):
    NamedPreset.objects.create(name="square-test", label="Square", transformation="c_fill,g_auto,w_100,h_100")
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(size=(600, 200), image=two_subjects())
    with django_capture_on_commit_callbacks(execute=True):
        review = asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
        )
    return asset, review.public_id


def test_moving_the_focal_point_changes_the_delivered_crop_at_once(
    client, approved_two_subjects, reviewer, django_capture_on_commit_callbacks
):
    asset, public_id = approved_two_subjects
    url = f"/image/upload/t_square-test/{public_id}.png"

    before = client.get(url)
    assert before.status_code == 200
    red, green = colour_counts(before.content)
    assert red > 500 and green == 0
    assert hit_cache.get(f"t_square-test/{public_id}.png") is not None  # this process remembers the path

    with django_capture_on_commit_callbacks(execute=True):
        asset_focal_point_set(asset=asset, actor=reviewer, x=GREEN_X, y=0.5)

    after = client.get(url)
    assert after.status_code == 200
    red, green = colour_counts(after.content)
    assert green > 500 and red == 0
    assert after["ETag"] != before["ETag"]
    # The variant around the old point is gone; the one stored now is keyed by the new point.
    assert list(Variant.objects.filter(asset=asset).values_list("focal", flat=True)) == ["0.0833,0.5000"]

    with django_capture_on_commit_callbacks(execute=True):
        asset_focal_point_set(asset=asset, actor=reviewer, x=None, y=None)
    red, green = colour_counts(client.get(url).content)
    assert red > 500 and green == 0


def test_a_path_another_process_remembers_misses_after_the_focal_point_moves(
    client, approved_two_subjects, reviewer, django_capture_on_commit_callbacks
):
    """Other processes keep path -> file for a few seconds; the purge deletes the file and the crop around
    the new point is stored under another name, so the remembered path cannot serve the old crop."""
    asset, public_id = approved_two_subjects
    path = f"t_square-test/{public_id}.png"
    client.get(f"/image/upload/{path}")
    remembered = hit_cache.get(path)
    assert remembered is not None

    with django_capture_on_commit_callbacks(execute=True):
        asset_focal_point_set(asset=asset, actor=reviewer, x=GREEN_X, y=0.5)
    # As if another process still held the entry: put it back.
    hit_cache.put(
        path, **{k: getattr(remembered, k) for k in remembered.__dataclass_fields__ if k != "kept_until"}
    )

    response = client.get(f"/image/upload/{path}")
    red, green = colour_counts(response.content)
    assert green > 500 and red == 0
    new = Variant.objects.get(asset=asset)
    assert new.file.name != remembered.file_name


def test_a_chain_without_g_auto_keeps_its_stored_key_when_the_point_moves(
    client, approved_two_subjects, reviewer
):
    """(The purge after the commit would remove it anyway; without the commit here, the key alone decides.)"""
    asset, public_id = approved_two_subjects
    assert client.get(f"/image/upload/t_product-thumb/{public_id}.png").status_code == 200
    asset_focal_point_set(asset=asset, actor=reviewer, x=GREEN_X, y=0.5)
    assert client.get(f"/image/upload/t_product-thumb/{public_id}.png").status_code == 200
    # One variant: the pad ignores the point, so its key has none and the second request found the first.
    assert list(Variant.objects.filter(asset=asset).values_list("focal", flat=True)) == [""]
