"""The review queue: filters, search, counts per state, pages in a constant number of queries, the keyboard's
hooks, bulk decisions made and refused asset by asset, who may see it, and the asset page's walk through the
filtered queue."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation.models import Asset, GenerationRequest
from review import decisions
from review.models import AssetReview, Comment, ReviewEvent, ReviewState
from review.selectors import QueueFilters, review_queue
from studio.roles import MARKETERS
from tests.conftest import checklist_all

QUEUE = reverse("review:queue")
BULK = reverse("review:bulk")


@pytest.fixture
def waiting(make_asset, django_capture_on_commit_callbacks):
    """Make an asset the way a worker does (it is submitted to review), then give it metadata."""

    def make(*, prompt="a red apple on a blue background", user=None, submitted_days_ago=None, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            asset = make_asset(prompt=prompt, user=user)
        if fields:
            Asset.objects.filter(pk=asset.pk).update(**fields)
            asset.refresh_from_db()
        if submitted_days_ago is not None:
            AssetReview.objects.filter(asset=asset).update(
                submitted_at=timezone.now() - timedelta(days=submitted_days_ago)
            )
        return asset

    return make


def _bulk_waiting(owner, count: int) -> list[int]:
    """``count`` assets waiting for review, made in three queries (no image files: the queue reads none)."""
    now = timezone.now()
    requests = GenerationRequest.objects.bulk_create(
        GenerationRequest(
            created_by=owner,
            prompt=f"bottle number {n}",
            full_prompt=f"bottle number {n}",
            model_key="tiny",
            width=64,
            height=64,
            seed=n,
            steps=2,
            guidance=5.0,
            status=GenerationRequest.Status.SUCCEEDED,
        )
        for n in range(count)
    )
    assets = Asset.objects.bulk_create(
        Asset(
            request=request,
            operation="text2img",
            created_by=owner,
            file=f"bench/{n}.png",
            content_hash=f"{n:064x}",
            format="png",
            width=64,
            height=64,
            byte_size=100,
            title=f"Bottle {n}",
            campaign="Summer",
            channels=["web", "instagram_square"],
        )
        for n, request in enumerate(requests)
    )
    AssetReview.objects.bulk_create(
        AssetReview(asset=asset, state=ReviewState.IN_REVIEW, submitted_at=now - timedelta(minutes=count - n))
        for n, asset in enumerate(assets)
    )
    return [asset.pk for asset in assets]


def _listed(body: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="queue-row-(\d+)"', body)]


def _get(client, **params):
    return client.get(QUEUE, params)


# Filters and search


def test_the_queue_lists_waiting_assets_oldest_first_and_leaves_out_decided_ones(client, waiting, reviewer):
    newer = waiting(submitted_days_ago=1)
    older = waiting(submitted_days_ago=3)
    decided = waiting(submitted_days_ago=5)
    decisions.asset_review_decide(asset=decided, actor=reviewer, decision="reject", comment="Too dark")
    client.force_login(reviewer)

    response = _get(client)

    assert response.status_code == 200
    assert _listed(response.content.decode()) == [older.pk, newer.pk]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"campaign": "Summer sale"}, ["summer"]),
        ({"campaign": "summer SALE"}, ["summer"]),  # campaigns match whole, in any case
        ({"product": "Lemonade"}, ["winter"]),
        ({"channel": "web"}, ["summer", "winter"]),
        ({"channel": "instagram_square"}, ["summer"]),
        ({"channel": "we"}, []),  # a whole channel name, not part of one
        ({"model": "tiny"}, ["summer", "winter", "other"]),
        ({"model": "default"}, []),
        ({"creator": "marketer"}, ["summer", "winter"]),
        ({"creator": "other-marketer"}, ["other"]),
        ({"submitted_from": "{today}"}, ["winter", "other"]),
        ({"submitted_to": "{ten_days_ago}"}, ["summer"]),
        ({"campaign": "Summer sale", "channel": "web"}, ["summer"]),
        ({"campaign": "Summer sale", "product": "Lemonade"}, []),
    ],
)
def test_each_filter_narrows_the_queue(client, waiting, reviewer, marketer, params, expected):
    other = get_user_model().objects.create_user("other-marketer", password="pw")
    other.groups.add(Group.objects.get(name=MARKETERS))
    assets = {
        "summer": waiting(
            campaign="Summer sale",
            product="Cola",
            channels=["web", "instagram_square"],
            submitted_days_ago=12,
        ),
        "winter": waiting(campaign="Winter", product="Lemonade", channels=["web"]),
        "other": waiting(user=other, campaign="Winter", channels=["print_a4"]),
    }
    today = timezone.localdate()
    values = {"today": today.isoformat(), "ten_days_ago": (today - timedelta(days=10)).isoformat()}
    client.force_login(reviewer)

    response = _get(client, **{name: value.format(**values) for name, value in params.items()})

    assert response.status_code == 200
    assert set(_listed(response.content.decode())) == {assets[name].pk for name in expected}


def test_search_finds_words_in_the_prompt_the_title_and_comments(client, waiting, reviewer, second_reviewer):
    by_prompt = waiting(prompt="a frosty lemonade bottle on ice")
    by_title = waiting(title="Frosty banner")
    by_decision_comment = waiting()
    by_thread_comment = waiting()
    nothing = waiting(prompt="a red apple", title="Apple")
    ReviewEvent.objects.create(
        asset=by_decision_comment,
        actor=second_reviewer,
        kind=ReviewEvent.Kind.CHECKED_SAFE,
        from_state=ReviewState.IN_REVIEW,
        to_state=ReviewState.IN_REVIEW,
        comment="Logo looks FROSTY but fine",
    )
    Comment.objects.create(
        asset=by_thread_comment, author=second_reviewer, body="Is the frosty glass on brand?"
    )
    client.force_login(reviewer)

    found = set(_listed(_get(client, q="frosty").content.decode()))
    assert found == {by_prompt.pk, by_title.pk, by_decision_comment.pk, by_thread_comment.pk}
    assert nothing.pk not in found

    # Every word has to be found somewhere (in any of the fields).
    assert set(_listed(_get(client, q="frosty ice").content.decode())) == {by_prompt.pk}
    assert _listed(_get(client, q="frosty zebra").content.decode()) == []


def test_a_search_with_like_wildcards_matches_them_literally(client, waiting, reviewer):
    percent = waiting(title="50% off")
    waiting(title="500 off")
    client.force_login(reviewer)

    assert _listed(_get(client, q="50%").content.decode()) == [percent.pk]


def test_counts_per_state_honour_the_other_filters(client, waiting, reviewer):
    summer = [waiting(campaign="Summer") for _ in range(3)]
    waiting(campaign="Winter")
    decisions.asset_review_decide(
        asset=summer[0], actor=reviewer, decision="approve", checklist=checklist_all()
    )
    decisions.asset_review_decide(asset=summer[1], actor=reviewer, decision="reject", comment="Off brand")
    client.force_login(reviewer)

    body = _get(client, campaign="Summer").content.decode()

    def tab(state: str) -> str:
        match = re.search(rf'id="queue-state-{state}"[^>]*>[^<]*<span class="count">(\d+)</span>', body)
        return match.group(1)

    assert (tab("in_review"), tab("approved"), tab("rejected"), tab("draft")) == ("1", "1", "1", "0")
    assert 'href="?state=approved&amp;campaign=Summer"' in body, "a tab keeps the other filters"


def test_a_state_tab_lists_the_assets_in_that_state(client, waiting, reviewer):
    approved, still_waiting = waiting(), waiting()
    decisions.asset_review_decide(
        asset=approved, actor=reviewer, decision="approve", checklist=checklist_all()
    )
    client.force_login(reviewer)

    body = _get(client, state="approved").content.decode()

    assert _listed(body) == [approved.pk]
    assert 'id="queue-bulk-apply"' not in body, "only waiting assets can be decided in bulk"
    assert still_waiting.pk not in _listed(body)


def test_the_flagged_only_filter_counts_with_the_others(client, waiting, reviewer):
    flagged = waiting(campaign="Summer", is_flagged=True)
    waiting(campaign="Summer")
    waiting(campaign="Winter", is_flagged=True)
    client.force_login(reviewer)

    body = _get(client, campaign="Summer", flagged="1").content.decode()

    assert _listed(body) == [flagged.pk]
    assert "All (2)" in body and "Flagged only (1)" in body


def test_rows_link_to_the_asset_page_with_the_queue_and_its_filters(client, waiting, reviewer):
    asset = waiting(campaign="Summer sale")
    client.force_login(reviewer)

    body = _get(client, campaign="Summer sale", q="apple").content.decode()

    link = reverse("review:asset", args=[asset.pk]) + "?from=queue&amp;q=apple&amp;campaign=Summer+sale"
    assert f'id="queue-open-{asset.pk}" href="{link}"' in body


def test_the_page_carries_the_keyboard_hooks(client, waiting, reviewer):
    asset = waiting()
    client.force_login(reviewer)

    body = _get(client).content.decode()

    assert 'data-shortcuts="queue"' in body and "/static/queue.js" in body
    assert f'id="queue-row-{asset.pk}"' in body and f'id="queue-pick-{asset.pk}"' in body
    assert 'id="queue-shortcuts"' in body and "<script>" not in body, "no inline script (the CSP)"


# Bad input


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"submitted_from": "yesterday"}, "Enter a valid date."),
        (
            {"submitted_from": "2025-03-02", "submitted_to": "2025-03-01"},
            "The end date is before the start date.",
        ),
        ({"state": "maybe"}, "Select a valid choice."),
        ({"channel": '"web"'}, "A channel is a preset name"),
        ({"per_page": "7"}, "Select a valid choice."),
        ({"page": "two"}, "Enter a whole number."),
        ({"page": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"q": "x" * 201}, "Ensure this value has at most 200 characters"),
    ],
)
def test_filters_that_do_not_read_are_a_400_that_says_why(client, waiting, reviewer, params, message):
    asset = waiting()
    client.force_login(reviewer)

    response = _get(client, **params)

    body = response.content.decode()
    assert response.status_code == 400
    assert "These filters do not read" in body and message in body
    assert asset.pk not in _listed(body)


# Pages


def test_pages_follow_on_and_a_page_past_the_end_shows_the_last(client, marketer, reviewer):
    ids = _bulk_waiting(marketer, 23)
    client.force_login(reviewer)

    assert _listed(_get(client, per_page=10).content.decode()) == ids[:10]
    second = _get(client, per_page=10, page=2).content.decode()
    assert _listed(second) == ids[10:20]
    assert "11\N{EN DASH}20 of 23 · page 2 of 3" in second
    assert 'href="?per_page=10&amp;page=3"' in second and 'href="?per_page=10&amp;page=1"' in second
    assert _listed(_get(client, per_page=10, page=99).content.decode()) == ids[20:]


@pytest.mark.parametrize(
    "filters",
    [
        QueueFilters(),
        QueueFilters(q="bottle 1"),
        QueueFilters(channel="web", campaign="summer"),
        QueueFilters(state=ReviewState.REJECTED),
        QueueFilters(flagged_only=True),
    ],
)
def test_both_shapes_of_the_queue_query_list_the_same_rows_in_the_same_order(marketer, reviewer, filters):
    ids = _bulk_waiting(marketer, 30)
    Asset.objects.filter(pk__in=ids[::4]).update(is_flagged=True)
    AssetReview.objects.filter(asset_id__in=ids[::3]).update(state=ReviewState.REJECTED)

    walked = list(
        review_queue(viewer=reviewer, filters=filters, few=False).values_list("asset_id", flat=True)
    )
    listed = list(review_queue(viewer=reviewer, filters=filters, few=True).values_list("asset_id", flat=True))

    assert walked == listed and walked


@pytest.mark.parametrize("params", [{}, {"q": "bottle", "channel": "web", "campaign": "Summer"}])
def test_a_page_takes_the_same_number_of_queries_for_10_or_50_rows(client, marketer, reviewer, params):
    _bulk_waiting(marketer, 60)
    client.force_login(reviewer)
    _get(client, per_page=10)  # the session and permission caches are warm for both

    with CaptureQueriesContext(connection) as ten:
        assert len(_listed(_get(client, per_page=10, **params).content.decode())) == 10
    with CaptureQueriesContext(connection) as fifty:
        assert len(_listed(_get(client, per_page=50, **params).content.decode())) == 50

    assert len(ten) == len(fifty), [query["sql"] for query in fifty]
    assert len(fifty) <= 12, [query["sql"] for query in fifty]


# Bulk decisions


def test_bulk_approval_decides_each_asset_and_reports_each_refusal(client, waiting, reviewer):
    plain, other_plain = waiting(), waiting()
    own = waiting(user=reviewer)
    gone = waiting()
    decisions.asset_review_decide(asset=gone, actor=reviewer, decision="reject", comment="Blurry")
    client.force_login(reviewer)

    response = client.post(
        BULK,
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "assets": [plain.pk, own.pk, gone.pk, other_plain.pk],
            "comment": "",
        },
        follow=True,
    )

    body = response.content.decode()
    states = dict(AssetReview.objects.values_list("asset_id", "state"))
    assert states[plain.pk] == states[other_plain.pk] == ReviewState.APPROVED
    assert states[own.pk] == ReviewState.IN_REVIEW and states[gone.pk] == ReviewState.REJECTED
    assert "2 assets updated" in body
    assert f"#{own.pk}: You cannot review an image you generated yourself" in body
    assert f"#{gone.pk}: not waiting for a decision" in body
    approvals = ReviewEvent.objects.filter(to_state=ReviewState.APPROVED)
    assert sorted(approvals.values_list("asset_id", flat=True)) == sorted([plain.pk, other_plain.pk]), (
        "one event for each asset decided"
    )


def test_bulk_approval_refuses_an_asset_whose_channel_crops_were_not_seen(
    client, waiting, reviewer, channel_presets
):
    with_channels = waiting(channels=["desktop-hero"])
    without = waiting()
    client.force_login(reviewer)

    response = client.post(
        BULK,
        {"decision": "approve", "checklist": checklist_all(), "assets": [with_channels.pk, without.pk]},
        follow=True,
    )

    body = response.content.decode()
    assert f"#{with_channels.pk}: Look at the crop each channel will use before approving." in body
    assert "Open it to check its crops, then approve it there." in body
    states = dict(AssetReview.objects.values_list("asset_id", "state"))
    assert states == {with_channels.pk: ReviewState.IN_REVIEW, without.pk: ReviewState.APPROVED}


def test_bulk_decision_goes_back_to_the_same_filtered_queue(client, waiting, reviewer):
    asset = waiting(campaign="Summer")
    client.force_login(reviewer)

    response = client.post(
        BULK,
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "assets": [asset.pk],
            "filters": "campaign=Summer&per_page=10&page=2",
        },
    )

    assert response.status_code == 302
    assert response.url == f"{QUEUE}?campaign=Summer&per_page=10"


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_bulk_reject_or_request_changes_without_a_comment_changes_nothing(
    client, waiting, reviewer, decision
):
    first, second = waiting(), waiting()
    client.force_login(reviewer)

    response = client.post(BULK, {"decision": decision, "assets": [first.pk, second.pk], "comment": "  "})

    body = response.content.decode()
    assert response.status_code == 400
    assert "Say what should change (or why they are rejected)" in body
    assert re.search(rf'id="queue-pick-{first.pk}"[^>]* checked>', body), "the selection is still ticked"
    assert set(AssetReview.objects.values_list("state", flat=True)) == {ReviewState.IN_REVIEW}
    assert not ReviewEvent.objects.exclude(to_state=ReviewState.IN_REVIEW).exists()


def test_bulk_request_changes_with_a_comment_logs_it_on_each_asset(client, waiting, reviewer):
    first, second = waiting(), waiting()
    client.force_login(reviewer)

    client.post(
        BULK, {"decision": "request_changes", "assets": [first.pk, second.pk], "comment": "Warmer light"}
    )

    events = ReviewEvent.objects.filter(to_state=ReviewState.CHANGES_REQUESTED)
    assert sorted(events.values_list("asset_id", "comment")) == [
        (first.pk, "Warmer light"),
        (second.pk, "Warmer light"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "approve", "assets": ["one"]}, "Asset ids are whole numbers."),
        ({"decision": "approve"}, "Select at least one image."),
        ({"decision": "publish", "assets": ["1"]}, "Select a valid choice."),
        (
            {"decision": "approve", "assets": [str(n) for n in range(101)]},
            "Select at most 100 images at once.",
        ),
    ],
)
def test_a_bulk_request_that_does_not_read_is_a_400_that_changes_nothing(
    client, waiting, reviewer, data, message
):
    asset = waiting()
    client.force_login(reviewer)

    response = client.post(BULK, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


# Who may see and use it


@pytest.mark.parametrize(
    ("persona", "queue_status", "bulk_status"),
    [
        (None, 302, 302),  # anonymous: to the login page
        ("marketer", 403, 403),  # the creator's own team
        ("other_marketer", 403, 403),  # another marketer
        ("reviewer", 200, 302),
        ("admin_user", 200, 302),
    ],
)
def test_who_may_see_the_queue_and_decide_in_bulk(
    client, waiting, request, marketer, persona, queue_status, bulk_status
):
    asset = waiting()
    if persona == "other_marketer":
        user = get_user_model().objects.create_user("other-marketer", password="pw")
        user.groups.add(Group.objects.get(name=MARKETERS))
        client.force_login(user)
    elif persona:
        client.force_login(request.getfixturevalue(persona))

    queue_response = client.get(QUEUE)
    bulk_response = client.post(
        BULK, {"decision": "approve", "checklist": checklist_all(), "assets": [asset.pk]}
    )

    assert queue_response.status_code == queue_status
    assert bulk_response.status_code == bulk_status
    if persona is None:
        assert queue_response.url.startswith(reverse("login"))
    if queue_status == 200:
        assert _listed(queue_response.content.decode()) == [asset.pk]
    expected = ReviewState.APPROVED if persona in ("reviewer", "admin_user") else ReviewState.IN_REVIEW
    assert AssetReview.objects.get(asset=asset).state == expected


# The asset page's walk


def test_the_asset_page_walks_the_filtered_queue(client, waiting, reviewer):
    first = waiting(campaign="Summer", submitted_days_ago=4)
    waiting(campaign="Winter", submitted_days_ago=3)
    second = waiting(campaign="Summer", submitted_days_ago=2)
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[first.pk]), {"from": "queue", "campaign": "Summer"})
    body = page.content.decode()
    assert "1 of 2 waiting" in body
    assert f'href="{QUEUE}?campaign=Summer" data-key="j"' in body
    assert 'name="queue_filters" value="campaign=Summer"' in body

    response = client.post(
        reverse("review:decide", args=[first.pk]),
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "from": "queue",
            "queue_filters": "campaign=Summer",
        },
    )

    assert response.url == reverse("review:asset", args=[second.pk]) + "?from=queue&campaign=Summer"
    response = client.post(
        reverse("review:decide", args=[second.pk]),
        {
            "decision": "approve",
            "checklist": checklist_all(),
            "from": "queue",
            "queue_filters": "campaign=Summer",
        },
    )
    assert response.url == f"{QUEUE}?campaign=Summer", "the filtered queue is done: back to it"


def test_a_refused_decision_from_the_queue_comes_back_to_the_page_still_walking_it(client, waiting, reviewer):
    asset = waiting(campaign="Summer")
    client.force_login(reviewer)

    response = client.post(
        reverse("review:decide", args=[asset.pk]),
        {"decision": "reject", "comment": "", "from": "queue", "queue_filters": "campaign=Summer"},
    )

    assert response.url == reverse("review:asset", args=[asset.pk]) + "?from=queue&campaign=Summer"
    assert AssetReview.objects.get(asset=asset).state == ReviewState.IN_REVIEW


QUEUE_TRIGRAM_INDEXES = {
    "queue_search_asset_title_trgm",
    "queue_search_prompt_trgm",
    "queue_search_event_comment_trgm",
    "queue_search_comment_body_trgm",
    "queue_channel_trgm",
}


@pytest.mark.services
def test_postgresql_searches_the_queue_through_trigram_indexes_with_the_same_results(
    client, waiting, reviewer, second_reviewer
):
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'queue_%%_trgm'")
        indexes = dict(cursor.fetchall())
    assert set(indexes) == QUEUE_TRIGRAM_INDEXES
    assert all("gin_trgm_ops" in definition and "upper(" in definition for definition in indexes.values())

    texts = {}  # what each asset can be found by, as the search sees it
    for n, (prompt, title, remark) in enumerate(
        [
            ("a frosty lemonade bottle on ice", "Summer 50% off", ""),
            ("a can of cola on a beach", "Frosty banner", "Ice looks fake"),
            ("a red apple", "Apple", "Is the FROSTY glass on brand?"),
            ("iced tea in a glass", "Tea_time", ""),
        ]
    ):
        asset = waiting(prompt=prompt, title=title, channels=["web"] if n % 2 else ["story"])
        if remark:
            Comment.objects.create(asset=asset, author=second_reviewer, body=remark)
        texts[asset.pk] = " ".join([prompt, title, remark]).casefold()
    client.force_login(reviewer)

    for q in ["frosty", "ICE", "frosty ice", "50%", "tea_", "ic", "a", "zebra", "cola beach"]:
        expected = {pk for pk, text in texts.items() if all(word.casefold() in text for word in q.split())}
        with transaction.atomic(), connection.cursor() as cursor:
            # The planner would scan tables this small; make it take the indexes.
            cursor.execute("SET LOCAL enable_seqscan = off")
            found = set(_listed(_get(client, q=q).content.decode()))
        assert found == expected, q
