"""Who may open what: every URL in the project, for every kind of visitor.

A marketer sees their own and their teams' requests and assets; reviewers the teams they review (and work
in no team); admins everyone's (tests/test_teams.py has the team rules). Another user's id is a
404 (it says nothing about whether the object exists), a missing right is a 403 or a login redirect, and no
combination is ever a 500. A URL added without a row here fails ``test_the_matrix_covers_every_url``.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver

from generation.models import GenerationRequest
from studio.roles import MARKETERS, REVIEWERS

VISITORS = ("anonymous", "no_role", "owner", "other_marketer", "reviewer", "admin")
LOGIN = "login"  # a redirect to the login page

# url name -> (method, path template, expected status per visitor, in VISITORS order).
# {asset} (in review, destination channel "preview") and {request} belong to "owner"; {approved} is the
# owner's approved asset in campaign "spring", {public_id} its public id.
MATRIX: dict[str, tuple[str, str, tuple]] = {
    "home": ("GET", "/", (LOGIN, 302, 302, 302, 302, 302)),
    "login": ("GET", "/login/", (200, 200, 200, 200, 200, 200)),
    "logout": ("POST", "/logout/", (302, 302, 302, 302, 302, 302)),
    "admin": ("GET", "/admin/", (302, 302, 302, 302, 302, 200)),
    "generation:create": ("GET", "/generate/", (LOGIN, 403, 200, 200, 403, 200)),
    "generation:upload": ("GET", "/upload/", (LOGIN, 403, 200, 200, 403, 200)),
    "generation:prompt-meter": (
        "GET",
        "/generate/prompt-meter/?prompt=a+mug",
        (LOGIN, 403, 200, 200, 403, 200),
    ),
    "generation:gallery": ("GET", "/requests/", (LOGIN, 200, 200, 200, 200, 200)),
    "generation:request": ("GET", "/requests/{request}/", (LOGIN, 404, 200, 404, 200, 200)),
    "generation:cancel": ("POST", "/requests/{request}/cancel/", (LOGIN, 404, 302, 404, 403, 302)),
    "generation:asset-file": ("GET", "/assets/{asset}/file/", (LOGIN, 403, 200, 404, 200, 200)),
    "generation:refine": ("GET", "/assets/{asset}/refine/", (LOGIN, 403, 200, 404, 403, 200)),
    "review:queue": ("GET", "/review/", (LOGIN, 403, 403, 403, 200, 200)),
    # An empty selection is a 400 page that says what to choose.
    "review:bulk": ("POST", "/review/bulk/", (LOGIN, 403, 403, 403, 400, 400)),
    "review:assets": ("GET", "/review/assets/", (LOGIN, 200, 200, 200, 200, 200)),
    "review:asset": ("GET", "/review/assets/{asset}/", (LOGIN, 404, 200, 404, 200, 200)),
    "review:decide": ("POST", "/review/assets/{asset}/decide/", (LOGIN, 404, 302, 404, 302, 302)),
    "review:submit": ("POST", "/review/assets/{asset}/submit/", (LOGIN, 404, 302, 404, 302, 302)),
    "review:revoke": ("POST", "/review/assets/{asset}/revoke/", (LOGIN, 404, 403, 404, 302, 302)),
    "review:revise": ("GET", "/review/assets/{asset}/revise/", (LOGIN, 403, 403, 404, 403, 403)),
    "review:checked-safe": ("POST", "/review/assets/{asset}/checked-safe/", (LOGIN, 404, 403, 404, 302, 302)),
    "review:history-csv": ("GET", "/review/assets/{asset}/history.csv", (LOGIN, 403, 200, 404, 200, 200)),
    "review:comments": ("POST", "/review/assets/{asset}/comments/", (LOGIN, 404, 302, 404, 302, 302)),
    # Metadata and the focal point: its creator before submitting ({asset} is in review), a reviewer any time.
    "review:metadata": ("GET", "/review/assets/{asset}/metadata/", (LOGIN, 404, 403, 404, 200, 200)),
    "review:focal-point": ("POST", "/review/assets/{asset}/focal-point/", (LOGIN, 404, 403, 404, 302, 302)),
    # Without htmx, the crops section is on the asset page.
    "review:crops": ("GET", "/review/assets/{asset}/crops/", (LOGIN, 404, 302, 404, 302, 302)),
    "delivery:review-crop": (
        "GET",
        "/review/assets/{asset}/crops/preview.jpg",
        (LOGIN, 404, 200, 404, 200, 200),
    ),
    "delivery:variant-builder": (
        "GET",
        "/review/assets/{approved}/variant/",
        (LOGIN, 403, 200, 404, 200, 200),
    ),
    "review:exports": ("GET", "/review/exports/", (LOGIN, 403, 403, 403, 200, 200)),
    "review:decisions-csv": ("GET", "/review/exports/decisions.csv", (LOGIN, 403, 403, 403, 200, 200)),
    # Another team's marketer sees no approved image in the campaign.
    "delivery:campaign-zip": (
        "GET",
        "/review/exports/campaign.zip?campaign=spring",
        (LOGIN, 403, 200, 404, 200, 200),
    ),
    "delivery:serve": ("GET", "/image/upload/t_og-image/{public_id}.jpg", (200, 200, 200, 200, 200, 200)),
    "settings": ("GET", "/settings/", (LOGIN, 200, 200, 200, 200, 200)),
    "api-token-revoke": ("POST", "/settings/tokens/0/revoke/", (LOGIN, 404, 404, 404, 404, 404)),
    "notification-settings": ("POST", "/settings/notifications/", (LOGIN, 302, 302, 302, 302, 302)),
    # What the navigation badge counts: a reviewer's (and an admin's) is the review queue.
    "attention": ("GET", "/attention/", (LOGIN, 200, 200, 200, 302, 302)),
    "api-not-found": ("GET", "/api/v1/no-such-endpoint", (404, 404, 404, 404, 404, 404)),
}


def _url_names(patterns, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                names.add("admin")  # Django's own admin: its login and staff checks are Django's
                continue
            if pattern.namespace == "api":
                continue  # the JSON API: every endpoint for every role in tests/api/test_endpoints_by_role.py
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            names.add(f"{namespace}{pattern.name}")
    return names


def test_the_matrix_covers_every_url():
    assert _url_names(get_resolver().url_patterns) == set(MATRIX)


@pytest.fixture
def people(db, marketer, reviewer, admin_user):
    from django.contrib.auth.models import Group

    other = get_user_model().objects.create_user(username="other", password="pw-other")
    other.groups.add(Group.objects.get(name=MARKETERS))
    nobody = get_user_model().objects.create_user(username="nobody", password="pw-nobody")
    assert not nobody.groups.exists() and Group.objects.filter(name=REVIEWERS).exists()
    return {
        "no_role": nobody,
        "owner": marketer,
        "other_marketer": other,
        "reviewer": reviewer,
        "admin": admin_user,
    }


@pytest.fixture
def objects(make_asset, approved, django_capture_on_commit_callbacks) -> dict:
    from generation.models import Asset

    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()
    Asset.objects.filter(pk=asset.pk).update(channels=["preview"])
    Asset.objects.filter(pk=approved[0].pk).update(campaign="spring")
    # A second, unfinished request of the owner's, so that cancel has something to cancel.
    running = GenerationRequest.objects.create(
        created_by=asset.created_by,
        prompt="a pear",
        full_prompt="a pear",
        model_key="tiny",
        width=64,
        height=64,
        seed=1,
        steps=2,
        guidance=5.0,
    )
    return {"asset": asset.pk, "request": running.pk, "approved": approved[0].pk, "public_id": approved[1]}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_every_url_answers_each_visitor_as_the_matrix_says(client, people, objects, no_enqueue, name):
    method, template, expected = MATRIX[name]
    path = template.format(**objects)
    for visitor, wanted in zip(VISITORS, expected, strict=True):
        client.logout()
        if visitor != "anonymous":
            client.force_login(people[visitor])
        response = client.post(path, {}) if method == "POST" else client.get(path)
        got = response.status_code
        if wanted == LOGIN:
            assert got == 302 and response["Location"].startswith("/login/"), f"{name}, {visitor}: {got}"
        else:
            assert got == wanted, f"{name} as {visitor}: expected {wanted}, got {got}"


@pytest.mark.django_db
def test_lists_show_a_marketer_only_their_own_work(client, people, objects):
    client.force_login(people["other_marketer"])
    for path in ("/requests/", "/review/assets/"):
        page = client.get(path).content.decode()
        assert f"/assets/{objects['asset']}/" not in page, path
    client.force_login(people["reviewer"])
    assert f"/review/assets/{objects['asset']}/" in client.get("/review/assets/").content.decode()
