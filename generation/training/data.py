"""The training data: Noto Emoji art from the ``emoji-datasource-google`` npm package, composited on the fly.

Nothing here is committed: the package is fetched with ``npm pack`` into ``var/training`` and every batch is
drawn from a seeded generator, so a given (seed, step) always gives the same images and captions, and a
resumed run continues the same stream instead of repeating the start of it.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from generation.training.catalogue import COLOURS, SCENES, CatalogueObject, NamedColour, held_out_colour

PACKAGE_NAME = "emoji-datasource-google"
PACKAGE_VERSION = "16.0.0"
SPRITE_SIZE = 64
_KEPT_PREFIXES = ("package/img/google/64/",)
_KEPT_FILES = ("package/emoji.json", "package/LICENSE", "package/README.md", "package/package.json")


class DataPackageError(RuntimeError):
    pass


def ensure_data_package(root: Path) -> Path:
    """Return the unpacked package folder under ``root``, fetching it with ``npm pack`` when missing."""
    package_dir = root / "package"
    if (package_dir / "emoji.json").is_file():
        return package_dir
    root.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    if npm is None:
        raise DataPackageError(
            f"npm is needed to fetch the training data ({PACKAGE_NAME}@{PACKAGE_VERSION}); install Node.js."
        )
    result = subprocess.run(
        [npm, "pack", f"{PACKAGE_NAME}@{PACKAGE_VERSION}", "--pack-destination", str(root), "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DataPackageError(f"npm pack {PACKAGE_NAME}@{PACKAGE_VERSION} failed: {result.stderr.strip()}")
    tarball = root / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        # Only the 64 px images and the metadata are used; the sprite sheets are most of the 74 MB.
        members = [
            member
            for member in archive.getmembers()
            if member.name in _KEPT_FILES or member.name.startswith(_KEPT_PREFIXES)
        ]
        archive.extractall(root, members=members, filter="data")
    tarball.unlink()
    return package_dir


@dataclass(frozen=True)
class TrainingObject:
    entry: CatalogueObject
    package_name: str  # the name as written in the data package, e.g. "HOT BEVERAGE"
    category: str
    image_path: Path


def resolve_objects(package_dir: Path, entries: tuple[CatalogueObject, ...]) -> list[TrainingObject]:
    records = {
        record["short_name"]: record for record in json.loads((package_dir / "emoji.json").read_text())
    }
    resolved = []
    for entry in entries:
        record = records.get(entry.short_name)
        if record is None or not record.get("has_img_google"):
            raise DataPackageError(f"{entry.short_name!r} has no Google image in {PACKAGE_NAME}.")
        image_path = package_dir / "img" / "google" / "64" / record["image"]
        resolved.append(TrainingObject(entry, record["name"], record["category"], image_path))
    return resolved


def load_sprites(objects: list[TrainingObject]) -> torch.Tensor:
    """Return premultiplied RGBA sprites, shape (N, 4, 64, 64), values in [0, 1]."""
    sprites = []
    for obj in objects:
        with Image.open(obj.image_path) as image:
            rgba = image.convert("RGBA").resize((SPRITE_SIZE, SPRITE_SIZE), Image.Resampling.LANCZOS)
        array = torch.from_numpy(np.asarray(rgba, dtype=np.float32) / 255.0).permute(2, 0, 1)
        # Premultiplied alpha, so resizing does not bleed the transparent pixels' colour into the edges.
        array[:3] *= array[3:]
        sprites.append(array)
    return torch.stack(sprites)


def _rgb(colour: tuple[int, int, int]) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255.0


def _smooth_noise(gen: torch.Generator, size: int, cells: int, channels: int = 1) -> torch.Tensor:
    coarse = torch.rand(1, channels, cells, cells, generator=gen)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]


def _vertical_ramp(size: int) -> torch.Tensor:
    return torch.linspace(0.0, 1.0, size).view(1, size, 1).expand(1, size, size)


def _jitter(rng: random.Random, colour: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, channel + rng.randint(-amount, amount))) for channel in colour)
    return r, g, b


class BackgroundPainter:
    """Draws 64 px backgrounds: named solid colours, gradients and simple textured scenes."""

    def __init__(self, size: int = SPRITE_SIZE) -> None:
        self.size = size

    def solid(self, rng: random.Random, gen: torch.Generator, colour: NamedColour) -> torch.Tensor:
        base = _rgb(_jitter(rng, colour.rgb, 10)).expand(3, self.size, self.size)
        # A faint, smooth light falloff keeps "solid" looking like a photographed backdrop.
        return base * (0.96 + 0.06 * _smooth_noise(gen, self.size, 3))

    def gradient(self, rng: random.Random, top: NamedColour, bottom: NamedColour) -> torch.Tensor:
        ramp = _vertical_ramp(self.size)
        if rng.random() < 0.5:
            ramp = (ramp + ramp.transpose(1, 2)) / 2
        return _rgb(top.rgb) * (1 - ramp) + _rgb(bottom.rgb) * ramp

    def scene(self, kind: str, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        painter = getattr(self, f"_{kind}")
        return painter(rng, gen).clamp(0.0, 1.0)

    def _with_wall(self, rng: random.Random, surface: torch.Tensor) -> torch.Tensor:
        # Half the surfaces are seen from the front: a plain light wall above a horizon line.
        if rng.random() < 0.5:
            return surface
        horizon = rng.randint(self.size * 3 // 10, self.size // 2)
        wall = _rgb(_jitter(rng, (225, 222, 215), 20)).expand(3, horizon, self.size)
        shade = torch.linspace(0.92, 1.0, horizon).view(1, horizon, 1)
        return torch.cat([wall * shade, surface[:, horizon:]], dim=1)

    def _wood(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        base = _rgb(rng.choice([(190, 140, 90), (150, 100, 60), (110, 70, 40), (205, 165, 115)]))
        y = _vertical_ramp(self.size)
        warp = _smooth_noise(gen, self.size, 4) * rng.uniform(0.5, 1.5)
        grain = torch.sin(2 * math.pi * (y * rng.uniform(6, 14) + warp))
        fine = _smooth_noise(gen, self.size, 32) - 0.5
        return self._with_wall(rng, base * (0.85 + 0.1 * grain + 0.15 * fine))

    def _brick(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        height = rng.choice([6, 8, 10])
        width = height * 2
        rows = torch.arange(self.size).view(self.size, 1).expand(self.size, self.size)
        cols = torch.arange(self.size).view(1, self.size).expand(self.size, self.size)
        row_index = rows // height
        shifted = cols + (row_index % 2) * (width // 2)
        mortar = (rows % height == 0) | (shifted % width == 0)
        brick_id = row_index * 31 + shifted // width
        tone = 0.8 + 0.25 * torch.rand(int(brick_id.max()) + 1, generator=gen)[brick_id]
        brick = _rgb(_jitter(rng, (160, 65, 45), 20)) * tone
        mortar_colour = _rgb((195, 190, 180)).expand(3, self.size, self.size)
        image = torch.where(mortar.unsqueeze(0), mortar_colour, brick)
        return image * (0.93 + 0.1 * _smooth_noise(gen, self.size, 16))

    def _stone(self, rng: random.Random, gen: torch.Generator, colour: tuple[int, int, int]) -> torch.Tensor:
        base = _rgb(_jitter(rng, colour, 12))
        texture = 0.6 * _smooth_noise(gen, self.size, 6) + 0.4 * _smooth_noise(gen, self.size, 24)
        speckle = (torch.rand(1, self.size, self.size, generator=gen) - 0.5) * 0.06
        return self._with_wall(rng, base * (0.88 + 0.2 * texture) + speckle)

    def _light_stone(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        return self._stone(rng, gen, rng.choice([(205, 205, 200), (220, 212, 195), (190, 192, 195)]))

    def _dark_stone(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        return self._stone(rng, gen, rng.choice([(60, 62, 68), (45, 48, 55), (75, 72, 70)]))

    def _sunset(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        y = _vertical_ramp(self.size)
        top, middle, low = _rgb((70, 40, 120)), _rgb((240, 110, 70)), _rgb((255, 200, 100))
        sky = torch.where(
            y < 0.5, top + (middle - top) * (y / 0.5), middle + (low - middle) * ((y - 0.5) / 0.5)
        )
        horizon = rng.randint(self.size * 6 // 10, self.size * 8 // 10)
        ground = _rgb(_jitter(rng, (50, 35, 60), 10)).expand(3, self.size - horizon, self.size)
        return torch.cat([sky[:, :horizon], ground], dim=1) * (0.97 + 0.05 * _smooth_noise(gen, self.size, 4))

    def _studio(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        y = _vertical_ramp(self.size)
        x = torch.linspace(-1.0, 1.0, self.size).view(1, 1, self.size)
        brightness = rng.uniform(0.93, 0.99) - 0.1 * y.clamp(min=0.6) - 0.04 * x * x
        return brightness.expand(3, self.size, self.size).clone()

    def _sky(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        y = _vertical_ramp(self.size)
        sky = _rgb((60, 130, 225)) * (1 - y) + _rgb((170, 210, 250)) * y
        clouds = (_smooth_noise(gen, self.size, 5) - rng.uniform(0.6, 0.8)).clamp(min=0) * 4
        return sky * (1 - clouds.clamp(max=1)) + clouds.clamp(max=1)

    def _grass(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        base = _rgb(_jitter(rng, (70, 140, 55), 15))
        blades = _smooth_noise(gen, self.size, 32) * 0.6 + _smooth_noise(gen, self.size, 8) * 0.4
        return base * (0.7 + 0.5 * blades)

    def _night(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        y = _vertical_ramp(self.size)
        sky = _rgb((8, 12, 35)) * (1 - y) + _rgb((30, 35, 85)) * y
        stars = (torch.rand(1, self.size, self.size, generator=gen) > 0.985).float()
        return sky + stars * 0.8

    def _sand(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        base = _rgb(_jitter(rng, (228, 205, 155), 12))
        sand = base * (0.9 + 0.12 * _smooth_noise(gen, self.size, 12))
        if rng.random() < 0.5:
            horizon = rng.randint(self.size * 3 // 10, self.size // 2)
            sea = _rgb((60, 150, 200)).expand(3, horizon, self.size)
            return torch.cat([sea, sand[:, horizon:]], dim=1)
        return sand


_SIZES = (("small", 0.38, 0.5), ("", 0.55, 0.8), ("large", 0.85, 1.0))
_POSITIONS = {
    "on the left": (0.0, 0.5),
    "on the right": (1.0, 0.5),
    "at the top": (0.5, 0.0),
    "at the bottom": (0.5, 1.0),
    "in the top left corner": (0.0, 0.0),
    "in the top right corner": (1.0, 0.0),
    "in the bottom left corner": (0.0, 1.0),
    "in the bottom right corner": (1.0, 1.0),
}
_TEMPLATES = (
    "{obj} {bg}",
    "{obj} {bg}",
    "a photo of {obj} {bg}",
    "a product photo of {obj} {bg}",
    "an illustration of {obj} {bg}",
    "{bare} {bg}",
)


def _with_article(phrase: str, plural: bool) -> str:
    if plural:
        return phrase
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


@dataclass(frozen=True)
class Sample:
    object_index: int
    caption: str
    scale: float
    centre: tuple[float, float]  # (x, y) in [0, 1] of the canvas


def paste_sprite(
    sprite: torch.Tensor, background: torch.Tensor, scale: float, centre: tuple[float, float]
) -> torch.Tensor:
    """Paste a premultiplied RGBA sprite (4, S, S) on a copy of a square (3, H, H) background.

    ``scale`` is the sprite's side as a fraction of the canvas, ``centre`` its (x, y) in [0, 1], kept inside.
    """
    size = background.shape[-1]
    pixels = max(8, round(size * scale))
    resized = F.interpolate(sprite[None], size=(pixels, pixels), mode="bilinear", antialias=True)[0]
    left = min(max(round(centre[0] * size - pixels / 2), 0), size - pixels)
    top = min(max(round(centre[1] * size - pixels / 2), 0), size - pixels)
    canvas = background.clone()
    region = canvas[:, top : top + pixels, left : left + pixels]
    canvas[:, top : top + pixels, left : left + pixels] = resized[:3] + region * (1 - resized[3:])
    return canvas


class Compositor:
    """Makes deterministic batches of (image, caption) from the sprites and the background painter."""

    def __init__(
        self,
        objects: list[TrainingObject],
        sprites: torch.Tensor,
        seed: int,
        weights: list[float] | None = None,
    ) -> None:
        self.objects = objects
        self.sprites = sprites
        self.seed = seed
        # Relative sampling weight per object (None: uniform). The trainer boosts objects added late.
        self.weights = weights
        self.painter = BackgroundPainter()
        self.scene_kinds = sorted(SCENES)

    def _background(
        self, rng: random.Random, gen: torch.Generator, obj: TrainingObject
    ) -> tuple[torch.Tensor, str]:
        roll = rng.random()
        if roll < 0.45:
            held_out = held_out_colour(obj.entry.short_name)
            colour = rng.choice([c for c in COLOURS if c.name != held_out])
            phrase = rng.choice(
                (f"on a {colour.name} background", f"against a {colour.name} backdrop", f"on {colour.name}")
            )
            return self.painter.solid(rng, gen, colour), phrase
        if roll < 0.55:
            top, bottom = rng.sample(COLOURS, 2)
            phrase = rng.choice(
                (
                    f"on a {top.name} and {bottom.name} gradient background",
                    f"on a {top.name} to {bottom.name} gradient",
                )
            )
            return self.painter.gradient(rng, top, bottom), phrase
        kind = rng.choice(self.scene_kinds)
        return self.painter.scene(kind, rng, gen), rng.choice(SCENES[kind])

    def _sample(self, rng: random.Random) -> tuple[int, float, tuple[float, float], str, str]:
        if self.weights is None:
            index = rng.randrange(len(self.objects))
        else:
            index = rng.choices(range(len(self.objects)), weights=self.weights)[0]
        size_word, low, high = rng.choices(_SIZES, weights=(0.25, 0.5, 0.25))[0]
        scale = rng.uniform(low, high)
        centre = (0.5 + rng.uniform(-0.05, 0.05), 0.5 + rng.uniform(-0.05, 0.05))
        position = ""
        if scale <= 0.6 and rng.random() < 0.5:
            position, (anchor_x, anchor_y) = rng.choice(list(_POSITIONS.items()))
            margin = scale / 2 + 0.02

            def place(anchor: float) -> float:
                # Anchors 0 / 1 push the object to that edge; 0.5 keeps it centred on that axis.
                return 0.5 if anchor == 0.5 else (margin if anchor == 0.0 else 1.0 - margin)

            centre = (place(anchor_x), place(anchor_y))
        centre = tuple(min(max(value, scale / 2), 1 - scale / 2) for value in centre)  # type: ignore[assignment]
        return index, scale, centre, size_word if rng.random() < 0.8 else "", position

    def probabilities(self) -> list[float]:
        """The chance of each object per sample."""
        weights = self.weights or [1.0] * len(self.objects)
        total = sum(weights)
        return [weight / total for weight in weights]

    def batch(
        self, step: int, batch_size: int, caption_dropout: float = 0.0, stream: str = "unet"
    ) -> tuple[torch.Tensor, list[str]]:
        """Return images in [-1, 1], shape (B, 3, 64, 64), and their captions ("" when dropped).

        ``stream`` keeps the VAE and UNet phases on separate, reproducible sequences of batches.
        """
        rng = random.Random(f"{self.seed}-{stream}-{step}")
        gen = torch.Generator().manual_seed(rng.getrandbits(63))
        images = []
        captions = []
        for _ in range(batch_size):
            index, scale, (cx, cy), size_word, position = self._sample(rng)
            obj = self.objects[index]
            background, bg_phrase = self._background(rng, gen, obj)
            canvas = paste_sprite(self.sprites[index], background, scale, (cx, cy))
            images.append(canvas)

            name = rng.choice(obj.entry.words)
            described = f"{size_word} {name}" if size_word else name
            template = rng.choice(_TEMPLATES)
            caption = template.format(
                obj=_with_article(described, obj.entry.plural), bare=described, bg=bg_phrase
            )
            if position:
                caption = (
                    f"{caption}, {position}"
                    if rng.random() < 0.5
                    else caption.replace(bg_phrase, f"{position} {bg_phrase}", 1)
                )
            captions.append("" if rng.random() < caption_dropout else caption)
        stacked = torch.stack(images).clamp(0.0, 1.0)
        return stacked * 2.0 - 1.0, captions
