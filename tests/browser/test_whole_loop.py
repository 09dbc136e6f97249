"""The whole loop in a real browser: a marketer generates, a reviewer approves, a site fetches a variant."""

import re

import pytest

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_marketer_generates_reviewer_approves_site_fetches_a_variant(
    browser, live_server, celery_worker_process, channel_presets, marketer, reviewer
):
    from playwright.sync_api import expect

    base = live_server.url
    context = browser.new_context()
    page = context.new_page()

    log_in(page, base, "marketer")
    page.goto(f"{base}/generate/")
    # The shipped default model is preselected, at its one size, with what it can draw.
    expect(page.locator("#notice-default")).to_contain_text("What it can draw")
    expect(page.locator("#id_model")).to_have_value("default")
    expect(page.locator("#id_size")).to_have_value("square")
    page.fill("#id_prompt", "a coffee mug on a wooden desk")
    page.select_option("#id_size", "square")
    page.click(".advanced summary")
    page.fill("#id_steps", "2")
    page.fill("#id_campaign", "Launch")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    # htmx polls the progress fragment until the worker finishes; no reload.
    expect(page.locator("#progress .badge")).to_have_text("Succeeded", timeout=120_000)
    expect(page.locator("#progress progress")).to_have_attribute("value", "100")
    expect(page.locator("#progress .grid img")).to_have_count(1)
    page.click("text=details & review status")
    expect(page.locator("#review-state")).to_have_text("In review")
    context.close()

    context = browser.new_context()
    page = context.new_page()
    log_in(page, base, "reviewer")
    page.goto(f"{base}/review/")
    page.click("[id^=queue-open-]")
    expect(page.locator("#review-state")).to_have_text("In review")
    page.wait_for_load_state()  # the shortcut's script runs once the page's stylesheets have loaded
    for point in page.locator("#checklist input[type=checkbox]").all():
        point.check()  # the review checklist: every point ticked before approving
    page.locator("h1").click()  # out of the checkboxes, where keys are typing, not shortcuts
    page.keyboard.press("a")  # the approve shortcut
    expect(page.locator(".messages")).to_contain_text("approved")
    page.goto(f"{base}/review/assets/?state=approved")
    page.click(".grid .tile a")
    expect(page.locator("#review-state")).to_have_text("Approved")
    public_id = page.locator("#public-id").inner_text()
    expect(page.locator(".embed-panel img").first).to_be_visible()

    response = page.request.get(f"{base}/image/upload/t_og-image/{public_id}.jpg")
    assert response.status == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert len(response.body()) > 1000
    context.close()
