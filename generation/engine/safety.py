"""The output safety check: diffusers' StableDiffusionSafetyChecker, loaded once per process per model.

A registry entry names one with ``"safety_checker"``: a hub id (``CompVis/stable-diffusion-safety-checker``)
or a local folder, either the checker's own folder (``config.json`` + weights, and a
``preprocessor_config.json``) or a Stable Diffusion pipeline folder with ``safety_checker/`` and
``feature_extractor/`` subfolders, as real checkpoints ship them. Unlike the pipeline's built-in use, the
images are not blacked out: Studio stores them, blurs them in lists and sends them to review as flagged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image

from generation.engine.pipelines import ModelUnavailableError, hub_offline
from generation.engine.registry import ModelSpec

logger = logging.getLogger(__name__)

_checkers: dict[str, SafetyChecker] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class SafetyVerdict:
    flagged: bool
    reason: str = ""

    def as_flag(self, checker: str) -> dict:
        return {"source": "safety checker", "checker": checker, "category": "Unsafe", "matched": self.reason}


class SafetyChecker:
    def __init__(self, source: str, *, device: str = "cpu") -> None:
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessor

        folder = Path(source)
        model_path, processor_path, kwargs = source, source, {}
        if folder.is_dir() and (folder / "safety_checker").is_dir():
            model_path, processor_path = str(folder / "safety_checker"), str(folder / "feature_extractor")
        if folder.exists() or hub_offline():
            kwargs["local_files_only"] = True
        try:
            self.model = StableDiffusionSafetyChecker.from_pretrained(model_path, **kwargs).to(device).eval()
            self.processor = CLIPImageProcessor.from_pretrained(processor_path, **kwargs)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(
                f"The safety checker {source} could not be loaded: {error}"
            ) from error
        self.source = source
        self.device = device
        self._lock = threading.Lock()

    def check(self, images: list[Image.Image]) -> list[SafetyVerdict]:
        import numpy as np
        import torch

        rgb = [image.convert("RGB") for image in images]
        clip_input = self.processor(images=rgb, return_tensors="pt").pixel_values.to(self.device)
        arrays = [np.asarray(image, dtype=np.float32) / 255.0 for image in rgb]
        with self._lock, torch.inference_mode():
            _, has_concepts = self.model(clip_input=clip_input, images=arrays)
        return [
            SafetyVerdict(True, "the safety checker found a sensitive concept")
            if flagged
            else SafetyVerdict(False)
            for flagged in has_concepts
        ]


def get_safety_checker(spec: ModelSpec) -> SafetyChecker | None:
    """The process-wide checker the registry names for ``spec``, or None when it names none."""
    source = str(spec.extra.get("safety_checker") or "")
    if not source:
        return None
    checker = _checkers.get(source)
    if checker is not None:
        return checker
    with _lock:
        if source not in _checkers:
            _checkers[source] = SafetyChecker(source, device=settings.STUDIO_DEVICE)
            logger.info("Loaded safety checker %s for model %s", source, spec.key)
        return _checkers[source]


def check_images(spec: ModelSpec, images: list[Image.Image]) -> list[dict | None]:
    """One flag (or None) per image, from the checker the registry names for ``spec``."""
    checker = get_safety_checker(spec)
    if checker is None:
        return [None] * len(images)
    return [verdict.as_flag(checker.source) if verdict.flagged else None for verdict in checker.check(images)]


def clear_safety_checker_cache() -> None:
    with _lock:
        _checkers.clear()


def build_tiny_safety_checker(directory: Path, *, threshold: float, seed: int = 0) -> None:
    """A tiny checker with random weights (real classes) for tests: it flags an image when a concept's cosine
    similarity exceeds ``threshold``; -2 flags everything, 2 nothing, values between depend on the image."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds.copy_(torch.randn_like(checker.concept_embeds))
        checker.special_care_embeds.copy_(torch.randn_like(checker.special_care_embeds))
        checker.concept_embeds_weights.fill_(threshold)
        checker.special_care_embeds_weights.fill_(threshold)
    directory = Path(directory)
    checker.save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        directory
    )
