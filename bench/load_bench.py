"""Delivery under load: 200 connections for 60 s on cached variants alone, then mixed with cold renders.

    .venv/bin/python bench/load_bench.py [--duration 60] [--connections 200] [--assets 8] [--no-install]

What it does, under <STUDIO_VAR_DIR or var>/bench/load-run/ (wiped first):
1. imports the delivery benchmark's 12-MP JPEG as N approved assets and starts Studio on gunicorn (the
   delivery benchmark's helpers) with more threads than render slots, so requests can queue for a slot,
   behind one trusted proxy (STUDIO_TRUSTED_PROXY_COUNT=1) so X-Forwarded-For stands for many clients. The
   render rate, render slots and variant caps stay at their defaults;
2. renders every preset of every asset once: the cached set;
3. scenario "cached": wrk with bench/load_mix.lua picking among the cached URLs, from random visitors;
4. scenario "mixed": the same with a share of cold renders, signed URLs of distinct sizes so each is a new
   variant, half from one greedy address (which hits the render rate: 429) and half from 32 others (which
   saturate the render slots: 503);
5. during both, a small http.client sampler times cached hits and asks for cold renders, and a monitor
   reads each worker's RSS from /proc; afterwards it compares the worker pids, reads VmHWM, scans the
   gunicorn log and checks that cached and cold requests are answered normally again.

wrk's Lua hooks tally every status and every 429/503 without Retry-After. The table goes to stdout and
var/bench/load.md. Exit status 1 when any response was a 5xx other than 503, a 429 or 503 lacked
Retry-After, a worker died or was replaced, or the server did not answer normally afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.delivery_bench import (  # noqa: E402
    HOST,
    PUBLIC_ID,
    WRK_THREADS,
    NotMeasured,
    children,
    free_port,
    import_source,
    make_source,
    peak_rss_mb,
    server,
    setup_django,
    studio_command,
    studio_worker_pids,
    try_apt_install,
    wait_for_http,
)
from bench.machine import training_job_running  # noqa: E402

REPORT = ROOT / "var" / "bench" / "load.md"
RUN_DIR = Path(os.environ.get("STUDIO_VAR_DIR") or ROOT / "var") / "bench" / "load-run"
LUA_SCRIPT = Path(__file__).with_name("load_mix.lua")
# More threads than STUDIO_DELIVERY_MAX_RENDERS (4), or a render slot could never be waited for.
STUDIO_THREADS = 16
WRK_TIMEOUT_S = 30
GREEDY_CLIENT = "203.0.113.1"
SPREAD_CLIENTS = 32
SAMPLER_CLIENT = "192.0.2.250"
SAMPLE_INTERVAL_S = 0.2
# Cold renders in the mixed scenario: a tall crop to AVIF (what f_auto gives current browsers) takes long
# enough that the render slots fill up; small WebP crops of a JPEG source shrink on load and never do.
COLD_TRANSFORMATION = "c_fill,g_auto,w_{w},h_1200,q_{q},f_avif"
# What the gunicorn log says when a worker is killed, times out or a request fails.
_CRASH_MARKERS = re.compile(
    r"WORKER TIMEOUT|was sent (SIGKILL|code)|exited with code|out of memory|Traceback|Internal Server Error",
    re.IGNORECASE,
)


# --- pure helpers (tests/test_load_bench.py) ---------------------------------------------------------------


@dataclass
class WrkReport:
    """What bench/load_mix.lua's done() prints, parsed."""

    requests: int
    duration_s: float
    bytes_read: int
    socket_errors: dict[str, int]  # connect, read, write, timeout
    latency_ms: dict[str, float]  # p50, p90, p99, max
    statuses: Counter[int]
    missing_retry_after: int
    cold_sent: int

    @property
    def throughput(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def shed(self) -> int:
        return self.statuses[429] + self.statuses[503]

    @property
    def server_errors(self) -> int:
        """5xx answers other than 503, the one overload answer that is allowed."""
        return sum(count for status, count in self.statuses.items() if status >= 500 and status != 503)

    @property
    def error_rate(self) -> float:
        """Failed requests (socket errors, timeouts, 5xx other than 503) over requests attempted."""
        errors = sum(self.socket_errors.values()) + self.server_errors
        attempted = self.requests + self.socket_errors["connect"] + self.socket_errors["timeout"]
        return errors / attempted if attempted else 0.0


def _fields(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split())


def parse_wrk_report(output: str) -> WrkReport:
    """Parse the ``LOAD ...`` lines; raises ``ValueError`` when any is missing (wrk died before done())."""
    lines = {}
    for line in output.splitlines():
        if line.startswith("LOAD "):
            name, _, rest = line[5:].partition(" ")
            lines[name] = rest
    missing = {"statuses", "missing_retry_after", "cold_sent", "summary", "latency_us"} - lines.keys()
    if missing:
        raise ValueError(f"wrk's output lacks {', '.join(sorted(missing))}")
    summary = _fields(lines["summary"])
    latency = _fields(lines["latency_us"])
    return WrkReport(
        requests=int(summary["requests"]),
        duration_s=int(summary["duration_us"]) / 1e6,
        bytes_read=int(summary["bytes"]),
        socket_errors={name: int(summary[name]) for name in ("connect", "read", "write", "timeout")},
        latency_ms={name: float(value) / 1000 for name, value in latency.items()},
        statuses=Counter({int(status): int(count) for status, count in _fields(lines["statuses"]).items()}),
        missing_retry_after=int(lines["missing_retry_after"]),
        cold_sent=int(lines["cold_sent"]),
    )


def cold_client(index: int) -> str:
    """The client address of the index-th cold URL: every other one is the greedy client."""
    if index % 2 == 0:
        return GREEDY_CLIENT
    return f"203.0.113.{10 + (index // 2) % SPREAD_CLIENTS}"


@dataclass(frozen=True)
class Sample:
    kind: str  # "cached" or "cold"
    status: int  # 0 for a socket error or timeout
    retry_after: str | None
    seconds: float


@dataclass
class SampleSummary:
    statuses: Counter[int] = field(default_factory=Counter)
    shed_without_retry_after: int = 0
    cached_p50_ms: float | None = None
    cached_p99_ms: float | None = None


def summarise_samples(samples: list[Sample]) -> SampleSummary:
    summary = SampleSummary()
    cached = sorted(s.seconds * 1000 for s in samples if s.kind == "cached" and s.status == 200)
    for sample in samples:
        summary.statuses[sample.status] += 1
        if sample.status in (429, 503) and not (sample.retry_after or "").isdigit():
            summary.shed_without_retry_after += 1
    if cached:
        summary.cached_p50_ms = statistics.median(cached)
        summary.cached_p99_ms = cached[min(len(cached) - 1, round(0.99 * (len(cached) - 1)))]
    return summary


def crash_lines(log: str) -> list[str]:
    """Lines of a gunicorn log that mean a worker died, timed out, or a request failed with an exception."""
    return [line for line in log.splitlines() if _CRASH_MARKERS.search(line)]


def problems(
    reports: dict[str, WrkReport], samples: SampleSummary, *, workers_replaced: bool, log_lines: list[str]
) -> list[str]:
    """Why the run failed, in plain words; empty when it passed."""
    found = []
    for name, report in reports.items():
        if report.server_errors:
            other = {s: c for s, c in sorted(report.statuses.items()) if s >= 500 and s != 503}
            found.append(f"{name}: 5xx other than 503: {other}")
        if report.missing_retry_after:
            found.append(f"{name}: {report.missing_retry_after} answers of 429/503 without Retry-After")
    if samples.shed_without_retry_after:
        found.append(f"sampler: {samples.shed_without_retry_after} answers of 429/503 without Retry-After")
    if any(status >= 500 and status != 503 for status in samples.statuses):
        found.append(f"sampler: 5xx other than 503: {dict(samples.statuses)}")
    if workers_replaced:
        found.append("a gunicorn worker died or was replaced during the run")
    if log_lines:
        found.append(f"the gunicorn log has {len(log_lines)} crash or error lines, first: {log_lines[0]}")
    return found


# --- watching the server ------------------------------------------------------------------------------


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Monitor(threading.Thread):
    """Reads the workers' RSS twice a second and notes every worker pid it sees."""

    def __init__(self, master_pid: int) -> None:
        super().__init__(daemon=True)
        self.master_pid = master_pid
        self.pids_seen: set[int] = set()
        self.peak_total_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            pids = children(self.master_pid)
            self.pids_seen.update(pids)
            total = sum(rss for pid in pids if (rss := _rss_mb(pid)) is not None)
            self.peak_total_mb = max(self.peak_total_mb, total)


def _get(port: int, path: str, *, client: str, timeout: float = 60.0) -> tuple[int, str | None, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"X-Forwarded-For": client})
        response = connection.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        connection.close()


