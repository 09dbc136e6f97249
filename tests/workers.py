"""Real Celery workers in their own processes, for the tests that need a worker to run, die or reconnect.

A worker runs ``tests/faulty_worker.py``: Studio's worker, with faults the test asks for (a slow step, a hang,
a process that kills itself) injected into the job's progress report. With no faults it is the plain worker.
"""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings


class Worker:
    """``celery -A studio worker -P prefork -c 1`` (as `make run` starts it) in a new session of its own,
    so the whole worker (its main process and the pool's child) can be killed at once, as a lost machine."""

    def __init__(self, *, env: dict[str, str], log_path: Path, faults: dict[str, str] | None = None) -> None:
        # Tests start many workers and run the tiny model: none loads the default model unless a test asks.
        self.env = {"STUDIO_WORKER_PRELOAD_MODEL": "0", **os.environ, **env, **(faults or {})}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    # The pool and queues, as `make run` starts the generation worker.
    pool = ["-P", "prefork", "-c", "1"]

    def start(self) -> "Worker":
        command = [sys.executable, "-m", "tests.faulty_worker", "-A", "studio", "worker", *self.pool]
        command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the main process and its pool child together: the machine is gone."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, characters: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return ""


def kill_process(pid: int) -> None:
    """SIGKILL one process (a job's pool child, named by its lease), as the kernel's OOM killer does."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
