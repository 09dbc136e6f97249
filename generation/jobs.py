"""Where a request's job stands between the web app, the broker and the workers.

A request runs exactly once, however workers, the broker or the database fail:

- **Dispatch with an outbox.** The web app sends the request's message after its row commits. If the
  broker is down the row stays queued with no ``dispatched_at`` and the user still sees "queued"; the
  workers' sweeper sends it once the broker is back, and sends a message again if a queued request has
  waited so long that its message was probably lost (a broker that keeps nothing on disk restarted).
  Extra messages are harmless: only one claim succeeds.
- **A lease in the database.** A worker claims a request by a conditional update that records the worker
  process (``host:pid``) and counts the attempt. While it runs, a heartbeat thread refreshes
  ``heartbeat_at``; every write the job makes afterwards names the worker and the attempt, so a worker
  that lost its lease can never finish or fail a request another worker has taken over.
- **Recovery.** A lease is dead when its heartbeat is older than ``STUDIO_JOB_LEASE_SECONDS``, or at once
  when its process is on this host and gone. A dead lease returns the request to the queue (or fails it
  after ``STUDIO_JOB_MAX_ATTEMPTS``), whether a redelivered message (late ack with reject-on-worker-lost)
  or the sweeper finds it first. The next attempt starts from a clean state: the files an earlier attempt
  may have stored are deleted, and the unique (request, index) constraint allows one set of assets.
- **Time limits, whatever the pool.** The heartbeat thread is also a watchdog: past the soft limit it
  asks the job to stop at its next step; past the hard limit it fails the request and kills its own
  process, which the prefork pool replaces, so a job stuck inside a library call cannot hold a worker.
"""

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.models import GenerationRequest
from generation.signals import request_finished
from studio.periodic import OnePerProcess

logger = logging.getLogger(__name__)

Status = GenerationRequest.Status


def worker_id() -> str:
    """This process, as a lease names it (the pid differs in each prefork child, so it is read each time)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lease_is_dead(worker: str, heartbeat_at: datetime | None, *, now: datetime | None = None) -> bool:
    """True when the worker holding a lease can no longer be running the job.

    A silent heartbeat says so after the lease time; a worker on this host whose process is gone says so
    at once (the web app and the workers of one machine find a killed worker without waiting).
    """
    now = now or timezone.now()
    if heartbeat_at is None or heartbeat_at < now - timedelta(seconds=settings.STUDIO_JOB_LEASE_SECONDS):
        return True
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and _process_is_gone(int(pid))


@dataclass(frozen=True)
class Lease:
    """A worker's hold on one attempt of a request. Writes made under it change nothing once it is lost."""

    request_id: int
    worker: str
    attempt: int

    def rows(self):
        return GenerationRequest.objects.filter(
            pk=self.request_id, status=Status.RUNNING, worker=self.worker, attempts=self.attempt
        )

    def beat(self) -> bool:
        """Refresh the heartbeat; False when the lease is gone (finished, canceled or taken over)."""
        return self.rows().update(heartbeat_at=timezone.now()) == 1

    def finish(self, status: str, error: str = "") -> bool:
        finished = self.rows().update(status=status, error=error[:2000], finished_at=timezone.now()) == 1
        if finished:
            announce_finished(self.request_id, status)
        return finished


def announce_finished(request_id: int, status: str) -> None:
    """Tell other apps (webhooks) that a request ended, once the write that ended it commits."""
    transaction.on_commit(
        lambda: request_finished.send(sender=GenerationRequest, request_id=request_id, status=status)
    )


def lease_of(generation_request: GenerationRequest) -> Lease:
    return Lease(
        request_id=generation_request.pk,
        worker=generation_request.worker,
        attempt=generation_request.attempts,
    )


def _attempts_exhausted_reason(attempts: int) -> str:
    return (
        f"The worker running this request stopped {attempts} times before it finished (attempt {attempts} "
        f"of {settings.STUDIO_JOB_MAX_ATTEMPTS}), so Studio stopped retrying it. A request that needs more "
        "memory than the worker has does this: try fewer or smaller images."
    )


def time_limit_reason() -> str:
    minutes = settings.STUDIO_JOB_SOFT_TIME_LIMIT / 60
    limit = f"{minutes:g} minute" + ("" if minutes == 1 else "s")
    return (
        f"This request took longer than the {limit} a job may run, so Studio stopped it. Try fewer steps, "
        "fewer images or a smaller size."
    )


