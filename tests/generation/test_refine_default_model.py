"""Every refine operation once on the shipped default model, on an image it drew itself.

The checks are the ones a marketer would make by eye, in numbers: the removed object leaves background, a
replaced background has the asked colour around the same subject, an outpainted canvas keeps the original's
pixels and continues its background, an upscale matches the original when scaled back.
"""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from generation import operations as ops
from generation.engine import masks
from generation.engine.generate import generate_images
from generation.engine.refine import RefineJob, run_refine
from generation.engine.registry import get_model
from generation.engine.runner import TextToImageJob

STEPS = 25
# What the shipped default model delivers: 512 px (128 px drawn, Real-ESRGAN x4); the first generation: 256.
SIZE = get_model("default").output_size


def _px(at_256: int) -> int:
    """A length in pixels chosen for the default model's 256 px images, at SIZE."""
    return round(at_256 * SIZE / 256)


def _never_cancel(_step: int, _total: int) -> bool:
    return True


def _lab(pixels: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(pixels.astype(np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def _delta_e(pixels: np.ndarray, colour) -> float:
    return float(np.linalg.norm(_lab(pixels) - _lab(np.array([colour])), axis=1).mean())


def _border(image: Image.Image, width: int = _px(6)) -> np.ndarray:
    array = np.asarray(image.convert("RGB")).astype(np.float32)
    return np.concatenate(
        [
            array[:width].reshape(-1, 3),
            array[-width:].reshape(-1, 3),
            array[:, :width].reshape(-1, 3),
            array[:, -width:].reshape(-1, 3),
        ]
    )


@pytest.fixture(scope="module")
def model():
    return get_model("default")


@pytest.fixture(scope="module")
def apple(model) -> Image.Image:
    job = TextToImageJob("a red apple on a blue background", "", SIZE, SIZE, 1, 3, STEPS, 5.0)
    [image] = generate_images(model, job, _never_cancel)
    return image


@pytest.fixture(scope="module")
def subject(apple) -> Image.Image:
    found = masks.find_subject(apple)
    assert 0.05 < masks.mask_fraction(found) < 0.7, "the apple is found as the subject"
    return found


def _run(model, apple, operation, mask=None, **options) -> Image.Image:
    job = RefineJob(operation=operation, steps=STEPS, guidance=5.0, seed=1, **options)
    [result] = run_refine(
        model if ops.OPERATIONS[operation].uses_model else None, job, apple, mask, _never_cancel
    )
    return result


def test_remove_leaves_the_background(model, apple, subject):
    mask = subject.filter(ImageFilter.MaxFilter(2 * _px(6) + 1))  # grown 6 px at 256
    background = np.median(_border(apple), axis=0)
    inside = np.asarray(mask) > 0
    before = _delta_e(np.asarray(apple)[inside], background)
    result = _run(model, apple, ops.REMOVE, mask)
    after = _delta_e(np.asarray(result)[inside], background)
    assert before > 30, "control: the apple itself is far from the background colour"
    assert after < 12, f"the removed area is background now (mean ΔE {after:.1f})"


def test_replace_background_puts_the_same_subject_on_the_asked_colour(model, apple, subject):
    result = _run(model, apple, ops.REPLACE_BACKGROUND, prompt="a red apple on a yellow background")
    yellow, blue = (230, 200, 40), np.median(_border(apple), axis=0)
    assert _delta_e(_border(result), yellow) < _delta_e(_border(result), blue)
    assert _delta_e(_border(apple), yellow) > _delta_e(_border(apple), blue), "control"
    core = np.asarray(subject.filter(ImageFilter.MinFilter(2 * _px(4) + 1))) > 0  # shrunk 4 px at 256
    kept = np.abs(np.asarray(result).astype(int) - np.asarray(apple).astype(int))[core].mean()
    assert kept < 2, "the subject's own pixels are kept"


def test_outpaint_keeps_the_original_and_continues_the_background(model, apple):
    result = _run(model, apple, ops.OUTPAINT, aspect="16:9")
    width = round(SIZE * 16 / 9)  # 455 at 256 px: the height is kept
    assert result.size == (width, SIZE)
    offset = (width - SIZE) // 2
    assert result.crop((offset, 0, offset + SIZE, SIZE)).tobytes() == apple.tobytes()
    new_area = np.concatenate(
        [np.asarray(result)[:, :offset].reshape(-1, 3), np.asarray(result)[:, offset + SIZE :].reshape(-1, 3)]
    )
    assert _delta_e(new_area, np.median(_border(apple), axis=0)) < 15


def test_upscale_matches_the_original_when_scaled_back(model, apple):
    result = _run(model, apple, ops.UPSCALE, scale=2)
    assert result.size == (2 * SIZE, 2 * SIZE)
    back = np.asarray(result.resize(apple.size, Image.Resampling.BOX)).astype(float)
    mse = ((back - np.asarray(apple).astype(float)) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 28


@pytest.mark.parametrize(
    ("operation", "options", "needs_mask"),
    [
        (ops.IMG2IMG, {"prompt": "a green apple on a blue background"}, False),
        (ops.INPAINT, {"prompt": "a banana on a blue background"}, True),
        (ops.RECOLOR, {"color": "gold"}, False),
        (ops.RESTORE, {}, False),
        (ops.VARIATIONS, {"prompt": "a red apple on a blue background"}, False),
        (ops.VARIATIONS, {"prompt": "a red apple on a blue background", "mode": "seeds"}, False),
    ],
)
def test_the_other_operations_change_the_image_at_its_size(
    model, apple, subject, operation, options, needs_mask
):
    result = _run(model, apple, operation, subject if needs_mask else None, **options)
    assert result.size == apple.size
    assert np.abs(np.asarray(result).astype(int) - np.asarray(apple).astype(int)).mean() > 1
