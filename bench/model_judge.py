"""The model benchmark's judges: small CNNs that name the backdrop, the object and the look of an image.

They are trained in the bench process (bench/model_bench.py) on labelled composites drawn the way the default
model's training data draws them (generation.training.scenes for backdrops, light and shadows, sizes and
places as generation.training.data draws them), shown through degradations that mimic generated images
(blur, downscale and upscale, noise, slight colour shifts, shifts of a few pixels), and cached under
var/bench/judges/ by a hash of what they learn from (their classes, this file, scenes.py, the seed).

- The object judge ranks every object either benchmarked model was trained on. It learns from composites of
  those objects in all three looks on every backdrop kind, held-out combinations included (the judge is not
  the model: it must know what the model never saw). Two-object composites are shown to it as their left and
  right halves (``view``), labelled with the object on that side, so it judges the halves of two-object
  images the same way.
- The look judge (3D render, flat illustration, emoji) learns only from emoji that are NOT in the catalogue
  (the packages have ~750 more things, animals, foods, places and symbols with all three looks), so it
  judges the art style, not objects it memorised; some of those emoji are kept back to measure it on
  sprites it never saw, and it is measured on the catalogue's objects too.
- The backdrop judge names one of the 12 kinds of scenes.BACKDROPS; it learns from the look judge's
  composites (emoji outside the catalogue), so it too is measured on objects it never saw.

The object and look judges pool their features with an attention map that is trained to cover the object's
silhouette (its alpha, known for every composite), so they read the object rather than the backdrop. The look
and backdrop judges see the full 128 px image through a 4 px patch stem (the look lives in fine shading);
the object judge sees a 64 px view.

Every judge is measured on fresh composites (another seed) before it is used, clean and degraded; the bench
adds composites passed through each model's own VAE. The ring colour check of "colour" backdrops lives here
too, since it is measured on the same composites. Every number below was fixed before any generated image was
looked at; none may be tuned to make a model pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generation.training.catalogue import COLOURS, NamedColour
from generation.training.data import IMAGE_SIZE, load_sprite, paste, place_objects
from generation.training.looks import LOOKS, emoji_records, sprite_path
from generation.training.scenes import BACKDROPS, BackdropPainter, apply_light, pick_light

# Bump when anything below changes what a judge learns: the cache key includes it and this file's hash.
JUDGE_VERSION = 3

RENDER_SIZE = IMAGE_SIZE  # composites are painted, and images judged, at the model's training size (128 px)
BACKDROP_KINDS: tuple[str, ...] = tuple(BACKDROPS)
LOOK_KEYS: tuple[str, ...] = tuple(LOOKS)

# The colour check of "colour" backdrops: the median of the outer ring, nearest named colour in CIELAB.
BORDER_FRACTION = 6 / 64  # the ring's width as a share of the side (8 px at 128 px)


@dataclass(frozen=True)
class JudgeSpec:
    name: str
    input_size: int  # the side of the view it sees
    width: int  # channels of its first layer (x2, x4, x8 deeper)
    attend: bool  # pool with an attention map trained on the object's silhouette
    steps: int
    pool: int  # composites drawn for it
    two_share: float  # of them with two objects


OBJECT_JUDGE = JudgeSpec("object", 64, 24, True, 2_000, 12_000, 0.3)
LOOK_JUDGE = JudgeSpec("look", 128, 24, True, 2_500, 8_000, 0.15)
BACKDROP_JUDGE = JudgeSpec("backdrop", 128, 16, False, 1_200, 8_000, 0.15)  # trained on the look pool
# The look judge learns from things, food, animals, places and symbols, like the catalogue's objects: not from
# flags (rectangles) nor from the ~500 faces and people (near-duplicates of one another).
LOOK_EXCLUDED_CATEGORIES = ("Flags", "People & Body", "Smileys & Emotion")
LOOK_HELD_OUT = 160  # emoji outside the catalogue never shown to the look judge in training
BATCH = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
LABEL_SMOOTHING = 0.1
MASK_WEIGHT = 1.0  # of the attention map's loss against the object's silhouette
CLEAN_SHARE = 0.15  # training samples shown without degradation
# Degradations that mimic generated images, in pixels of a 128 px image (scaled for smaller views).
DOWNSCALE_CHANCE, DOWNSCALE_RANGE = 0.5, (0.5, 1.0)
BLUR_CHANCE, BLUR_SIGMA = 0.5, (0.3, 1.6)
GAIN_SIGMA, OFFSET_RANGE, CONTRAST_RANGE, SATURATION_RANGE = 0.05, 0.05, (0.85, 1.15), (0.75, 1.25)
NOISE_MAX = 0.04
SHIFT_MAX = 6
DEGRADE_LEVELS = 4
# Measuring the judges: fresh composites from another seed.
EVAL_SINGLES = 600
EVAL_PAIRS = 200
EVAL_SEED_OFFSET = 7_919
TOP_K = 5


# --- colours ---------------------------------------------------------------------------------------------


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values in [0, 1], any shape (..., 3)."""
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def colour_by_name(name: str) -> NamedColour:
    for colour in COLOURS:
        if colour.name == name:
            return colour
    raise KeyError(name)


