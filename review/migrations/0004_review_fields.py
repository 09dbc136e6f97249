"""What a review step records beyond its comment (``ReviewEvent.details``), and two more kinds of step: a
metadata edit and a public id taken over by a revision.

SQLite rebuilds the table to add the column, which drops the immutability trigger (see 0002), so the
triggers are dropped first and created again after, as in 0003.
"""

import importlib

from django.db import migrations, models

triggers = importlib.import_module("review.migrations.0002_reviewevent_immutable")


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0006_review_fields"),
        ("review", "0003_moderation"),
    ]

    operations = [
        migrations.RunPython(triggers.drop_triggers, triggers.create_triggers, elidable=False),
        migrations.AddField(
            model_name="reviewevent",
            name="details",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(triggers.create_triggers, triggers.drop_triggers, elidable=False),
        migrations.AlterField(
            model_name="reviewevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("decision", "Decision"),
                    ("flagged", "Flagged"),
                    ("checked_safe", "Checked, safe"),
                    ("edited", "Edited"),
                    ("replaced", "Replaced"),
                ],
                default="decision",
                max_length=20,
            ),
        ),
    ]
