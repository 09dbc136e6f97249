import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from studio import notifications

logger = logging.getLogger("studio.notifications")

# Seven attempts over about half an hour (full jitter up to 30 s, 60 s, ... 16 min between them).
NOTIFICATION_MAX_RETRIES = 6
NOTIFICATION_BACKOFF_SECONDS = 30
NOTIFICATION_BACKOFF_MAX_SECONDS = 1800


# Routed to the "webhooks" queue (studio/celery.py) with the other outbound calls, so a mail never waits
# behind a generation job. EMAIL_TIMEOUT bounds each attempt (a thread pool cannot enforce time limits).
# A worker lost mid-send may mail twice (acks_late): better than not at all.
@shared_task(
    name="studio.send_notification", bind=True, ignore_result=True, max_retries=NOTIFICATION_MAX_RETRIES
)
def send_notification(self, kind: str, about_id: int, user_id: int) -> str:
    try:
        sent = notifications.notification_send(kind=kind, about_id=about_id, user_id=user_id)
    except OSError as error:  # smtplib.SMTPException, ConnectionError and socket.timeout are all OSErrors
        attempt = self.request.retries + 1
        if notifications.is_transient(error) and self.request.retries < self.max_retries:
            countdown = get_exponential_backoff_interval(
                factor=NOTIFICATION_BACKOFF_SECONDS,
                retries=self.request.retries,
                maximum=NOTIFICATION_BACKOFF_MAX_SECONDS,
                full_jitter=True,
            )
            logger.warning(
                "Could not send the %s mail about %s to user %s (attempt %s: %s); retrying in %s s",
                kind,
                about_id,
                user_id,
                attempt,
                error,
                countdown,
            )
            raise self.retry(exc=error, countdown=countdown) from error
        logger.error(
            "Gave up on the %s mail about %s to user %s after %s attempt(s)",
            kind,
            about_id,
            user_id,
            attempt,
            exc_info=True,
        )
        return "failed"
    return "sent" if sent else "skipped"
