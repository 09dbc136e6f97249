"""Usage rights as structured fields on assets, a usage window that delivery enforces, and what the rights
sweep and the expiry reminder record.

Existing rows: an upload or import is "owned", everything else "generated". The old free-text
``usage_rights`` stays as notes; when it says "editorial" the source becomes editorial, and when it says
"licensed"/"licence" the source becomes licensed with the text as the licensor (a licensed asset must name
one), for a reviewer to tidy. The old single ``channel`` is copied into ``channels`` when it names a channel
preset; the field itself stays (generation requests, the API's filter and webhook payloads still carry it).
"""

import re

from django.db import migrations, models

_LICENSED = re.compile(r"\blicen[cs]", re.IGNORECASE)
_EDITORIAL = re.compile(r"\beditorial\b", re.IGNORECASE)


def fill_rights(apps, schema_editor):
    Asset = apps.get_model("generation", "Asset")
    NamedPreset = apps.get_model("delivery", "NamedPreset")
    presets = set(NamedPreset.objects.values_list("name", flat=True))
    Asset.objects.filter(operation__in=["upload", "import"]).update(rights_source="owned")
    for asset in Asset.objects.exclude(usage_rights="", channel="").only(
        "pk", "usage_rights", "channel", "channels"
    ):
        fields = []
        notes = asset.usage_rights.strip()
        if notes and _LICENSED.search(notes):
            asset.rights_source, asset.licensor = "licensed", notes[:200]
            fields += ["rights_source", "licensor"]
        elif notes and _EDITORIAL.search(notes):
            asset.rights_source = "editorial"
            fields.append("rights_source")
        channel = asset.channel.strip()
        if channel in presets and channel not in (asset.channels or []):
            asset.channels = [*(asset.channels or []), channel]
            fields.append("channels")
        if fields:
            asset.save(update_fields=fields)


class Migration(migrations.Migration):
    dependencies = [("generation", "0006_review_fields"), ("delivery", "0002_channel_presets")]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="expires_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="go_live_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="licence_reference",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="asset",
            name="licensor",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="asset",
            name="rights_closed_handled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="rights_reminded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="asset",
            name="rights_source",
            field=models.CharField(
                choices=[
                    ("generated", "Generated"),
                    ("owned", "Owned"),
                    ("licensed", "Licensed"),
                    ("editorial", "Editorial"),
                ],
                default="generated",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="asset",
            name="territory",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(fill_rights, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="asset",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("go_live_at__isnull", True),
                    ("expires_at__isnull", True),
                    ("expires_at__gt", models.F("go_live_at")),
                    _connector="OR",
                ),
                name="asset_rights_expire_after_go_live",
            ),
        ),
        migrations.AddConstraint(
            model_name="asset",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("rights_source", "licensed"), _negated=True),
                    models.Q(("licensor", ""), _negated=True),
                    _connector="OR",
                ),
                name="asset_licensed_has_licensor",
            ),
        ),
    ]
