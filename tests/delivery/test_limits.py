"""Delivery cannot be used to fill the disk or starve renders: unsigned URLs are one preset, the variant store
is capped with least-recently-used eviction, cold renders are rate-limited per client, and a render that
finishes after a revocation stores nothing."""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from delivery import rendering, services
from delivery.models import Variant
from delivery.signing import signed_path
from delivery.urls_builder import variant_path
from review import decisions as review_decisions
from studio.env import parse_rate
from tests.conftest import checklist_all


def _url(path: str) -> str:
    return reverse("delivery:serve", args=[path])


def _signed(path: str, settings) -> str:
    return _url(signed_path(path, settings.STUDIO_DELIVERY_KEYS))


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


def _stored_files(media_root) -> list:
    return [path for path in (media_root / "variants").rglob("*") if path.is_file()]


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """Counts the renderer's calls, one entry (the output format) per render."""
    calls: list[str] = []
    real_render = rendering.render

    def counting_render(*args, **kwargs):
        calls.append(kwargs["output_format"])
        return real_render(*args, **kwargs)

    monkeypatch.setattr(rendering, "render", counting_render)
    return calls


@pytest.fixture
def another_approved(make_asset, reviewer, django_capture_on_commit_callbacks):
    from review.decisions import asset_review_decide

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(size=(200, 100), prompt="a green pear")
    with django_capture_on_commit_callbacks(execute=True):
        review = asset_review_decide(
            asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()
        )
    return asset, review.public_id


def _age(variant: Variant, minutes: int) -> None:
    Variant.objects.filter(pk=variant.pk).update(last_used_at=timezone.now() - timedelta(minutes=minutes))


# --- strict mode: one preset per unsigned URL --------------------------------------------------------------


@pytest.mark.parametrize(
    "transformation",
    ["t_story/t_desktop-hero", "t_preview/t_preview", "t_preview/c_scale,w_50", "t_preview/f_webp"],
)
def test_unsigned_preset_chains_need_a_signature(client, approved, settings, media_root, transformation):
    _, public_id = approved
    response = client.get(_url(f"{transformation}/{public_id}.png"))
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert "one named preset" in response.content.decode()
    assert not Variant.objects.exists()
    assert not (media_root / "variants").exists()
    assert client.get(_signed(f"{transformation}/{public_id}.png", settings)).status_code == 200


def test_one_preset_or_the_original_is_still_served_unsigned(client, approved):
    _, public_id = approved
    assert client.get(_url(f"t_preview/{public_id}.webp")).status_code == 200
    assert client.get(_url(f"{public_id}.png")).status_code == 200


def test_built_urls_sign_preset_chains(approved):
    _, public_id = approved
    assert variant_path(public_id, "t_preview", ext="jpg") == f"t_preview/{public_id}.jpg"
    assert variant_path(public_id, "t_story/t_desktop-hero", ext="png").startswith("s--")


# --- variant caps with least-recently-used eviction ------------------------------------------------------


def test_the_per_asset_cap_keeps_the_most_recently_used_variants(client, approved, settings, media_root):
    asset, public_id = approved
    settings.STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET = 2
    for width in (10, 20):
        assert client.get(_signed(f"c_scale,w_{width}/{public_id}.png", settings)).status_code == 200
    w10, w20 = Variant.objects.order_by("pk")
    _age(w10, 120)
    _age(w20, 180)
    # A hit on w_10 marks it used now: w_20 is now the least recently used.
    assert client.get(_signed(f"c_scale,w_10/{public_id}.png", settings)).status_code == 200

    assert client.get(_signed(f"c_scale,w_30/{public_id}.png", settings)).status_code == 200

    kept = set(Variant.objects.filter(asset=asset).values_list("transformation", flat=True))
    assert kept == {"c_scale,w_10", "c_scale,w_30"}
    assert len(_stored_files(media_root)) == 2, "the evicted variant's file is deleted too"


def test_the_store_cap_evicts_the_least_recently_used_variant_of_any_asset(
    client, approved, another_approved, settings
):
    first, first_id = approved
    second, second_id = another_approved
    assert client.get(_signed(f"c_scale,w_40/{first_id}.png", settings)).status_code == 200
    assert client.get(_signed(f"c_scale,w_40/{second_id}.png", settings)).status_code == 200
    old, recent = Variant.objects.order_by("pk")
    _age(old, 60)
    settings.STUDIO_DELIVERY_MAX_STORE_BYTES = old.byte_size + recent.byte_size

    assert client.get(_signed(f"c_scale,w_41/{second_id}.png", settings)).status_code == 200

    assert not Variant.objects.filter(asset=first).exists()
    assert Variant.objects.filter(asset=second).count() == 2


