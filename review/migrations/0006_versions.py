"""Placeholder, filled in by the work it is named for (or deleted before commit)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("review", "0005_comments_checklist")]

    operations = []
