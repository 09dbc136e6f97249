"""Failures stay contained: nothing committed points at a deleted file, users see a reason and not a
traceback, originals are not cached, public ids publish nothing the team did not choose."""

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from generation import services
from generation.models import Asset, GenerationRequest
from generation.signals import assets_created
from review.models import AssetReview
from tests.conftest import checklist_all
from tests.forms import generation_parameters


def _running_request(user) -> GenerationRequest:
    return GenerationRequest.objects.create(
        created_by=user,
        prompt="a pear",
        full_prompt="a pear",
        model_key="tiny",
        width=64,
        height=64,
        seed=1,
        steps=2,
        guidance=5.0,
        status=GenerationRequest.Status.RUNNING,
    )


def _stored_files() -> list[str]:
    folders = [""]
    files: list[str] = []
    while folders:
        folder = folders.pop()
        subfolders, names = default_storage.listdir(folder)
        folders += [f"{folder}/{name}".lstrip("/") for name in subfolders]
        files += [f"{folder}/{name}".lstrip("/") for name in names]
    return files


@pytest.mark.django_db
def test_new_assets_and_their_review_rows_commit_together(marketer):
    [asset] = services.generation_request_complete(
        generation_request=_running_request(marketer), images=[Image.new("RGB", (64, 64))], seeds=[1]
    )
    # No on-commit hook had to run: the review row was written in the assets' own transaction.
    assert AssetReview.objects.filter(asset=asset).exists()


@pytest.mark.django_db
def test_a_failing_receiver_rolls_the_assets_back_and_leaves_no_files(marketer):
    def broken_receiver(sender, assets, **kwargs):
        raise RuntimeError("a receiver failed")

    assets_created.connect(broken_receiver, dispatch_uid="test-broken-receiver")
    request = _running_request(marketer)
    try:
        with pytest.raises(RuntimeError, match="a receiver failed"):
            services.generation_request_complete(
                generation_request=request, images=[Image.new("RGB", (64, 64))], seeds=[1]
            )
    finally:
        assets_created.disconnect(dispatch_uid="test-broken-receiver")
    assert not Asset.objects.exists()
    assert _stored_files() == []
    request.refresh_from_db()
    assert request.status == GenerationRequest.Status.RUNNING, "the success was rolled back too"


@pytest.mark.django_db
def test_a_model_failure_shows_a_reason_not_a_traceback(marketer, no_enqueue, monkeypatch):

    def explode(*args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert triggered at /pytorch/aten/src/kernel.cu:93")

    monkeypatch.setattr(services, "generate_images", explode)
    monkeypatch.setattr(services, "scheduler_name", lambda spec: "Euler")
    request = services.generation_request_create(
        user=marketer,
        parameters=generation_parameters(prompt="a pear"),
    )
    assert services.generation_request_execute(request_id=request.pk) == "failed"
    request.refresh_from_db()
    assert "Try again" in request.error and f"request {request.pk}" in request.error
    assert "CUDA" not in request.error and "RuntimeError" not in request.error


@pytest.mark.django_db
@pytest.mark.parametrize(("fmt", "content_type"), [("png", "image/png"), ("jpg", "image/jpeg")])
def test_originals_have_their_real_content_type_and_are_never_cached(
    client, marketer, make_asset, fmt, content_type
):
    asset = make_asset()
    Asset.objects.filter(pk=asset.pk).update(format=fmt)
    client.force_login(marketer)
    response = client.get(f"/assets/{asset.pk}/file/")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_public_ids_carry_the_product_tag_never_the_prompt(make_asset, reviewer):
    from review import decisions as review_decisions

    asset = make_asset(prompt="a secret launch of the Model Z phone")
    asset.product = "Autumn Mug"
    asset.save()
    review = review_decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    assert review.public_id.startswith("autumn-mug-")
    assert "secret" not in review.public_id and "phone" not in review.public_id
