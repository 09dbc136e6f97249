"""Usage rights enforced by delivery: the window starts and stops delivery, the sweep purges what closed
(once), and the daily reminder lists what is about to."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from delivery.models import Variant
from delivery.rights import rights_sweep
from generation.models import Asset
from review.rights import rights_reminder_send
from studio.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint


def _url(path: str) -> str:
    return f"/image/upload/{path}"


def _set_window(asset: Asset, *, go_live=None, expires=None) -> None:
    Asset.objects.filter(pk=asset.pk).update(go_live_at=go_live, expires_at=expires)


def test_a_usage_window_starting_and_stopping_delivery(client, approved, monkeypatch):
    """Nobody acts: the clock alone moves the asset from 404 to served to 410, through the hit cache too."""
    asset, public_id = approved
    url = _url(f"t_preview/{public_id}.jpg")
    go_live = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    expires = go_live + timedelta(hours=2)
    _set_window(asset, go_live=go_live, expires=expires)

    def at(moment):
        monkeypatch.setattr("delivery.views.time.time", lambda: moment.timestamp())

    at(go_live - timedelta(seconds=30))
    before = client.get(url)
    assert before.status_code == 404
    assert before["Cache-Control"] == "public, max-age=30", "no cache may keep the 404 past the go-live"

    at(go_live + timedelta(seconds=1))
    live = client.get(url)
    assert live.status_code == 200
    at(expires - timedelta(seconds=90))
    remembered = client.get(url)  # served from this process's hit cache
    assert remembered.status_code == 200
    assert remembered["Cache-Control"] == "public, max-age=90", "no cache may keep it past the expiry"

    at(expires)
    after = client.get(url)
    assert after.status_code == 410
    assert "usage rights" in after.content.decode() and "expired" in after.content.decode()


def test_a_404_before_go_live_is_cached_no_longer_than_until_the_go_live(client, approved):
    asset, public_id = approved
    _set_window(asset, go_live=timezone.now() + timedelta(seconds=20))
    response = client.get(_url(f"t_preview/{public_id}.jpg"))
    assert response.status_code == 404
    assert int(response["Cache-Control"].split("max-age=")[1]) <= 20


def test_a_remembered_path_is_not_served_after_the_expiry(client, approved, monkeypatch):
    asset, public_id = approved
    expires = timezone.now() + timedelta(minutes=10)
    _set_window(asset, expires=expires)
    url = _url(f"t_preview/{public_id}.jpg")
    assert client.get(url).status_code == 200  # remembered by this process now
    monkeypatch.setattr("delivery.views.time.time", lambda: expires.timestamp() + 1)
    assert client.get(url).status_code == 410


def test_a_remembered_path_is_not_served_before_the_go_live(client, approved, monkeypatch):
    asset, public_id = approved
    url = _url(f"t_preview/{public_id}.jpg")
    assert client.get(url).status_code == 200
    go_live = timezone.now() + timedelta(minutes=10)
    _set_window(asset, go_live=go_live)
    # Within the hit cache's few seconds an edit is not seen; a hit still checks the window it stored.
    from delivery.services import hit_cache

    [hit] = [hit_cache.get(f"t_preview/{public_id}.jpg")]
    assert hit is not None and hit.live_from is None
    hit_cache.clear()
    assert client.get(url).status_code == 404
    monkeypatch.setattr("delivery.views.time.time", lambda: go_live.timestamp() + 1)
    assert client.get(url).status_code == 200
    cached = hit_cache.get(f"t_preview/{public_id}.jpg")
    assert cached.live_from == pytest.approx(go_live.timestamp())
    monkeypatch.setattr("delivery.views.time.time", lambda: go_live.timestamp() - 5)
    assert client.get(url).status_code == 404


def test_the_database_refuses_an_expiry_before_the_go_live(make_asset):
    asset = make_asset()
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        _set_window(asset, go_live=now, expires=now - timedelta(hours=1))


def test_the_database_refuses_licensed_without_a_licensor(make_asset):
    asset = make_asset()
    with pytest.raises(IntegrityError), transaction.atomic():
        Asset.objects.filter(pk=asset.pk).update(rights_source="licensed", licensor="")


def test_uploads_default_to_owned_and_generated_images_to_generated(make_asset, marketer):
    from generation.asset_imports import asset_import
    from tests.conftest import png_bytes

    assert make_asset().rights_source == "generated"
    uploaded = asset_import(data=png_bytes(), filename="logo.png", user=marketer, operation="upload")
    assert uploaded.rights_source == "owned"


@pytest.fixture
def rights_listener(db):
    return WebhookEndpoint.objects.create(
        url="https://example.com/hook", events=[EventType.ASSET_RIGHTS_EXPIRED], secret="s" * 32
    )


def test_the_sweep_purges_an_expired_asset_once_and_tells_webhooks(
    client, approved, rights_listener, django_capture_on_commit_callbacks, monkeypatch
):
    asset, public_id = approved
    assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 200
    [variant] = Variant.objects.filter(asset=asset)
    assert default_storage.exists(variant.file.name)
    _set_window(asset, expires=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr("studio.webhooks.services.webhook_delivery_dispatch", lambda **kwargs: True)

    with django_capture_on_commit_callbacks(execute=True):
        done = rights_sweep()

    assert done["closed"] == 1 and done["expired"] == 1 and done["variants"] == 1
    assert not Variant.objects.filter(asset=asset).exists()
    assert not default_storage.exists(variant.file.name)
    asset.refresh_from_db()
    assert asset.rights_closed_handled_at is not None
    [delivery] = WebhookDelivery.objects.filter(event_type=EventType.ASSET_RIGHTS_EXPIRED)
    assert '"rights"' in delivery.body and public_id in delivery.body

    again = rights_sweep()
    assert again["closed"] == 0, "each closing is handled once"
    assert WebhookDelivery.objects.count() == 1


def test_the_sweep_asks_the_cdn_to_forget_the_asset(
    approved, settings, django_capture_on_commit_callbacks, monkeypatch
):
    asset, _public_id = approved
    settings.STUDIO_CDN_PURGE = "http"
    settings.STUDIO_CDN_PURGE_URL = "http://cdn.invalid"
    sent = []
    monkeypatch.setattr("delivery.tasks.purge_cdn.delay", lambda *args: sent.append(args))
    _set_window(asset, expires=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        rights_sweep()
    [(tag, paths)] = sent
    assert tag == f"studio-asset-{asset.pk}" and paths


def test_a_window_opened_again_is_handled_again_when_it_next_closes(approved):
    asset, _public_id = approved
    now = timezone.now()
    _set_window(asset, expires=now - timedelta(seconds=1))
    assert rights_sweep()["closed"] == 1
    # A reviewer renews the licence: the mark is forgotten, so the new expiry is handled too.
    _set_window(asset, expires=now + timedelta(days=30))
    assert rights_sweep()["reopened"] == 1
    assert rights_sweep(at=now + timedelta(days=31))["closed"] == 1


def test_the_sweep_leaves_live_and_unapproved_assets_alone(approved, make_asset):
    asset, _public_id = approved
    _set_window(asset, expires=timezone.now() + timedelta(days=1))
    draft = make_asset()
    _set_window(draft, expires=timezone.now() - timedelta(days=1))
    assert rights_sweep()["closed"] == 0


def test_the_rights_sweep_command_handles_assets_whose_rights_expired(approved):
    asset, _public_id = approved
    _set_window(asset, expires=timezone.now() - timedelta(seconds=1))
    call_command("rights_sweep")
    asset.refresh_from_db()
    assert asset.rights_closed_handled_at is not None


def test_the_daily_reminder_emails_creators_and_reviewers_once_a_day(
    approved, marketer, reviewer, second_reviewer, mailoutbox
):
    asset, public_id = approved
    marketer.email, reviewer.email = "m@example.com", "r@example.com"
    marketer.save()
    reviewer.save()
    # Midday, so "an hour later" is the same day whenever the suite runs ("today" is the local calendar day).
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    _set_window(asset, expires=now + timedelta(days=3))

    done = rights_reminder_send(at=now)

    assert done == {"assets": 1, "emails": 2}
    assert sorted(message.to[0] for message in mailoutbox) == ["m@example.com", "r@example.com"]
    assert public_id in mailoutbox[0].body and "expiring within 14 days" in mailoutbox[0].subject
    assert rights_reminder_send(at=now + timedelta(hours=1))["emails"] == 0, "once a day"
    assert len(mailoutbox) == 2
    assert rights_reminder_send(at=now + timedelta(days=1))["emails"] == 2, "and again the next day"


def test_the_reminder_leaves_out_assets_expiring_later(approved, reviewer, mailoutbox):
    asset, _public_id = approved
    reviewer.email = "r@example.com"
    reviewer.save()
    _set_window(asset, expires=timezone.now() + timedelta(days=20))
    call_command("rights_reminder")
    assert mailoutbox == []
    call_command("rights_reminder", days=30)
    assert len(mailoutbox) == 1
