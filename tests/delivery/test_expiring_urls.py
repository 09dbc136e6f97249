"""Signed URLs that stop working at a moment their signature covers (e--<unix seconds>--)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from delivery.models import Variant
from delivery.signing import signed_path
from delivery.transformations import TransformationError, parse_delivery_path
from delivery.urls_builder import variant_url


def _in(seconds: float) -> datetime:
    return datetime.now(tz=UTC) + timedelta(seconds=seconds)


def test_the_expiry_is_parsed_only_behind_a_signature():
    delivery = parse_delivery_path("s--abcdefgh12345678--/e--1767225600--/c_fill,w_100,h_100/abc.jpg")
    assert delivery.expires == 1767225600
    assert delivery.signed_path == "e--1767225600--/c_fill,w_100,h_100/abc.jpg"
    assert delivery.canonical_path == "c_fill,h_100,w_100/abc.jpg"
    assert parse_delivery_path("s--abcdefgh12345678--/c_fill,w_100,h_100/abc.jpg").expires is None
    with pytest.raises(TransformationError, match="only works in a signed URL"):
        parse_delivery_path("e--1767225600--/c_fill,w_100,h_100/abc.jpg")
    with pytest.raises(TransformationError, match="e--<unix seconds>--"):
        parse_delivery_path("s--abcdefgh12345678--/e--soon--/abc.jpg")


def test_an_expiring_url_works_until_its_moment_and_then_says_why(client, approved, settings):
    _, public_id = approved
    url = variant_url(public_id, "c_fill,w_64,h_64", ext="png", expires=_in(2))
    assert "/e--" in url
    response = client.get(url)
    assert response.status_code == 200
    max_age = int(response["Cache-Control"].split("max-age=")[1])
    assert max_age <= 2, "no cache keeps it past the end of the link"
    assert "immutable" not in response["Cache-Control"]

    time.sleep(2.1)
    expired = client.get(url)
    assert expired.status_code == 403
    assert "This link expired on" in expired.content.decode()


def test_an_expiring_url_shares_the_variant_of_the_url_without_one(client, approved):
    _, public_id = approved
    assert (
        client.get(variant_url(public_id, "c_fill,w_48,h_48", ext="png", expires=_in(600))).status_code == 200
    )
    assert (
        client.get(variant_url(public_id, "c_fill,w_48,h_48", ext="png", expires=_in(900))).status_code == 200
    )
    assert client.get(variant_url(public_id, "c_fill,w_48,h_48", ext="png")).status_code == 200
    assert Variant.objects.count() == 1


def test_the_expiry_cannot_be_moved_without_a_new_signature(client, approved, settings):
    _, public_id = approved
    soon = int(time.time()) + 60
    path = signed_path(f"c_fill,h_40,w_40/{public_id}.png", settings.STUDIO_DELIVERY_KEYS, expires=soon)
    assert client.get(reverse("delivery:serve", args=[path])).status_code == 200
    extended = path.replace(f"e--{soon}--", f"e--{soon + 365 * 86400}--")
    response = client.get(reverse("delivery:serve", args=[extended]))
    assert response.status_code == 403
    assert "Invalid signature" in response.content.decode()
    # Nor can it be dropped to make the URL last for ever.
    dropped = path.replace(f"e--{soon}--/", "")
    assert client.get(reverse("delivery:serve", args=[dropped])).status_code == 403


def test_a_named_preset_with_an_expiry_is_signed(approved):
    _, public_id = approved
    assert "/s--" not in variant_url(public_id, "t_og-image", ext="jpg")
    assert "/s--" in variant_url(public_id, "t_og-image", ext="jpg", expires=_in(60))


def test_the_command_prints_an_expiring_url(client, approved, capsys):
    _, public_id = approved
    call_command("delivery_url", public_id, "w_80,c_scale", "--ext", "png", "--expires", "7d")
    path = capsys.readouterr().out.strip().split("127.0.0.1:8000", 1)[1]
    expires = parse_delivery_path(path.split("/image/upload/", 1)[1]).expires
    assert abs(expires - (time.time() + 7 * 86400)) < 60
    assert client.get(path).status_code == 200
    with pytest.raises(CommandError, match="in the past"):
        call_command("delivery_url", public_id, "w_80,c_scale", "--expires", "2020-01-01")
    with pytest.raises(CommandError, match="duration"):
        call_command("delivery_url", public_id, "w_80,c_scale", "--expires", "tomorrow")
