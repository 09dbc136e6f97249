"""Model benchmark: does the default model draw what it is asked, on combinations it never saw, and how fast?

    .venv/bin/python bench/model_bench.py [--model models/default] [--earlier var/bench/earlier-model]
        [--objects N] [--shared M] [--pairs P] [--seeds K] [--speed-runs R] [--threads T]
        [--out var/bench/model.md] [--grid var/bench/model-grid.png] [--judges-dir var/bench/judges]

Side by side for the model under test (--model, "new") and an earlier one (--earlier; without it the earlier
column is left out, with a note), on prompts built the way a user gets them:
generation.presets.compose_prompt("<a/an object> <backdrop phrase>", "", <the look's style preset>),
prompt and negative prompt, with the object's first caption word (training's article rule) and the
backdrop's first phrase (colour names filled in). Each model renders at its own native size (UNet sample
size x VAE factor: 128 px new, 64 px first generation) with the registry's default steps and guidance for
"default" (25, 5); K seeds per prompt, each seed taken from the prompt so both models start from the same
noise.

Objects: a seeded sample of N of the new model's objects (--objects). With --earlier, the objects both models
know are also benchmarked side by side: those in the sample, topped up (seeded) with more shared objects to
M (--shared); the earlier model runs only those prompts, and the "new model, shared objects" column shows the
new model on exactly the same prompts and seeds. Targets are judged on the new model's sample.

1. Backdrop right (target >= 90%): each object with each of its two held-out (backdrop, look) pairs
   (data.held_out_scenes: never drawn with that object in that look in training; gradients with two seeded
   colours) and with its held-out solid colour (catalogue.held_out_colour) in the default look. The backdrop
   judge names the kind (12 kinds); a colour image must also show the prompted colour: the per-channel
   median of its outer ring, nearest named colour of catalogue.COLOURS in CIELAB.
2. Object in the top 5 (target >= 85%), on the same images: the object judge ranks every object either model
   was trained on; a hit when the prompted object is among its first 5.
3. Look right (target >= 90%), on the same images: the look judge (3D render, flat illustration, emoji),
   trained only on emoji outside the catalogue, names the look; a hit when it is the prompted one. The first
   generation knows one look (Noto emoji): it should score about the share of prompts asking for that one.
4. Both objects present (target >= 60%): "<a> and <b> <scene>" in the default look for P seeded pairs
   (--pairs), on a scene held out for neither; the object judge ranks the objects of the left and the right
   half of the image separately; a hit when each prompted object is in the top 5 of one half (either order).
5. Speed (target <= 4 s): seconds per delivered image through the project's own path
   (generation.engine.generate.generate_images with the registry's "default" entry pointed at the same copy
   of the new model: its native size, upscaler, output size, default steps and guidance), one image per call
   and four per call, medians and p90 over R calls each (--speed-runs), after one warm-up call.

The judges (bench/model_judge.py) are small CNNs trained in this process on labelled composites drawn the
way training draws them, through degradations that mimic generated images; they are cached under
var/bench/judges/ by (their classes, their code, seed), so only the first run trains them. Every judge is
measured before it is trusted, and reported next to the model's figures: on fresh composites (clean and
degraded), on composites encoded and decoded by each model's own VAE, and on the generated images with the
prompts shuffled among them (what a model that ignored the prompt would score); with chance. Images are
judged at 128 px (a 64 px model's images are upscaled with bicubic first).

Model folders are copied to a temporary folder before loading (the trainer swaps its export folder in place).
Every metric parameter is a constant below or in bench/model_judge.py, fixed before any generated image was
looked at; none may be tuned to make a model pass. The report goes to var/bench/model.md (its summary to
stdout), a grid of generated images with the judges' verdicts to var/bench/model-grid.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench import model_judge as judge  # noqa: E402
from bench.machine import training_job_running  # noqa: E402
from generation.presets import compose_prompt  # noqa: E402
from generation.training.catalogue import COLOURS, OBJECTS, CatalogueObject, held_out_colour  # noqa: E402
from generation.training.data import held_out_scenes, with_article  # noqa: E402
from generation.training.looks import DEFAULT_LOOK, LOOKS  # noqa: E402
from generation.training.scenes import BACKDROPS, SCENE_KEYS  # noqa: E402

if TYPE_CHECKING:
    from PIL import Image

BENCH_DIR = ROOT / "var" / "bench"
REPORT = BENCH_DIR / "model.md"
GRID = BENCH_DIR / "model-grid.png"
JUDGES_DIR = BENCH_DIR / "judges"
PACKAGES_DIR = ROOT / "var" / "training" / "data"  # the training command's default --work-dir
DEFAULT_MODEL = ROOT / "models" / "default"

TARGET_BACKDROP = 0.90
TARGET_OBJECT_TOP5 = 0.85
TARGET_LOOK = 0.90
TARGET_PAIRS = 0.60
TARGET_SECONDS = 4.0

# Fixed before looking at any generated image; never tuned to pass.
TOP_K = judge.TOP_K
OBJECT_SAMPLE_SEED = 2_025
PAIR_SEED = 77
JUDGE_SEED = 0
SHUFFLE_SEED = 99
SHUFFLE_ROUNDS = 50  # permutations averaged for the shuffled-prompt control
VAE_CHECK_COMPOSITES = 150  # composites passed through each model's VAE for the judges' control
DEFAULTS = {"objects": 80, "shared": 40, "pairs": 40, "seeds": 1, "speed_runs": 8}
# A model folder without a "looks" entry in training_state.json is the first generation: Noto emoji only.
FIRST_GENERATION_LOOKS = ("emoji",)

T = TypeVar("T")
U = TypeVar("U")


# --- prompts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchPrompt:
    objects: tuple[str, ...]  # catalogue short names: one, or two (as named, left to right)
    kind: str  # the backdrop kind asked for (a key of scenes.BACKDROPS)
    look: str  # the look asked for (a key of looks.LOOKS)
    colour: str  # the colour asked for, for the "colour" kind
    text: str  # what the model is sent, as generation.presets.compose_prompt makes it
    negative: str
    held_out: str  # "scene" (a held-out backdrop and look), "colour" (the held-out colour) or "pair"


CATALOGUE: dict[str, CatalogueObject] = {entry.short_name: entry for entry in OBJECTS}


def object_phrase(entry: CatalogueObject) -> str:
    """The object as a user names it: its first caption word, with training's article rule."""
    return with_article(entry.words[0], entry.plural)


def backdrop_phrase(kind: str, colour: str = "", gradient: tuple[str, str] = ("", "")) -> str:
    """The backdrop's first caption phrase, with its colour names filled in."""
    return BACKDROPS[kind].phrases[0].format(colour=colour, top=gradient[0], bottom=gradient[1])


def gradient_colours(short_name: str) -> tuple[str, str]:
    """The two colours of a gradient prompt for this object: seeded by its name, stable."""
    top, bottom = random.Random(zlib.crc32(f"gradient:{short_name}".encode())).sample(COLOURS, 2)
    return top.name, bottom.name


