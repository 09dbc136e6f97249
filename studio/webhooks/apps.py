import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _on_review_changed(sender, asset, from_state, to_state, **kwargs) -> None:
    from studio.webhooks.services import review_change_emit

    # After the decision committed: a failure here must not turn a recorded decision into an error page.
    try:
        review_change_emit(asset=asset, from_state=from_state, to_state=to_state)
    except Exception:
        logger.exception("Webhooks: could not queue the event for asset %s (%s)", asset.pk, to_state)


def _on_request_finished(sender, request_id, status, **kwargs) -> None:
    from studio.webhooks.services import generation_finished_emit

    try:
        generation_finished_emit(request_id=request_id, status=status)
    except Exception:
        logger.exception("Webhooks: could not queue the event for request %s (%s)", request_id, status)


class WebhooksConfig(AppConfig):
    """Signed webhooks: endpoints admins register, the events they want, and every delivery attempt."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "studio.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.core.checks import register

        from generation.signals import request_finished
        from review.signals import asset_review_changed
        from studio.webhooks.checks import check_webhook_settings
        from studio.webhooks.sweeper import start_sweeper

        register(check_webhook_settings)
        asset_review_changed.connect(_on_review_changed, dispatch_uid="webhooks-review-changed")
        request_finished.connect(_on_request_finished, dispatch_uid="webhooks-request-finished")
        worker_ready.connect(start_sweeper, dispatch_uid="webhooks-sweeper", weak=False)
