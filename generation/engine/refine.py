"""Refine operations on a loaded model: the one path the worker, `manage.py refine` and the benchmark share.

Diffusion work happens on the region around the mask at the model's working size (its native size, for a
model trained at one size), then is upscaled (the model's upscaler, when it has one) and pasted back at full
resolution with a feathered edge, so pixels away from the change are the original's, bit for bit. The
image-to-image and inpainting pipelines come from ``get_task_pipeline`` and share the text-to-image
pipeline's components.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from generation import operations as ops
from generation.engine import masks
from generation.engine.generate import generate_images
from generation.engine.pipelines import get_task_pipeline
from generation.engine.registry import ModelSpec
from generation.engine.runner import GenerationCanceledError, StepReporter, TextToImageJob
from generation.engine.upscale import get_upscaler, upscale_images

# How far each operation may move from the original unless the user says otherwise. Remove and outpaint
# start from a classical fill of the new area, and lighter passes draw fewer stray objects into it: on the
# refine benchmark's 8 sources, outpaint 16:9 at 0.85 left 0.4% of the new pixels over Delta E 20 from
# the background, at 0.6 none; remove at 0.5 left 2.7% of the hole, at 0.35 1.7%.
DEFAULT_STRENGTH = {
    ops.IMG2IMG: 0.6,
    ops.INPAINT: 1.0,
    ops.REMOVE: 0.35,
    ops.REPLACE_BACKGROUND: 1.0,
    ops.OUTPAINT: 0.6,
    ops.VARIATIONS: 0.35,
}
# How far remove grows the painted mask, as a share of the image's shorter side.
REMOVE_GROW = 0.03
# The side a model without a native size works at: Stable Diffusion's own, unless its max_side is lower.
WORK_SIDE = 512
# Upscaler keys for the user's x2 / x4.
UPSCALERS = {2: "realesrgan-x2", 4: "realesrgan-x4"}


class RefineError(ValueError):
    """The operation cannot run on this input; the message says why, fit to show a user."""


@dataclass(frozen=True)
class RefineJob:
    operation: str
    prompt: str = ""
    negative_prompt: str = ""
    num_images: int = 1
    seed: int = 0
    steps: int = 25
    guidance: float = 7.5
    strength: float | None = None  # None: the operation's default
    aspect: str = ""  # outpaint: a target W:H ...
    pad: tuple[int, int, int, int] | None = None  # ... or pixels to add (left, top, right, bottom)
    anchor: str = "center"
    color: str = ""  # recolour
    scale: int = 2  # upscale
    mode: str = "img2img"  # variations: "img2img" or "seeds"

    def image_seeds(self) -> list[int]:
        return [self.seed + index for index in range(self.num_images)]

    @property
    def effective_strength(self) -> float:
        return self.strength if self.strength is not None else DEFAULT_STRENGTH.get(self.operation, 1.0)

    def options(self) -> dict:
        """The operation's own options, as stored with a request (JSON) and embedded in its images."""
        options: dict = {}
        if ops.OPERATIONS[self.operation].uses_model:
            options["strength"] = self.effective_strength
        if self.operation == ops.OUTPAINT:
            options.update(aspect=self.aspect, pad=list(self.pad) if self.pad else None, anchor=self.anchor)
        elif self.operation == ops.RECOLOR:
            options["color"] = self.color
        elif self.operation == ops.UPSCALE:
            options["scale"] = self.scale
        elif self.operation == ops.VARIATIONS:
            options["mode"] = self.mode
        return options

    @classmethod
    def from_options(cls, *, operation: str, options: dict, **common) -> RefineJob:
        """The job back from ``options()``'s stored form and the request's common fields."""
        return cls(
            operation=operation,
            strength=options.get("strength"),
            aspect=options.get("aspect") or "",
            pad=tuple(options["pad"]) if options.get("pad") else None,
            anchor=options.get("anchor") or "center",
            color=options.get("color") or "",
            scale=int(options.get("scale") or 2),
            mode=options.get("mode") or "img2img",
            **common,
        )


def output_size(job: RefineJob, source_size: tuple[int, int]) -> tuple[int, int]:
    """The size the results will have; raises RefineError for options that make no sense on this image."""
    width, height = source_size
    if job.operation == ops.OUTPAINT:
        return _outpaint_layout(job, source_size)[0]
    if job.operation == ops.UPSCALE:
        if job.scale not in ops.UPSCALE_SCALES:
            raise RefineError("Upscale by 2 or 4.")
        return width * job.scale, height * job.scale
    return width, height


