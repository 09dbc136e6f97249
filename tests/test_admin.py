import pytest
from django.contrib import admin
from django.urls import reverse

from tests.conftest import checklist_all

STUDIO_APPS = {"generation", "review", "delivery"}


@pytest.mark.django_db
def test_every_studio_model_is_in_the_admin(admin_user):
    registered = {model._meta.label for model in admin.site._registry}
    for label in [
        "generation.GenerationRequest",
        "generation.Asset",
        "generation.PromptRule",
        "review.AssetReview",
        "review.ReviewEvent",
        "delivery.Variant",
        "delivery.NamedPreset",
    ]:
        assert label in registered


@pytest.mark.django_db
def test_admin_lists_and_pages_load_with_data(
    client, admin_user, make_asset, reviewer, channel_presets, django_capture_on_commit_callbacks
):
    from review.decisions import asset_review_decide

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()
    asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all())
    client.force_login(admin_user)
    for model in admin.site._registry:
        if model._meta.app_label not in STUDIO_APPS:
            continue
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(changelist).status_code == 200, changelist
        assert client.get(changelist, {"q": "apple"}).status_code == 200, changelist
        instance = model.objects.first()
        if instance is not None:
            change = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[instance.pk]
            )
            assert client.get(change).status_code == 200, change


@pytest.mark.django_db
def test_review_events_cannot_be_edited_or_deleted_in_the_admin(
    client, admin_user, make_asset, django_capture_on_commit_callbacks
):
    from review.models import ReviewEvent

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()
    event = ReviewEvent.objects.get(asset=asset)
    client.force_login(admin_user)
    client.post(reverse("admin:review_reviewevent_change", args=[event.pk]), {"comment": "rewritten"})
    client.post(reverse("admin:review_reviewevent_delete", args=[event.pk]), {"post": "yes"})
    event.refresh_from_db()
    assert event.comment == "Submitted on generation."


@pytest.mark.django_db
def test_an_admin_adds_a_prompt_rule_and_is_recorded_as_its_author(client, admin_user):
    from generation.models import PromptRule

    client.force_login(admin_user)
    form = {
        "pattern": "rival cola",
        "kind": "phrase",
        "category": "competitor",
        "action": "flag",
        "enabled": "on",
    }
    response = client.post(reverse("admin:generation_promptrule_add"), form)
    assert response.status_code == 302
    rule = PromptRule.objects.get()
    assert (rule.pattern, rule.action, rule.created_by) == ("rival cola", "flag", admin_user)
    assert client.get(reverse("admin:generation_promptrule_changelist")).status_code == 200
    assert client.get(reverse("admin:generation_promptrule_change", args=[rule.pk])).status_code == 200


@pytest.mark.django_db
def test_the_prompt_rule_form_shows_why_a_pattern_is_refused(client, admin_user):
    from generation.models import PromptRule

    client.force_login(admin_user)
    form = {"pattern": "(unclosed", "kind": "regex", "category": "legal", "action": "block", "enabled": "on"}
    response = client.post(reverse("admin:generation_promptrule_add"), form)
    assert response.status_code == 200
    assert "does not compile" in response.content.decode()
    assert not PromptRule.objects.exists()
