"""Studio's Celery worker with faults injected from the environment, for the failure tests.

``python -m tests.faulty_worker -A studio worker ...`` takes Celery's own arguments. Each fault acts inside
the job's progress report, so it strikes mid-generation:

- ``STUDIO_FAULT_STEP_DELAY``: seconds added to every step, so a test can act while a job runs;
- ``STUDIO_FAULT_HANG_AT_STEP``: from this step on the job blocks for good, as a pipeline stuck in a
  library call does (the watchdog must fail it and free the worker);
- ``STUDIO_FAULT_KILL_AT_STEP``: at this step the job's process SIGKILLs itself, as the kernel's
  out-of-memory killer would, on every attempt.

With ``STUDIO_FAULT_PROMPT`` set, the faults strike only requests whose prompt contains it.
"""

import os
import signal
import sys
import time


def install_faults() -> None:
    import django

    django.setup()
    from generation import services
    from generation.models import GenerationRequest

    delay = float(os.environ.get("STUDIO_FAULT_STEP_DELAY", "0") or 0)
    hang_at = int(os.environ.get("STUDIO_FAULT_HANG_AT_STEP", "0") or 0)
    kill_at = int(os.environ.get("STUDIO_FAULT_KILL_AT_STEP", "0") or 0)
    if not (delay or hang_at or kill_at):
        return
    only_prompt = os.environ.get("STUDIO_FAULT_PROMPT", "")
    report = services.generation_request_report_progress

    def faulty_report(*, request_id: int, step: int, total: int) -> bool:
        if only_prompt and only_prompt not in GenerationRequest.objects.get(pk=request_id).prompt:
            return report(request_id=request_id, step=step, total=total)
        if kill_at and step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if hang_at and step >= hang_at:
            while True:
                time.sleep(3600)
        time.sleep(delay)
        return report(request_id=request_id, step=step, total=total)

    services.generation_request_report_progress = faulty_report


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    install_faults()
    from celery.__main__ import main

    sys.argv = ["celery", *sys.argv[1:]]
    sys.exit(main())
