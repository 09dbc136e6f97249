import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse
from PIL import Image

from generation import services
from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA
from generation.imagefile import read_png_parameters
from generation.models import Asset, GenerationRequest
from review.models import AssetReview, ReviewState
from tests.concurrency import at_once
from tests.conftest import wait_for
from tests.forms import generate_form_data, generation_parameters

Status = GenerationRequest.Status


def _parameters(**overrides) -> services.GenerationParameters:
    """Two images, with a style, a negative prompt and campaign tags: every field is stored."""
    values = {
        "negative_prompt": "blurry",
        "style": "product-photography",
        "num_images": 2,
        "seed": 1234,
        "steps": 3,
        "campaign": "Autumn",
        "product": "Apple",
    }
    return generation_parameters(**{**values, **overrides})


@pytest.mark.django_db
def test_marketer_posts_the_form_and_the_request_is_queued_after_commit(
    client, marketer, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr("generation.tasks.run_generation_request.delay", sent.append)
    client.force_login(marketer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("generation:create"), generate_form_data(seed=""))

    request = GenerationRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("generation:request", args=[request.pk])
    assert request.status == Status.QUEUED
    assert 0 <= request.seed < 2**32, "a blank seed is replaced by a random one that is stored"
    assert sent == [], "nothing is enqueued before the transaction commits"
    for callback in callbacks:
        callback()
    assert sent == [request.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt": ""}, "This field is required"),
        ({"width": "100"}, "in multiples of 8. The nearest to 100 x 64 it makes is 96 x 64."),
        ({"width": "4096"}, "makes each side from 64 to 512 px"),
        ({"num_images": "5"}, "less than or equal to 4"),
        ({"steps": "0"}, "greater than or equal to 1"),
        ({"seed": "-1"}, "greater than or equal to 0"),
        ({"model": "nope"}, "Select a valid choice"),
        (
            {"size": "custom", "height": ""},
            "Give a height for a custom size. Tiny test pipeline makes each side",
        ),
    ],
)
def test_bad_generation_input_is_a_400_and_changes_nothing(client, marketer, overrides, message):
    client.force_login(marketer)
    response = client.post(reverse("generation:create"), generate_form_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_reviewer_without_generate_permission_cannot_generate(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("generation:create")).status_code == 403


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(reverse("generation:create"))
    assert response.status_code == 302
    assert reverse("login") in response.url


@pytest.mark.django_db
def test_executing_a_request_stores_pngs_with_parameters_and_queues_them_for_review(
    marketer, tiny_model_dir, django_capture_on_commit_callbacks, no_enqueue
):
    request = services.generation_request_create(user=marketer, parameters=_parameters())

    with django_capture_on_commit_callbacks(execute=True):
        status = services.generation_request_execute(request_id=request.pk)

    request.refresh_from_db()
    assert status == Status.SUCCEEDED
    assert request.status == Status.SUCCEEDED
    assert request.progress_step == request.progress_total == 3
    assert request.scheduler
    assets = list(request.assets.order_by("index"))
    assert [asset.seed for asset in assets] == [1234, 1235]
    for asset in assets:
        assert asset.file.name.startswith("generated/") and asset.file.name.endswith(".png")
        assert "apple" not in asset.file.name, "storage keys are server-generated, never user text"
        data = default_storage.open(asset.file.name).read()
        embedded = read_png_parameters(data)
        assert embedded["seed"] == asset.seed
        assert embedded["steps"] == 3
        assert embedded["prompt"].startswith("a product photo of a red apple")
        assert TRAINED_ALGORITHMIC_MEDIA.encode() in data
        assert (asset.width, asset.height) == (64, 64)
        assert asset.review.state == ReviewState.IN_REVIEW


@pytest.mark.django_db
def test_same_seed_gives_the_same_image(marketer, tiny_model_dir, no_enqueue):
    pixels = []
    for _ in range(2):
        request = services.generation_request_create(user=marketer, parameters=_parameters(num_images=1))
        services.generation_request_execute(request_id=request.pk)
        with Image.open(request.assets.get().file.open("rb")) as image:
            pixels.append(image.tobytes())
    assert pixels[0] == pixels[1]


@pytest.mark.django_db
def test_a_request_is_claimed_only_once(marketer, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters())
    assert services.generation_request_claim(request_id=request.pk) is not None
    assert services.generation_request_claim(request_id=request.pk) is None
    assert services.generation_request_execute(request_id=request.pk) == "skipped"


@pytest.mark.django_db
def test_canceling_a_queued_request_means_the_worker_never_runs_it(marketer, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters())
    assert services.generation_request_cancel(generation_request=request)
    assert services.generation_request_execute(request_id=request.pk) == "skipped"
    request.refresh_from_db()
    assert request.status == Status.CANCELED
    assert not Asset.objects.exists()


@pytest.mark.django_db
def test_canceling_a_running_request_stops_it_at_the_next_step(
    marketer, tiny_model_dir, no_enqueue, monkeypatch
):
    request = services.generation_request_create(user=marketer, parameters=_parameters(steps=6))
    original = services.generation_request_report_progress
    seen: list[int] = []

    def cancel_after_two(*, request_id: int, step: int, total: int) -> bool:
        seen.append(step)
        if step == 2:
            services.generation_request_cancel(
                generation_request=GenerationRequest.objects.get(pk=request_id)
            )
        return original(request_id=request_id, step=step, total=total)

    monkeypatch.setattr(services, "generation_request_report_progress", cancel_after_two)
    assert services.generation_request_execute(request_id=request.pk) == Status.CANCELED
    request.refresh_from_db()
    assert request.status == Status.CANCELED
    assert seen == [1, 2]
    assert not Asset.objects.exists()
    assert not default_storage.listdir("")[1]


@pytest.mark.django_db
def test_a_missing_model_fails_with_a_readable_reason(marketer, settings, no_enqueue, tmp_path):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "gone": {"label": "Gone", "source": str(tmp_path / "missing"), "tasks": ["text2img"]},
    }
    request = services.generation_request_create(user=marketer, parameters=_parameters(model_key="gone"))
    assert services.generation_request_execute(request_id=request.pk) == Status.FAILED
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert "does not exist" in request.error


