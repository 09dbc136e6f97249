"""Refine an image from the shell, on the same path as the worker, without the web app or database rows.

Examples::

    python manage.py refine remove --image in.png --mask mask.png --out var/out
    python manage.py refine replace-background --image apple.png --prompt "on a yellow sand" --out var/out
    python manage.py refine outpaint --image in.png --aspect 16:9 --anchor west --out var/out
    python manage.py refine upscale --image in.png --scale 4 --out var/out

The checks are the web form's (``generation.services.refine_plan``); each PNG carries the same embedded
parameters as the worker's, plus the operation and the source's SHA-256. Paths go to stdout, progress to
stderr, and bad arguments get one line and a non-zero exit.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from PIL import Image, ImageOps, UnidentifiedImageError

from generation import operations as ops
from generation.engine.generate import scheduler_name, upscaler_description
from generation.engine.pipelines import ModelUnavailableError
from generation.engine.refine import RefineError, run_refine
from generation.engine.registry import default_model
from generation.engine.safety import check_images
from generation.imagefile import encode_png
from generation.management.commands.generate import _writable_folder, _write_new, progress_reporter
from generation.moderation import describe_flags
from generation.services import (
    RefineParameters,
    RefineRequestError,
    SourceOrigin,
    image_file_parameters,
    refine_plan,
)

MAX_INPUT_BYTES = 64 * 1024 * 1024


class Command(BaseCommand):
    help = "Refine an image (inpaint, remove, replace the background, outpaint, ...) into a folder of PNGs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "operation",
            choices=sorted(ops.BY_CLI_NAME),
            metavar="OPERATION",
            help=f"one of: {', '.join(ops.BY_CLI_NAME)}",
        )
        parser.add_argument("--image", type=Path, required=True, help="the source image (JPEG, PNG or WebP)")
        parser.add_argument(
            "--out", type=Path, required=True, help="folder for the PNGs (created if missing)"
        )
        parser.add_argument(
            "--mask", type=Path, help="a PNG, white = change, black = keep (scaled to the image)"
        )
        parser.add_argument("--prompt", default="", help="what should be there")
        parser.add_argument("--negative-prompt", default="", help="what to keep out")
        parser.add_argument(
            "--strength", type=float, help="0.05-1: how far the result may move from the image"
        )
        parser.add_argument(
            "--aspect", default="", help="outpaint: the target aspect ratio, W:H (16:9, 4:5, ...)"
        )
        parser.add_argument("--pad", default="", help="outpaint: pixels to add, LEFT,TOP,RIGHT,BOTTOM")
        parser.add_argument(
            "--anchor", default="center", help=f"outpaint: where the original sits ({'|'.join(ops.ANCHORS)})"
        )
        parser.add_argument("--color", default="", help="recolor: a colour name or #RRGGBB")
        parser.add_argument("--scale", type=int, default=2, help="upscale: 2 or 4")
        parser.add_argument("--mode", default="img2img", help="variations: img2img (light pass) or seeds")
        parser.add_argument("--count", type=int, default=1, help="images to make (1-4)")
        parser.add_argument(
            "--seed", type=int, help="seed of the first image (the next ones get +1, +2, ...)"
        )
        parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
        parser.add_argument("--guidance", type=float, help="CFG scale (default: the model's)")
        parser.add_argument("--model", default="", help="registry key (default: STUDIO_DEFAULT_MODEL)")

    def handle(self, *args: Any, **options: Any) -> None:
        operation = ops.BY_CLI_NAME[options["operation"]]
        data = _read(options["image"], "--image")
        image = _open_image(data, options["image"])
        mask_png = _read(options["mask"], "--mask") if options["mask"] else None
        if options["steps"] is not None and not 1 <= options["steps"] <= 100:
            raise CommandError(f"--steps must be between 1 and 100, not {options['steps']}.")
        if options["guidance"] is not None and not 0 <= options["guidance"] <= 30:
            raise CommandError(f"--guidance must be between 0 and 30, not {options['guidance']}.")
        parameters = RefineParameters(
            operation=operation.key,
            prompt=options["prompt"],
            negative_prompt=options["negative_prompt"],
            model_key=options["model"],
            num_images=options["count"],
            seed=options["seed"],
            steps=options["steps"],
            guidance=options["guidance"],
            strength=options["strength"],
            aspect=options["aspect"],
            pad=_pad(options["pad"]),
            anchor=options["anchor"],
            color=options["color"],
            scale=options["scale"],
            mode=options["mode"],
            mask_png=mask_png,
        )
        try:
            plan = refine_plan(image=image, parameters=parameters, origin=_origin(image))
        except RefineRequestError as error:
            raise CommandError(str(error)) from None
        out = _writable_folder(Path(options["out"]))

        spec = plan.spec
        scheduler = upscaler = ""
        if spec is not None:
            self.stderr.write(f"Loading {spec.label} from {spec.source} ...")
            try:
                scheduler = scheduler_name(spec)
            except ModelUnavailableError as error:
                raise CommandError(str(error)) from error
            upscaler = upscaler_description(spec)
        try:
            images = run_refine(spec, plan.job, image, plan.mask, progress_reporter(self, operation.label))
        except (RefineError, ModelUnavailableError) as error:
            raise CommandError(str(error)) from None
        checker_spec = spec if spec is not None else default_model()
        safety = check_images(checker_spec, images)
        source_hash = hashlib.sha256(data).hexdigest()
        stem = f"{options['image'].stem[:40]}-{operation.cli_name}"
        for result, seed, safety_flag in zip(images, plan.job.image_seeds(), safety, strict=False):
            embedded = image_file_parameters(
                prompt=plan.job.prompt,
                negative_prompt=plan.job.negative_prompt,
                user_prompt=plan.job.prompt,
                style="",
                model_key=spec.key if spec else "",
                scheduler=scheduler,
                steps=plan.job.steps,
                guidance=plan.job.guidance,
                seed=seed,
                image=result,
                upscaler=upscaler,
                operation=operation.key,
                source_hash=source_hash,
                options=plan.options,
            )
            image_flags = [*plan.flags, *([safety_flag] if safety_flag else [])]
            if image_flags:
                embedded["moderation"] = image_flags
                self.stderr.write(f"Flagged for review: {describe_flags(image_flags)}")
            path = _write_new(out, f"{stem}-{seed}" if spec else stem, encode_png(result, embedded).data)
            self.stdout.write(str(path))
        self.stderr.write(f"Wrote {len(images)} image(s) to {out}.")


def _read(path: Path, option: str) -> bytes:
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise CommandError(f"{option} {path} is over {MAX_INPUT_BYTES // (1024 * 1024)} MB.")
        return path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{option} {path}: no such file.") from None
    except IsADirectoryError:
        raise CommandError(f"{option} {path} is a folder, not a file.") from None
    except OSError as error:
        raise CommandError(f"{option} {path}: {error.strerror or error}.") from None


def _open_image(data: bytes, path: Path) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in {"JPEG", "PNG", "WEBP"}:
                raise CommandError(f"--image {path} is {image.format}; use a JPEG, PNG or WebP image.")
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.info["studio"] = image.info.get("studio", "")
            return upright
    except CommandError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CommandError(f"--image {path} is not a readable image: {error}") from None


def _origin(image: Image.Image) -> SourceOrigin | None:
    """A PNG Studio generated carries its parameters: variations and outpainting reuse its prompt."""
    try:
        embedded = json.loads(image.info.get("studio") or "{}")
    except ValueError:
        return None
    if not isinstance(embedded, dict) or not embedded.get("prompt"):
        return None
    return SourceOrigin(
        prompt=str(embedded["prompt"]),
        negative_prompt=str(embedded.get("negative_prompt") or ""),
        from_text="operation" not in embedded,
    )


def _pad(text: str) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or min(values) < 0 or max(values) > 4096:
        raise CommandError(f"--pad must be LEFT,TOP,RIGHT,BOTTOM pixels (0-4096 each), not {text!r}.")
    return values
