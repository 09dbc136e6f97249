"""The request page while a request waits, loads its model, runs and is canceled."""

import pytest
from django.urls import reverse

from generation import jobs, services
from generation.engine.pipelines import clear_pipeline_cache
from generation.models import GenerationRequest
from tests.forms import generation_parameters

Status = GenerationRequest.Status


@pytest.fixture
def queued(marketer, no_enqueue):
    """A queued request of the tiny model's, its message never sent: no worker takes it unless a test does."""
    return services.generation_request_create(user=marketer, parameters=generation_parameters(steps=4))


def _fragment(client, generation_request: GenerationRequest) -> str:
    url = reverse("generation:request", args=[generation_request.pk])
    return client.get(url, headers={"HX-Request": "true"}).content.decode()


def _cancel_with_htmx(client, generation_request: GenerationRequest) -> str:
    url = reverse("generation:cancel", args=[generation_request.pk])
    return client.post(url, headers={"HX-Request": "true"}).content.decode()


@pytest.mark.django_db
def test_a_queued_request_is_waiting_for_a_worker(client, marketer, queued):
    client.force_login(marketer)
    assert "Waiting for a worker…" in _fragment(client, queued)


@pytest.mark.django_db
def test_a_picked_up_request_says_its_model_is_loading_then_counts_steps(client, marketer, queued):
    client.force_login(marketer)
    jobs.claim(queued.pk)
    assert "Starting…" in _fragment(client, queued)
    GenerationRequest.objects.filter(pk=queued.pk).update(loading_model=True)
    body = _fragment(client, queued)
    assert "Loading the model…" in body and "Step" not in body
    GenerationRequest.objects.filter(pk=queued.pk).update(loading_model=False)
    services.generation_request_report_progress(request_id=queued.pk, step=2, total=4)
    assert "Step 2 of 4" in _fragment(client, queued)


@pytest.mark.django_db
def test_the_job_records_that_it_loads_its_model_only_while_it_does(queued, tiny_model_dir, monkeypatch):
    """The first job in a process loads the model (the page says so); the next finds it loaded."""
    seen_while_loading: list[bool] = []
    load = services.scheduler_name

    def load_and_look(spec):
        seen_while_loading.append(GenerationRequest.objects.get(pk=queued.pk).loading_model)
        return load(spec)

    monkeypatch.setattr(services, "scheduler_name", load_and_look)
    clear_pipeline_cache()
    assert services.generation_request_execute(request_id=queued.pk) == Status.SUCCEEDED
    again = services.generation_request_create(user=queued.created_by, parameters=_same_as(queued))
    assert services.generation_request_execute(request_id=again.pk) == Status.SUCCEEDED

    assert seen_while_loading == [True, False]
    assert not GenerationRequest.objects.filter(loading_model=True).exists()


def _same_as(generation_request: GenerationRequest) -> services.GenerationParameters:
    return services.GenerationParameters(
        prompt=generation_request.prompt,
        negative_prompt="",
        style="none",
        model_key=generation_request.model_key,
        width=generation_request.width,
        height=generation_request.height,
        num_images=generation_request.num_images,
        seed=generation_request.seed,
        steps=generation_request.steps,
        guidance=generation_request.guidance,
    )


@pytest.mark.django_db
def test_canceling_a_queued_request_shows_canceled_at_once(client, marketer, queued):
    client.force_login(marketer)
    body = _cancel_with_htmx(client, queued)
    assert 'data-status="canceled"' in body
    assert "hx-trigger" not in body, "a finished request stops polling"
    assert 'id="cancel"' not in body


@pytest.mark.django_db
def test_canceling_a_running_request_shows_stopping_until_its_worker_stops(client, marketer, queued):
    client.force_login(marketer)
    lease = jobs.claim(queued.pk)  # held by this live process: the worker stops at its next step
    services.generation_request_report_progress(request_id=queued.pk, step=1, total=4)

    body = _cancel_with_htmx(client, queued)
    assert 'data-status="running"' in body and "hx-trigger" in body
    assert '<button type="button" id="cancel" class="danger" disabled>Stopping…</button>' in body
    assert "Step 1 of 4" in body
    assert "disabled>Stopping…" in _fragment(client, queued), "the page keeps saying so while it polls"

    assert not services.generation_request_report_progress(request_id=queued.pk, step=2, total=4)
    lease.finish(Status.CANCELED)  # what the worker does when its step report says stop
    body = _fragment(client, queued)
    assert 'data-status="canceled"' in body and 'id="cancel"' not in body


@pytest.mark.django_db
def test_canceling_without_htmx_redirects_to_the_page_with_a_message(client, marketer, queued):
    client.force_login(marketer)
    jobs.claim(queued.pk)
    response = client.post(reverse("generation:cancel", args=[queued.pk]), follow=True)
    assert response.redirect_chain == [(reverse("generation:request", args=[queued.pk]), 302)]
    assert "Stopping: the generation stops after its current step." in response.content.decode()


@pytest.mark.django_db
def test_only_the_creator_can_cancel_with_htmx_too(client, reviewer, queued):
    client.force_login(reviewer)
    url = reverse("generation:cancel", args=[queued.pk])
    assert client.post(url, headers={"HX-Request": "true"}).status_code == 403
    queued.refresh_from_db()
    assert queued.status == Status.QUEUED
