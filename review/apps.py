from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_groups(sender, **kwargs) -> None:
    from review.roles import sync_groups

    sync_groups()


def _submit_new_assets(sender, assets, **kwargs) -> None:
    from review.services import asset_reviews_submit_new

    asset_reviews_submit_new(assets=assets)


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "review"

    def ready(self) -> None:
        from generation.signals import assets_created
        from review.panels import credentials_panel, register_asset_panel

        # Permissions appear at post_migrate, app by app, so groups are synced then, not in a migration.
        post_migrate.connect(_sync_groups, dispatch_uid="review-sync-groups")
        assets_created.connect(_submit_new_assets, dispatch_uid="review-submit-new-assets")
        register_asset_panel(credentials_panel)