def user_prompt(subject: str, backdrop: str, look: str) -> tuple[str, str]:
    """(prompt, negative prompt) as the generate form sends them with the look's style preset."""
    return compose_prompt(f"{subject} {backdrop}", "", LOOKS[look].style_key)


def held_out_prompts(short_names: Sequence[str]) -> list[BenchPrompt]:
    """Per object: its held-out (backdrop, look) pairs, then its held-out colour in the default look."""
    prompts = []
    for short_name in short_names:
        entry = CATALOGUE[short_name]
        subject = object_phrase(entry)
        for kind, look in sorted(held_out_scenes(short_name)):
            gradient = gradient_colours(short_name) if kind == "gradient" else ("", "")
            text, negative = user_prompt(subject, backdrop_phrase(kind, gradient=gradient), look)
            prompts.append(BenchPrompt((short_name,), kind, look, "", text, negative, "scene"))
        colour = held_out_colour(short_name)
        text, negative = user_prompt(subject, backdrop_phrase("colour", colour=colour), DEFAULT_LOOK)
        prompts.append(BenchPrompt((short_name,), "colour", DEFAULT_LOOK, colour, text, negative, "colour"))
    return prompts


def pair_prompts(short_names: Sequence[str], count: int, seed: int) -> list[BenchPrompt]:
    """``count`` different seeded pairs of objects in the default look, each on a scene held out for neither
    (fewer when there are not that many)."""
    if len(short_names) < 2:
        return []
    rng = random.Random(f"pairs-{seed}")
    prompts: list[BenchPrompt] = []
    for _ in range(count * 20):
        if len(prompts) == count:
            break
        first, second = rng.sample(list(short_names), 2)
        held = held_out_scenes(first) | held_out_scenes(second)
        kind = rng.choice([key for key in SCENE_KEYS if (key, DEFAULT_LOOK) not in held])
        subject = f"{object_phrase(CATALOGUE[first])} and {object_phrase(CATALOGUE[second])}"
        text, negative = user_prompt(subject, backdrop_phrase(kind), DEFAULT_LOOK)
        prompt = BenchPrompt((first, second), kind, DEFAULT_LOOK, "", text, negative, "pair")
        if prompt not in prompts:
            prompts.append(prompt)
    return prompts


def shared_pairs(
    pairs: Sequence[BenchPrompt], shared: Sequence[str], count: int, seed: int
) -> list[BenchPrompt]:
    """The two-object prompts for the side by side: those of ``pairs`` whose objects both models know, topped
    up with more pairs of shared objects (seeded) to ``count``."""
    known = set(shared)
    chosen = [prompt for prompt in pairs if all(name in known for name in prompt.objects)][:count]
    for prompt in pair_prompts(shared, count * 3, seed):
        if len(chosen) >= count:
            break
        if prompt not in chosen:
            chosen.append(prompt)
    return chosen


def choose_objects(
    new: Sequence[str], earlier: Sequence[str] | None, count: int, shared_count: int, seed: int
) -> tuple[list[str], list[str]]:
    """(a seeded sample of ``count`` of the new model's objects, the objects benchmarked side by side).

    The side-by-side set is the sample's objects the earlier model knows too, topped up (seeded) with more of
    them to ``shared_count``; it is empty without an earlier model. Both lists keep the new model's order.
    """
    rng = random.Random(f"objects-{seed}")
    sample = sorted(rng.sample(list(new), min(count, len(new))), key=list(new).index)
    if earlier is None:
        return sample, []
    known = set(earlier)
    shared = [name for name in sample if name in known]
    rest = [name for name in new if name in known and name not in shared]
    extra = random.Random(f"shared-{seed}").sample(rest, max(0, min(shared_count - len(shared), len(rest))))
    return sample, sorted(shared + extra, key=list(new).index)


# --- verdicts --------------------------------------------------------------------------------------------


def backdrop_hit(kind: str, colour: str, seen_kind: str, seen_colour: str) -> bool:
    """The judged kind is the prompted one and, for a colour backdrop, its ring is the prompted colour."""
    return seen_kind == kind and (kind != "colour" or seen_colour == colour)


@dataclass
class SingleResult:
    prompt: BenchPrompt
    seed: int
    backdrop_seen: str
    colour_seen: str  # the nearest named colour of the outer ring (every image, for the shuffled control)
    delta_e: float  # from the ring to the prompted colour (nan unless a colour was asked for)
    object_scores: torch.Tensor  # over Judges.objects
    rank: int  # of the prompted object
    top1: str
    look_seen: str

    @property
    def backdrop_ok(self) -> bool:
        return backdrop_hit(self.prompt.kind, self.prompt.colour, self.backdrop_seen, self.colour_seen)

    @property
    def object_ok(self) -> bool:
        return self.rank <= TOP_K

    @property
    def look_ok(self) -> bool:
        return self.look_seen == self.prompt.look


@dataclass
class PairResult:
    prompt: BenchPrompt
    seed: int
    left: torch.Tensor  # object scores of the left half
    right: torch.Tensor
    found: bool
    left_top1: str
    right_top1: str
    either: bool  # at least one of the two objects in the top 5 of a half (information only)


def judge_singles(
    judges: judge.Judges, images: torch.Tensor, prompts: Sequence[BenchPrompt], seeds: Sequence[int]
) -> list[SingleResult]:
    """Judge (B, 3, 128, 128) images in [0, 1] generated for one-object ``prompts``."""
    backdrops = judges.backdrops(images).argmax(dim=1).tolist()
    objects = judges.object_scores(images)
    looks = judges.looks(images).argmax(dim=1).tolist()
    results = []
    for index, prompt in enumerate(prompts):
        array = judge.to_array(images[index])
        seen_colour, _ = judge.nearest_named_colour(judge.border_colour(array))
        delta_e = judge.colour_verdict(array, prompt.colour)[2] if prompt.colour else math.nan
        scores = objects[index]
        target = judges.objects.index(prompt.objects[0])
        results.append(
            SingleResult(
                prompt=prompt,
                seed=seeds[index],
                backdrop_seen=judge.BACKDROP_KINDS[backdrops[index]],
                colour_seen=seen_colour,
                delta_e=delta_e,
                object_scores=scores,
                rank=judge.rank_of(scores, target),
                top1=judges.objects[int(scores.argmax())],
                look_seen=judge.LOOK_KEYS[looks[index]],
            )
        )
    return results


def judge_pairs(
    judges: judge.Judges, images: torch.Tensor, prompts: Sequence[BenchPrompt], seeds: Sequence[int]
) -> list[PairResult]:
    left, right = judges.object_scores(images, "left"), judges.object_scores(images, "right")
    results = []
    for index, prompt in enumerate(prompts):
        first, second = (judges.objects.index(name) for name in prompt.objects)
        either = any(
            judge.rank_of(half[index], target) <= TOP_K
            for half in (left, right)
            for target in (first, second)
        )
        results.append(
            PairResult(
                prompt=prompt,
                seed=seeds[index],
                left=left[index],
                right=right[index],
                found=judge.pair_found(left[index], right[index], first, second),
                left_top1=judges.objects[int(left[index].argmax())],
                right_top1=judges.objects[int(right[index].argmax())],
                either=either,
            )
        )
    return results


