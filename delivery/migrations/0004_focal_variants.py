"""Placeholder, filled in by the work it is named for (or deleted before commit)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("delivery", "0003_variant_last_used_at"), ("generation", "0006_review_fields")]

    operations = []
