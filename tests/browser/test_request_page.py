"""The request page in a real browser: what it says while a request waits, and what Cancel does."""

import pytest

from generation import jobs, services
from generation.models import GenerationRequest
from tests.browser.conftest import csp_violations, log_in
from tests.forms import generation_parameters

pytestmark = pytest.mark.browser


@pytest.fixture
def queued(marketer, no_enqueue):
    """A queued request whose message is never sent: no worker takes it unless the test does."""
    return services.generation_request_create(user=marketer, parameters=generation_parameters(steps=4))


def _open(browser, live_server, generation_request: GenerationRequest):
    page = browser.new_context().new_page()
    violations = csp_violations(page)
    log_in(page, live_server.url, "marketer")
    page.goto(f"{live_server.url}/requests/{generation_request.pk}/")
    return page, violations


def test_canceling_a_queued_request_says_canceled_at_once(browser, live_server, queued):
    from playwright.sync_api import expect

    page, violations = _open(browser, live_server, queued)
    expect(page.locator("#phase")).to_have_text("Waiting for a worker…")
    page.click("#cancel")
    expect(page.locator("#progress .badge")).to_have_text("Canceled")
    expect(page.locator("#cancel")).to_have_count(0)
    assert page.url.endswith(f"/requests/{queued.pk}/"), "no reload: the fragment was swapped in"
    assert violations == []


def test_canceling_a_running_request_says_stopping_until_its_worker_stops(browser, live_server, queued):
    from playwright.sync_api import expect

    lease = jobs.claim(queued.pk)  # held by this live process, as a worker's would be
    services.generation_request_report_progress(request_id=queued.pk, step=1, total=4)
    page, violations = _open(browser, live_server, queued)
    expect(page.locator("#phase")).to_have_text("Step 1 of 4")

    page.click("#cancel")
    expect(page.locator("#cancel")).to_have_text("Stopping…")
    expect(page.locator("#cancel")).to_be_disabled()
    expect(page.locator("#progress .badge")).to_have_text("Running")

    lease.finish(GenerationRequest.Status.CANCELED)  # the worker stops at its next step
    expect(page.locator("#progress .badge")).to_have_text("Canceled")
    expect(page.locator("#cancel")).to_have_count(0)
    assert violations == []
