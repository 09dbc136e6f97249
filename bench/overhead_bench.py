"""Request overhead benchmark: how long a generation request spends outside its pipeline call.

    .venv/bin/python bench/overhead_bench.py [--runs 5] [--steps N] [--first-after 15] [--idle-seconds 20]
                                             [--out var/bench/overhead.md]

Studio's embedded stack in its own STUDIO_VAR_DIR under var/bench/overhead-run/ (wiped first): SQLite, the
filesystem queue, and one generation worker started as `make run` starts it (prefork, one child). A request
is two images on the default model at its defaults (256 x 256, 25 steps; ``--steps`` shortens the pipeline
call on a busy machine: the overhead does not depend on it), submitted through the service the form calls.
Two worker configurations, each in a fresh worker:

- **as shipped**: the worker polls the queue every 0.1 s and loads the default model as it starts;
- **before**: kombu's default poll of 1 s, and the model loaded by the first job (STUDIO_QUEUE_POLL_SECONDS=1
  STUDIO_WORKER_PRELOAD_MODEL=0).

For each: the first request, submitted ``--first-after`` seconds after the worker says it is ready (a person
opening the page and typing a prompt); then N requests one after another, each right after the bare pipeline
call (``generate_images`` on the same job, model loaded, in this process, the worker idle): submit to done
from the request's own timestamps, pickup (submit to claimed), and overhead, submit to done minus the bare
call paired with it: pickup, the claim, and the work after the pipeline (safety check, PNG encoding and
signing, storage, the asset rows). Then the worker's CPU use (main process and pool child) over a stretch
with nothing to do. The request page polls every 0.7 s on top of this.
The table goes to stdout and var/bench/overhead.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import training_job_running  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
RUN_DIR = BENCH_DIR / "overhead-run"
REPORT = BENCH_DIR / "overhead.md"
PROMPT = "a coffee mug on a wooden desk"
# The worker as it was before: kombu's default poll, and no model until the first job loads it.
BEFORE = {"STUDIO_QUEUE_POLL_SECONDS": "1", "STUDIO_WORKER_PRELOAD_MODEL": "0"}
CONFIGURATIONS = {
    "as shipped (poll 0.1 s, model preloaded)": {},
    "before (poll 1 s, model loaded by the first job)": BEFORE,
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Timing:
    submit_to_done: float
    pickup: float
    bare: float = 0.0  # the pipeline call alone, timed just before the request (0 for the first request)

    @property
    def overhead(self) -> float:
        return self.submit_to_done - self.bare


@dataclass(frozen=True)
class Result:
    label: str
    first: Timing
    runs: list[Timing]
    idle_cpu_percent: float


def request_parameters(steps: int | None):
    from generation.engine.registry import default_model
    from generation.services import GenerationParameters

    spec = default_model()
    return GenerationParameters(
        prompt=PROMPT,
        negative_prompt="",
        style="none",
        model_key=spec.key,
        width=spec.output_size,
        height=spec.output_size,
        num_images=2,
        seed=1,
        steps=steps or spec.default_steps,
        guidance=spec.default_guidance,
    )


def bare_pipeline_call(steps: int | None) -> Callable[[], float]:
    """The pipeline call alone on a loaded model (loaded here, now), as a function that times one call."""
    from generation.engine.generate import generate_images
    from generation.engine.registry import default_model
    from generation.engine.runner import TextToImageJob

    parameters = request_parameters(steps)
    job = TextToImageJob(
        prompt=parameters.prompt,
        negative_prompt="",
        width=parameters.width,
        height=parameters.height,
        num_images=parameters.num_images,
        seed=parameters.seed,
        steps=parameters.steps,
        guidance=parameters.guidance,
    )
    spec = default_model()
    generate_images(spec, job, lambda _step, _total: True)  # warm-up: loads the model and the upscaler

    def timed() -> float:
        started = time.perf_counter()
        generate_images(spec, job, lambda _step, _total: True)
        return time.perf_counter() - started

    return timed


class BenchWorker:
    """``celery -A studio worker -P prefork -c 1``, as `make run` starts the generation worker."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        command = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-P", "prefork", "-c", "1"]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "--loglevel=INFO"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"The worker did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker's main process and its pool children."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids += [int(pid) for pid in children.read_text().split()]
        total = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def submit_and_wait(user, steps: int | None, bare: float = 0.0, timeout: float = 600) -> Timing:
    from django.db import transaction

    from generation.models import GenerationRequest
    from generation.services import generation_request_create

    with transaction.atomic():
        created = generation_request_create(user=user, parameters=request_parameters(steps))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = GenerationRequest.objects.get(pk=created.pk)
        if request.is_finished:
            if request.status != GenerationRequest.Status.SUCCEEDED:
                raise RuntimeError(f"Request {request.pk} {request.status}: {request.error}")
            return Timing(
                submit_to_done=(request.finished_at - request.created_at).total_seconds(),
                pickup=(request.started_at - request.created_at).total_seconds(),
                bare=bare,
            )
        time.sleep(0.02)
    raise RuntimeError(f"Request {created.pk} did not finish within {timeout:.0f} s")


