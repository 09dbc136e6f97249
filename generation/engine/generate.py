"""Text to image for any registered model, on the one path the worker, the CLI and benchmarks share."""

from dataclasses import replace

from PIL import Image

from generation.engine.pipelines import get_pipeline
from generation.engine.registry import ModelSpec
from generation.engine.runner import StepReporter, TextToImageJob, run_text_to_image
from generation.engine.upscale import active_upscaler, upscale_images


def scheduler_name(spec: ModelSpec) -> str:
    """The scheduler ``spec`` samples with (stored with each image), loading the model if needed."""
    return type(get_pipeline(spec).scheduler).__name__


def upscaler_description(spec: ModelSpec) -> str:
    """What upscaled ``spec``'s images in this process, for the file's parameters ("" when none did)."""
    return active_upscaler(spec.upscaler).description if spec.upscaler else ""


def generate_images(spec: ModelSpec, job: TextToImageJob, report_step: StepReporter) -> list[Image.Image]:
    """Run ``job`` on the process-wide pipeline for ``spec``.

    A fixed-size model renders at its native size and its upscaler brings the images to ``job``'s size, which
    must then be that model's output size; any other model renders ``job``'s size directly.
    """
    problem = spec.size_problem(job.width, job.height)
    if problem:
        raise ValueError(problem)
    pipeline = get_pipeline(spec)
    if not spec.native_size:
        return run_text_to_image(pipeline, job, report_step)
    native_job = replace(job, width=spec.native_size, height=spec.native_size)
    images = run_text_to_image(pipeline, native_job, report_step)
    if spec.upscaler:
        images = upscale_images(images, spec.upscaler)
    return images