def release_if_dead(generation_request: GenerationRequest) -> str | None:
    """Return a running request whose worker died to the queue, or fail it after the last attempt.

    Conditional on the lease the caller saw, so of the workers, sweepers and cancels that race here one
    wins. Returns the request's new status, or None when its lease is alive or someone else moved it.
    """
    if generation_request.status != Status.RUNNING or not lease_is_dead(
        generation_request.worker, generation_request.heartbeat_at
    ):
        return None
    rows = GenerationRequest.objects.filter(
        pk=generation_request.pk,
        status=Status.RUNNING,
        worker=generation_request.worker,
        attempts=generation_request.attempts,
        heartbeat_at=generation_request.heartbeat_at,
    )
    if generation_request.cancel_requested:
        # Its owner asked to cancel before the worker died: done, not retried.
        moved = rows.update(status=Status.CANCELED, finished_at=timezone.now())
        new_status = Status.CANCELED
    elif generation_request.attempts >= settings.STUDIO_JOB_MAX_ATTEMPTS:
        moved = rows.update(
            status=Status.FAILED,
            error=_attempts_exhausted_reason(generation_request.attempts),
            finished_at=timezone.now(),
        )
        new_status = Status.FAILED
    else:
        moved = rows.update(
            status=Status.QUEUED, worker="", heartbeat_at=None, progress_step=0, dispatched_at=None
        )
        new_status = Status.QUEUED
    if moved:
        if new_status != Status.QUEUED:
            announce_finished(generation_request.pk, new_status)
        logger.warning(
            "Request %s: worker %s stopped during attempt %s; now %s",
            generation_request.pk,
            generation_request.worker,
            generation_request.attempts,
            new_status,
        )
        return new_status
    return None


def claim(request_id: int) -> Lease | None:
    """Take a queued request for this worker process; None when it is running elsewhere, finished or canceled.

    A request left running by a worker that died is released first, so a redelivered message resumes it.
    """
    current = GenerationRequest.objects.filter(pk=request_id).first()
    if current is None:
        return None
    if current.status == Status.RUNNING:
        release_if_dead(current)
    now = timezone.now()
    me = worker_id()
    claimed = GenerationRequest.objects.filter(
        pk=request_id, status=Status.QUEUED, attempts__lt=settings.STUDIO_JOB_MAX_ATTEMPTS
    ).update(
        status=Status.RUNNING,
        worker=me,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        started_at=now,
        progress_step=0,
        loading_model=False,
    )
    if claimed != 1:
        return None
    attempt = GenerationRequest.objects.values_list("attempts", flat=True).get(pk=request_id)
    return Lease(request_id=request_id, worker=me, attempt=attempt)


def cancel(generation_request: GenerationRequest) -> str:
    """Cancel a request: "canceled" at once when queued or its worker is gone, "stopping" when a live worker
    will stop at its next step, "" when it had already finished."""
    now = timezone.now()
    if GenerationRequest.objects.filter(pk=generation_request.pk, status=Status.QUEUED).update(
        status=Status.CANCELED, cancel_requested=True, finished_at=now
    ):
        announce_finished(generation_request.pk, Status.CANCELED)
        return "canceled"
    current = GenerationRequest.objects.filter(pk=generation_request.pk, status=Status.RUNNING).first()
    if current is None:
        return ""
    if lease_is_dead(current.worker, current.heartbeat_at, now=now) and lease_of(current).rows().update(
        status=Status.CANCELED, cancel_requested=True, finished_at=now
    ):
        announce_finished(generation_request.pk, Status.CANCELED)
        return "canceled"
    if GenerationRequest.objects.filter(pk=generation_request.pk, status=Status.RUNNING).update(
        cancel_requested=True
    ):
        return "stopping"
    return ""


# --- Dispatch and the outbox ------------------------------------------------------------------------------


def dispatch(request_id: int) -> bool:
    """Send the request's message to the broker. When the broker cannot be reached, log it and leave the
    request in the outbox (no ``dispatched_at``) for the sweeper: True when sent."""
    from generation.tasks import run_generation_request

    try:
        run_generation_request.delay(request_id)
    except Exception as error:  # kombu and redis raise several types for an unreachable broker
        logger.warning(
            "Could not queue request %s (%s); a worker will send it when the broker is back",
            request_id,
            error,
        )
        return False
    try:
        GenerationRequest.objects.filter(pk=request_id, status=Status.QUEUED).update(
            dispatched_at=timezone.now()
        )
    except DatabaseError:
        logger.warning(
            "Request %s was queued but its dispatch time was not recorded", request_id, exc_info=True
        )
    return True


def dispatch_on_commit(request_id: int) -> None:
    transaction.on_commit(lambda: dispatch(request_id))


