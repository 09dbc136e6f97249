from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.core.checks import register

        from generation.checks import check_job_settings, check_model_registry
        from generation.credentials import check_signer
        from generation.jobs import start_sweeper

        register(check_model_registry)
        register(check_job_settings)
        register(check_signer)
        # Each worker's main process sweeps for requests whose worker died and for requests never sent.
        worker_ready.connect(start_sweeper, dispatch_uid="generation-job-sweeper", weak=False)
