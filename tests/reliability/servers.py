"""Private Redis and PostgreSQL servers that a test may start, stop and restart at will.

Failure tests need to take a service away and bring it back. Doing that to the shared servers on the standard
ports (6379, 5432) would break every other test running against them, so each server here is the test's own:
a fresh data directory in a temporary folder, a free port on 127.0.0.1, and nothing kept once the test ends.

    with PostgresServer() as postgres:
        ...  # talk to postgres.url
        postgres.restart()

Or, in a test, the fixtures ``private_redis`` and ``private_postgres`` (tests/reliability/conftest.py makes
them available), which skip the test with the reason when the server's programs are not installed.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
import requests

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LOG_TAIL_LINES = 30


class ServerUnavailable(RuntimeError):
    """The server's programs are not installed here (the fixtures skip the test with this reason)."""


class ServerError(RuntimeError):
    """The server did not start or stop in time; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(no log at {path}: {error})"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or f"({path} is empty)"


def _wait_for_closed_port(port: int, log: Path, name: str) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    while port_accepts_connections(port):
        if time.monotonic() > deadline:
            raise ServerError(
                f"{name} still accepts connections on port {port}; its log ends:\n{_log_tail(log)}"
            )
        time.sleep(0.1)


class PrivateServer:
    """What both servers share: ``restart``, and a ``with`` block that stops the server and removes its files
    however the test ends. Subclasses provide ``start``, ``stop`` and ``close``."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RedisServer(PrivateServer):
    """redis-server on 127.0.0.1:<free port> that keeps nothing on disk: a restart brings it back empty."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(self.binary, os.X_OK):
            raise ServerUnavailable("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="studio-redis-"))
        self.log = self.dir / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if self.process is not None:
            raise ServerError("this Redis is running already")
        # Same port on every start, so clients configured with .url find it again after a restart.
        command = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--logfile", str(self.log),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.dir, stdin=subprocess.DEVNULL)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        import redis

        assert self.process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self.process = None
                    raise ServerError(
                        f"redis-server exited with {code}; its log ends:\n{_log_tail(self.log)}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(
                        f"redis-server did not answer PING on port {self.port} within {START_TIMEOUT:.0f} s; "
                        f"its log ends:\n{_log_tail(self.log)}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Shut the server down (SIGTERM, then SIGKILL if it lingers) and wait until the port refuses."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        _wait_for_closed_port(self.port, self.log, "redis-server")

    @property
    def running(self) -> bool:
        return self.process is not None

    def close(self) -> None:
        """Stop the server if it runs and delete its folder; safe to call more than once."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are: on PATH, or in Debian's versioned folder (not on PATH by default)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(candidate) / "pg_ctl", os.X_OK):
            return Path(candidate)
    raise ServerUnavailable("PostgreSQL's server programs (initdb, pg_ctl) are not installed")


