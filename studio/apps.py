from django.apps import AppConfig
from django.db.models.signals import post_migrate


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from review.signals import asset_review_changed, comment_posted
        from studio import notifications
        from studio.celery import ensure_filesystem_queue
        from studio.roles import sync_groups_after_migrate

        ensure_filesystem_queue()
        # Permissions appear at post_migrate, app by app, so groups are synced then, not in a migration.
        post_migrate.connect(sync_groups_after_migrate, dispatch_uid="studio-sync-groups")
        asset_review_changed.connect(
            notifications.on_asset_review_changed, dispatch_uid="studio-notify-decision"
        )
        comment_posted.connect(notifications.on_comment_posted, dispatch_uid="studio-notify-mentions")
