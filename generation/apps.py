from django.apps import AppConfig


def _fail_stale_requests(**_kwargs) -> None:
    from django.conf import settings

    from generation.services import generation_requests_fail_stale

    generation_requests_fail_stale(older_than_seconds=settings.CELERY_TASK_TIME_LIMIT)


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.core.checks import register

        from generation.checks import check_model_registry

        register(check_model_registry)

        worker_ready.connect(_fail_stale_requests, dispatch_uid="generation-fail-stale-requests", weak=False)
