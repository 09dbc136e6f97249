from django.apps import AppConfig


def _purge_on_unapproval(sender, asset, from_state, to_state, **kwargs) -> None:
    from delivery import purge
    from delivery.models import NamedPreset, Variant
    from delivery.services import variants_purge
    from review.models import ReviewState
    from review.selectors import review_state_of

    if from_state == ReviewState.APPROVED and to_state != ReviewState.APPROVED:
        review = review_state_of(asset=asset)
        variant_keys = list(Variant.objects.filter(asset=asset).values_list("transformation", "format"))
        variants_purge(asset=asset)
        if review is not None and review.public_id:
            paths = purge.asset_paths(
                public_id=review.public_id,
                variant_keys=variant_keys,
                presets=NamedPreset.objects.values_list("name", flat=True),
            )
            purge.purge_asset_on_commit(asset_id=asset.pk, paths=paths)


class DeliveryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "delivery"

    def ready(self) -> None:
        from django.core.checks import register

        from delivery.checks import check_allowed_transformations, check_cdn_purge, check_delivery_limits
        from delivery.panels import embed_panel
        from review.panels import register_asset_panel
        from review.signals import asset_review_changed

        asset_review_changed.connect(_purge_on_unapproval, dispatch_uid="delivery-purge-on-unapproval")
        register_asset_panel(embed_panel)
        register(check_delivery_limits)
        register(check_allowed_transformations)
        register(check_cdn_purge)
