"""Teams: marketers see and refine their team's work, reviewers review the teams they are assigned to, admins
see every team. Another team's id is a 404 on every view and API endpoint, as if it did not exist."""

import pytest
from django.contrib.auth import get_user_model

from generation import selectors
from generation.models import Asset, GenerationRequest
from review.decisions import asset_review_decide, can_decide
from review.errors import ReviewPermissionError
from review.models import ReviewState
from studio.roles import MARKETERS
from studio.teams import TeamChoiceError, team_for_new_work
from tests.api.conftest import ApiClient, token
from tests.conftest import checklist_all


def _member(username: str, team, group: str = MARKETERS):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    user.groups.add(Group.objects.get(name=group))
    team.members.add(user)
    return user


@pytest.fixture
def teammate(marketer, default_team):
    """Another marketer of the owner's team."""
    return _member("teammate", default_team)


@pytest.fixture
def people(marketer, teammate, other_marketer, reviewer, other_reviewer, admin_user) -> dict:
    return {
        "owner": marketer,
        "teammate": teammate,
        "other_marketer": other_marketer,
        "reviewer": reviewer,
        "other_reviewer": other_reviewer,
        "admin": admin_user,
    }


@pytest.fixture
def work(make_asset, approved, django_capture_on_commit_callbacks) -> dict:
    """The owner's asset in review, its request, and an approved asset of theirs (to revoke)."""
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()
    asset_id, public_id = approved[0].pk, approved[1]
    return {"asset": asset.pk, "request": asset.request_id, "approved": asset_id, "public_id": public_id}


# Every view that takes an asset or request id: (url name, method, path). {asset} is in review, {approved}
# approved (revoke), both the owner's, in the default team.
OBJECT_VIEWS = [
    ("review:asset", "get", "/review/assets/{asset}/"),
    ("review:decide", "post", "/review/assets/{asset}/decide/"),
    ("review:submit", "post", "/review/assets/{asset}/submit/"),
    ("review:revoke", "post", "/review/assets/{approved}/revoke/"),
    ("review:revise", "get", "/review/assets/{asset}/revise/"),
    ("review:checked-safe", "post", "/review/assets/{asset}/checked-safe/"),
    ("review:history-csv", "get", "/review/assets/{asset}/history.csv"),
    ("review:comments", "get", "/review/assets/{asset}/comments/"),
    ("review:comments", "post", "/review/assets/{asset}/comments/"),
    ("review:metadata", "get", "/review/assets/{asset}/metadata/"),
    ("review:metadata", "post", "/review/assets/{asset}/metadata/"),
    ("review:crops", "get", "/review/assets/{asset}/crops/"),
    ("review:focal-point", "post", "/review/assets/{asset}/focal-point/"),
    ("generation:asset-file", "get", "/assets/{asset}/file/"),
    ("generation:refine", "get", "/assets/{asset}/refine/"),
    ("generation:refine", "post", "/assets/{asset}/refine/"),
    ("generation:request", "get", "/requests/{request}/"),
    ("generation:cancel", "post", "/requests/{request}/cancel/"),
]


