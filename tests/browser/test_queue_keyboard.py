"""The review queue by keyboard in a real browser: J/K move the cursor, X selects, ? lists the shortcuts and
Esc closes them, nothing fires while typing in the search field, O opens the image with the queue's
filters, and the image's page walks on through the filtered queue; all under the Content Security Policy."""

import re

import pytest

from tests.browser.conftest import csp_violations, log_in

pytestmark = pytest.mark.browser


def test_a_reviewer_works_the_filtered_queue_by_keyboard(
    browser, live_server, transactional_db, make_asset, reviewer
):
    from playwright.sync_api import expect

    from generation.models import Asset
    from review.models import AssetReview, ReviewState

    first, other, second = make_asset(), make_asset(), make_asset()
    Asset.objects.filter(pk__in=[first.pk, second.pk]).update(campaign="Summer")
    base = live_server.url
    page = browser.new_page()
    violations = csp_violations(page)
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/?campaign=Summer")
    expect(page.locator("#queue-table .queue-row")).to_have_count(2)

    page.keyboard.press("j")
    expect(page.locator(f"#queue-row-{first.pk}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("j")
    expect(page.locator(f"#queue-row-{second.pk}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("x")
    expect(page.locator(f"#queue-pick-{second.pk}")).to_be_checked()
    expect(page.locator("#queue-selected-count")).to_have_text("1 selected")
    page.keyboard.press("x")
    expect(page.locator(f"#queue-pick-{second.pk}")).not_to_be_checked()
    page.keyboard.press("k")
    expect(page.locator(f"#queue-row-{first.pk}")).to_have_class(re.compile(r"\bis-current\b"))

    page.keyboard.press("?")
    expect(page.locator("#queue-shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#queue-shortcuts")).to_be_hidden()

    # Typing in the search field types; the keys are not shortcuts there.
    page.keyboard.press("/")
    page.keyboard.type("jx")
    expect(page.locator("#id_q")).to_have_value("jx")
    expect(page.locator(f"#queue-row-{first.pk}")).to_have_class(re.compile(r"\bis-current\b"))
    page.keyboard.press("Escape")

    page.keyboard.press("o")
    page.wait_for_url(re.compile(rf"/review/assets/{first.pk}/\?from=queue&campaign=Summer$"))
    expect(page.locator("#queue-position")).to_contain_text("1 of 2 waiting")
    for box in page.locator("#checklist input[type=checkbox]").all():  # the review checklist
        box.check()
    page.locator("body").click(position={"x": 1, "y": 1})  # focus off the checkbox: A is a shortcut again
    page.keyboard.press("a")
    page.wait_for_url(re.compile(rf"/review/assets/{second.pk}/\?from=queue&campaign=Summer$"))
    assert AssetReview.objects.get(asset=first).state == ReviewState.APPROVED
    assert AssetReview.objects.get(asset=other).state == ReviewState.IN_REVIEW
    assert violations == []


def test_a_reviewer_approves_a_selection_in_bulk_with_the_checklist_ticked(
    browser, live_server, transactional_db, make_asset, reviewer
):
    from playwright.sync_api import expect

    from review.models import AssetReview, ReviewEvent, ReviewState

    first, second = make_asset(), make_asset()
    base = live_server.url
    page = browser.new_page()
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/")
    boxes = page.locator("#queue-checklist input[type=checkbox]")
    expect(boxes).to_have_count(4)  # the seeded points: brand, text, product, anatomy

    # Without the ticks the whole batch is refused, the selection kept.
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("#queue-selected-count")).to_have_text("2 selected")
    page.select_option("#queue-bulk-decision", "approve")
    with page.expect_navigation():
        page.locator("#queue-bulk-apply").click()
    expect(page.locator("#queue-bulk-errors")).to_contain_text("Tick every checklist item before approving")
    expect(page.locator(f"#queue-pick-{first.pk}")).to_be_checked()
    assert set(AssetReview.objects.values_list("state", flat=True)) == {ReviewState.IN_REVIEW}

    # A ticked checklist box keeps the keyboard: J still moves the cursor.
    for box in boxes.all():
        box.check()
    page.keyboard.press("j")
    expect(page.locator(".queue-row.is-current")).to_have_count(1)
    with page.expect_navigation():
        page.locator("#queue-bulk-apply").click()
    expect(page.locator(".messages")).to_contain_text("2 assets updated")
    for asset in (first, second):
        assert AssetReview.objects.get(asset=asset).state == ReviewState.APPROVED
        event = ReviewEvent.objects.get(asset=asset, to_state=ReviewState.APPROVED)
        assert event.details["checklist"] and all(tick["ticked"] for tick in event.details["checklist"])
