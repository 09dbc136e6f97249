"""The webhooks sweeper: a thread in the main process of each worker that consumes the webhooks queue.

It queues retries when they fall due and recovers messages the broker lost or a dead worker dropped. The
delivery rows are the outbox, so nothing is lost when a worker restarts; a countdown message held in a
worker's memory (Celery's ETA) would be, and a broker's visibility timeout would redeliver hour-long ones.
"""

from django.conf import settings

from studio.periodic import OnePerProcess
from studio.webhooks.services import webhook_deliveries_sweep

QUEUE = "webhooks"

_sweeper = OnePerProcess(
    "studio-webhooks-sweeper",
    seconds=lambda: settings.STUDIO_WEBHOOKS_SWEEP_SECONDS,
    work=lambda: webhook_deliveries_sweep(),
)


def consumes_webhooks_queue(consumer) -> bool:
    task_consumer = getattr(consumer, "task_consumer", None)
    queues = getattr(task_consumer, "queues", None) or []
    return any(getattr(queue, "name", None) == QUEUE for queue in queues)


def start_sweeper(sender=None, **_kwargs) -> None:
    """Connected to Celery's ``worker_ready``: one sweeper in each worker that sends webhooks."""
    if consumes_webhooks_queue(sender):
        _sweeper.start()
