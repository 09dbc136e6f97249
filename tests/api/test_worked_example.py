"""The README's worked example, step by step: a token from the Settings page, generate, poll, approve, build
a URL, fetch the image from it."""

import pytest
from django.test import Client

from generation import services as generation_services
from tests.api.conftest import ApiClient


@pytest.mark.django_db
def test_generate_poll_approve_and_deliver(
    marketer, reviewer, channel_presets, tiny_model_dir, django_capture_on_commit_callbacks, no_worker
):
    browser = Client()
    browser.force_login(marketer)
    created = browser.post(
        "/settings/", {"name": "campaign script", "scopes": ["read", "generate"], "expires_in": "30"}
    )
    api = ApiClient(Client(), created.context["new_token"].secret)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/requests",
            {
                "prompt": "a red mug on a wooden desk",
                "model": "tiny",
                "steps": 2,
                "seed": 42,
                "campaign": "spring",
            },
            headers={"Idempotency-Key": "spring-mug-1"},
        )
    assert response.status_code == 201, response.content
    request = response.json()
    assert request["status"] == "queued" and request["seed"] == 42 and request["progress"]["percent"] == 0
    assert no_worker == [request["id"]], "queued for a worker once the transaction committed"

    # What the worker does with the message (no Celery worker in this test).
    with django_capture_on_commit_callbacks(execute=True):
        generation_services.generation_request_execute(request_id=request["id"])

    polled = api.get(f"/api/v1/requests/{request['id']}").json()
    assert (
        polled["status"] == "succeeded" and polled["progress"]["percent"] == 100 and polled["attempts"] == 1
    )
    [asset] = polled["assets"]
    assert asset["campaign"] == "spring" and asset["seed"] == 42

    reviewer_api = ApiClient(Client(), _token(reviewer, ["read", "review"]))
    # The reviewer ticks every point of the checklist: an approval needs them all.
    ticked = [item["id"] for item in reviewer_api.get("/api/v1/checklist").json()]
    approved = reviewer_api.post(
        f"/api/v1/assets/{asset['id']}/approve", {"comment": "Good to go.", "checklist": ticked}
    ).json()
    assert approved["review"]["state"] == "approved"
    assert [event["to_state"] for event in approved["history"]] == ["in_review", "approved"]

    url = api.get(
        f"/api/v1/assets/{asset['id']}/delivery-url", {"transformation": "c_fill,w_48,h_32", "ext": "webp"}
    ).json()
    assert url["signed"] and url["url"].startswith("http://testserver/image/upload/s--")
    image = Client().get(url["url"].removeprefix("http://testserver"))
    assert image.status_code == 200 and image["Content-Type"] == "image/webp"

    snippets = api.get(f"/api/v1/assets/{asset['id']}/snippets", {"preset": "social-square"}).json()
    assert snippets["snippets"][0]["picture"].startswith("<picture>")


def _token(user, scopes) -> str:
    from studio.services import api_token_create

    return api_token_create(user=user, name="reviewer", scopes=scopes).secret
