from django.urls import path

from review import comment_views, crop_views, exports, metadata_views, views

app_name = "review"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk/", views.bulk_decide, name="bulk"),
    path("assets/", views.asset_list, name="assets"),
    path("assets/<int:asset_id>/", views.asset_detail, name="asset"),
    path("assets/<int:asset_id>/decide/", views.decide, name="decide"),
    path("assets/<int:asset_id>/submit/", views.submit, name="submit"),
    path("assets/<int:asset_id>/revoke/", views.revoke, name="revoke"),
    path("assets/<int:asset_id>/revise/", views.revise, name="revise"),
    path("assets/<int:asset_id>/checked-safe/", views.checked_safe, name="checked-safe"),
    path("assets/<int:asset_id>/history.csv", views.history_csv, name="history-csv"),
    path("assets/<int:asset_id>/comments/", comment_views.comments, name="comments"),
    path("assets/<int:asset_id>/metadata/", metadata_views.asset_metadata, name="metadata"),
    path("assets/<int:asset_id>/crops/", crop_views.crops_section, name="crops"),
    path("assets/<int:asset_id>/focal-point/", crop_views.focal_point, name="focal-point"),
    path("exports/", exports.exports_page, name="exports"),
    path("exports/decisions.csv", exports.decisions_csv, name="decisions-csv"),
]
