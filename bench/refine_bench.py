"""Refine benchmark: each refine operation timed on this machine, and those with a checkable answer scored.

    .venv/bin/python bench/refine_bench.py [--count N] [--steps S] [--threads T] [--out var/bench/refine.md]

What it does:
1. copies models/default to a temporary folder (the training job swaps it in place) and points the
   registry's "default" entry at the copy;
2. sources: N images the default model draws for "a <object> on a <colour> background", objects spread
   evenly over the model's own list (``spec.subjects``), colours from SOURCE_COLOURS, fixed seeds, at the
   size the registry's "default" entry delivers (its ``output_size``: 512 px, 128 drawn and Real-ESRGAN
   x4). A candidate is used only when ``masks.find_subject`` finds a subject covering 3-60 % of it whose
   colour is at least 20 Delta E from the background's (otherwise removing or keeping it could not be
   measured); skipped candidates are listed in the report;
3. runs each operation once per source through ``generation.engine.refine.run_refine`` (the path the worker
   and ``manage.py refine`` take) and times it; median and p90 seconds per image;
4. scores the operations whose result can be checked from pixels alone, each with a control, an input
   known to be wrong, that must fail the same check (otherwise the check proves nothing):
   - remove (mask: the found subject grown 6 px at 256, 12 at 512): mean CIELAB Delta E 1976 between the
     masked area of the result and the source's background colour (per-channel median of its border ring)
     < DELTA_E_MATCH; control: the source itself, object still there;
   - replace background ("on a <new colour> background", a colour far from the old background and from
     the subject): the result's border ring reads as the asked colour (nearest named colour in CIELAB);
     the subject is kept (found-subject IoU with the source's, and Delta E inside the source's subject);
     controls: the source scored against the asked colour, the result scored against its old colour, and
     the result's subject compared with another source's;
   - outpaint to 16:9 and 9:16, anchor centre: exact target size, zero changed pixels in the original's
     rectangle, new area's mean Delta E to the source's background < DELTA_E_MATCH; control: a canvas with
     the original one pixel off and the new area filled with a wrong colour;
   - upscale x2 and x4: the result box-downscaled to the source's size vs the source, PSNR > PSNR_UPSCALE;
     control: the upscale of another source against this one;
   - restore, on the source blurred and noised: PSNR gain over the degraded copy > RESTORE_GAIN_DB;
     control: the degraded copy itself (gain 0);
   - variations: each differs from its source (mean Delta E >= DELTA_E_VISIBLE); control: the source;
   - image to image, inpaint (the subject redrawn as another object) and recolour: timed only.

The table goes to stdout and var/bench/refine.md, a contact sheet of every source and result to
var/bench/refine-sheet.png. Exit status 1 when a check fails or a control passes.

Lengths in pixels (how far the masks grow or shrink, the blur) are stated at REFERENCE_SIZE, 256 px (the
first default model's size), and scaled by size / 256 to the sources' size, so a run at 512 px measures
what a run at 256 px did.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import training_job_running  # noqa: E402
from bench.model_bench import TARGET_BACKDROP, percentile, snapshot_model  # noqa: E402
from bench.model_judge import (  # noqa: E402
    BORDER_FRACTION,
    border_colour,
    colour_by_name,
    nearest_named_colour,
    srgb_to_lab,
)
from generation.engine import masks  # noqa: E402
from generation.training.catalogue import OBJECTS  # noqa: E402

if TYPE_CHECKING:
    from generation.engine.registry import ModelSpec

BENCH_DIR = ROOT / "var" / "bench"
REPORT = BENCH_DIR / "refine.md"
DEFAULT_MODEL = ROOT / "models" / "default"

# The pixel lengths below are stated at this size (the first default model's) and scaled by size / 256.
REFERENCE_SIZE = 256
PROMPT = "{obj} on a {colour} background"
REPLACE_PROMPT = "on a {colour} background"
SEED_BASE = 100
# Plain catalogue colours (sources, replacements) whose nearest other named colour is 28+ Delta E away (white,
# light gray and beige are within 16-20 of each other), so "reads as the asked colour" is a fair question.
SOURCE_COLOURS = ("blue", "yellow", "teal", "pink", "green", "orange", "light blue", "purple")
REPLACE_COLOURS = ("yellow", "blue", "pink", "teal", "orange", "green", "purple", "light blue", "red", "navy")
NEW_COLOUR_FROM_BACKGROUND = 40.0  # Delta E: the new background must be clearly another colour ...
NEW_COLOUR_FROM_SUBJECT = 30.0  # ... and not the subject's, or the subject would melt into it
SUBJECT_AREA = (0.03, 0.60)  # share of the image a usable source's subject covers ...
SUBJECT_CONTRAST = 20.0  # ... and the Delta E between its median colour and the background's, at least

# Thresholds, fixed before the first run; never tuned to pass.
# Delta E 1976: 2.3 is the just-noticeable difference, about 10 the usual limit of "a difference seen at a
# glance"; every source and replacement colour is at least 28 from its nearest other named colour, so a mean
# under 10 cannot be another colour.
DELTA_E_MATCH = 10.0
DELTA_E_VISIBLE = 2.3
REMOVE_GROW = 6  # px at REFERENCE_SIZE: the remove mask is the found subject grown by this much
SUBJECT_IOU = 0.8
# px at REFERENCE_SIZE: replace-background feathers the subject's edge; further in, pixels are the source's
SUBJECT_ERODE = 4
# A reduction that comes back within 30 dB PSNR of the source keeps its content (lossy codecs at good quality
# score 30-40 dB); a different image scores 10-20 dB.
PSNR_UPSCALE = 30.0
RESTORE_GAIN_DB = 1.0  # smaller gains are not a visible improvement
DEGRADE_BLUR = 1.0  # Gaussian blur radius, px at REFERENCE_SIZE
DEGRADE_NOISE = 8.0  # Gaussian noise sigma, levels of 255
OUTPAINT_ASPECTS = ("16:9", "9:16")
UPSCALE_SCALES = (2, 4)
TILE = 128
# The replace-background rows' target: the model bench's, for the backdrop a text-to-image prompt asks for.
TARGET_BACKGROUND = TARGET_BACKDROP


def delivered_size(spec: ModelSpec) -> int:
    """The side of the square images ``spec`` (the registry's "default" entry) delivers: the sources' size."""
    if not spec.output_size:
        raise SystemExit(f"{spec.key!r} makes any size: the bench needs a fixed-size model (native_size).")
    return spec.output_size


def at_size(pixels: float, size: int) -> float:
    """A length given in px at REFERENCE_SIZE, for an image whose shorter side is ``size``."""
    return pixels * size / REFERENCE_SIZE


def whole_px(pixels: float, size: int) -> int:
    """:func:`at_size` rounded to whole pixels, at least one."""
    return max(1, round(at_size(pixels, size)))


# --- metrics (pure: arrays (H, W, 3) of sRGB in [0, 1], masks (H, W) bool) --------------------------------


def mean_delta_e(image: np.ndarray, where: np.ndarray, rgb: np.ndarray) -> float:
    """Mean CIELAB Delta E 1976 between the pixels of ``image`` inside ``where`` and the colour ``rgb``."""
    pixels = image[where]
    if not len(pixels):
        raise ValueError("the mask selects no pixels")
    return float(np.linalg.norm(srgb_to_lab(pixels) - srgb_to_lab(np.asarray(rgb)), axis=-1).mean())


def image_delta_e(first: np.ndarray, second: np.ndarray, where: np.ndarray | None = None) -> float:
    """Mean Delta E 1976 between two images of one size, pixel by pixel (inside ``where`` when given)."""
    if first.shape != second.shape:
        raise ValueError(f"sizes differ: {first.shape} and {second.shape}")
    distances = np.linalg.norm(srgb_to_lab(first) - srgb_to_lab(second), axis=-1)
    return float(distances[where].mean() if where is not None else distances.mean())


def psnr(first: np.ndarray, second: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (peak 1.0); infinite for identical images."""
    if first.shape != second.shape:
        raise ValueError(f"sizes differ: {first.shape} and {second.shape}")
    mse = float(np.mean((np.asarray(first, np.float64) - np.asarray(second, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ring_colour(image: np.ndarray) -> str:
    """The named colour the border ring reads as (the model bench's measure: ring median, nearest in Lab)."""
    return nearest_named_colour(border_colour(image))[0]


def iou(first: np.ndarray, second: np.ndarray) -> float:
    union = np.count_nonzero(first | second)
    return np.count_nonzero(first & second) / union if union else 1.0


def changed_pixels(canvas: np.ndarray, original: np.ndarray, offset: tuple[int, int]) -> int:
    """How many pixels of ``original``, placed on ``canvas`` at ``offset`` (x, y), differ in any channel."""
    x, y = offset
    height, width = original.shape[:2]
    placed = canvas[y : y + height, x : x + width]
    if placed.shape != original.shape:
        return height * width  # the original does not even fit where it should be
    return int(np.count_nonzero(np.any(placed != original, axis=-1)))


def outside_rectangle(size: tuple[int, int], offset: tuple[int, int], inner: tuple[int, int]) -> np.ndarray:
    """(H, W) bool of a ``size`` canvas, True outside the ``inner`` rectangle placed at ``offset``."""
    width, height = size
    area = np.ones((height, width), dtype=bool)
    area[offset[1] : offset[1] + inner[1], offset[0] : offset[0] + inner[0]] = False
    return area


def grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask grown (or, negative, shrunk) by ``pixels`` with a round brush."""
    image = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    return masks.feathered(image, grow=pixels, soften=0) > 0.5


def remove_area(subject: np.ndarray) -> np.ndarray:
    """The remove operation's mask: the found subject grown by REMOVE_GROW, scaled to the image."""
    return grown(subject, whole_px(REMOVE_GROW, min(subject.shape)))


def subject_core(subject: np.ndarray) -> np.ndarray:
    """The subject shrunk by SUBJECT_ERODE, scaled to the image: where replace-background keeps pixels."""
    return grown(subject, -whole_px(SUBJECT_ERODE, min(subject.shape)))


def degrade(image: Image.Image, seed: int) -> Image.Image:
    """The image blurred and noised, the way an old or over-compressed copy looks; reproducible."""
    radius = at_size(DEGRADE_BLUR, min(image.size))
    blurred = np.asarray(image.convert("RGB").filter(ImageFilter.GaussianBlur(radius)), np.float64)
    noise = np.random.default_rng(seed).normal(0.0, DEGRADE_NOISE, blurred.shape)
    return Image.fromarray(np.clip(np.rint(blurred + noise), 0, 255).astype(np.uint8), "RGB")


def to_array(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] from a PIL image."""
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def downscaled(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The image reduced to ``size`` by area averaging, the inverse an upscale should survive."""
    return to_array(image.resize(size, Image.Resampling.BOX))


def subject_colour(image: np.ndarray, subject: np.ndarray) -> np.ndarray:
    return np.median(image[subject], axis=0) if subject.any() else border_colour(image)


def colour_rgb(name: str) -> np.ndarray:
    return np.array(colour_by_name(name).rgb, dtype=np.float64) / 255.0


def colour_distance(rgb: np.ndarray, name: str) -> float:
    return float(np.linalg.norm(srgb_to_lab(rgb) - srgb_to_lab(colour_rgb(name))))


def new_background_colour(index: int, background: np.ndarray, subject: np.ndarray) -> str:
    """A replacement colour clearly unlike the old background and the subject; deterministic per source."""
    start = index % len(REPLACE_COLOURS)
    rotated = REPLACE_COLOURS[start:] + REPLACE_COLOURS[:start]
    for name in rotated:
        if (
            colour_distance(background, name) >= NEW_COLOUR_FROM_BACKGROUND
            and colour_distance(subject, name) >= NEW_COLOUR_FROM_SUBJECT
        ):
            return name
    return max(rotated, key=lambda name: colour_distance(background, name))


_PLURAL_WORDS = {word for obj in OBJECTS if obj.plural for word in obj.words}


def with_article(word: str) -> str:
    """ "an avocado", "a banana", "french fries": the article rule of the training captions."""
    if word in _PLURAL_WORDS:
        return word
    return ("an " if word[0] in "aeiou" else "a ") + word


# --- the report's rows -------------------------------------------------------------------------------------


@dataclass
class Row:
    operation: str
    seconds: list[float] = field(default_factory=list)
    figure: str = ""
    threshold: str = ""
    passed: bool | None = None  # None: timed only
    control: str = ""
    control_passed: bool | None = None  # a control must fail its check; None: no control

    def __post_init__(self) -> None:
        # NumPy comparisons give np.bool_, and `np.False_ is False` is false: store plain bools.
        self.passed = None if self.passed is None else bool(self.passed)
        self.control_passed = None if self.control_passed is None else bool(self.control_passed)

    @property
    def ok(self) -> bool:
        return self.passed is not False and self.control_passed is not True


def time_cells(seconds: list[float]) -> tuple[str, str]:
    if not seconds:
        return "(same run)", ""
    return f"{statistics.median(seconds):.2f}", f"{percentile(seconds, 0.9):.2f}"


def verdict(row: Row) -> tuple[str, str]:
    result = {None: "timed only", True: "PASS", False: "**FAIL**"}[row.passed]
    control = {None: "", True: "**PASSES: the check proves nothing**", False: "fails, as it must"}[
        row.control_passed
    ]
    return result, control


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| operation | s/image median | s/image p90 | quality | threshold | result | control (must fail) "
        "| control |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        median, p90 = time_cells(row.seconds)
        result, control = verdict(row)
        lines.append(
            f"| {row.operation} | {median} | {p90} | {row.figure} | {row.threshold} | {result} | "
            f"{row.control} | {control} |"
        )
    return lines


def under(values: list[float], limit: float) -> int:
    return sum(value < limit for value in values)


# --- the run -----------------------------------------------------------------------------------------------


@dataclass
class Source:
    index: int
    word: str
    colour: str  # prompted
    seed: int
    prompt: str
    image: Image.Image
    array: np.ndarray
    subject: np.ndarray  # bool
    background: np.ndarray  # measured: median of the border ring
    new_colour: str = ""
    results: dict[str, Image.Image] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)  # per-image figures for the report


def _keep_going(_done: int, _total: int) -> bool:
    return True


def _quiet_libraries() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    with contextlib.suppress(ImportError, AttributeError):
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()


def unusable_source(image: np.ndarray, subject: np.ndarray, background: np.ndarray) -> str:
    """Why removing or keeping this source's subject could not be measured, or "" when it can."""
    fraction = float(subject.mean())
    if not SUBJECT_AREA[0] <= fraction <= SUBJECT_AREA[1]:
        return f"the found subject covers {fraction:.0%} of the image"
    contrast = float(np.linalg.norm(srgb_to_lab(subject_colour(image, subject)) - srgb_to_lab(background)))
    if contrast < SUBJECT_CONTRAST:
        return f"the subject's colour is {contrast:.0f} Delta E from the background's"
    return ""


def make_sources(spec, count: int, steps: int) -> tuple[list[Source], list[float], list[str]]:
    """``count`` usable sources, the seconds each text-to-image call took, and notes on skipped candidates."""
    from generation.engine.generate import generate_images
    from generation.engine.runner import TextToImageJob

    subjects = spec.subjects
    if not subjects:
        raise SystemExit(f"{spec.source} lists no objects (objects.json): the bench needs the default model.")
    stride = max(1, len(subjects) // count)
    size = delivered_size(spec)
    sources: list[Source] = []
    seconds: list[float] = []
    skipped: list[str] = []
    for candidate in range(3 * count):
        if len(sources) == count:
            break
        word = subjects[(candidate * stride) % len(subjects)]
        colour = SOURCE_COLOURS[candidate % len(SOURCE_COLOURS)]
        seed = SEED_BASE + candidate
        prompt = PROMPT.format(obj=with_article(word), colour=colour)
        job = TextToImageJob(prompt, "", size, size, 1, seed, steps, spec.default_guidance)
        started = time.perf_counter()
        [image] = generate_images(spec, job, _keep_going)
        seconds.append(time.perf_counter() - started)
        array = to_array(image)
        subject = np.asarray(masks.find_subject(image)) > 0
        background = border_colour(array)
        problem = unusable_source(array, subject, background)
        if problem:
            skipped.append(f'"{prompt}" (seed {seed}): {problem}')
            continue
        source = Source(len(sources), word, colour, seed, prompt, image, array, subject, background)
        source.new_colour = new_background_colour(candidate, background, subject_colour(array, subject))
        sources.append(source)
        print(f"  source {len(sources)}/{count}: {prompt} (seed {seed})", file=sys.stderr)
    if len(sources) < count:
        raise SystemExit(f"only {len(sources)} of {3 * count} candidate sources were usable: {skipped}")
    return sources, seconds, skipped


def operation_jobs(source: Source, other: Source, steps: int, guidance: float) -> list[tuple]:
    """(key, job, input image, mask) for every operation on ``source``; ``other`` is another source."""
    from generation.engine.refine import RefineJob

    common: dict[str, Any] = {"steps": steps, "guidance": guidance, "seed": source.seed}
    subject = Image.fromarray(source.subject.astype(np.uint8) * 255, "L")
    remove_mask = Image.fromarray(remove_area(source.subject).astype(np.uint8) * 255, "L")
    new_background = REPLACE_PROMPT.format(colour=source.new_colour)
    new_prompt = PROMPT.format(obj=with_article(source.word), colour=source.new_colour)
    other_object = PROMPT.format(obj=with_article(other.word), colour=source.colour)
    image = source.image
    return [
        ("remove", RefineJob("remove", **common), image, remove_mask),
        ("replace_background", RefineJob("replace_background", prompt=new_background, **common), image, None),
        *(
            (
                f"outpaint {aspect}",
                RefineJob("outpaint", aspect=aspect, **common),
                image,
                None,
            )
            for aspect in OUTPAINT_ASPECTS
        ),
        *((f"upscale x{scale}", RefineJob("upscale", scale=scale), image, None) for scale in UPSCALE_SCALES),
        ("img2img", RefineJob("img2img", prompt=new_prompt, **common), image, None),
        ("inpaint", RefineJob("inpaint", prompt=other_object, **common), image, subject),
        ("recolor", RefineJob("recolor", color=source.new_colour), image, None),
        ("restore", RefineJob("restore"), source.results["degraded"], None),
        ("variations", RefineJob("variations", prompt=source.prompt, mode="img2img", **common), image, None),
    ]


def run_operations(spec, sources: list[Source], steps: int) -> dict[str, list[float]]:
    """Every operation on every source; results land in ``source.results``; seconds per operation."""
    from generation.engine.refine import run_refine

    seconds: dict[str, list[float]] = {}
    for source in sources:
        source.results["degraded"] = degrade(source.image, source.seed)
        other = sources[(source.index + 1) % len(sources)]
        for key, job, image, mask in operation_jobs(source, other, steps, spec.default_guidance):
            started = time.perf_counter()
            [result] = run_refine(spec, job, image, mask, _keep_going)
            seconds.setdefault(key, []).append(time.perf_counter() - started)
            source.results[key] = result
        print(f"  refined source {source.index + 1}/{len(sources)}", file=sys.stderr)
    return seconds


def _per_image(sources: list[Source], key: str, values: list[str]) -> None:
    for source, value in zip(sources, values, strict=True):
        source.figures[key] = value


def score_remove(sources: list[Source], seconds: list[float]) -> Row:
    figures, controls = [], []
    for source in sources:
        area = remove_area(source.subject)
        figures.append(mean_delta_e(to_array(source.results["remove"]), area, source.background))
        controls.append(mean_delta_e(source.array, area, source.background))
    pairs = zip(figures, controls, strict=True)
    _per_image(sources, "remove", [f"{figure:.1f} (source {control:.1f})" for figure, control in pairs])
    grow = whole_px(REMOVE_GROW, min(sources[0].image.size))
    return Row(
        f"remove (subject + {grow} px)",
        seconds,
        f"masked area's mean Delta E to the background colour: median {statistics.median(figures):.1f}, "
        f"worst {max(figures):.1f}; {under(figures, DELTA_E_MATCH)}/{len(figures)} under {DELTA_E_MATCH:g}",
        f"median < {DELTA_E_MATCH:g}",
        statistics.median(figures) < DELTA_E_MATCH,
        f"the source, object still there: median {statistics.median(controls):.1f}",
        statistics.median(controls) < DELTA_E_MATCH,
    )


def subject_kept(result: np.ndarray, found: np.ndarray, source: Source) -> tuple[bool, float, float]:
    """(kept, IoU of the subject found in the result with the source's, Delta E inside the source's)."""
    overlap = iou(found, source.subject)
    core = subject_core(source.subject)
    difference = image_delta_e(result, source.array, core) if core.any() else float("inf")
    return overlap >= SUBJECT_IOU and difference < DELTA_E_VISIBLE, overlap, difference


def score_replace_background(sources: list[Source], seconds: list[float]) -> list[Row]:
    count = len(sources)
    asked, source_as_asked, result_as_old, kept, kept_control = 0, 0, 0, 0, 0
    ious, inside, notes = [], [], []
    for source in sources:
        result = to_array(source.results["replace_background"])
        seen, old = ring_colour(result), ring_colour(source.array)
        asked += seen == source.new_colour
        source_as_asked += old == source.new_colour
        result_as_old += seen == old
        found = np.asarray(masks.find_subject(source.results["replace_background"])) > 0
        ok, overlap, difference = subject_kept(result, found, source)
        kept += ok
        kept_control += subject_kept(result, found, sources[(source.index + 1) % count])[0]
        ious.append(overlap)
        inside.append(difference)
        colour = "ok" if seen == source.new_colour else f"**{seen}**"
        notes.append(f"{source.new_colour}: {colour}, IoU {overlap:.2f}, Delta E {difference:.1f}")
    _per_image(sources, "replace", notes)
    target = f"{TARGET_BACKGROUND:.0%}"
    return [
        Row(
            "replace background: the border reads as the asked colour",
            seconds,
            f"{asked}/{count}",
            f">= {target} (the model bench's text-to-image target)",
            asked / count >= TARGET_BACKGROUND,
            f"the source against the asked colour: {source_as_asked}/{count}; the result against its old "
            f"colour: {result_as_old}/{count}",
            max(source_as_asked, result_as_old) / count >= TARGET_BACKGROUND,
        ),
        Row(
            "replace background: the subject is kept",
            [],
            f"{kept}/{count}; found-subject IoU median {statistics.median(ious):.2f} (min {min(ious):.2f}); "
            f"Delta E inside the subject median {statistics.median(inside):.2f}",
            f"IoU >= {SUBJECT_IOU:g} and Delta E < {DELTA_E_VISIBLE:g} in >= {target}",
            kept / count >= TARGET_BACKGROUND,
            f"the result against the next source's subject: {kept_control}/{count}",
            kept_control / count >= TARGET_BACKGROUND,
        ),
    ]


def score_outpaint(sources: list[Source], seconds: list[float], aspect: str) -> Row:
    key = f"outpaint {aspect}"
    sized, changed, fill, control_changed, control_fill, notes = 0, [], [], [], [], []
    for source in sources:
        result = source.results[key]
        size, offset = masks.outpaint_canvas(source.image.size, aspect=masks.parse_aspect(aspect))
        sized += result.size == size
        array = to_array(result)
        new_area = outside_rectangle(size, offset, source.image.size)
        changed.append(changed_pixels(array, source.array, offset))
        fill.append(mean_delta_e(array, new_area, source.background) if result.size == size else np.inf)
        # The control: the right size, but the original one pixel off and the new area a wrong colour.
        wrong = Image.new("RGB", size, colour_by_name(source.new_colour).rgb)
        wrong.paste(source.image, (offset[0] + 1, offset[1] + 1))
        control_changed.append(changed_pixels(to_array(wrong), source.array, offset))
        control_fill.append(mean_delta_e(to_array(wrong), new_area, source.background))
        notes.append(f"{result.width}x{result.height}, {changed[-1]} px, {fill[-1]:.1f}")
    _per_image(sources, key, notes)
    return Row(
        f"outpaint {aspect}, anchor centre",
        seconds,
        f"exact size {sized}/{len(sources)}; changed original pixels: max {max(changed)}; new area's mean "
        f"Delta E to the background: median {statistics.median(fill):.1f}, worst {max(fill):.1f}; "
        f"{under(fill, DELTA_E_MATCH)}/{len(fill)} under {DELTA_E_MATCH:g}",
        f"all exact, 0 px, median < {DELTA_E_MATCH:g}",
        sized == len(sources) and max(changed) == 0 and statistics.median(fill) < DELTA_E_MATCH,
        f"the original 1 px off on the new colour: changed px min {min(control_changed)}, "
        f"Delta E median {statistics.median(control_fill):.1f}",
        # Each part of the check must catch it on its own.
        min(control_changed) == 0 or statistics.median(control_fill) < DELTA_E_MATCH,
    )


def score_upscale(sources: list[Source], seconds: list[float], scale: int) -> Row:
    key = f"upscale x{scale}"
    sized, figures, controls, notes = 0, [], [], []
    for source in sources:
        result = source.results[key]
        sized += result.size == (source.image.width * scale, source.image.height * scale)
        reduced = downscaled(result, source.image.size)
        figures.append(psnr(reduced, source.array))
        other = sources[(source.index + 1) % len(sources)]
        controls.append(psnr(downscaled(other.results[key], source.image.size), source.array))
        # For reading a low figure: how far the flat background's colour moved (a shift, not lost detail).
        shift = float(np.linalg.norm(srgb_to_lab(border_colour(reduced)) - srgb_to_lab(source.background)))
        notes.append(f"{figures[-1]:.1f} (ring {shift:.1f})")
    _per_image(sources, key, notes)
    return Row(
        f"upscale x{scale}",
        seconds,
        f"exact size {sized}/{len(sources)}; PSNR of the result box-reduced to the source's size: median "
        f"{statistics.median(figures):.1f} dB, worst {min(figures):.1f} dB",
        f"all > {PSNR_UPSCALE:g} dB",
        sized == len(sources) and min(figures) > PSNR_UPSCALE,
        f"another source's upscale: best {max(controls):.1f} dB",
        max(controls) > PSNR_UPSCALE,
    )


def score_restore(sources: list[Source], seconds: list[float]) -> Row:
    gains, controls, notes = [], [], []
    for source in sources:
        degraded = to_array(source.results["degraded"])
        before = psnr(degraded, source.array)
        after = psnr(to_array(source.results["restore"]), source.array)
        gains.append(after - before)
        controls.append(psnr(degraded, source.array) - before)
        notes.append(f"{before:.1f} -> {after:.1f}")
    _per_image(sources, "restore", notes)
    blur = at_size(DEGRADE_BLUR, min(sources[0].image.size))
    return Row(
        f"restore (blur {blur:g} px + noise {DEGRADE_NOISE:g}/255)",
        seconds,
        f"PSNR gain over the degraded copy: median {statistics.median(gains):+.1f} dB, worst "
        f"{min(gains):+.1f} dB",
        f"median > {RESTORE_GAIN_DB:g} dB",
        statistics.median(gains) > RESTORE_GAIN_DB,
        f"the degraded copy itself: median {statistics.median(controls):+.1f} dB",
        statistics.median(controls) > RESTORE_GAIN_DB,
    )


def score_variations(sources: list[Source], seconds: list[float]) -> Row:
    differences = [image_delta_e(to_array(s.results["variations"]), s.array) for s in sources]
    controls = [image_delta_e(s.array, s.array) for s in sources]
    _per_image(sources, "variations", [f"{difference:.1f}" for difference in differences])
    differing = sum(difference >= DELTA_E_VISIBLE for difference in differences)
    return Row(
        "variations (light image to image)",
        seconds,
        f"differ from the source: {differing}/{len(sources)} (mean Delta E median "
        f"{statistics.median(differences):.1f})",
        f"all >= {DELTA_E_VISIBLE:g}",
        differing == len(sources),
        f"the source itself: {sum(c >= DELTA_E_VISIBLE for c in controls)}/{len(sources)} differ",
        all(control >= DELTA_E_VISIBLE for control in controls),
    )


def score(sources: list[Source], seconds: dict[str, list[float]]) -> list[Row]:
    return [
        score_remove(sources, seconds["remove"]),
        *score_replace_background(sources, seconds["replace_background"]),
        *(score_outpaint(sources, seconds[f"outpaint {aspect}"], aspect) for aspect in OUTPAINT_ASPECTS),
        *(score_upscale(sources, seconds[f"upscale x{scale}"], scale) for scale in UPSCALE_SCALES),
        score_restore(sources, seconds["restore"]),
        score_variations(sources, seconds["variations"]),
        Row("image to image (the prompt's new background)", seconds["img2img"]),
        Row("inpaint (the subject redrawn as the next source's object)", seconds["inpaint"]),
        Row("recolour (the found subject, to the new colour)", seconds["recolor"]),
    ]


PER_IMAGE_COLUMNS = {
    "remove": "remove: Delta E (source)",
    "replace": "replace: colour, IoU, Delta E inside",
    "outpaint 16:9": "outpaint 16:9: size, changed px, Delta E",
    "outpaint 9:16": "outpaint 9:16",
    "upscale x2": "upscale x2: dB (ring colour shift, Delta E)",
    "upscale x4": "upscale x4",
    "restore": "restore: dB before -> after",
    "variations": "variation Delta E",
}


def every_image_table(sources: list[Source]) -> list[str]:
    lines = [
        "| # | source (seed) | " + " | ".join(PER_IMAGE_COLUMNS.values()) + " |",
        "| --- " * (len(PER_IMAGE_COLUMNS) + 2) + "|",
    ]
    for source in sources:
        cells = [source.figures.get(key, "") for key in PER_IMAGE_COLUMNS]
        lines.append(f"| {source.index + 1} | {source.prompt} ({source.seed}) | " + " | ".join(cells) + " |")
    return lines


def save_sheet(path: Path, sources: list[Source]) -> None:
    from PIL import ImageDraw

    columns = [
        ("source", None),
        ("remove", "remove"),
        ("replace bg", "replace_background"),
        ("outpaint 16:9", "outpaint 16:9"),
        ("outpaint 9:16", "outpaint 9:16"),
        ("img2img", "img2img"),
        ("inpaint", "inpaint"),
        ("recolour", "recolor"),
        ("variation", "variations"),
        ("degraded", "degraded"),
        ("restored", "restore"),
    ]
    header = 16
    sheet = Image.new("RGB", (TILE * len(columns), header + TILE * len(sources)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, (label, _) in enumerate(columns):
        draw.text((column * TILE + 4, 2), label, fill="black")
    for row, source in enumerate(sources):
        for column, (_, key) in enumerate(columns):
            picture = (source.image if key is None else source.results[key]).copy()
            picture.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
            x = column * TILE + (TILE - picture.width) // 2
            y = header + row * TILE + (TILE - picture.height) // 2
            sheet.paste(picture, (x, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def warm_up(spec, source: Source) -> float:
    """Build the image-to-image and inpainting pipelines and load both upscalers, untimed by the rows."""
    from generation.engine.refine import UPSCALERS, RefineJob, run_refine
    from generation.engine.upscale import get_upscaler

    started = time.perf_counter()
    for key in UPSCALERS.values():
        get_upscaler(key)
    mask = Image.fromarray(source.subject.astype(np.uint8) * 255, "L")
    run_refine(spec, RefineJob("img2img", prompt=source.prompt, steps=2), source.image, None, _keep_going)
    run_refine(spec, RefineJob("inpaint", prompt=source.prompt, steps=2), source.image, mask, _keep_going)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8, help="source images (default 8)")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2 (the controls compare each source with another)")
    sheet_path = args.out.with_name(args.out.stem + "-sheet.png")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    import torch

    from generation.engine.generate import upscaler_description
    from generation.engine.pipelines import get_pipeline
    from generation.engine.registry import get_model

    _quiet_libraries()
    load_at_start = os.getloadavg()
    started_at = datetime.now(UTC)
    training = training_job_running()

    with tempfile.TemporaryDirectory(prefix="refine-bench-") as temporary:
        model_copy = Path(temporary) / "model"
        print(f"Copying {DEFAULT_MODEL} to {model_copy} ...", file=sys.stderr)
        state = snapshot_model(DEFAULT_MODEL, model_copy)
        spec = dataclasses.replace(get_model("default"), source=str(model_copy))
        size = delivered_size(spec)
        load_started = time.perf_counter()
        get_pipeline(spec)
        upscaler = upscaler_description(spec)
        load_seconds = time.perf_counter() - load_started
        torch.set_num_threads(args.threads)  # after loading: the project's settings may set another count

        print(f"Generating {args.count} sources ...", file=sys.stderr)
        sources, source_seconds, skipped = make_sources(spec, args.count, args.steps)
        warm_seconds = warm_up(spec, sources[0])
        bench_started = time.perf_counter()
        seconds = run_operations(spec, sources, args.steps)
        bench_seconds = time.perf_counter() - bench_started

    rows = [Row("text to image (the sources; for scale)", source_seconds), *score(sources, seconds)]
    save_sheet(sheet_path, sources)
    stride = max(1, len(spec.subjects) // args.count)
    notes = [
        f"Run {started_at:%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: {os.cpu_count()} "
        f"CPU cores, torch {torch.__version__} with {torch.get_num_threads()} threads, load average "
        f"{load_at_start[0]:.2f} at start and {os.getloadavg()[0]:.2f} at the end.",
        f"Model: models/default (copied first), {len(spec.subjects)} objects, UNet step "
        f"{state.get('unet_steps', '?')}; drawn at {spec.native_size} px, upscaled by "
        f"{upscaler or 'nothing'} to {size} px; {args.steps} steps, guidance {spec.default_guidance:g}.",
        f'Sources: {len(sources)} images, "{PROMPT}", one object in {stride} of the model\'s list, '
        f"colours {', '.join(SOURCE_COLOURS)} in turn, seeds from {SEED_BASE}; {len(skipped)} candidate(s) "
        "skipped.",
        f"All operations on all sources: {bench_seconds:.0f} s. Loading the pipeline and upscaler "
        f"({load_seconds:.1f} s) and a warm-up ({warm_seconds:.1f} s) happen once per process and are not "
        "in the rows.",
    ]
    if training:
        notes.append("**A training job (train_default_model) was running**: times are slower than idle.")
    notes += [f"Skipped: {line}" for line in skipped]
    failed = [row.operation for row in rows if not row.ok]
    verdict_line = "FAILED: " + "; ".join(failed) if failed else "every check passes and every control fails"
    lines = [
        "## Refine benchmark",
        "",
        *(f"- {note}" for note in notes),
        "",
        *table(rows),
        "",
        f"Verdict: {verdict_line}.",
        "",
        *how_it_is_measured(size),
        "",
        "### Every image",
        "",
        *every_image_table(sources),
        "",
        f"Contact sheet: {_shown(sheet_path)}.",
    ]
    print("\n".join(lines[: lines.index(HOW_IT_IS_MEASURED)]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"Written to {_shown(args.out)} and {_shown(sheet_path)}", file=sys.stderr)
    return 1 if failed else 0


HOW_IT_IS_MEASURED = "### How it is measured"


def how_it_is_measured(size: int) -> list[str]:
    """The report's section on the measures, with its pixel lengths at the sources' ``size``."""
    return [
        HOW_IT_IS_MEASURED,
        "",
        f"- A source's background colour: the per-channel median of its outer ring "
        f'({max(1, round(size * BORDER_FRACTION))} px at {size} px); "reads as": the nearest of the '
        "catalogue's named colours in CIELAB (the model bench's measure).",
        f"- Delta E is CIELAB 1976. {DELTA_E_VISIBLE:g} is the just-noticeable difference; {DELTA_E_MATCH:g} "
        "is about the limit of a difference seen at a glance, and under a third of the distance from any "
        "colour used here to its nearest other named colour (28 or more).",
        f"- Pixel lengths are stated at {REFERENCE_SIZE} px and scaled by {size}/{REFERENCE_SIZE} to the "
        "sources' size; the figures below are the scaled ones.",
        f"- Remove: mask = the found subject grown {whole_px(REMOVE_GROW, size)} px; the figure is the mean "
        "Delta E over it.",
        f'- Replace background: prompt "{REPLACE_PROMPT}"; the new colour is at least '
        f"{NEW_COLOUR_FROM_BACKGROUND:g} from the old background and {NEW_COLOUR_FROM_SUBJECT:g} from the "
        f"subject's median colour. Subject kept: find_subject on the result has IoU >= {SUBJECT_IOU:g} with "
        "the source's, and the mean Delta E to the source inside the source's subject shrunk by "
        f"{whole_px(SUBJECT_ERODE, size)} px is < {DELTA_E_VISIBLE:g}.",
        "- Outpaint: the target size is masks.outpaint_canvas's; changed pixels: pixels of the original's "
        "rectangle that differ in any channel; new area: everything outside it.",
        f"- Upscale: the result reduced to {size} px by box averaging, PSNR against the source (8-bit, all "
        "channels).",
        f"- Restore: the source blurred (Gaussian, radius {at_size(DEGRADE_BLUR, size):g} px), then noised "
        f"(sigma {DEGRADE_NOISE:g}/255, fixed seed); gain = PSNR(restored, source) - PSNR(degraded, source).",
    ]


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
