import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Webhooks go to their own queue, consumed by a light thread-pool worker (run_studio starts one), so a
# message never waits behind a generation job and a slow receiver never holds a GPU worker. Workers
# started without -Q consume only the default queue, as before.
# CDN purges and notification mail are the same kind of work: short outbound calls (HTTP, SMTP) that must not
# wait for a generation. The queue keeps its name; it is the outbound queue.
app.conf.task_routes = {
    "webhooks.*": {"queue": "webhooks"},
    "delivery.purge_cdn": {"queue": "webhooks"},
    "studio.send_notification": {"queue": "webhooks"},
}


@worker_init.connect
def run_system_checks(**_kwargs) -> None:
    """Refuse to start a worker on settings that fail Django's system checks, as runserver does.

    Celery's Django fixup runs the checks too but discards their result, and Celery logs and ignores
    exceptions from signal handlers, so a bad model registry would only show when its first job failed.
    """
    import django
    from django.apps import apps
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    if not apps.ready:
        django.setup()
    try:
        call_command("check")
    except SystemCheckError as error:
        raise SystemExit(f"{error}\nThe worker did not start.") from error


def ensure_filesystem_queue() -> None:
    """kombu's filesystem transport needs its folders before the first message is sent or read."""
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
