from celery import shared_task

from studio.webhooks import services


# Routed to the "webhooks" queue (studio/celery.py), which a light thread-pool worker consumes, so a message
# never waits behind a generation job. Thin on purpose: the claim in the service makes duplicates harmless,
# and the service's own deadline bounds the HTTP call (a thread pool cannot enforce Celery's time limits).
@shared_task(name="webhooks.deliver", ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    return services.webhook_delivery_attempt(delivery_id=delivery_id)