_COLOUR_LAB = srgb_to_lab(np.array([c.rgb for c in COLOURS], dtype=np.float64) / 255.0)


def border_pixels(image: np.ndarray) -> np.ndarray:
    """The outer ring of an (H, W, 3) image in [0, 1], as (M, 3)."""
    height, width = image.shape[:2]
    ring = max(1, round(min(height, width) * BORDER_FRACTION))
    mask = np.ones((height, width), dtype=bool)
    mask[ring : height - ring, ring : width - ring] = False
    return image[mask]


def border_colour(image: np.ndarray) -> np.ndarray:
    """The per-channel median of the outer ring: robust to an object or a shadow reaching into part of it."""
    return np.median(border_pixels(image), axis=0)


def nearest_named_colour(rgb: np.ndarray) -> tuple[str, float]:
    """The nearest colour of catalogue.COLOURS in CIELAB, and its Delta E 1976."""
    distances = np.linalg.norm(_COLOUR_LAB - srgb_to_lab(rgb), axis=1)
    index = int(np.argmin(distances))
    return COLOURS[index].name, float(distances[index])


def colour_verdict(image: np.ndarray, prompted: str) -> tuple[bool, str, float]:
    """(correct, detected colour name, Delta E to the prompted colour) of an (H, W, 3) image in [0, 1]."""
    colour = border_colour(image)
    detected, _ = nearest_named_colour(colour)
    prompted_lab = srgb_to_lab(np.array(colour_by_name(prompted).rgb) / 255.0)
    return detected == prompted, detected, float(np.linalg.norm(srgb_to_lab(colour) - prompted_lab))


def to_array(image: torch.Tensor) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1] from a (3, H, W) tensor."""
    return image.detach().permute(1, 2, 0).double().numpy()


# --- composites with labels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    kind: str  # a key of scenes.BACKDROPS
    look: str  # a key of looks.LOOKS
    objects: tuple[int, ...]  # sprite indexes: one, or two (left, right)
    colour: str = ""  # the named colour of a "colour" backdrop


def random_scene(rng: random.Random, count: int, two_share: float) -> Scene:
    """A scene with every backdrop kind, look and object equally likely."""
    kind = rng.choice(BACKDROP_KINDS)
    look = rng.choice(LOOK_KEYS)
    objects: tuple[int, ...] = (rng.randrange(count),)
    if count > 1 and rng.random() < two_share:
        objects = tuple(rng.sample(range(count), 2))
    colour = rng.choice(COLOURS).name if kind == "colour" else ""
    return Scene(kind, look, objects, colour)


def _silhouette(size: int, sprite: torch.Tensor, left: int, top: int) -> torch.Tensor:
    """A placed sprite's alpha where it landed on a (size x size) image, (1, S, S)."""
    return paste(torch.zeros(3, size, size), sprite[3:].expand(4, -1, -1), left, top)[:1]