def shuffled_control(
    prompts: Sequence[T], outputs: Sequence[U], hit: Callable[[T, U], bool], seed: int = SHUFFLE_SEED
) -> float:
    """The hit rate with the prompts shuffled among the images: what a model that ignored them would score
    (given what it draws), averaged over SHUFFLE_ROUNDS seeded permutations."""
    if not outputs:
        return math.nan
    rng = random.Random(seed)
    rates = []
    order = list(range(len(prompts)))
    for _ in range(SHUFFLE_ROUNDS):
        rng.shuffle(order)
        rates.append(sum(hit(prompts[order[i]], outputs[i]) for i in range(len(outputs))) / len(outputs))
    return statistics.fmean(rates)


def single_controls(results: Sequence[SingleResult], objects: Sequence[str]) -> dict[str, float]:
    """The shuffled-prompt control of metrics 1-3 for one model's images."""
    prompts = [result.prompt for result in results]
    return {
        "backdrop": shuffled_control(
            prompts, results, lambda p, r: backdrop_hit(p.kind, p.colour, r.backdrop_seen, r.colour_seen)
        ),
        "object": shuffled_control(
            prompts,
            results,
            lambda p, r: judge.rank_of(r.object_scores, objects.index(p.objects[0])) <= TOP_K,
        ),
        "look": shuffled_control(prompts, results, lambda p, r: r.look_seen == p.look),
    }


def pair_control(results: Sequence[PairResult], objects: Sequence[str]) -> float:
    def hit(prompt: BenchPrompt, result: PairResult) -> bool:
        first, second = (objects.index(name) for name in prompt.objects)
        return judge.pair_found(result.left, result.right, first, second)

    return shuffled_control([result.prompt for result in results], results, hit)


# --- figures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else math.nan

    def wilson(self, z: float = 1.96) -> tuple[float, float]:
        """The 95% Wilson score interval."""
        if not self.total:
            return math.nan, math.nan
        p, n = self.value, self.total
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def __str__(self) -> str:
        if not self.total:
            return "n/a"
        low, high = self.wilson()
        return f"{self.value:.1%} ({self.hits}/{self.total}; 95% CI {low:.0%}-{high:.0%})"


def rate(flags: Sequence[bool]) -> Rate:
    return Rate(sum(bool(flag) for flag in flags), len(flags))


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1%}"


def met(value: float, target: float, at_most: bool = False) -> str:
    """PASS when ``value`` reaches ``target`` (or stays at or under it, ``at_most``)."""
    if math.isnan(value):
        return "n/a"
    return "PASS" if (value <= target if at_most else value >= target) else "**NOT MET**"


def image_seed(prompt: BenchPrompt, index: int) -> int:
    """The seed of a prompt's ``index``-th image: the same for every model, whatever else is benchmarked."""
    return zlib.crc32(prompt.text.encode()) % 100_000 + 100_000 * index


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table; pipes inside cells are escaped."""

    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(str(value).replace("|", "\\|") for value in values) + " |"

    return [cells(header), cells(["---"] * len(header)), *(cells(row) for row in rows)]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- models ----------------------------------------------------------------------------------------------


def snapshot_model(model: Path, dest: Path, attempts: int = 6) -> dict:
    """Copy a model folder that a training job may swap at any time; return its training_state (or {})."""
    state_file = model / "training_state.json"
    for _ in range(attempts):
        try:
            before = state_file.read_text() if state_file.exists() else ""
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(model, dest)
            after = state_file.read_text() if state_file.exists() else ""
            if before == after:
                return json.loads(before) if before else {}
        except (OSError, shutil.Error):
            pass
        time.sleep(3)
    raise RuntimeError(f"could not take a consistent copy of {model} in {attempts} attempts")


def model_objects(model_dir: Path, state: dict, records: dict[str, dict]) -> list[str]:
    """The catalogue short names a model was trained on: training_state's list, else objects.json's names."""
    if isinstance(state.get("objects"), list) and state["objects"]:
        return [str(name) for name in state["objects"]]
    by_name = {record["name"]: short_name for short_name, record in records.items()}
    return [by_name[name] for name in json.loads((model_dir / "objects.json").read_text())]


def model_native_size(model_dir: Path) -> int:
    """The side a model was trained at: its UNet's sample size times the VAE's downsampling."""
    unet = json.loads((model_dir / "unet" / "config.json").read_text())
    vae = json.loads((model_dir / "vae" / "config.json").read_text())
    return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)


def model_looks(state: dict) -> tuple[str, ...]:
    looks = state.get("looks")
    return tuple(looks) if isinstance(looks, dict | list) and looks else FIRST_GENERATION_LOOKS


@contextlib.contextmanager
def quiet_output() -> Iterator[None]:
    """Silence C-level writes to stdout and stderr (the ncnn upscaler prints "0.00%" for every image)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, devnull):
            os.close(descriptor)


def load_pipeline(model_dir: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(
    pipeline: Any,
    prompts: Sequence[BenchPrompt],
    seeds: Sequence[int],
    size: int,
    steps: int,
    guidance: float,
) -> list[Image.Image]:
    """One image per (prompt, seed), in one pipeline call, with the arguments the project's runner passes."""
    with torch.inference_mode():
        result = pipeline(
            prompt=[prompt.text for prompt in prompts],
            negative_prompt=[prompt.negative for prompt in prompts]
            if any(p.negative for p in prompts)
            else None,
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            output_type="pil",
        )
    return list(result.images)


def to_judged_size(images: Sequence[Image.Image]) -> torch.Tensor:
    """(B, 3, 128, 128) in [0, 1]: the images at the judges' size (bicubic when a model renders smaller)."""
    tensors = torch.stack(
        [
            torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
            for image in images
        ]
    )
    if tensors.shape[-1] != judge.RENDER_SIZE:
        tensors = torch.nn.functional.interpolate(
            tensors, size=(judge.RENDER_SIZE, judge.RENDER_SIZE), mode="bicubic", align_corners=False
        )
    return tensors.clamp(0.0, 1.0)


def vae_round_trip(pipeline: Any, images: torch.Tensor, native: int) -> torch.Tensor:
    """(B, 3, 128, 128) composites encoded and decoded by a model's VAE at its native size, back at 128 px."""
    vae = pipeline.vae
    x = images
    if native != images.shape[-1]:
        x = torch.nn.functional.interpolate(x, size=(native, native), mode="bilinear", antialias=True)
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), 16):
            chunk = x[start : start + 16].to(vae.dtype) * 2 - 1
            latents = vae.encode(chunk).latent_dist.mean
            out.append(((vae.decode(latents).sample.float() + 1) / 2).clamp(0, 1))
    decoded = torch.cat(out)
    if native != judge.RENDER_SIZE:
        decoded = torch.nn.functional.interpolate(
            decoded, size=(judge.RENDER_SIZE, judge.RENDER_SIZE), mode="bicubic", align_corners=False
        )
    return decoded.clamp(0.0, 1.0)


