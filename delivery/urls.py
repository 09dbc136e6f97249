from django.urls import path

from delivery import builder_views, crop_views, exports, views

app_name = "delivery"
urlpatterns = [
    path("image/upload/<path:delivery_path>", views.serve, name="serve"),
    # Beside the asset page it is linked from (the embed panel).
    path("review/assets/<int:asset_id>/variant/", builder_views.variant_builder, name="variant-builder"),
    # Under review/ with the other exports; delivery's, as it renders the channel variants.
    path("review/exports/campaign.zip", exports.campaign_zip, name="campaign-zip"),
    # Review's channel crops: any asset the viewer may see, approved or not (delivery/crop_views.py).
    path(
        "review/assets/<int:asset_id>/crops/<slug:channel>.jpg", crop_views.channel_crop, name="review-crop"
    ),
]
