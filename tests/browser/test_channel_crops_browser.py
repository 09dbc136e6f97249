"""In a real browser: the channel crops count as seen once shown, the focal point moves by a click and the
crops re-render, Z switches Fit and 1:1, and the approval goes through only with every crop seen."""

import pytest

from review.models import ReviewEvent, ReviewState
from review.selectors import review_state_of
from tests.browser.conftest import csp_violations, log_in

pytestmark = pytest.mark.browser


def test_reviewer_checks_the_crops_moves_the_focal_point_and_approves(
    browser, live_server, transactional_db, make_asset, reviewer, channel_presets
):
    asset = make_asset(size=(256, 192))
    asset.channels = ["og-image", "product-thumb"]
    asset.save(update_fields=["channels"])
    base = live_server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations = csp_violations(page)
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/assets/{asset.pk}/")

    # The viewer: Z switches to 1:1 (256 px wide at this device pixel ratio) and back.
    page.keyboard.press("z")
    assert page.get_attribute("#viewer", "data-zoom") == "actual"
    assert page.eval_on_selector("#viewer-image", "image => image.getBoundingClientRect().width") == 256
    page.keyboard.press("z")
    assert page.get_attribute("#viewer", "data-zoom") == "fit"

    # Every crop scrolled into view counts as seen and rides along in the decide form.
    for channel in ("og-image", "product-thumb"):
        page.locator(f"#crop-{channel} img").scroll_into_view_if_needed()
        page.wait_for_selector(f"#crop-{channel}.seen")
    assert page.locator("#decide-form input[name=crops_seen]").count() == 2

    # Focal mode, click the top-left quarter: the section comes back with new og-image crops to see.
    old_og = page.get_attribute("#crop-og-image", "data-seen-value")
    page.locator("#viewer-image").scroll_into_view_if_needed()
    page.keyboard.press("f")
    box = page.locator("#viewer-image").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    page.wait_for_function(
        "old => document.querySelector('#crop-og-image').dataset.seenValue !== old", arg=old_og
    )
    asset.refresh_from_db()
    assert asset.focal_x == pytest.approx(0.25, abs=0.02) and asset.focal_y == pytest.approx(0.25, abs=0.02)
    page.wait_for_selector("#focal-marker", state="visible")  # placed once htmx has settled the swap
    # The padded thumbnail kept its token (and stays seen); the moved crop must be seen again.
    page.locator("#crop-og-image img").scroll_into_view_if_needed()
    page.wait_for_selector("#crop-og-image.seen")
    values = page.eval_on_selector_all(
        "#decide-form input[name=crops_seen]", "inputs => inputs.map(i => i.value)"
    )
    assert old_og not in values and len(values) == 2

    for box in page.locator("#decide-form input[name=checklist]").all():  # the review checklist
        box.check()
    with page.expect_navigation():
        page.locator("#decide-form button[value=approve]").click()
    assert review_state_of(asset=asset).state == ReviewState.APPROVED, page.inner_text(".messages")
    event = ReviewEvent.objects.get(asset=asset, to_state=ReviewState.APPROVED)
    assert [crop["channel"] for crop in event.details["crops"]] == ["og-image", "product-thumb"]
    assert event.details["crops"][0]["focal_point"] == [asset.focal_x, asset.focal_y]
    assert violations == []
