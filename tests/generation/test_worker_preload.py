"""A generation worker loads the default model as it starts, so the first request does not wait for it."""

import threading

import pytest
from celery import Celery

from generation import tasks
from generation.engine.pipelines import clear_pipeline_cache, pipeline_is_loaded
from generation.engine.registry import default_model
from studio.celery import app as studio_app
from tests.conftest import wait_for, worker_env
from tests.workers import Worker


def _worker_app(*queues: str) -> Celery:
    """Studio's Celery configuration, consuming ``queues`` as ``-Q`` would (all of them when none)."""
    app = Celery("studio-test", set_as_current=False)
    app.conf.task_routes = studio_app.conf.task_routes
    if queues:
        app.amqp.queues.select(queues)
    return app


@pytest.mark.storage_free
def test_generation_workers_preload_and_the_webhooks_worker_does_not():
    assert tasks._runs_generation_requests(_worker_app())
    assert tasks._runs_generation_requests(_worker_app("celery", "webhooks"))
    assert not tasks._runs_generation_requests(_worker_app("webhooks"))


@pytest.mark.storage_free
def test_preloading_turned_off_loads_nothing(settings, tiny_model_dir):
    settings.STUDIO_DEFAULT_MODEL = "tiny"
    settings.STUDIO_WORKER_PRELOAD_MODEL = False
    clear_pipeline_cache()
    tasks.preload_default_model()
    assert not any(thread.name == "studio-preload-model" for thread in threading.enumerate())
    assert not pipeline_is_loaded(default_model())


@pytest.mark.storage_free
def test_preloading_loads_the_default_model_on_a_thread(settings, tiny_model_dir):
    settings.STUDIO_DEFAULT_MODEL = "tiny"
    settings.STUDIO_WORKER_PRELOAD_MODEL = True
    clear_pipeline_cache()
    tasks.preload_default_model()
    preload = next(thread for thread in threading.enumerate() if thread.name == "studio-preload-model")
    preload.join(timeout=60)
    assert pipeline_is_loaded(default_model())


@pytest.mark.django_db(transaction=True)
def test_a_worker_pool_process_loads_the_default_model_before_any_request(tiny_model_dir, media_root):
    env = {**worker_env(media_root), "STUDIO_DEFAULT_MODEL": "tiny", "STUDIO_WORKER_PRELOAD_MODEL": "1"}
    worker = Worker(env=env, log_path=media_root.parent / "worker.log").start()
    try:
        wait_for(lambda: "Loaded model tiny" in worker.log_tail(20_000), timeout=120)
        loaded = next(line for line in worker.log_tail(20_000).splitlines() if "Loaded model tiny" in line)
    finally:
        worker.stop()
    # In the pool's child, which runs the jobs, not in the worker's main process.
    assert "ForkPoolWorker" in loaded
