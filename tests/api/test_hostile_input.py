"""Bad input of every kind is a 4xx problem, never a 500, on SQLite and on PostgreSQL (which refuses NUL
characters and out-of-range integers at the database)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.api.conftest import ApiClient
from tests.conftest import png_bytes

BODIES = [
    "null",
    "[]",
    '"text"',
    "1e999",
    '{"prompt": null}',
    '{"prompt": {"nested": 1}}',
    '{"prompt": ["a"]}',
    '{"prompt": "a\\u0000b", "model": "tiny"}',
    '{"prompt": "a mug", "seed": 99999999999999999999999}',
    '{"prompt": "a mug", "steps": -1, "guidance": "NaN"}',
    '{"prompt": "a mug", "guidance": 1e308, "width": 1e10, "size": "custom"}',
    '{"prompt": "a mug", "model": "no-such-model"}',
    '{"prompt": "' + "x" * 5000 + '"}',
    '{"operation": "outpaint", "aspect": "0:0"}',
    '{"operation": "outpaint", "pad_left": 99999}',
    '{"operation": "recolor", "color": "\\u0000"}',
    '{"operation": "upscale", "scale": 3}',
    '{"operation": "variations", "mode": "seeds"}',
    '{"comment": "\\u0000"}',
    '{"title": "\\u0000"}',
    '{"title": 5}',
]
POSTS = [
    "/api/v1/requests",
    "/api/v1/assets/{asset}/refinements",
    "/api/v1/assets/{asset}/revisions",
    "/api/v1/assets/{asset}/approve",
    "/api/v1/assets/{asset}/submit",
    "/api/v1/requests/{request}/cancel",
]
QUERIES = [
    ("/api/v1/assets", {"campaign": "a\x00b"}),
    ("/api/v1/assets", {"product": "x" * 5000, "operation": "\x00"}),
    ("/api/v1/assets", {"page_size": "-5"}),
    ("/api/v1/assets", {"page_size": "abc", "mine": "maybe", "flagged": "2"}),
    ("/api/v1/requests", {"limit": "99999999999999999999", "mine": "x"}),
    ("/api/v1/models", {"task": "\x00"}),
    ("/api/v1/assets/{approved}/delivery-url", {"transformation": "\x00", "ext": "exe"}),
    ("/api/v1/assets/{approved}/delivery-url", {"transformation": "w_" + "9" * 400}),
    ("/api/v1/assets/{approved}/delivery-url", {"expires_in": "99999999999999999999"}),
    ("/api/v1/assets/{approved}/snippets", {"preset": "\x00", "alt": "\x00"}),
    ("/api/v1/assets/99999999999999999999999", {}),
    ("/api/v1/requests/99999999999999999999999", {}),
    ("/api/v1/assets/-1", {}),
]


@pytest.fixture
def api(marketer, admin_user, as_user) -> ApiClient:
    return as_user(admin_user)


@pytest.fixture
def ids(make_asset, approved) -> dict:
    asset = make_asset()
    return {"asset": asset.pk, "request": asset.request_id, "approved": approved[0].pk}


def _assert_client_error(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.django_db
@pytest.mark.parametrize("path", POSTS)
def test_hostile_bodies_are_refused_with_problems(api, ids, path):
    for body in BODIES:
        response = api.client.post(
            path.format(**ids),
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.secret}"},
        )
        if response.status_code < 400:
            continue  # some bodies are fine for some endpoints (a cancel takes none)
        _assert_client_error(response)


@pytest.mark.django_db
def test_hostile_metadata_edits_are_refused(api, ids):
    for body in BODIES:
        response = api.client.patch(
            f"/api/v1/assets/{ids['asset']}",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.secret}"},
        )
        if response.status_code >= 400:
            _assert_client_error(response)


@pytest.mark.django_db
def test_hostile_queries_are_refused_with_problems(api, ids):
    for path, query in QUERIES:
        response = api.get(path.format(**ids), query)
        if response.status_code >= 400:
            _assert_client_error(response)


@pytest.mark.django_db
def test_hostile_uploads_and_headers_are_refused_with_problems(api, ids):
    response = api.upload(
        "/api/v1/uploads",
        {"file": SimpleUploadedFile("a.png", png_bytes(), "image/png")},
        {"campaign": "a\x00b"},
    )
    _assert_client_error(response)
    for header in (
        "Bearer studio_\x00_x",
        "Bearer studio_" + "f" * 5000 + "_x",
        "Bearer " + "\u00e9" * 10,
        "Basic abc",
    ):
        _assert_client_error(Client().get("/api/v1/assets", headers={"Authorization": header}))
    response = api.post("/api/v1/requests", {"prompt": "a mug"}, headers={"Idempotency-Key": "\x7f"})
    _assert_client_error(response)
