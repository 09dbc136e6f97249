import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from delivery import rendering, services
from delivery.models import Variant
from delivery.signing import signed_path
from review import decisions as review_decisions
from tests.concurrency import at_once


def _url(path: str) -> str:
    return reverse("delivery:serve", args=[path])


def _signed(path: str, settings) -> str:
    return _url(signed_path(path, settings.STUDIO_DELIVERY_KEYS))


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(response.content))


@pytest.mark.parametrize(
    ("transformation", "ext", "size", "mime"),
    [
        ("c_scale,w_128", "png", (128, 96), "image/png"),
        ("c_fit,w_100,h_100", "jpg", (100, 75), "image/jpeg"),
        ("c_fill,w_100,h_100", "webp", (100, 100), "image/webp"),
        ("c_scale,h_48/q_40", "jpg", (64, 48), "image/jpeg"),
    ],
)
def test_signed_transformations_render_with_cloudinary_sizes(
    client, approved, settings, transformation, ext, size, mime
):
    _, public_id = approved
    response = client.get(_signed(f"{transformation}/{public_id}.{ext}", settings))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == mime
    assert _image(response).size == size
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == (
        f"public, max-age={settings.STUDIO_DELIVERY_MAX_AGE}, "
        f"stale-while-revalidate={settings.STUDIO_DELIVERY_STALE_WHILE_REVALIDATE}"
    )


def test_named_presets_are_served_unsigned_in_strict_mode(client, approved):
    _, public_id = approved
    response = client.get(_url(f"t_og-image/{public_id}.jpg"))
    assert response.status_code == 200
    assert _image(response).size == (1200, 630)


def test_unsigned_free_transformations_are_refused_in_strict_mode(client, approved):
    _, public_id = approved
    response = client.get(_url(f"c_scale,w_50/{public_id}.png"))
    assert response.status_code == 403
    assert "Strict mode" in response.content.decode()


