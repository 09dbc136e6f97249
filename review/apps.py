from django.apps import AppConfig


def _submit_new_assets(sender, assets, **kwargs) -> None:
    from review.decisions import asset_reviews_submit_new

    asset_reviews_submit_new(assets=assets)


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "review"

    def ready(self) -> None:
        from generation.signals import assets_created
        from review.panels import credentials_panel, register_asset_panel

        assets_created.connect(_submit_new_assets, dispatch_uid="review-submit-new-assets")
        register_asset_panel(credentials_panel)
