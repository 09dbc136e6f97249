"""While the database cannot be reached, pages answer 503 with Retry-After (studio.middleware)."""

import pytest
from django.db import OperationalError
from django.urls import reverse


@pytest.mark.django_db
def test_a_page_that_cannot_reach_the_database_answers_503_with_retry_after(client, marketer, monkeypatch):
    client.force_login(marketer)

    def database_gone(**_kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr("generation.selectors.generation_request_list", database_gone)
    response = client.get(reverse("generation:gallery"))
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    body = response.content.decode()
    assert "Back in a moment" in body
    assert "Connection refused" not in body and "5432" not in body


@pytest.mark.django_db
def test_other_errors_are_still_500s(client, marketer, monkeypatch):
    client.raise_request_exception = False
    client.force_login(marketer)

    def broken(**_kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr("generation.selectors.generation_request_list", broken)
    response = client.get(reverse("generation:gallery"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
