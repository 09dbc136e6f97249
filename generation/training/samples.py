"""Render a labelled grid of samples from an exported model, to look at training progress.

python -m generation.training.samples --model models/default --out var/training/samples.png

Prompts are composed the way the Generate page composes them (generation.presets.compose_prompt), so a
style's look words reach the model exactly as a user's would.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from PIL import Image, ImageDraw, ImageFont

from delivery.overlays import DEFAULT_FONT, FONTS
from generation.engine.upscale import upscale_images
from generation.presets import STYLES, compose_prompt

# The font Studio ships for text overlays (delivery/fonts), so a grid looks the same on any machine.
LABEL_FONT = FONTS[DEFAULT_FONT].file(bold=False)

# (prompt, style key): every look, two-object scenes, surfaces, placement and size words, people at work.
DEFAULT_PROMPTS: tuple[tuple[str, str], ...] = (
    ("a coffee mug on a wooden desk", "none"),
    ("a coffee mug and a croissant on a wooden table", "none"),
    ("a running shoe on a concrete floor", "3d-render"),
    ("a laptop on a marble countertop", "none"),
    ("a champagne bottle on a shelf", "none"),
    ("headphones on a studio sweep", "3d-render"),
    ("a small owl on the left on green grass", "none"),
    ("a chef in a white photo studio", "none"),
    ("a teddy bear and a gift box on a wooden shelf", "none"),
    ("a close-up of a camera on linen fabric", "none"),
    ("a red apple on a blue background", "flat-illustration"),
    ("a sunflower against a blue sky", "flat-illustration"),
    ("a hammer and a wrench on concrete", "flat-illustration"),
    ("a slice of pizza against a brick wall", "emoji"),
    ("a bicycle on the sand", "emoji"),
    ("a cupcake on a pink to yellow gradient", "emoji"),
)


def render_grid(
    model_dir: Path,
    out: Path,
    prompts: tuple[tuple[str, str], ...] = DEFAULT_PROMPTS,
    seed: int = 0,
    steps: int = 25,
    guidance_scale: float = 5.0,
    columns: int = 4,
    tile: int = 128,
    upscaler: str = "",
) -> Path:
    """Render one image per (prompt, style) at the model's native size (its VAE's sample size).

    With ``upscaler`` (a key of generation.engine.upscale.UPSCALE_FACTORS) each tile is the upscaled image
    users get; without, a plain resize of the native image.
    """
    pipeline = StableDiffusionPipeline.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    native = int(pipeline.vae.config.sample_size)
    rows = (len(prompts) + columns - 1) // columns
    # Labels sized to the tile, so a 512 px grid is as readable as a 128 px one.
    font = ImageFont.truetype(str(LABEL_FONT), size=max(10, tile // 24))
    line_height = round(font.size * 1.25)
    label_height = 2 * line_height + 6
    grid = Image.new("RGB", (columns * tile, rows * (tile + label_height)), "white")
    draw = ImageDraw.Draw(grid)
    for index, (prompt, style) in enumerate(prompts):
        text, negative = compose_prompt(prompt, "", style)
        image = pipeline(
            text,
            negative_prompt=negative or None,
            height=native,
            width=native,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=torch.Generator("cpu").manual_seed(seed + index),
        ).images[0]
        if upscaler:
            (image,) = upscale_images([image], upscaler)
        x, y = (index % columns) * tile, (index // columns) * (tile + label_height)
        grid.paste(image.resize((tile, tile), Image.Resampling.LANCZOS), (x, y))
        label = prompt if style == "none" else f"{prompt} [{STYLES[style].label}]"
        for line_number, line in enumerate(_two_lines(label, font, tile - 8)):
            draw.text((x + 4, y + tile + 3 + line_height * line_number), line, fill="black", font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out, quality=85)  # the quality applies to JPEG and WebP outputs
    return out


def _two_lines(label: str, font: ImageFont.FreeTypeFont, width: float) -> tuple[str, str]:
    """The label over two lines: as many words on the first as fit in ``width``, the rest on the second."""
    words = label.split()
    cut = len(words)
    while cut > 1 and font.getlength(" ".join(words[:cut])) > width:
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--out", type=Path, default=Path("var/training/samples.png"))
    parser.add_argument("--prompts", type=Path, default=None, help="JSON list of [prompt, style key] pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance-scale", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=128, help="tile size in the grid, px")
    parser.add_argument("--upscale", default="", help="upscaler key, e.g. realesrgan-x4 (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts = (
        tuple((prompt, style) for prompt, style in json.loads(args.prompts.read_text()))
        if args.prompts
        else DEFAULT_PROMPTS
    )
    path = render_grid(
        args.model,
        args.out,
        prompts,
        args.seed,
        args.steps,
        args.guidance_scale,
        tile=args.tile,
        upscaler=args.upscale,
    )
    print(path)


if __name__ == "__main__":
    main()