class Sampler(threading.Thread):
    """One request at a time beside wrk: a cached hit, then (in the mixed scenario) a cold render."""

    def __init__(self, port: int, cached: list[str], cold: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.cached, self.cold = port, cached, cold
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def _sample(self, kind: str, path: str) -> None:
        start = time.perf_counter()
        try:
            status, retry_after, _ = _get(self.port, path, client=SAMPLER_CLIENT)
        except OSError:
            status, retry_after = 0, None
        self.samples.append(Sample(kind, status, retry_after, time.perf_counter() - start))

    def run(self) -> None:
        index = 0
        while not self.stop.wait(SAMPLE_INTERVAL_S):
            self._sample("cached", self.cached[index % len(self.cached)])
            if self.cold and index < len(self.cold):
                self._sample("cold", self.cold[index])
            index += 1


# --- the run ---------------------------------------------------------------------------------------------


def seed_assets(source: Path, count: int) -> list[str]:
    from django.core.management import call_command

    import_source(source)  # migrates, creates the "bench" user, imports PUBLIC_ID
    public_ids = [PUBLIC_ID]
    for index in range(1, count):
        public_id = f"{PUBLIC_ID}-{index}"
        call_command(
            "import_images",
            str(source),
            "--approve",
            "--public-id",
            public_id,
            "--user",
            "bench",
            verbosity=0,
        )
        public_ids.append(public_id)
    return public_ids


def cached_paths(public_ids: list[str]) -> list[str]:
    from delivery.selectors import preset_map
    from delivery.urls_builder import variant_path

    presets = preset_map()
    return [
        "/image/upload/"
        + variant_path(public_id, f"t_{name}", ext=("webp", "jpg")[index % 2], presets=presets)
        for index, public_id in enumerate(public_ids)
        for name in sorted(presets)
    ]


def cold_paths(public_ids: list[str], count: int, *, transformation: str) -> list[str]:
    """``count`` signed URLs of distinct sizes: ``transformation`` is formatted with ``w`` and ``q``."""
    from delivery.urls_builder import variant_path

    paths = []
    for index in range(count):
        step = index // len(public_ids)
        spec = transformation.format(w=200 + step % 1000, q=50 + (step // 1000) % 45)
        paths.append("/image/upload/" + variant_path(public_ids[index % len(public_ids)], spec, presets={}))
    return paths


def server_settings(env: dict[str, str]) -> dict[str, str]:
    """The delivery limits as the server will read them (this process's settings differ: see main)."""
    names = [
        "STUDIO_DELIVERY_MAX_RENDERS",
        "STUDIO_DELIVERY_RENDER_WAIT",
        "STUDIO_DELIVERY_RENDER_RATE",
        "STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET",
    ]
    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"print('\\n'.join(str(getattr(settings, name)) for name in {names!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return dict(zip(names, result.stdout.splitlines(), strict=True))


def warm(port: int, paths: list[str]) -> None:
    """Render the cached set once, each asset from its own address so the render rate never refuses it."""

    def fetch(item: tuple[int, str]) -> None:
        index, path = item
        status, _, body = _get(port, path, client=f"192.0.2.{1 + index % 100}", timeout=120)
        if status != 200:
            raise SystemExit(f"warming {path} answered {status}: {body[:200]!r}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fetch, enumerate(paths)))


def run_wrk(
    wrk: str, port: int, *, cached_file: Path, cold_file: Path | None, cold_share: float, args
) -> WrkReport:
    command = [
        wrk, f"-t{WRK_THREADS}", f"-c{args.connections}", f"-d{args.duration}s",
        f"--timeout={WRK_TIMEOUT_S}s", "-s", str(LUA_SCRIPT), f"http://{HOST}:{port}/",
        "--", str(cached_file), str(cold_file or "-"), str(cold_share), str(WRK_THREADS),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 120)
    if result.returncode != 0:
        raise NotMeasured(f"wrk failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    try:
        return parse_wrk_report(result.stdout)
    except ValueError as error:
        raise NotMeasured(str(error)) from None


def scenario(
    name: str, wrk: str, port: int, *, cached: list[str], cold: list[str], sampler_cold: list[str], args
) -> tuple[WrkReport, list[Sample]]:
    cached_file = RUN_DIR / f"{name}-cached.txt"
    cached_file.write_text("\n".join(cached) + "\n")
    cold_file = None
    if cold:
        cold_file = RUN_DIR / f"{name}-cold.txt"
        cold_file.write_text("".join(f"{path}\t{cold_client(i)}\n" for i, path in enumerate(cold)))
    sampler = Sampler(port, cached, sampler_cold)
    print(f"Scenario {name}: {args.connections} connections for {args.duration}s ...", file=sys.stderr)
    sampler.start()
    try:
        report = run_wrk(
            wrk,
            port,
            cached_file=cached_file,
            cold_file=cold_file,
            cold_share=args.cold_share if cold else 0.0,
            args=args,
        )
    finally:
        sampler.stop.set()
        sampler.join(timeout=WRK_TIMEOUT_S * 3)
    return report, sampler.samples


def after_check(port: int, cached: list[str], cold: str) -> list[str]:
    """Problems with the server once the load stops: a cached hit and a new render must both answer 200."""
    time.sleep(2)  # let the requests still queued from wrk's last moments drain
    found = []
    for kind, path in (("cached", cached[0]), ("cold", cold)):
        try:
            status, _, body = _get(port, path, client="192.0.2.251", timeout=60)
        except OSError as error:
            found.append(f"after the load, a {kind} request failed: {error}")
            continue
        if status != 200:
            found.append(f"after the load, a {kind} request answered {status}: {body[:120]!r}")
    return found


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def fmt_mb(values: list[float]) -> str:
    return ", ".join(f"{mb:.0f} MB" for mb in values) or "-"


def fmt_statuses(statuses: Counter[int]) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())) or "-"


def render_report(
    *,
    notes: list[str],
    reports: dict[str, WrkReport | str],
    samples: dict[str, SampleSummary],
    health: list[tuple[str, str]],
    failures: list[str],
) -> str:
    names = list(reports)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, value) -> None:
        cells = []
        for name in names:
            report = reports[name]
            cells.append(report if isinstance(report, str) else value(report, samples[name]))
        rows.append((label, cells))

    row("requests completed", lambda r, s: f"{r.requests:,} in {r.duration_s:.1f} s")
    row("throughput", lambda r, s: f"{r.throughput:,.0f} req/s")
    row("latency p50 / p90", lambda r, s: f"{fmt_ms(r.latency_ms['p50'])} / {fmt_ms(r.latency_ms['p90'])}")
    row("latency p99 / max", lambda r, s: f"{fmt_ms(r.latency_ms['p99'])} / {fmt_ms(r.latency_ms['max'])}")
    row("status codes (every response)", lambda r, s: fmt_statuses(r.statuses))
    row("cold requests sent", lambda r, s: f"{r.cold_sent:,} ({r.cold_sent / max(r.requests, 1):.1%})")
    row("shed: 429 + 503", lambda r, s: f"{r.shed:,} ({r.shed / max(r.requests, 1):.1%})")
    row("429/503 without Retry-After (every response)", lambda r, s: str(r.missing_retry_after))
    row("5xx other than 503", lambda r, s: str(r.server_errors))
    row(
        "socket errors: connect / read / write / timeout",
        lambda r, s: " / ".join(str(r.socket_errors[k]) for k in ("connect", "read", "write", "timeout")),
    )
    row("error rate (socket errors, timeouts, 5xx but 503)", lambda r, s: f"{r.error_rate:.3%}")
    row("sampler: statuses", lambda r, s: fmt_statuses(s.statuses))
    row("sampler: 429/503 without Retry-After", lambda r, s: str(s.shed_without_retry_after))
    row(
        "sampler: cached hit p50 / p99, one at a time",
        lambda r, s: f"{fmt_ms(s.cached_p50_ms)} / {fmt_ms(s.cached_p99_ms)}",
    )

    lines = ["## Delivery load test", "", *(f"- {note}" for note in notes), ""]
    lines += [f"| measurement | {' | '.join(names)} |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {label} | {' | '.join(cells)} |" for label, cells in rows]
    lines += ["", "| server health | |", "| --- | --- |"]
    lines += [f"| {label} | {value} |" for label, value in health]
    lines += ["", "**Result: " + ("passed**" if not failures else "failed**")]
    lines += [f"- {failure}" for failure in failures]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of wrk per scenario")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--assets", type=int, default=8, help="approved assets to deliver")
    parser.add_argument("--cold-share", type=float, default=0.1, help="share of cold renders when mixed")
    parser.add_argument("--threads", type=int, default=STUDIO_THREADS, help="gunicorn threads per worker")
    parser.add_argument("--no-install", action="store_true", help="never install wrk")
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    command_line = "`.venv/bin/python bench/load_bench.py " + " ".join(sys.argv[1:]) + "`"
    try:
        wrk = try_apt_install("wrk", "wrk", not args.no_install)
    except NotMeasured as error:
        table = f"## Delivery load test\n\nNot measured: {error}\n"
        print(table)
        REPORT.write_text(table)
        return 0

    print(f"Seeding {args.assets} approved assets and a fresh Studio under {RUN_DIR} ...", file=sys.stderr)
    env = setup_django(RUN_DIR / "studio")
    # The delivery benchmark turns the render rate off; this test keeps the default.
    env.pop("STUDIO_DELIVERY_RENDER_RATE", None)
    os.environ.pop("STUDIO_DELIVERY_RENDER_RATE", None)
    env["STUDIO_TRUSTED_PROXY_COUNT"] = "1"
    source = RUN_DIR / "camera.jpg"
    make_source(source)
    public_ids = seed_assets(source, args.assets)
    cached = cached_paths(public_ids)
    cold = cold_paths(public_ids, 40_000, transformation=COLD_TRANSFORMATION)
    sampler_cold = cold_paths(public_ids, 2_000, transformation="c_limit,w_{w},q_{q},f_jpg")
    after_cold = cold_paths(public_ids[:1], 1, transformation="c_scale,w_{w},q_{q}")[0]

    port = free_port()
    command, kind = studio_command(port, threads=args.threads)
    limits = server_settings(env)

    notes = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPU cores (wrk and Studio share them), load average {os.getloadavg()[0]:.2f} at "
        f"start, Python {platform.python_version()}.",
        f"Studio: {kind}, embedded SQLite, per-process cache (the render rate counts per worker), "
        f"STUDIO_TRUSTED_PROXY_COUNT=1; render slots {limits['STUDIO_DELIVERY_MAX_RENDERS']} per worker "
        f"(wait {limits['STUDIO_DELIVERY_RENDER_WAIT']} s), render rate "
        f"{limits['STUDIO_DELIVERY_RENDER_RATE']} per client, "
        f"{limits['STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET']} variants kept per asset (defaults).",
        f"{len(public_ids)} approved assets (the delivery benchmark's 12-MP JPEG); the cached set is each "
        f"asset's {len(cached) // len(public_ids)} presets, {len(cached)} URLs, rendered before the runs.",
        f"wrk {WRK_THREADS} threads, {args.connections} connections, {args.duration} s per scenario, "
        f"timeout {WRK_TIMEOUT_S} s; cached requests from random visitor addresses (X-Forwarded-For).",
        f"Mixed: {args.cold_share:.0%} of requests are cold renders, signed "
        f"`{COLD_TRANSFORMATION.format(w='<w>', q='<q>')}` URLs, each a new variant; "
        f"half from one greedy address ({GREEDY_CLIENT}), half from {SPREAD_CLIENTS} others.",
        f"Sampler: one request at a time every {SAMPLE_INTERVAL_S} s, a cached hit and (mixed) a cold render "
        f"from {SAMPLER_CLIENT}, with http.client.",
    ]
    if training_job_running():
        notes.append("**A training job (train_default_model) was using one core for the whole run.**")

    reports: dict[str, WrkReport | str] = {}
    sample_summaries: dict[str, SampleSummary] = {}
    health: list[tuple[str, str]] = []
    failures: list[str] = []
    log_path = RUN_DIR / "studio-server.log"
    with ExitStack() as stack:
        studio = stack.enter_context(server(command, log=log_path, env=env))
        wait_for_http(port, f"/image/upload/t_preview/no-such-{PUBLIC_ID}.jpg", studio)
        workers_before = sorted(studio_worker_pids(studio))
        print(f"Rendering the cached set ({len(cached)} variants) ...", file=sys.stderr)
        warm(port, cached)
        warm_peaks = [peak_rss_mb(pid) for pid in workers_before]
        monitor = Monitor(studio.pid)
        monitor.start()
        for name, scenario_cold, scenario_sampler_cold in (
            ("cached", [], []),
            ("mixed", cold, sampler_cold),
        ):
            try:
                report, samples = scenario(
                    name, wrk, port, cached=cached, cold=scenario_cold, sampler_cold=scenario_sampler_cold,
                    args=args,
                )  # fmt: skip
            except NotMeasured as error:
                reports[name] = f"not measured: {error}"
                sample_summaries[name] = SampleSummary()
                failures.append(f"{name}: {error}")
                continue
            reports[name] = report
            sample_summaries[name] = summarise_samples(samples)
        failures += after_check(port, cached, after_cold)
        monitor.stop.set()
        monitor.join()
        workers_after = sorted(studio_worker_pids(studio))
        master_alive = studio.poll() is None
        peaks = {pid: peak_rss_mb(pid) for pid in workers_after if Path(f"/proc/{pid}").exists()}
    log_lines = crash_lines(log_path.read_text(errors="replace"))
    replaced = workers_after != workers_before or monitor.pids_seen - set(workers_before) or not master_alive
    measured = {name: report for name, report in reports.items() if isinstance(report, WrkReport)}
    all_samples = SampleSummary()
    for summary in sample_summaries.values():
        all_samples.statuses.update(summary.statuses)
        all_samples.shed_without_retry_after += summary.shed_without_retry_after
    failures = (
        problems(measured, all_samples, workers_replaced=bool(replaced), log_lines=log_lines) + failures
    )

    after_failed = any(failure.startswith("after the load") for failure in failures)
    same = "" if replaced else " (same)"
    health = [
        ("worker pids before / after", f"{workers_before} / {workers_after}{same}"),
        ("gunicorn master alive after", "yes" if master_alive else "**no**"),
        ("peak RSS per worker after rendering the cached set (VmHWM)", fmt_mb(warm_peaks)),
        ("peak RSS per worker (VmHWM, whole run)", fmt_mb(list(peaks.values()))),
        ("peak RSS of all workers together (sampled every 0.5 s)", f"{monitor.peak_total_mb:.0f} MB"),
        ("crash or error lines in the gunicorn log", str(len(log_lines))),
        ("after the load: a cached hit and a new render", "**failed**" if after_failed else "both 200"),
    ]
    table = render_report(
        notes=notes, reports=reports, samples=sample_summaries, health=health, failures=failures
    )
    print(table)
    REPORT.write_text(table + f"\nCommand: {command_line}\n")
    print(f"Written to {REPORT.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
