"""Render a labelled grid of samples from an exported model, to look at training progress.

python -m generation.training.samples --model models/default --out var/training/samples.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from PIL import Image, ImageDraw

from generation.engine.upscale import upscale_images

DEFAULT_PROMPTS = (
    "a product photo of a coffee mug on a wooden desk",
    "a red apple on a blue background",
    "a banana on a purple background",
    "a slice of pizza against a brick wall",
    "a sneaker on a light stone surface",
    "a laptop in a white studio",
    "a backpack on a yellow background",
    "a bicycle at sunset",
    "a sunflower against a blue sky",
    "a dolphin on a navy background",
    "a small penguin on the left on a pink background",
    "a cocktail on a teal background",
    "a soccer ball on green grass",
    "a birthday cake on a beige background",
    "a camera on a dark slate surface",
    "a large owl on a white background",
)


def render_grid(
    model_dir: Path,
    out: Path,
    prompts: tuple[str, ...] = DEFAULT_PROMPTS,
    seed: int = 0,
    steps: int = 25,
    guidance_scale: float = 5.0,
    columns: int = 4,
    tile: int = 128,
    upscaler: str = "",
) -> Path:
    """Render one image per prompt at the model's 64 px.

    With ``upscaler`` (a key of generation.engine.upscale.UPSCALE_FACTORS) each tile is the upscaled image
    users get; without, a plain resize of the 64 px image.
    """
    pipeline = StableDiffusionPipeline.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    rows = (len(prompts) + columns - 1) // columns
    label_height = 28
    grid = Image.new("RGB", (columns * tile, rows * (tile + label_height)), "white")
    draw = ImageDraw.Draw(grid)
    for index, prompt in enumerate(prompts):
        image = pipeline(
            prompt,
            height=64,
            width=64,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=torch.Generator("cpu").manual_seed(seed + index),
        ).images[0]
        if upscaler:
            (image,) = upscale_images([image], upscaler)
        x, y = (index % columns) * tile, (index // columns) * (tile + label_height)
        grid.paste(image.resize((tile, tile), Image.Resampling.LANCZOS), (x, y))
        words = prompt.split()
        middle = len(words) // 2
        for line_number, line in enumerate((" ".join(words[:middle]), " ".join(words[middle:]))):
            draw.text((x + 2, y + tile + 1 + 13 * line_number), line, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out, quality=88)  # the quality applies to JPEG and WebP outputs
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--out", type=Path, default=Path("var/training/samples.png"))
    parser.add_argument("--prompts", type=Path, default=None, help="JSON list of prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance-scale", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=128, help="tile size in the grid, px")
    parser.add_argument("--upscale", default="", help="upscaler key, e.g. realesrgan-x4 (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts = tuple(json.loads(args.prompts.read_text())) if args.prompts else DEFAULT_PROMPTS
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
