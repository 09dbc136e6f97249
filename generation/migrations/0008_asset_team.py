"""Placeholder, filled in by the work it is named for (or deleted before commit)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("generation", "0007_asset_rights"), ("studio", "0002_teams")]

    operations = []
