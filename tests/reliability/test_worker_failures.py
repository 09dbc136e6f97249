"""Workers that really die, hang or lose their job: each request still ends exactly once.

These start real worker processes (tests/workers.py) on this pass's broker and database: the filesystem
transport in the embedded pass (recovery by the sweeper), Redis in the services pass (recovery by late
acknowledgement with reject-on-worker-lost, and the sweeper behind it).
"""

import os
import random
import time

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from generation import services
from generation.models import Asset, GenerationRequest
from review.models import AssetReview
from tests.conftest import wait_for, worker_env
from tests.forms import generation_parameters
from tests.workers import Worker, kill_process

Status = GenerationRequest.Status

# Quick recovery for tests: a heartbeat every half second, a lease of three seconds, a sweep twice a second.
FAST_RECOVERY = {
    "STUDIO_JOB_HEARTBEAT_SECONDS": "0.5",
    "STUDIO_JOB_LEASE_SECONDS": "3",
    "STUDIO_JOB_SWEEP_SECONDS": "0.5",
    "STUDIO_JOB_OUTBOX_GRACE_SECONDS": "1",
}
# Twenty trials on the production transport (Redis: late acknowledgement, reject-on-worker-lost, the
# sweeper behind them); six on the embedded one, enough for the sweeper's recovery alone (one of them loses
# the whole worker), so the suite stays within its time.
TRIALS = 20 if os.environ.get("STUDIO_TEST_PASS") == "services" else 6


def _parameters(**overrides) -> services.GenerationParameters:
    return generation_parameters(**{"num_images": 2, "steps": 12, **overrides})


@pytest.fixture
def start_worker(transactional_db, tiny_model_dir, media_root):
    """Start workers with faults and settings of the test's choosing; all are stopped (and their logs shown)
    at the end."""
    from studio.celery import app

    app.control.purge()
    started: list[Worker] = []

    def start(faults: dict[str, str] | None = None, **settings: str) -> Worker:
        env = {**worker_env(media_root), **FAST_RECOVERY, **settings}
        worker = Worker(env=env, log_path=media_root.parent / "worker.log", faults=faults).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    if started:
        print(started[-1].log_tail())


def _finished(request_id: int, timeout: float = 120) -> GenerationRequest:
    return wait_for(
        lambda: GenerationRequest.objects.filter(
            pk=request_id, status__in=GenerationRequest.FINISHED_STATUSES
        ).first(),
        timeout=timeout,
    )


def _running_at_step(request_id: int, step: int) -> GenerationRequest:
    return wait_for(
        lambda: GenerationRequest.objects.filter(
            pk=request_id, status=Status.RUNNING, progress_step__gte=step
        ).first(),
        timeout=120,
        interval=0.05,
    )


def _stored_files() -> list[str]:
    names: list[str] = []

    def walk(folder: str) -> None:
        folders, files = default_storage.listdir(folder)
        names.extend(f"{folder}/{name}" for name in files)
        for child in folders:
            walk(f"{folder}/{child}")

    if default_storage.exists("generated"):
        walk("generated")
    return sorted(names)


def _job_pid(request: GenerationRequest) -> int:
    return int(request.worker.rpartition(":")[2])


def test_sigkills_mid_generation_each_end_with_exactly_one_result_set(start_worker, marketer):
    worker = start_worker(faults={"STUDIO_FAULT_STEP_DELAY": "0.12"})
    rng = random.Random(2026)
    outcomes = []
    for trial in range(TRIALS):
        # One trial in four loses the whole worker (main process and child, as a lost machine) and starts a
        # new one; the others kill only the process running the job, as the out-of-memory killer would.
        whole_worker = trial % 4 == 3
        kill_at = rng.randint(2, 8)
        request = services.generation_request_create(user=marketer, parameters=_parameters(seed=trial))
        running = _running_at_step(request.pk, kill_at)
        began = time.monotonic()
        if whole_worker:
            worker.kill()
            worker = start_worker(faults={"STUDIO_FAULT_STEP_DELAY": "0.12"})
        else:
            kill_process(_job_pid(running))
        finished = _finished(request.pk)
        outcomes.append((trial, "worker" if whole_worker else "job process", kill_at, finished.attempts))

        assert (finished.status, finished.error) == (Status.SUCCEEDED, ""), outcomes
        assert finished.attempts == 2, "the killed attempt counts, and one more finished it"
        assets = list(Asset.objects.filter(request=request).order_by("index"))
        assert [asset.index for asset in assets] == [0, 1]
        assert AssetReview.objects.filter(asset__in=assets).count() == 2
        for asset in assets:
            assert asset.file.name == services._result_key(finished, 2, asset.index)
            assert default_storage.exists(asset.file.name)
        # Exactly the committed files exist: nothing the killed attempt stored is left behind.
        assert _stored_files() == sorted(a.file.name for a in Asset.objects.filter(request__isnull=False))
        print(
            f"trial {trial}: killed the {outcomes[-1][1]} at step {kill_at}; recovered and finished in "
            f"{time.monotonic() - began:.1f} s"
        )
    assert len(outcomes) == TRIALS


