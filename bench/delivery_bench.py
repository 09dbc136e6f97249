"""Delivery benchmark: Studio against bare pyvips, Thumbor 7.8 and nginx, side by side in one run.

    .venv/bin/python bench/delivery_bench.py [--runs 5] [--duration 10] [--no-install]

What it does, all under var/bench/run/ (wiped first) with its own STUDIO_VAR_DIR:
1. makes a 12-megapixel JPEG (4000x3000, noise over gradients, q90) and imports it approved with
   ``import_images --approve --public-id bench-12mp`` (so every contender reads the same stored file);
2. starts Studio (gunicorn if installed, else ``runserver``) and Thumbor 7.8 (its own virtualenv under
   var/bench/thumbor-venv: it pins Pillow below 13) on spare ports;
3. cold renders, interleaved run by run: Studio over HTTP with the variant purged before each request,
   the bare pyvips call doing the same operation in this process (the floor), and Thumbor with the
   equivalent unsafe URL and no result storage; medians of N runs after one warm-up each;
4. cached hits with ``wrk`` at 32 connections: Studio's cached variant URL against nginx serving the
   same variant file;
5. the Studio worker's peak RSS (VmHWM) after rendering the 12-MP source.

Anything external that is missing or fails (Thumbor, nginx, wrk) becomes "not measured: <reason>" in the
table instead of stopping the run. The table goes to stdout and var/bench/delivery.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import training_job_running  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
RUN_DIR = BENCH_DIR / "run"
THUMBOR_VENV = BENCH_DIR / "thumbor-venv"
REPORT = BENCH_DIR / "delivery.md"
PUBLIC_ID = "bench-12mp"
SOURCE_SIZE = (4000, 3000)
HOST = "127.0.0.1"
STUDIO_WORKERS = 2
STUDIO_THREADS = 4
# The machines this runs on have few cores; pyvips and the servers would fight over more wrk threads.
WRK_THREADS = 2

TARGET_FLOOR_RATIO = 1.3
TARGET_THUMBOR_RATIO = 3.0
TARGET_PEAK_MB = 300
# Cached hits (issue #12): nginx's cache in front of Studio at half nginx's static-file rate or better, p99
# under 20 ms; Studio alone within 1.5x the cost of a minimal Django view returning the same stored file.
TARGET_NGINX_CACHE_SHARE = 0.5
TARGET_NGINX_CACHE_P99_MS = 20.0
TARGET_MINIMAL_VIEW_RATIO = 1.5
DEPLOY_TEMPLATE = ROOT / "deploy" / "nginx" / "studio.conf.template"


class NotMeasured(Exception):
    """A piece of the benchmark could not run; the message is the reason shown in the table."""


@dataclass(frozen=True)
class Operation:
    label: str
    transformation: str  # Studio's URL component
    ext: str
    content_type: str
    thumbor_path: str  # everything between the host and the file name
    floor: Callable[[bytes], bytes]  # the bare pyvips call doing the same thing


def _fill_webp(data: bytes) -> bytes:
    import pyvips

    image = pyvips.Image.thumbnail_buffer(data, 1200, height=630, crop="attention")
    return image.webpsave_buffer(Q=80, effort=4, keep="none")


def _limit_jpg(data: bytes) -> bytes:
    import pyvips

    image = pyvips.Image.thumbnail_buffer(data, 800, size="down")
    return image.jpegsave_buffer(Q=80, optimize_coding=True, keep="none")


OPERATIONS = (
    Operation(
        label="c_fill,g_auto,w_1200,h_630,f_webp,q_80",
        transformation="c_fill,g_auto,w_1200,h_630,f_webp,q_80",
        ext="",
        content_type="image/webp",
        thumbor_path="/unsafe/1200x630/smart/filters:format(webp):quality(80)",
        floor=_fill_webp,
    ),
    Operation(
        label="c_limit,w_800,f_jpg",
        transformation="c_limit,w_800,f_jpg",
        ext="",
        content_type="image/jpeg",
        thumbor_path="/unsafe/fit-in/800x0/filters:format(jpeg)",
        floor=_limit_jpg,
    ),
)


@dataclass
class Row:
    measurement: str
    studio: str
    reference: str
    ratio: str = ""
    target: str = ""
    met: str = ""


# --- small helpers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_http(port: int, path: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotMeasured(f"the server exited with code {process.returncode} while starting")
        try:
            status, _, _ = http_get(port, path, timeout=5)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise NotMeasured(f"the server did not answer on port {port} within {timeout:.0f}s")


def http_get(port: int, path: str, *, timeout: float = 120.0) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": "image/avif,image/webp,*/*"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def timed_get(port: int, path: str, content_type: str) -> float:
    start = time.perf_counter()
    status, got_type, body = http_get(port, path)
    elapsed = time.perf_counter() - start
    if status != 200 or not got_type.startswith(content_type):
        raise NotMeasured(f"GET {path} answered {status} {got_type}: {body[:120]!r}")
    return elapsed


@contextmanager
def server(command: list[str], *, log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group and stop that group (only ours) afterwards."""
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces or parentheses: the ppid is the 2nd field after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise NotMeasured("VmHWM is not in /proc/<pid>/status on this kernel")


