from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0009_generationrequest_channels"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationrequest",
            name="loading_model",
            field=models.BooleanField(default=False),
        ),
    ]
