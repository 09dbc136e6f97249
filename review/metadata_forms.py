"""The form behind the asset page's metadata panel (review/metadata.py holds the rules and the write)."""

from typing import Any

from django import forms

from generation.channels import channel_choices
from generation.models import Asset
from review.metadata import EDITABLE_FIELDS, metadata_problems

_WHEN = {"type": "datetime-local"}
_WHEN_FORMAT = "%Y-%m-%dT%H:%M"


def _when_field(label: str, help_text: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.DateTimeInput(attrs=_WHEN, format=_WHEN_FORMAT),
    )


class AssetMetadataEditForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    alt_text = forms.CharField(
        label="Alt text",
        max_length=300,
        required=False,
        help_text="What a screen reader says. Embed snippets use it (the title when empty).",
    )
    campaign = forms.CharField(max_length=200, required=False)
    product = forms.CharField(max_length=200, required=False)
    channels = forms.MultipleChoiceField(
        label="Destination channels", required=False, widget=forms.CheckboxSelectMultiple
    )
    rights_source = forms.ChoiceField(label="Rights source", choices=Asset.RightsSource.choices)
    licensor = forms.CharField(
        max_length=200, required=False, help_text="Who licensed it to you (required when licensed)."
    )
    licence_reference = forms.CharField(label="Licence reference", max_length=200, required=False)
    territory = forms.CharField(
        max_length=200, required=False, help_text="Where it may be used, e.g. worldwide, EU, US."
    )
    go_live_at = _when_field("Go-live", "Its delivery URLs answer 404 before this moment. Empty: at once.")
    expires_at = _when_field("Expires", "From this moment its URLs answer 410 and caches are purged.")
    usage_rights = forms.CharField(label="Rights notes", max_length=200, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel_choices = channel_choices()  # read once: the field and clean() both need them
        channels = self.fields["channels"]
        assert isinstance(channels, forms.MultipleChoiceField)
        channels.choices = self.channel_choices

    @classmethod
    def for_asset(cls, asset: Asset, data=None) -> "AssetMetadataEditForm":
        initial = {name: getattr(asset, name) for name in EDITABLE_FIELDS}
        return cls(data=data, initial=initial)

    def clean(self) -> dict[str, Any]:
        cleaned = self.cleaned_data
        names = {name for name, _label in self.channel_choices}
        for field, problem in metadata_problems(cleaned, channel_names=names).items():
            if field in cleaned:  # a field that failed its own checks already says why
                self.add_error(field, problem)
        return cleaned
