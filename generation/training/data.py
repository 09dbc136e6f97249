"""The training data: emoji art in three looks, composited on the fly into product shots with captions.

Nothing here is committed: the art comes from npm packages (``looks.py``) unpacked under the work folder,
and every batch is drawn from a seeded generator, so a given (seed, step) always gives the same images and
captions, and a resumed run continues the same stream instead of repeating the start of it.

A sample is one object (or two, side by side) in one look, standing on a surface with a contact shadow, or
floating on a sky, a gradient or a colour, under a light from one side. Its caption names the look (or not,
for the default 3D look), the object with one of its words, its size and place when they are unusual, the
backdrop, and sometimes the light. Some (object, backdrop, look) triples and one background colour per
object are never drawn (``held_out_scenes``, ``held_out_colour``), so the benchmark can ask for pairings the
model has never seen.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from generation.presets import STYLES
from generation.training.catalogue import CatalogueObject, held_out_colour
from generation.training.looks import (
    DEFAULT_LOOK,
    LOOKS,
    DataPackageError,
    emoji_records,
    sprite_path,
)
from generation.training.scenes import (
    SCENE_KEYS,
    Backdrop,
    BackdropPainter,
    Light,
    apply_light,
    cast_shadow,
    pick_light,
)

IMAGE_SIZE = 128
LOOK_KEYS = tuple(LOOKS)
# How often each look is drawn: the default look most, since captions without a look word ask for it.
LOOK_WEIGHTS = {"3d": 0.5, "flat": 0.25, "emoji": 0.25}
BACKDROP_WEIGHTS = {**dict.fromkeys(SCENE_KEYS, 0.075), "gradient": 0.07, "colour": 0.18}
TWO_OBJECTS = 0.25  # share of samples with two objects side by side
HELD_OUT_PER_OBJECT = 2


__all__ = ["IMAGE_SIZE", "Compositor", "DataPackageError", "TrainingObject", "held_out_scenes"]


@dataclass(frozen=True)
class TrainingObject:
    entry: CatalogueObject
    package_name: str  # the name as written in the data packages, e.g. "HOT BEVERAGE"
    category: str
    image_paths: dict[str, Path]  # look key -> image


def resolve_objects(packages: dict[str, Path], entries: tuple[CatalogueObject, ...]) -> list[TrainingObject]:
    records = emoji_records(packages)
    resolved = []
    for entry in entries:
        record = records.get(entry.short_name)
        if record is None:
            raise DataPackageError(f"{entry.short_name!r} is not in the emoji data packages.")
        paths = {}
        for key in LOOK_KEYS:
            path = sprite_path(key, packages[key], record)
            if path is None or not path.is_file():
                raise DataPackageError(
                    f"{entry.short_name!r} has no {LOOKS[key].label} image ({LOOKS[key].package})."
                )
            paths[key] = path
        resolved.append(TrainingObject(entry, record["name"], record["category"], paths))
    return resolved


def load_sprite(path: Path, size: int = IMAGE_SIZE) -> torch.Tensor:
    """A premultiplied RGBA sprite, shape (4, size, size), values in [0, 1]."""
    with Image.open(path) as image:
        rgba = image.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
    array = torch.from_numpy(np.asarray(rgba, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
    # Premultiplied alpha, so resizing does not bleed the transparent pixels' colour into the edges.
    array[:3] *= array[3:]
    return array


def load_sprites(objects: list[TrainingObject], size: int = IMAGE_SIZE) -> torch.Tensor:
    """Shape (N objects, looks, 4, size, size), in ``LOOK_KEYS`` order, half precision to save memory."""
    return torch.stack(
        [torch.stack([load_sprite(obj.image_paths[key], size) for key in LOOK_KEYS]) for obj in objects]
    ).half()


def held_out_scenes(short_name: str) -> frozenset[tuple[str, str]]:
    """The (backdrop, look) pairs never drawn with this object: two, with different backdrops and looks.

    Stable across runs and object counts. The benchmark asks for exactly these.
    """
    rng = random.Random(zlib.crc32(f"held-out:{short_name}".encode()))
    kinds = rng.sample((*SCENE_KEYS, "gradient"), HELD_OUT_PER_OBJECT)
    looks = rng.sample(LOOK_KEYS, HELD_OUT_PER_OBJECT)
    return frozenset(zip(kinds, looks, strict=True))


def with_article(phrase: str, plural: bool) -> str:
    if plural:
        return phrase
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def paste(canvas: torch.Tensor, sprite: torch.Tensor, left: int, top: int) -> torch.Tensor:
    """Composite a premultiplied (4, P, P) sprite onto ``canvas`` (3, S, S) at (left, top), clipped."""
    size = canvas.shape[-1]
    pixels = sprite.shape[-1]
    y0, y1 = max(top, 0), min(top + pixels, size)
    x0, x1 = max(left, 0), min(left + pixels, size)
    if y1 <= y0 or x1 <= x0:
        return canvas
    part = sprite[:, y0 - top : y1 - top, x0 - left : x1 - left]
    out = canvas.clone()
    out[:, y0:y1, x0:x1] = part[:3] + out[:, y0:y1, x0:x1] * (1 - part[3:])
    return out


def resize_sprite(sprite: torch.Tensor, pixels: int) -> torch.Tensor:
    return F.interpolate(sprite.float()[None], size=(pixels, pixels), mode="bilinear", antialias=True)[0]


def _bottom_row(alpha: torch.Tensor) -> int:
    rows = (alpha[0] > 0.1).any(dim=1).nonzero()
    return int(rows[-1]) if len(rows) else alpha.shape[-1] - 1


_SIZES = (
    ("small", 0.3, 0.42, 0.2),
    ("", 0.5, 0.72, 0.55),
    ("large", 0.8, 0.95, 0.15),
    ("close-up", 1.05, 1.25, 0.1),
)
_FREE_POSITIONS = {
    "on the left": (0.0, 0.5),
    "on the right": (1.0, 0.5),
    "at the top": (0.5, 0.0),
    "at the bottom": (0.5, 1.0),
    "in the top left corner": (0.0, 0.0),
    "in the top right corner": (1.0, 0.0),
    "in the bottom left corner": (0.0, 1.0),
    "in the bottom right corner": (1.0, 1.0),
}


PAIR_SCALE = (0.36, 0.48)  # each object's side, as a share of the image's, when two stand side by side


@dataclass(frozen=True)
class Placement:
    """Where the objects of one sample landed, and the words a caption uses for it."""

    size_word: str  # one object: "small", "large", "close-up" or ""; two objects: ""
    position: str  # one object: "on the left", "in the top right corner"... or ""; two objects: ""
    placed: tuple[tuple[torch.Tensor, int, int], ...]  # per object: (resized sprite, left, top)


def place_objects(
    canvas: torch.Tensor, sprites: list[torch.Tensor], backdrop: Backdrop, light: Light, rng: random.Random
) -> tuple[torch.Tensor, Placement]:
    """Stand one object, or two side by side, on ``canvas`` (3, S, S) with their shadows; or float them in
    front of a backdrop without a ground (sky, gradient, colour). The one placement rule, shared by the
    training data and the benchmark's judges.

    ``sprites``: each object's premultiplied RGBA (4, P, P) in the sample's look, in left-to-right order.
    """
    s = canvas.shape[-1]
    standing = backdrop.ground is not None
    placed = []
    size_word = position = ""
    if len(sprites) == 1:
        size_word, low, high, _ = rng.choices(_SIZES, weights=[row[3] for row in _SIZES])[0]
        scale = rng.uniform(low, high)
        pixels = max(12, round(s * scale))
        sprite = resize_sprite(sprites[0], pixels)
        cx = 0.5 + rng.uniform(-0.06, 0.06)
        if size_word == "close-up":
            cy = 0.5 + rng.uniform(-0.05, 0.05)
            top = round(cy * s - pixels / 2)
            standing = False
        elif standing:
            assert backdrop.ground is not None
            if scale < 0.6 and rng.random() < 0.4:
                position = rng.choice(("on the left", "on the right"))
                cx = scale / 2 + 0.03 if position == "on the left" else 1 - scale / 2 - 0.03
            bottom = _bottom_row(sprite[3:])
            ground_y = rng.uniform(*backdrop.ground) * s
            top = round(max(ground_y, bottom + 1) - bottom)
        else:
            cy = 0.5 + rng.uniform(-0.05, 0.05)
            if scale < 0.6 and rng.random() < 0.5:
                position, (anchor_x, anchor_y) = rng.choice(list(_FREE_POSITIONS.items()))
                margin = scale / 2 + 0.03
                cx = 0.5 if anchor_x == 0.5 else (margin if anchor_x == 0.0 else 1 - margin)
                cy = 0.5 if anchor_y == 0.5 else (margin if anchor_y == 0.0 else 1 - margin)
            top = round(cy * s - pixels / 2)
        left = round(cx * s - pixels / 2)
        if size_word != "close-up":
            left = min(max(left, 0), s - pixels)
            top = min(max(top, 0), s - pixels)
        canvas = cast_shadow(canvas, sprite[3:], left, top, light, standing)
        canvas = paste(canvas, sprite, left, top)
        placed.append((sprite, left, top))
    else:
        ground_y = rng.uniform(*backdrop.ground) * s if backdrop.ground else 0.0
        centre_y = 0.5 + rng.uniform(-0.06, 0.06)
        for slot, full in enumerate(sprites):
            pixels = round(s * rng.uniform(*PAIR_SCALE))
            cx = (0.27 if slot == 0 else 0.73) + rng.uniform(-0.03, 0.03)
            left = min(max(round(cx * s - pixels / 2), 0), s - pixels)
            sprite = resize_sprite(full, pixels)
            if standing:
                bottom = _bottom_row(sprite[3:])
                top = round(max(ground_y, bottom + 1) - bottom)
            else:
                top = round(centre_y * s - pixels / 2)
            top = min(max(top, 0), s - pixels)
            canvas = cast_shadow(canvas, sprite[3:], left, top, light, standing)
            canvas = paste(canvas, sprite, left, top)
            placed.append((sprite, left, top))
    return canvas, Placement(size_word, position, tuple(placed))


class Compositor:
    """Makes deterministic batches of (image, caption) from the sprites and the backdrop painter."""

    def __init__(
        self,
        objects: list[TrainingObject],
        sprites: torch.Tensor,
        seed: int,
        weights: list[float] | None = None,
        size: int = IMAGE_SIZE,
    ) -> None:
        self.objects = objects
        self.sprites = sprites
        self.seed = seed
        # Relative sampling weight per object (None: uniform). The trainer boosts objects added late.
        self.weights = weights
        self.size = size
        self.painter = BackdropPainter(size)
        self.held_out = [held_out_scenes(obj.entry.short_name) for obj in objects]
        self.held_out_colours = [held_out_colour(obj.entry.short_name) for obj in objects]

    def probabilities(self) -> list[float]:
        """The chance of each object per sample (two-object samples count each of their objects)."""
        weights = self.weights or [1.0] * len(self.objects)
        total = sum(weights)
        return [weight / total for weight in weights]

    def _object(self, rng: random.Random) -> int:
        if self.weights is None:
            return rng.randrange(len(self.objects))
        return rng.choices(range(len(self.objects)), weights=self.weights)[0]

    def _allowed(self, indexes: list[int], kind: str, look: str) -> bool:
        return all((kind, look) not in self.held_out[index] for index in indexes)

    def _name(self, rng: random.Random, index: int, size_word: str = "") -> str:
        entry = self.objects[index].entry
        word = rng.choice(entry.words)
        return with_article(f"{size_word} {word}" if size_word else word, entry.plural)

    def sample(self, rng: random.Random, gen: torch.Generator) -> tuple[torch.Tensor, str]:
        """One image (3, S, S) in [0, 1] and its caption."""
        look = rng.choices(LOOK_KEYS, weights=[LOOK_WEIGHTS[key] for key in LOOK_KEYS])[0]
        indexes = [self._object(rng)]
        if len(self.objects) > 1 and rng.random() < TWO_OBJECTS:
            second = self._object(rng)
            while second == indexes[0]:
                second = self._object(rng)
            indexes.append(second)
        kinds = list(BACKDROP_WEIGHTS)
        kind = rng.choices(kinds, weights=list(BACKDROP_WEIGHTS.values()))[0]
        while not self._allowed(indexes, kind, look):
            kind = rng.choices(kinds, weights=list(BACKDROP_WEIGHTS.values()))[0]
        # No object in the image is ever drawn on its held-out colour.
        avoid = {self.held_out_colours[index] for index in indexes}
        backdrop = self.painter.paint(kind, rng, gen, avoid=avoid)
        light = pick_light(rng)
        canvas = apply_light(backdrop.image, light, self.painter)
        look_index = LOOK_KEYS.index(look)
        canvas, placement = place_objects(
            canvas, [self.sprites[index, look_index] for index in indexes], backdrop, light, rng
        )
        if len(indexes) == 1:
            size_word = placement.size_word
            described = self._name(rng, indexes[0], size_word if size_word != "close-up" else "")
            where = "close-up" if size_word == "close-up" else placement.position
        else:
            left_name, right_name = (self._name(rng, chosen) for chosen in indexes)
            if rng.random() < 0.3:
                described = f"{left_name} on the left and {right_name} on the right"
            else:
                described = f"{left_name} and {right_name}"
            where = ""

        caption = self._caption(rng, look, described, backdrop.phrase, where, light.words)
        return canvas.clamp(0.0, 1.0), caption

    def _caption(
        self, rng: random.Random, look: str, described: str, backdrop: str, where: str, light: str
    ) -> str:
        opening = rng.choice(LOOKS[look].openings)
        if look == DEFAULT_LOOK and rng.random() < 0.3:
            opening = "{obj}"  # the default look needs no look words
        text = opening.format(obj=described)
        if where and rng.random() < 0.5:
            text = f"{text} {where} {backdrop}" if where != "close-up" else f"a close-up of {text} {backdrop}"
        else:
            text = f"{text} {backdrop}, {where}" if where else f"{text} {backdrop}"
        if light:
            text = f"{text}, {light}"
        if rng.random() < 0.25:
            # What the look's style preset appends: its prompts are then captions the model has seen.
            text = f"{text}, {STYLES[LOOKS[look].style_key].prompt_suffix}"
        return text

    def batch(
        self, step: int, batch_size: int, caption_dropout: float = 0.0, stream: str = "unet"
    ) -> tuple[torch.Tensor, list[str]]:
        """Return images in [-1, 1], shape (B, 3, S, S), and their captions ("" when dropped).

        ``stream`` keeps the VAE and UNet phases on separate, reproducible sequences of batches.
        """
        rng = random.Random(f"{self.seed}-{stream}-{step}")
        gen = torch.Generator().manual_seed(rng.getrandbits(63))
        images, captions = [], []
        for _ in range(batch_size):
            image, caption = self.sample(rng, gen)
            images.append(image)
            captions.append("" if rng.random() < caption_dropout else caption)
        return torch.stack(images) * 2.0 - 1.0, captions