def vae_check(judges: judge.Judges, pool: judge.Pool, decoded: torch.Tensor) -> dict[str, float]:
    """The judges on composites passed through a model's VAE: backdrop (+ colour), object top-5, look."""
    backdrops = judges.backdrops(decoded).argmax(dim=1).tolist()
    objects = judges.object_scores(decoded)
    looks = judges.looks(decoded).argmax(dim=1).tolist()
    backdrop_ok, object_ok, look_ok = [], [], []
    for index in range(len(decoded)):
        kind = judge.BACKDROP_KINDS[int(pool.backdrop[index])]
        seen_colour, _ = judge.nearest_named_colour(judge.border_colour(judge.to_array(decoded[index])))
        backdrop_ok.append(
            backdrop_hit(kind, pool.colour[index], judge.BACKDROP_KINDS[backdrops[index]], seen_colour)
        )
        object_ok.append(judge.rank_of(objects[index], int(pool.obj[index])) <= TOP_K)
        look_ok.append(looks[index] == int(pool.look[index]))
    per_look = {
        f"look_{key}": rate(
            [ok for ok, look in zip(look_ok, pool.look.tolist(), strict=True) if look == index]
        ).value
        for index, key in enumerate(judge.LOOK_KEYS)
    }
    return {
        "backdrop": rate(backdrop_ok).value,
        "object": rate(object_ok).value,
        "look": rate(look_ok).value,
        **per_look,
        "n": len(decoded),
    }


def look_confusion(results: Sequence[SingleResult]) -> list[list[str]]:
    """Rows: the look asked for; columns: how many of its images the look judge saw in each look."""
    rows = []
    for asked in judge.LOOK_KEYS:
        seen = [r.look_seen for r in results if r.prompt.look == asked]
        rows.append([asked, *(str(seen.count(key)) for key in judge.LOOK_KEYS), str(len(seen))])
    return rows


@dataclass
class ModelRun:
    label: str  # "new" or "earlier"
    path: Path
    state: dict
    objects: list[str]
    native: int
    looks: tuple[str, ...]
    load_seconds: float = 0.0
    generate_seconds: float = 0.0
    images: int = 0
    singles: list[SingleResult] = field(default_factory=list)
    pairs: list[PairResult] = field(default_factory=list)
    pictures: dict[tuple[BenchPrompt, int], Image.Image] = field(default_factory=dict)
    vae: dict[str, float] = field(default_factory=dict)


def run_model(
    run: ModelRun,
    model_dir: Path,
    judges: judge.Judges,
    singles: Sequence[BenchPrompt],
    pairs: Sequence[BenchPrompt],
    seeds: int,
    steps: int,
    guidance: float,
    batch: int,
    vae_pool: judge.Pool,
    log: Callable[[str], None],
) -> None:
    """Generate every (prompt, seed) image for ``run`` and judge it; then the judges on its VAE."""
    log(f"Loading the {run.label} model ({run.path}, {run.native} px) ...")
    started = time.perf_counter()
    pipeline = load_pipeline(model_dir)
    run.load_seconds = time.perf_counter() - started
    jobs = [(prompt, image_seed(prompt, seed)) for seed in range(seeds) for prompt in [*singles, *pairs]]
    started = time.perf_counter()
    for start in range(0, len(jobs), batch):
        chunk = jobs[start : start + batch]
        images = generate(pipeline, [p for p, _ in chunk], [s for _, s in chunk], run.native, steps, guidance)
        run.pictures.update({key: image for key, image in zip(chunk, images, strict=True)})
        log(f"  {run.label}: generated {min(start + batch, len(jobs))}/{len(jobs)}")
    run.generate_seconds = time.perf_counter() - started
    run.images = len(jobs)
    single_jobs = [job for job in jobs if job[0].held_out != "pair"]
    pair_jobs = [job for job in jobs if job[0].held_out == "pair"]
    if single_jobs:
        run.singles = judge_singles(
            judges,
            to_judged_size([run.pictures[job] for job in single_jobs]),
            [p for p, _ in single_jobs],
            [s for _, s in single_jobs],
        )
    if pair_jobs:
        run.pairs = judge_pairs(
            judges,
            to_judged_size([run.pictures[job] for job in pair_jobs]),
            [p for p, _ in pair_jobs],
            [s for _, s in pair_jobs],
        )
    run.vae = vae_check(judges, vae_pool, vae_round_trip(pipeline, vae_pool.floats(), run.native))
    del pipeline


# --- speed -----------------------------------------------------------------------------------------------


def registry_spec(model_dir: Path | None = None) -> Any:
    """The registry's "default" entry (Django set up on first use), pointed at ``model_dir`` when given."""
    import dataclasses

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    django.setup()
    from generation.engine.registry import get_model

    spec = get_model("default")
    if model_dir is None:
        return spec
    # The entry as it will be once this model ships: its own native size, the entry's upscaler.
    native = model_native_size(model_dir)
    return dataclasses.replace(
        spec, source=str(model_dir), native_size=native, max_side=native * spec.upscale_factor
    )


def generation_path(
    model_dir: Path, threads: int, warm_up_prompt: tuple[str, str]
) -> tuple[Callable, str, float, int]:
    """The function timed for speed: (prompt, negative, seed, n) -> delivered images; a description; its setup
    time; the delivered side.

    Uses the project's own path (generation.engine.generate.generate_images, with the registry's "default"
    entry pointed at the same model copy), so the bench measures what a worker runs: the entry's native size,
    upscaler, default steps and guidance. Setup (pipeline and upscaler, once per process) is timed on its own;
    one warm-up call follows, not counted.
    """
    from generation.engine.generate import generate_images, upscaler_description
    from generation.engine.pipelines import get_pipeline
    from generation.engine.runner import TextToImageJob

    spec = registry_spec(model_dir)
    side, _ = spec.default_size()
    started = time.perf_counter()
    with quiet_output():
        get_pipeline(spec)
        upscaler = upscaler_description(spec)
    setup = time.perf_counter() - started
    torch.set_num_threads(threads)  # the project's settings may have set another count

    def run(prompt: str, negative: str, seed: int, count: int) -> list:
        job = TextToImageJob(
            prompt=prompt,
            negative_prompt=negative,
            width=side,
            height=side,
            num_images=count,
            seed=seed,
            steps=spec.default_steps,
            guidance=spec.default_guidance,
        )
        return list(generate_images(spec, job, lambda done, total: True))

    with quiet_output():
        images = run(*warm_up_prompt, 0, 1)
    if len(images) != 1 or images[0].size != (side, side):
        raise RuntimeError(
            f"the generation path gave {len(images)} images of {getattr(images[0], 'size', '?')}"
        )
    description = (
        "the project's generation.engine.generate.generate_images with the registry's default entry (native "
        f"{spec.native_size or 'requested'} px, upscaler {spec.upscaler!r}: {upscaler or 'none'}, delivered "
        f"{side} x {side} px; {spec.default_steps} steps, guidance {spec.default_guidance:g}: the entry's "
        "defaults)"
    )
    return run, description, setup, side


