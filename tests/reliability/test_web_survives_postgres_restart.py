"""The web app rides out a PostgreSQL restart or outage without a restart of its own.

Studio runs here as `make run` runs it (manage.py runserver, a process of its own) against a PostgreSQL of
the test's own, with persistent connections (DATABASE_CONN_MAX_AGE=600): those are what a database restart
breaks. runserver serves each HTTP connection in one thread, and the test's client keeps its HTTP connection
alive as a browser does, so its requests share one database connection; the tests check that they do, or
they would pass whatever the settings say.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.reliability.servers import PostgresServer, WebServer, studio_env, studio_web

DATABASE_PAGE = "/requests/"


@pytest.fixture
def web(private_postgres: PostgresServer, tmp_path: Path) -> Iterator[WebServer]:
    """Studio migrated onto the private PostgreSQL, with one marketer, served by runserver."""
    with studio_web(
        studio_env(database_url=private_postgres.url, var_dir=tmp_path / "var"), tmp_path
    ) as server:
        yield server


def _web_connections(postgres: PostgresServer) -> list[int]:
    """The backend process ids of the connections other clients (the web server) hold open."""
    with psycopg.connect(postgres.url, connect_timeout=5) as connection:
        rows = connection.execute(
            "select pid from pg_stat_activity"
            " where backend_type = 'client backend' and pid <> pg_backend_pid() order by pid"
        ).fetchall()
    return [pid for (pid,) in rows]


def test_the_first_request_after_a_postgres_restart_succeeds(
    web: WebServer, private_postgres: PostgresServer
):
    browser = web.logged_in_browser()
    assert web.get(browser, DATABASE_PAGE).status_code == 200, web.log_tail()
    # One connection, kept across requests: the persistent connection the restart is about to break.
    [connection_before] = _web_connections(private_postgres)
    assert web.get(browser, DATABASE_PAGE).status_code == 200, web.log_tail()
    assert _web_connections(private_postgres) == [connection_before]

    private_postgres.restart()

    response = web.get(browser, DATABASE_PAGE)
    assert response.status_code == 200, web.log_tail()
    assert web.get(browser, DATABASE_PAGE).status_code == 200, web.log_tail()
    assert web.process.poll() is None, "the web server itself must not have restarted"


def test_pages_fail_cleanly_during_a_postgres_outage_and_work_again_after_it(
    web: WebServer, private_postgres: PostgresServer
):
    browser = web.logged_in_browser()
    assert web.get(browser, DATABASE_PAGE).status_code == 200, web.log_tail()

    private_postgres.stop()
    outage_ends = time.monotonic() + 3
    statuses = []
    while time.monotonic() < outage_ends:
        response = web.get(browser, DATABASE_PAGE)
        statuses.append(response.status_code)
        # Studio's page saying to retry shortly, not a traceback or the database's error text.
        assert "Back in a moment" in response.text
        assert response.headers["Retry-After"] == "10"
        assert "Traceback" not in response.text
        assert "OperationalError" not in response.text
        time.sleep(0.5)
    assert set(statuses) == {503}, statuses

    private_postgres.start()

    assert web.get(browser, DATABASE_PAGE).status_code == 200, web.log_tail()
    assert web.get(browser, "/generate/").status_code == 200, web.log_tail()
    assert web.process.poll() is None, "the web server itself must not have restarted"
