"""Whether the real services this test pass needs are configured and reachable.

Run as ``python -m tests.service_probe`` it probes PostgreSQL and Redis on 127.0.0.1 and exits non-zero with
the reason when either is down; `make test` uses that to decide how to run its second pass.
"""

import os
import socket
import sys
from urllib.parse import urlsplit

TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
TEST_BROKER_URL = "redis://127.0.0.1:6379/15"


def _reachable(url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as error:
        return f"{parts.scheme} at {host}:{port} is unreachable ({error})"


def probe(database_url: str = TEST_DATABASE_URL, broker_url: str = TEST_BROKER_URL) -> str | None:
    return _reachable(database_url, 5432) or _reachable(broker_url, 6379)


def services_unavailable_reason() -> str | None:
    """None when this run talks to PostgreSQL and Redis; otherwise why the service tests cannot run."""
    if os.environ.get("STUDIO_TEST_PASS") != "services":
        return "needs PostgreSQL and Redis: `make test` runs these in its services pass"
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith("postgres"):
        return "DATABASE_URL does not point at PostgreSQL"
    if not broker_url.startswith("redis"):
        return "CELERY_BROKER_URL does not point at Redis"
    return probe(database_url, broker_url)


if __name__ == "__main__":
    problem = probe()
    if problem:
        print(problem)
        sys.exit(1)
