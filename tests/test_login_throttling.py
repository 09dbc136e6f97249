"""Login throttling (django-axes): a few wrong passwords per account and address, then a cool-off."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

LIMIT = 3
LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def _log_in(client: Client, url: str, username: str, password: str, address: str = "127.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(client: Client, url: str, username: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        _log_in(client, url, username, "wrong", address)


def _is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_right_password_after_too_many_wrong_ones_is_refused_with_how_long_to_wait(client, marketer):
    _fail(client, LOGIN, "marketer", LIMIT)

    response = _log_in(client, LOGIN, "marketer", "pw-marketer")

    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    page = response.content.decode()
    assert "Too many login attempts" in page
    assert "Wait 15 minutes" in page
    assert not _is_logged_in(client)


def test_the_lockout_page_is_shown_as_soon_as_the_limit_is_reached(client, marketer):
    _fail(client, LOGIN, "marketer", LIMIT - 1)
    assert _log_in(client, LOGIN, "marketer", "wrong").status_code == 429


def test_right_password_works_again_after_the_cool_off(client, marketer):
    _fail(client, LOGIN, "marketer", LIMIT)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    response = _log_in(client, LOGIN, "marketer", "pw-marketer")

    assert response.status_code == 302
    assert _is_logged_in(client)


def test_admin_login_is_throttled_too(client, admin_user):
    _fail(client, ADMIN_LOGIN, "boss", LIMIT)

    response = _log_in(client, ADMIN_LOGIN, "boss", "pw-boss")

    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()
    assert not _is_logged_in(client)


def test_a_locked_account_still_logs_in_from_another_address(client, marketer):
    _fail(client, LOGIN, "marketer", LIMIT, address="203.0.113.9")

    response = _log_in(client, LOGIN, "marketer", "pw-marketer", address="198.51.100.7")

    assert response.status_code == 302
    assert _is_logged_in(client)


def test_another_account_still_logs_in_from_the_locked_address(client, marketer, reviewer):
    _fail(client, LOGIN, "marketer", LIMIT)

    response = _log_in(client, LOGIN, "reviewer", "pw-reviewer")

    assert response.status_code == 302


def test_a_successful_login_resets_the_count(client, marketer):
    _fail(client, LOGIN, "marketer", LIMIT - 1)
    assert _log_in(client, LOGIN, "marketer", "pw-marketer").status_code == 302
    client.logout()

    _fail(client, LOGIN, "marketer", LIMIT - 1)
    response = _log_in(client, LOGIN, "marketer", "pw-marketer")

    assert response.status_code == 302


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(client, marketer):
    for spoofed in ["10.0.0.1", "10.0.0.2", "10.0.0.3"]:
        client.post(LOGIN, {"username": "marketer", "password": "wrong"}, HTTP_X_FORWARDED_FOR=spoofed)

    response = client.post(
        LOGIN, {"username": "marketer", "password": "pw-marketer"}, HTTP_X_FORWARDED_FOR="10.0.0.4"
    )

    assert response.status_code == 429, "a client must not escape the limit by inventing addresses"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(client, marketer, settings):
    settings.STUDIO_TRUSTED_PROXY_COUNT = 1
    # The left entry is whatever the client claimed; the proxy appended the address it really saw.
    through_proxy = [f"10.0.0.{n}, 203.0.113.9" for n in range(LIMIT)]
    for forwarded in through_proxy:
        client.post(LOGIN, {"username": "marketer", "password": "wrong"}, HTTP_X_FORWARDED_FOR=forwarded)

    locked = client.post(
        LOGIN,
        {"username": "marketer", "password": "pw-marketer"},
        HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",
    )
    other_client = client.post(
        LOGIN, {"username": "marketer", "password": "pw-marketer"}, HTTP_X_FORWARDED_FOR="198.51.100.7"
    )

    assert locked.status_code == 429
    assert other_client.status_code == 302


def test_pages_after_logging_in_work_as_before(client, marketer):
    _log_in(client, LOGIN, "marketer", "pw-marketer")
    assert client.get(reverse("generation:create")).status_code == 200
