from django.apps import AppConfig


def _purge_on_unapproval(sender, asset, from_state, to_state, **kwargs) -> None:
    from delivery.services import variants_purge
    from review.models import ReviewState

    if from_state == ReviewState.APPROVED and to_state != ReviewState.APPROVED:
        variants_purge(asset=asset)


class DeliveryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "delivery"

    def ready(self) -> None:
        from django.core.checks import register

        from delivery.checks import check_allowed_transformations, check_delivery_limits
        from delivery.panels import embed_panel
        from review.panels import register_asset_panel
        from review.signals import asset_review_changed

        asset_review_changed.connect(_purge_on_unapproval, dispatch_uid="delivery-purge-on-unapproval")
        register_asset_panel(embed_panel)
        register(check_delivery_limits)
        register(check_allowed_transformations)