def try_apt_install(package: str, binary: str, allow: bool) -> str:
    """The binary's path, installing the Debian package first when allowed and possible."""
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path:
        return path
    if not allow:
        raise NotMeasured(f"{binary} is not installed (Debian package {package}; --no-install was given)")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NotMeasured(f"{binary} is not installed and apt-get cannot run here (install {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True, text=True, timeout=600
    )
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if result.returncode != 0 or not path:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise NotMeasured(f"installing {package} failed: {reason}")
    return path


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


# --- the pieces ------------------------------------------------------------------------------------------


def make_source(path: Path) -> None:
    """A photo-like 12-MP JPEG: smooth gradients (cheap to compress) under grain (expensive), q90."""
    import pyvips

    width, height = SOURCE_SIZE
    xy = pyvips.Image.xyz(width, height)
    red = xy[0] * (255 / width)
    green = xy[1] * (255 / height)
    blue = (xy[0] + xy[1]) * (255 / (width + height))
    grain = pyvips.Image.gaussnoise(width, height, sigma=18, mean=0)
    image = (red.bandjoin([green, blue]) + grain).cast("uchar").copy(interpretation="srgb")
    image.jpegsave(str(path), Q=90)


def setup_django(var_dir: Path) -> dict[str, str]:
    """Point this process (and the server's environment) at a fresh embedded Studio under ``var_dir``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "CELERY_", "STUDIO_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="studio.settings",
        DJANGO_DEBUG="0",
        STUDIO_VAR_DIR=str(var_dir),
        STUDIO_DELIVERY_KEYS=f"bench-{secrets.token_hex(16)}",
        STUDIO_LOG_LEVEL="WARNING",
        # Every measured request is a cold render from this one address.
        STUDIO_DELIVERY_RENDER_RATE="0",
        # Persistent connections, as a production deployment would configure them.
        DATABASE_CONN_MAX_AGE="60",
    )
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return env


def import_source(source: Path):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from review.selectors import approved_asset_by_public_id

    call_command("migrate", verbosity=0, interactive=False)
    get_user_model().objects.create_superuser("bench", password=secrets.token_urlsafe(16))
    call_command(
        "import_images", str(source), "--approve", "--public-id", PUBLIC_ID, "--user", "bench", verbosity=0
    )
    asset = approved_asset_by_public_id(public_id=PUBLIC_ID)
    if asset is None:
        raise SystemExit("import_images did not approve the benchmark image")
    return asset


def studio_command(
    port: int, *, workers: int = STUDIO_WORKERS, threads: int = STUDIO_THREADS
) -> tuple[list[str], str]:
    python = sys.executable
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return (
            [python, "manage.py", "runserver", "--noreload", f"{HOST}:{port}"],
            "Django runserver (gunicorn not installed), threaded",
        )
    command = [
        python, "-m", "gunicorn", "studio.wsgi:application", "--bind", f"{HOST}:{port}",
        "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
        "--log-level", "warning",
    ]  # fmt: skip
    return command, f"gunicorn, {workers} workers x {threads} threads (gthread)"


def studio_worker_pids(master: subprocess.Popen) -> list[int]:
    return children(master.pid) or [master.pid]


def ensure_thumbor(allow_install: bool) -> Path:
    executable = THUMBOR_VENV / "bin" / "thumbor"
    if executable.exists():
        return executable
    if not allow_install:
        raise NotMeasured(f"no Thumbor virtualenv at {THUMBOR_VENV} (--no-install was given)")
    python = shutil.which("python3.11") or sys.executable
    try:
        subprocess.run(
            [python, "-m", "venv", str(THUMBOR_VENV)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [str(THUMBOR_VENV / "bin" / "pip"), "install", "-q", "thumbor[opencv]==7.8.*"],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as error:
        shutil.rmtree(THUMBOR_VENV, ignore_errors=True)
        reason = ((error.stderr or "") if isinstance(error.stderr, str) else "").strip().splitlines()
        raise NotMeasured(f"installing thumbor==7.8.* failed: {(reason or ['unknown error'])[-1]}") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(THUMBOR_VENV, ignore_errors=True)
        raise NotMeasured(f"installing thumbor==7.8.* failed: {error}") from None
    if not executable.exists():
        raise NotMeasured("thumbor installed but its command is missing")
    return executable


def thumbor_config(root: Path, has_opencv: bool) -> Path:
    # No original or result storage: every request loads, decodes and renders, like a cold Studio variant.
    # `smart` is only content-aware with a detector; the feature detector is Thumbor's analogue of g_auto.
    detectors = "['thumbor.detectors.feature_detector']" if has_opencv else "[]"
    path = RUN_DIR / "thumbor.conf"
    path.write_text(
        f"LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(root)!r}\n"
        f"STORAGE = 'thumbor.storages.no_storage'\n"
        f"RESULT_STORAGE = None\n"
        f"ALLOW_UNSAFE_URL = True\n"
        f"QUALITY = 80\n"
        f"DETECTORS = {detectors}\n"
    )
    return path


def deploy_image_location() -> str:
    """The ``location /image/upload/`` block of deploy/nginx/studio.conf.template: the benchmark measures the
    cache configuration Studio ships."""
    match = re.search(
        r"^    location /image/upload/ \{\n.*?^    \}\n", DEPLOY_TEMPLATE.read_text(), re.M | re.S
    )
    if match is None:
        raise NotMeasured("deploy/nginx/studio.conf.template has no `location /image/upload/` block")
    return match.group(0)


def nginx_config(
    root: Path, port: int, *, cache_port: int | None = None, studio_port: int | None = None
) -> Path:
    """nginx serving ``root`` as static files on ``port``; with ``cache_port``, also Studio (on
    ``studio_port``) behind the deployment's image cache on that port."""
    prefix = RUN_DIR / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read files under the project
    cached_studio = ""
    if cache_port is not None:
        cached_studio = f"""
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=studio_images:32m max_size=1g use_temp_path=off;
    upstream studio_web {{ server {HOST}:{studio_port}; keepalive 32; }}
    server {{
        listen {HOST}:{cache_port};
{deploy_image_location()}    }}"""
    path = prefix / "nginx.conf"
    path.write_text(
        f"""{user}worker_processes {STUDIO_WORKERS};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ image/webp webp; image/jpeg jpg; }}
    access_log off;
    sendfile on;
    etag on;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp; fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    server {{
        listen {HOST}:{port};
        root {root};
        location / {{ add_header Cache-Control "public, max-age=3600"; }}
    }}{cached_studio}
}}
"""
    )
    return path


