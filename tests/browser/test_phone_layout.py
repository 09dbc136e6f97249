"""Studio on a phone (390x844): the navigation folds behind a menu button the keyboard works, keyboard hints
leave touch screens, the review queue's bulk bar stays in reach, and the delivery panel's URLs read whole and
copy with a tap."""

import re

import pytest

from tests.browser.conftest import axe_violations, log_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}}
TOUCH_PHONE = PHONE | {"has_touch": True, "is_mobile": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}

PAGE_WIDTH = "document.documentElement.scrollWidth"


def _page(browser, base: str, username: str, **options):
    context = browser.new_context(**options)
    page = context.new_page()
    log_in(page, base, username)
    return page


def test_a_phone_opens_and_closes_the_navigation_with_the_menu_button_by_keyboard(
    module_browser, live_server, transactional_db, marketer
):
    from playwright.sync_api import expect

    page = _page(module_browser, live_server.url, "marketer", **PHONE)
    page.goto(f"{live_server.url}/requests/")
    menu, gallery = page.locator("#menu-button"), page.locator("#site-menu >> text=Gallery")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(gallery).to_be_hidden()

    page.keyboard.press("Tab")  # the brand link
    page.keyboard.press("Tab")
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(gallery).to_be_visible()
    assert page.evaluate(PAGE_WIDTH) <= 390
    assert axe_violations(page) == []
    page.keyboard.press("Tab")
    expect(page.locator("#site-menu a").first).to_be_focused()

    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(gallery).to_be_hidden()
    page.keyboard.press("Space")
    expect(gallery).to_be_visible()
    page.context.close()

    page = _page(module_browser, live_server.url, "marketer", **DESKTOP)
    expect(page.locator("#menu-button")).to_be_hidden()
    expect(page.locator("#site-menu >> text=Gallery")).to_be_visible()
    page.context.close()


def test_keyboard_hints_show_with_a_keyboard_and_not_on_a_touch_screen(
    module_browser, live_server, transactional_db, make_asset, reviewer
):
    from playwright.sync_api import expect

    asset = make_asset()
    for options, shown in ((DESKTOP, True), (TOUCH_PHONE, False)):
        page = _page(module_browser, live_server.url, "reviewer", **options)
        page.goto(f"{live_server.url}/review/")
        expect(page.locator("#queue-hint")).to_contain_text("Select several here")
        hints = [page.locator("#queue-hint kbd").first, page.locator("#queue-help-button")]
        assert [hint.is_visible() for hint in hints] == [shown, shown]
        page.goto(f"{live_server.url}/review/assets/{asset.pk}/?from=queue")
        expect(page.locator("#decide-form button[data-key=a]")).to_be_visible()
        hints = [page.locator("#decide-form kbd").first, page.locator(".viewer-toolbar .keyboard-hint")]
        assert [hint.is_visible() for hint in hints] == [shown, shown]
        page.context.close()


def test_the_bulk_bar_stays_on_screen_above_a_long_queue_on_a_phone(
    module_browser, live_server, transactional_db, make_asset, reviewer
):
    from playwright.sync_api import expect

    from review.models import AssetReview, ReviewState

    assets = [make_asset() for _ in range(12)]
    page = _page(module_browser, live_server.url, "reviewer", **TOUCH_PHONE)
    page.goto(f"{live_server.url}/review/")
    assert page.evaluate(PAGE_WIDTH) <= 390, "the wide table scrolls in its own box"
    page.locator(f"#queue-pick-{assets[0].pk}").tap()
    expect(page.locator("#queue-selected-count")).to_have_text("1 selected")

    apply = page.locator("#queue-bulk-apply")
    box = apply.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844, "the bar is on screen while the first rows are"
    uncovered = "([x, y]) => document.elementFromPoint(x, y) === document.getElementById('queue-bulk-apply')"
    assert page.evaluate(uncovered, [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])

    page.select_option("#queue-bulk-decision", "reject")
    page.locator("#queue-bulk-comment").fill("Off brand.")
    apply.tap()
    page.wait_for_url(re.compile(r"/review/"))
    expect(page.locator(f"#queue-row-{assets[0].pk}")).to_have_count(0)
    assert AssetReview.objects.get(asset=assets[0]).state == ReviewState.REJECTED
    page.context.close()


def test_the_delivery_panel_reads_whole_and_copies_on_a_phone(
    module_browser, live_server, transactional_db, approved, marketer
):
    from playwright.sync_api import expect

    asset, public_id = approved
    page = _page(module_browser, live_server.url, "marketer", **TOUCH_PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server.url}/review/assets/{asset.pk}/")
    assert page.evaluate(PAGE_WIDTH) <= 390

    # Past the first three presets the panel folds away.
    urls = page.locator(".embed-panel code.url")
    expect(urls.nth(2)).to_be_visible()
    expect(urls.nth(3)).to_be_hidden()

    url = urls.first
    url.scroll_into_view_if_needed()
    assert public_id in url.text_content()
    one_line = "(code) => code.clientHeight < 2 * parseFloat(getComputedStyle(code).lineHeight)"
    assert url.evaluate(one_line), "the URL stays on one line, scrolling sideways in its box"
    assert url.evaluate("(code) => code.scrollWidth > code.clientWidth"), "a whole URL is wider than a phone"
    page.locator(".embed-panel .copy-row button").first.tap()
    assert page.evaluate("navigator.clipboard.readText()") == url.text_content()

    page.locator("#more-presets > summary").tap()
    expect(urls.nth(3)).to_be_visible()
    page.context.close()
