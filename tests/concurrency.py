"""Races on purpose: several calls released at the same moment, each in its own thread."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` in threads released together by a barrier, and return their results in the same order.

    Each thread closes its own database connection when it ends (the test database cannot be dropped while
    one is open). An exception a call did not catch is raised here, once every thread has finished.
    """
    barrier = threading.Barrier(len(calls))
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[index] for index in range(len(calls))]
