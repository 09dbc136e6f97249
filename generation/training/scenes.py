"""Backdrops for the default model's training images: surfaces objects stand on, walls, skies and colours.

Every painter returns a ``Backdrop``: the (3, S, S) image in [0, 1] and the ground line (the row where
objects stand, as a fraction of the height, between ``ground_top`` and ``ground_bottom``), or no ground for
backdrops where objects float (sky, plain colours). Lighting (direction, warmth, falloff) is applied after
painting, so every backdrop is seen in every light.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generation.training.catalogue import COLOURS, NamedColour


@dataclass(frozen=True)
class BackdropKind:
    key: str
    phrases: tuple[str, ...]
    stands: bool  # objects stand on a ground line (with a contact shadow) instead of floating


BACKDROPS: dict[str, BackdropKind] = {
    kind.key: kind
    for kind in (
        BackdropKind(
            "studio",
            (
                "on a white studio backdrop",
                "in a white photo studio",
                "on a studio sweep",
                "in a photo studio",
            ),
            True,
        ),
        BackdropKind("wood", ("on a wooden desk", "on a wooden table", "on a wood surface"), True),
        BackdropKind("marble", ("on a marble countertop", "on white marble", "on a marble table"), True),
        BackdropKind("concrete", ("on concrete", "on a concrete floor", "on a grey concrete surface"), True),
        BackdropKind("fabric", ("on linen fabric", "on a fabric tablecloth", "on soft fabric"), True),
        BackdropKind("grass", ("on green grass", "on a lawn", "on grass"), True),
        BackdropKind("sand", ("on the sand", "on a sandy beach", "on sand"), True),
        BackdropKind("brick", ("against a brick wall", "in front of a red brick wall"), True),
        BackdropKind("shelf", ("on a shelf", "on a wooden shelf"), True),
        BackdropKind("sky", ("against a blue sky", "in the sky", "under a clear blue sky"), False),
        # "{top}" and "{bottom}" are colour names.
        BackdropKind(
            "gradient",
            ("on a {top} to {bottom} gradient", "on a {top} and {bottom} gradient background"),
            False,
        ),
        # "{colour}" is a colour name; a product on a seamless colour stands on it half the time.
        BackdropKind(
            "colour", ("on a {colour} background", "against a {colour} backdrop", "on {colour}"), False
        ),
    )
}
SCENE_KEYS = tuple(key for key in BACKDROPS if key not in ("gradient", "colour"))


@dataclass
class Backdrop:
    image: torch.Tensor  # (3, S, S) in [0, 1]
    phrase: str
    kind: str
    ground: tuple[float, float] | None  # where objects may stand: (top, bottom) fractions of the height
    colour: str = ""  # the named colour of a "colour" backdrop


@dataclass(frozen=True)
class Light:
    x: float  # -1: from the left, 1: from the right
    warmth: float  # -1 cool to 1 warm
    strength: float  # how much the light falls off across the scene
    words: str  # what a caption may say about it ("" for most)


def rgb(colour: tuple[int, int, int]) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255.0


def jitter(rng: random.Random, colour: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, channel + rng.randint(-amount, amount))) for channel in colour)
    return r, g, b


def smooth_noise(gen: torch.Generator, size: int, cells: int, channels: int = 1) -> torch.Tensor:
    coarse = torch.rand(1, channels, cells, cells, generator=gen)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]


def blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    """A cheap Gaussian-like blur of a (C, H, W) tensor: two box blurs."""
    if radius < 1:
        return image
    kernel = 2 * radius + 1
    out = image[None]
    for _ in range(2):
        out = F.avg_pool2d(F.pad(out, (radius,) * 4, mode="replicate"), kernel, stride=1)
    return out[0]


class BackdropPainter:
    """Paints backdrops at ``size`` px from a seeded ``random.Random`` and ``torch.Generator``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.y = torch.linspace(0.0, 1.0, size).view(1, size, 1).expand(1, size, size)
        self.x = torch.linspace(0.0, 1.0, size).view(1, 1, size).expand(1, size, size)
        self._painters: dict[str, Callable[[random.Random, torch.Generator], Backdrop]] = {
            key: getattr(self, f"_{key}") for key in SCENE_KEYS
        }

    # --- the kinds --------------------------------------------------------------------------------------
    def paint(
        self, kind: str, rng: random.Random, gen: torch.Generator, avoid: Collection[str] = ()
    ) -> Backdrop:
        """A backdrop of ``kind``; a "colour" backdrop is never one of the colour names in ``avoid``."""
        if kind == "colour":
            colour = rng.choice([c for c in COLOURS if c.name not in avoid])
            return self.colour(rng, gen, colour)
        if kind == "gradient":
            top, bottom = rng.sample(COLOURS, 2)
            return self.gradient(rng, top, bottom)
        backdrop = self._painters[kind](rng, gen)
        backdrop.image = backdrop.image.clamp(0.0, 1.0)
        return backdrop

    def colour(self, rng: random.Random, gen: torch.Generator, colour: NamedColour) -> Backdrop:
        base = rgb(jitter(rng, colour.rgb, 8)).expand(3, self.size, self.size)
        image = base * (0.96 + 0.06 * smooth_noise(gen, self.size, 3))
        phrase = rng.choice(BACKDROPS["colour"].phrases).format(colour=colour.name)
        # A seamless paper sweep: half the time the product stands on it, low in the frame.
        ground = (0.62, 0.9) if rng.random() < 0.5 else None
        return Backdrop(image, phrase, "colour", ground, colour.name)

    def gradient(self, rng: random.Random, top: NamedColour, bottom: NamedColour) -> Backdrop:
        ramp = self.y if rng.random() < 0.6 else (self.y + self.x) / 2
        image = rgb(top.rgb) * (1 - ramp) + rgb(bottom.rgb) * ramp
        phrase = rng.choice(BACKDROPS["gradient"].phrases).format(top=top.name, bottom=bottom.name)
        return Backdrop(image, phrase, "gradient", None)

    def _phrase(self, rng: random.Random, kind: str) -> str:
        return rng.choice(BACKDROPS[kind].phrases)

    def _wall(self, rng: random.Random, gen: torch.Generator, rows: int) -> torch.Tensor:
        tone = rng.choice([(232, 228, 220), (215, 218, 222), (238, 232, 215), (200, 205, 200)])
        wall = rgb(jitter(rng, tone, 10)).expand(3, rows, self.size)
        return wall * torch.linspace(0.9, 1.0, rows).view(1, rows, 1)

    def _surface_scene(
        self,
        rng: random.Random,
        gen: torch.Generator,
        kind: str,
        surface: torch.Tensor,
        top_down: float = 0.3,
    ) -> Backdrop:
        """A surface seen from the front (a wall above a horizon) or from above (the surface fills it)."""
        s = self.size
        if rng.random() < top_down:
            return Backdrop(surface, self._phrase(rng, kind), kind, (0.55, 0.92))
        horizon = rng.randint(int(s * 0.32), int(s * 0.52))
        # Farther surface is a little darker and flatter: a hint of perspective.
        depth = torch.linspace(0.85, 1.0, s - horizon).view(1, s - horizon, 1)
        floor = surface[:, horizon:] * depth
        image = torch.cat([self._wall(rng, gen, horizon), floor], dim=1)
        # A soft shadow line where the wall meets the surface.
        image[:, horizon : horizon + 3] *= 0.88
        low = horizon / s + 0.18
        return Backdrop(image, self._phrase(rng, kind), kind, (min(low, 0.8), 0.92))

    def _studio(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        # A seamless sweep: the wall curves into the floor, brighter near the light, no visible horizon.
        bend = rng.uniform(0.45, 0.65)
        base = rng.uniform(0.93, 0.99)
        shade = base - 0.12 * torch.exp(-((self.y - bend) ** 2) / 0.02) - 0.05 * (self.x - 0.5) ** 2
        tint = rgb(jitter(rng, (250, 248, 244), 6))
        return Backdrop(shade * tint, self._phrase(rng, "studio"), "studio", (bend + 0.12, 0.9))

    def _wood(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        base = rgb(
            rng.choice([(190, 140, 90), (150, 100, 60), (110, 70, 40), (205, 165, 115), (170, 120, 75)])
        )
        warp = smooth_noise(gen, s, 5) * rng.uniform(0.4, 1.2)
        grain = torch.sin(2 * math.pi * (self.y * rng.uniform(10, 22) + warp))
        fine = smooth_noise(gen, s, 48) - 0.5
        # Planks: a darker seam every few rows.
        plank = max(8, s // rng.choice([4, 5, 6]))
        rows = torch.arange(s).view(1, s, 1).expand(1, s, s)
        seams = ((rows % plank) < 1).float()
        surface = base * (0.86 + 0.08 * grain + 0.2 * fine) * (1 - 0.3 * seams)
        return self._surface_scene(rng, gen, "wood", surface)

    def _marble(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        base = rgb(rng.choice([(238, 236, 232), (228, 226, 224), (240, 232, 222), (60, 60, 66)]))
        angle = rng.uniform(0, math.pi)
        along = self.x * math.cos(angle) + self.y * math.sin(angle)
        warp = 2.5 * smooth_noise(gen, s, 4) + 0.8 * smooth_noise(gen, s, 12)
        veins = (1 - torch.abs(torch.sin(math.pi * (along * rng.uniform(0.8, 1.8) + warp)))) ** 14
        veins = blur(veins, 1) * (0.4 + 0.6 * smooth_noise(gen, s, 5))
        vein_colour = rgb((120, 120, 128)) if base.mean() > 0.5 else rgb((200, 200, 205))
        surface = base * (1 - veins * 0.7) + vein_colour * veins * 0.7
        surface = surface * (0.97 + 0.05 * smooth_noise(gen, s, 6))
        return self._surface_scene(rng, gen, "marble", surface)

    def _concrete(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        base = rgb(jitter(rng, rng.choice([(150, 150, 148), (175, 172, 165), (120, 122, 125)]), 10))
        texture = (
            0.5 * smooth_noise(gen, s, 6) + 0.3 * smooth_noise(gen, s, 20) + 0.2 * smooth_noise(gen, s, 64)
        )
        speckle = (torch.rand(1, s, s, generator=gen) - 0.5) * 0.08
        pits = (torch.rand(1, s, s, generator=gen) > 0.995).float() * -0.2
        surface = base * (0.85 + 0.25 * texture) + speckle + pits
        return self._surface_scene(rng, gen, "concrete", surface)

    def _fabric(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        colour = rng.choice(
            [(225, 212, 190), (200, 200, 205), (60, 70, 110), (225, 180, 185), (170, 190, 160)]
        )
        base = rgb(jitter(rng, colour, 12))
        period = rng.uniform(4.0, 6.0)
        weave = torch.sin(2 * math.pi * self.x * s / period) * torch.sin(2 * math.pi * self.y * s / period)
        fold_angle = rng.uniform(-0.6, 0.6)
        folds = torch.sin(
            2
            * math.pi
            * (self.x * math.cos(fold_angle) + self.y * math.sin(fold_angle))
            * rng.uniform(1.5, 3)
            + 3 * smooth_noise(gen, s, 3)
        )
        surface = base * (0.9 + 0.025 * weave + 0.08 * folds)
        return self._surface_scene(rng, gen, "fabric", surface, top_down=0.5)

    def _grass(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        base = rgb(jitter(rng, (70, 140, 55), 15))
        blades = (
            smooth_noise(gen, s, 64) * 0.5 + smooth_noise(gen, s, 16) * 0.3 + smooth_noise(gen, s, 4) * 0.2
        )
        grass = base * (0.65 + 0.6 * blades)
        if rng.random() < 0.5:
            horizon = rng.randint(int(s * 0.3), int(s * 0.5))
            sky = self._sky_image(rng, gen)[:, :horizon]
            return Backdrop(
                torch.cat([sky, grass[:, horizon:]], dim=1),
                self._phrase(rng, "grass"),
                "grass",
                (horizon / s + 0.2, 0.92),
            )
        return Backdrop(grass, self._phrase(rng, "grass"), "grass", (0.55, 0.92))

    def _sand(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        base = rgb(jitter(rng, (228, 205, 155), 12))
        ripples = torch.sin(2 * math.pi * (self.y * rng.uniform(8, 14) + 0.6 * smooth_noise(gen, s, 4)))
        sand = base * (0.9 + 0.1 * smooth_noise(gen, s, 16) + 0.03 * ripples)
        sand = sand + (torch.rand(1, s, s, generator=gen) - 0.5) * 0.05
        if rng.random() < 0.6:
            horizon = rng.randint(int(s * 0.28), int(s * 0.45))
            sea_line = horizon + rng.randint(4, 10)
            sky = self._sky_image(rng, gen)[:, :horizon]
            sea = rgb(jitter(rng, (50, 140, 190), 15)).expand(3, sea_line - horizon, s)
            image = torch.cat([sky, sea, sand[:, sea_line:]], dim=1)
            return Backdrop(image, self._phrase(rng, "sand"), "sand", (sea_line / s + 0.2, 0.92))
        return Backdrop(sand, self._phrase(rng, "sand"), "sand", (0.55, 0.92))

    def _brick(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        height = rng.choice([8, 10, 12, 14])
        width = height * 2
        rows = torch.arange(s).view(s, 1).expand(s, s)
        cols = torch.arange(s).view(1, s).expand(s, s)
        row_index = rows // height
        shifted = cols + (row_index % 2) * (width // 2)
        mortar = (rows % height < 2) | (shifted % width < 2)
        brick_id = row_index * 31 + shifted // width
        tone = 0.78 + 0.28 * torch.rand(int(brick_id.max()) + 1, generator=gen)[brick_id]
        brick = rgb(jitter(rng, rng.choice([(160, 65, 45), (140, 55, 40), (175, 90, 60)]), 15)) * tone
        mortar_colour = rgb((195, 190, 180)).expand(3, s, s)
        wall = torch.where(mortar.unsqueeze(0), mortar_colour, brick)
        wall = wall * (0.9 + 0.15 * smooth_noise(gen, s, 24))
        # Objects stand on a floor in front of the wall.
        floor_top = rng.randint(int(s * 0.68), int(s * 0.8))
        floor_colour = rgb(rng.choice([(120, 90, 60), (150, 150, 148), (90, 70, 50)]))
        floor = floor_colour * (0.85 + 0.2 * smooth_noise(gen, s, 16))[:, floor_top:]
        image = torch.cat([wall[:, :floor_top], floor.expand(3, s - floor_top, s)], dim=1)
        image[:, floor_top : floor_top + 2] *= 0.7
        return Backdrop(image, self._phrase(rng, "brick"), "brick", (floor_top / s + 0.06, 0.94))

    def _shelf(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        s = self.size
        top = rng.randint(int(s * 0.6), int(s * 0.72))
        thickness = rng.randint(int(s * 0.06), int(s * 0.09))
        wall = self._wall(rng, gen, s)
        wood = rgb(rng.choice([(190, 140, 90), (150, 100, 60), (230, 225, 215), (60, 60, 60)]))
        board_top = top + rng.randint(5, 9)
        surface = wood * (0.92 + 0.1 * smooth_noise(gen, s, 24))
        image = wall.clone()
        image[:, top:board_top] = surface[:, top:board_top] * 0.95
        image[:, board_top : board_top + thickness] = surface[:, board_top : board_top + thickness] * 0.75
        # The shelf's shadow on the wall below it.
        below = board_top + thickness
        image[:, below:] = image[:, below:] * torch.linspace(0.6, 0.85, s - below).view(1, s - below, 1)
        return Backdrop(image, self._phrase(rng, "shelf"), "shelf", ((top + 2) / s, (top + 3) / s))

    def _sky_image(self, rng: random.Random, gen: torch.Generator) -> torch.Tensor:
        sky = rgb(jitter(rng, (60, 130, 225), 15)) * (1 - self.y) + rgb((175, 212, 250)) * self.y
        clouds = ((smooth_noise(gen, self.size, 5) - rng.uniform(0.55, 0.8)).clamp(min=0) * 4).clamp(max=1)
        return sky * (1 - clouds) + clouds

    def _sky(self, rng: random.Random, gen: torch.Generator) -> Backdrop:
        return Backdrop(self._sky_image(rng, gen), self._phrase(rng, "sky"), "sky", None)


# --- lighting and shadows ----------------------------------------------------------------------------------
_LIGHT_WORDS = {-1: "lit from the left", 1: "lit from the right"}


def pick_light(rng: random.Random) -> Light:
    x = rng.uniform(-1.0, 1.0)
    warmth = rng.uniform(-0.6, 0.6)
    words = ""
    roll = rng.random()
    if roll < 0.12 and abs(x) > 0.6:
        words = _LIGHT_WORDS[1 if x > 0 else -1]
        x = math.copysign(max(abs(x), 0.8), x)
    elif roll < 0.2:
        warmth = math.copysign(rng.uniform(0.7, 1.0), rng.random() - 0.5)
        words = "in warm light" if warmth > 0 else "in cool light"
    return Light(x=x, warmth=warmth, strength=rng.uniform(0.05, 0.22), words=words)


def apply_light(image: torch.Tensor, light: Light, painter: BackdropPainter) -> torch.Tensor:
    """Light the whole scene: brighter towards the light, darker at the far corners, warm or cool."""
    across = (painter.x - 0.5) * 2 * light.x  # 1 on the lit side
    falloff = 1 + light.strength * (0.5 * across - ((painter.x - 0.5) ** 2 + (painter.y - 0.45) ** 2))
    tint = torch.tensor([1 + 0.06 * light.warmth, 1.0, 1 - 0.06 * light.warmth]).view(3, 1, 1)
    return (image * falloff * tint).clamp(0.0, 1.0)


def cast_shadow(
    canvas: torch.Tensor, alpha: torch.Tensor, left: int, top: int, light: Light, ground: bool
) -> torch.Tensor:
    """Darken ``canvas`` under an object whose alpha (1, P, P) sits at (left, top); returns a new canvas.

    Objects on the ground get a dark contact shadow at their base and a soft cast shadow away from the
    light; floating objects get only a faint drop shadow.
    """
    size = canvas.shape[-1]
    pixels = alpha.shape[-1]
    shadow = torch.zeros(1, size, size)
    rows = alpha[0].amax(dim=1).nonzero()
    if len(rows) == 0:
        return canvas
    bottom = top + int(rows[-1])
    cols = alpha[0].amax(dim=0).nonzero()
    first, last = left + int(cols[0]), left + int(cols[-1])
    if ground:
        # Contact shadow: a flat ellipse under the object's base.
        centre_x = (first + last) / 2 - light.x * 0.06 * pixels
        half_width = max(2.0, (last - first) * 0.45)
        half_height = max(1.5, half_width * 0.16)
        ys = torch.arange(size).view(size, 1).float()
        xs = torch.arange(size).view(1, size).float()
        ellipse = ((xs - centre_x) / half_width) ** 2 + ((ys - bottom) / half_height) ** 2
        shadow[0] += (1 - ellipse).clamp(min=0) ** 1.5 * 0.55
        # Cast shadow: the silhouette squashed onto the ground and sheared away from the light.
        squash = max(2, pixels // 4)
        flat = F.interpolate(alpha[None], size=(squash, pixels), mode="bilinear", antialias=True)[0]
        shift = round(-light.x * pixels * 0.35)
        y0 = bottom - squash + 2
        x0 = left + shift
        shadow_layer = torch.zeros(1, size, size)
        ys0, ys1 = max(y0, 0), min(y0 + squash, size)
        xs0, xs1 = max(x0, 0), min(x0 + pixels, size)
        if ys1 > ys0 and xs1 > xs0:
            shadow_layer[:, ys0:ys1, xs0:xs1] = flat[:, ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
        shadow += 0.3 * shadow_layer
    else:
        # A faint drop shadow, offset away from the light.
        dx = round(-light.x * pixels * 0.05)
        dy = max(1, pixels // 20)
        y0, x0 = top + dy, left + dx
        ys0, ys1 = max(y0, 0), min(y0 + pixels, size)
        xs0, xs1 = max(x0, 0), min(x0 + pixels, size)
        if ys1 > ys0 and xs1 > xs0:
            shadow[:, ys0:ys1, xs0:xs1] = 0.22 * alpha[:, ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    shadow = blur(shadow, max(1, pixels // 24)).clamp(0.0, 0.8)
    return canvas * (1 - shadow)
