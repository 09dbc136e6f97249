"""What the browser tests share: Debian's Chromium driven by Playwright, and logging in."""

import importlib
import os
import re
import shutil

import pytest

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


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login/).*$"))


@pytest.fixture(autouse=True)
def seeded_checklist(transactional_db) -> None:
    """The review checklist as the migration seeds it: a transactional test before this one (every browser
    test is one) flushed it with every other table, and approving needs it ticked."""
    from django.apps import apps

    seed = importlib.import_module("review.migrations.0005_comments_checklist").seed_checklist
    seed(apps, None)


def csp_violations(page) -> list[str]:
    """The Content Security Policy violations the browser reports on ``page`` from now on (a live list)."""
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    return violations
