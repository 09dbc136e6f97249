from django import forms

from review.services import DECISIONS


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(key, key.replace("_", " ")) for key in DECISIONS])
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class BulkDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[(key, key.replace("_", " ")) for key in DECISIONS])
    comment = forms.CharField(max_length=2000, required=False)
    assets = forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args, asset_ids: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assets"].choices = [(asset_id, asset_id) for asset_id in asset_ids]
