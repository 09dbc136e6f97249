"""Public id versions: a revision may take over the public id of the approved asset it replaces, which
becomes "replaced" and stays servable at its versioned URL (v<n>).

Adding the "replaced" state changes the choices of ReviewEvent.from_state / to_state. SQLite rebuilds the
table for that AlterField, which drops the immutability trigger (see 0002), so the triggers are dropped
first and created again after, as in 0004. Every public id already assigned becomes version 1 of itself.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

triggers = importlib.import_module("review.migrations.0002_reviewevent_immutable")

STATES = [
    ("draft", "Draft"),
    ("in_review", "In review"),
    ("approved", "Approved"),
    ("changes_requested", "Changes requested"),
    ("rejected", "Rejected"),
    ("revoked", "Revoked"),
    ("replaced", "Replaced by a revision"),
]


def first_versions(apps, schema_editor) -> None:
    review = apps.get_model("review", "AssetReview")
    version = apps.get_model("review", "PublicIdVersion")
    version.objects.bulk_create(
        [
            version(public_id=public_id, version=1, asset_id=asset_id)
            for asset_id, public_id in review.objects.filter(public_id__isnull=False).values_list(
                "asset_id", "public_id"
            )
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("review", "0005_comments_checklist")]

    operations = [
        migrations.AlterField(
            model_name="assetreview",
            name="state",
            field=models.CharField(choices=STATES, db_index=True, default="draft", max_length=20),
        ),
        migrations.RunPython(triggers.drop_triggers, triggers.create_triggers, elidable=False),
        migrations.AlterField(
            model_name="reviewevent",
            name="from_state",
            field=models.CharField(choices=STATES, max_length=20),
        ),
        migrations.AlterField(
            model_name="reviewevent",
            name="to_state",
            field=models.CharField(choices=STATES, max_length=20),
        ),
        migrations.RunPython(triggers.create_triggers, triggers.drop_triggers, elidable=False),
        migrations.CreateModel(
            name="PublicIdVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.CharField(max_length=120)),
                ("version", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "asset",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="public_id_version",
                        to="generation.asset",
                    ),
                ),
            ],
            options={
                "ordering": ["public_id", "version"],
                "constraints": [
                    models.UniqueConstraint(fields=("public_id", "version"), name="public_id_version_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("version__gte", 1)), name="public_id_version_from_one"
                    ),
                ],
            },
        ),
        migrations.RunPython(first_versions, migrations.RunPython.noop),
    ]
