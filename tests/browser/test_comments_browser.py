"""Pinned comments and the revision comparison in a real browser: pin mode, the numbered marker over the
image, marker and comment highlighting each other, a refused post keeping its words, the slider toggle;
all under the Content Security Policy."""

import pytest
from PIL import Image

from tests.browser.conftest import csp_violations, log_in

pytestmark = pytest.mark.browser


def test_a_reviewer_pins_a_comment_and_the_marker_and_comment_point_at_each_other(
    browser, live_server, transactional_db, make_asset, reviewer
):
    from playwright.sync_api import expect

    from review.models import Comment

    asset = make_asset(size=(256, 192))
    base = live_server.url
    page = browser.new_page()
    violations = csp_violations(page)
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/assets/{asset.pk}/")
    page.wait_for_load_state("networkidle")

    # A refused post (only spaces; the browser's "required" is satisfied) comes back with its reason.
    page.fill("#comment-body", "   ")
    page.click("#comment-form button[type=submit]")
    expect(page.locator("#comment-error")).to_contain_text("the comment is empty")

    page.click("#pin-mode")
    expect(page.locator(".pin-layer.pinning")).to_have_count(1)
    image = page.locator(".image-pane img.large")
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    expect(page.locator("#pin-status")).to_be_visible()
    page.fill("#comment-body", "The shadow here is too hard")
    page.click("#comment-form button[type=submit]")

    marker = page.locator('.pin-marker[data-number="1"]')
    expect(marker).to_have_count(1)
    comment = Comment.objects.get()
    assert abs(comment.x - 0.25) < 0.02 and abs(comment.y - 0.75) < 0.02
    marker_box = marker.bounding_box()
    centre_x = marker_box["x"] + marker_box["width"] / 2
    assert abs(centre_x - (box["x"] + box["width"] * 0.25)) < 4
    marker.click()
    expect(page.locator(f"#comment-{comment.pk}")).to_have_class("comment pin-highlight")
    expect(page.locator("#comment-body")).to_have_value("")  # the form came back empty after the post
    assert violations == []


def test_a_revision_toggles_between_side_by_side_and_the_slider(
    browser, live_server, transactional_db, make_asset, marketer
):
    from playwright.sync_api import expect

    from generation.models import Asset

    original = make_asset(size=(128, 96))
    revision = make_asset(size=(128, 96), image=Image.new("RGB", (128, 96), (40, 40, 200)))
    Asset.objects.filter(pk=revision.pk).update(revision_of=original)
    base = live_server.url
    page = browser.new_page()
    log_in(page, base, "marketer")
    page.goto(f"{base}/review/assets/{revision.pk}/")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".revision-pair")).to_be_visible()
    expect(page.locator("#revision-compare-range")).to_be_hidden()
    page.click("[data-compare-mode=slider]")
    expect(page.locator("#revision-compare-range")).to_be_visible()
    expect(page.locator(".revision-pair")).to_be_hidden()
    page.click("[data-compare-mode=side]")
    expect(page.locator(".revision-pair")).to_be_visible()
