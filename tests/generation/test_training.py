"""A fast smoke run of the default-model training: a few steps on a handful of drawn images."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline
from django.core.management import call_command
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from generation.training.catalogue import OBJECTS, held_out_colour
from generation.training.data import Compositor, held_out_scenes, load_sprites, resolve_objects
from generation.training.looks import LOOKS, ensure_packages, package_folder
from generation.training.scenes import BACKDROPS, BackdropPainter, Light, cast_shadow
from generation.training.trainer import OBJECTS_FILE, STATE_FILE, TrainConfig, Trainer, balance_weights

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

OBJECT_COUNT = 4
FILL_COLOURS = ("red", "gold", "green", "blue", "purple")


def _fake_data_package(work_dir: Path) -> Path:
    """Lay out stand-ins for the three npm packages, so the test needs no network and no 90 MB download."""
    root = work_dir / "data"
    folders = {key: package_folder(root, look) for key, look in LOOKS.items()}
    records = []
    for index, entry in enumerate(OBJECTS[: OBJECT_COUNT + 1]):
        codes = f"1f{index:03x}"
        filename = f"{codes}.png"
        for key, folder in folders.items():
            image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
            # Each look draws the object its own way, as the real art sets do.
            shape = {"3d": "ellipse", "flat": "rectangle", "emoji": "ellipse"}[key]
            getattr(ImageDraw.Draw(image), shape)((8 + index, 8, 56, 56 - index), fill=FILL_COLOURS[index])
            if key == "3d":
                path = folder / "assets" / f"{codes}.webp"
            else:
                path = folder / "img" / ("twitter" if key == "flat" else "google") / "64" / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)
        records.append(
            {
                "short_name": entry.short_name,
                "name": entry.short_name.upper().replace("_", " "),
                "unified": codes.upper(),
                "non_qualified": None,
                "image": filename,
                "category": "Test",
                "has_img_google": True,
                "has_img_twitter": True,
            }
        )
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "emoji.json").write_text(json.dumps(records))
        (folder / ".complete").write_text("fake\n")
    return root


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
    drawn = [grown.compositor._object(rng) for _ in range(2000)]
    # 4 / (3 + 4) of the samples, against 1 / 4 if sampling stayed uniform.
    assert 0.5 < drawn.count(OBJECT_COUNT - 1) / len(drawn) < 0.65

    grown.run()
    exposure = json.loads((first.output_dir / STATE_FILE).read_text())["object_images"]
    assert set(exposure) == set(grown.state.objects)
    assert sum(exposure.values()) == pytest.approx(12 * 2)
    assert exposure[new_object] == pytest.approx(4 * 2 * 4 / 7)


def test_resume_refuses_to_drop_trained_objects(work: Path) -> None:
    Trainer(_config(work, unet_steps=1, vae_steps=1), log=lambda _: None).run()

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


def _look_of(caption: str) -> str:
    if "flat" in caption:
        return "flat"
    return "emoji" if "emoji" in caption else "3d"


def _backdrop_of(caption: str) -> str:
    for kind in BACKDROPS.values():
        for phrase in kind.phrases:
            pattern = re.escape(phrase).replace(r"\{colour\}", r"[a-z ]+").replace(r"\{top\}", r"[a-z ]+")
            pattern = pattern.replace(r"\{bottom\}", r"[a-z ]+")
            if re.search(pattern, caption):
                return kind.key
    raise AssertionError(f"no backdrop phrase in {caption!r}")


def test_batches_are_reproducible_and_never_draw_held_out_pairings(work: Path) -> None:
    objects = resolve_objects(ensure_packages(work / "work" / "data"), OBJECTS[:OBJECT_COUNT])
    compositor = Compositor(objects, load_sprites(objects, 64), seed=3, size=64)

    images, captions = compositor.batch(5, 8)
    again, captions_again = compositor.batch(5, 8)

    assert images.shape == (8, 3, 64, 64)
    assert torch.equal(images, again) and captions == captions_again
    assert images.min() >= -1 and images.max() <= 1
    seen: set[tuple[str, str]] = set()
    for step in range(60):
        for caption in compositor.batch(step, 16, stream="check")[1]:
            look, backdrop = _look_of(caption), _backdrop_of(caption)
            seen.add((backdrop, look))
            for obj in objects:
                if not any(re.search(rf"\b{re.escape(word)}\b", caption) for word in obj.entry.words):
                    continue
                held_out = held_out_colour(obj.entry.short_name)
                assert f"on a {held_out} background" not in caption
                assert f"against a {held_out} backdrop" not in caption
                assert (backdrop, look) not in held_out_scenes(obj.entry.short_name), caption
    # The stream does reach every backdrop in every look, so the checks above were not vacuous.
    assert len(seen) >= len(BACKDROPS) * len(LOOKS) - 4


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


def test_mixed_precision_and_worker_processes_train_the_same_run_that_resumes_in_float32(work: Path) -> None:
    # The GPU path (bfloat16 autocast, batches made ahead by worker processes), exercised on the CPU.
    mixed = _config(work, mixed_precision=True, data_workers=1, unet_steps=2)
    Trainer(mixed, log=lambda _: None).run()
    state = json.loads((mixed.output_dir / STATE_FILE).read_text())
    assert (state["vae_steps"], state["unet_steps"]) == (2, 2)

    # The checkpoint it left resumes on a plain float32 run, optimizer state included.
    resumed = Trainer(_config(work, unet_steps=3), log=lambda _: None)
    assert resumed.state.unet_steps == 2 and "unet" in resumed._optimizer_states
    resumed.run()
    weights = load_file(mixed.output_dir / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.isfinite(tensor.float()).all() for tensor in weights.values())
    assert json.loads((mixed.output_dir / STATE_FILE).read_text())["unet_steps"] == 3


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(previous)


def test_a_worker_running_the_vae_encoder_trains_the_same_unet_as_the_training_process(
    work: Path, two_threads: int
) -> None:
    # On a CPU the data worker encodes the batches (a second core's worth of work); the steps must not change.
    runs = {}
    for workers in (0, 1):
        folder = work / f"workers-{workers}"
        config = _config(work, output_dir=folder / "model", work_dir=folder / "work", data_workers=workers)
        shutil.copytree(work / "work" / "data", config.work_dir / "data")
        Trainer(config, log=lambda _: None).run()
        runs[workers] = load_file(config.output_dir / "unet" / "diffusion_pytorch_model.safetensors")
        assert torch.get_num_threads() == two_threads, "only the worker processes are held to one thread"
    initial = Trainer(_config(work, work_dir=work / "workers-0" / "work", resume=False), log=lambda _: None)
    untrained = initial.unet.state_dict()
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.allclose(runs[0][name], runs[1][name], atol=1e-3) for name in runs[0])
    # and the two steps did train it
    assert any(not torch.allclose(runs[0][name].float(), untrained[name], atol=1e-4) for name in runs[0])


def test_a_new_run_can_start_from_another_models_unet_and_text_encoder(work: Path) -> None:
    first = _config(work)
    Trainer(first, log=lambda _: None).run()
    donor = load_file(first.output_dir / "unet" / "diffusion_pytorch_model.safetensors")

    other = work / "second"
    started = Trainer(
        _config(
            work, output_dir=other / "model", work_dir=work / "work", init_from=first.output_dir, resume=False
        ),
        log=lambda _: None,
    )
    unet = started.unet.state_dict()
    assert all(torch.equal(unet[name], donor[name].float()) for name in donor)


def test_a_run_still_in_its_vae_phase_may_train_fewer_objects(work: Path) -> None:
    Trainer(_config(work, object_count=OBJECT_COUNT, unet_steps=0, vae_steps=1), log=lambda _: None).run()

    shrunk = Trainer(_config(work, object_count=2, unet_steps=1), log=lambda _: None)
    shrunk.run()

    state = json.loads((work / "models" / "default" / STATE_FILE).read_text())
    assert len(state["objects"]) == 2 and set(state["object_images"]) == set(state["objects"])


def test_a_bundle_of_the_art_trains_without_django_or_the_full_packages(work: Path) -> None:
    from generation.training.__main__ import main

    bundle = work / "bundle"
    common = ["--work-dir", str(work / "work"), "--objects", "2"]
    assert main([*common, "--bundle-data", str(bundle)]) == 0
    assert sorted(path.name for path in (bundle / "data").iterdir()) == sorted(
        package_folder(Path("."), look).parent.name for look in LOOKS.values()
    )

    out = work / "from-bundle"
    steps = ["--vae-steps", "1", "--unet-steps", "1", "--vae-batch-size", "2", "--unet-batch-size", "2"]
    options = ["--work-dir", str(bundle), "--out", str(out), "--objects", "2", "--model-preset", "test"]
    assert main([*options, *steps]) == 0
    assert json.loads((out / OBJECTS_FILE).read_text()) == ["APPLE", "BANANA"]


def test_a_first_generation_export_is_not_resumed_as_the_second(work: Path) -> None:
    first = _config(work)
    first.output_dir.mkdir(parents=True)
    first_generation = {"seed": 0, "objects": ["apple"], "unet_steps": 10}  # no "version": version 1
    (first.output_dir / STATE_FILE).write_text(json.dumps(first_generation))

    with pytest.raises(ValueError, match=r"first-generation model.*--init-from"):
        Trainer(first, log=lambda _: None)


@pytest.mark.parametrize("kind", sorted(BACKDROPS))
def test_every_backdrop_paints_an_image_with_its_phrase_and_a_ground_where_objects_stand(kind: str) -> None:
    painter = BackdropPainter(64)
    for seed in range(6):
        backdrop = painter.paint(kind, random.Random(seed), torch.Generator().manual_seed(seed))
        assert backdrop.image.shape == (3, 64, 64)
        assert float(backdrop.image.min()) >= 0.0 and float(backdrop.image.max()) <= 1.0
        assert backdrop.kind == kind and "{" not in backdrop.phrase
        if BACKDROPS[kind].stands:
            assert backdrop.ground is not None
            top, bottom = backdrop.ground
            assert 0.0 < top <= bottom < 1.0
        elif kind == "sky":
            assert backdrop.ground is None


def test_a_standing_object_casts_its_shadow_on_the_ground_away_from_the_light() -> None:
    canvas = torch.ones(3, 64, 64)
    alpha = torch.zeros(1, 20, 20)
    alpha[:, 2:18, 6:14] = 1.0  # an upright object, its base at row 17 of the sprite
    lit_from_left = Light(x=-1.0, warmth=0.0, strength=0.1, words="")

    shaded = cast_shadow(canvas, alpha, left=22, top=30, light=lit_from_left, ground=True)

    darkening = 1 - shaded[0]
    base = 30 + 17
    assert float(darkening[:28].max()) == 0.0  # nothing well above the object
    assert float(darkening[base - 1 : base + 3].max()) > 0.2  # a dark contact shadow at its base
    # The cast shadow falls to the right, away from a light on the left.
    right = float(darkening[base - 6 : base + 2, 36:50].sum())
    left = float(darkening[base - 6 : base + 2, 8:22].sum())
    assert right > 2 * left
