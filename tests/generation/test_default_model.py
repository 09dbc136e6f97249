"""The shipped default model: registered, loaded like any other model, 128 px upscaled to 512 px, and the only
model users are offered unless test models are switched on."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from diffusers import StableDiffusionPipeline
from django.core.files.storage import default_storage
from django.urls import reverse

from generation import services
from generation.engine.generate import generate_images
from generation.engine.pipelines import get_pipeline
from generation.engine.registry import available_models, default_model, get_model
from generation.engine.runner import TextToImageJob
from generation.imagefile import read_png_parameters
from generation.models import GenerationRequest
from tests.forms import generate_form_data, generation_parameters

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "default"


def _job(**overrides) -> TextToImageJob:
    values = {
        "prompt": "a red apple on a wooden desk",
        "negative_prompt": "",
        "width": 512,
        "height": 512,
        "num_images": 1,
        "seed": 11,
        "steps": 4,
        "guidance": 5.0,
    }
    values.update(overrides)
    return TextToImageJob(**values)


def _form_data(**fields) -> dict:
    """The Generate form for the default model at its one size, Square 512 x 512."""
    defaults = {"model": "default", "size": "square", "width": "", "height": "", "steps": "4"}
    return generate_form_data(**{**defaults, **fields})


def test_the_default_model_is_the_shipped_one_at_128_px_upscaled_to_512():
    spec = default_model()
    assert spec.key == "default"
    assert Path(spec.source) == SHIPPED
    assert (spec.native_size, spec.upscaler, spec.output_size) == (128, "realesrgan-x4", 512)
    assert (spec.default_steps, spec.default_guidance) == (25, 5.0)
    looks = ["3d-render", "flat-illustration", "emoji"]  # the three it learned, one per art set
    assert [style.key for style in spec.style_choices()] == ["none", *looks]


def test_the_default_model_lists_what_it_can_draw_in_prompt_words(monkeypatch):
    monkeypatch.setattr("generation.engine.registry._subjects", {})  # a training run may have grown the list
    names = json.loads((SHIPPED / "objects.json").read_text())
    subjects = get_model("default").subjects
    assert len(subjects) == len(names)
    # The caption words, not the data package's names ("HOT BEVERAGE", "SCHOOL SATCHEL").
    assert {"red apple", "coffee mug", "backpack"} <= set(subjects)
    assert all(subject == subject.lower() for subject in subjects)


def test_subjects_are_grouped_by_kind_when_the_model_folder_names_groups(tmp_path, monkeypatch):
    monkeypatch.setattr("generation.engine.registry._subjects", {})
    (tmp_path / "objects.json").write_text(json.dumps(["HOT BEVERAGE", "HAMMER", "RED APPLE"]))
    state = {
        "prompt_words": {"HOT BEVERAGE": ["coffee mug"], "HAMMER": ["hammer"], "RED APPLE": ["red apple"]},
        "groups": {"HOT BEVERAGE": "drink", "HAMMER": "tools", "RED APPLE": "drink"},
    }
    (tmp_path / "training_state.json").write_text(json.dumps(state))
    spec = dataclasses.replace(get_model("default"), source=str(tmp_path))

    assert spec.subjects == ("coffee mug", "hammer", "red apple")
    assert spec.subject_groups == (("Drink", ("coffee mug", "red apple")), ("Tools", ("hammer",)))

    # A model trained before groups lists its subjects in one run.
    monkeypatch.setattr("generation.engine.registry._subjects", {})
    del state["groups"]
    (tmp_path / "training_state.json").write_text(json.dumps(state))
    assert spec.subjects == ("coffee mug", "hammer", "red apple") and spec.subject_groups == ()


def test_the_default_model_makes_a_512_px_image_from_a_prompt():
    spec = get_model("default")
    steps: list[tuple[int, int]] = []

    [image] = generate_images(spec, _job(), lambda step, total: steps.append((step, total)) or True)

    pipeline = get_pipeline(spec)
    assert isinstance(pipeline, StableDiffusionPipeline)
    assert Path(pipeline.name_or_path) == SHIPPED
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert image.size == (512, 512)
    pixels = np.asarray(image, dtype=np.float32)
    assert pixels.std() > 10, "a picture, not a flat colour"


def test_a_fixed_size_model_refuses_any_other_size():
    with pytest.raises(ValueError, match="512 x 512 images only"):
        generate_images(get_model("default"), _job(width=256, height=256), lambda step, total: True)


@pytest.mark.django_db
def test_the_worker_path_stores_the_upscaled_image_and_says_how_it_was_upscaled(marketer, no_enqueue):
    parameters = generation_parameters(
        prompt="a banana on a blue background", model_key="default", width=512, height=512, seed=5, steps=3
    )
    request = services.generation_request_create(user=marketer, parameters=parameters)

    assert services.generation_request_execute(request_id=request.pk) == GenerationRequest.Status.SUCCEEDED

    asset = request.assets.get()
    assert (asset.width, asset.height) == (512, 512)
    embedded = read_png_parameters(default_storage.open(asset.file.name).read())
    assert embedded["size"] == "512x512"
    assert embedded["upscaler"] == "Real-ESRGAN realesr-animevideov3-x4"
    assert embedded["model"] == "default"


@pytest.mark.django_db
def test_the_create_page_preselects_512_px_and_shows_what_the_default_model_draws(client, marketer):
    client.force_login(marketer)
    body = client.get(reverse("generation:create")).content.decode()

    assert '<option value="square" selected>' in body
    assert '<option value="default" selected>' in body
    assert "Studio default (small, CPU)" in body
    assert "What it can draw" in body and "coffee mug" in body
    assert "STUDIO_MODELS_JSON" not in body and "README" not in body, "no operator's words for marketers"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"size": "square-small"},
        {"size": "landscape"},
        {"size": "custom", "width": "256", "height": "256"},
        # The size it renders at is not a size it delivers.
        {"size": "custom", "width": "128", "height": "128"},
    ],
)
def test_any_other_size_for_the_default_model_is_a_form_error_not_a_crash(client, marketer, overrides):
    client.force_login(marketer)
    response = client.post(reverse("generation:create"), _form_data(**overrides))

    assert response.status_code == 400
    assert (
        "Studio default makes 512 x 512 images only; choose Square 512 x 512 or another model."
        in response.content.decode()
    )
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("overrides", [{}, {"size": "custom", "width": "512", "height": "512"}])
def test_512_px_for_the_default_model_is_accepted(client, marketer, no_enqueue, overrides):
    client.force_login(marketer)
    response = client.post(reverse("generation:create"), _form_data(**overrides))

    assert response.status_code == 302
    request = GenerationRequest.objects.get()
    assert (request.model_key, request.width, request.height) == ("default", 512, 512)


@pytest.mark.django_db
def test_users_are_not_offered_the_tiny_test_model(client, marketer, settings):
    settings.STUDIO_TEST_MODELS = False
    client.force_login(marketer)

    page = client.get(reverse("generation:create")).content.decode()
    posted = client.post(
        reverse("generation:create"), _form_data(model="tiny", size="custom", width="64", height="64")
    )

    assert [spec.key for spec in available_models()] == ["default"]
    assert 'value="tiny"' not in page and "Tiny test pipeline" not in page
    assert posted.status_code == 400
    assert "Select a valid choice" in posted.content.decode()
    assert get_model("tiny").test_only, "still registered, so the suite and the worker can run it by key"


def test_the_suite_is_offered_the_tiny_test_model():
    assert [spec.key for spec in available_models()] == ["default", "tiny"]