_LATENCY = re.compile(r"^\s*99%\s+([0-9.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(wrk: str, url: str, *, connections: int, duration: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms)."""
    result = subprocess.run(
        [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    if result.returncode != 0:
        raise NotMeasured(f"wrk failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    if "Non-2xx or 3xx responses" in result.stdout:
        raise NotMeasured("wrk saw error responses: " + result.stdout.split("Non-2xx", 1)[1].splitlines()[0])
    rps, p99 = _RPS.search(result.stdout), _LATENCY.search(result.stdout)
    if not rps or not p99:
        raise NotMeasured("could not read wrk's output")
    return float(rps.group(1)), float(p99.group(1)) * _UNIT_MS[p99.group(2)]


# --- the run ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold renders per contender and operation")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per cached-hit target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-install", action="store_true", help="never install Thumbor, nginx or wrk")
    args = parser.parse_args()
    allow_install = not args.no_install

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    (RUN_DIR / "thumbor-root").mkdir(parents=True)
    (RUN_DIR / "nginx-root").mkdir(parents=True)
    print(f"Preparing the 12-MP source and a fresh Studio under {RUN_DIR} ...", file=sys.stderr)
    env = setup_django(RUN_DIR / "studio")
    import pyvips

    from delivery import services as delivery_services
    from delivery.models import Variant
    from delivery.urls_builder import variant_path

    original = RUN_DIR / "camera.jpg"
    make_source(original)
    asset = import_source(original)
    stored = Path(asset.file.path)  # the re-encoded file Studio serves from; everyone reads this one
    shutil.copyfile(stored, RUN_DIR / "thumbor-root" / "source.jpg")
    source_bytes = stored.stat().st_size

    libvips = ".".join(str(pyvips.version(part)) for part in range(3))
    notes = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at start, "
        f"Python {platform.python_version()}, libvips {libvips}.",
        f"Source: {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]} JPEG, {source_bytes / 1e6:.1f} MB as stored.",
        f"Cold renders: median of {args.runs} after one warm-up, interleaved run by run; the Studio variant "
        "is purged before each request.",
    ]
    if training_job_running():
        notes.append(
            "**A training job (train_default_model) was using one core for the whole run**: absolute numbers "
            "are lower than on an idle machine; every contender ran under the same load."
        )
    rows: list[Row] = []

    studio_port, thumbor_port, nginx_port = free_port(), free_port(), free_port()
    command, studio_kind = studio_command(studio_port)
    notes.append(f"Studio server: {studio_kind}, embedded SQLite, DATABASE_CONN_MAX_AGE=60.")
    notes.append("Throughput vs Thumbor is one client, one request at a time: 1 / median cold latency.")
    paths = {op.label: "/image/upload/" + variant_path(PUBLIC_ID, op.transformation) for op in OPERATIONS}

    with ExitStack() as stack:
        thumbor_process: subprocess.Popen | None = None
        thumbor_reason = ""
        try:
            thumbor = ensure_thumbor(allow_install)
            has_opencv = (
                subprocess.run(
                    [str(THUMBOR_VENV / "bin" / "python"), "-c", "import cv2"], capture_output=True
                )
            ).returncode == 0
            conf = thumbor_config(RUN_DIR / "thumbor-root", has_opencv)
            notes.append(
                "Thumbor 7.8 (PIL engine, file loader, no storage or result storage, "
                + (
                    "feature detector for `smart`)."
                    if has_opencv
                    else "no OpenCV, so `smart` is a centre crop)."
                )
            )
            thumbor_process = stack.enter_context(
                server(
                    [
                        str(thumbor),
                        "--ip",
                        HOST,
                        "--port",
                        str(thumbor_port),
                        "--conf",
                        str(conf),
                        "-l",
                        "warning",
                    ],
                    log=RUN_DIR / "thumbor.log",
                )
            )
            wait_for_http(thumbor_port, "/healthcheck", thumbor_process)
        except NotMeasured as error:
            thumbor_reason = str(error)

        studio = stack.enter_context(server(command, log=RUN_DIR / "studio-server.log", env=env))
        wait_for_http(studio_port, f"/image/upload/t_preview/no-such-{PUBLIC_ID}.jpg", studio)
        workers = studio_worker_pids(studio)
        idle_mb = max(peak_rss_mb(pid) for pid in workers)

        studio_times: dict[str, list[float]] = {op.label: [] for op in OPERATIONS}
        floor_times: dict[str, list[float]] = {op.label: [] for op in OPERATIONS}
        thumbor_times: dict[str, list[float]] = {op.label: [] for op in OPERATIONS}
        for op in OPERATIONS:
            print(f"Cold renders: {op.label} ...", file=sys.stderr)
            for run in range(args.runs + 1):
                delivery_services.variants_purge(asset=asset)
                studio_time = timed_get(studio_port, paths[op.label], op.content_type)
                start = time.perf_counter()
                op.floor(stored.read_bytes())  # Studio reads the stored file too
                floor_time = time.perf_counter() - start
                thumbor_time = None
                if thumbor_process is not None and not thumbor_reason:
                    try:
                        thumbor_time = timed_get(
                            thumbor_port, f"{op.thumbor_path}/source.jpg", op.content_type
                        )
                    except (NotMeasured, OSError) as error:
                        thumbor_reason = str(error)
                if run == 0:
                    continue  # warm-up: first use of the loaders and thread pools in each process
                studio_times[op.label].append(studio_time)
                floor_times[op.label].append(floor_time)
                if thumbor_time is not None:
                    thumbor_times[op.label].append(thumbor_time)
        peak_mb = max(peak_rss_mb(pid) for pid in workers)

        for op in OPERATIONS:
            studio_median = statistics.median(studio_times[op.label])
            floor_median = statistics.median(floor_times[op.label])
            ratio = studio_median / floor_median
            rows.append(
                Row(
                    f"cold render `{op.label}`: Studio over HTTP vs bare pyvips (floor)",
                    ms(studio_median),
                    ms(floor_median),
                    f"{ratio:.2f}x the floor",
                    f"<= {TARGET_FLOOR_RATIO}x",
                    verdict(ratio <= TARGET_FLOOR_RATIO),
                )
            )
        for op in OPERATIONS:
            studio_median = statistics.median(studio_times[op.label])
            label = f"cold render `{op.label}`: throughput vs Thumbor 7.8 `{op.thumbor_path}/...`"
            if thumbor_reason or not thumbor_times[op.label]:
                reason = thumbor_reason or "Thumbor gave no timings"
                rows.append(
                    Row(label, f"{1 / studio_median:.2f} renders/s", f"not measured: {reason}", "", ">= 3x")
                )
                continue
            thumbor_median = statistics.median(thumbor_times[op.label])
            ratio = thumbor_median / studio_median
            rows.append(
                Row(
                    label,
                    f"{1 / studio_median:.2f} renders/s ({ms(studio_median)})",
                    f"{1 / thumbor_median:.2f} renders/s ({ms(thumbor_median)})",
                    f"{ratio:.2f}x Thumbor",
                    f">= {TARGET_THUMBOR_RATIO:g}x",
                    verdict(ratio >= TARGET_THUMBOR_RATIO),
                )
            )

        # Cached hits: the fill variant, rendered once more and left in place.
        cached_op = OPERATIONS[0]
        timed_get(studio_port, paths[cached_op.label], cached_op.content_type)
        variant = Variant.objects.get(asset=asset, format="webp")
        shutil.copyfile(variant.file.path, RUN_DIR / "nginx-root" / "variant.webp")
        minimal_port, cache_port = free_port(), free_port()
        minimal_command = command[:]
        minimal_command[minimal_command.index(f"{HOST}:{studio_port}")] = f"{HOST}:{minimal_port}"
        minimal_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.minimal_settings"}
        minimal = stack.enter_context(
            server(minimal_command, log=RUN_DIR / "minimal-server.log", env=minimal_env)
        )
        wait_for_http(minimal_port, f"/minimal/{variant.file.name}", minimal)
        rows.extend(
            cached_hit_rows(
                studio_port=studio_port,
                minimal_port=minimal_port,
                path=paths[cached_op.label],
                stored_name=variant.file.name,
                nginx_port=nginx_port,
                cache_port=cache_port,
                connections=args.connections,
                duration=args.duration,
                allow_install=allow_install,
            )
        )
        rows.append(
            Row(
                "peak RSS (VmHWM) of the Studio worker that rendered the 12-MP source",
                f"{peak_mb:.0f} MB",
                f"{idle_mb:.0f} MB before any render",
                "",
                f"< {TARGET_PEAK_MB} MB",
                verdict(peak_mb < TARGET_PEAK_MB),
            )
        )
    table = render_table(rows, notes)
    print(table)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        table + "\nCommand: `.venv/bin/python bench/delivery_bench.py " + " ".join(sys.argv[1:]) + "`\n"
    )
    print(f"Written to {REPORT.relative_to(ROOT)}", file=sys.stderr)
    return 0


def cached_hit_rows(
    *,
    studio_port: int,
    minimal_port: int,
    path: str,
    stored_name: str,
    nginx_port: int,
    cache_port: int,
    connections: int,
    duration: int,
    allow_install: bool,
) -> list[Row]:
    """Cached hits under wrk, side by side: Studio alone, a minimal Django view returning the same stored
    file, nginx's cache in front of Studio (the deployment's configuration) and nginx serving the file."""
    label = f"cached hit, {connections} connections (wrk, {duration}s)"
    try:
        wrk = try_apt_install("wrk", "wrk", allow_install)
    except NotMeasured as error:
        return [Row(label, f"not measured: {error}", "")]

    def measure(name: str, url: str) -> tuple[float, float] | str:
        print(f"Cached hits: {name} ...", file=sys.stderr)
        try:
            return run_wrk(wrk, url, connections=connections, duration=duration)
        except NotMeasured as error:
            return f"not measured: {error}"

    def text(result: tuple[float, float] | str) -> str:
        return result if isinstance(result, str) else f"{result[0]:,.0f} req/s, p99 {result[1]:.1f} ms"

    studio = measure("Studio", f"http://{HOST}:{studio_port}{path}")
    minimal = measure("minimal Django view", f"http://{HOST}:{minimal_port}/minimal/{stored_name}")
    rows = []
    if isinstance(studio, str) or isinstance(minimal, str):
        rows.append(
            Row(
                f"{label}: Studio alone vs a minimal Django view (same file, same storage)",
                text(studio),
                text(minimal),
            )
        )
    else:
        ratio = minimal[0] / studio[0]  # cost per request, Studio over the minimal view
        rows.append(
            Row(
                f"{label}: Studio alone vs a minimal Django view (same file, same storage)",
                text(studio),
                text(minimal),
                f"{ratio:.2f}x the minimal view's cost",
                f"<= {TARGET_MINIMAL_VIEW_RATIO}x",
                verdict(ratio <= TARGET_MINIMAL_VIEW_RATIO),
            )
        )
    try:
        nginx = try_apt_install("nginx", "nginx", allow_install)
        conf = nginx_config(
            RUN_DIR / "nginx-root", nginx_port, cache_port=cache_port, studio_port=studio_port
        )
        with server([nginx, "-p", str(conf.parent), "-c", str(conf)], log=RUN_DIR / "nginx.log") as process:
            wait_for_http(nginx_port, "/variant.webp", process)
            wait_for_http(cache_port, path, process)  # the first fetch fills nginx's cache
            cached = measure("Studio behind nginx's cache", f"http://{HOST}:{cache_port}{path}")
            static = measure("nginx static file", f"http://{HOST}:{nginx_port}/variant.webp")
    except NotMeasured as error:
        cached = static = f"not measured: {error}"
    if isinstance(cached, str) or isinstance(static, str):
        rows.append(Row(f"{label}: Studio behind nginx's cache vs nginx static", text(cached), text(static)))
        return rows
    share = cached[0] / static[0]
    rows.append(
        Row(
            f"{label}: Studio behind nginx's cache (deploy/nginx) vs nginx serving the file",
            text(cached),
            f"{text(static)} ({STUDIO_WORKERS} workers)",
            f"{100 * share:.0f}% of nginx's rate",
            f">= {100 * TARGET_NGINX_CACHE_SHARE:.0f}%, p99 < {TARGET_NGINX_CACHE_P99_MS:g} ms",
            verdict(share >= TARGET_NGINX_CACHE_SHARE and cached[1] < TARGET_NGINX_CACHE_P99_MS),
        )
    )
    if not isinstance(studio, str):
        rows.append(
            Row(
                f"{label}: Studio alone vs nginx serving the file",
                text(studio),
                text(static),
                f"{100 * studio[0] / static[0]:.1f}% of nginx's rate",
                "report",
            )
        )
    return rows


def render_table(rows: list[Row], notes: list[str]) -> str:
    lines = [
        "## Delivery benchmark",
        "",
        *(f"- {note}" for note in notes),
        "",
        "| measurement | Studio | reference | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.measurement} | {r.studio} | {r.reference} | {r.ratio} | {r.target} | {r.met} |" for r in rows
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
