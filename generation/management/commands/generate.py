"""Generate images from the shell, on the same path as the worker, without the web app or database rows.

Examples::

    python manage.py generate --prompt "a coffee mug on a wooden desk" --count 4 --out var/out
    python manage.py generate --prompt "a red car" --model sdxl --size 1024x1024 --seed 7 --out var/out

Each PNG carries the same embedded parameters (and AI-disclosure mark) as the images the worker stores. The
written paths go to stdout, one per line; progress goes to stderr.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.text import slugify

from generation.engine.generate import generate_images, scheduler_name, upscaler_description
from generation.engine.pipelines import ModelUnavailableError
from generation.engine.registry import ModelSpec, UnknownModelError, get_model
from generation.engine.runner import TextToImageJob
from generation.engine.safety import check_images
from generation.imagefile import encode_png
from generation.moderation import describe_flags
from generation.presets import STYLES, compose_prompt
from generation.services import MAX_SEED, PromptBlockedError, image_file_parameters, prompt_flags

MAX_COUNT = 16
# Images per pipeline call, as many as the generate form allows: bounds memory on big models.
BATCH_SIZE = 4
MAX_STEPS = 100
MAX_GUIDANCE = 30.0


class Command(BaseCommand):
    help = "Generate images from a prompt into a folder, as PNGs with their parameters embedded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--prompt", required=True, help="what to draw")
        parser.add_argument("--negative-prompt", default="", help="what to keep out of the image")
        parser.add_argument("--count", type=int, default=1, help=f"images to make (1-{MAX_COUNT})")
        parser.add_argument(
            "--seed", type=int, default=None, help="seed of the first image (the next ones get +1, +2, ...)"
        )
        parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
        parser.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the model's)")
        parser.add_argument(
            "--model", default=None, help="registry key (default: STUDIO_DEFAULT_MODEL, 'default')"
        )
        parser.add_argument(
            "--style",
            default="none",
            help=f"one of: {', '.join(STYLES)} (a model that lists its styles draws only those)",
        )
        parser.add_argument(
            "--size",
            default=None,
            help="WIDTHxHEIGHT (default: a fixed-size model's one size, else 512x512 or the largest below)",
        )
        parser.add_argument(
            "--out", type=Path, required=True, help="folder for the PNGs (created if missing)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        spec = _model(options["model"] or settings.STUDIO_DEFAULT_MODEL)
        prompt = options["prompt"].strip()
        if not prompt:
            raise CommandError("--prompt is empty.")
        try:
            flags = prompt_flags(prompt=prompt, negative_prompt=options["negative_prompt"])
        except PromptBlockedError as error:
            raise CommandError(str(error)) from None
        if options["style"] not in STYLES:
            raise CommandError(f"Unknown --style {options['style']!r}; choose one of: {', '.join(STYLES)}.")
        style_problem = spec.style_problem(options["style"])
        if style_problem:
            offered = ", ".join(style.key for style in spec.style_choices())
            raise CommandError(f"--style {options['style']}: {style_problem} Their keys: {offered}.")
        count = _in_range("--count", options["count"], 1, MAX_COUNT)
        steps = _in_range("--steps", _or(options["steps"], spec.default_steps), 1, MAX_STEPS)
        guidance = _in_range("--guidance", _or(options["guidance"], spec.default_guidance), 0.0, MAX_GUIDANCE)
        seed = options["seed"]
        if seed is None:
            seed = secrets.randbelow(MAX_SEED - MAX_COUNT)
        _in_range("--seed", seed, 0, MAX_SEED - count + 1)
        width, height = _size(spec, options["size"])
        out = _writable_folder(Path(options["out"]))

        full_prompt, full_negative = compose_prompt(prompt, options["negative_prompt"], options["style"])
        self.stderr.write(f"Loading {spec.label} from {spec.source} ...")
        try:
            scheduler = scheduler_name(spec)
        except ModelUnavailableError as error:
            raise CommandError(str(error)) from error
        upscaler = upscaler_description(spec)
        if upscaler:
            native = spec.native_size
            self.stderr.write(f"Rendering {native} x {native}, upscaled to {width} x {height} by {upscaler}.")

        written: list[Path] = []
        for first in range(0, count, BATCH_SIZE):
            job = TextToImageJob(
                prompt=full_prompt,
                negative_prompt=full_negative,
                width=width,
                height=height,
                num_images=min(BATCH_SIZE, count - first),
                seed=seed + first,
                steps=steps,
                guidance=guidance,
            )
            label = f"images {first + 1}-{first + job.num_images} of {count}"
            images = generate_images(spec, job, progress_reporter(self, label))
            safety = check_images(spec, images)
            for image, image_seed, safety_flag in zip(images, job.image_seeds(), safety, strict=True):
                parameters = image_file_parameters(
                    prompt=full_prompt,
                    negative_prompt=full_negative,
                    user_prompt=prompt,
                    style=options["style"],
                    model_key=spec.key,
                    scheduler=scheduler,
                    steps=steps,
                    guidance=guidance,
                    seed=image_seed,
                    image=image,
                    upscaler=upscaler,
                )
                image_flags = [*flags, *([safety_flag] if safety_flag else [])]
                if image_flags:
                    # As the worker marks its assets: the file says why it needs a reviewer's look.
                    parameters["moderation"] = image_flags
                    self.stderr.write(
                        f"Flagged for review (seed {image_seed}): {describe_flags(image_flags)}"
                    )
                path = _write_new(
                    out, f"{slugify(prompt)[:48] or 'image'}-{image_seed}", encode_png(image, parameters).data
                )
                written.append(path)
                self.stdout.write(str(path))
        self.stderr.write(f"Wrote {len(written)} image(s) to {out}.")


def _model(key: str) -> ModelSpec:
    try:
        return get_model(key)
    except UnknownModelError:
        known = ", ".join(settings.STUDIO_MODELS)
        raise CommandError(f"Unknown --model {key!r}; registered models: {known}.") from None


def _or(value, default):
    return default if value is None else value


def _in_range(name: str, value, low, high):
    if not low <= value <= high:
        raise CommandError(f"{name} must be between {low} and {high}, not {value}.")
    return value


def _size(spec: ModelSpec, text: str | None) -> tuple[int, int]:
    if text is None:
        return spec.default_size()
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 512x512, not {text!r}.") from None
    problem = spec.size_problem(width, height)
    if problem:
        raise CommandError(f"--size: {problem}")
    return width, height


def _writable_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"--out {folder} is a file, not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"Cannot create --out folder {folder}: {error.strerror or error}.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"--out {folder} is not a folder this user can write to.")
    return folder


def _write_new(folder: Path, stem: str, data: bytes) -> Path:
    """Write ``data`` under a name no file has yet: an earlier run's images are never overwritten."""
    for attempt in range(1000):
        path = folder / (f"{stem}.png" if attempt == 0 else f"{stem}-{attempt}.png")
        try:
            with open(path, "xb") as file:
                file.write(data)
        except FileExistsError:
            continue
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror or error}.") from None
        return path
    raise CommandError(f"Too many files named {stem}*.png in {folder}.")


def progress_reporter(command: BaseCommand, label: str):
    """A StepReporter that writes progress to the command's stderr: one updating line on a terminal, a
    few lines in a log (`generate` and `refine` alike)."""
    interactive = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def report(step: int, total: int) -> bool:
        if interactive:
            command.stderr.write(f"{label}: step {step}/{total}", ending="\n" if step == total else "\r")
        elif step == total or step % max(1, total // 4) == 0:
            # A log gets a few lines, not one per step.
            command.stderr.write(f"{label}: step {step}/{total}")
        return True

    return report
