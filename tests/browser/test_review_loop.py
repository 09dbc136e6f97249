"""Review as issue #9 asks for it, in a real browser: a reviewer works three assets from the queue by
keyboard (checks each channel's crop, moves a focal point, ticks the checklist, approves; asks for changes;
rejects), and the marketer then sees the three outcomes, the latest comments and the count on their badge."""

import re

import pytest

from review.models import ReviewEvent, ReviewState
from tests.browser.conftest import csp_violations, log_in

pytestmark = pytest.mark.browser


def test_a_reviewer_works_three_assets_by_keyboard_and_the_marketer_sees_the_outcomes(
    browser, live_server, transactional_db, make_asset, marketer, reviewer, channel_presets
):
    from playwright.sync_api import expect

    from generation.models import Asset

    first, second, third = (make_asset(size=(256, 192)) for _ in range(3))
    Asset.objects.filter(pk__in=[first.pk, second.pk, third.pk]).update(
        campaign="Launch", channels=["og-image", "product-thumb"]
    )
    base = live_server.url

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations = csp_violations(page)
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/?campaign=Launch")
    expect(page.locator("#queue-table .queue-row")).to_have_count(3)
    expect(page.locator("#attention-badge")).to_have_text("3")

    # The first: J to it, O to open, see both crops, F and a click to move the focal point, tick, A.
    page.keyboard.press("j")
    expect(page.locator(f"#queue-row-{first.pk}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("o")
    page.wait_for_url(re.compile(rf"/review/assets/{first.pk}/\?from=queue"))
    for channel in ("og-image", "product-thumb"):
        page.locator(f"#crop-{channel} img").scroll_into_view_if_needed()
        page.wait_for_selector(f"#crop-{channel}.seen")
    old_og = page.get_attribute("#crop-og-image", "data-seen-value")
    page.locator("#viewer-image").scroll_into_view_if_needed()
    page.keyboard.press("f")
    box = page.locator("#viewer-image").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    page.wait_for_function(
        "old => document.querySelector('#crop-og-image').dataset.seenValue !== old", arg=old_og
    )
    page.keyboard.press("Escape")  # leave focal mode
    page.locator("#crop-og-image img").scroll_into_view_if_needed()
    page.wait_for_selector("#crop-og-image.seen")
    for tick in page.locator("#checklist input[type=checkbox]").all():
        tick.focus()
        page.keyboard.press("Space")
    page.keyboard.press("a")  # a checkbox has focus: A is still the shortcut
    page.wait_for_url(re.compile(rf"/review/assets/{second.pk}/\?from=queue"))

    # The second: C puts the cursor in the comment, Ctrl+Enter sends the request for changes.
    page.keyboard.press("c")
    expect(page.locator("#decide-form textarea[name=comment]")).to_be_focused()
    page.keyboard.type("The label is misspelt; fix the lettering.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(rf"/review/assets/{third.pk}/\?from=queue"))

    # The third: R, a reason, Ctrl+Enter rejects; the queue is empty after it.
    page.keyboard.press("r")
    page.keyboard.type("Off brand: wrong colours.")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"/review/(\?.*)?$"))
    expect(page.locator("#attention-badge")).to_have_text("0")
    assert violations == []

    first.refresh_from_db()
    assert first.focal_x == pytest.approx(0.8, abs=0.02) and first.focal_y == pytest.approx(0.3, abs=0.02)
    approval = ReviewEvent.objects.get(asset=first, to_state=ReviewState.APPROVED)
    assert [crop["channel"] for crop in approval.details["crops"]] == ["og-image", "product-thumb"]
    assert approval.details["crops"][0]["focal_point"] == [first.focal_x, first.focal_y]
    assert approval.details["checklist"] and all(item["ticked"] for item in approval.details["checklist"])
    outcomes = {
        event.asset_id: event.to_state
        for event in ReviewEvent.objects.filter(kind=ReviewEvent.Kind.DECISION, actor=reviewer)
    }
    assert outcomes == {
        first.pk: ReviewState.APPROVED,
        second.pk: ReviewState.CHANGES_REQUESTED,
        third.pk: ReviewState.REJECTED,
    }

    # The marketer: the badge counts all three outcomes, the list shows each with its latest comment.
    marketer_page = browser.new_context().new_page()
    violations = csp_violations(marketer_page)
    log_in(marketer_page, base, "marketer")
    expect(marketer_page.locator("#attention-badge")).to_have_text("3")
    marketer_page.click("#attention-link")
    for asset, state in (
        (first, ReviewState.APPROVED),
        (second, ReviewState.CHANGES_REQUESTED),
        (third, ReviewState.REJECTED),
    ):
        tile = marketer_page.locator(f"[data-asset-id='{asset.pk}']").first
        expect(tile.locator(".review-state")).to_have_attribute("data-state", state)
    expect(marketer_page.locator(f"[data-asset-id='{second.pk}'] .latest-comment").first).to_contain_text(
        "misspelt"
    )
    expect(marketer_page.locator(f"[data-asset-id='{third.pk}'] .latest-comment").first).to_contain_text(
        "Off brand"
    )
    # Having looked, the new approval and rejection no longer need them; the changes still do.
    marketer_page.goto(f"{base}/")
    expect(marketer_page.locator("#attention-badge")).to_have_text("1")
    assert violations == []
