"""What the browser tests share: Debian's Chromium driven by Playwright, and logging in."""

import importlib
import os
import re
import shutil
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# axe-core as `make test` installs it from tests/browser/package.json.
AXE_CORE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
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


@contextmanager
def _chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
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


@pytest.fixture
def browser():
    with _chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def module_browser():
    """One Chromium for every test in a module; each test opens its own contexts (cookies, viewport)."""
    with _chromium() as browser:
        yield browser


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


@cache
def _axe_source() -> str:
    return AXE_CORE.read_text()


def axe_violations(page) -> list[str]:
    """The serious and critical accessibility violations axe-core finds on ``page`` as it is now, one line
    each. axe is evaluated over the DevTools protocol, which the page's Content Security Policy (no inline
    scripts) does not govern, so the page is checked under its real policy."""
    if not AXE_CORE.exists():
        pytest.skip("axe-core is not installed (make test installs it from tests/browser/package.json)")
    page.evaluate(_axe_source())
    return page.evaluate(
        """async () => (await axe.run()).violations
            .filter((violation) => ["serious", "critical"].includes(violation.impact))
            .map((violation) => `${violation.id} (${violation.impact}): ${violation.help}: `
                + violation.nodes.map((node) => node.target.join(" ")).join(", "))"""
    )
