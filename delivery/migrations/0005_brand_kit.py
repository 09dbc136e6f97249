"""Brand kits and layers: the BrandKit model, the assets a variant overlays (so that revoking one purges the
variants that show it), canonical transformations as long as a delivery path, and the "Square social post"
preset putting the kit's logo in its bottom-right corner."""

import django.core.validators
import django.db.models.deletion
import django.db.models.functions.comparison
from django.db import migrations, models

SOCIAL_SQUARE = "social-square"
SHIPPED = "c_fill,g_auto,w_1080,h_1080,q_auto"
# The logo 15% as wide as the post, 4% in from the bottom-right corner; without a kit or a logo the layer is
# left out and the post renders as before (delivery/overlays.py substitute_brand).
WITH_LOGO = (
    "c_fill,g_auto,w_1080,h_1080,q_auto/l_$logo,fl_relative,w_0.15/fl_layer_apply,g_south_east,x_0.04,y_0.04"
)


def add_logo_to_social_square(apps, schema_editor):
    # Only the preset as shipped: an admin's own version of it stays as they left it.
    NamedPreset = apps.get_model("delivery", "NamedPreset")
    NamedPreset.objects.filter(name=SOCIAL_SQUARE, transformation=SHIPPED).update(transformation=WITH_LOGO)


def remove_logo_from_social_square(apps, schema_editor):
    NamedPreset = apps.get_model("delivery", "NamedPreset")
    NamedPreset.objects.filter(name=SOCIAL_SQUARE, transformation=WITH_LOGO).update(transformation=SHIPPED)


class Migration(migrations.Migration):
    dependencies = [("delivery", "0004_focal_variants"), ("studio", "0002_teams")]

    operations = [
        migrations.AddField(
            model_name="variant",
            name="overlay_assets",
            field=models.ManyToManyField(
                blank=True, related_name="overlaid_in_variants", to="generation.asset"
            ),
        ),
        migrations.AlterField(
            model_name="variant",
            name="transformation",
            field=models.CharField(help_text="Canonical transformation string.", max_length=2048),
        ),
        migrations.CreateModel(
            name="BrandKit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                (
                    "font",
                    models.CharField(
                        choices=[("DejaVuSans", "DejaVu Sans"), ("DejaVuSerif", "DejaVu Serif")],
                        default="DejaVuSans",
                        max_length=40,
                    ),
                ),
                (
                    "primary_colour",
                    models.CharField(
                        default="#000000",
                        max_length=7,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A#[0-9A-Fa-f]{6}\\Z", "Use a colour such as #1a2b3c."
                            )
                        ],
                    ),
                ),
                (
                    "secondary_colour",
                    models.CharField(
                        default="#ffffff",
                        max_length=7,
                        validators=[
                            django.core.validators.RegexValidator(
                                "\\A#[0-9A-Fa-f]{6}\\Z", "Use a colour such as #1a2b3c."
                            )
                        ],
                    ),
                ),
                (
                    "logo",
                    models.ForeignKey(
                        blank=True,
                        help_text=(
                            "An approved asset; while it is not approved (or outside its usage window) no "
                            "logo shows."
                        ),
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="generation.asset",
                    ),
                ),
                (
                    "team",
                    models.OneToOneField(
                        blank=True,
                        help_text=(
                            "Leave empty for the studio's default kit (assets of no team, or of a team "
                            "without a kit)."
                        ),
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="brand_kit",
                        to="studio.team",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        django.db.models.functions.comparison.Coalesce("team", models.Value(0)),
                        name="brand_kit_one_per_team",
                        violation_error_message=(
                            "There is already a brand kit for this team (or a default kit)."
                        ),
                    )
                ],
            },
        ),
        migrations.RunPython(add_logo_to_social_square, remove_logo_from_social_square),
    ]