def time_per_image(
    run: Callable, prompts: Sequence[BenchPrompt], count: int, runs: int, side: int
) -> list[float]:
    per_image = []
    for index in range(runs):
        prompt = prompts[index % len(prompts)]
        with quiet_output():
            started = time.perf_counter()
            images = run(prompt.text, prompt.negative, 10_000 + index * count, count)
            elapsed = time.perf_counter() - started
        if len(images) != count or images[0].size != (side, side):
            raise RuntimeError(f"the generation path gave {len(images)} images of {images[0].size}")
        per_image.append(elapsed / count)
    return per_image


# --- the report ------------------------------------------------------------------------------------------


def word(short_name: str) -> str:
    entry = CATALOGUE.get(short_name)
    return entry.words[0] if entry else short_name


def subset(results: Sequence[Any], objects: Sequence[str]) -> list[Any]:
    """The results whose prompted objects are all in ``objects``."""
    keep = set(objects)
    return [result for result in results if all(name in keep for name in result.prompt.objects)]


def save_grid(path: Path, tiles: Sequence[tuple[Image.Image, Sequence[str], bool]], columns: int = 8) -> None:
    """Tiles of (image, caption lines, all right) at 128 px, captions below, in rows of ``columns``."""
    from PIL import Image, ImageDraw, ImageFont

    side, line = judge.RENDER_SIZE, 11
    lines = max((len(caption) for _, caption, _ in tiles), default=1)
    tile_height = side + 4 + line * lines
    rows = max(1, math.ceil(len(tiles) / columns))
    sheet = Image.new("RGB", (columns * (side + 4), rows * (tile_height + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (image, caption, ok) in enumerate(tiles):
        x = (index % columns) * (side + 4) + 2
        y = (index // columns) * (tile_height + 4) + 2
        sheet.paste(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC), (x, y))
        draw.rectangle((x - 1, y - 1, x + side, y + side), outline=(40, 160, 60) if ok else (210, 40, 40))
        for row, text in enumerate(caption):
            draw.text((x, y + side + 2 + row * line), text[:21], fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def grid_tiles(run: ModelRun, singles: int, pairs: int) -> list[tuple[Image.Image, list[str], bool]]:
    """Captions: the model and prompted object, what was asked (backdrop or colour, look), the judged top-1
    object (and the prompted one's rank), and the judged backdrop and look."""
    tiles = []
    for result in run.singles[:singles]:
        p = result.prompt
        seen = result.colour_seen if result.backdrop_seen == "colour" else result.backdrop_seen
        tiles.append(
            (
                run.pictures[(p, result.seed)],
                [
                    f"{run.label}: {word(p.objects[0])}",
                    f"asked {p.colour or p.kind}, {p.look}",
                    f"top-1 {word(result.top1)} #{result.rank}",
                    f"saw {seen}, {result.look_seen}",
                ],
                result.backdrop_ok and result.object_ok and result.look_ok,
            )
        )
    for pair in run.pairs[:pairs]:
        p = pair.prompt
        tiles.append(
            (
                run.pictures[(p, pair.seed)],
                [
                    f"{run.label}: {word(p.objects[0])} +",
                    f"{word(p.objects[1])}, {p.kind}",
                    f"L: {word(pair.left_top1)}",
                    f"R: {word(pair.right_top1)}",
                ],
                pair.found,
            )
        )
    return tiles


@dataclass
class Columns:
    """One metric's results in the report's three columns."""

    new: Sequence[Any]  # the new model on the sampled objects
    shared_new: Sequence[Any]  # the new model on the objects both models know
    earlier: Sequence[Any] | None  # the earlier model on those (None: no earlier model)

    def where(self, keep: Callable[[Any], bool]) -> Columns:
        return Columns(
            [r for r in self.new if keep(r)],
            [r for r in self.shared_new if keep(r)],
            None if self.earlier is None else [r for r in self.earlier if keep(r)],
        )

    def asked_for(self, look: str) -> Columns:
        return self.where(lambda result: result.prompt.look == look)

    def cells(self, hit: Callable[[Any], bool]) -> list[str]:
        if self.earlier is None:
            return [str(rate([hit(r) for r in self.new])), "-", "not run (no --earlier)"]
        return [str(rate([hit(r) for r in rows])) for rows in (self.new, self.shared_new, self.earlier)]


@dataclass
class Speed:
    description: str
    side: int
    setup: float
    single: list[float]
    batch: list[float]
    runs: int


HEADER = ["measured on", "target", "new model", "new model, shared objects", "earlier model, shared objects"]


def report_sections(
    new: ModelRun, earlier: ModelRun | None, judges: judge.Judges, singles: Columns, pairs: Columns
) -> tuple[list[list[str]], list[str]]:
    """(the summary table's rows, the per-metric sections)."""
    checks = judges.checks
    objects = judges.objects
    count = len(objects)
    controls = {
        run.label: single_controls(run_singles, objects) for run, run_singles in _runs(new, earlier, singles)
    }
    pair_controls = {
        run.label: pair_control(run_pairs, objects) for run, run_pairs in _runs(new, earlier, pairs)
    }

    def both(values: dict[str, float]) -> str:
        return ", ".join(f"{label} {pct(value)}" for label, value in values.items())

    def vae(metric: str) -> str:
        shown = both({run.label: run.vae[metric] for run in (new, earlier) if run is not None})
        return f"judges on composites through each model's VAE ({new.vae['n']:.0f}): {shown}"

    def shuffled(metric: str) -> str:
        return "prompts shuffled among the images: " + both(
            {label: c[metric] for label, c in controls.items()}
        )

    backdrop, obj, look = checks["backdrop"], checks["object"], checks["look"]
    header = [*HEADER, "control(s)"]
    scene, colour = (
        singles.where(lambda r: r.prompt.held_out == "scene"),
        singles.where(lambda r: r.prompt.held_out == "colour"),
    )
    backdrop_rows = [
        [
            "every held-out prompt",
            f">= {TARGET_BACKDROP:.0%}",
            *singles.cells(lambda r: r.backdrop_ok),
            f"judge on fresh composites of the catalogue's objects ({backdrop['n']}): kind and colour "
            f"{pct(backdrop['clean']['both'])} clean, {pct(backdrop['degraded']['both'])} degraded; "
            f"{vae('backdrop')}; {shuffled('backdrop')}; chance {1 / len(judge.BACKDROP_KINDS):.1%}",
        ],
        [
            "held-out (backdrop, look) pairs",
            "",
            *scene.cells(lambda r: r.backdrop_ok),
            f"kind alone on composites: {pct(backdrop['clean']['kind'])} clean, "
            f"{pct(backdrop['degraded']['kind'])} degraded",
        ],
        [
            "held-out colours (default look)",
            "",
            *colour.cells(lambda r: r.backdrop_ok),
            f"ring colour check on colour composites ({backdrop['n_colour']}): "
            f"{pct(backdrop['clean']['colour_check'])} clean, {pct(backdrop['degraded']['colour_check'])} "
            "blurred, downscaled and noisy",
        ],
        [
            "of which the kind alone was right (information)",
            "",
            *colour.cells(lambda r: r.backdrop_seen == "colour"),
            "",
        ],
    ]
    object_rows = [
        [
            f"every held-out prompt, top {TOP_K} of {count}",
            f">= {TARGET_OBJECT_TOP5:.0%}",
            *singles.cells(lambda r: r.object_ok),
            f"judge on fresh composites ({obj['n_single']}): {pct(obj['clean']['top5'])} clean, "
            f"{pct(obj['degraded']['top5'])} degraded; {vae('object')}; {shuffled('object')}; chance "
            f"{min(TOP_K, count) / count:.1%}",
        ],
        [
            "top 1 (information)",
            "",
            *singles.cells(lambda r: r.rank == 1),
            f"judge on fresh composites: {pct(obj['clean']['top1'])} clean, {pct(obj['degraded']['top1'])} "
            f"degraded; chance {1 / count:.1%}",
        ],
    ]
    for key in judge.LOOK_KEYS:
        object_rows.append(
            [
                f"asked for the {LOOKS[key].label} look",
                "",
                *singles.asked_for(key).cells(lambda r: r.object_ok),
                "",
            ]
        )
    if earlier is not None:
        known = set(earlier.objects)
        object_rows.append(
            [
                "new model: objects the earlier model knew / objects new to it",
                "",
                f"{rate([r.object_ok for r in singles.new if r.prompt.objects[0] in known])} / "
                f"{rate([r.object_ok for r in singles.new if r.prompt.objects[0] not in known])}",
                "",
                "",
                "",
            ]
        )
    look_rows = [
        [
            "every held-out prompt",
            f">= {TARGET_LOOK:.0%}",
            *singles.cells(lambda r: r.look_ok),
            f"judge on emoji it never saw ({look['n_held_out']}): {pct(look['held_out_clean']['all'])} "
            "clean, "
            f"{pct(look['held_out_degraded']['all'])} degraded; on the catalogue's objects "
            f"({look['n_catalogue']}): {pct(look['catalogue_clean']['all'])} clean, "
            f"{pct(look['catalogue_degraded']['all'])} degraded; {vae('look')}; {shuffled('look')}; "
            "chance 33.3%",
        ]
    ]
    for key in judge.LOOK_KEYS:
        look_rows.append(
            [
                f"asked for the {LOOKS[key].label} look",
                "",
                *singles.asked_for(key).cells(lambda r: r.look_ok),
                f"judge on the catalogue's objects in this look: {pct(look['catalogue_clean'][key])} clean, "
                f"{pct(look['catalogue_degraded'][key])} degraded; on unseen emoji "
                f"{pct(look['held_out_clean'][key])} / {pct(look['held_out_degraded'][key])}; "
                f"{vae('look_' + key)}",
            ]
        )
    look_rows.append(
        [
            "what a model that always draws one look would score",
            "",
            _one_look(singles.new, new.looks),
            "",
            _one_look(singles.earlier or [], earlier.looks) if earlier else "-",
            f"the new model knows {', '.join(new.looks)}"
            + (f"; the earlier model {', '.join(earlier.looks)}" if earlier else ""),
        ]
    )
    pair_rows = [
        [
            f"each object in the top {TOP_K} of one half",
            f">= {TARGET_PAIRS:.0%}",
            *pairs.cells(lambda r: r.found),
            f"judge on fresh two-object composites ({obj['n_pairs']}): {pct(obj['clean']['pairs'])} clean, "
            f"{pct(obj['degraded']['pairs'])} degraded; prompts shuffled among the images: "
            f"{both(pair_controls)}",
        ],
        ["at least one of the two (information)", "", *pairs.cells(lambda r: r.either), ""],
    ]
    summary = []
    for name, target, hit, columns in (
        ("1. backdrop right", TARGET_BACKDROP, lambda r: r.backdrop_ok, singles),
        (f"2. object in the top {TOP_K} of {count}", TARGET_OBJECT_TOP5, lambda r: r.object_ok, singles),
        ("3. look right", TARGET_LOOK, lambda r: r.look_ok, singles),
        ("4. both objects present", TARGET_PAIRS, lambda r: r.found, pairs),
    ):
        new_rate = rate([hit(r) for r in columns.new])
        summary.append(
            [name, f">= {target:.0%}", str(new_rate), *columns.cells(hit)[1:], met(new_rate.value, target)]
        )
    sections = [
        "### 1. Backdrop right, on held-out combinations",
        "",
        *table(header, backdrop_rows),
        "",
        f"### 2. Object in the top {TOP_K}, among every object either model was trained on",
        "",
        *table(header, object_rows),
        "",
        "### 3. Look right",
        "",
        *table(header, look_rows),
        "",
        "Looks the judge saw, by the look asked for (rows):",
        "",
        *[
            line
            for run, results in _runs(new, earlier, singles)
            for line in [
                f"{run.label} model:",
                "",
                *table(
                    ["asked", *(f"seen {key}" for key in judge.LOOK_KEYS), "images"], look_confusion(results)
                ),
                "",
            ]
        ],
        "### 4. Both objects present in two-object prompts",
        "",
        *table(header, pair_rows),
        "",
    ]
    return summary, sections


def _runs(new: ModelRun, earlier: ModelRun | None, columns: Columns) -> list[tuple[ModelRun, Sequence[Any]]]:
    runs: list[tuple[ModelRun, Sequence[Any]]] = [(new, columns.new)]
    if earlier is not None and columns.earlier is not None:
        runs.append((earlier, columns.earlier))
    return runs


def _one_look(results: Sequence[SingleResult], looks: Sequence[str]) -> str:
    shares = [f"{rate([r.prompt.look == key for r in results]).value:.1%} (always {key})" for key in looks]
    return "; ".join(shares) or "-"


def speed_section(speed: Speed) -> tuple[list[str], list[list[str]]]:
    single, batch = statistics.median(speed.single), statistics.median(speed.batch)
    rows = [
        [
            f"seconds per delivered {speed.side} px image, 1 per call",
            f"<= {TARGET_SECONDS:g} s",
            f"median {single:.2f} s, p90 {percentile(speed.single, 0.9):.2f} s",
            met(single, TARGET_SECONDS, at_most=True),
        ],
        [
            f"seconds per delivered {speed.side} px image, 4 per call",
            f"<= {TARGET_SECONDS:g} s",
            f"median {batch:.2f} s, p90 {percentile(speed.batch, 0.9):.2f} s",
            met(batch, TARGET_SECONDS, at_most=True),
        ],
        ["the path's setup: pipeline + upscaler (once per process)", "", f"{speed.setup:.1f} s", ""],
    ]
    lines = [
        "### 5. Speed (the new model only)",
        "",
        f"Path: {speed.description}; {speed.runs} timed calls per batch size after one warm-up call.",
        "",
        *table(["measurement", "target", "new model", "met"], rows),
        "",
    ]
    summary = [
        f"5. seconds per {speed.side} px image (1 / 4 per call, medians)",
        f"<= {TARGET_SECONDS:g} s",
        f"{single:.2f} s / {batch:.2f} s",
        "-",
        "not measured",
        met(max(single, batch), TARGET_SECONDS, at_most=True),
    ]
    return lines, [summary]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the model under test")
    parser.add_argument("--earlier", type=Path, default=None, help="an earlier model to compare with")
    parser.add_argument("--objects", type=int, default=DEFAULTS["objects"], help="objects sampled (seeded)")
    parser.add_argument(
        "--shared", type=int, default=DEFAULTS["shared"], help="at least this many objects side by side"
    )
    parser.add_argument(
        "--pairs", type=int, default=DEFAULTS["pairs"], help="two-object prompts per object set"
    )
    parser.add_argument("--seeds", type=int, default=DEFAULTS["seeds"], help="images per prompt")
    parser.add_argument(
        "--batch", type=int, default=8, help="images per pipeline call for the adherence part"
    )
    parser.add_argument(
        "--speed-runs", type=int, default=DEFAULTS["speed_runs"], help="timed calls per batch size"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (all cores)")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--grid", type=Path, default=GRID)
    parser.add_argument("--judges-dir", type=Path, default=JUDGES_DIR, help="where trained judges are cached")
    args = parser.parse_args()

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from diffusers.utils import logging as diffusers_logging

    from generation.training.data import load_sprites, resolve_objects
    from generation.training.looks import emoji_records, ensure_packages

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    with contextlib.suppress(ImportError, AttributeError):
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    training = training_job_running()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - clock:5.0f}s] {message}", file=sys.stderr, flush=True)

    notes: list[str] = []
    earlier_path: Path | None = args.earlier
    if earlier_path is None:
        notes.append("No --earlier model given: the earlier column is left out.")
    elif not (earlier_path / "model_index.json").is_file():
        notes.append(f"**No model at {earlier_path}**: the earlier column is left out.")
        log(f"No model at {earlier_path}: the earlier column is left out.")
        earlier_path = None
    spec = registry_spec()
    steps, guidance = spec.default_steps, spec.default_guidance

    with tempfile.TemporaryDirectory(prefix="model-bench-") as temporary:
        packages = ensure_packages(PACKAGES_DIR)
        records = emoji_records(packages)

        def snapshot(label: str, path: Path) -> tuple[ModelRun, Path]:
            log(f"Copying {path} ...")
            folder = Path(temporary) / label
            state = snapshot_model(path, folder)
            objects = model_objects(folder, state, records)
            if missing := [name for name in objects if name not in CATALOGUE]:
                raise SystemExit(f"{path} was trained on objects the catalogue no longer has: {missing[:5]}")
            return ModelRun(
                label, path, state, objects, model_native_size(folder), model_looks(state)
            ), folder

        new, new_dir = snapshot("new", args.model)
        earlier, earlier_dir = snapshot("earlier", earlier_path) if earlier_path else (None, None)

        # The object judge knows every object either model was trained on, in catalogue order.
        known = set(new.objects) | set(earlier.objects if earlier else [])
        judged = [name for name in CATALOGUE if name in known]
        catalogue_sprites = load_sprites(resolve_objects(packages, OBJECTS))
        sprites = catalogue_sprites[[list(CATALOGUE).index(name) for name in judged]]
        judges = judge.load_or_train(
            objects=judged,
            object_sprites=sprites,
            catalogue=list(CATALOGUE),
            catalogue_sprites=catalogue_sprites,
            packages=packages,
            cache_dir=args.judges_dir,
            seed=JUDGE_SEED,
            log=log,
        )
        del catalogue_sprites
        vae_pool = judge.draw_pool(
            sprites,
            VAE_CHECK_COMPOSITES,
            JUDGE_SEED + 3 * judge.EVAL_SEED_OFFSET,
            0.0,
            judge.RENDER_SIZE,
            False,
        )
        del sprites

        sample, shared = choose_objects(
            new.objects, earlier.objects if earlier else None, args.objects, args.shared, OBJECT_SAMPLE_SEED
        )
        extra = [name for name in shared if name not in sample]
        single_prompts = held_out_prompts([*sample, *extra])
        pairs_sample = pair_prompts(sample, args.pairs, PAIR_SEED)
        pairs_shared = shared_pairs(pairs_sample, shared, args.pairs, PAIR_SEED + 1) if earlier else []
        run_model(
            new,
            new_dir,
            judges,
            single_prompts,
            list(dict.fromkeys([*pairs_sample, *pairs_shared])),
            args.seeds,
            steps,
            guidance,
            args.batch,
            vae_pool,
            log,
        )
        if earlier is not None and earlier_dir is not None:
            in_shared = set(shared)
            run_model(
                earlier,
                earlier_dir,
                judges,
                [prompt for prompt in single_prompts if prompt.objects[0] in in_shared],
                pairs_shared,
                args.seeds,
                steps,
                guidance,
                args.batch,
                vae_pool,
                log,
            )

        log("Timing the generation path ...")
        run, description, setup, side = generation_path(
            new_dir, args.threads, (single_prompts[0].text, single_prompts[0].negative)
        )
        speed_threads = torch.get_num_threads()
        speed = Speed(
            description,
            side,
            setup,
            time_per_image(run, single_prompts, 1, args.speed_runs, side),
            time_per_image(run, single_prompts, 4, args.speed_runs, side),
            args.speed_runs,
        )

    in_sample_pairs, in_shared_pairs = set(pairs_sample), set(pairs_shared)
    singles = Columns(
        subset(new.singles, sample), subset(new.singles, shared), earlier.singles if earlier else None
    )
    pairs = Columns(
        [r for r in new.pairs if r.prompt in in_sample_pairs],
        [r for r in new.pairs if r.prompt in in_shared_pairs],
        earlier.pairs if earlier else None,
    )
    summary, sections = report_sections(new, earlier, judges, singles, pairs)
    speed_lines, speed_summary = speed_section(speed)

    notes += [
        f"Run {started_at:%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: {os.cpu_count()} CPU "
        f"cores, torch {torch.__version__} with {speed_threads} threads, load average {load_at_start[0]:.2f} "
        f"at the start and {os.getloadavg()[0]:.2f} at the end; {time.perf_counter() - clock:.0f} s in all.",
        _model_note(new),
        *([_model_note(earlier)] if earlier else []),
        _objects_note(new, earlier, sample, shared, extra, singles, pairs, args.seeds),
        f"Generation: {steps} steps, guidance {guidance:g} (the registry's defaults), each model "
        f"at its own native size; images judged at {judge.RENDER_SIZE} px.",
        _judges_note(judges),
    ]
    if spec.native_size and spec.native_size != new.native:
        notes.append(
            f"The registry's default entry renders at {spec.native_size} px (the shipped model); the speed "
            f"path runs the new model at its own {new.native} px with the entry's upscaler, as it would run "
            "once shipped."
        )
    if training:
        notes.append(
            "**A training job (train_default_model) was running during the bench**: speed figures are slower "
            "than on an idle machine."
        )
    lines = [
        "## Model benchmark",
        "",
        *(f"- {note}" for note in notes),
        "",
        *table(
            [
                "metric",
                "target",
                "new model",
                "new model, shared objects",
                "earlier model, shared objects",
                "met",
            ],
            [*summary, *speed_summary],
        ),
        "",
        'Rates: hits / images, with the 95% Wilson interval. "Shared objects": the objects both models know, '
        "on the same prompts and seeds for both.",
        "",
    ]
    summary_end = len(lines)
    lines += [*sections, *speed_lines, *_method_lines(len(judges.objects))]
    lines += ["", "### Every image", "", *_image_table(new, earlier), ""]
    save_grid(args.grid, grid_tiles(new, 16, 8) + (grid_tiles(earlier, 8, 0) if earlier else []))
    lines.append(
        f"Grid of generated images with the judges' verdicts (green frame: all right): {_shown(args.grid)}."
    )
    print("\n".join(lines[:summary_end]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    log(f"Written to {_shown(args.out)} and {_shown(args.grid)}")
    return 0


def _objects_note(
    new: ModelRun,
    earlier: ModelRun | None,
    sample: Sequence[str],
    shared: Sequence[str],
    extra: Sequence[str],
    singles: Columns,
    pairs: Columns,
    seeds: int,
) -> str:
    text = f"Objects: a seeded sample of {len(sample)} of the new model's {len(new.objects)}"
    if earlier is not None:
        both = len(set(new.objects) & set(earlier.objects))
        text += (
            f"; side by side, {len(shared)} of the {both} objects both models know "
            f"({len(shared) - len(extra)} of them in the sample, {len(extra)} more drawn)"
        )
    text += (
        f". Images ({seeds} seed(s) per prompt): {len(singles.new)} held-out one-object and {len(pairs.new)} "
        "two-object images of the new model"
    )
    if earlier is not None and singles.earlier is not None and pairs.earlier is not None:
        text += f"; {len(singles.earlier)} and {len(pairs.earlier)} of each model on the shared objects"
    return text + "."


def _judges_note(judges: judge.Judges) -> str:
    how = (
        "trained now ("
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in judges.trained.items())
        + ")"
        if judges.trained
        else "loaded from the cache"
    )
    emoji = judges.checks.get("look_emoji", {})
    return (
        f"Judges: {how}: {', '.join(_shown(path) for path in judges.cache_files)}. The look and backdrop "
        f"judges learned from {emoji.get('training', '?')} emoji outside the catalogue; "
        f"{emoji.get('held_out', '?')} more were kept back to test the look judge."
    )


def _model_note(run: ModelRun) -> str:
    state = run.state
    return (
        f"{run.label.capitalize()} model: {run.path} (copied first), {len(run.objects)} objects, looks "
        f"{', '.join(run.looks)}, {run.native} px, UNet step {state.get('unet_steps', '?')} "
        f"({state.get('unet_images', '?')} training images); load {run.load_seconds:.1f} s, "
        f"{run.images} images generated in {run.generate_seconds:.0f} s."
    )


def _method_lines(count: int) -> list[str]:
    o, lk, b = judge.OBJECT_JUDGE, judge.LOOK_JUDGE, judge.BACKDROP_JUDGE
    text = [
        '- Prompts: generation.presets.compose_prompt("<a/an first caption word> <first backdrop phrase>", '
        '"", <the look\'s style preset>), prompt and negative prompt, as the generate form sends them. Per '
        "object: its two held-out (backdrop, look) pairs (data.held_out_scenes; gradients with two seeded "
        "colours) and its held-out colour (catalogue.held_out_colour) in the default look. Pairs: "
        '"<a> and <b> <scene>" in the default look, on a scene held out for neither. Each image\'s seed '
        "comes from its prompt, so both models start from the same noise.",
        f"- Backdrop: the backdrop judge's most likely of the {len(judge.BACKDROP_KINDS)} kinds; for colour "
        f"backdrops the per-channel median of the outer ring ({judge.BORDER_FRACTION:.1%} of the side) must "
        "also be the prompted colour: the nearest of catalogue.COLOURS by CIELAB Delta E 1976.",
        f"- Object: the object judge's probabilities over all {count} objects either model was trained on; a "
        f"hit when the prompted object ranks in the top {TOP_K} (ties count against it). Two-object images: "
        "the left and right halves, each padded to a square with its edge columns, are ranked separately; a "
        f"hit when each prompted object is in the top {TOP_K} of one half, in either order.",
        "- Look: the look judge's most likely of the three looks.",
        f"- Judges (bench/model_judge.py): small all-convolutional networks, {judge.BATCH} images a step, "
        "through random blur, downscale-upscale, noise, colour and position shifts. Object: "
        f"{o.input_size} px view, {o.steps} steps on {o.pool} composites of the objects above "
        f"({o.two_share:.0%} two-object, shown as halves). Look: {lk.input_size} px, {lk.steps} steps on "
        f"{lk.pool} composites of emoji outside the catalogue. Backdrop: {b.input_size} px, {b.steps} steps "
        "on the same composites. The object and look judges pool their features with an attention map "
        "trained on the object's silhouette. Composites are drawn as training draws them: every backdrop "
        "kind and look, light, contact shadows, sizes and places, held-out combinations included.",
        "- Controls: each judge on fresh composites of another seed (clean and degraded); on composites "
        "encoded and decoded by each model's own VAE at its size (the blur and artefacts of its decoder); "
        f"the generated images scored against prompts shuffled among them ({SHUFFLE_ROUNDS} permutations): "
        "what a model that ignores the prompt but draws the same pictures would score; and chance.",
    ]
    return ["### How it is measured", "", *text]


def _image_table(new: ModelRun, earlier: ModelRun | None) -> list[str]:
    rows = []
    for run in (new, earlier):
        if run is None:
            continue
        for r in run.singles:
            p = r.prompt
            seen = r.backdrop_seen
            if r.backdrop_seen == "colour" or p.colour:
                seen += (
                    f" (ring: {r.colour_seen}, Delta E {r.delta_e:.0f})"
                    if p.colour
                    else f" ({r.colour_seen})"
                )
            rows.append(
                [
                    run.label,
                    word(p.objects[0]),
                    f"{p.kind} {p.colour}".strip(),
                    p.look,
                    str(r.seed),
                    seen + ("" if r.backdrop_ok else " **x**"),
                    f"{r.rank} ({word(r.top1)})" + ("" if r.object_ok else " **x**"),
                    r.look_seen + ("" if r.look_ok else " **x**"),
                ]
            )
        for pair in run.pairs:
            p = pair.prompt
            rows.append(
                [
                    run.label,
                    " + ".join(word(name) for name in p.objects),
                    p.kind,
                    p.look,
                    str(pair.seed),
                    "",
                    f"L {word(pair.left_top1)}, R {word(pair.right_top1)}" + ("" if pair.found else " **x**"),
                    "",
                ]
            )
    return table(
        [
            "model",
            "object(s)",
            "asked backdrop",
            "asked look",
            "seed",
            "backdrop seen",
            "object rank (top-1)",
            "look seen",
        ],
        rows,
    )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
