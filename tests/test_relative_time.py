"""Relative times (studio/templatetags/relative_time.py): "just now" under a minute, never "0 minutes ago"."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from studio.templatetags.relative_time import ago

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [0, 1, 30, 59])
def test_under_a_minute_is_just_now(seconds):
    assert ago(NOW - timedelta(seconds=seconds), NOW) == "just now"


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (timedelta(seconds=60), "1\xa0minute ago"),
        (timedelta(minutes=5, seconds=59), "5\xa0minutes ago"),
        (timedelta(hours=1), "1\xa0hour ago"),
        (timedelta(hours=2, minutes=59), "2\xa0hours ago"),
        (timedelta(days=3, hours=5), "3\xa0days ago"),
        (timedelta(days=15), "2\xa0weeks ago"),
        (timedelta(days=400), "1\xa0year ago"),
    ],
)
def test_older_moments_read_in_their_largest_unit(before, said):
    assert ago(NOW - before, NOW) == said


def test_no_moment_in_the_first_two_hours_reads_zero_of_anything():
    for seconds in range(0, 2 * 3600, 7):
        assert not ago(NOW - timedelta(seconds=seconds), NOW).startswith("0")


def test_a_moment_a_few_seconds_ahead_from_clock_skew_is_just_now_and_a_later_one_is_to_come():
    assert ago(NOW + timedelta(seconds=20), NOW) == "just now"
    assert ago(NOW + timedelta(hours=3), NOW) == "in 3\xa0hours"


def test_no_moment_reads_as_nothing():
    assert ago(None) == ""


def test_templates_use_it_as_a_filter_relative_to_the_present():
    rendered = Template("{% load relative_time %}{{ posted|ago }} / {{ old|ago }}").render(
        Context(
            {
                "posted": datetime.now(UTC),
                "old": datetime.now(UTC) - timedelta(days=2),
            }
        )
    )
    assert rendered == "just now / 2\xa0days ago"
