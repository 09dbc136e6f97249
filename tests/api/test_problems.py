"""Errors are RFC 9457 problem details naming the wrong field, and the API refuses what the pages refuse."""

import base64

import pytest
from django.test import Client

from generation.forms import GenerateForm
from generation.models import GenerationRequest
from tests.api.conftest import ApiClient, assert_problem, token
from tests.conftest import checklist_all


@pytest.fixture
def marketer_api(marketer, as_user) -> ApiClient:
    return as_user(marketer)


@pytest.mark.django_db
def test_a_missing_prompt_is_a_problem_naming_the_prompt(marketer_api):
    problem = assert_problem(
        marketer_api.post("/api/v1/requests", {"model": "tiny"}), 422, field="prompt", slug="validation-error"
    )
    assert problem["errors"][0] == {"field": "prompt", "in": "body", "detail": "This field is required."}
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_out_of_range_values_get_the_same_messages_as_the_generate_page(marketer_api):
    response = marketer_api.post(
        "/api/v1/requests", {"prompt": "a mug", "model": "tiny", "steps": 500, "num_images": 9}
    )
    problem = assert_problem(response, 422, field="steps")
    page_form = GenerateForm(
        data={
            "prompt": "a mug",
            "model": "tiny",
            "steps": 500,
            "num_images": 9,
            "guidance": 5,
            "size": "square",
            "style": "none",
        }
    )
    assert not page_form.is_valid()
    by_field = {error["field"]: error["detail"] for error in problem["errors"]}
    assert by_field["steps"] == page_form.errors["steps"][0]
    assert by_field["num_images"] == page_form.errors["num_images"][0]


@pytest.mark.django_db
def test_a_wrong_json_type_names_the_field(marketer_api):
    problem = assert_problem(
        marketer_api.post("/api/v1/requests", {"prompt": "a mug", "steps": "many"}), 422, field="steps"
    )
    assert problem["errors"][0]["in"] == "body"


@pytest.mark.django_db
def test_a_custom_size_that_is_not_a_multiple_of_eight_is_refused_on_its_side(marketer_api):
    body = {"prompt": "a mug", "model": "tiny", "size": "custom", "width": 100, "height": 64}
    problem = assert_problem(marketer_api.post("/api/v1/requests", body), 422, field="width")
    assert "multiples of 8" in problem["detail"]


@pytest.mark.django_db
def test_a_blocked_prompt_names_the_prompt_and_stores_nothing(marketer_api, settings):
    settings.STUDIO_PROMPT_BLOCKLIST = ["rival cola"]
    problem = assert_problem(
        marketer_api.post("/api/v1/requests", {"prompt": "a can of Rival Cola", "model": "tiny"}),
        422,
        field="prompt",
    )
    assert "rival cola" in problem["detail"].lower()
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_400_problem(marketer, client):
    response = client.post(
        "/api/v1/requests",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token(marketer)}"},
    )
    assert_problem(response, 400)


@pytest.mark.django_db
def test_a_refine_without_its_mask_is_refused_like_the_refine_page(marketer_api, make_asset):
    asset = make_asset()
    problem = assert_problem(
        marketer_api.post(
            f"/api/v1/assets/{asset.pk}/refinements",
            {"operation": "inpaint", "model": "tiny", "prompt": "a hat"},
        ),
        422,
    )
    assert "needs a mask" in problem["detail"]


@pytest.mark.django_db
def test_a_mask_that_is_not_base64_names_the_mask(marketer_api, make_asset):
    asset = make_asset()
    body = {"operation": "inpaint", "model": "tiny", "prompt": "a hat", "mask": "not base64!"}
    assert_problem(marketer_api.post(f"/api/v1/assets/{asset.pk}/refinements", body), 422, field="mask")


@pytest.mark.django_db
def test_an_inpaint_with_a_base64_mask_is_queued_with_its_mask(marketer_api, make_asset):
    import io

    from PIL import Image

    asset = make_asset()
    mask = Image.new("L", (asset.width, asset.height), 0)
    mask.paste(255, (10, 10, 40, 40))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    encoded = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    response = marketer_api.post(
        f"/api/v1/assets/{asset.pk}/refinements",
        {"operation": "inpaint", "model": "tiny", "prompt": "a hat", "mask": encoded},
    )
    assert response.status_code == 201, response.content
    request = GenerationRequest.objects.get(pk=response.json()["id"])
    assert request.mask and request.operation == "inpaint" and request.source_asset_id == asset.pk