def _outpaint_layout(job: RefineJob, source_size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The outpainted canvas's size and where the original sits on it; RefineError for bad options."""
    try:
        aspect = masks.parse_aspect(job.aspect) if job.aspect else None
        return masks.outpaint_canvas(source_size, aspect=aspect, pad=job.pad, anchor=job.anchor)
    except ValueError as error:
        raise RefineError(str(error)) from None


class _Progress:
    """Adds up the steps of several diffusion runs (one per region) into one progress bar."""

    def __init__(self, report: StepReporter, total: int) -> None:
        self.report = report
        self.total = max(1, total)
        self.done = 0

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        if not self.report(self.done, self.total):
            raise GenerationCanceledError

    def callback(self):
        def on_step_end(_pipeline, _step_index, _timestep, callback_kwargs: dict) -> dict:
            self.advance()
            return callback_kwargs

        return on_step_end


def _steps_for(job: RefineJob, strength: float) -> tuple[int, int]:
    """(num_inference_steps to ask for, steps that will run): diffusers runs int(steps * strength)."""
    steps = max(job.steps, math.ceil(1 / strength)) if strength > 0 else job.steps
    return steps, max(1, min(int(steps * strength), steps))


def flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid on white (as a page would show it), upright already."""
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def plan_total_steps(
    job: RefineJob, spec: ModelSpec | None, source: Image.Image, mask: Image.Image | None
) -> int:
    """The progress bar's length before anything runs (so the page can show "step 3 of 40")."""
    operation = job.operation
    if operation in (ops.RECOLOR, ops.UPSCALE, ops.RESTORE) or spec is None:
        return 2
    if operation == ops.VARIATIONS and job.mode == "seeds":
        return job.steps
    _, per_run = _steps_for(job, job.effective_strength)
    if operation in (ops.IMG2IMG, ops.VARIATIONS, ops.REPLACE_BACKGROUND):
        return per_run
    if operation == ops.OUTPAINT:
        size, offset = _outpaint_layout(job, source.size)
        new_area = masks.new_area_mask(size, offset, source.size)
        return per_run * max(1, len(masks.work_regions(new_area, square=bool(spec.native_size))))
    regions = masks.work_regions(mask, square=bool(spec.native_size)) if mask is not None else []
    return per_run * max(1, len(regions))


def run_refine(
    spec: ModelSpec | None,
    job: RefineJob,
    source: Image.Image,
    mask: Image.Image | None,
    report_step: StepReporter,
) -> list[Image.Image]:
    """Run ``job`` on ``source`` (and ``mask``, of the source's size). Returns ``job.num_images`` images.

    ``spec`` is the diffusion model; operations that need none (recolour, upscale, restore) take None.
    Raises RefineError for input the operation cannot use, GenerationCanceledError when ``report_step``
    says stop.
    """
    operation = ops.OPERATIONS[job.operation]
    if operation.uses_model:
        if spec is None:
            raise RefineError(f"{operation.label} needs a diffusion model.")
        if operation.task not in spec.tasks:
            raise RefineError(
                f"{spec.name} is not set up for {operation.label.lower()} "
                f"(its tasks: {', '.join(spec.tasks)})."
            )
    source = flatten(source)
    if operation.mask == ops.MASK_REQUIRED and (mask is None or masks.mask_is_empty(mask)):
        raise RefineError(f"{operation.label} needs a mask: paint over the area to change.")
    if mask is not None and mask.size != source.size:
        raise RefineError("The mask must have the image's size.")
    progress = _Progress(report_step, plan_total_steps(job, spec, source, mask))
    runner: Callable[..., list[Image.Image]] = _RUNNERS[job.operation]
    return runner(spec, job, source, mask, progress)


# --- Diffusion on a region -----------------------------------------------------------------------------


def _work_size(spec: ModelSpec, width: int, height: int) -> tuple[int, int]:
    if spec.native_size:
        return spec.native_size, spec.native_size
    target = min(spec.max_side, max(WORK_SIDE, min(max(width, height), spec.max_side)))
    scale = target / max(width, height)

    def snap(value: float) -> int:
        return max(64, round(value / 64) * 64)

    return snap(width * scale), snap(height * scale)


def _diffuse(
    spec: ModelSpec,
    job: RefineJob,
    task: str,
    images: list[Image.Image],
    mask: Image.Image | None,
    strength: float,
    seeds: list[int],
    progress: _Progress,
) -> list[Image.Image]:
    """One pipeline call on same-size ``images`` (one per result); returns them at the input size.

    The model works at its working size; a model with an upscaler has it bring the result back up first.
    """
    import torch

    width, height = images[0].size
    work_w, work_h = _work_size(spec, width, height)
    small = [image.resize((work_w, work_h), Image.Resampling.LANCZOS) for image in images]
    pipeline = get_task_pipeline(spec, task)
    steps, _ = _steps_for(job, strength)
    kwargs: dict = {
        "prompt": [job.prompt] * len(images),
        "negative_prompt": [job.negative_prompt] * len(images) if job.negative_prompt else None,
        "image": small,
        "strength": strength,
        "num_inference_steps": steps,
        "guidance_scale": job.guidance,
        "generator": [torch.Generator("cpu").manual_seed(seed) for seed in seeds],
        "callback_on_step_end": progress.callback(),
        "output_type": "pil",
    }
    if task == ops.TASK_INPAINT:
        assert mask is not None, "inpainting is given a mask"
        # Grow the mask a little in the model's space so its coarse latent mask covers the painted edge.
        grow = max(1, round(max(work_w, work_h) / 64))
        small_mask = mask.resize((work_w, work_h), Image.Resampling.BILINEAR).filter(
            ImageFilter.MaxFilter(2 * grow + 1)
        )
        kwargs.update(mask_image=[small_mask] * len(images), width=work_w, height=work_h)
    with torch.inference_mode():
        result = pipeline(**kwargs).images
    if spec.upscaler:
        result = upscale_images(result, spec.upscaler)
    return [image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS) for image in result]


