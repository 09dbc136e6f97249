"""Loading diffusion pipelines, once per model per worker process.

Every model, the default included, goes through the same diffusers entry points: ``from_pretrained`` on a
hub id or a local folder, ``from_single_file`` on a ``.safetensors`` checkpoint.
"""

import logging
import os
import threading
from pathlib import Path

from django.conf import settings

from generation.engine.registry import ModelSpec

logger = logging.getLogger(__name__)

_pipelines: dict[str, object] = {}
_lock = threading.Lock()


class ModelUnavailableError(RuntimeError):
    """The model's weights cannot be found or read; the message says what to do."""


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def load_pipeline(spec: ModelSpec, *, device: str = "cpu"):
    """Load a text-to-image pipeline for ``spec`` with diffusers' own loaders."""
    import torch
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    if settings.STUDIO_TORCH_THREADS:
        torch.set_num_threads(settings.STUDIO_TORCH_THREADS)
    local_path = Path(spec.source)
    is_local = local_path.exists()
    if not is_local and (spec.source.startswith(("/", ".")) or spec.is_single_file):
        raise ModelUnavailableError(
            f"Model {spec.key!r}: {spec.source} does not exist. "
            + ("Run `python manage.py build_tiny_model`." if spec.key == "tiny" else "Check STUDIO_MODELS.")
        )
    local_only = is_local or _hub_offline()
    kwargs: dict = {"local_files_only": local_only}
    if spec.revision and not is_local:
        kwargs["revision"] = spec.revision
    try:
        if spec.is_single_file:
            pipeline = StableDiffusionPipeline.from_single_file(spec.source, **kwargs)
        else:
            pipeline = DiffusionPipeline.from_pretrained(spec.source, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"Model {spec.key!r} could not be loaded from {spec.source}: {error}"
        ) from error
    pipeline.set_progress_bar_config(disable=True)
    logger.info("Loaded model %s from %s on %s", spec.key, spec.source, device)
    return pipeline.to(device)


def get_pipeline(spec: ModelSpec):
    """The process-wide pipeline for ``spec``: loaded on first use, then reused for every job."""
    cache_key = f"{spec.key}:{spec.source}:{spec.revision}"
    pipeline = _pipelines.get(cache_key)
    if pipeline is not None:
        return pipeline
    with _lock:
        # Two threads may have missed together; only the first loads.
        if cache_key not in _pipelines:
            _pipelines[cache_key] = load_pipeline(spec, device=settings.STUDIO_DEVICE)
        return _pipelines[cache_key]


def clear_pipeline_cache() -> None:
    with _lock:
        _pipelines.clear()
