"""Idempotency-Key: a retried POST gets the first response and never makes a second generation."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from generation.models import Asset, GenerationRequest
from studio.models import IdempotencyRecord
from tests.api.conftest import assert_problem
from tests.conftest import png_bytes

BODY = {"prompt": "a red mug", "model": "tiny", "steps": 2}


@pytest.fixture
def api(marketer, as_user):
    return as_user(marketer)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_gets_the_first_response_and_no_second_generation(api):
    first = api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "abc-1"})
    retry = api.post(
        "/api/v1/requests",
        {"steps": 2, "model": "tiny", "prompt": "a red mug"},
        headers={"Idempotency-Key": "abc-1"},
    )
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"] == f"/api/v1/requests/{first.json()['id']}"
    assert GenerationRequest.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_each_post_is_a_new_request(api):
    api.post("/api/v1/requests", BODY)
    api.post("/api/v1/requests", BODY)
    assert GenerationRequest.objects.count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_422_problem(api):
    api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "abc-2"})
    response = api.post(
        "/api/v1/requests", {**BODY, "prompt": "a blue mug"}, headers={"Idempotency-Key": "abc-2"}
    )
    assert_problem(response, 422, slug="idempotency-key-reused", field="Idempotency-Key")
    assert GenerationRequest.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_user(api, other_marketer, as_user):
    api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "shared"})
    other = as_user(other_marketer).post(
        "/api/v1/requests", {**BODY, "prompt": "x"}, headers={"Idempotency-Key": "shared"}
    )
    assert other.status_code == 201 and "Idempotent-Replayed" not in other
    assert GenerationRequest.objects.count() == 2


@pytest.mark.django_db
def test_an_expired_key_runs_again(api):
    api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "old"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "old"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert GenerationRequest.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_a_retry_while_the_first_is_still_running_is_told_to_wait(api, marketer):
    IdempotencyRecord.objects.create(
        user=marketer,
        key="busy",
        method="POST",
        path="/api/v1/requests",
        fingerprint="x",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    IdempotencyRecord.objects.update(fingerprint=_fingerprint_of(api, BODY))
    response = api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "busy"})
    assert_problem(response, 409, slug="idempotency-key-in-flight")
    assert response["Retry-After"] == "1"
    assert not GenerationRequest.objects.exists()


def _fingerprint_of(api, body) -> str:
    """The fingerprint the API keeps for a JSON POST of ``body`` to /api/v1/requests."""
    import hashlib
    import json

    digest = hashlib.sha256(b"POST /api/v1/requests\n")
    digest.update(b"application/json\n" + json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


@pytest.mark.django_db
def test_a_refused_request_is_replayed_but_an_auth_failure_is_not(api, marketer, as_user):
    bad = {"prompt": "", "model": "tiny"}
    first = api.post("/api/v1/requests", bad, headers={"Idempotency-Key": "bad"})
    again = api.post("/api/v1/requests", bad, headers={"Idempotency-Key": "bad"})
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"
    read_only = as_user(marketer, ["read"])
    assert read_only.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "scope"}).status_code == 403
    assert not IdempotencyRecord.objects.filter(key="scope").exists(), (
        "a 403 is not kept: a new token may retry"
    )


def _multipart(api, boundary: str, data: bytes):
    from django.test.client import encode_multipart

    body = encode_multipart(
        boundary, {"file": SimpleUploadedFile("mug.png", data, "image/png"), "campaign": "spring"}
    )
    return api.client.post(
        "/api/v1/uploads",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Authorization": f"Bearer {api.secret}", "Idempotency-Key": "up"},
    )


@pytest.mark.django_db
def test_a_retried_upload_makes_one_asset_though_its_multipart_boundary_changes(api):
    data = png_bytes()
    first = _multipart(api, "first-boundary-1234", data)
    retry = _multipart(api, "another-boundary-5678", data)
    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Asset.objects.count() == 1
    other = _multipart(api, "third-boundary-9", png_bytes(colour=(1, 2, 3)))
    assert_problem(other, 422, slug="idempotency-key-reused")


@pytest.mark.django_db
def test_a_malformed_key_is_a_400_problem(api):
    response = api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "x" * 300})
    assert_problem(response, 400, slug="invalid-idempotency-key", field="Idempotency-Key")
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_cancel_retried_with_its_key_answers_the_same(api):
    request_id = api.post("/api/v1/requests", BODY).json()["id"]
    first = api.post(f"/api/v1/requests/{request_id}/cancel", headers={"Idempotency-Key": "stop"})
    retry = api.post(f"/api/v1/requests/{request_id}/cancel", headers={"Idempotency-Key": "stop"})
    assert first.json()["outcome"] == retry.json()["outcome"] == "canceled"


@pytest.mark.django_db
def test_expired_records_of_every_user_are_purged(api, other_marketer):
    IdempotencyRecord.objects.create(
        user=other_marketer,
        key="old",
        method="POST",
        path="/api/v1/requests",
        fingerprint="x",
        response_status=201,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    api.post("/api/v1/requests", BODY, headers={"Idempotency-Key": "new"})
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
