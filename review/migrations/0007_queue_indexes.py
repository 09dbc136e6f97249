"""The review queue's index: a state's rows in queue order (submitted_at, asset), read a page at a time."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("review", "0006_versions")]

    operations = [
        migrations.AddIndex(
            model_name="assetreview",
            index=models.Index(fields=["state", "submitted_at", "asset"], name="review_queue_order"),
        ),
    ]