@pytest.mark.parametrize(
    ("name", "method", "template"), OBJECT_VIEWS, ids=[f"{n}-{m}" for n, m, _ in OBJECT_VIEWS]
)
def test_another_teams_id_is_a_404_on_every_object_view(
    client, people, work, name, method, template, no_enqueue
):
    path = template.format(**work)
    before = Asset.objects.get(pk=work["asset"]).review.state

    client.logout()
    response = getattr(client, method)(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/"), "anonymous"

    # The other team's people get what an id that does not exist gets: a 404, or the 403 their role gets on
    # that view whatever the id (a reviewer may not revise anything).
    missing = template.format(**{key: 999999 for key in work})
    for visitor in ("other_marketer", "other_reviewer"):
        client.force_login(people[visitor])
        response = getattr(client, method)(path)
        nothing = getattr(client, method)(missing)
        assert response.status_code in (403, 404), f"{name} {method} as {visitor}: {response.status_code}"
        assert response.status_code == nothing.status_code, f"{name} {method} as {visitor} tells ids apart"
    client.force_login(people["other_marketer"])
    if name not in ("review:revoke", "review:checked-safe"):  # reviewers' actions: a marketer gets 403 first
        assert getattr(client, method)(path).status_code == 404, f"{name} {method} as other_marketer"
    assert Asset.objects.get(pk=work["asset"]).review.state == before  # nothing changed

    for visitor in ("owner", "teammate", "reviewer", "admin"):
        client.force_login(people[visitor])
        response = getattr(client, method)(path)
        assert response.status_code != 404 and response.status_code < 500, (
            f"{name} {method} as {visitor}: {response.status_code}"
        )


def test_a_teammate_sees_and_refines_the_teams_assets(client, teammate, work):
    client.force_login(teammate)
    assert client.get(f"/review/assets/{work['asset']}/").status_code == 200
    assert client.get(f"/assets/{work['asset']}/file/").status_code == 200
    assert client.get(f"/assets/{work['asset']}/refine/").status_code == 200
    assert f"/review/assets/{work['asset']}/" in client.get("/requests/").content.decode()
    assert f"/review/assets/{work['asset']}/" in client.get("/review/assets/").content.decode()


def test_lists_leave_out_another_teams_work(client, people, work):
    for visitor in ("other_marketer", "other_reviewer"):
        client.force_login(people[visitor])
        for path in ("/requests/", "/review/assets/", "/review/"):
            response = client.get(path)
            if response.status_code == 403:  # a marketer has no queue
                continue
            assert f"/assets/{work['asset']}/" not in response.content.decode(), (visitor, path)
    client.force_login(people["reviewer"])
    assert f"/review/assets/{work['asset']}/" in client.get("/review/").content.decode()


def test_admins_see_every_team(make_asset, other_marketer, admin_user, work):
    theirs = make_asset(user=other_marketer)
    visible = set(selectors.assets_visible_to(user=admin_user).values_list("pk", flat=True))
    assert {work["asset"], theirs.pk} <= visible


def test_work_belongs_to_its_creators_team(make_asset, marketer, other_marketer, default_team, other_team):
    assert make_asset().team == default_team
    assert make_asset(user=other_marketer).team == other_team


def test_someone_in_two_teams_picks_one_and_defaults_to_the_first(marketer, default_team, other_team):
    other_team.members.add(marketer)
    assert team_for_new_work(user=marketer) == default_team  # "Brand" before "Retail"
    assert team_for_new_work(user=marketer, team_id=other_team.pk) == other_team


def test_nobody_picks_a_team_they_are_not_in(marketer, other_team):
    with pytest.raises(TeamChoiceError):
        team_for_new_work(user=marketer, team_id=other_team.pk)


def test_the_create_form_offers_the_team_only_to_someone_in_several(client, marketer, other_team):
    client.force_login(marketer)
    assert 'name="team"' not in client.get("/generate/").content.decode()
    other_team.members.add(marketer)
    page = client.get("/generate/").content.decode()
    assert 'name="team"' in page and "Retail" in page


def test_an_upload_goes_to_the_picked_team_and_refuses_another(client, marketer, default_team, other_team):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import png_bytes

    other_team.members.add(marketer)
    client.force_login(marketer)
    picked = client.post(
        "/upload/", {"files": SimpleUploadedFile("a.png", png_bytes()), "team": str(other_team.pk)}
    )
    assert picked.status_code == 200
    assert Asset.objects.get(created_by=marketer).team == other_team
    other_team.members.remove(marketer)
    refused = client.post(
        "/upload/", {"files": SimpleUploadedFile("b.png", png_bytes()), "team": str(other_team.pk)}
    )
    assert refused.status_code == 400 and "not a member of that team" in refused.content.decode()
    assert Asset.objects.filter(created_by=marketer).count() == 1


def test_a_reviewer_decides_only_for_the_teams_they_review(
    make_asset, reviewer, other_reviewer, default_team
):
    asset = make_asset()
    assert can_decide(actor=reviewer, asset=asset)
    assert not can_decide(actor=other_reviewer, asset=asset)
    # Even a member of the team who may see it does not decide unless assigned to review it.
    default_team.members.add(other_reviewer)
    assert selectors.asset_get_visible(user=other_reviewer, asset_id=asset.pk) is not None
    with pytest.raises(ReviewPermissionError, match="ask an admin to assign you"):
        asset_review_decide(asset=asset, actor=other_reviewer, decision="approve", checklist=checklist_all())
    assert (
        asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all()).state
        == ReviewState.APPROVED
    )


