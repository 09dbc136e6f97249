"""The generation task, and what a generation worker does as it starts."""

import logging
import threading

from celery import Celery, current_app, shared_task
from celery.worker.consumer import Consumer
from django.conf import settings

from generation import services
from generation.engine.pipelines import get_pipeline
from generation.engine.registry import default_model
from generation.engine.safety import get_safety_checker
from generation.engine.upscale import get_upscaler

logger = logging.getLogger(__name__)


@shared_task(name="generation.run_generation_request", ignore_result=True)
def run_generation_request(request_id: int) -> str:
    # Thin on purpose: the claim inside the service makes a duplicate delivery harmless.
    return services.generation_request_execute(request_id=request_id)


def _runs_generation_requests(app: Celery) -> bool:
    """Whether this worker consumes the queue generation requests go to (the webhooks worker does not)."""
    queue = app.amqp.router.route({}, run_generation_request.name)["queue"]
    return queue.name in app.amqp.queues.consume_from


def _load_default_model() -> None:
    """Load what a job on the default model uses: its pipeline, upscaler and safety checker."""
    spec = default_model()
    try:
        get_pipeline(spec)
        if spec.upscaler:
            get_upscaler(spec.upscaler)
        get_safety_checker(spec)
    except Exception:
        # The worker runs on; the first job that needs the model tries again and fails with the reason.
        logger.exception("Could not preload the default model %s", spec.key)


def preload_default_model(**_kwargs: object) -> None:
    """Connected to Celery's ``worker_process_init``: each prefork child (the one the pool starts in place of
    a killed one included) loads the default model on a thread, so the first request does not wait for it.
    A job that comes sooner waits for that load (the pipeline cache's lock); the model never loads twice.

    On a thread because the pool gives a new child 4 seconds to report ready, and a model takes longer.
    """
    if settings.STUDIO_WORKER_PRELOAD_MODEL and _runs_generation_requests(current_app):
        threading.Thread(target=_load_default_model, name="studio-preload-model", daemon=True).start()


def preload_in_worker(sender: Consumer, **_kwargs: object) -> None:
    """Connected to Celery's ``worker_ready``: with the solo or threads pool the worker's own process runs the
    jobs. A prefork worker's main process does not, and must not hold a GPU its children fork from."""
    from celery.concurrency.prefork import TaskPool as PreforkPool

    if not isinstance(sender.pool, PreforkPool):
        preload_default_model()
