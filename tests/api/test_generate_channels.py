"""The API's text-to-image requests take destination channels, and still take the old single `channel`, both
checked against the channel presets; sizes and styles follow the same rules as the Generate page."""

import pytest

from generation.models import GenerationRequest
from generation.presets import STYLES
from tests.api.conftest import assert_problem

BODY = {"prompt": "a red mug", "model": "tiny", "steps": 2}


@pytest.fixture
def api(marketer, as_user, channel_presets):
    return as_user(marketer)


@pytest.mark.django_db
def test_a_request_takes_destination_channels(api):
    response = api.post("/api/v1/requests", {**BODY, "channels": ["og-image", "product-thumb"]})

    assert response.status_code == 201, response.content
    assert response.json()["channels"] == ["og-image", "product-thumb"]
    assert GenerationRequest.objects.get().channels == ["og-image", "product-thumb"]


@pytest.mark.django_db
def test_the_old_single_channel_becomes_a_destination_channel(api):
    response = api.post("/api/v1/requests", {**BODY, "channel": "og-image"})

    assert response.status_code == 201, response.content
    assert response.json()["channels"] == ["og-image"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"channel": "web"}, {"channels": ["og-image", "web"]}])
def test_a_channel_that_is_not_a_preset_is_a_422_that_says_so(api, body):
    problem = assert_problem(api.post("/api/v1/requests", {**BODY, **body}), 422, field="channels")

    assert "web is not a destination channel: choose from the channel presets." in problem["detail"]
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_size_the_model_cannot_make_is_a_422_that_says_what_it_makes(api):
    problem = assert_problem(api.post("/api/v1/requests", {**BODY, "size": "banner"}), 422, field="size")

    assert "Tiny test pipeline makes each side from 64 to 512 px, in multiples of 8." in problem["detail"]


@pytest.mark.django_db
def test_a_style_the_model_does_not_draw_is_a_422_that_says_which_it_draws(api):
    body = {"prompt": "a red mug", "model": "default", "style": "watercolor"}
    problem = assert_problem(api.post("/api/v1/requests", body), 422, field="style")

    assert (
        "Studio default draws only these styles: No style, 3D render, Flat illustration, Emoji; "
        "choose one of them or another model."
    ) in problem["detail"]
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_style_the_model_draws_is_queued_and_the_models_list_says_which_it_draws(api):
    response = api.post("/api/v1/requests", {"prompt": "a red mug", "model": "default", "style": "emoji"})

    assert response.status_code == 201, response.content
    assert response.json()["style"] == "emoji"
    styles = {model["key"]: model["styles"] for model in api.get("/api/v1/models").json()}
    assert styles["default"] == ["none", "3d-render", "flat-illustration", "emoji"]
    assert styles["tiny"] == list(STYLES)
