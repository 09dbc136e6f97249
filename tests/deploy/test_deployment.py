"""The production recipe in deploy/, run for real: nginx (TLS) in front of gunicorn, a Celery worker, the
PostgreSQL and Redis on this machine, and S3 storage through an S3 API (moto in server mode).

The whole loop goes through nginx as browsers and sites would: a marketer generates, a reviewer approves, a
site fetches the original and a channel variant, the reviewer revokes and the URLs stop answering. Every
stored file (originals, variants) lives in the bucket; Studio's media folder stays empty.
"""

import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

import boto3
import psycopg
import pytest
import requests
from django.conf import settings

from tests.forms import generate_form_data
from tests.reliability.servers import BASE_DIR, CREATE_MARKETER, PASSWORD, USERNAME, free_port, manage
from tests.service_probe import probe
from tests.workers import Worker

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(
        os.environ.get("STUDIO_TEST_PASS") == "services",
        reason="uses this machine's PostgreSQL and Redis directly, the same in both passes: once, in pass 1",
    ),
]

DEPLOY = BASE_DIR / "deploy"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
NGINX_PURGE_MODULE = Path("/usr/share/nginx/modules/ngx_http_cache_purge_module.so")
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/14"  # a database of its own on the machine's Redis
BUCKET = "studio-deploy-test"
REVIEWER = "reviewer"
CREATE_REVIEWER = f"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from studio.roles import REVIEWERS
user = get_user_model().objects.create_user({REVIEWER!r}, password={PASSWORD!r})
user.groups.add(Group.objects.get(name=REVIEWERS))
"""


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log: Path, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"{name} did not listen on {port} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}"
    )


class Processes:
    """Started processes, each stopped (and its log kept) however the test ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append((name, process))
        return process

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for name, process in reversed(self.started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            print(f"--- {name} ---\n{self.log(name).read_text(errors='replace')[-1500:]}")


@pytest.fixture(autouse=True)
def machine_has_what_the_recipe_needs() -> None:
    """nginx with its cache-purge module (`make test` installs them as root, and only warns when it cannot)
    and this machine's PostgreSQL and Redis: without them the test skips and says why, or fails where they are
    required (STUDIO_REQUIRE_SERVICES=1, as in CI)."""
    if not NGINX or not NGINX_PURGE_MODULE.exists():
        problem = "nginx or libnginx-mod-http-cache-purge is not installed (make test installs them as root)"
    else:
        problem = probe(POSTGRES, REDIS)
    if problem and os.environ.get("STUDIO_REQUIRE_SERVICES") == "1":
        pytest.fail(f"STUDIO_REQUIRE_SERVICES=1 but {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)


@pytest.fixture
def database() -> str:
    """A fresh database on this machine's PostgreSQL, dropped afterwards."""
    name = f"studio_deploy_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


def _tls_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _nginx_modules() -> str:
    """Debian's enabled dynamic modules (the cache-purge module among them), with absolute paths, since the
    test's nginx runs with a prefix of its own."""
    lines = []
    for conf in sorted(Path("/etc/nginx/modules-enabled").glob("*.conf")):
        for module in re.findall(r"load_module\s+(\S+);", conf.read_text()):
            path = Path(module) if module.startswith("/") else Path("/usr/share/nginx") / module
            lines.append(f"load_module {path};\n")
    return "".join(lines)


def _nginx_config(folder: Path, values: dict[str, str]) -> Path:
    """deploy/nginx/studio.conf.template rendered as envsubst would, inside a main configuration of the
    test's own (its pid, logs and temporary folders under the test's folder)."""
    template = (DEPLOY / "nginx" / "studio.conf.template").read_text()
    site = string.Template(template).safe_substitute(values)
    assert "${STUDIO_" not in site, "the template names a variable the deployment does not set"
    (folder / "studio.conf").write_text(site)
    temp = folder / "nginx-temp"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's 0700 folders
    main = f"""{user}{_nginx_modules()}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {folder}/studio.conf;
}}
"""
    path = folder / "nginx.conf"
    path.write_text(main)
    return path


class Site:
    def __init__(self, base: str, certificate: Path) -> None:
        self.base = base
        self.certificate = certificate

    def session(self) -> requests.Session:
        """A client that trusts the test's certificate (and no CA bundle from the environment)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.certificate)
        return session

    def browser(self, username: str) -> requests.Session:
        browser = self.session()
        browser.headers["Referer"] = f"{self.base}/"  # Django checks it on HTTPS posts, as browsers send it
        browser.get(f"{self.base}/login/").raise_for_status()
        response = browser.post(
            f"{self.base}/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        assert response.status_code == 200 and not response.url.endswith("/login/"), response.text[:500]
        return browser

    def post(
        self, browser: requests.Session, path: str, data: dict[str, str | list[int]]
    ) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        return browser.post(f"{self.base}{path}", data=data, allow_redirects=False)


def _bucket_keys(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_the_production_recipe_runs_the_whole_loop_through_nginx_with_s3(database, tiny_model_dir, tmp_path):
    processes = Processes(tmp_path)
    try:
        _run(processes, database, tmp_path)
    finally:
        processes.stop_all()


def _run(processes: Processes, database: str, tmp_path: Path) -> None:
    # S3: moto in server mode, a process of its own with a real HTTP API.
    s3_port = free_port()
    moto = processes.start(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]
    )
    _wait_for_port(s3_port, moto, "moto", processes.log("moto"))
    s3_endpoint = f"http://127.0.0.1:{s3_port}"
    credentials = {"AWS_ACCESS_KEY_ID": "studio-test", "AWS_SECRET_ACCESS_KEY": "studio-test-secret"}
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=BUCKET)

    subprocess.run(
        [sys.executable, "-c", f"import redis; redis.Redis.from_url({REDIS!r}).flushdb()"],
        check=True,
        timeout=30,
    )
    https_port, http_port, web_port, purge_port = free_port(), free_port(), free_port(), free_port()
    base = f"https://127.0.0.1:{https_port}"
    media, static = tmp_path / "studio-media", tmp_path / "studio-static"
    media.mkdir()
    # deploy/studio.env.example, filled in for this machine.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "CELERY_", "STUDIO_"))
    }
    env |= credentials | {
        "STUDIO_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": base,
        "STUDIO_SITE_URL": base,
        "STUDIO_TLS_PROXY": "1",
        "STUDIO_TRUSTED_PROXY_COUNT": "1",
        "DATABASE_URL": database,
        "DATABASE_CONN_MAX_AGE": "60",
        "CELERY_BROKER_URL": REDIS,
        "STUDIO_CACHE_URL": REDIS.replace("/14", "/13"),
        "STUDIO_CDN_PURGE": "http",
        "STUDIO_CDN_PURGE_URL": f"http://127.0.0.1:{purge_port}",
        "STUDIO_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "STUDIO_VAR_DIR": str(tmp_path / "var"),
        "STUDIO_MEDIA_ROOT": str(media),
        "STUDIO_STATIC_ROOT": str(static),
        "STUDIO_MODEL_DIR": str(settings.STUDIO_MODEL_DIR),
        "STUDIO_TEST_MODELS": "1",
        "STUDIO_TORCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    # What each deploy runs before the processes start (deploy/Procfile).
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "check", "--deploy", "--fail-level", "WARNING")
    manage(env, "shell", "-c", CREATE_MARKETER)
    manage(env, "shell", "-c", CREATE_REVIEWER)

    # The Procfile's commands (bound to this test's port).
    procfile = dict(
        line.split(": ", 1)
        for line in (DEPLOY / "Procfile").read_text().splitlines()
        if re.match(r"^\w+: ", line)
    )
    web_command = procfile["web"].replace("127.0.0.1:8000", f"127.0.0.1:{web_port}").split()
    assert web_command[0] == "gunicorn"
    web = processes.start("gunicorn", [sys.executable, "-m", "gunicorn", *web_command[1:]], env)
    assert procfile["worker"].split()[:5] == ["celery", "-A", "studio", "worker", "-P"]
    worker = Worker(env=env, log_path=processes.log("worker")).start()
    processes.started.append(("worker", worker.process))
    # Outbound HTTP (webhooks, and the CDN purges this test checks) has a worker of its own.
    webhooks_command = procfile["webhooks"].split()
    assert webhooks_command[0] == "celery"
    webhooks = processes.start("webhooks", [sys.executable, "-m", *webhooks_command], env)
    cert, key = _tls_certificate(tmp_path)
    config = _nginx_config(
        tmp_path,
        {
            "STUDIO_SERVER_NAME": "127.0.0.1",
            "STUDIO_HTTP_PORT": str(http_port),
            "STUDIO_HTTPS_PORT": str(https_port),
            "STUDIO_TLS_CERT": str(cert),
            "STUDIO_TLS_KEY": str(key),
            "STUDIO_UPSTREAM": f"127.0.0.1:{web_port}",
            "STUDIO_STATIC_ROOT": str(static),
            "STUDIO_CACHE_DIR": str(tmp_path / "nginx-cache"),
            "STUDIO_PURGE_LISTEN": f"127.0.0.1:{purge_port}",
            "STUDIO_PURGE_ALLOW": "127.0.0.1",
        },
    )
    nginx = processes.start("nginx", [NGINX, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"])
    _wait_for_port(web_port, web, "gunicorn", processes.log("gunicorn"))
    _wait_for_port(https_port, nginx, "nginx", tmp_path / "nginx-error.log")

    site = Site(base, cert)
    # Plain HTTP goes to HTTPS; static files come from nginx with hashed names, kept for a year.
    redirect = site.session().get(f"http://127.0.0.1:{http_port}/login/", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"] == f"{base}/login/"
    login_page = site.session().get(f"{base}/login/", timeout=10)
    assert login_page.headers["Strict-Transport-Security"].startswith("max-age=")
    [stylesheet] = re.findall(r'href="(/static/studio\.[0-9a-f]{12}\.css)"', login_page.text)
    css = site.session().get(f"{base}{stylesheet}", timeout=10)
    assert css.status_code == 200 and "immutable" in css.headers["Cache-Control"]

    # A marketer generates.
    marketer = site.browser(USERNAME)
    response = site.post(marketer, "/generate/", generate_form_data())
    assert response.status_code == 302, response.text[:1000]
    request_id = int(re.search(r"/requests/(\d+)/", response.headers["Location"])[1])
    asset_id = _wait_for_asset(database, request_id)

    # The original lives in the bucket, not on this machine's disk.
    keys = _bucket_keys(s3)
    assert any(key.startswith("generated/") for key in keys), keys
    assert not any(media.rglob("*")), "nothing is written to local disk"
    original = marketer.get(f"{base}/assets/{asset_id}/file/")
    assert original.status_code == 200 and original.content.startswith(b"\x89PNG")
    assert original.headers["Cache-Control"] == "private, no-store"

    # A reviewer approves.
    reviewer = site.browser(REVIEWER)
    response = site.post(
        reviewer,
        f"/review/assets/{asset_id}/decide/",
        {"decision": "approve", "checklist": _checklist_ids(database), "comment": ""},
    )
    assert response.status_code == 302, response.text[:1000]
    public_id = _public_id(database, asset_id)

    # A site fetches the original and a channel variant, anonymously, through nginx.
    anonymous = site.session()
    delivered = anonymous.get(f"{base}/image/upload/{public_id}.png")
    assert delivered.status_code == 200 and delivered.headers["Content-Type"] == "image/png"
    variant_url = f"{base}/image/upload/t_og-image/{public_id}.jpg"
    variant = anonymous.get(variant_url)
    assert variant.status_code == 200 and variant.headers["Content-Type"] == "image/jpeg"
    assert variant.content.startswith(b"\xff\xd8")
    assert variant.headers["X-Cache-Status"] == "MISS"
    assert variant.headers["Cache-Tag"].startswith("studio-asset-")
    # Cached hits are nginx's alone: they never reach gunicorn.
    served_by_studio = processes.log("gunicorn").read_text().count("t_og-image")
    assert served_by_studio == 1, "gunicorn's access log shows the first fetch"
    again = anonymous.get(variant_url)
    assert again.status_code == 200 and again.headers["X-Cache-Status"] == "HIT"
    assert again.content == variant.content
    assert processes.log("gunicorn").read_text().count("t_og-image") == served_by_studio
    assert len(_bucket_keys(s3)) > len(keys), "variants are stored in the bucket"
    assert not any(media.rglob("*"))

    # The reviewer revokes: the URLs stop answering at once, and the variants are gone from the bucket.
    response = site.post(reviewer, f"/review/assets/{asset_id}/revoke/", {"comment": "Withdrawn by legal"})
    assert response.status_code == 302, response.text[:1000]
    # nginx's copies go too: a worker sends the purge after the commit.
    began = time.monotonic()
    for url in (f"{base}/image/upload/{public_id}.png", variant_url):
        while anonymous.get(url).status_code != 404:
            assert time.monotonic() < began + 30, f"nginx still serves the revoked {url}"
            time.sleep(0.2)
    print(f"revoked variants left nginx's cache {time.monotonic() - began:.1f} s after the revocation")
    assert _bucket_keys(s3) == keys, "only the original is left"
    assert web.poll() is None and nginx.poll() is None and worker.process.poll() is None
    assert webhooks.poll() is None


def _query(database: str, sql: str, parameters: list) -> tuple | None:
    with psycopg.connect(database) as connection:
        return connection.execute(sql, parameters).fetchone()


def _checklist_ids(database: str) -> list[int]:
    """The enabled review checklist items, all of which an approval ticks."""
    with psycopg.connect(database) as connection:
        rows = connection.execute("select id from review_checklistitem where enabled").fetchall()
    return [row[0] for row in rows]


def _wait_for_asset(database: str, request_id: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, error = _query(
            database, "select status, error from generation_generationrequest where id = %s", [request_id]
        )
        if status == "succeeded":
            return _query(database, "select id from generation_asset where request_id = %s", [request_id])[0]
        assert status in ("queued", "running"), (status, error)
        time.sleep(0.3)
    pytest.fail(f"request {request_id} did not finish within 120 s")


def _public_id(database: str, asset_id: int) -> str:
    row = _query(database, "select state, public_id from review_assetreview where asset_id = %s", [asset_id])
    assert row[0] == "approved", row
    return row[1]