def test_evicted_variants_render_again_on_the_next_request(client, approved, settings, renders):
    _, public_id = approved
    settings.STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET = 1
    first = client.get(_signed(f"c_scale,w_10/{public_id}.png", settings))
    client.get(_signed(f"c_scale,w_20/{public_id}.png", settings))
    assert Variant.objects.get().transformation == "c_scale,w_20"

    again = client.get(_signed(f"c_scale,w_10/{public_id}.png", settings))

    assert again.status_code == 200
    assert _pixels(again.content) == _pixels(first.content)  # signed anew: same image, new credentials
    assert len(renders) == 3


def test_caps_set_to_zero_keep_every_variant(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_MAX_VARIANTS_PER_ASSET = 0
    settings.STUDIO_DELIVERY_MAX_STORE_BYTES = 0
    for width in (10, 20, 30):
        assert client.get(_signed(f"c_scale,w_{width}/{public_id}.png", settings)).status_code == 200
    assert Variant.objects.count() == 3


def test_a_hit_records_its_use_at_most_once_a_minute(client, approved):
    _, public_id = approved
    client.get(_url(f"t_preview/{public_id}.jpg"))
    variant = Variant.objects.get()
    client.get(_url(f"t_preview/{public_id}.jpg"))
    assert Variant.objects.get().last_used_at == variant.last_used_at, "a fresh variant is not written to"

    _age(variant, 5)
    services.hit_cache.clear()  # as this process's memory of the path runs out, after a few seconds
    client.get(_url(f"t_preview/{public_id}.jpg"))
    assert Variant.objects.get().last_used_at > timezone.now() - timedelta(seconds=30)


def test_a_variant_whose_file_went_missing_after_its_lookup_is_rendered_again(client, approved, renders):
    _, public_id = approved
    first = client.get(_url(f"t_preview/{public_id}.jpg"))
    variant = Variant.objects.get()
    variant.file.storage.delete(variant.file.name)  # as an eviction does, between another request's two steps

    again = client.get(_url(f"t_preview/{public_id}.jpg"))

    assert again.status_code == 200
    assert _pixels(again.content) == _pixels(first.content)  # signed anew: same image, new credentials
    assert len(renders) == 2
    assert Variant.objects.get().file.storage.exists(Variant.objects.get().file.name)


# --- per-client render rate ------------------------------------------------------------------------------


def test_too_many_cold_renders_from_one_address_are_429_with_retry_after(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_RENDER_RATE = "3/minute"
    for width in (10, 20, 30):
        assert client.get(_signed(f"c_scale,w_{width}/{public_id}.png", settings)).status_code == 200

    refused = client.get(_signed(f"c_scale,w_40/{public_id}.png", settings))

    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("text/plain")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Cache-Control"] == "no-store", "a CDN must not answer everyone with one client's 429"
    assert Variant.objects.count() == 3, "nothing rendered or stored for the refused request"
    other = client.get(_signed(f"c_scale,w_40/{public_id}.png", settings), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200


def test_cached_variants_are_never_rate_limited(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_RENDER_RATE = "1/hour"
    assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 200
    assert client.get(_url(f"t_preview/{public_id}.webp")).status_code == 429
    for _ in range(5):
        assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 200


def test_the_render_rate_can_be_turned_off(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_RENDER_RATE = "0"
    for width in range(10, 60, 10):
        assert client.get(_signed(f"c_scale,w_{width}/{public_id}.png", settings)).status_code == 200


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_RENDER_RATE = "1/minute"
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.1"}
    assert client.get(_signed(f"c_scale,w_10/{public_id}.png", settings), **spoofed).status_code == 200
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.2"}
    assert client.get(_signed(f"c_scale,w_20/{public_id}.png", settings), **spoofed).status_code == 429

    settings.STUDIO_TRUSTED_PROXY_COUNT = 1
    proxied = {"HTTP_X_FORWARDED_FOR": "203.0.113.3"}
    assert client.get(_signed(f"c_scale,w_20/{public_id}.png", settings), **proxied).status_code == 200


def test_render_rates_read_as_count_per_period():
    assert parse_rate("30/minute") == (30, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("1000/day") == (1000, 86400)
    assert parse_rate("") is None
    assert parse_rate("0") is None
    for bad in ("30", "thirty/minute", "30/week", "-1/minute"):
        with pytest.raises(ValueError, match="not a rate"):
            parse_rate(bad)


# --- a revocation during a render ------------------------------------------------------------------------


def test_a_render_that_finishes_after_a_revocation_stores_nothing(
    client, approved, reviewer, media_root, monkeypatch
):
    asset, public_id = approved
    real_render = rendering.render

    def render_then_revoke(*args, **kwargs):
        rendered = real_render(*args, **kwargs)
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="pulled mid-render")
        return rendered

    monkeypatch.setattr(rendering, "render", render_then_revoke)

    response = client.get(_url(f"t_preview/{public_id}.jpg"))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert not Variant.objects.exists()
    assert _stored_files(media_root) == [], "the rendered bytes are discarded"