def test_the_other_teams_reviewer_cannot_decide_by_posting(client, other_reviewer, work):
    client.force_login(other_reviewer)
    response = client.post(
        f"/review/assets/{work['asset']}/decide/", {"decision": "approve", "checklist": checklist_all()}
    )
    assert response.status_code == 404
    assert Asset.objects.get(pk=work["asset"]).review.state == ReviewState.IN_REVIEW


def test_work_in_no_team_is_seen_by_its_creator_reviewers_and_admins(
    db, make_asset, reviewer, other_reviewer, other_marketer, admin_user, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    loner = get_user_model().objects.create_user(username="loner", password="pw-loner")
    loner.groups.add(Group.objects.get(name=MARKETERS))
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset(user=loner)
    assert asset.team is None
    for user in (loner, reviewer, other_reviewer, admin_user):
        assert selectors.asset_get_visible(user=user, asset_id=asset.pk) is not None, user
    assert selectors.asset_get_visible(user=other_marketer, asset_id=asset.pk) is None
    assert can_decide(actor=other_reviewer, asset=asset)


def test_requests_follow_the_same_rule(marketer, teammate, other_marketer, work):
    assert selectors.generation_request_get_visible(user=teammate, request_id=work["request"]) is not None
    assert selectors.generation_request_get_visible(user=other_marketer, request_id=work["request"]) is None
    assert GenerationRequest.objects.get(pk=work["request"]).team.members.filter(pk=marketer.pk).exists()


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("get", "/api/v1/assets/{asset}"),
        ("get", "/api/v1/requests/{request}"),
        ("post", "/api/v1/assets/{asset}/approve"),
        ("post", "/api/v1/assets/{asset}/submit"),
        ("get", "/api/v1/assets/{approved}/delivery-url"),
    ],
)
def test_the_api_answers_another_team_with_404(client, people, work, method, template):
    path = template.format(**work)
    for visitor in ("other_marketer", "other_reviewer"):
        api = ApiClient(client, token(people[visitor]))
        response = api.post(path, {}) if method == "post" else api.get(path)
        assert response.status_code == 404, (visitor, path, response.status_code)
    api = ApiClient(client, token(people["teammate"]))
    if method == "get":
        assert api.get(path).status_code < 400


def _ids(response) -> list[int]:
    body = response.json()
    return [item["id"] for item in (body["results"] if isinstance(body, dict) else body)]


def test_the_api_lists_leave_out_another_team(client, people, work):
    for visitor in ("other_marketer", "other_reviewer"):
        api = ApiClient(client, token(people[visitor]))
        assert work["asset"] not in _ids(api.get("/api/v1/assets"))
        assert work["request"] not in _ids(api.get("/api/v1/requests"))
    api = ApiClient(client, token(people["other_reviewer"]))
    assert work["asset"] not in _ids(api.get("/api/v1/review-queue"))
    api = ApiClient(client, token(people["teammate"]))
    assert work["asset"] in _ids(api.get("/api/v1/assets"))


def test_the_demo_accounts_come_in_two_teams(db):
    from io import StringIO

    from django.core.management import call_command

    from studio.models import Team

    call_command("create_demo_accounts", stdout=StringIO())
    brand, retail = Team.objects.get(slug="brand"), Team.objects.get(slug="retail")
    assert list(brand.members.values_list("username", flat=True)) == ["marketer"]
    assert list(brand.reviewers.values_list("username", flat=True)) == ["reviewer"]
    assert list(retail.members.values_list("username", flat=True)) == ["retail_marketer"]
    assert list(retail.reviewers.values_list("username", flat=True)) == ["retail_reviewer"]
