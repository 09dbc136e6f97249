from django.contrib import admin

from generation.models import Asset, GenerationRequest


class AssetInline(admin.TabularInline):
    model = Asset
    extra = 0
    fields = ["index", "file", "seed", "width", "height", "byte_size"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(GenerationRequest)
class GenerationRequestAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "prompt_short",
        "status",
        "model_key",
        "width",
        "height",
        "num_images",
        "seed",
        "created_by",
        "campaign",
        "created_at",
    ]
    list_filter = ["status", "model_key", "style", "campaign", "created_at"]
    search_fields = ["prompt", "negative_prompt", "campaign", "product", "created_by__username"]
    readonly_fields = [
        "created_at",
        "started_at",
        "finished_at",
        "progress_step",
        "progress_total",
        "error",
        "full_prompt",
        "full_negative_prompt",
        "model_source",
        "scheduler",
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