def test_a_request_that_keeps_killing_its_worker_fails_after_the_last_attempt(start_worker, marketer):
    start_worker(faults={"STUDIO_FAULT_KILL_AT_STEP": "2", "STUDIO_FAULT_PROMPT": "poison"})
    request = services.generation_request_create(
        user=marketer, parameters=_parameters(prompt="a poison apple")
    )
    finished = _finished(request.pk)
    assert finished.status == Status.FAILED
    assert finished.attempts == 3
    assert "stopped 3 times" in finished.error
    assert not Asset.objects.filter(request=request).exists()
    assert _stored_files() == []
    # The worker is still there for the next request.
    healthy = services.generation_request_create(user=marketer, parameters=_parameters(steps=3))
    assert _finished(healthy.pk).status == Status.SUCCEEDED


def test_a_hung_job_is_failed_with_the_reason_and_its_worker_runs_the_next_one(start_worker, marketer):
    start_worker(
        faults={"STUDIO_FAULT_HANG_AT_STEP": "2", "STUDIO_FAULT_PROMPT": "stuck"},
        # The limits count from the claim, and a new pool process takes a few seconds to load the model.
        STUDIO_TASK_SOFT_TIME_LIMIT="8",
        STUDIO_TASK_TIME_LIMIT="12",
    )
    hung = services.generation_request_create(user=marketer, parameters=_parameters(prompt="a stuck apple"))
    running = _running_at_step(hung.pk, 1)
    finished = _finished(hung.pk, timeout=60)
    assert finished.status == Status.FAILED
    assert "took longer than" in finished.error
    assert finished.attempts == 1, "a job that hung is failed, not retried"
    next_request = services.generation_request_create(user=marketer, parameters=_parameters(steps=3))
    after = _finished(next_request.pk, timeout=60)
    assert after.status == Status.SUCCEEDED
    assert _job_pid(after) != _job_pid(running), "the pool replaced the process the watchdog stopped"


def test_a_slow_job_stops_at_the_soft_time_limit_without_losing_its_worker(start_worker, marketer):
    start_worker(
        faults={"STUDIO_FAULT_STEP_DELAY": "1", "STUDIO_FAULT_PROMPT": "slow"},
        STUDIO_TASK_SOFT_TIME_LIMIT="2",
        STUDIO_TASK_TIME_LIMIT="30",
    )
    slow = services.generation_request_create(user=marketer, parameters=_parameters(prompt="a slow apple"))
    finished = _finished(slow.pk, timeout=60)
    assert finished.status == Status.FAILED
    assert "took longer than" in finished.error
    assert finished.progress_step < 12
    next_request = services.generation_request_create(user=marketer, parameters=_parameters(steps=3))
    after = _finished(next_request.pk, timeout=60)
    assert after.status == Status.SUCCEEDED
    assert _job_pid(after) == _job_pid(finished), "the soft limit stops the job, not the process"


def test_cancel_on_a_request_whose_worker_is_gone_cancels_at_once(start_worker, marketer, client):
    worker = start_worker(faults={"STUDIO_FAULT_STEP_DELAY": "0.5"})
    request = services.generation_request_create(user=marketer, parameters=_parameters())
    _running_at_step(request.pk, 2)
    worker.kill()
    client.force_login(marketer)
    response = client.post(reverse("generation:cancel", args=[request.pk]), follow=True)
    request.refresh_from_db()
    assert request.status == Status.CANCELED
    assert "Canceled." in response.content.decode()
    assert not Asset.objects.filter(request=request).exists()