@pytest.mark.django_db
def test_an_upload_that_is_not_an_image_names_the_file(marketer_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = marketer_api.upload(
        "/api/v1/uploads", {"file": SimpleUploadedFile("notes.png", b"GIF89a....", "image/png")}
    )
    problem = assert_problem(response, 422, field="file")
    assert "GIF" in problem["detail"]


@pytest.mark.django_db
def test_an_upload_without_a_file_names_the_file(marketer_api):
    assert_problem(marketer_api.upload("/api/v1/uploads", {}, {"campaign": "x"}), 422, field="file")


@pytest.mark.django_db
def test_a_decision_that_needs_a_comment_names_the_comment(make_asset, reviewer, as_user):
    asset = make_asset()
    api = as_user(reviewer)
    assert_problem(api.post(f"/api/v1/assets/{asset.pk}/reject", {"comment": "  "}), 422, field="comment")
    assert_problem(
        api.post(f"/api/v1/assets/{asset.pk}/reject", {"comment": "x" * 2001}), 422, field="comment"
    )


@pytest.mark.django_db
def test_a_reviewer_cannot_approve_their_own_generation(make_asset, reviewer, as_user):
    asset = make_asset(user=reviewer)
    problem = assert_problem(as_user(reviewer).post(f"/api/v1/assets/{asset.pk}/approve"), 403)
    assert "yourself" in problem["detail"]


@pytest.mark.django_db
def test_approving_twice_is_a_state_conflict(make_asset, reviewer, as_user):
    asset = make_asset()
    api = as_user(reviewer)
    ticked = {"checklist": checklist_all()}
    assert api.post(f"/api/v1/assets/{asset.pk}/approve", ticked).status_code == 200
    assert_problem(api.post(f"/api/v1/assets/{asset.pk}/approve", ticked), 409, slug="state-conflict")


@pytest.mark.django_db
def test_a_flagged_asset_is_approved_only_after_checked_safe(make_asset, reviewer, as_user):
    from tests.api.test_endpoints_by_role import RULE_FLAG

    asset = make_asset(flags=[RULE_FLAG])
    api = as_user(reviewer)
    ticked = {"checklist": checklist_all()}
    problem = assert_problem(
        api.post(f"/api/v1/assets/{asset.pk}/approve", ticked), 409, slug="state-conflict"
    )
    assert "checked, safe" in problem["detail"]
    assert (
        api.post(f"/api/v1/assets/{asset.pk}/checked-safe", {"comment": "Our own cola."}).status_code == 200
    )
    approved = api.post(f"/api/v1/assets/{asset.pk}/approve", ticked).json()
    assert approved["review"]["state"] == "approved" and approved["review"]["public_id"]
    assert [event["to_state"] for event in approved["history"]][-1] == "approved"


@pytest.mark.django_db
def test_delivery_urls_are_only_for_approved_assets(make_asset, marketer_api):
    asset = make_asset()
    assert_problem(marketer_api.get(f"/api/v1/assets/{asset.pk}/delivery-url"), 409, slug="state-conflict")


@pytest.mark.django_db
def test_a_bad_transformation_names_the_transformation(approved, marketer_api):
    asset, _ = approved
    response = marketer_api.get(
        f"/api/v1/assets/{asset.pk}/delivery-url", {"transformation": "c_sideways,w_100"}
    )
    problem = assert_problem(response, 422, field="transformation")
    assert problem["errors"][0]["in"] == "query"


@pytest.mark.django_db
def test_a_bad_cursor_names_the_cursor(marketer_api):
    for cursor in ("!!!", "cD1hYmM=", "bz0tMQ=="):  # not base64; p=abc; o=-1
        assert_problem(marketer_api.get("/api/v1/assets", {"cursor": cursor}), 422, field="cursor")


@pytest.mark.django_db
def test_a_bad_filter_value_names_the_parameter(marketer_api):
    problem = assert_problem(marketer_api.get("/api/v1/assets", {"state": "lost"}), 422, field="state")
    assert problem["errors"][0]["in"] == "query"


@pytest.mark.django_db
def test_unknown_objects_and_paths_are_404_problems(marketer_api):
    assert_problem(marketer_api.get("/api/v1/assets/999999"), 404)
    assert_problem(marketer_api.get("/api/v1/requests/999999"), 404)
    assert_problem(marketer_api.get("/api/v1/no-such-thing"), 404)
    assert_problem(marketer_api.get("/api/v1/problems/no-such-problem"), 404)


@pytest.mark.django_db
def test_a_bad_token_is_a_401_problem_that_says_why(marketer):
    for secret, words in (
        ("nonsense", "not a Studio API token"),
        ("studio_0123456789abcdef_secret", "Unknown"),
    ):
        response = Client().get("/api/v1/assets", headers={"Authorization": f"Bearer {secret}"})
        assert words in assert_problem(response, 401)["detail"]


@pytest.mark.django_db
def test_the_session_works_for_reads_and_needs_csrf_for_writes(marketer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    assert client.get("/api/v1/assets").status_code == 200
    problem = assert_problem(
        client.post("/api/v1/requests", {"prompt": "a mug"}, content_type="application/json"), 403
    )
    assert "CSRF" in problem["detail"]
    client.get("/settings/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/requests",
        {"prompt": "a mug", "model": "tiny", "steps": 2},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_problem_types_are_documented(client):
    response = client.get("/api/v1/problems/idempotency-key-reused")
    assert response.status_code == 200
    assert response.json()["status"] == 422


@pytest.mark.django_db
def test_a_preset_url_is_unsigned_unless_asked_and_an_expiring_one_is_signed(approved, marketer_api):
    asset, _public_id = approved
    path = f"/api/v1/assets/{asset.pk}/delivery-url"
    plain = marketer_api.get(path, {"transformation": "t_social-square"}).json()
    assert not plain["signed"] and plain["path"].startswith("t_social-square/")
    assert marketer_api.get(path, {"transformation": "t_social-square", "sign": "true"}).json()["signed"]
    expiring = marketer_api.get(path, {"transformation": "t_social-square", "expires_in": 60}).json()
    assert expiring["signed"] and expiring["expires_at"]
    assert_problem(marketer_api.get(path, {"expires_in": 0}), 422, field="expires_in")


@pytest.mark.django_db
def test_a_method_a_path_does_not_take_is_a_405_problem(marketer_api):
    response = marketer_api.client.delete(
        "/api/v1/assets", headers={"Authorization": f"Bearer {marketer_api.secret}"}
    )
    problem = assert_problem(response, 405)
    assert response["Allow"] == "GET" and "GET" in problem["detail"]
