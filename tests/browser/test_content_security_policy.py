"""Studio's pages work under their Content Security Policy: the browser reports no violation on them."""

import pytest

from tests.browser.conftest import csp_violations, log_in

pytestmark = pytest.mark.browser


def test_pages_load_without_a_single_policy_violation(
    browser, live_server, transactional_db, make_asset, admin_user
):
    asset = make_asset(user=admin_user, size=(96, 64))
    base = live_server.url
    page = browser.new_page()
    violations = csp_violations(page)

    page.goto(f"{base}/login/")
    log_in(page, base, "boss")
    for path in [
        "/generate/",
        "/upload/",
        "/requests/",
        f"/requests/{asset.request_id}/",
        f"/assets/{asset.pk}/refine/",
        "/review/",
        "/review/assets/",
        f"/review/assets/{asset.pk}/",
        "/admin/",
    ]:
        response = page.goto(f"{base}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    assert page.goto(f"{base}/no-such-page/").status == 404

    assert violations == []
