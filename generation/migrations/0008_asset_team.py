"""Requests and assets belong to a team (studio.Team); existing rows join their creator's first team."""

import django.db.models.deletion
from django.db import migrations, models


def assign_creator_teams(apps, schema_editor) -> None:
    # Teams are new in this release, so usually nobody is in one yet and every row stays team-less (seen by
    # its creator, reviewers and admins, as before). Where teams exist already, a row joins its creator's
    # first team by name, as new work does.
    Team = apps.get_model("studio", "Team")
    for model_name in ("GenerationRequest", "Asset"):
        model = apps.get_model("generation", model_name)
        creators = model.objects.filter(team__isnull=True).values_list("created_by_id", flat=True).distinct()
        for creator_id in list(creators):
            team = Team.objects.filter(members__pk=creator_id).order_by("name").first()
            if team is not None:
                model.objects.filter(team__isnull=True, created_by_id=creator_id).update(team=team)


class Migration(migrations.Migration):
    dependencies = [("generation", "0007_asset_rights"), ("studio", "0002_teams")]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="assets",
                to="studio.team",
            ),
        ),
        migrations.AddField(
            model_name="generationrequest",
            name="team",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="generation_requests",
                to="studio.team",
            ),
        ),
        migrations.RunPython(assign_creator_teams, migrations.RunPython.noop, elidable=True),
    ]
