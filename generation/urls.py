from django.urls import path

from generation import views

app_name = "generation"
urlpatterns = [
    path("generate/", views.create, name="create"),
    path("generate/prompt-meter/", views.prompt_meter, name="prompt-meter"),
    path("upload/", views.upload, name="upload"),
    path("requests/", views.gallery, name="gallery"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("requests/<int:request_id>/cancel/", views.request_cancel, name="cancel"),
    path("assets/<int:asset_id>/file/", views.asset_file, name="asset-file"),
    path("assets/<int:asset_id>/refine/", views.refine, name="refine"),
]
