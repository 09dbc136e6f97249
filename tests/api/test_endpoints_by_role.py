"""Every endpoint, for every role: anonymous, the marketer who owns the work, another marketer, a reviewer,
an admin, and the owner's token without the scope the endpoint needs."""

from dataclasses import dataclass, field

import pytest
from django.test import Client

from review.decisions import asset_review_decide
from tests.api.conftest import ALL_SCOPES, ApiClient, assert_problem, token
from tests.conftest import checklist_all, png_bytes

RULE_FLAG = {
    "source": "prompt rule",
    "rule": None,
    "pattern": "rival",
    "category": "Competitor",
    "field": "prompt",
    "matched": "rival",
}


@dataclass
class World:
    in_review: int
    approved: int
    sent_back: int
    flagged: int
    request: int
    users: dict = field(default_factory=dict)


@pytest.fixture
def world(make_asset, marketer, other_marketer, reviewer, admin_user, channel_presets) -> World:
    from generation.models import GenerationRequest

    in_review = make_asset()
    approved = make_asset(size=(256, 192))
    asset_review_decide(asset=approved, actor=reviewer, decision="approve", checklist=checklist_all())
    sent_back = make_asset()
    asset_review_decide(asset=sent_back, actor=reviewer, decision="request_changes", comment="Bluer, please.")
    flagged = make_asset(flags=[RULE_FLAG])
    queued = GenerationRequest.objects.create(
        created_by=marketer,
        prompt="a mug",
        full_prompt="a mug",
        model_key="tiny",
        width=64,
        height=64,
        seed=1,
        steps=2,
        guidance=5.0,
    )
    return World(
        in_review=in_review.pk,
        approved=approved.pk,
        sent_back=sent_back.pk,
        flagged=flagged.pk,
        request=queued.pk,
        users={
            "marketer": marketer,
            "other_marketer": other_marketer,
            "reviewer": reviewer,
            "admin": admin_user,
        },
    )


# (method, path, body, scope, expected status per role). Roles that may not see the object get 404 (ids say
# nothing); roles that see it but may not act get 403.
OWN_ONLY = {"marketer": 200, "other_marketer": 404, "reviewer": 200, "admin": 200}
EVERYONE = {"marketer": 200, "other_marketer": 200, "reviewer": 200, "admin": 200}
DECIDERS = {"marketer": 403, "other_marketer": 404, "reviewer": 200, "admin": 200}
CREATORS = {"marketer": 201, "other_marketer": 404, "reviewer": 403, "admin": 201}
IMG2IMG = {"operation": "img2img", "model": "tiny", "prompt": "a blue mug", "steps": 2}
# Stands for the ids of every enabled checklist item, read when the test runs (an approval ticks them all).
EVERY_CHECKLIST_ITEM = "every checklist item"

