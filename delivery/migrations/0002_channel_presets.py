from django.db import migrations

# Channel presets every team needs on day one; editable in the admin afterwards.
PRESETS = [
    ("desktop-hero", "Desktop hero", "c_fill,g_auto,w_1920,h_720,q_auto", "100vw", "960,1440,1920"),
    ("mobile-crop", "Mobile crop", "c_fill,g_auto,w_750,h_1000,q_auto", "100vw", "375,750"),
    (
        "social-square",
        "Square social post",
        "c_fill,g_auto,w_1080,h_1080,q_auto",
        "(min-width: 600px) 540px, 100vw",
        "540,1080",
    ),
    ("story", "Vertical story", "c_fill,g_auto,w_1080,h_1920,q_auto", "100vw", "540,1080"),
    ("product-thumb", "Product thumbnail", "c_pad,b_white,w_400,h_400,q_auto", "200px", "200,400"),
    ("email-banner", "Email banner", "c_fill,g_auto,w_600,h_200,q_auto:good", "600px", "600,1200"),
    ("preview", "Lightweight preview", "c_limit,w_320,q_auto:eco", "320px", "160,320"),
    ("og-image", "Open Graph 1200x630", "c_fill,g_auto,w_1200,h_630,q_auto", "1200px", "1200"),
]


def add_presets(apps, schema_editor):
    NamedPreset = apps.get_model("delivery", "NamedPreset")
    for name, label, transformation, sizes, widths in PRESETS:
        NamedPreset.objects.get_or_create(
            name=name,
            defaults={"label": label, "transformation": transformation, "sizes": sizes, "widths": widths},
        )


def remove_presets(apps, schema_editor):
    apps.get_model("delivery", "NamedPreset").objects.filter(name__in=[p[0] for p in PRESETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("delivery", "0001_initial")]
    operations = [migrations.RunPython(add_presets, remove_presets)]
