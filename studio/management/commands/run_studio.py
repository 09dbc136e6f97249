import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together; Ctrl-C (or SIGTERM) stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options) -> None:
        commands = [
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "-P", "solo", "--loglevel=INFO"],
            [sys.executable, "manage.py", "runserver", "--noreload", addrport],
        ]
        processes = [subprocess.Popen(command, cwd=settings.BASE_DIR) for command in commands]
        self.stdout.write(
            self.style.SUCCESS(f"Studio on http://{addrport}/ (Ctrl-C stops the web server and the worker)")
        )

        def stop(*_args) -> None:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
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
