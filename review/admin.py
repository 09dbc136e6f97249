from django.contrib import admin

from review.models import AssetReview, ChecklistItem, Comment, PublicIdVersion, ReviewEvent


class ReviewEventInline(admin.TabularInline):
    model = ReviewEvent
    fk_name = "asset"
    extra = 0
    can_delete = False
    readonly_fields = ("actor", "created_at", "kind", "from_state", "to_state", "comment")
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


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    """The points a reviewer ticks before approving. Approvals store the labels as they read then, so
    rewording or disabling an item never changes the record of an earlier decision."""

    list_display = ["label", "help_text", "position", "enabled"]
    list_editable = ["help_text", "position", "enabled"]
    list_display_links = ["label"]
    ordering = ["position", "pk"]
    search_fields = ["label", "help_text"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    # Read-only: comments are written on the asset page, and a decision's comment belongs to its event.
    list_display = ["asset", "author", "created_at", "parent", "event", "x", "y", "body"]
    list_filter = ["created_at"]
    search_fields = ["body", "author__username"]
    readonly_fields = ["asset", "author", "parent", "event", "body", "x", "y", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PublicIdVersion)
class PublicIdVersionAdmin(admin.ModelAdmin):
    list_display = ["public_id", "version", "asset", "created_at"]
    search_fields = ["public_id"]
    readonly_fields = ["public_id", "version", "asset", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
