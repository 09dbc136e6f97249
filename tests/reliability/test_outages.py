"""Studio through broker and database outages: no request lost, no process restarted by hand.

The web server (runserver, as `make run` starts it) and a worker (prefork, one process) run on the test's
own PostgreSQL and Redis (tests/reliability/servers.py), which the test stops, starts and restarts. Requests
are made through the web pages, as a marketer makes them; their state is read straight from the database.
The recovery times are printed (`pytest -s`) for the closing notes.
"""

import os
import re
import time

import psycopg
import pytest
from django.conf import settings

from tests.forms import generate_form_data
from tests.reliability.servers import PostgresServer, RedisServer, WebServer, studio_env, studio_web
from tests.workers import Worker

# As tests/reliability/test_worker_failures.py: quick heartbeats, leases and sweeps.
FAST_RECOVERY = {
    "STUDIO_JOB_HEARTBEAT_SECONDS": "0.5",
    "STUDIO_JOB_LEASE_SECONDS": "3",
    "STUDIO_JOB_SWEEP_SECONDS": "0.5",
    "STUDIO_JOB_OUTBOX_GRACE_SECONDS": "1",
}

pytestmark = pytest.mark.skipif(
    os.environ.get("STUDIO_TEST_PASS") == "services",
    reason="runs on its own PostgreSQL and Redis, the same in both passes: once, in the embedded pass",
)


class Studio:
    def __init__(self, web: WebServer, postgres: PostgresServer) -> None:
        self.web = web
        self.postgres = postgres
        self.browser = web.logged_in_browser()

    def generate(self, **fields: str) -> tuple[int, float]:
        """Press Generate: the request's id and how long the page took to answer."""
        began = time.monotonic()
        response = self.web.post(
            self.browser, "/generate/", generate_form_data(**{"num_images": "2", "steps": "4", **fields})
        )
        elapsed = time.monotonic() - began
        assert response.status_code == 302, self.web.log_tail()
        request_id = int(re.search(r"/requests/(\d+)/", response.headers["Location"])[1])
        page = self.web.get(self.browser, response.headers["Location"])
        assert page.status_code == 200, self.web.log_tail()
        return request_id, elapsed

    def row(self, request_id: int) -> dict | None:
        """The request's row, or None while the database is away."""
        try:
            with psycopg.connect(self.postgres.url, connect_timeout=2) as connection:
                cursor = connection.execute(
                    "select status, attempts, error, dispatched_at is not null, progress_step"
                    " from generation_generationrequest where id = %s",
                    [request_id],
                )
                status, attempts, error, dispatched, step = cursor.fetchone()
                assets = connection.execute(
                    "select count(*) from generation_asset where request_id = %s", [request_id]
                ).fetchone()[0]
        except psycopg.OperationalError:
            return None
        return {
            "status": status,
            "attempts": attempts,
            "error": error,
            "dispatched": dispatched,
            "step": step,
            "assets": assets,
        }

    def wait_until(self, request_id: int, predicate, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.row(request_id)
            if row is not None and predicate(row):
                return row
            time.sleep(0.1)
        raise AssertionError(f"request {request_id}: {self.row(request_id)} after {timeout:.0f} s")

    def finished(self, request_id: int, timeout: float = 90) -> dict:
        return self.wait_until(
            request_id, lambda row: row["status"] in ("succeeded", "failed", "canceled"), timeout
        )


def test_no_request_is_lost_to_broker_or_database_outages(
    private_postgres, private_redis, tiny_model_dir, tmp_path
):
    env = studio_env(
        database_url=private_postgres.url,
        broker_url=private_redis.url,
        var_dir=tmp_path / "var",
        STUDIO_MODEL_DIR=str(settings.STUDIO_MODEL_DIR),
        STUDIO_MEDIA_ROOT=str(tmp_path / "media"),
        STUDIO_TORCH_THREADS="1",
        **FAST_RECOVERY,
    )
    timings: dict[str, float] = {}
    with studio_web(env, tmp_path) as web:
        worker = Worker(env=env, log_path=tmp_path / "worker.log", faults={"STUDIO_FAULT_STEP_DELAY": "0.25"})
        worker.start()
        try:
            studio = Studio(web, private_postgres)
            _run_outages(studio, private_postgres, private_redis, timings)
        finally:
            worker.stop()
            print(worker.log_tail())
        assert web.process.poll() is None and worker.process.poll() is not None
    print("outage recovery:", ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))


def _run_outages(
    studio: Studio, postgres: PostgresServer, redis: RedisServer, timings: dict[str, float]
) -> None:
    def succeeded(request_id: int) -> None:
        row = studio.finished(request_id)
        assert (row["status"], row["error"], row["assets"]) == ("succeeded", "", 2), row

    # Everything up: the baseline.
    request_id, _ = studio.generate()
    succeeded(request_id)

    # PostgreSQL restarts while nothing runs: the web app and the worker carry on.
    postgres.restart()
    began = time.monotonic()
    request_id, _ = studio.generate()
    succeeded(request_id)
    timings["request after a PostgreSQL restart"] = time.monotonic() - began

    # PostgreSQL restarts while a job runs: the job's result is still made exactly once.
    request_id, _ = studio.generate(steps="16")
    studio.wait_until(request_id, lambda row: row["status"] == "running" and row["step"] >= 3)
    postgres.restart()
    began = time.monotonic()
    row = studio.finished(request_id)
    assert (row["status"], row["assets"]) == ("succeeded", 2), row
    timings["job caught by a PostgreSQL restart, to its result"] = time.monotonic() - began

    # The broker is down when Generate is pressed: the user sees the queued request, at once, not an error.
    redis.stop()
    request_id, answered_in = studio.generate()
    assert answered_in < 10, f"the page took {answered_in:.1f} s with the broker down"
    row = studio.row(request_id)
    assert (row["status"], row["dispatched"]) == ("queued", False), row
    time.sleep(2)
    redis.start()
    began = time.monotonic()
    succeeded(request_id)
    timings["request made while Redis was down, from Redis back to its result"] = time.monotonic() - began

    # Redis restarts (and comes back empty) while the worker idles: the worker consumes again, unrestarted.
    redis.restart()
    began = time.monotonic()
    request_id, _ = studio.generate()
    row = studio.finished(request_id, timeout=60)
    assert (row["status"], row["assets"]) == ("succeeded", 2), row
    timings["request after a Redis restart"] = time.monotonic() - began
