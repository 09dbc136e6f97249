from django.apps import AppConfig


def _purge_on_unapproval(sender, asset, from_state, to_state, **kwargs) -> None:
    from delivery.services import variants_purge_with_cdn
    from review.models import ReviewState
    from review.selectors import public_id_of

    # Approved -> replaced too: the unversioned URLs show the revision now (a replaced version re-renders
    # for its versioned URLs); replaced -> revoked ends those.
    if from_state in (ReviewState.APPROVED, ReviewState.REPLACED) and to_state != from_state:
        # A replaced asset has handed its public id on; the URLs it was served under still name it.
        variants_purge_with_cdn(asset=asset, public_id=public_id_of(asset=asset))


def _channel_presets() -> list[tuple[str, str]]:
    from delivery import selectors

    return [(preset.name, preset.label) for preset in selectors.named_presets()]


class DeliveryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "delivery"

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.core.checks import register

        from delivery.checks import check_allowed_transformations, check_cdn_purge, check_delivery_limits
        from delivery.panels import embed_panel
        from delivery.rights import start_sweeper as start_rights_sweeper
        from generation.channels import register_channel_source
        from review.panels import register_asset_panel
        from review.signals import asset_review_changed

        asset_review_changed.connect(_purge_on_unapproval, dispatch_uid="delivery-purge-on-unapproval")
        register_asset_panel(embed_panel)
        # The generate form and review's metadata form offer the channel presets as destination channels.
        register_channel_source(_channel_presets)
        # Each worker's main process sweeps for assets whose usage window closed (delivery/rights.py).
        worker_ready.connect(start_rights_sweeper, dispatch_uid="delivery-rights-sweeper", weak=False)
        register(check_delivery_limits)
        register(check_allowed_transformations)
        register(check_cdn_purge)

        from delivery.crops import plan_channel_crops, purge_on_focal_point_change
        from review.signals import asset_focal_point_changed
        from review.signoff import register_crop_planner

        # Review's channel sign-off: what each destination channel serves; fresh crops when the point moves.
        register_crop_planner(plan_channel_crops)
        asset_focal_point_changed.connect(purge_on_focal_point_change, dispatch_uid="delivery-focal-point")
