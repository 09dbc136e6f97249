"""Comments on an asset: general or pinned to a point of the image, one level of replies, seen by its
creator and the reviewers; a decision's comment joins the thread, linked to its event."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from review import comments, decisions
from review.errors import ReviewConflictError, ReviewPermissionError
from review.models import Comment, ReviewEvent, ReviewState
from review.signals import comment_posted
from studio.roles import MARKETERS
from tests.conftest import checklist_all

HTMX = {"HX-Request": "true"}


@pytest.fixture
def asset(make_asset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_asset()


@pytest.fixture
def other_marketer(marketer):
    user = get_user_model().objects.create_user(username="other", password="pw-other")
    user.groups.add(Group.objects.get(name=MARKETERS))
    return user


@pytest.fixture
def posted():
    """The comments comment_posted announced."""
    seen = []

    def receiver(sender, comment, **kwargs):
        seen.append(comment)

    comment_posted.connect(receiver, dispatch_uid="test-comments")
    yield seen
    comment_posted.disconnect(dispatch_uid="test-comments")


def _post(client, asset, **data):
    return client.post(reverse("review:comments", args=[asset.pk]), data, headers=HTMX)


def test_the_creator_posts_a_general_comment_and_gets_the_thread_back(
    client, marketer, asset, posted, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, asset, body="  Could the apple be greener?  ")
    assert response.status_code == 200
    [comment] = Comment.objects.filter(asset=asset)
    assert (comment.author, comment.body, comment.x, comment.y) == (
        marketer,
        "Could the apple be greener?",
        None,
        None,
    )
    html = response.content.decode()
    assert f'id="comment-{comment.pk}"' in html and "Could the apple be greener?" in html
    assert posted == [comment]


def test_a_reviewer_pins_a_comment_and_the_page_places_a_numbered_marker(client, reviewer, marketer, asset):
    client.force_login(reviewer)
    _post(client, asset, body="General first")
    response = _post(client, asset, body="This corner is smudged", x="0.25", y="0.75")
    assert response.status_code == 200
    pinned = Comment.objects.get(body="This corner is smudged")
    assert (pinned.x, pinned.y) == (0.25, 0.75)
    client.force_login(marketer)  # visible to the creator too
    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert f'id="comment-{pinned.pk}" data-pin="1" data-x="0.25000" data-y="0.75000"' in html
    assert 'data-pin-target="1"' in html and "General first" in html
    assert "comments.js" in html and 'id="pin-mode"' in html


def test_replies_stay_one_level_deep(client, marketer, reviewer, asset):
    client.force_login(reviewer)
    _post(client, asset, body="Pin here", x="0.5", y="0.5")
    top = Comment.objects.get()
    client.force_login(marketer)
    _post(client, asset, body="Fixed in the revision", parent=top.pk)
    reply = Comment.objects.get(body="Fixed in the revision")
    client.force_login(reviewer)
    response = _post(client, asset, body="Thanks", parent=reply.pk)
    answer = Comment.objects.get(body="Thanks")
    assert reply.parent == top and answer.parent == top
    html = response.content.decode()
    assert html.index("Pin here") < html.index("Fixed in the revision") < html.index("Thanks")
    assert html.count('class="replies"') == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"body": "   "}, "the comment is empty"),
        ({"body": "x" * 2001}, "under 2000 characters"),
        ({"body": "Off the image", "x": "1.5", "y": "0.2"}, "inside the image"),
        ({"body": "Half a pin", "x": "0.5"}, "both a horizontal and a vertical"),
        ({"body": "Not a number", "x": "nan", "y": "0.5"}, "inside the image"),
        ({"body": "Ghost reply", "parent": "999999"}, "not on this asset"),
        ({"body": "Junk parent", "parent": "abc"}, "names no comment"),
    ],
)
def test_bad_comments_are_refused_with_a_400_that_keeps_the_words_and_stores_nothing(
    client, marketer, asset, data, reason
):
    client.force_login(marketer)
    response = _post(client, asset, **data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="comment-error"' in html and reason in html
    assert not Comment.objects.exists()


def test_a_reply_cannot_carry_its_own_pin_or_answer_another_assets_comment(
    client, marketer, asset, make_asset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        other = make_asset()
    top = comments.comment_create(asset=asset, author=marketer, body="Top")
    elsewhere = comments.comment_create(asset=other, author=marketer, body="Elsewhere")
    client.force_login(marketer)
    assert _post(client, asset, body="Pinned reply", parent=top.pk, x="0.1", y="0.1").status_code == 400
    assert _post(client, asset, body="Cross reply", parent=elsewhere.pk).status_code == 400
    assert Comment.objects.count() == 2


def test_without_htmx_a_post_returns_to_the_page_and_says_what_was_refused(client, marketer, asset):
    client.force_login(marketer)
    url = reverse("review:comments", args=[asset.pk])
    ok = client.post(url, {"body": "Plain form post"})
    assert ok.status_code == 302 and ok["Location"].endswith(f"/review/assets/{asset.pk}/#comments")
    refused = client.post(url, {"body": ""}, follow=True)
    assert "Nothing was posted: Write something first" in refused.content.decode()
    assert Comment.objects.count() == 1


# Anonymous, the creator, a marketer of another team (today: any other marketer), a reviewer, an admin.
@pytest.mark.parametrize(
    ("who", "get_status", "post_status"),
    [
        ("anonymous", 302, 302),
        ("marketer", 200, 200),
        ("other_marketer", 404, 404),
        ("reviewer", 200, 200),
        ("admin_user", 200, 200),
    ],
)
def test_who_may_read_and_post_comments(client, request, asset, who, get_status, post_status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    url = reverse("review:comments", args=[asset.pk])
    get = client.get(url, headers=HTMX)
    post = client.post(url, {"body": f"from {who}"}, headers=HTMX)
    assert (get.status_code, post.status_code) == (get_status, post_status)
    if who == "anonymous":
        assert "/login" in get["Location"]
    assert Comment.objects.filter(body=f"from {who}").exists() == (post_status == 200)


def test_the_service_refuses_an_author_who_cannot_see_the_asset(asset, other_marketer):
    with pytest.raises(ReviewPermissionError):
        comments.comment_create(asset=asset, author=other_marketer, body="Sneaky")
    assert not Comment.objects.exists()


@pytest.mark.parametrize("decision", ["request_changes", "reject"])
def test_a_decision_comment_joins_the_thread_linked_to_its_event(
    asset, reviewer, decision, posted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        decisions.asset_review_decide(asset=asset, actor=reviewer, decision=decision, comment="Too dark. ")
    event = ReviewEvent.objects.filter(asset=asset).last()
    [comment] = Comment.objects.filter(asset=asset)
    assert (comment.event, comment.author, comment.body) == (event, reviewer, "Too dark.")
    assert posted == [comment]


def test_a_refused_decision_leaves_no_comment(asset, reviewer, second_reviewer):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="reject", comment="No")
    with pytest.raises(ReviewConflictError):
        decisions.asset_review_decide(
            asset=asset, actor=second_reviewer, decision="request_changes", comment="Hm"
        )
    assert list(Comment.objects.values_list("body", flat=True)) == ["No"]


def test_an_approval_without_words_adds_nothing_to_the_thread(asset, reviewer):
    decisions.asset_review_decide(asset=asset, actor=reviewer, decision="approve", checklist=checklist_all())
    assert not Comment.objects.exists()


def test_the_thread_shows_a_decision_comment_with_its_decision(client, marketer, reviewer, asset):
    client.force_login(reviewer)
    client.post(
        reverse("review:decide", args=[asset.pk]), {"decision": "request_changes", "comment": "Warmer light"}
    )
    assert ReviewEvent.objects.filter(asset=asset).last().to_state == ReviewState.CHANGES_REQUESTED
    client.force_login(marketer)
    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    comment = Comment.objects.get()
    assert f'<li class="comment decision-comment" id="comment-{comment.pk}">' in html
    assert "Warmer light" in html
