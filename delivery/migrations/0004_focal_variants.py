"""The asset's focal point is part of a variant's key for chains with g_auto, so that moving the point makes
the crops rendered around the old one unreachable (delivery/services.py VariantKey)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("delivery", "0003_variant_last_used_at"), ("generation", "0006_review_fields")]

    operations = [
        migrations.RemoveConstraint(model_name="variant", name="variant_unique_key"),
        migrations.AddField(
            model_name="variant",
            name="focal",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.AddConstraint(
            model_name="variant",
            constraint=models.UniqueConstraint(
                fields=("asset", "source_hash", "transformation", "format", "focal"),
                name="variant_unique_key",
            ),
        ),
    ]
