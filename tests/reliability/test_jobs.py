"""The job lease, the sweeper and the outbox (generation/jobs.py), in one process: each rule on its own.

tests/reliability/test_worker_failures.py proves the same with real workers that die.
"""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from generation import jobs, services
from generation.engine.runner import GenerationCanceledError
from generation.models import Asset, GenerationRequest
from tests.forms import generate_form_data, generation_parameters

Status = GenerationRequest.Status


def _parameters(**overrides) -> services.GenerationParameters:
    return generation_parameters(**{"num_images": 2, "seed": 5, **overrides})


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Messages the broker received (request ids), instead of a broker."""
    messages: list[int] = []
    monkeypatch.setattr("generation.tasks.run_generation_request.delay", messages.append)
    return messages


@pytest.fixture
def broker_down(monkeypatch) -> None:
    def refuse(_request_id: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("generation.tasks.run_generation_request.delay", refuse)


@pytest.fixture
def create(marketer, django_capture_on_commit_callbacks):
    """Make a request as the web app does, its message sent once the transaction commits."""

    def make(**overrides) -> GenerationRequest:
        with django_capture_on_commit_callbacks(execute=True):
            return services.generation_request_create(user=marketer, parameters=_parameters(**overrides))

    return make


def _silence(request: GenerationRequest, seconds: float = 3600) -> None:
    """As if its worker stopped beating `seconds` ago."""
    GenerationRequest.objects.filter(pk=request.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.django_db
def test_a_claim_records_the_lease_and_only_one_worker_gets_it(create, marketer, sent):
    request = create()
    lease = jobs.claim(request.pk)
    assert lease == jobs.Lease(request_id=request.pk, worker=jobs.worker_id(), attempt=1)
    assert jobs.claim(request.pk) is None
    request.refresh_from_db()
    assert (request.status, request.worker, request.attempts) == (Status.RUNNING, jobs.worker_id(), 1)
    assert request.heartbeat_at is not None


@pytest.mark.django_db
def test_a_silent_lease_goes_back_to_the_queue_and_the_next_attempt_starts_clean(
    create, marketer, sent, settings
):
    request = create()
    services.generation_request_claim(request_id=request.pk)
    request.refresh_from_db()
    # The first attempt stored its files and died before it committed them.
    for index in range(2):
        default_storage.save(services._result_key(request, 1, index), ContentFile(b"half-made"))
    assert jobs.release_if_dead(request) is None, "a live lease is left alone"

    _silence(request, settings.STUDIO_JOB_LEASE_SECONDS + 1)
    request.refresh_from_db()
    assert jobs.release_if_dead(request) == Status.QUEUED
    request.refresh_from_db()
    assert (request.status, request.worker, request.attempts, request.dispatched_at) == (
        Status.QUEUED,
        "",
        1,
        None,
    )

    lease = services.generation_request_claim(request_id=request.pk)
    assert lease.attempt == 2
    assert not any(default_storage.exists(services._result_key(request, 1, index)) for index in range(2))


@pytest.mark.django_db
def test_a_lease_on_this_host_whose_process_is_gone_is_dead_at_once(create, marketer, sent):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    request = create()
    jobs.claim(request.pk)
    GenerationRequest.objects.filter(pk=request.pk).update(
        worker=f"{jobs.worker_id().rpartition(':')[0]}:{child.pid}"
    )
    request.refresh_from_db()
    assert jobs.lease_is_dead(request.worker, request.heartbeat_at)
    assert not jobs.lease_is_dead(jobs.worker_id(), timezone.now())
    assert not jobs.lease_is_dead(f"another-host:{child.pid}", timezone.now()), (
        "elsewhere, only silence counts"
    )
    # A redelivered message finds it and runs it again at once.
    assert jobs.claim(request.pk).attempt == 2


@pytest.mark.django_db
def test_after_the_last_attempt_the_request_fails_with_the_reason(create, marketer, sent, settings):
    settings.STUDIO_JOB_MAX_ATTEMPTS = 2
    request = create()
    for attempt in (1, 2):
        assert jobs.claim(request.pk).attempt == attempt
        _silence(request)
        request.refresh_from_db()
        jobs.release_if_dead(request)
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert "stopped 2 times" in request.error and "attempt 2 of 2" in request.error
    assert jobs.claim(request.pk) is None


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_writes_nothing(create, marketer, sent):
    request = create(num_images=1)
    old = jobs.claim(request.pk)
    _silence(request)
    request.refresh_from_db()
    jobs.release_if_dead(request)
    new = jobs.claim(request.pk)
    assert new.attempt == 2

    assert not old.beat() and not old.finish(Status.FAILED, "late")
    stale = GenerationRequest.objects.get(pk=request.pk)
    stale.worker, stale.attempts = old.worker, old.attempt  # the old worker's view of the row
    from PIL import Image

    with pytest.raises(GenerationCanceledError):
        services.generation_request_complete(
            generation_request=stale, images=[Image.new("RGB", (64, 64))], seeds=[1]
        )
    assert not Asset.objects.exists()
    assert not default_storage.exists(services._result_key(stale, 1, 0)), "its files are deleted again"
    request.refresh_from_db()
    assert (request.status, request.attempts) == (Status.RUNNING, 2)


@pytest.mark.django_db
def test_cancel_is_immediate_when_the_worker_is_gone_and_at_the_next_step_otherwise(
    create, marketer, sent, client
):
    live = create()
    gone = create()
    jobs.claim(live.pk)
    jobs.claim(gone.pk)
    _silence(gone)
    client.force_login(marketer)

    page = client.post(reverse("generation:cancel", args=[gone.pk]), follow=True).content.decode()
    assert "Canceled." in page
    gone.refresh_from_db()
    assert gone.status == Status.CANCELED

    page = client.post(reverse("generation:cancel", args=[live.pk]), follow=True).content.decode()
    assert "stops after its current step" in page
    live.refresh_from_db()
    assert (live.status, live.cancel_requested) == (Status.RUNNING, True)


@pytest.mark.django_db
def test_a_request_made_while_the_broker_is_down_is_queued_and_sent_later(
    client, marketer, broker_down, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("generation:create"), generate_form_data(), follow=True)
    assert response.status_code == 200
    request = GenerationRequest.objects.get()
    assert request.status == Status.QUEUED and request.dispatched_at is None
    assert "Waiting for a worker" in response.content.decode()

    # The sweeper leaves it alone during the grace, and keeps it while the broker is still down.
    assert jobs.sweep()["sent"] == 0
    GenerationRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert jobs.sweep()["sent"] == 0
    request.refresh_from_db()
    assert request.dispatched_at is None

    sent: list[int] = []
    monkeypatch.setattr("generation.tasks.run_generation_request.delay", sent.append)
    assert jobs.sweep()["sent"] == 1
    assert sent == [request.pk]
    request.refresh_from_db()
    assert request.dispatched_at is not None
    assert jobs.sweep()["sent"] == 0, "sent once, not on every round"


@pytest.mark.django_db
def test_the_sweeper_releases_dead_leases_and_sends_them_again(create, marketer, sent, settings):
    request = create()
    assert sent == [request.pk]
    jobs.claim(request.pk)
    _silence(request)
    assert jobs.sweep() == {"released": 1, "failed": 0, "canceled": 0, "sent": 1}
    assert sent == [request.pk, request.pk]


@pytest.mark.django_db
def test_a_message_lost_by_the_broker_is_sent_again(create, marketer, sent, settings):
    request = create()
    assert jobs.sweep()["sent"] == 0
    GenerationRequest.objects.filter(pk=request.pk).update(
        dispatched_at=timezone.now() - timedelta(seconds=settings.STUDIO_JOB_REDISPATCH_SECONDS + 1)
    )
    assert jobs.sweep()["sent"] == 1
    assert sent == [request.pk, request.pk]


@pytest.mark.django_db
def test_the_request_page_shows_the_attempt(create, client, marketer, sent):
    request = create()
    jobs.claim(request.pk)
    _silence(request)
    request.refresh_from_db()
    jobs.release_if_dead(request)
    client.force_login(marketer)
    page = client.get(reverse("generation:request", args=[request.pk])).content.decode()
    assert "The worker running it stopped" in page
    jobs.claim(request.pk)
    page = client.get(reverse("generation:request", args=[request.pk])).content.decode()
    assert "attempt 2 of 3" in page


def test_job_settings_that_do_not_fit_together_stop_the_start(settings):
    settings.STUDIO_JOB_HEARTBEAT_SECONDS = 10
    settings.STUDIO_JOB_LEASE_SECONDS = 15
    settings.STUDIO_JOB_SOFT_TIME_LIMIT = 60
    settings.STUDIO_JOB_TIME_LIMIT = 30
    with pytest.raises(SystemCheckError) as error:
        call_command("check")
    message = str(error.value)
    assert "STUDIO_JOB_LEASE_SECONDS (15) must be at least three heartbeats" in message
    assert "STUDIO_TASK_TIME_LIMIT (30 s) must be longer than STUDIO_TASK_SOFT_TIME_LIMIT (60 s)" in message


@pytest.mark.django_db
def test_request_finished_is_sent_once_after_the_final_status_commits(
    create, sent, settings, django_capture_on_commit_callbacks
):
    from generation.signals import request_finished

    heard: list[tuple[int, str]] = []

    def listen(*, request_id: int, status: str, **_kwargs) -> None:
        heard.append((request_id, status))

    request_finished.connect(listen, weak=False)
    try:
        canceled, failed = create(), create()
        with django_capture_on_commit_callbacks(execute=True):
            jobs.cancel(canceled)
            jobs.cancel(canceled)
        settings.STUDIO_JOB_MAX_ATTEMPTS = 1
        jobs.claim(failed.pk)
        _silence(failed)
        failed.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            jobs.release_if_dead(failed)
            jobs.sweep()
    finally:
        request_finished.disconnect(listen)
    assert heard == [(canceled.pk, Status.CANCELED), (failed.pk, Status.FAILED)]


@pytest.mark.django_db
def test_a_request_its_owner_asked_to_cancel_is_not_retried_when_its_worker_dies(create, sent):
    request = create()
    jobs.claim(request.pk)
    assert jobs.cancel(request) == "stopping"
    _silence(request)
    assert jobs.sweep()["canceled"] == 1
    request.refresh_from_db()
    assert (request.status, request.attempts) == (Status.CANCELED, 1)
    assert sent == [request.pk], "not sent again"
