"""Refine operations: the service that validates them, the worker that runs them, the lineage they leave.

Every operation runs once on the tiny pipeline (real diffusers classes, random weights) through the worker's
own path; tests/generation/test_refine_default_model.py runs them on the shipped default model.
"""

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from generation import operations as ops
from generation import services
from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA
from generation.engine import masks, pipelines
from generation.imagefile import read_png_parameters
from generation.models import Asset, GenerationRequest
from review.models import ReviewState

Status = GenerationRequest.Status


def _mask_png(size=(96, 64), box=(30, 16, 66, 48), mode="L") -> bytes:
    mask = Image.new(mode, size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255 if mode == "L" else (255, 255, 255, 255))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _params(operation: str, **overrides) -> services.RefineParameters:
    values: dict = {"operation": operation, "model_key": "tiny", "steps": 3, "guidance": 5.0, "seed": 11}
    operation_spec = ops.OPERATIONS[operation]
    if operation_spec.prompt == "required":
        values["prompt"] = "a yellow pear on a green background"
    if operation_spec.mask == ops.MASK_REQUIRED:
        values["mask_png"] = _mask_png()
    values.update(overrides)
    return services.RefineParameters(**values)


def subject_image(size=(96, 64)) -> Image.Image:
    """A red disc on blue: an object on a plain background, as the default model draws them."""
    image = Image.new("RGB", size, (30, 60, 200))
    width, height = size
    ImageDraw.Draw(image).ellipse((width * 0.3, height * 0.2, width * 0.7, height * 0.8), fill=(210, 30, 30))
    return image


def _run(marketer, source, parameters, capture, **kwargs) -> GenerationRequest:
    request = services.refine_request_create(user=marketer, source=source, parameters=parameters, **kwargs)
    with capture(execute=True):
        status = services.generation_request_execute(request_id=request.pk)
    request.refresh_from_db()
    assert status == Status.SUCCEEDED, request.error
    return request


def _pixels(asset: Asset) -> np.ndarray:
    with Image.open(asset.file.open("rb")) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation", "overrides", "size"),
    [
        (ops.IMG2IMG, {}, (96, 64)),
        (ops.INPAINT, {}, (96, 64)),
        (ops.REMOVE, {}, (96, 64)),
        (ops.REPLACE_BACKGROUND, {}, (96, 64)),
        (ops.OUTPAINT, {"aspect": "16:9"}, (114, 64)),
        (ops.OUTPAINT, {"pad": (10, 0, 20, 8), "anchor": "center"}, (126, 72)),
        (ops.RECOLOR, {"color": "teal"}, (96, 64)),
        (ops.UPSCALE, {"scale": 2}, (192, 128)),
        (ops.UPSCALE, {"scale": 4}, (384, 256)),
        (ops.RESTORE, {}, (96, 64)),
        (ops.VARIATIONS, {"mode": "img2img"}, (96, 64)),
        (ops.VARIATIONS, {"mode": "seeds"}, (96, 64)),
    ],
)
def test_every_operation_runs_through_the_worker_and_records_its_lineage(
    marketer,
    make_asset,
    tiny_model_dir,
    no_enqueue,
    django_capture_on_commit_callbacks,
    operation,
    overrides,
    size,
):
    source = make_asset(image=subject_image())
    source.campaign, source.product, source.channel = "Autumn", "Pear", "social"
    source.save()

    request = _run(marketer, source, _params(operation, **overrides), django_capture_on_commit_callbacks)

    assert request.progress_step == request.progress_total > 0
    [result] = request.assets.all()
    assert (result.width, result.height) == size
    assert result.parent_id == source.pk
    assert result.operation == operation
    assert (result.campaign, result.product, result.channel) == ("Autumn", "Pear", "social")
    assert result.review.state == ReviewState.IN_REVIEW
    data = default_storage.open(result.file.name).read()
    embedded = read_png_parameters(data)
    assert embedded["operation"] == operation
    assert embedded["source_sha256"] == source.content_hash
    assert TRAINED_ALGORITHMIC_MEDIA.encode() in data


@pytest.mark.django_db
def test_inpainting_changes_only_the_area_around_the_mask(
    marketer, make_asset, tiny_model_dir, no_enqueue, django_capture_on_commit_callbacks
):
    source = make_asset(size=(96, 64))
    request = _run(
        marketer,
        source,
        _params(ops.INPAINT, mask_png=_mask_png(box=(40, 20, 56, 40))),
        django_capture_on_commit_callbacks,
    )
    before, after = _pixels(source), _pixels(request.assets.get())
    changed = np.abs(before - after).sum(axis=2) > 0
    assert changed[20:40, 40:56].mean() > 0.9, "the painted area was redrawn"
    assert not changed[:, :25].any() and not changed[:, 72:].any(), "far from the mask nothing changes"


