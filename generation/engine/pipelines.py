"""Loading diffusion pipelines, once per model per worker process.

Every model, the default included, goes through the same diffusers entry points: ``from_pretrained`` on a
hub id or a local diffusers folder, ``from_single_file`` on a ``.safetensors`` / ``.ckpt`` checkpoint.

Registry options read from a model's ``extra`` keys (see README, "Models"):

- ``config``: for a single checkpoint, the diffusers folder or hub id whose component configs, tokenizer and
  scheduler go with it (``from_single_file(..., config=...)``). Required while ``HF_HUB_OFFLINE`` is set.
- ``original_config``: for a single checkpoint, a local original (LDM) YAML config describing the UNet/VAE.
- ``pipeline``: for a single checkpoint, the diffusers pipeline class, from ``SINGLE_FILE_PIPELINES``; by
  default Stable Diffusion XL when the checkpoint has SDXL's keys, plain Stable Diffusion otherwise.
- ``dtype``: ``float32`` (default), ``float16`` or ``bfloat16``, the weights' dtype (half precision: GPUs).
"""

import json
import logging
import threading
from pathlib import Path

from django.conf import settings

from generation.engine.registry import ModelSpec
from studio.env import env_bool

logger = logging.getLogger(__name__)

_pipelines: dict[str, object] = {}
_lock = threading.Lock()

# The pipeline classes a single checkpoint may be loaded as: a registry value is looked up here, never passed
# to getattr on diffusers unchecked.
SINGLE_FILE_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline")
DTYPES = ("float32", "float16", "bfloat16")
# Keys only SDXL's original checkpoints have (its two text encoders live under "conditioner.embedders.").
_SDXL_KEY_PREFIX = "conditioner.embedders."


class ModelUnavailableError(RuntimeError):
    """The model's weights cannot be found or read; the message says what to do."""


def hub_offline() -> bool:
    """huggingface_hub's own offline switch, read at each load rather than once into settings."""
    return env_bool("HF_HUB_OFFLINE", False)


def _looks_local(value: str) -> bool:
    return value.startswith(("/", ".")) or Path(value).exists()


def _check_source(spec: ModelSpec) -> bool:
    """Fail early, and clearly, on a local source that cannot load; return whether the source is local."""
    path = Path(spec.source)
    if not path.exists():
        if spec.source.startswith(("/", ".")) or spec.is_single_file:
            hint = (
                "Run `python manage.py build_tiny_model`."
                if spec.key == "tiny"
                else 'Check its "source" in STUDIO_MODELS.'
            )
            raise ModelUnavailableError(f"Model {spec.key!r}: {spec.source} does not exist. {hint}")
        return False
    if spec.is_single_file:
        if not path.is_file():
            raise ModelUnavailableError(f"Model {spec.key!r}: {spec.source} is not a file.")
        return True
    if path.is_file():
        raise ModelUnavailableError(
            f"Model {spec.key!r}: {spec.source} is a file; a single checkpoint must end in .safetensors or "
            ".ckpt, anything else must be a diffusers folder."
        )
    if not (path / "model_index.json").is_file():
        raise ModelUnavailableError(
            f"Model {spec.key!r}: {spec.source} is not a diffusers pipeline folder (it has no "
            'model_index.json). Point "source" at a folder saved with `pipeline.save_pretrained(...)` (or a '
            "hub snapshot), or at a single .safetensors checkpoint."
        )
    return True


def _dtype(spec: ModelSpec):
    import torch

    name = str(spec.extra.get("dtype") or "float32")
    if name not in DTYPES:
        raise ModelUnavailableError(
            f'Model {spec.key!r}: "dtype" must be one of {", ".join(DTYPES)}, not {name!r}.'
        )
    return getattr(torch, name)


def _single_file_pipeline_class(spec: ModelSpec):
    import diffusers

    name = spec.extra.get("pipeline")
    if name is None:
        name = "StableDiffusionPipeline"
        if spec.source.endswith(".safetensors"):
            from safetensors import SafetensorError, safe_open

            try:
                with safe_open(spec.source, framework="pt") as checkpoint:  # reads the header only
                    names = checkpoint.keys()
                    if any(key.startswith(_SDXL_KEY_PREFIX) for key in names):
                        name = "StableDiffusionXLPipeline"
            except (OSError, SafetensorError) as error:
                raise ModelUnavailableError(
                    f"Model {spec.key!r}: {spec.source} is not a readable .safetensors file: {error}"
                ) from error
    if name not in SINGLE_FILE_PIPELINES:
        raise ModelUnavailableError(
            f'Model {spec.key!r}: "pipeline" must be one of {", ".join(SINGLE_FILE_PIPELINES)}, not {name!r}.'
        )
    return getattr(diffusers, name)


