"""API tokens: made and revoked on the Settings page, shown once, stored hashed, scoped, expiring."""

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studio.models import ApiToken
from studio.services import api_token_create
from tests.api.conftest import assert_problem


def _create(client: Client, **data) -> tuple[str, ApiToken]:
    response = client.post(
        "/settings/", {"name": "CMS import", "scopes": ["read", "generate"], "expires_in": "30", **data}
    )
    assert response.status_code == 201, response.content
    secret = response.context["new_token"].secret
    return secret, ApiToken.objects.get(name=data.get("name", "CMS import"))


@pytest.mark.django_db
def test_the_settings_page_is_in_the_nav_and_lists_no_tokens_at_first(client, marketer):
    client.force_login(marketer)
    page = client.get("/generate/").content.decode()
    assert 'href="/settings/"' in page
    response = client.get("/settings/")
    assert response.status_code == 200
    assert "No tokens yet." in response.content.decode()


@pytest.mark.django_db
def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(client, marketer):
    client.force_login(marketer)
    secret, token = _create(client)
    assert secret.startswith(f"studio_{token.prefix}_")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values_list().get(pk=token.pk))
    assert token.scopes == ["read", "generate"]
    assert timezone.now() + timedelta(days=29) < token.expires_at < timezone.now() + timedelta(days=31)
    again = client.get("/settings/").content.decode()
    assert secret not in again and token.prefix in again, "listed by its prefix, never shown again"


@pytest.mark.django_db
def test_a_token_acts_as_its_user_and_records_its_last_use(client, marketer):
    client.force_login(marketer)
    secret, token = _create(client)
    assert token.last_used_at is None
    response = Client().get("/api/v1/requests", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.django_db
def test_a_revoked_token_is_refused(client, marketer):
    client.force_login(marketer)
    secret, token = _create(client)
    response = client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    problem = assert_problem(
        Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {secret}"}), 401
    )
    assert "revoked" in problem["detail"]


@pytest.mark.django_db
def test_nobody_can_revoke_someone_elses_token(client, marketer, other_marketer):
    secret = api_token_create(user=marketer, name="mine", scopes=["read"]).secret
    token = ApiToken.objects.get()
    client.force_login(other_marketer)
    client.post(f"/settings/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


@pytest.mark.django_db
def test_an_expired_token_is_refused(marketer):
    secret = api_token_create(
        user=marketer, name="old", scopes=["read"], expires_at=timezone.now() - timedelta(seconds=1)
    ).secret
    problem = assert_problem(
        Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {secret}"}), 401
    )
    assert "expired" in problem["detail"]


@pytest.mark.django_db
def test_a_token_of_a_deactivated_user_is_refused(marketer):
    secret = api_token_create(user=marketer, name="t", scopes=["read"]).secret
    marketer.is_active = False
    marketer.save()
    assert_problem(Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {secret}"}), 401)


@pytest.mark.django_db
def test_a_token_with_a_right_prefix_and_a_wrong_secret_is_refused(marketer):
    secret = api_token_create(user=marketer, name="t", scopes=["read"]).secret
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert_problem(Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {forged}"}), 401)


@pytest.mark.django_db
def test_a_token_never_does_more_than_its_user(marketer, make_asset):
    """A marketer's token with the review scope still cannot approve: the user's permissions decide."""
    asset = make_asset()
    secret = api_token_create(user=marketer, name="t", scopes=["review"]).secret
    response = Client().post(
        f"/api/v1/assets/{asset.pk}/approve",
        "{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert_problem(response, 403)


@pytest.mark.django_db
def test_a_token_needs_a_name_and_a_scope(client, marketer):
    client.force_login(marketer)
    response = client.post("/settings/", {"name": "", "expires_in": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_an_admin_sees_tokens_without_their_hash_and_can_revoke_them(client, admin_user, marketer):
    api_token_create(user=marketer, name="cms", scopes=["read"])
    token = ApiToken.objects.get()
    client.force_login(admin_user)
    page = client.get(f"/admin/studio/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in page and token.token_hash not in page
    client.post("/admin/studio/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