def test_strict_mode_can_be_turned_off_and_allow_lists_work(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS = ["w_50,c_scale"]
    assert client.get(_url(f"c_scale,w_50/{public_id}.png")).status_code == 200, "allow-list is canonicalised"
    assert client.get(_url(f"c_scale,w_60/{public_id}.png")).status_code == 403
    settings.STUDIO_DELIVERY_STRICT = False
    assert client.get(_url(f"c_scale,w_60/{public_id}.png")).status_code == 200


def test_a_tampered_signature_is_403(client, approved, settings):
    _, public_id = approved
    url = _signed(f"c_scale,w_128/{public_id}.png", settings)
    assert client.get(url.replace("w_128", "w_129")).status_code == 403


def test_rotated_keys_still_verify_old_urls(client, approved, settings):
    _, public_id = approved
    old_url = _signed(f"c_scale,w_128/{public_id}.png", settings)
    settings.STUDIO_DELIVERY_KEYS = ["a-brand-new-key", *settings.STUDIO_DELIVERY_KEYS]
    assert client.get(old_url).status_code == 200


def test_f_auto_negotiates_from_accept_and_varies_on_it(client, approved, settings):
    _, public_id = approved
    url = _signed(f"c_scale,w_64/f_auto/{public_id}", settings)
    webp = client.get(url, headers={"Accept": "image/webp,*/*"})
    jpeg = client.get(url, headers={"Accept": "image/*"})
    assert webp["Content-Type"] == "image/webp"
    assert jpeg["Content-Type"] == "image/jpeg"
    assert "Accept" in webp["Vary"]


@pytest.mark.parametrize(
    "path",
    [
        "c_bogus,w_10/{id}.png",
        "w_-5/{id}.png",
        "q_0/{id}.jpg",
        "c_scale,w_10/{id}.gif",
        "t_nope/{id}.jpg",
        "../{id}.png",
    ],
)
def test_bad_urls_are_400_with_a_reason(client, approved, path):
    _, public_id = approved
    response = client.get(_url(path.format(id=public_id)))
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().startswith("Bad transformation: ")


def test_unknown_public_ids_are_404_with_a_reason(client, channel_presets):
    response = client.get(_url("t_preview/no-such-image.jpg"))
    assert response.status_code == 404
    assert "no-such-image" in response.content.decode()


def test_variants_are_cached_and_equivalent_urls_share_one(client, approved, settings):
    asset, public_id = approved
    first = client.get(_signed(f"c_fill,w_100,h_50/{public_id}.jpg", settings))
    second = client.get(_signed(f"h_50,w_100,c_fill/{public_id}.jpg", settings))
    assert first.content == second.content
    assert Variant.objects.filter(asset=asset).count() == 1


def test_conditional_get_answers_304(client, approved):
    _, public_id = approved
    first = client.get(_url(f"t_preview/{public_id}.jpg"))
    again = client.get(_url(f"t_preview/{public_id}.jpg"), headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert not again.content


@pytest.mark.parametrize("remembered", [False, True], ids=["full path", "remembered path"])
@pytest.mark.parametrize("if_none_match", ["W/{etag}", '"other", {etag}', '"other",W/{etag}', "*"])
def test_weak_and_listed_etags_answer_304(client, approved, if_none_match, remembered):
    # CDNs revalidate with weak validators (W/"...") and with several ETags at once.
    _, public_id = approved
    url = _url(f"t_preview/{public_id}.jpg")
    etag = client.get(url)["ETag"]
    if not remembered:
        services.hit_cache.clear()
    again = client.get(url, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert again.status_code == 304 and again["ETag"] == etag
    assert again["Cache-Control"] and again["Content-Security-Policy"] == "default-src 'none'"
    assert client.get(url, headers={"If-None-Match": '"other", W/"another"'}).status_code == 200


def test_versioned_urls_are_immutable(client, approved):
    _, public_id = approved
    response = client.get(_url(f"t_preview/v1700000000/{public_id}.jpg"))
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_revoking_an_asset_purges_its_variants_and_its_urls_404(
    client, approved, reviewer, django_capture_on_commit_callbacks
):
    asset, public_id = approved
    assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 200
    [variant] = Variant.objects.filter(asset=asset)
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="pulled")
    assert not Variant.objects.filter(asset=asset).exists()
    assert not variant.file.storage.exists(variant.file.name)
    assert client.get(_url(f"t_preview/{public_id}.jpg")).status_code == 404


def test_over_capacity_renders_get_503_with_retry_after(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_MAX_RENDERS = 1
    settings.STUDIO_DELIVERY_RENDER_WAIT = 0
    slots = services._render_slots()
    assert slots.acquire(blocking=False)
    try:
        response = client.get(_url(f"t_preview/{public_id}.jpg"))
    finally:
        slots.release()
    assert response.status_code == 503
    assert response["Retry-After"] == "1"


def test_output_limits_are_a_400(client, approved, settings):
    _, public_id = approved
    settings.STUDIO_DELIVERY_MAX_WIDTH = 500
    response = client.get(_signed(f"c_scale,w_800/{public_id}.png", settings))
    assert response.status_code == 400


def test_generated_variants_keep_the_ai_disclosure(client, approved):
    _, public_id = approved
    response = client.get(_url(f"t_preview/{public_id}.jpg"))
    assert b"trainedAlgorithmicMedia" in response.content


def test_post_is_not_allowed(client, approved):
    _, public_id = approved
    assert client.post(_url(f"t_preview/{public_id}.jpg")).status_code == 405


def test_delivery_url_command_prints_a_working_signed_url(client, approved, capsys):
    _, public_id = approved
    call_command("delivery_url", public_id, "w_80,c_scale", "--ext", "png")
    url = capsys.readouterr().out.strip()
    path = url.split("127.0.0.1:8000", 1)[1]
    response = client.get(path)
    assert response.status_code == 200
    assert _image(response).width == 80


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_render_a_variant_once(approved, settings, monkeypatch):
    from django.test import Client

    _, public_id = approved
    renders: list[int] = []
    real_render = rendering.render

    def counting_render(*args, **kwargs):
        renders.append(1)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(rendering, "render", counting_render)

    def fetch() -> int:
        return Client().get(_url(f"t_og-image/{public_id}.webp")).status_code

    assert at_once(fetch, fetch, fetch, fetch) == [200, 200, 200, 200]
    assert len(renders) == 1
    assert Variant.objects.count() == 1


def test_a_remembered_path_is_served_without_queries_and_revocation_still_wins(
    client, approved, reviewer, django_assert_num_queries, django_capture_on_commit_callbacks
):
    asset, public_id = approved
    url = _url(f"t_preview/{public_id}.jpg")
    first = client.get(url)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = client.get(url)
    assert again.status_code == 200 and again.content == first.content
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == first["Cache-Control"]
    with django_assert_num_queries(0):
        assert client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 304
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="pulled")
    assert client.get(url).status_code == 404


def test_another_process_that_remembers_a_revoked_path_finds_its_file_gone(client, approved):
    asset, public_id = approved
    url = _url(f"t_preview/{public_id}.jpg")
    assert client.get(url).status_code == 200
    remembered = services.hit_cache.get(url.split("/image/upload/", 1)[1])
    assert remembered is not None
    # As another web process sees it: the revocation's purge deleted the file, and this process still
    # remembers the path.
    review = asset.review
    review.state = "revoked"
    review.save(update_fields=["state"])
    variant = Variant.objects.get(asset=asset)
    variant.file.storage.delete(variant.file.name)
    assert client.get(url).status_code == 404
