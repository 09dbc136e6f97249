from django.apps import AppConfig


class GenerationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generation"

    def ready(self) -> None:
        from celery.signals import worker_process_init, worker_ready
        from django.core.checks import register

        from generation.checks import check_job_settings, check_model_registry
        from generation.credentials import check_signer
        from generation.jobs import start_sweeper
        from generation.tasks import preload_default_model, preload_in_worker

        register(check_model_registry)
        register(check_job_settings)
        register(check_signer)
        # Each worker's main process sweeps for requests whose worker died and for requests never sent.
        worker_ready.connect(start_sweeper, dispatch_uid="generation-job-sweeper", weak=False)
        # The process that runs the jobs loads the default model as it starts.
        worker_process_init.connect(preload_default_model, dispatch_uid="generation-preload", weak=False)
        worker_ready.connect(preload_in_worker, dispatch_uid="generation-preload-solo", weak=False)