def _inpaint_regions(
    spec: ModelSpec,
    job: RefineJob,
    start: Image.Image,
    mask: Image.Image,
    progress: _Progress,
    *,
    strength: float,
    keep_outside_exactly: bool = False,
    keep_colours: bool = False,
) -> list[Image.Image]:
    """Redraw each masked region of ``start`` and paste it back feathered; one result per seed.

    ``keep_colours``: the model adds texture but the region keeps ``start``'s colours (its low
    frequencies), for passes over a classical fill. A small model's VAE shifts flat colours by several
    levels on the way through (the default model's turns blue (16, 79, 198) into (16, 65, 206)), which
    would otherwise show as a patch of another shade.
    """
    results = [start.copy() for _ in range(job.num_images)]
    boxes = masks.work_regions(mask, square=bool(spec.native_size))
    for region_index, box in enumerate(boxes):
        crop_mask = mask.crop(box.as_tuple())
        crops = [result.crop(box.as_tuple()) for result in results]
        # A different seed per region, so two regions of one image do not get the same noise.
        seeds = [seed + 7919 * region_index for seed in job.image_seeds()]
        drawn = _diffuse(spec, job, ops.TASK_INPAINT, crops, crop_mask, strength, seeds, progress)
        if keep_colours:
            drawn = [masks.match_colours(new, crop) for new, crop in zip(drawn, crops, strict=True)]
        side = max(box.width, box.height)
        if keep_outside_exactly:
            alpha = masks.feathered(crop_mask, grow=0, soften=max(2, side // 24))
            alpha[np.asarray(crop_mask) == 0] = 0.0
        else:
            alpha = masks.feathered(crop_mask, grow=max(1, side // 96), soften=max(2, side // 32))
        for index, (crop, new) in enumerate(zip(crops, drawn, strict=True)):
            results[index].paste(masks.composite(crop, new, alpha), box.as_tuple()[:2])
    return results


# --- The operations ------------------------------------------------------------------------------------


def _img2img(spec, job, source, _mask, progress) -> list[Image.Image]:
    images = [source] * job.num_images
    return _diffuse(
        spec, job, ops.TASK_IMG2IMG, images, None, job.effective_strength, job.image_seeds(), progress
    )


def _variations(spec, job, source, mask, progress) -> list[Image.Image]:
    if job.mode == "seeds":
        text_job = TextToImageJob(
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            width=source.width,
            height=source.height,
            num_images=job.num_images,
            seed=job.seed,
            steps=job.steps,
            guidance=job.guidance,
        )
        problem = spec.size_problem(source.width, source.height)
        if problem:
            raise RefineError(f"New seeds need the original's size: {problem}")

        def report(_step: int, _total: int) -> bool:
            progress.advance()  # raises when the user canceled
            return True

        return generate_images(spec, text_job, report)
    return _img2img(spec, job, source, mask, progress)


def _inpaint(spec, job, source, mask, progress) -> list[Image.Image]:
    return _inpaint_regions(spec, job, source, mask, progress, strength=job.effective_strength)


def _remove(spec, job, source, mask, progress) -> list[Image.Image]:
    # Painted masks hug the object; its outline, shadow and glow lie just outside. Grow the hole past them,
    # continue the surroundings into it, and let the model only add their texture.
    grow = max(3, round(min(source.size) * REMOVE_GROW))
    hole = masks.grown(mask, grow)
    filled = masks.classical_fill(source, hole)
    return _inpaint_regions(
        spec, job, filled, hole, progress, strength=job.effective_strength, keep_colours=True
    )


def _replace_background(spec, job, source, mask, progress) -> list[Image.Image]:
    """The subject's own pixels over a new background plate drawn from the prompt.

    The plate is drawn whole (not inpainted around the subject: the kept subject's latents pull the new
    background towards the old colour), whatever the model drew where a subject would stand is filled from
    the plate's surroundings, and the original subject goes back on top with a soft edge.
    """
    subject = masks.find_subject(source, background_hint=mask)
    if masks.mask_is_empty(subject):
        raise RefineError(
            "Studio could not find a subject in this image: paint over the background to replace instead."
        )
    if masks.mask_is_empty(ImageOps.invert(subject)):
        raise RefineError("The subject fills the whole image: there is no background to replace.")
    everything = Image.new("L", source.size, 255)
    plates = _diffuse(
        spec,
        job,
        ops.TASK_INPAINT,
        [source] * job.num_images,
        everything,
        job.effective_strength,
        job.image_seeds(),
        progress,
    )
    grow = max(2, max(source.size) // 64)
    # Shrunk a little: the subject's outermost pixels still carry the old background's colour.
    alpha = masks.feathered(subject, grow=-max(1, max(source.size) // 200), soften=3)
    results = []
    for plate in plates:
        drawn_subject = masks.find_subject(plate)
        hole = masks.grown(masks.union(subject, drawn_subject), grow)
        clean = masks.classical_fill(plate, hole)
        results.append(masks.composite(clean, source, alpha))
    return results


def _outpaint(spec, job, source, _mask, progress) -> list[Image.Image]:
    size, offset = _outpaint_layout(job, source.size)
    start, new_area = masks.place_on_canvas(source, size, offset)
    results = _inpaint_regions(
        spec,
        job,
        start,
        new_area,
        progress,
        strength=job.effective_strength,
        keep_outside_exactly=True,
        keep_colours=True,
    )
    for result in results:  # the original's pixels, exactly
        result.paste(source, offset)
    return results


def _recolor(_spec, job, source, mask, progress) -> list[Image.Image]:
    try:
        colour = masks.parse_colour(job.color)
    except ValueError as error:
        raise RefineError(str(error)) from None
    region = mask if mask is not None and not masks.mask_is_empty(mask) else masks.find_subject(source)
    if masks.mask_is_empty(region):
        raise RefineError("Studio could not find a subject to recolour: paint over the area instead.")
    progress.advance()
    result = masks.recolour(source, region, colour)
    progress.advance()
    return [result]


def _upscale(_spec, job, source, _mask, progress) -> list[Image.Image]:
    progress.advance()
    upscaler = get_upscaler(UPSCALERS[job.scale])
    result = upscaler.upscale(source)
    if result.size != (source.width * job.scale, source.height * job.scale):
        result = result.resize(
            (source.width * job.scale, source.height * job.scale), Image.Resampling.LANCZOS
        )
    progress.advance()
    return [back_project(result, source)]


def back_project(enlarged: Image.Image, source: Image.Image) -> Image.Image:
    """Keep the enlargement's detail but the source's colours: one step of iterative back-projection.

    Real-ESRGAN shifts large flat areas by a few levels (a green backdrop comes back lighter); the
    difference between the source and the enlargement scaled back down is that shift, so it is scaled up
    and added back. Scaled down again, the result then matches the source.
    """
    import cv2

    big = np.asarray(enlarged.convert("RGB"), dtype=np.float32)
    reduced = np.asarray(enlarged.convert("RGB").resize(source.size, Image.Resampling.BOX), dtype=np.float32)
    error = np.asarray(source.convert("RGB"), dtype=np.float32) - reduced
    correction = cv2.resize(error, enlarged.size, interpolation=cv2.INTER_LINEAR)
    return Image.fromarray(np.clip(np.rint(big + correction), 0, 255).astype(np.uint8), "RGB")


def _restore(_spec, _job, source, _mask, progress) -> list[Image.Image]:
    progress.advance()
    result = restore_image(source)
    progress.advance()
    return [result]


def restore_image(image: Image.Image) -> Image.Image:
    """Denoise and sharpen at the image's own size: Real-ESRGAN x2 (trained on degraded images), back down.

    The network removes noise, JPEG blocks and blur as it enlarges; a Lanczos reduction to the original size
    keeps its cleaner edges and averages away what is left of the noise.
    """
    rgb = image.convert("RGB")
    enlarged = get_upscaler(UPSCALERS[2]).upscale(rgb)
    return enlarged.resize(rgb.size, Image.Resampling.LANCZOS)


_RUNNERS = {
    ops.IMG2IMG: _img2img,
    ops.VARIATIONS: _variations,
    ops.INPAINT: _inpaint,
    ops.REMOVE: _remove,
    ops.REPLACE_BACKGROUND: _replace_background,
    ops.OUTPAINT: _outpaint,
    ops.RECOLOR: _recolor,
    ops.UPSCALE: _upscale,
    ops.RESTORE: _restore,
}
