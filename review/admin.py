from django.contrib import admin

from review.models import AssetReview, ReviewEvent


class ReviewEventInline(admin.TabularInline):
    model = ReviewEvent
    fk_name = "asset"
    extra = 0
    can_delete = False
    readonly_fields = ["actor", "created_at", "kind", "from_state", "to_state", "comment"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AssetReview)
class AssetReviewAdmin(admin.ModelAdmin):
    # State changes go through the review pages so that every one leaves an event; here it is read-only.
    list_display = [
        "asset",
        "state",
        "public_id",
        "submitted_at",
        "decided_at",
        "flag_checked_at",
        "updated_at",
    ]
    list_filter = ["state", "asset__is_flagged", "submitted_at", "decided_at"]
    search_fields = ["public_id", "asset__title", "asset__campaign"]
    readonly_fields = [
        "asset",
        "state",
        "public_id",
        "submitted_at",
        "decided_at",
        "flag_checked_at",
        "flag_checked_by",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ReviewEvent)
class ReviewEventAdmin(admin.ModelAdmin):
    list_display = ["asset", "kind", "from_state", "to_state", "actor", "created_at", "comment"]
    list_filter = ["kind", "to_state", "from_state", "created_at"]
    search_fields = ["comment", "actor__username", "asset__title"]
    readonly_fields = ["asset", "actor", "created_at", "kind", "from_state", "to_state", "comment"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
