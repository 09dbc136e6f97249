"""The per-token rate limit (429 with Retry-After) and conditional GETs (ETag, 304)."""

import pytest

from tests.api.conftest import assert_problem


@pytest.mark.django_db
def test_a_token_over_its_rate_gets_429_with_retry_after(settings, marketer, as_user):
    settings.STUDIO_API_RATE = "3/minute"
    api = as_user(marketer)
    for _ in range(3):
        assert api.get("/api/v1/presets").status_code == 200
    response = api.get("/api/v1/presets")
    assert_problem(response, 429, slug="rate-limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert as_user(marketer).get("/api/v1/presets").status_code == 200, "another token has its own budget"


@pytest.mark.django_db
def test_the_rate_counts_writes_too_and_can_be_turned_off(settings, marketer, as_user):
    settings.STUDIO_API_RATE = "1/hour"
    api = as_user(marketer)
    api.post("/api/v1/requests", {"prompt": "a mug", "model": "tiny", "steps": 2})
    assert_problem(api.post("/api/v1/requests", {"prompt": "a mug", "model": "tiny", "steps": 2}), 429)
    settings.STUDIO_API_RATE = "0"
    assert api.get("/api/v1/presets").status_code == 200


@pytest.mark.django_db
def test_reads_carry_an_etag_and_a_matching_if_none_match_gets_304(make_asset, marketer, as_user):
    asset = make_asset()
    api = as_user(marketer)
    response = api.get(f"/api/v1/assets/{asset.pk}")
    etag = response["ETag"]
    assert etag.startswith('"')
    assert "private" in response["Cache-Control"] and "no-cache" in response["Cache-Control"]
    assert "Authorization" in response["Vary"]
    not_modified = api.get(f"/api/v1/assets/{asset.pk}", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified["ETag"] == etag
    weak = api.get(f"/api/v1/assets/{asset.pk}", headers={"If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304, "If-None-Match compares weakly"
    listed = api.get(f"/api/v1/assets/{asset.pk}", headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304


@pytest.mark.django_db
def test_the_etag_changes_when_the_asset_does(make_asset, reviewer, as_user):
    asset = make_asset()
    api = as_user(reviewer)
    etag = api.get(f"/api/v1/assets/{asset.pk}")["ETag"]
    assert api.patch(f"/api/v1/assets/{asset.pk}", {"title": "Renamed"}).status_code == 200
    response = api.get(f"/api/v1/assets/{asset.pk}", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response["ETag"] != etag
    assert response.json()["title"] == "Renamed"


@pytest.mark.django_db
def test_a_request_being_polled_gets_304_until_it_moves(marketer, as_user):
    from generation.models import GenerationRequest

    api = as_user(marketer)
    request_id = api.post("/api/v1/requests", {"prompt": "a mug", "model": "tiny", "steps": 2}).json()["id"]
    etag = api.get(f"/api/v1/requests/{request_id}")["ETag"]
    assert api.get(f"/api/v1/requests/{request_id}", headers={"If-None-Match": etag}).status_code == 304
    GenerationRequest.objects.filter(pk=request_id).update(status="running", progress_step=1)
    moved = api.get(f"/api/v1/requests/{request_id}", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.json()["progress"]["step"] == 1


@pytest.mark.django_db
def test_the_original_file_has_its_content_hash_as_etag(make_asset, marketer, as_user):
    asset = make_asset()
    api = as_user(marketer)
    response = api.get(f"/api/v1/assets/{asset.pk}/file")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["ETag"] == f'"{asset.content_hash}"'
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert (
        api.get(f"/api/v1/assets/{asset.pk}/file", headers={"If-None-Match": response["ETag"]}).status_code
        == 304
    )


@pytest.mark.django_db
def test_errors_are_never_cached(marketer, as_user):
    response = as_user(marketer).get("/api/v1/assets/424242")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("ETag")
