"""The API's test world: the personas with tokens, and a client that speaks JSON with a bearer token."""

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from studio.roles import MARKETERS
from studio.services import api_token_create
from tests.conftest import _user

ALL_SCOPES = ["read", "generate", "review", "webhooks"]


@pytest.fixture(autouse=True)
def no_worker(monkeypatch) -> list[int]:
    """Requests are queued but never sent to a worker; the list says what would have been sent."""
    sent: list[int] = []
    monkeypatch.setattr("generation.tasks.run_generation_request.delay", sent.append)
    return sent


@pytest.fixture(autouse=True)
def api_rate_off(settings) -> None:
    """No rate limit unless a test sets one (a matrix of requests would trip it)."""
    settings.STUDIO_API_RATE = "0"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """The personas' passwords are never what is tested here; the default hasher costs a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def other_marketer(db):
    return _user("marketer2", MARKETERS)


def token(user, scopes=ALL_SCOPES, **kwargs) -> str:
    return api_token_create(user=user, name="test", scopes=list(scopes), **kwargs).secret


@dataclass
class ApiClient:
    """Django's test client with a bearer token (or none) and JSON bodies."""

    client: Client
    secret: str | None = None

    def _headers(self, headers: dict | None) -> dict:
        merged = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        merged.update(headers or {})
        return merged

    def get(self, path: str, data: dict | None = None, headers: dict | None = None):
        return self.client.get(path, data or {}, headers=self._headers(headers))

    def post(self, path: str, body=None, headers: dict | None = None):
        return self.client.post(
            path, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )

    def patch(self, path: str, body=None, headers: dict | None = None):
        return self.client.patch(
            path, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )

    def upload(self, path: str, files: dict, data: dict | None = None, headers: dict | None = None):
        return self.client.post(path, {**(data or {}), **files}, headers=self._headers(headers))


@pytest.fixture
def as_user(db):
    """``as_user(user, scopes)``: an ApiClient with a new token of ``user``; ``as_user(None)``: anonymous."""

    def make(user, scopes=ALL_SCOPES) -> ApiClient:
        return ApiClient(Client(), token(user, scopes) if user is not None else None)

    return make


def assert_problem(response, status: int, *, field: str | None = None, slug: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    if slug is not None:
        assert problem["type"] == f"/api/v1/problems/{slug}"
    else:
        assert problem["type"] == "about:blank" or problem["type"].startswith("/api/v1/problems/")
    assert set(problem) == {"type", "title", "status", "detail", "instance", "errors"}
    if field is not None:
        assert field in [error["field"] for error in problem["errors"]], problem
    return problem