ENDPOINTS = [
    ("get", "/api/v1/models", None, "read", EVERYONE),
    (
        "post",
        "/api/v1/requests",
        {"prompt": "a red mug", "model": "tiny", "steps": 2},
        "generate",
        {"marketer": 201, "other_marketer": 201, "reviewer": 403, "admin": 201},
    ),
    ("get", "/api/v1/requests", None, "read", EVERYONE),
    ("get", "/api/v1/requests/{request}", None, "read", OWN_ONLY),
    (
        "post",
        "/api/v1/requests/{request}/cancel",
        None,
        "generate",
        {"marketer": 200, "other_marketer": 404, "reviewer": 403, "admin": 200},
    ),
    ("post", "/api/v1/assets/{in_review}/refinements", IMG2IMG, "generate", CREATORS),
    (
        "upload",
        "/api/v1/uploads",
        None,
        "generate",
        {"marketer": 201, "other_marketer": 201, "reviewer": 403, "admin": 201},
    ),
    ("get", "/api/v1/assets/{in_review}/file", None, "read", OWN_ONLY),
    ("get", "/api/v1/assets", None, "read", EVERYONE),
    ("get", "/api/v1/assets/{in_review}", None, "read", OWN_ONLY),
    # Metadata: its creator before submitting (a sent-back asset is editable again), a reviewer at any time.
    (
        "patch",
        "/api/v1/assets/{in_review}",
        {"title": "Blue mug", "usage_rights": "web, 2027"},
        "generate",
        DECIDERS,
    ),
    ("patch", "/api/v1/assets/{sent_back}", {"title": "Blue mug", "territory": "EU"}, "generate", OWN_ONLY),
    (
        "get",
        "/api/v1/review-queue",
        None,
        "review",
        {"marketer": 403, "other_marketer": 403, "reviewer": 200, "admin": 200},
    ),
    ("post", "/api/v1/assets/{sent_back}/submit", {"comment": "Bluer now."}, "review", OWN_ONLY),
    ("post", "/api/v1/assets/{in_review}/approve", {"checklist": EVERY_CHECKLIST_ITEM}, "review", DECIDERS),
    ("post", "/api/v1/assets/{in_review}/request-changes", {"comment": "Crop tighter."}, "review", DECIDERS),
    ("post", "/api/v1/assets/{in_review}/reject", {"comment": "Off brand."}, "review", DECIDERS),
    ("post", "/api/v1/assets/{approved}/revoke", {"comment": "Rights ended."}, "review", DECIDERS),
    ("post", "/api/v1/assets/{flagged}/checked-safe", {"comment": "Our own cola."}, "review", DECIDERS),
    ("post", "/api/v1/assets/{sent_back}/revisions", IMG2IMG, "generate", CREATORS),
    ("post", "/api/v1/assets/{approved}/revisions", IMG2IMG, "generate", CREATORS),
    ("get", "/api/v1/presets", None, "read", EVERYONE),
    (
        "get",
        "/api/v1/assets/{approved}/delivery-url",
        {"transformation": "c_fill,w_120,h_90"},
        "read",
        OWN_ONLY,
    ),
    ("get", "/api/v1/assets/{approved}/snippets", None, "read", OWN_ONLY),
    (
        "get",
        "/api/v1/problems/validation-error",
        None,
        None,
        {"marketer": 200, "other_marketer": 200, "reviewer": 200, "admin": 200},
    ),
]
ROLES = ["anonymous", "marketer", "other_marketer", "reviewer", "admin", "marketer_without_scope"]


def _send(api: ApiClient, method: str, path: str, body):
    if method == "upload":
        from django.core.files.uploadedfile import SimpleUploadedFile

        return api.upload(
            path, {"file": SimpleUploadedFile("mug.png", png_bytes(), "image/png")}, {"campaign": "spring"}
        )
    if method == "get":
        return api.get(path, body)
    return getattr(api, method)(path, body)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "method,path,body,scope,expected", ENDPOINTS, ids=[f"{e[0]} {e[1]}" for e in ENDPOINTS]
)
def test_each_endpoint_answers_each_role_as_the_table_says(world, role, method, path, body, scope, expected):
    path = path.format(
        **{
            name: getattr(world, name)
            for name in ("in_review", "approved", "sent_back", "flagged", "request")
        }
    )
    if isinstance(body, dict) and body.get("checklist") == EVERY_CHECKLIST_ITEM:
        body = {**body, "checklist": checklist_all()}
    if role == "anonymous":
        response = _send(ApiClient(Client()), method, path, body)
        if scope is None:
            assert response.status_code == 200
        else:
            problem = assert_problem(response, 401)
            assert response["WWW-Authenticate"].startswith("Bearer")
            assert problem["instance"].startswith(path)
        return
    if role == "marketer_without_scope":
        if scope is None:
            return
        other_scopes = [item for item in ALL_SCOPES if item != scope]
        response = _send(
            ApiClient(Client(), token(world.users["marketer"], other_scopes)), method, path, body
        )
        problem = assert_problem(response, 403, slug="missing-scope")
        assert repr(scope) in problem["detail"]
        return
    response = _send(ApiClient(Client(), token(world.users[role])), method, path, body)
    status = expected[role]
    if status >= 400:
        assert_problem(response, status)
    else:
        assert response.status_code == status, response.content
        assert response["Content-Type"].startswith(("application/json", "image/"))
