from django.urls import path

from delivery import views

app_name = "delivery"
urlpatterns = [
    path("image/upload/<path:delivery_path>", views.serve, name="serve"),
]
