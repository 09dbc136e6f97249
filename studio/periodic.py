"""Work a Celery worker's main process repeats in the background: the job sweeper (generation/jobs.py) and
the webhooks sweeper (studio/webhooks/sweeper.py)."""

import logging
import os
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

# A round and a fork never overlap. The prefork pool forks a new child when one dies; a child forked while
# a round was inside SQLite, libpq or a connection pool would inherit their locks held, and hang on its first
# query. Forking waits for the round in progress (at most FORK_WAIT_SECONDS) and the next one waits for it.
FORK_WAIT_SECONDS = 30
_round = threading.Lock()
_held_for_fork = False


def _before_fork() -> None:
    global _held_for_fork
    _held_for_fork = _round.acquire(timeout=FORK_WAIT_SECONDS)


def _after_fork() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _round.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class PeriodicThread(threading.Thread):
    """Runs ``work`` every ``seconds()`` through database and broker outages: a round that fails is logged
    and the next one starts on a fresh database connection. ``work`` returns counts of what it did, which
    are logged when any is above zero."""

    def __init__(
        self, name: str, *, seconds: Callable[[], float], work: Callable[[], dict[str, int]]
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.seconds = seconds
        self.work = work
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.seconds()):
            with _round:
                try:
                    close_old_connections()
                    done = self.work()
                    if any(done.values()):
                        logger.info("%s: %s", self.name, done)
                except Exception:
                    logger.warning("%s: a round failed; retrying", self.name, exc_info=True)
                finally:
                    connection.close()


class OnePerProcess:
    """Starts a :class:`PeriodicThread` once per process (again if it died), e.g. from ``worker_ready``."""

    def __init__(
        self, name: str, *, seconds: Callable[[], float], work: Callable[[], dict[str, int]]
    ) -> None:
        self.name, self.seconds, self.work = name, seconds, work
        self.thread: PeriodicThread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = PeriodicThread(self.name, seconds=self.seconds, work=self.work)
                self.thread.start()
