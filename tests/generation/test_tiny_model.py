"""The tiny test pipeline and the CLIP tokenizer it is built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline
from transformers import CLIPTokenizer

from generation.engine.clip_vocab import (
    CLIP_VOCAB_SIZE,
    ClipVocabularyMissingError,
    write_clip_tokenizer_files,
)
from generation.engine.tiny import build_tiny_pipeline

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny")
    build_tiny_pipeline(directory, seed=0)
    return directory


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_dir: Path) -> StableDiffusionPipeline:
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_dir, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _generate(pipeline: StableDiffusionPipeline, seed: int, size: int = 64) -> np.ndarray:
    image = pipeline(
        "a red apple on a blue background",
        height=size,
        width=size,
        num_inference_steps=4,
        generator=torch.Generator("cpu").manual_seed(seed),
    ).images[0]
    return np.asarray(image)


def test_tokenizer_gives_real_clip_tokens_for_a_plain_phrase(tmp_path: Path) -> None:
    write_clip_tokenizer_files(tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path, model_max_length=77)

    ids = tokenizer("a red apple on a blue background").input_ids

    assert len(tokenizer) == CLIP_VOCAB_SIZE
    # The ids of the published CLIP vocabulary, so any CLIP text encoder reads them the same way.
    assert ids == [49406, 320, 736, 3055, 525, 320, 1746, 5994, 49407]
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == "a red apple on a blue background"
    assert tokenizer.unk_token_id not in ids[1:-1]


def test_tokenizer_pads_and_truncates_to_clip_context(tmp_path: Path) -> None:
    write_clip_tokenizer_files(tmp_path)
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path, model_max_length=77)

    batch = tokenizer(["a mug", "word " * 200], padding="max_length", truncation=True)

    assert [len(ids) for ids in batch.input_ids] == [77, 77]


def test_tiny_pipeline_loads_through_both_entry_points(tiny_dir: Path) -> None:
    assert (tiny_dir / "model_index.json").exists()
    assert list(tiny_dir.rglob("*.safetensors"))
    assert sum(path.stat().st_size for path in tiny_dir.rglob("*") if path.is_file()) < 12_000_000

    pipeline = DiffusionPipeline.from_pretrained(tiny_dir, local_files_only=True)

    assert isinstance(pipeline, StableDiffusionPipeline)
    assert pipeline.tokenizer.model_max_length == 77


def test_tiny_pipeline_generates_the_asked_size(tiny_pipeline: StableDiffusionPipeline) -> None:
    assert _generate(tiny_pipeline, seed=1).shape == (64, 64, 3)
    assert _generate(tiny_pipeline, seed=1, size=32).shape == (32, 32, 3)


def test_same_seed_gives_the_same_image(tiny_pipeline: StableDiffusionPipeline) -> None:
    first = _generate(tiny_pipeline, seed=7)
    second = _generate(tiny_pipeline, seed=7)
    other = _generate(tiny_pipeline, seed=8)

    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_same_build_seed_gives_the_same_weights(tmp_path: Path, tiny_dir: Path) -> None:
    build_tiny_pipeline(tmp_path, seed=0)

    for name in ("unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"):
        assert (tmp_path / name).read_bytes() == (tiny_dir / name).read_bytes()


def test_missing_open_clip_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)

    with pytest.raises(ClipVocabularyMissingError, match="pip install --no-deps 'open_clip_torch"):
        write_clip_tokenizer_files(tmp_path)
