"""Running a text-to-image job on a loaded pipeline, with progress and cancellation."""

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image


class GenerationCanceledError(Exception):
    """Raised from the step callback when the user asked to stop."""


@dataclass(frozen=True)
class TextToImageJob:
    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_images: int
    seed: int
    steps: int
    guidance: float

    def image_seeds(self) -> list[int]:
        # One seed per image, stored with it, so any single image can be reproduced on its own.
        return [self.seed + index for index in range(self.num_images)]


# Called after every denoising step with (steps done, total); returning False cancels the job.
StepReporter = Callable[[int, int], bool]


def run_text_to_image(pipeline, job: TextToImageJob, report_step: StepReporter) -> list[Image.Image]:
    import torch

    generators = [torch.Generator("cpu").manual_seed(seed) for seed in job.image_seeds()]

    def on_step_end(_pipeline, step_index: int, _timestep, callback_kwargs: dict) -> dict:
        if not report_step(step_index + 1, job.steps):
            raise GenerationCanceledError
        return callback_kwargs

    with torch.inference_mode():
        result = pipeline(
            prompt=[job.prompt] * job.num_images,
            negative_prompt=[job.negative_prompt] * job.num_images if job.negative_prompt else None,
            width=job.width,
            height=job.height,
            num_inference_steps=job.steps,
            guidance_scale=job.guidance,
            generator=generators,
            callback_on_step_end=on_step_end,
            output_type="pil",
        )
    return list(result.images)