def _single_file_kwargs(spec: ModelSpec) -> dict:
    """``config`` / ``original_config`` / ``local_files_only`` for ``from_single_file``."""
    config = str(spec.extra.get("config") or "")
    original_config = str(spec.extra.get("original_config") or "")
    kwargs: dict = {"local_files_only": hub_offline()}
    if config:
        if _looks_local(config):
            config_path = Path(config)
            if not (config_path / "model_index.json").is_file():
                raise ModelUnavailableError(
                    f'Model {spec.key!r}: its "config" {config} is not a diffusers pipeline folder '
                    "(no model_index.json)."
                )
            config = str(config_path)
            kwargs["local_files_only"] = True
        kwargs["config"] = config
    elif hub_offline():
        raise ModelUnavailableError(
            f"Model {spec.key!r}: HF_HUB_OFFLINE is set, so diffusers cannot fetch the component configs and "
            f'tokenizer that go with the single checkpoint {spec.source}. Add "config" to its STUDIO_MODELS '
            "entry: a local diffusers folder of the same architecture, or a hub id already in the Hugging "
            'Face cache (e.g. "stable-diffusion-v1-5/stable-diffusion-v1-5"); or unset HF_HUB_OFFLINE to let '
            "diffusers fetch the configs of the architecture it infers from the checkpoint."
        )
    if original_config:
        original_path = Path(original_config)
        if not original_path.is_file():
            raise ModelUnavailableError(
                f'Model {spec.key!r}: its "original_config" {original_config} is not a file.'
            )
        kwargs["original_config"] = str(original_path)
    return kwargs


def load_pipeline(spec: ModelSpec, *, device: str = "cpu"):
    """Load a text-to-image pipeline for ``spec`` with diffusers' own loaders."""
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.loaders.single_file_utils import SingleFileComponentError
    from safetensors import SafetensorError

    if settings.STUDIO_TORCH_THREADS:
        torch.set_num_threads(settings.STUDIO_TORCH_THREADS)
    is_local = _check_source(spec)
    kwargs: dict = {"dtype": _dtype(spec)}
    if spec.is_single_file:
        loader = _single_file_pipeline_class(spec).from_single_file
        kwargs.update(_single_file_kwargs(spec))
        uses_hub = "config" in kwargs and not _looks_local(kwargs["config"])
    else:
        loader = DiffusionPipeline.from_pretrained
        kwargs["local_files_only"] = is_local or hub_offline()
        if spec.revision and not is_local:
            kwargs["revision"] = spec.revision
        uses_hub = not is_local
    try:
        pipeline = loader(spec.source, **kwargs)
    except (OSError, ValueError, KeyError, SafetensorError, SingleFileComponentError) as error:
        hint = ""
        if uses_hub and hub_offline():
            hint = (
                " HF_HUB_OFFLINE is set, so it must already be in the Hugging Face cache (HF_HOME): "
                "download it once with HF_HUB_OFFLINE unset."
            )
        raise ModelUnavailableError(
            f"Model {spec.key!r} could not be loaded from {spec.source}: {error}{hint}"
        ) from error
    pipeline.set_progress_bar_config(disable=True)
    logger.info("Loaded model %s from %s on %s", spec.key, spec.source, device)
    return pipeline.to(device)


def _cache_key(spec: ModelSpec) -> str:
    return f"{spec.key}:{spec.source}:{spec.revision}:{json.dumps(spec.extra, sort_keys=True, default=str)}"


def pipeline_is_loaded(spec: ModelSpec) -> bool:
    """Whether this process holds ``spec``'s pipeline already (``get_pipeline`` returns at once)."""
    return _cache_key(spec) in _pipelines


def get_pipeline(spec: ModelSpec):
    """The process-wide pipeline for ``spec``: loaded on first use, then reused for every job."""
    cache_key = _cache_key(spec)
    pipeline = _pipelines.get(cache_key)
    if pipeline is not None:
        return pipeline
    with _lock:
        # Two threads may have missed together; only the first loads.
        if cache_key not in _pipelines:
            _pipelines[cache_key] = load_pipeline(spec, device=settings.STUDIO_DEVICE)
        return _pipelines[cache_key]


def get_task_pipeline(spec: ModelSpec, task: str):
    """The pipeline for ``task`` (text2img, img2img, inpaint) on ``spec``'s one loaded set of components.

    Image-to-image and inpainting pipelines are made with diffusers' ``from_pipe``, which shares the UNet,
    VAE and text encoders of the cached text-to-image pipeline: a worker never holds a second copy.
    """
    from generation.operations import TASK_IMG2IMG, TASK_INPAINT, TASK_TEXT2IMG

    base = get_pipeline(spec)
    if task == TASK_TEXT2IMG:
        return base
    if task not in (TASK_IMG2IMG, TASK_INPAINT):
        raise ValueError(f"Unknown task {task!r}.")
    cache_key = f"{_cache_key(spec)}#{task}"
    pipeline = _pipelines.get(cache_key)
    if pipeline is not None:
        return pipeline
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

    with _lock:
        if cache_key not in _pipelines:
            factory = AutoPipelineForImage2Image if task == TASK_IMG2IMG else AutoPipelineForInpainting
            derived = factory.from_pipe(base)
            derived.set_progress_bar_config(disable=True)
            _pipelines[cache_key] = derived
        return _pipelines[cache_key]


def clear_pipeline_cache() -> None:
    with _lock:
        _pipelines.clear()