def sweep() -> dict[str, int]:
    """One pass of the workers' sweeper: release requests whose worker died, and send the outbox.

    Returns what it did, by kind, for logs and tests.
    """
    now = timezone.now()
    done = {"released": 0, "failed": 0, "canceled": 0, "sent": 0}
    running = GenerationRequest.objects.filter(status=Status.RUNNING).only(
        "pk", "status", "worker", "heartbeat_at", "attempts", "cancel_requested"
    )
    for generation_request in running:
        outcome = release_if_dead(generation_request)
        if outcome == Status.QUEUED:
            done["released"] += 1
        elif outcome == Status.FAILED:
            done["failed"] += 1
        elif outcome == Status.CANCELED:
            done["canceled"] += 1
    # Never sent (the broker was down, or the sender died before sending): a few seconds' grace lets the web
    # app's own send land first. Sent long ago and still queued: the message was probably lost.
    unsent = Q(
        dispatched_at__isnull=True,
        created_at__lt=now - timedelta(seconds=settings.STUDIO_JOB_OUTBOX_GRACE_SECONDS),
    )
    stale = Q(dispatched_at__lt=now - timedelta(seconds=settings.STUDIO_JOB_REDISPATCH_SECONDS))
    # Released requests were just given an empty dispatch time; they are sent now, without the grace.
    released = Q(dispatched_at__isnull=True, attempts__gt=0)
    waiting = GenerationRequest.objects.filter(Q(status=Status.QUEUED) & (unsent | stale | released))
    for request_id, dispatched_at in waiting.values_list("pk", "dispatched_at").order_by("created_at")[:500]:
        # Take the send conditionally, so two sweepers never send the same request twice in one round.
        if not GenerationRequest.objects.filter(
            pk=request_id, status=Status.QUEUED, dispatched_at=dispatched_at
        ).update(dispatched_at=now):
            continue
        if dispatch(request_id):
            done["sent"] += 1
        else:
            GenerationRequest.objects.filter(pk=request_id, dispatched_at=now).update(dispatched_at=None)
            break  # the broker is down: the next round tries again
    return done


_sweeper = OnePerProcess(
    "studio-job-sweeper", seconds=lambda: settings.STUDIO_JOB_SWEEP_SECONDS, work=lambda: sweep()
)


def start_sweeper(**_kwargs) -> None:
    """Connected to Celery's ``worker_ready``: one sweeper per worker."""
    _sweeper.start()


# --- The running job's heartbeat and watchdog -------------------------------------------------------------


class Watch:
    """What a running job consults between steps, kept current by a heartbeat-and-watchdog thread."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = threading.Event()  # canceled as dead, taken over, or finished by someone else
        self.expired = threading.Event()  # past the soft time limit
        self._done = threading.Event()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None

    def keep_going(self) -> bool:
        return not (self.lost.is_set() or self.expired.is_set())

    def __enter__(self) -> "Watch":
        # A job run inside a caller's transaction (a test, a shell) has no other process to take it over,
        # and a second connection could not see its rows: it runs without a heartbeat.
        if not connection.in_atomic_block:
            self._thread = threading.Thread(
                target=self._run, name=f"studio-job-{self.lease.request_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        soft = settings.STUDIO_JOB_SOFT_TIME_LIMIT
        hard = settings.STUDIO_JOB_TIME_LIMIT
        try:
            while not self._done.wait(settings.STUDIO_JOB_HEARTBEAT_SECONDS):
                elapsed = time.monotonic() - self._started
                if elapsed >= hard:
                    self._kill_hung_job(elapsed)
                    return
                if elapsed >= soft:
                    self.expired.set()
                try:
                    if not self.lease.beat():
                        self.lost.set()
                except DatabaseError:
                    # The database is away (a restart): keep the job going, and try again next beat.
                    logger.warning("Request %s: heartbeat not recorded", self.lease.request_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def _kill_hung_job(self, elapsed: float) -> None:
        """The job ignored the soft limit (stuck inside a library call): fail it and free the worker."""
        logger.error(
            "Request %s ran %.0f s, past the hard time limit; failing it and stopping this worker process",
            self.lease.request_id,
            elapsed,
        )
        try:
            self.lease.finish(Status.FAILED, time_limit_reason())
        except DatabaseError:
            logger.exception("Request %s: could not record the time-limit failure", self.lease.request_id)
        # The prefork pool starts a new process in its place; the stuck call cannot be interrupted otherwise.
        os.kill(os.getpid(), signal.SIGKILL)
