from django.contrib import admin
from django.db.models import Count
from django.utils import timezone

from studio.models import ApiToken, NotificationPreference, Team

# The admin names itself; templates/admin/base_site.html titles its pages "<page> · Studio admin".
admin.site.site_header = "Studio administration"
admin.site.site_title = "Studio admin"
admin.site.index_title = "Administration"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made by their users on the Settings page (shown once there); admins see and revoke them."""

    list_display = [
        "name",
        "user",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at", "expires_at", "created_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    exclude = ["token_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{revoked} token(s) revoked.")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Members see and refine the team's assets; reviewers review them (studio/teams.py)."""

    list_display = ["name", "slug", "member_count", "reviewer_count"]
    search_fields = ["name", "slug", "members__username", "reviewers__username"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members", "reviewers"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_members=Count("members", distinct=True), _reviewers=Count("reviewers", distinct=True))
        )

    @admin.display(description="Members", ordering="_members")
    def member_count(self, team) -> int:
        return team._members

    @admin.display(description="Reviewers", ordering="_reviewers")
    def reviewer_count(self, team) -> int:
        return team._reviewers


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "on_decisions", "on_mentions", "outcomes_seen_at"]
    list_filter = ["on_decisions", "on_mentions"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "outcomes_seen_at"]

    def has_add_permission(self, request) -> bool:
        return False  # each user's row appears when they save their Settings
