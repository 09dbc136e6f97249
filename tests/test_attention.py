"""The navigation badge counts what needs the user: a reviewer's queue, a marketer's review outcomes (sent
back until revised; approved, rejected or revoked until seen). Lists show each asset's state and latest
comment in a constant number of queries."""

import re

import pytest

from review.comments import comment_create
from review.decisions import asset_review_decide
from studio.attention import attention_of
from tests.conftest import checklist_all


def _badge(client) -> int:
    page = client.get("/settings/").content.decode()
    match = re.search(r'id="attention-badge"[^>]*>(\d+)<', page)
    assert match, "no #attention-badge in the navigation"
    return int(match.group(1))


@pytest.fixture
def outcomes(make_asset, reviewer, django_capture_on_commit_callbacks) -> dict:
    """Three of the marketer's assets decided three ways, and one still waiting."""
    with django_capture_on_commit_callbacks(execute=True):
        assets = {name: make_asset(prompt=name) for name in ("approved", "sent_back", "rejected", "waiting")}
        asset_review_decide(
            asset=assets["approved"], actor=reviewer, decision="approve", checklist=checklist_all()
        )
        asset_review_decide(
            asset=assets["sent_back"],
            actor=reviewer,
            decision="request_changes",
            comment="Bluer sky, please.",
        )
        asset_review_decide(asset=assets["rejected"], actor=reviewer, decision="reject", comment="Off brand.")
    return assets


def test_a_marketer_sees_all_three_outcomes_and_the_badge_counts_them(client, marketer, outcomes):
    client.force_login(marketer)
    assert _badge(client) == 3
    page = client.get("/attention/").content.decode()
    for name in ("approved", "sent_back", "rejected"):
        assert f'data-asset-id="{outcomes[name].pk}"' in page
    assert f'data-asset-id="{outcomes["waiting"].pk}"' not in page
    assert 'data-state="changes_requested"' in page and "Bluer sky, please." in page


def test_approvals_and_rejections_stop_counting_once_seen_and_changes_requested_until_revised(
    client, marketer, reviewer, outcomes, django_capture_on_commit_callbacks, make_asset
):
    client.force_login(marketer)
    client.get("/attention/")
    assert _badge(client) == 1  # the asset sent back still needs them
    # A new decision counts again.
    with django_capture_on_commit_callbacks(execute=True):
        asset_review_decide(
            asset=outcomes["waiting"], actor=reviewer, decision="approve", checklist=checklist_all()
        )
    assert _badge(client) == 2
    # A revision answers the request for changes.
    revision = make_asset(prompt="bluer")
    revision.revision_of = outcomes["sent_back"]
    revision.save(update_fields=["revision_of"])
    client.get("/attention/")
    assert _badge(client) == 0


def test_a_reviewers_badge_counts_their_queue_within_their_teams(
    client, reviewer, other_reviewer, admin_user, outcomes, make_asset, other_marketer
):
    make_asset(user=other_marketer)  # the other team's, waiting
    assert attention_of(user=reviewer).count == 1  # "waiting" only
    assert attention_of(user=other_reviewer).count == 1  # the other team's only
    assert attention_of(user=admin_user).count == 2
    client.force_login(reviewer)
    assert _badge(client) == 1
    assert client.get("/attention/")["Location"] == "/review/"


def test_the_badge_costs_one_query(marketer, outcomes, django_assert_num_queries):
    marketer.get_all_permissions()  # cached on the user for the request, as the navigation's links read them
    with django_assert_num_queries(1):
        assert attention_of(user=marketer).count == 3


def test_the_gallery_shows_each_assets_state_and_latest_comment(client, marketer, outcomes):
    comment_create(asset=outcomes["approved"], author=marketer, body="Thanks, shipping it.")
    client.force_login(marketer)
    page = client.get("/requests/").content.decode()
    assert page.count('class="badge review-state') == 4
    for state in ("approved", "changes_requested", "rejected", "in_review"):
        assert f'data-state="{state}"' in page
    assert "Thanks, shipping it." in page  # the newest comment, over the decision's
    assert "Off brand." in page and "Bluer sky, please." in page
    assets_page = client.get("/review/assets/").content.decode()
    assert 'class="latest-comment"' in assets_page and "Off brand." in assets_page


def test_the_lists_cost_the_same_however_many_assets(
    client, marketer, reviewer, make_asset, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(path).status_code == 200
        return len(context.captured_queries)

    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        first = make_asset()
    asset_review_decide(asset=first, actor=reviewer, decision="reject", comment="No.")
    before = {path: queries(path) for path in ("/requests/", "/review/assets/")}
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            asset = make_asset()
            comment_create(asset=asset, author=marketer, body="a note")
            asset_review_decide(asset=asset, actor=reviewer, decision="reject", comment="No.")
    assert {path: queries(path) for path in before} == before
