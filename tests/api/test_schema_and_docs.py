"""The OpenAPI document is valid and complete, and the docs page runs under Studio's CSP, offline."""

import re

import pytest
from openapi_spec_validator import validate

SCOPES = {"read", "generate", "review", "webhooks"}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_openapi_document_is_valid(document):
    validate(document)
    assert document["openapi"].startswith("3.")


@pytest.mark.django_db
def test_every_operation_documents_its_scope_problems_and_idempotency(document):
    operations = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    assert len(document["paths"]) >= 20 and len(operations) >= 23
    for path, method, operation in operations:
        if path.startswith("/api/v1/problems/"):
            continue
        assert operation["x-scope"] in SCOPES, path
        assert {"BearerToken": [operation["x-scope"]]} in operation["security"]
        for status in ("401", "403", "404", "422", "429"):
            assert operation["responses"][status]["content"]["application/problem+json"], (path, status)
        if method == "post":
            assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    assert set(document["components"]["schemas"]["Problem"]["required"]) >= {"title", "status", "detail"}


@pytest.mark.django_db
def test_request_schemas_document_the_forms_limits(document):
    generate = document["components"]["schemas"]["GenerateIn"]
    assert generate["required"] == ["prompt"]
    assert generate["properties"]["steps"]["maximum"] == 100
    assert generate["properties"]["num_images"]["maximum"] == 4
    assert "square" in generate["properties"]["size"]["enum"]


@pytest.mark.django_db
def test_the_docs_page_uses_studios_own_swagger_files_and_no_inline_script(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", html), "no inline script"
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    for url in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(url).status_code == 200, url