@pytest.mark.django_db
def test_outpainting_keeps_the_original_pixels_exactly(
    marketer, make_asset, tiny_model_dir, no_enqueue, django_capture_on_commit_callbacks
):
    source = make_asset(size=(96, 64))
    request = _run(
        marketer,
        source,
        _params(ops.OUTPAINT, aspect="1:1", anchor="north"),
        django_capture_on_commit_callbacks,
    )
    result = _pixels(request.assets.get())
    assert result.shape[:2] == (96, 96)
    assert np.array_equal(result[:64, :, :], _pixels(source)), (
        "north: the original sits at the top, unchanged"
    )


@pytest.mark.django_db
def test_several_results_get_consecutive_seeds(
    marketer, make_asset, tiny_model_dir, no_enqueue, django_capture_on_commit_callbacks
):
    source = make_asset()
    request = _run(marketer, source, _params(ops.IMG2IMG, num_images=3), django_capture_on_commit_callbacks)
    assert sorted(asset.seed for asset in request.assets.all()) == [11, 12, 13]


@pytest.mark.django_db
def test_a_revision_is_linked_to_the_asset_it_revises(
    marketer, make_asset, tiny_model_dir, no_enqueue, django_capture_on_commit_callbacks
):
    source = make_asset(image=subject_image())
    request = _run(
        marketer,
        source,
        _params(ops.RECOLOR, color="#1e90ff"),
        django_capture_on_commit_callbacks,
        revises=source,
    )
    assert request.assets.get().revision_of_id == source.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"operation": "sharpen"}, "Unknown operation"),
        ({"operation": ops.INPAINT, "mask_png": None}, "needs a mask"),
        ({"operation": ops.INPAINT, "mask_png": _mask_png(box=(0, 0, 0, 0))[:0]}, "needs a mask"),
        ({"operation": ops.REMOVE, "mask_png": b"not a png"}, "not a readable PNG"),
        ({"operation": ops.INPAINT, "mask_png": _mask_png(size=(64, 64))}, "aspect ratio"),
        ({"operation": ops.INPAINT, "prompt": ""}, "needs a prompt"),
        ({"operation": ops.IMG2IMG, "mask_png": _mask_png()}, "takes no mask"),
        ({"operation": ops.OUTPAINT, "aspect": "wide"}, "not an aspect ratio"),
        ({"operation": ops.OUTPAINT, "aspect": "96:64"}, "already has that aspect"),
        ({"operation": ops.OUTPAINT}, "Choose a target aspect ratio"),
        ({"operation": ops.OUTPAINT, "aspect": "100:1"}, "out of range"),
        ({"operation": ops.RECOLOR, "color": "blurple"}, "is not a colour"),
        ({"operation": ops.UPSCALE, "scale": 3}, "Upscale by 2 or 4"),
        ({"operation": ops.IMG2IMG, "strength": 0}, "Strength"),
        ({"operation": ops.IMG2IMG, "model_key": "nope"}, "No model 'nope'"),
        ({"operation": ops.IMG2IMG, "num_images": 5}, "between 1 and 4"),
        ({"operation": ops.VARIATIONS, "mode": "remix"}, "Variations are made with"),
        ({"operation": ops.OUTPAINT, "anchor": "up"}, "Anchor must be"),
    ],
)
def test_bad_refine_requests_are_refused_with_a_reason_and_store_nothing(
    marketer, make_asset, no_enqueue, overrides, message
):
    source = make_asset(size=(96, 64))
    operation = overrides.pop("operation")
    parameters = _params(operation if operation in ops.OPERATIONS else ops.IMG2IMG, **overrides)
    if operation not in ops.OPERATIONS:
        parameters = services.RefineParameters(operation=operation)
    requests_before, files_before = GenerationRequest.objects.count(), default_storage.listdir("")
    with pytest.raises(services.RefineRequestError, match=message):
        services.refine_request_create(user=marketer, source=source, parameters=parameters)
    assert GenerationRequest.objects.count() == requests_before
    assert default_storage.listdir("") == files_before


@pytest.mark.django_db
@pytest.mark.parametrize("operation", [ops.REPLACE_BACKGROUND, ops.RECOLOR])
def test_an_image_with_no_subject_to_find_asks_for_a_painted_mask(
    marketer, make_asset, no_enqueue, operation
):
    source = make_asset(size=(96, 64))  # one flat colour
    with pytest.raises(services.RefineRequestError, match="paint over"):
        services.refine_request_create(
            user=marketer, source=source, parameters=_params(operation, color="red")
        )
    assert not GenerationRequest.objects.filter(operation=operation).exists()