def measure(
    label: str, env: dict[str, str], user, bare_call: Callable[[], float], args: argparse.Namespace, log: Path
) -> Result:
    worker = BenchWorker(env, log)
    try:
        worker.wait_until_ready()
        time.sleep(args.first_after)
        first = submit_and_wait(user, args.steps)
        # Each request right after a bare call in this process (the worker idle meanwhile): on a shared
        # machine whose load comes and goes, the pair sees about the same load.
        timings = [submit_and_wait(user, args.steps, bare=bare_call()) for _ in range(args.runs)]
        time.sleep(2)  # let the last job's after-work settle before the idle stretch
        before = worker.cpu_seconds()
        time.sleep(args.idle_seconds)
        idle = 100 * (worker.cpu_seconds() - before) / args.idle_seconds
    finally:
        worker.stop()
    return Result(label=label, first=first, runs=timings, idle_cpu_percent=idle)


def report(results: list[Result], args: argparse.Namespace) -> str:
    bare = statistics.median(timing.bare for result in results for timing in result.runs)
    lines = [
        "# Request overhead: submit to done, beyond the pipeline call",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end), Python "
        f"{platform.python_version()}; embedded stack (SQLite, filesystem queue), one prefork worker; a "
        f"request is 2 images of {PROMPT!r} on the default model at its defaults"
        f"{f' but {args.steps} steps' if args.steps else ''}. First request {args.first_after:.0f} s after "
        f"the worker is ready; then {args.runs} requests, each paired with a bare pipeline call just before "
        f"it (median of those: {bare:.2f} s); idle CPU over {args.idle_seconds:.0f} s.",
    ]
    if training_job_running():
        lines += ["", "**A training job was running on this machine and took a core: times are inflated.**"]
    lines += [
        "",
        "| worker | first request after start | submit to done, median (best) | overhead, median (best) "
        "| pickup, median (worst) | idle worker CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        done = [timing.submit_to_done for timing in result.runs]
        overheads = [timing.overhead for timing in result.runs]
        pickups = [timing.pickup for timing in result.runs]
        lines.append(
            f"| {result.label} | {result.first.submit_to_done:.2f} s "
            f"| {statistics.median(done):.2f} s ({min(done):.2f} s) "
            f"| {statistics.median(overheads):.2f} s ({min(overheads):.2f} s) "
            f"| {statistics.median(pickups):.2f} s ({max(pickups):.2f} s) "
            f"| {result.idle_cpu_percent:.1f}% of a core |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument(
        "--first-after", type=float, default=15, help="seconds from ready to the first request"
    )
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    # The embedded stack, and the worker settings each configuration sets itself.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", *BEFORE):
        os.environ.pop(name, None)
    os.environ["STUDIO_VAR_DIR"] = str(RUN_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from studio.celery import ensure_filesystem_queue

    call_command("migrate", verbosity=0)
    ensure_filesystem_queue()
    user = get_user_model().objects.create_user("bench")

    bare_call = bare_pipeline_call(args.steps)
    results = [
        measure(label, env, user, bare_call, args, RUN_DIR / f"worker-{index}.log")
        for index, (label, env) in enumerate(CONFIGURATIONS.items())
    ]
    text = report(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
