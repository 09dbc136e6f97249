"""The whole loop in a real browser: a marketer generates, a reviewer approves, a site fetches a variant."""

import os
import re
import shutil

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that work on these machines: no sandbox as root, and no background calls to a network that is closed.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls here stay synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login/).*$"))


def test_marketer_generates_reviewer_approves_site_fetches_a_variant(
    browser, live_server, celery_worker_process, channel_presets, marketer, reviewer
):
    from playwright.sync_api import expect

    base = live_server.url
    context = browser.new_context()
    page = context.new_page()

    _log_in(page, base, "marketer")
    page.goto(f"{base}/generate/")
    # The shipped default model is preselected, at its one size, with what it can draw.
    expect(page.locator("#notice-default")).to_contain_text("What it can draw")
    expect(page.locator("#id_model")).to_have_value("default")
    expect(page.locator("#id_size")).to_have_value("square-small")
    page.fill("#id_prompt", "a coffee mug on a wooden desk")
    page.select_option("#id_size", "square-small")
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
    _log_in(page, base, "reviewer")
    page.goto(f"{base}/review/")
    page.click(".grid .tile a")
    expect(page.locator("#review-state")).to_have_text("In review")
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
