from django.contrib import admin

from delivery.models import BrandKit, NamedPreset, Variant


@admin.register(NamedPreset)
class NamedPresetAdmin(admin.ModelAdmin):
    # The model's clean() validates each preset when the form is saved; the problem column finds rows
    # written some other way (SQL, before that check), which pages skip until they are fixed here.
    list_display = ["name", "label", "transformation", "widths", "sizes", "problem"]
    search_fields = ["name", "label", "transformation"]

    @admin.display(description="Problem")
    def problem(self, preset: NamedPreset) -> str:
        return " ".join(preset.problems().values())


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["asset", "transformation", "format", "width", "height", "byte_size", "created_at"]
    list_filter = ["format", "created_at"]
    search_fields = ["transformation", "asset__title"]
    readonly_fields = [
        "asset",
        "source_hash",
        "transformation",
        "format",
        "file",
        "content_type",
        "width",
        "height",
        "byte_size",
        "etag",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BrandKit)
class BrandKitAdmin(admin.ModelAdmin):
    # The model's clean() refuses a logo that is not approved and normalises the colours; the unique
    # constraint allows one kit per team and one default kit (no team).
    list_display = ["name", "team", "logo", "font", "primary_colour", "secondary_colour"]
    search_fields = ["name", "team__name"]
    raw_id_fields = ["logo"]
