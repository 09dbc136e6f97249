from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from studio.celery import ensure_filesystem_queue

        ensure_filesystem_queue()
