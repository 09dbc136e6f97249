"""Real checkpoints by configuration alone: a local diffusers folder and a single original-layout
.safetensors, registered through STUDIO_MODELS and loaded by generation.engine.pipelines, from tiny
checkpoints these tests save themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.exceptions import ImproperlyConfigured
from safetensors import safe_open
from safetensors.torch import save_file

from generation.engine.pipelines import (
    ModelUnavailableError,
    _single_file_pipeline_class,
    clear_pipeline_cache,
    get_pipeline,
    hub_offline,
    load_pipeline,
)
from generation.engine.registry import get_model
from generation.engine.tiny import build_tiny_pipeline
from tests.generation.ldm_checkpoint import write_ldm_checkpoint

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

PROMPT = "a red apple on a blue background"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("folder") / "tiny"
    build_tiny_pipeline(directory, seed=0)
    return directory


@pytest.fixture(scope="module")
def single_file(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ldm_checkpoint(tiny_dir, tmp_path_factory.mktemp("single") / "tiny-sd.safetensors")


@pytest.fixture(scope="module")
def config_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline's configs, tokenizer and scheduler, without a single weight: all "config" needs."""
    target = tmp_path_factory.mktemp("config") / "tiny-config"
    shutil.copytree(tiny_dir, target, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return target


@pytest.fixture
def register(settings):
    """Add one STUDIO_MODELS entry (as STUDIO_MODELS_JSON would) and return its ModelSpec."""

    def add(key: str, **entry):
        settings.STUDIO_MODELS = {**settings.STUDIO_MODELS, key: {"label": key, **entry}}
        return get_model(key)

    return add


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing here may reach the hub; the loader must say so instead of trying.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clear_pipeline_cache()
    yield
    clear_pipeline_cache()


def _generate(pipeline, *, seed: int, width: int = 64, height: int = 64) -> np.ndarray:
    image = pipeline(
        PROMPT,
        width=width,
        height=height,
        num_inference_steps=2,
        generator=torch.Generator("cpu").manual_seed(seed),
    ).images[0]
    return np.asarray(image)


def _assert_same_weights(first: torch.nn.Module, second: torch.nn.Module) -> None:
    left, right = first.state_dict(), second.state_dict()
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


# --- A local diffusers folder -----------------------------------------------------------------------------


def test_local_folder_loads_by_configuration_and_generates_the_asked_size(register, tiny_dir: Path) -> None:
    spec = register("mine", source=str(tiny_dir), default_steps=2, max_side=512)

    pipeline = load_pipeline(spec)

    assert type(pipeline).__name__ == "StableDiffusionPipeline"
    assert _generate(pipeline, seed=3, width=64, height=32).shape == (32, 64, 3)
    assert get_pipeline(spec) is get_pipeline(get_model("mine"))  # loaded once per process


def test_missing_folder_is_a_clear_error(register, tmp_path: Path) -> None:
    spec = register("gone", source=str(tmp_path / "no-such-model"))

    with pytest.raises(ModelUnavailableError, match=r"'gone'.*no-such-model does not exist.*STUDIO_MODELS"):
        load_pipeline(spec)


def test_folder_that_is_not_a_pipeline_is_a_clear_error(register, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a model")
    spec = register("photos", source=str(folder))

    with pytest.raises(ModelUnavailableError, match=r"not a diffusers pipeline folder.*model_index\.json"):
        load_pipeline(spec)


def test_file_that_is_not_a_checkpoint_is_a_clear_error(register, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * 16)
    spec = register("bin", source=str(path))

    with pytest.raises(ModelUnavailableError, match=r"\.safetensors or \.ckpt"):
        load_pipeline(spec)


def test_hub_id_missing_from_the_offline_cache_says_how_to_fetch_it(register) -> None:
    spec = register("hub", source="studio-tests/no-such-model")

    with pytest.raises(ModelUnavailableError, match=r"HF_HUB_OFFLINE is set.*unset"):
        load_pipeline(spec)


def test_the_dtype_option_loads_bfloat16_weights_and_refuses_unknown_types(register, tiny_dir: Path) -> None:
    pipeline = load_pipeline(register("half", source=str(tiny_dir), dtype="bfloat16"))

    assert pipeline.unet.dtype == torch.bfloat16
    assert load_pipeline(register("full", source=str(tiny_dir))).unet.dtype == torch.float32
    with pytest.raises(ModelUnavailableError, match='"dtype" must be one of'):
        load_pipeline(register("odd", source=str(tiny_dir), dtype="int8"))


# --- A single .safetensors in the original Stable Diffusion layout ------------------------------------


def test_single_file_is_in_the_original_layout(single_file: Path) -> None:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    with safe_open(str(single_file), framework="pt") as checkpoint:
        keys = list(checkpoint.keys())
        tensors = {key: checkpoint.get_tensor(key) for key in keys}

    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.")
    assert all(key.startswith(prefixes) for key in keys)
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in keys), prefix
    assert "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight" in keys
    assert "model.diffusion_model.middle_block.2.out_layers.3.weight" in keys
    assert "first_stage_model.decoder.up.0.upsample.conv.weight" not in keys  # up.0: lowest resolution, last
    assert "first_stage_model.decoder.up.3.upsample.conv.weight" in keys
    assert "first_stage_model.decoder.up.0.block.1.conv2.weight" in keys
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in keys
    assert "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" in keys
    assert tensors["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4  # 1x1 conv, as in the original
    assert infer_diffusers_model_type(tensors) == "v1"


def test_single_file_round_trips_to_the_folder_pipeline(
    register, tiny_dir: Path, single_file: Path, config_dir: Path
) -> None:
    folder = load_pipeline(register("folder", source=str(tiny_dir)))
    spec = register("one-file", source=str(single_file), config=str(config_dir), default_steps=2)

    pipeline = load_pipeline(spec)

    assert type(pipeline).__name__ == "StableDiffusionPipeline"
    # Every weight comes from the one file (the config folder has none) and equals the folder's.
    for name in ("unet", "vae", "text_encoder"):
        _assert_same_weights(getattr(pipeline, name), getattr(folder, name))
    assert pipeline.vae.config.scaling_factor == folder.vae.config.scaling_factor
    assert type(pipeline.scheduler) is type(folder.scheduler)
    assert dict(pipeline.scheduler.config) == dict(folder.scheduler.config)
    # ...so the same seed makes the same picture.
    image = _generate(pipeline, seed=11, width=64, height=32)
    assert image.shape == (32, 64, 3)
    np.testing.assert_array_equal(image, _generate(folder, seed=11, width=64, height=32))
    assert not np.array_equal(image, _generate(pipeline, seed=12, width=64, height=32))


def test_single_file_with_a_full_pipeline_folder_as_config(
    register, tmp_path: Path, tiny_dir: Path, single_file: Path
) -> None:
    # A config folder with weights of its own (another seed): the file's weights still win.
    other = tmp_path / "other"
    build_tiny_pipeline(other, seed=1)
    folder = load_pipeline(register("folder", source=str(tiny_dir)))

    pipeline = load_pipeline(register("one-file", source=str(single_file), config=str(other)))

    _assert_same_weights(pipeline.unet, folder.unet)
    _assert_same_weights(pipeline.text_encoder, folder.text_encoder)


def test_single_file_offline_without_config_says_to_set_config(register, single_file: Path) -> None:
    spec = register("one-file", source=str(single_file))

    with pytest.raises(ModelUnavailableError, match=r'HF_HUB_OFFLINE is set.*Add "config"'):
        load_pipeline(spec)


def test_single_file_config_must_be_a_pipeline_folder(register, single_file: Path, tmp_path: Path) -> None:
    spec = register("one-file", source=str(single_file), config=str(tmp_path))

    with pytest.raises(ModelUnavailableError, match=r'"config" .* is not a diffusers pipeline folder'):
        load_pipeline(spec)


def test_missing_single_file_is_a_clear_error(register, tmp_path: Path, config_dir: Path) -> None:
    spec = register("one-file", source=str(tmp_path / "absent.safetensors"), config=str(config_dir))

    with pytest.raises(ModelUnavailableError, match=r"absent\.safetensors does not exist"):
        load_pipeline(spec)


def test_unreadable_single_file_is_a_clear_error(register, tmp_path: Path, config_dir: Path) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"this is not a safetensors file")
    spec = register("broken", source=str(path), config=str(config_dir))

    with pytest.raises(ModelUnavailableError, match=r"not a readable \.safetensors file"):
        load_pipeline(spec)


def test_single_file_pipeline_class_is_allow_listed_and_sdxl_is_detected(
    register, tmp_path: Path, single_file: Path
) -> None:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    sdxl_like = tmp_path / "xl.safetensors"
    key = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias"
    save_file({key: torch.zeros(2), "model.diffusion_model.out.2.bias": torch.zeros(4)}, sdxl_like)

    assert _single_file_pipeline_class(register("sd", source=str(single_file))) is StableDiffusionPipeline
    assert _single_file_pipeline_class(register("xl", source=str(sdxl_like))) is StableDiffusionXLPipeline
    forced = register("forced", source=str(single_file), pipeline="StableDiffusionXLPipeline")
    assert _single_file_pipeline_class(forced) is StableDiffusionXLPipeline
    for name in ("DiffusionPipeline", "__class__", "os.system"):
        with pytest.raises(ModelUnavailableError, match='"pipeline" must be one of'):
            _single_file_pipeline_class(register("bad", source=str(single_file), pipeline=name))


def test_changed_options_are_a_different_cached_pipeline(register, tiny_dir: Path) -> None:
    first = get_pipeline(register("mine", source=str(tiny_dir)))
    second = get_pipeline(register("mine", source=str(tiny_dir), dtype="bfloat16"))

    assert first is not second
    assert second.unet.dtype == torch.bfloat16


def test_original_config_is_passed_to_diffusers(
    register, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, single_file: Path, config_dir: Path
) -> None:
    from diffusers import StableDiffusionPipeline

    calls = []

    def fake_from_single_file(source, **kwargs):
        calls.append((source, kwargs))
        raise ValueError("stop here")

    monkeypatch.setattr(StableDiffusionPipeline, "from_single_file", fake_from_single_file)
    yaml_file = tmp_path / "v1-inference.yaml"
    yaml_file.write_text("model: {}\n")
    entry = {"source": str(single_file), "config": str(config_dir), "original_config": str(yaml_file)}

    with pytest.raises(ModelUnavailableError, match="stop here"):
        load_pipeline(register("legacy", **entry))

    [(source, kwargs)] = calls
    assert source == str(single_file)
    assert kwargs["config"] == str(config_dir)
    assert kwargs["original_config"] == str(yaml_file)
    assert kwargs["local_files_only"] is True
    with pytest.raises(ModelUnavailableError, match=r'"original_config" .* is not a file'):
        load_pipeline(register("legacy", **{**entry, "original_config": str(tmp_path / "missing.yaml")}))


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("ON", True), ("yes", True), ("0", False), ("", False)]
)
def test_hf_hub_offline_is_read_like_every_other_switch(monkeypatch, value, offline) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub_offline() is offline


def test_an_unreadable_hf_hub_offline_is_refused_rather_than_guessed(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "maybe")
    with pytest.raises(ImproperlyConfigured, match="HF_HUB_OFFLINE must be a boolean"):
        hub_offline()