def paint_scene(
    painter: BackdropPainter, sprites: torch.Tensor, scene: Scene, rng: random.Random, gen: torch.Generator
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The scene as (3, S, S) in [0, 1], placed and lit as generation.training.data.Compositor places it, and
    each object's silhouette (1, S, S).

    ``sprites`` is (N, looks, 4, P, P) premultiplied RGBA in ``LOOK_KEYS`` order.
    """
    if scene.kind == "colour":
        backdrop = painter.colour(rng, gen, colour_by_name(scene.colour))
    else:
        backdrop = painter.paint(scene.kind, rng, gen)
    light = pick_light(rng)
    canvas = apply_light(backdrop.image, light, painter)
    look_index = LOOK_KEYS.index(scene.look)
    chosen = [sprites[index, look_index] for index in scene.objects]
    canvas, placement = place_objects(canvas, chosen, backdrop, light, rng)
    silhouettes = [_silhouette(painter.size, sprite, left, top) for sprite, left, top in placement.placed]
    return canvas.clamp(0.0, 1.0), silhouettes


# --- views -----------------------------------------------------------------------------------------------

VIEWS = ("full", "left", "right")


def view(images: torch.Tensor, which: str = "full", size: int = 64) -> torch.Tensor:
    """What a judge sees of (B, C, H, W) images in [0, 1]: (B, C, size, size).

    "left" and "right" are that half of the image, padded to a square by repeating its edge columns (so the
    object in it keeps its proportions), for the two-object prompts.
    """
    if which != "full":
        height, width = images.shape[-2:]
        half = width // 2
        part = images[..., :half] if which == "left" else images[..., width - half :]
        pad_left = (height - half) // 2
        images = F.pad(part, (pad_left, height - half - pad_left, 0, 0), mode="replicate")
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of (B, C, S, S) images as two matrix products (much faster than a depthwise
    convolution on a CPU); near the edges the weights are renormalised over the pixels inside."""
    side = images.shape[-1]
    positions = torch.arange(side, dtype=torch.float32)
    weights = torch.exp(-((positions[:, None] - positions[None, :]) ** 2) / (2 * sigma**2))
    weights = weights / weights.sum(dim=0, keepdim=True)
    return weights.T @ images @ weights


def degrade(batch: torch.Tensor, gen: torch.Generator, colour: bool = True) -> torch.Tensor:
    """(B, 3, S, S) views in [0, 1] made to look like generated images: softer, noisier, slightly off colour.

    Blur and shifts are in pixels of a 128 px image, scaled to the view; downscale sizes and blur radii come
    in DEGRADE_LEVELS steps, each one batched operation. ``colour=False`` leaves colours alone (for measuring
    the colour check on degraded images).
    """
    count, _, size, _ = batch.shape
    scale = size / RENDER_SIZE
    x = batch.to(torch.float32, copy=True)
    r = torch.rand(count, 10, generator=gen)
    downscaled, blurred = r[:, 0] < DOWNSCALE_CHANCE, r[:, 2] < BLUR_CHANCE
    down_level = (r[:, 1] * DEGRADE_LEVELS).long().clamp(max=DEGRADE_LEVELS - 1)
    blur_level = (r[:, 3] * DEGRADE_LEVELS).long().clamp(max=DEGRADE_LEVELS - 1)
    for level in range(DEGRADE_LEVELS):
        fraction = level / max(1, DEGRADE_LEVELS - 1)
        chosen = downscaled & (down_level == level)
        if chosen.any():
            side = max(
                8, round(size * (DOWNSCALE_RANGE[0] + (DOWNSCALE_RANGE[1] - DOWNSCALE_RANGE[0]) * fraction))
            )
            small = F.interpolate(x[chosen], size=(side, side), mode="bilinear", antialias=True)
            x[chosen] = F.interpolate(small, size=(size, size), mode="bicubic", align_corners=False)
        chosen = blurred & (blur_level == level)
        if chosen.any():
            sigma = BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * fraction
            x[chosen] = _gaussian_blur(x[chosen], max(0.2, scale * sigma))

    def spread(column: int, low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * r[:, column]).view(count, 1, 1, 1)

    if colour:
        x = (
            x * (1 + GAIN_SIGMA * torch.randn(count, 3, 1, 1, generator=gen))
            + spread(4, -1, 1) * OFFSET_RANGE
        )
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * spread(5, *CONTRAST_RANGE)
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * spread(6, *SATURATION_RANGE)
    x = x + NOISE_MAX * spread(7, 0, 1) * torch.randn(x.shape, generator=gen)
    shift = max(1, round(SHIFT_MAX * scale))
    padded = F.pad(x, (shift,) * 4, mode="replicate")
    dx = ((2 * r[:, 8] - 1) * shift).round().long().tolist()
    dy = ((2 * r[:, 9] - 1) * shift).round().long().tolist()
    x = torch.stack(
        [
            padded[i, :, shift + dy[i] : shift + dy[i] + size, shift + dx[i] : shift + dx[i] + size]
            for i in range(count)
        ]
    )
    return x.clamp(0.0, 1.0)


# --- the network -----------------------------------------------------------------------------------------


class JudgeNet(nn.Module):
    """A small all-convolutional network: a stem to 32 x 32 (3x3 stride 2 at 64 px, 4x4 patches at 128 px),
    six 3x3 layers down to 4 x 4, then one linear head on the mean of the features and, with ``attend``, on
    the features pooled by a 1x1 attention map (trained to cover the object's silhouette)."""

    def __init__(self, classes: int, width: int, input_size: int = 64, attend: bool = False) -> None:
        super().__init__()
        stride = input_size // 32
        if stride == 2:
            stem = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        else:
            stem = nn.Conv2d(3, width, stride, stride, 0, bias=False)
        layers: list[nn.Module] = [stem, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        plan = [(1, 1, 1), (1, 2, 2), (2, 2, 1), (2, 4, 2), (4, 4, 1), (4, 8, 2)]
        for channels_in, channels_out, step in plan:
            layers += [
                nn.Conv2d(width * channels_in, width * channels_out, 3, step, 1, bias=False),
                nn.BatchNorm2d(width * channels_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        self.attend = attend
        self.attention = nn.Conv2d(8 * width, 1, 1)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear((16 if attend else 8) * width, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, classes), attention logits (B, 1, 4, 4))."""
        features = self.features((x - 0.5) / 0.25)
        attention = self.attention(features)
        pooled = features.mean(dim=(2, 3))
        if self.attend:
            weights = attention.flatten(1).softmax(dim=1).view_as(attention)
            pooled = torch.cat([(features * weights).sum(dim=(2, 3)), pooled], dim=1)
        return self.head(self.dropout(pooled)), attention


def train_net(
    net: JudgeNet,
    images: torch.Tensor,
    labels: torch.Tensor,
    silhouettes: torch.Tensor | None,
    steps: int,
    seed: int,
    log: Callable[[str], None],
    name: str,
) -> None:
    """Train on a pool of uint8 views through random degradations; with ``silhouettes`` (P, 1, 4, 4), the
    attention map learns to cover the object."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=LEARNING_RATE, total_steps=steps, pct_start=0.15
    )
    net.train()
    running = 0.0
    for step in range(steps):
        index = torch.randint(0, len(images), (BATCH,), generator=gen)
        batch = images[index].float() / 255.0
        clean = torch.rand(BATCH, generator=gen) < CLEAN_SHARE
        batch = torch.where(clean.view(-1, 1, 1, 1), batch, degrade(batch, gen))
        logits, attention = net(batch)
        loss = F.cross_entropy(logits, labels[index], label_smoothing=LABEL_SMOOTHING)
        if silhouettes is not None and net.attend:
            target = silhouettes[index].float()
            loss = loss + MASK_WEIGHT * F.binary_cross_entropy_with_logits(attention, target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if (step + 1) % 500 == 0 or step + 1 == steps:
            elapsed = time.perf_counter() - started
            log(f"  {name} judge step {step + 1}/{steps}, loss {running:.3f} ({elapsed:.0f}s)")
    net.eval()


@torch.inference_mode()
def predict(net: JudgeNet, views: torch.Tensor, chunk: int = 128) -> torch.Tensor:
    """Softmax probabilities for (B, 3, S, S) views."""
    net.eval()
    parts = [
        net(views[start : start + chunk].float())[0].softmax(dim=-1) for start in range(0, len(views), chunk)
    ]
    return torch.cat(parts) if parts else torch.zeros(0)


def rank_of(scores: torch.Tensor, target: int) -> int:
    """1-based rank of ``target`` in one row of scores; ties count against it."""
    return int((scores >= scores[target]).sum())


def pair_found(left: torch.Tensor, right: torch.Tensor, first: int, second: int, k: int = TOP_K) -> bool:
    """Whether both prompted objects are there: each in the top ``k`` of one half, in either order."""
    return (rank_of(left, first) <= k and rank_of(right, second) <= k) or (
        rank_of(left, second) <= k and rank_of(right, first) <= k
    )


# --- sprites ---------------------------------------------------------------------------------------------


def load_look_sprites(
    packages: dict[str, Path], records: Iterable[dict], size: int = RENDER_SIZE
) -> torch.Tensor:
    """(N, looks, 4, size, size) premultiplied sprites of emoji records, half precision."""
    rows = []
    for record in records:
        looks = []
        for key in LOOK_KEYS:
            path = sprite_path(key, packages[key], record)
            assert path is not None
            looks.append(load_sprite(path, size))
        rows.append(torch.stack(looks))
    return torch.stack(rows).half()


def look_judge_records(
    packages: dict[str, Path], catalogue: Iterable[str], seed: int
) -> tuple[list[dict], list[dict]]:
    """Emoji outside the catalogue that have all three looks, shuffled (seeded): (training, held out)."""
    excluded = set(catalogue)
    candidates = []
    for short_name, record in sorted(emoji_records(packages).items()):
        if short_name in excluded or record.get("category") in LOOK_EXCLUDED_CATEGORIES:
            continue
        paths = [sprite_path(key, packages[key], record) for key in LOOK_KEYS]
        if all(path is not None and path.is_file() for path in paths):
            candidates.append(record)
    random.Random(f"look-judge-{seed}").shuffle(candidates)
    held_out = min(LOOK_HELD_OUT, len(candidates) // 4)
    return candidates[held_out:], candidates[:held_out]


# --- pools -----------------------------------------------------------------------------------------------


@dataclass
class Pool:
    images: torch.Tensor  # (P, 3, S, S) uint8 views
    backdrop: torch.Tensor  # (P,) index into BACKDROP_KINDS
    look: torch.Tensor  # (P,) index into LOOK_KEYS
    obj: torch.Tensor  # (P,) sprite index of the object in view (the left one of a whole two-object image)
    second: torch.Tensor  # (P,) the right object of a whole two-object image, -1 otherwise
    colour: list[str]  # the named colour of "colour" backdrops, "" for others
    silhouettes: torch.Tensor  # (P, 1, 4, 4) share of each cell the object in view covers

    def floats(self) -> torch.Tensor:
        return self.images.float() / 255.0


def draw_pool(
    sprites: torch.Tensor, count: int, seed: int, two_share: float, size: int, halves: bool
) -> Pool:
    """``count`` composites as views of ``size`` px: one-object scenes whole; two-object ones as both halves
    (``halves``, each labelled with its own object) or whole."""
    painter = BackdropPainter(RENDER_SIZE)
    rng = random.Random(f"judge-pool-{seed}")
    gen = torch.Generator().manual_seed(seed)
    views_out: list[torch.Tensor] = []
    cells: list[torch.Tensor] = []
    backdrop, look, obj, second, colour = [], [], [], [], []
    for _ in range(count):
        scene = random_scene(rng, len(sprites), two_share)
        image, silhouettes = paint_scene(painter, sprites, scene, rng, gen)
        if len(scene.objects) == 2 and halves:
            parts = [("left", 0, -1), ("right", 1, -1)]
        else:
            parts = [("full", 0, 1 if len(scene.objects) == 2 else -1)]
        for which, slot, other in parts:
            shown = silhouettes[slot] if other < 0 else torch.maximum(silhouettes[0], silhouettes[1])
            views_out.append(view(image[None], which, size))
            cells.append(F.adaptive_avg_pool2d(view(shown[None], which, size), 4)[0])
            backdrop.append(BACKDROP_KINDS.index(scene.kind))
            look.append(LOOK_KEYS.index(scene.look))
            obj.append(scene.objects[slot])
            second.append(scene.objects[other] if other >= 0 else -1)
            colour.append(scene.colour)
    return Pool(
        images=(torch.cat(views_out) * 255).round().to(torch.uint8),
        backdrop=torch.tensor(backdrop),
        look=torch.tensor(look),
        obj=torch.tensor(obj),
        second=torch.tensor(second),
        colour=colour,
        silhouettes=torch.stack(cells).half(),
    )


# --- the judges, trained or loaded -----------------------------------------------------------------------


@dataclass
class Judges:
    object: JudgeNet
    look: JudgeNet
    backdrop: JudgeNet
    objects: list[str]  # catalogue short names, in the object judge's class order
    checks: dict  # each judge's accuracy on fresh composites
    trained: dict  # seconds each judge took to train now (absent when loaded from the cache)
    cache_files: list[Path]

    def backdrops(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 12) probabilities of each backdrop kind for (B, 3, 128, 128) images in [0, 1]."""
        return predict(self.backdrop, view(images, "full", BACKDROP_JUDGE.input_size))

    def object_scores(self, images: torch.Tensor, which: str = "full") -> torch.Tensor:
        """(B, objects) probabilities for the whole image or one half."""
        return predict(self.object, view(images, which, OBJECT_JUDGE.input_size))

    def looks(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3) probabilities of each look."""
        return predict(self.look, view(images, "full", LOOK_JUDGE.input_size))


def _code_hash() -> str:
    import generation.training.scenes as scenes_module

    digest = hashlib.sha256()
    for path in (Path(__file__), Path(scenes_module.__file__ or "")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(kind: str, classes: Sequence[str], seed: int) -> str:
    payload = json.dumps(
        {
            "judge": kind,
            "classes": list(classes),
            "version": JUDGE_VERSION,
            "code": _code_hash(),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save(path: Path, nets: dict[str, JudgeNet], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save({"state": {name: net.state_dict() for name, net in nets.items()}, "meta": meta}, temporary)
    temporary.replace(path)


def _load(path: Path, nets: dict[str, JudgeNet]) -> dict | None:
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        for name, net in nets.items():
            net.load_state_dict(payload["state"][name])
    except (OSError, RuntimeError, KeyError, EOFError, ValueError):
        return None
    for net in nets.values():
        net.eval()
    return dict(payload["meta"])


def _eval_sets(sprites: torch.Tensor, seed: int) -> tuple[Pool, Pool]:
    """Fresh one-object and two-object composites, whole, at 128 px."""
    singles = draw_pool(sprites, EVAL_SINGLES, seed, 0.0, RENDER_SIZE, halves=False)
    pairs = draw_pool(sprites, EVAL_PAIRS, seed + 1, 1.0, RENDER_SIZE, halves=False)
    return singles, pairs


def measure_object_judge(judges: Judges, singles: Pool, pairs: Pool, seed: int) -> dict:
    """Top-1 / top-5 on one-object composites and both-found on two-object ones, clean and degraded."""
    gen = torch.Generator().manual_seed(seed)
    checks: dict = {"n_single": len(singles.obj), "n_pairs": len(pairs.obj)}
    for label in ("clean", "degraded"):
        images, pair_images = singles.floats(), pairs.floats()
        if label == "degraded":
            images, pair_images = degrade(images, gen), degrade(pair_images, gen)
        scores = judges.object_scores(images)
        ranks = [rank_of(row, int(target)) for row, target in zip(scores, singles.obj, strict=True)]
        left, right = judges.object_scores(pair_images, "left"), judges.object_scores(pair_images, "right")
        found = [
            pair_found(left[i], right[i], int(pairs.obj[i]), int(pairs.second[i]))
            for i in range(len(pairs.obj))
        ]
        checks[label] = {
            "top1": float(np.mean([rank == 1 for rank in ranks])),
            "top5": float(np.mean([rank <= TOP_K for rank in ranks])),
            "pairs": float(np.mean(found)),
        }
    return checks


def measure_backdrop_judge(judges: Judges, singles: Pool, seed: int) -> dict:
    """Backdrop kind, the colour check of "colour" backdrops and both together, clean and degraded."""
    gen = torch.Generator().manual_seed(seed)
    coloured = [index for index, name in enumerate(singles.colour) if name]
    checks: dict = {"n": len(singles.obj), "n_colour": len(coloured)}
    clean = singles.floats()
    variants = {
        # The colour check sees blur, downscaling and noise but no colour shift; the networks see all of it.
        "clean": (clean, clean),
        "degraded": (degrade(clean, gen), degrade(clean, gen, colour=False)),
    }
    for label, (images, colour_images) in variants.items():
        kind_ok = (judges.backdrops(images).argmax(dim=1) == singles.backdrop).tolist()
        colour_ok = {
            index: colour_verdict(to_array(colour_images[index]), singles.colour[index])[0]
            for index in coloured
        }
        checks[label] = {
            "kind": float(np.mean(kind_ok)),
            "colour_check": float(np.mean(list(colour_ok.values()))) if colour_ok else math.nan,
            "both": float(np.mean([ok and colour_ok.get(index, True) for index, ok in enumerate(kind_ok)])),
        }
    return checks


def measure_look_judge(judges: Judges, held_out: Pool, catalogue: Pool, seed: int) -> dict:
    """The look judge on fresh composites of emoji it never saw, and of the catalogue's objects, per look."""
    gen = torch.Generator().manual_seed(seed)
    checks: dict = {"n_held_out": len(held_out.look), "n_catalogue": len(catalogue.look)}
    for label, pool in (("held_out", held_out), ("catalogue", catalogue)):
        for variant in ("clean", "degraded"):
            images = pool.floats() if variant == "clean" else degrade(pool.floats(), gen)
            guessed = judges.looks(images).argmax(dim=1)
            per_look = {
                key: float((guessed[pool.look == index] == index).float().mean())
                for index, key in enumerate(LOOK_KEYS)
            }
            checks[f"{label}_{variant}"] = {"all": float((guessed == pool.look).float().mean()), **per_look}
    return checks


def load_or_train(
    *,
    objects: list[str],
    object_sprites: torch.Tensor,
    catalogue: Sequence[str],
    catalogue_sprites: torch.Tensor,
    packages: dict[str, Path],
    cache_dir: Path,
    seed: int,
    log: Callable[[str], None],
) -> Judges:
    """The three judges: from the cache when judges with the same classes, code and seed were trained before,
    otherwise trained now, measured and cached. ``object_sprites`` are ``objects``' sprites and
    ``catalogue_sprites`` the whole catalogue's, in order."""
    judges = Judges(
        object=JudgeNet(len(objects), OBJECT_JUDGE.width, OBJECT_JUDGE.input_size, OBJECT_JUDGE.attend),
        look=JudgeNet(len(LOOK_KEYS), LOOK_JUDGE.width, LOOK_JUDGE.input_size, LOOK_JUDGE.attend),
        backdrop=JudgeNet(len(BACKDROP_KINDS), BACKDROP_JUDGE.width, BACKDROP_JUDGE.input_size),
        objects=objects,
        checks={},
        trained={},
        cache_files=[],
    )
    measuring = seed + EVAL_SEED_OFFSET

    object_file = cache_dir / f"object-{cache_key('object', objects, seed)}.pt"
    meta = _load(object_file, {"object": judges.object})
    if meta is None:
        started = time.perf_counter()
        log(f"Training the object judge ({len(objects)} objects) ...")
        pool = draw_pool(object_sprites, OBJECT_JUDGE.pool, seed, OBJECT_JUDGE.two_share, 64, halves=True)
        log(f"  drew {len(pool.obj)} views in {time.perf_counter() - started:.0f}s")
        train_net(
            judges.object, pool.images, pool.obj, pool.silhouettes, OBJECT_JUDGE.steps, seed, log, "object"
        )
        del pool
        singles, pairs = _eval_sets(object_sprites, measuring)
        meta = {"object": measure_object_judge(judges, singles, pairs, measuring)}
        judges.trained["object"] = time.perf_counter() - started
        _save(object_file, {"object": judges.object}, meta)
    judges.checks.update(meta)
    judges.cache_files.append(object_file)

    # The look and backdrop judges learn from emoji outside the catalogue and are measured on the catalogue's
    # objects: they depend on the catalogue, not on the models' objects.
    look_file = cache_dir / f"look-{cache_key('look', catalogue, seed)}.pt"
    nets = {"look": judges.look, "backdrop": judges.backdrop}
    meta = _load(look_file, nets)
    if meta is None:
        started = time.perf_counter()
        training_records, held_out_records = look_judge_records(packages, catalogue, seed)
        log(
            f"Training the look and backdrop judges on {len(training_records)} emoji outside the catalogue "
            f"({len(held_out_records)} more kept back) ..."
        )
        training_sprites = load_look_sprites(packages, training_records)
        pool = draw_pool(training_sprites, LOOK_JUDGE.pool, seed, LOOK_JUDGE.two_share, 128, halves=False)
        del training_sprites
        log(f"  drew {len(pool.obj)} views in {time.perf_counter() - started:.0f}s")
        train_net(judges.look, pool.images, pool.look, pool.silhouettes, LOOK_JUDGE.steps, seed, log, "look")
        look_seconds = time.perf_counter() - started
        train_net(
            judges.backdrop, pool.images, pool.backdrop, None, BACKDROP_JUDGE.steps, seed, log, "backdrop"
        )
        del pool
        held_out_sprites = load_look_sprites(packages, held_out_records)
        held_out = draw_pool(held_out_sprites, EVAL_SINGLES, measuring + 2, 0.0, 128, halves=False)
        catalogue_singles = draw_pool(catalogue_sprites, EVAL_SINGLES, measuring + 3, 0.0, 128, halves=False)
        meta = {
            "look": measure_look_judge(judges, held_out, catalogue_singles, measuring),
            "backdrop": measure_backdrop_judge(judges, catalogue_singles, measuring),
            "look_emoji": {"training": len(training_records), "held_out": len(held_out_records)},
        }
        judges.trained["look"] = look_seconds
        judges.trained["backdrop"] = time.perf_counter() - started - look_seconds
        _save(look_file, nets, meta)
    judges.checks.update(meta)
    judges.cache_files.append(look_file)
    return judges
