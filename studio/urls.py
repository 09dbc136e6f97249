from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from studio import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("settings/", views.account_settings, name="settings"),
    path("settings/tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("settings/notifications/", views.notification_settings, name="notification-settings"),
    path("attention/", views.attention_list, name="attention"),
    path("api/v1/", api.urls()),
    # Anything else under the API is a problem-details 404, not the HTML page.
    re_path(r"^api/v1/", api.not_found_view, name="api-not-found"),
    path("", include("generation.urls")),
    path("review/", include("review.urls")),
    path("", include("delivery.urls")),
]
