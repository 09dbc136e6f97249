from datetime import timedelta

from django import forms
from django.utils import timezone

from studio.models import ApiToken

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CMS import” or “campaign script”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.READ],
        help_text="The token can do only these, and never more than your account can.",
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90", label="Expires")

    def expires_at(self):
        days = self.cleaned_data.get("expires_in")
        return timezone.now() + timedelta(days=int(days)) if days else None


class NotificationPreferenceForm(forms.Form):
    on_decisions = forms.BooleanField(
        required=False, label="Decisions on my assets (approved, changes requested, rejected, revoked)"
    )
    on_mentions = forms.BooleanField(required=False, label="Someone @mentions me in a comment")
