"""Moderation in review: the kind of each event (decision, flagged, checked, safe) and who checked a flagged
asset, when.

Adding ``ReviewEvent.kind`` makes SQLite rebuild the table, which drops its immutability trigger (see 0002),
so the triggers are dropped first and created again after, on every backend (PostgreSQL's would survive the
ALTER, but dropping and creating on both keeps one path and a symmetric reverse).
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# The trigger SQL lives in one place, 0002, for every later migration that rebuilds the table.
triggers = importlib.import_module("review.migrations.0002_reviewevent_immutable")


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0003_moderation"),
        ("review", "0002_reviewevent_immutable"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(triggers.drop_triggers, triggers.create_triggers, elidable=False),
        migrations.AddField(
            model_name="reviewevent",
            name="kind",
            field=models.CharField(
                choices=[("decision", "Decision"), ("flagged", "Flagged"), ("checked_safe", "Checked, safe")],
                default="decision",
                max_length=20,
            ),
        ),
        migrations.RunPython(triggers.create_triggers, triggers.drop_triggers, elidable=False),
        migrations.AddField(
            model_name="assetreview",
            name="flag_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="assetreview",
            name="flag_checked_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="assetreview",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("flag_checked_at__isnull", True), ("flag_checked_by__isnull", True)),
                    models.Q(("flag_checked_at__isnull", False), ("flag_checked_by__isnull", False)),
                    _connector="OR",
                ),
                name="flag_checked_has_reviewer",
            ),
        ),
    ]
