from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from review.signals import asset_review_changed, comment_posted
        from studio import notifications
        from studio.celery import ensure_filesystem_queue

        ensure_filesystem_queue()
        asset_review_changed.connect(
            notifications.on_asset_review_changed, dispatch_uid="studio-notify-decision"
        )
        comment_posted.connect(notifications.on_comment_posted, dispatch_uid="studio-notify-mentions")
