"""The model benchmark's metrics on synthetic images whose answer is known (no model is loaded)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from generation.training.catalogue import COLOURS

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

BENCH_FILE = Path(__file__).resolve().parents[2] / "bench" / "model_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("model_bench", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("model_bench", None)


def _sprite(shape: str, rgb: tuple[int, int, int], size: int = 64) -> torch.Tensor:
    """A premultiplied RGBA sprite, like data.load_sprites gives."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    masks = {
        "disc": x**2 + y**2 < 0.8,
        "square": (x.abs() < 0.7) & (y.abs() < 0.7),
        "triangle": (y > -0.8) & (y < 0.8) & (x.abs() < (y + 0.8) / 2),
        "cross": ((x.abs() < 0.2) & (y.abs() < 0.9)) | ((y.abs() < 0.2) & (x.abs() < 0.9)),
        "ring": (x**2 + y**2 < 0.85) & (x**2 + y**2 > 0.35),
        "bar": (x.abs() < 0.9) & (y.abs() < 0.3),
    }
    alpha = masks[shape].float()
    colour = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255.0
    return torch.cat([colour * alpha, alpha[None]])


SPRITES = [
    ("disc", (230, 40, 40)),
    ("square", (240, 200, 30)),
    ("triangle", (40, 170, 60)),
    ("cross", (40, 80, 220)),
    ("ring", (150, 60, 190)),
    ("bar", (250, 140, 40)),
    ("disc", (40, 80, 220)),
    ("square", (230, 40, 40)),
]


def _solid(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.float64) / 255.0, (64, 64, 3)).copy()


def test_lab_conversion_of_white_and_black(bench):
    assert np.allclose(bench.srgb_to_lab(np.array([1.0, 1.0, 1.0])), [100, 0, 0], atol=0.05)
    assert np.allclose(bench.srgb_to_lab(np.array([0.0, 0.0, 0.0])), [0, 0, 0], atol=0.05)


@pytest.mark.parametrize("colour", COLOURS, ids=lambda c: c.name)
def test_a_solid_image_is_its_own_colour_and_no_other(bench, colour):
    image = _solid(colour.rgb)
    ok, detected, delta_e = bench.background_verdict(image, colour.name)
    assert ok and detected == colour.name and delta_e < 1e-6
    other = next(c for c in COLOURS if c.name != colour.name)
    ok, detected, _ = bench.background_verdict(image, other.name)
    assert not ok and detected == colour.name


def test_slightly_off_backgrounds_still_count_but_wrong_ones_do_not(bench):
    light_gray = next(c for c in COLOURS if c.name == "light gray")
    # A few levels off (training jitters solid colours by up to 10 per channel): still light gray.
    assert bench.background_verdict(_solid((208, 203, 196)), "light gray")[0]
    # White and beige are close in RGB to light gray; they must not pass as it.
    assert not bench.background_verdict(_solid((245, 245, 245)), light_gray.name)[0]
    assert not bench.background_verdict(_solid((230, 215, 180)), light_gray.name)[0]


def test_the_border_ignores_the_object_in_the_middle(bench):
    sprite = _sprite("square", (20, 20, 20))
    image = bench.clean_reference(sprite, "yellow")
    assert bench.background_verdict(image, "yellow")[0]
    assert not bench.background_verdict(image, "black")[0]


def _reference_features(bench, colour: str) -> np.ndarray:
    return np.stack(
        [bench.image_features(bench.clean_reference(_sprite(shape, rgb), colour)) for shape, rgb in SPRITES]
    )


@pytest.mark.parametrize("colour", ["white", "navy", "teal"])
def test_each_reference_retrieves_itself_first(bench, colour):
    references = _reference_features(bench, colour)
    for index, (shape, rgb) in enumerate(SPRITES):
        image = bench.clean_reference(_sprite(shape, rgb), colour)
        rank, order = bench.rank_of(bench.image_features(image), references, index)
        assert rank == 1 and order[0] == index


def test_shifted_and_rescaled_references_still_retrieve_themselves(bench):
    references = _reference_features(bench, "beige")
    background = bench.solid_background(next(c for c in COLOURS if c.name == "beige").rgb)
    for index, (shape, rgb) in enumerate(SPRITES):
        for scale, centre in ((0.58, (0.46, 0.53)), (0.78, (0.54, 0.47))):
            image = bench.to_array(bench.composite(_sprite(shape, rgb), background, scale, centre))
            rank, _ = bench.rank_of(bench.image_features(image), references, index)
            assert rank == 1, (shape, rgb, scale)


def test_a_different_object_is_not_retrieved_as_the_prompted_one(bench):
    references = _reference_features(bench, "white")
    red_disc = bench.clean_reference(_sprite("disc", (230, 40, 40)), "white")
    features = bench.image_features(red_disc)
    # Prompted: the blue cross (index 3); generated: a red disc. It must not count as a hit.
    rank, order = bench.rank_of(features, references, 3)
    assert rank > 1 and order[0] == 0
    # Same shape, other colour (blue disc) and same colour, other shape (red square) rank behind it too.
    assert bench.rank_of(features, references, 6)[0] > 1
    assert bench.rank_of(features, references, 7)[0] > 1


def test_an_empty_image_ranks_every_object_last(bench):
    references = _reference_features(bench, "green")
    blank = _solid(next(c for c in COLOURS if c.name == "green").rgb)
    features = bench.image_features(blank)
    assert all(bench.rank_of(features, references, index)[0] == len(SPRITES) for index in range(len(SPRITES)))


def test_percentiles_interpolate_between_the_nearest_values(bench):
    assert bench.percentile([1.0], 0.9) == 1.0
    assert bench.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert bench.percentile([0.0, 10.0], 0.9) == pytest.approx(9.0)


def test_the_model_snapshot_is_a_consistent_copy(bench, tmp_path):
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "unet" / "weights.bin").write_bytes(b"x" * 10)
    (model / "training_state.json").write_text(json.dumps({"unet_steps": 7}))
    state = bench.snapshot_model(model, tmp_path / "copy")
    assert state == {"unet_steps": 7}
    assert (tmp_path / "copy" / "unet" / "weights.bin").read_bytes() == b"x" * 10
