"""A fast smoke run of the default-model training: a few steps on a handful of drawn images."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline
from django.core.management import call_command
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from generation.training.catalogue import OBJECTS, held_out_colour
from generation.training.data import Compositor, load_sprites, resolve_objects
from generation.training.trainer import OBJECTS_FILE, STATE_FILE, TrainConfig, Trainer, balance_weights

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

OBJECT_COUNT = 4
FILL_COLOURS = ("red", "gold", "green", "blue", "purple")


def _fake_data_package(work_dir: Path) -> Path:
    """Lay out a stand-in for the npm package, so the test needs no network and no 74 MB download."""
    package = work_dir / "data" / "package"
    images = package / "img" / "google" / "64"
    images.mkdir(parents=True)
    records = []
    for index, entry in enumerate(OBJECTS[: OBJECT_COUNT + 1]):
        filename = f"test-{index}.png"
        image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(image).ellipse((8 + index, 8, 56, 56 - index), fill=FILL_COLOURS[index])
        image.save(images / filename)
        records.append(
            {
                "short_name": entry.short_name,
                "name": entry.short_name.upper().replace("_", " "),
                "image": filename,
                "category": "Test",
                "has_img_google": True,
            }
        )
    (package / "emoji.json").write_text(json.dumps(records))
    return package


def _config(tmp_path: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = {
        "output_dir": tmp_path / "models" / "default",
        "work_dir": tmp_path / "work",
        "object_count": OBJECT_COUNT - 1,
        "vae_steps": 2,
        "unet_steps": 2,
        "vae_batch_size": 2,
        "unet_batch_size": 2,
        "warmup_steps": 1,
        "log_every": 1,
        "model_preset": "test",
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    _fake_data_package(tmp_path / "work")
    return tmp_path


def test_command_trains_and_exports_a_pipeline_that_loads_and_generates(work: Path) -> None:
    out = work / "models" / "default"

    call_command(
        "train_default_model",
        out=str(out),
        work_dir=str(work / "work"),
        objects=OBJECT_COUNT - 1,
        vae_steps=2,
        unet_steps=2,
        vae_batch_size=2,
        unet_batch_size=2,
        log_every=1,
        model_preset="test",
    )

    assert json.loads((out / OBJECTS_FILE).read_text()) == ["APPLE", "BANANA", "STRAWBERRY"]
    state = json.loads((out / STATE_FILE).read_text())
    assert (state["vae_steps"], state["unet_steps"]) == (2, 2)
    assert state["vae_scaling_factor"] > 0
    assert list(out.rglob("*.safetensors")) and not list(out.rglob("*.bin"))
    # No dtype given: the fp16 files must still load as one consistent float32 pipeline.
    pipeline = StableDiffusionPipeline.from_pretrained(out, local_files_only=True)
    assert {pipeline.unet.dtype, pipeline.vae.dtype, pipeline.text_encoder.dtype} == {torch.float32}
    pipeline.set_progress_bar_config(disable=True)
    assert pipeline.vae.config.scaling_factor == pytest.approx(state["vae_scaling_factor"])
    image = pipeline(
        "a red apple on a blue background",
        height=64,
        width=64,
        num_inference_steps=2,
        generator=torch.Generator("cpu").manual_seed(0),
    ).images[0]
    assert image.size == (64, 64)


def test_resume_from_the_exported_folder_alone_grows_objects_and_keeps_the_vae(work: Path) -> None:
    first = _config(work)
    Trainer(first, log=lambda _: None).run()
    vae_before = load_file(first.output_dir / "vae" / "diffusion_pytorch_model.safetensors")
    # A new session has no var/: only the committed export is left.
    (first.work_dir / "checkpoint.pt").unlink()

    Trainer(_config(work, object_count=OBJECT_COUNT, unet_steps=3), log=lambda _: None).run()

    state = json.loads((first.output_dir / STATE_FILE).read_text())
    assert (state["vae_steps"], state["unet_steps"]) == (2, 3)
    assert len(state["objects"]) == OBJECT_COUNT
    assert len(json.loads((first.output_dir / OBJECTS_FILE).read_text())) == OBJECT_COUNT
    vae_after = load_file(first.output_dir / "vae" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(vae_before[name], vae_after[name]) for name in vae_before)


def test_balance_weights_boost_less_trained_objects_up_to_the_cap() -> None:
    assert balance_weights([100.0, 100.0, 100.0], cap=4.0) == [1.0, 1.0, 1.0]
    assert balance_weights([100.0, 50.0, 0.0], cap=4.0) == [1.0, 2.0, 4.0]
    assert balance_weights([100.0, 50.0, 0.0], cap=1.0) == [1.0, 1.0, 1.0]


def test_growing_samples_the_new_object_more_often_and_tracks_exposure(work: Path) -> None:
    first = _config(work, unet_steps=8)
    Trainer(first, log=lambda _: None).run()
    grown = Trainer(_config(work, object_count=OBJECT_COUNT, unet_steps=12), log=lambda _: None)
    new_object = grown.state.objects[-1]

    assert grown.compositor.weights == [1.0] * (OBJECT_COUNT - 1) + [4.0]
    rng = random.Random(0)
    drawn = [grown.compositor._sample(rng)[0] for _ in range(2000)]
    # 4 / (3 + 4) of the samples, against 1 / 4 if sampling stayed uniform.
    assert 0.5 < drawn.count(OBJECT_COUNT - 1) / len(drawn) < 0.65

    grown.run()
    exposure = json.loads((first.output_dir / STATE_FILE).read_text())["object_images"]
    assert set(exposure) == set(grown.state.objects)
    assert sum(exposure.values()) == pytest.approx(12 * 2)
    assert exposure[new_object] == pytest.approx(4 * 2 * 4 / 7)


def test_resume_refuses_to_drop_trained_objects(work: Path) -> None:
    Trainer(_config(work, unet_steps=0, vae_steps=1), log=lambda _: None).run()

    with pytest.raises(ValueError, match="would drop"):
        Trainer(_config(work, object_count=1), log=lambda _: None)


def test_same_seed_gives_the_same_weights(work: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    _fake_data_package(other / "work")
    for root in (work, other):
        Trainer(_config(root, vae_steps=1, unet_steps=1), log=lambda _: None).run()

    name = "unet/diffusion_pytorch_model.safetensors"
    first = load_file(work / "models" / "default" / name)
    second = load_file(other / "models" / "default" / name)
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_batches_are_reproducible_and_never_use_the_held_out_colour(work: Path) -> None:
    objects = resolve_objects(work / "work" / "data" / "package", OBJECTS[:OBJECT_COUNT])
    compositor = Compositor(objects, load_sprites(objects), seed=3)

    images, captions = compositor.batch(5, 8)
    again, captions_again = compositor.batch(5, 8)

    assert images.shape == (8, 3, 64, 64)
    assert torch.equal(images, again) and captions == captions_again
    assert images.min() >= -1 and images.max() <= 1
    for obj in objects:
        held_out = held_out_colour(obj.entry.short_name)
        forbidden = {f"on a {held_out} background", f"against a {held_out} backdrop", f"on {held_out}"}
        rng = random.Random(obj.entry.short_name)
        phrases = {compositor._background(rng, torch.Generator(), obj)[1] for _ in range(300)}
        assert not phrases & forbidden


def test_decoder_fine_tune_leaves_the_encoder_and_unet_untouched(work: Path) -> None:
    config = _config(work)
    Trainer(config, log=lambda _: None).run()
    vae_file = config.output_dir / "vae" / "diffusion_pytorch_model.safetensors"
    unet_file = config.output_dir / "unet" / "diffusion_pytorch_model.safetensors"
    vae_before, unet_before = load_file(vae_file), load_file(unet_file)

    Trainer(_config(work, phases=("decoder",), decoder_steps=2), log=lambda _: None).run()

    vae_after, unet_after = load_file(vae_file), load_file(unet_file)
    assert json.loads((config.output_dir / STATE_FILE).read_text())["decoder_steps"] == 2
    assert all(torch.equal(unet_before[name], unet_after[name]) for name in unet_before)
    encoder = [name for name in vae_before if name.startswith(("encoder.", "quant_conv."))]
    decoder = [name for name in vae_before if name.startswith("decoder.")]
    assert encoder and all(torch.equal(vae_before[name], vae_after[name]) for name in encoder)
    assert any(not torch.equal(vae_before[name], vae_after[name]) for name in decoder)