@pytest.mark.django_db
def test_request_page_serves_the_progress_fragment_to_htmx(client, marketer, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters(steps=4))
    services.generation_request_claim(request_id=request.pk)
    services.generation_request_report_progress(request_id=request.pk, step=1, total=4)
    client.force_login(marketer)

    page = client.get(reverse("generation:request", args=[request.pk]))
    fragment = client.get(reverse("generation:request", args=[request.pk]), headers={"HX-Request": "true"})

    assert "<html" in page.content.decode()
    # One URL, two answers: a cache must not hand the fragment to a page load, or the page to htmx.
    assert "HX-Request" in page["Vary"] and "HX-Request" in fragment["Vary"]
    body = fragment.content.decode()
    assert "<html" not in body
    assert 'value="25"' in body and "Step 1 of 4" in body
    assert "hx-trigger" in body, "an unfinished request keeps polling"


@pytest.mark.django_db
def test_only_the_creator_can_cancel(client, marketer, reviewer, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters())
    client.force_login(reviewer)
    assert client.post(reverse("generation:cancel", args=[request.pk])).status_code == 403
    client.force_login(marketer)
    assert client.post(reverse("generation:cancel", args=[request.pk])).status_code == 302
    request.refresh_from_db()
    assert request.status == Status.CANCELED


def test_a_real_worker_process_runs_the_request(celery_worker_process, marketer):
    request = services.generation_request_create(user=marketer, parameters=_parameters(num_images=1))
    finished = wait_for(
        lambda: (
            GenerationRequest.objects.filter(pk=request.pk, status__in=GenerationRequest.FINISHED_STATUSES)
            .values_list("status", "error")
            .first()
        )
    )
    assert finished == (Status.SUCCEEDED, "")
    asset = Asset.objects.get(request=request)
    assert default_storage.exists(asset.file.name)
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


@pytest.mark.services
def test_worker_on_redis_and_postgresql_runs_the_request(celery_worker_process, marketer, settings):
    assert connection.vendor == "postgresql"
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    test_a_real_worker_process_runs_the_request(celery_worker_process, marketer)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_on_postgresql_let_exactly_one_worker_win(marketer, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters())

    def claim() -> bool:
        return services.generation_request_claim(request_id=request.pk) is not None

    assert sorted(at_once(claim, claim, claim, claim)) == [False, False, False, True]
