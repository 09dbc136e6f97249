from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0008_asset_team"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationrequest",
            name="channels",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
