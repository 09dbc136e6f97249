from django.contrib import admin

from generation.models import Asset, GenerationRequest, PromptRule


class AssetInline(admin.TabularInline):
    model = Asset
    extra = 0
    readonly_fields = ("index", "file", "seed", "width", "height", "byte_size")
    fields = readonly_fields
    can_delete = False
    show_change_link = True


@admin.register(GenerationRequest)
class GenerationRequestAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "prompt_short",
        "operation",
        "status",
        "model_key",
        "width",
        "height",
        "num_images",
        "seed",
        "created_by",
        "campaign",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "operation", "model_key", "style", "campaign", "created_at"]
    search_fields = ["prompt", "negative_prompt", "campaign", "product", "created_by__username"]
    readonly_fields = [
        "created_at",
        "started_at",
        "finished_at",
        "progress_step",
        "progress_total",
        "error",
        "worker",
        "heartbeat_at",
        "attempts",
        "dispatched_at",
        "full_prompt",
        "full_negative_prompt",
        "model_source",
        "scheduler",
        "operation",
        "source_asset",
        "mask",
        "options",
        "revises",
        "moderation_flags",
    ]
    date_hierarchy = "created_at"
    inlines = [AssetInline]

    @admin.display(description="Prompt")
    def prompt_short(self, obj: GenerationRequest) -> str:
        return obj.prompt[:60]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "operation",
        "format",
        "width",
        "height",
        "seed",
        "campaign",
        "product",
        "channel",
        "created_by",
        "created_at",
    ]
    list_filter = ["operation", "format", "ai_generated", "campaign", "channel", "created_at"]
    search_fields = ["title", "campaign", "product", "usage_rights", "request__prompt", "content_hash"]
    readonly_fields = [
        "request",
        "parent",
        "revision_of",
        "file",
        "content_hash",
        "format",
        "width",
        "height",
        "byte_size",
        "seed",
        "created_at",
        "created_by",
        "operation",
        "index",
    ]
    date_hierarchy = "created_at"


@admin.register(PromptRule)
class PromptRuleAdmin(admin.ModelAdmin):
    """Words, phrases and patterns that block prompts or flag their images; the form checks each pattern
    (PromptRule.clean) before it is saved."""

    list_display = ["pattern", "kind", "category", "action", "enabled", "created_by", "updated_at"]
    list_filter = ["enabled", "action", "category", "kind"]
    search_fields = ["pattern", "note"]
    fields = [
        "pattern",
        "kind",
        "category",
        "action",
        "enabled",
        "note",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request, obj: PromptRule, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