class PostgresServer(PrivateServer):
    """A fresh PostgreSQL cluster on 127.0.0.1:<free port> with trust authentication for the user
    ``postgres``. Its data survives stop() and start(); the whole cluster is deleted on close().

    PostgreSQL refuses to run as root. Tests run as root in the test containers, so there the cluster
    belongs to the ``postgres`` OS user and its programs run through ``runuser``.
    """

    def __init__(self) -> None:
        bin_dir = _postgres_bin_dir()
        self.initdb = str(bin_dir / "initdb")
        self.pg_ctl = str(bin_dir / "pg_ctl")
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            if not shutil.which("runuser"):
                raise ServerUnavailable("running as root, and runuser is not installed to run PostgreSQL")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable(
                    "running as root, and there is no `postgres` OS user to run PostgreSQL"
                ) from None
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="studio-postgres-"))
        if self.as_postgres:
            shutil.chown(self.dir, user="postgres", group="postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.initialised = False
        self.running = False

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # cwd: the postgres user may not be allowed into the directory pytest runs in.
        return subprocess.run(
            [*self.as_postgres, *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def _init_cluster(self) -> None:
        result = self._run(
            self.initdb,
            "--pgdata", str(self.data),
            "--auth", "trust",
            "--username", "postgres",
            "--encoding", "UTF8",
            "--no-locale",
            "--no-sync",
            timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServerError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        # Settings in the cluster's own file, so every start uses them. Speed over durability: the data
        # only has to survive a clean restart, never a crash of the machine.
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data}'",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# Set by tests/reliability/servers.py\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self.initialised = True

    def start(self) -> None:
        if self.running:
            raise ServerError("this PostgreSQL is running already")
        if not self.initialised:
            self._init_cluster()
        # -w waits until the server accepts connections, for at most -t seconds.
        result = self._run(
            self.pg_ctl, "start", "--pgdata", str(self.data), "--log", str(self.log),
            "--wait", "--timeout", str(int(START_TIMEOUT)),
            timeout=START_TIMEOUT + 10,
        )  # fmt: skip
        if result.returncode != 0:
            self._force_stop()
            raise self._pg_ctl_error("start", result)
        self.running = True
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts_connections(self.port):
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"PostgreSQL started but port {self.port} refuses connections; "
                    f"its log ends:\n{_log_tail(self.log)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown (running transactions roll back, clients are disconnected), waited for, until the
        port refuses connections."""
        if not self.running:
            return
        self.running = False
        result = self._run(
            self.pg_ctl, "stop", "--pgdata", str(self.data), "--mode", "fast",
            "--wait", "--timeout", str(int(STOP_TIMEOUT)),
            timeout=STOP_TIMEOUT + 10,
        )  # fmt: skip
        if result.returncode != 0:
            self._force_stop()
            raise self._pg_ctl_error("stop", result)
        _wait_for_closed_port(self.port, self.log, "PostgreSQL")

    def _pg_ctl_error(self, action: str, result: subprocess.CompletedProcess[str]) -> ServerError:
        output = f"{result.stdout.strip()} {result.stderr.strip()}".strip()
        return ServerError(
            f"pg_ctl {action} failed ({result.returncode}): {output}\n"
            f"the server's log ends:\n{_log_tail(self.log)}"
        )

    def _force_stop(self) -> None:
        """Last resort when a clean stop failed: immediate shutdown, then SIGKILL of the postmaster."""
        self.running = False
        if not (self.data / "postmaster.pid").exists():
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._run(self.pg_ctl, "stop", "--pgdata", str(self.data), "--mode", "immediate", timeout=20)
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)
        except (OSError, ValueError, IndexError):
            pass  # gone already

    def close(self) -> None:
        """Stop the server if it runs and delete the cluster; safe to call more than once."""
        try:
            if self.running:
                try:
                    self.stop()
                except ServerError:
                    self._force_stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A started Redis of this test's own; skips the test when redis-server is not installed."""
    try:
        server = RedisServer()
    except ServerUnavailable as reason:
        pytest.skip(str(reason))
    with server:
        yield server


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A started PostgreSQL of this test's own; skips the test when PostgreSQL is not installed."""
    try:
        server = PostgresServer()
    except ServerUnavailable as reason:
        pytest.skip(str(reason))
    with server:
        yield server


# --- Studio's own web server, on the private services ---------------------------------------------------

BASE_DIR = Path(__file__).resolve().parents[2]
USERNAME = "marketer"
PASSWORD = "restart-proof-password-42"
CREATE_MARKETER = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from studio.roles import MARKETERS, sync_groups
sync_groups()
user = get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})
user.groups.add(Group.objects.get(name=MARKETERS))
"""
REQUEST_TIMEOUT = 15


def studio_env(
    *, database_url: str, var_dir: Path, broker_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment for Studio processes on the test's own services, whichever pass of `make test` runs:
    none of the pass's DATABASE_URL, broker or cache leaks in. Persistent database connections
    (DATABASE_CONN_MAX_AGE=600) are on, since those are what a database restart breaks."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CELERY_BROKER_URL", "STUDIO_CACHE_URL", "DATABASE_URL"}
    }
    env |= {
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "600",
        "STUDIO_VAR_DIR": str(var_dir),
        "STUDIO_TEST_MODELS": "1",
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    return env | extra


@dataclass
class WebServer:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "the web server's log ends:\n" + "\n".join(text[-lines:])

    def logged_in_browser(self) -> requests.Session:
        browser = requests.Session()
        browser.get(f"{self.url}/login/", timeout=REQUEST_TIMEOUT).raise_for_status()
        response = browser.post(
            f"{self.url}/login/",
            data={
                "username": USERNAME,
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            timeout=REQUEST_TIMEOUT,
        )
        assert response.status_code == 200, self.log_tail()
        assert response.url.endswith("/generate/"), f"login did not go through: {response.url}"
        return browser

    def get(self, browser: requests.Session, path: str) -> requests.Response:
        return browser.get(f"{self.url}{path}", timeout=REQUEST_TIMEOUT, allow_redirects=False)

    def post(self, browser: requests.Session, path: str, data: dict[str, str]) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        return browser.post(f"{self.url}{path}", data=data, timeout=REQUEST_TIMEOUT, allow_redirects=False)


def manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _wait_until_serving(server: WebServer) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            pytest.fail(f"runserver exited with {server.process.returncode}; {server.log_tail()}")
        try:
            if requests.get(f"{server.url}/login/", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"runserver did not serve /login/ within 60 s; {server.log_tail()}")
        time.sleep(0.2)


@contextlib.contextmanager
def studio_web(env: dict[str, str], tmp_path: Path) -> Iterator[WebServer]:
    """Studio migrated onto the database in ``env``, with one marketer, served by runserver as `make run`
    serves it; stopped on the way out, whatever happened."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-c", CREATE_MARKETER)
    port = free_port()
    log = tmp_path / "runserver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = WebServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
