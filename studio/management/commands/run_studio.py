import ctypes
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in each child before exec: on Linux the kernel sends it SIGTERM if this launcher dies, even by
    SIGKILL, so a killed `make run` never leaves an orphaned web server or worker holding the port."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _celery_worker(*options: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "studio", "worker", *options, "--loglevel=INFO"]


class Command(BaseCommand):
    help = (
        "Run the web server, a Celery worker and a webhooks worker together; Ctrl-C (or SIGTERM) stops all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options) -> None:
        commands = [
            # One job at a time in a child process: when a job hangs or is killed, the pool starts a new one.
            _celery_worker("-P", "prefork", "-c", "1"),
            # Webhooks and CDN purges: many short HTTP calls, each bounded by a timeout, on threads, from a
            # queue of their own (studio/celery.py), so they never wait behind a generation job.
            _celery_worker(
                "-P",
                "threads",
                "-c",
                str(settings.STUDIO_WEBHOOKS_CONCURRENCY),
                "-Q",
                "webhooks",
                "-n",
                "webhooks@%h",
            ),
            [sys.executable, "manage.py", "runserver", "--noreload", addrport],
        ]
        processes = [
            subprocess.Popen(command, cwd=settings.BASE_DIR, preexec_fn=_die_with_parent)
            for command in commands
        ]
        self.stdout.write(
            self.style.SUCCESS(f"Studio on http://{addrport}/ (Ctrl-C stops the web server and the workers)")
        )

        def stop(*_args) -> None:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

        # SIGHUP: the terminal that ran `make run` was closed.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)
        try:
            # If either one dies, stop the other: half a Studio is worse than none.
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