@pytest.mark.django_db
def test_a_result_over_the_pixel_limit_is_refused(marketer, make_asset, no_enqueue, settings):
    settings.STUDIO_REFINE_MAX_PIXELS = 50_000
    source = make_asset(size=(96, 64))
    with pytest.raises(services.RefineRequestError, match="pixel limit"):
        services.refine_request_create(user=marketer, source=source, parameters=_params(ops.UPSCALE, scale=4))


@pytest.mark.django_db
def test_new_seeds_need_an_image_generated_from_text(
    marketer, make_asset, no_enqueue, django_capture_on_commit_callbacks, tiny_model_dir
):
    source = make_asset(image=subject_image())
    request = _run(marketer, source, _params(ops.RECOLOR, color="red"), django_capture_on_commit_callbacks)
    recoloured = request.assets.get()
    with pytest.raises(services.RefineRequestError, match="generated from text"):
        services.refine_request_create(
            user=marketer, source=recoloured, parameters=_params(ops.VARIATIONS, mode="seeds")
        )


@pytest.mark.django_db
def test_a_model_without_the_task_is_refused(marketer, make_asset, no_enqueue, settings):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "tiny": {**settings.STUDIO_MODELS["tiny"], "tasks": ["text2img"]},
    }
    source = make_asset()
    with pytest.raises(services.RefineRequestError, match="cannot inpaint"):
        services.refine_request_create(user=marketer, source=source, parameters=_params(ops.INPAINT))


@pytest.mark.django_db
def test_a_mask_painted_on_a_transparent_layer_at_another_resolution_is_scaled_to_the_image(
    marketer, make_asset, no_enqueue
):
    source = make_asset(size=(96, 64))
    mask_png = _mask_png(size=(192, 128), box=(60, 32, 132, 96), mode="RGBA")
    request = services.refine_request_create(
        user=marketer, source=source, parameters=_params(ops.INPAINT, mask_png=mask_png)
    )
    with Image.open(request.mask.open("rb")) as stored:
        assert stored.size == (96, 64) and stored.mode == "L"
        assert stored.getpixel((48, 32)) == 255 and stored.getpixel((5, 5)) == 0


@pytest.mark.django_db
def test_canceling_a_refine_stops_it_and_stores_nothing(
    marketer, make_asset, tiny_model_dir, no_enqueue, monkeypatch
):
    source = make_asset()
    request = services.refine_request_create(
        user=marketer, source=source, parameters=_params(ops.IMG2IMG, steps=8)
    )
    original = services.generation_request_report_progress

    def cancel_at_first_step(*, request_id: int, step: int, total: int) -> bool:
        services.generation_request_cancel(generation_request=GenerationRequest.objects.get(pk=request_id))
        return original(request_id=request_id, step=step, total=total)

    monkeypatch.setattr(services, "generation_request_report_progress", cancel_at_first_step)
    assert services.generation_request_execute(request_id=request.pk) == Status.CANCELED
    assert request.assets.count() == 0


@pytest.mark.django_db
def test_a_source_that_cannot_be_read_fails_the_request_with_a_reason(
    marketer, make_asset, tiny_model_dir, no_enqueue
):
    source = make_asset()
    request = services.refine_request_create(user=marketer, source=source, parameters=_params(ops.IMG2IMG))
    default_storage.delete(source.file.name)
    assert services.generation_request_execute(request_id=request.pk) == Status.FAILED
    request.refresh_from_db()
    assert "cannot be read" in request.error


def test_image_to_image_and_inpainting_share_the_loaded_components(tiny_model_dir, settings):
    from generation.engine.registry import get_model

    pipelines.clear_pipeline_cache()
    spec = get_model("tiny")
    base = pipelines.get_pipeline(spec)
    img2img = pipelines.get_task_pipeline(spec, ops.TASK_IMG2IMG)
    inpaint = pipelines.get_task_pipeline(spec, ops.TASK_INPAINT)
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    for derived in (img2img, inpaint):
        assert (
            derived.unet is base.unet
            and derived.vae is base.vae
            and derived.text_encoder is base.text_encoder
        )
    assert pipelines.get_task_pipeline(spec, ops.TASK_INPAINT) is inpaint, "made once per process"


@pytest.mark.parametrize(
    ("written", "rgb"),
    [
        ("teal", (0, 128, 128)),
        ("light blue", (173, 216, 230)),
        (" Dark-Green ", (0, 100, 0)),
        ("#1e90ff", (30, 144, 255)),
    ],
)
def test_a_recolour_takes_colour_names_as_people_write_them(written, rgb):
    assert masks.parse_colour(written) == rgb


@pytest.mark.parametrize("written", ["blurple", "light", "#12345", "rgb(1, 2)", ""])
def test_a_recolour_refuses_what_is_not_a_colour(written):
    with pytest.raises(ValueError, match="is not a colour"):
        masks.parse_colour(written)
