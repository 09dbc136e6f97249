from celery import shared_task

from delivery.purge import PurgeError, PurgeRequest, purge_now


@shared_task(
    name="delivery.purge_cdn",
    ignore_result=True,
    autoretry_for=(PurgeError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def purge_cdn(tag: str, paths: list[str]) -> None:
    """Forget an asset in the CDN (delivery/purge.py); retried with backoff for about half an hour."""
    purge_now(PurgeRequest(tag=tag, paths=tuple(paths)))
