"""Every page a marketer, a reviewer and an admin reach passes axe-core with no serious or critical violation
and fits the screen's width, at desktop and phone sizes; and wherever the keyboard's focus goes, a focus ring
shows where it is."""

import pytest

from tests.browser.conftest import axe_violations, log_in
from tests.conftest import checklist_all

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def assets(approved, make_asset, reviewer, django_capture_on_commit_callbacks) -> dict[str, int]:
    """One asset in every shape a page shows: an approved revision that took over the public id (versions,
    the delivery panel, the variant builder) and the version it replaced, a refinement (lineage, before and
    after) and one waiting in review with a pinned comment (the queue, the decide form, the comments)."""
    from generation.models import Asset
    from review import comments, decisions

    original, _ = approved
    with django_capture_on_commit_callbacks(execute=True):
        revision = make_asset(size=(256, 192))
        Asset.objects.filter(pk=revision.pk).update(revision_of=original)
        revision.refresh_from_db()
        decisions.asset_review_decide(
            asset=revision, actor=reviewer, decision="approve", checklist=checklist_all(), take_over=True
        )
        refined = make_asset()
        Asset.objects.filter(pk=refined.pk).update(parent=original, operation=Asset.Operation.UPSCALE)
        waiting = make_asset()
        comments.comment_create(asset=waiting, author=reviewer, body="The logo is cut off.", x=0.3, y=0.4)
    return {
        "original": original.pk,
        "revision": revision.pk,
        "refined": refined.pk,
        "waiting": waiting.pk,
        "request": waiting.request_id,
    }


def _pages(assets: dict[str, int]) -> dict[str | None, list[str]]:
    """Who (None: nobody logged in) opens which pages."""
    return {
        None: ["/login/"],
        "marketer": [
            "/generate/",
            "/upload/",
            "/requests/",
            f"/requests/{assets['request']}/",
            f"/assets/{assets['refined']}/refine/",
            "/review/assets/",
            f"/review/assets/{assets['refined']}/",
            f"/review/assets/{assets['revision']}/",
            f"/review/assets/{assets['revision']}/variant/",
            "/settings/",
            "/attention/",
        ],
        "reviewer": [
            "/review/",
            f"/review/assets/{assets['waiting']}/?from=queue",
            f"/review/assets/{assets['original']}/",
            f"/review/assets/{assets['waiting']}/metadata/",
            "/review/exports/",
            "/attention/",
        ],
        "boss": ["/admin/", "/no-such-page/"],
    }


def test_every_page_passes_axe_and_fits_the_screen_at_desktop_and_phone_sizes(
    module_browser, live_server, transactional_db, assets, marketer, reviewer, admin_user
):
    base = live_server.url
    found = []
    for username, paths in _pages(assets).items():
        context = module_browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        if username:
            log_in(page, base, username)
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            for path in paths:
                response = page.goto(f"{base}{path}")
                assert response.status == (404 if path == "/no-such-page/" else 200), path
                found += [f"{path} at {size['width']}px: {line}" for line in axe_violations(page)]
                if page.evaluate("document.documentElement.scrollWidth") > size["width"]:
                    found.append(f"{path} at {size['width']}px: wider than the screen")
        context.close()
    assert found == [], "\n".join(found)


FOCUSED_OUTLINE = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  const seen = Boolean(element.tabbedTo);
  element.tabbedTo = true;
  return {
    what: `${element.tagName.toLowerCase()}#${element.id} ${element.textContent.trim().slice(0, 30)}`,
    seen: seen || element === document.body,
    visible: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
  };
}"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_control_shows_a_focus_ring_when_tabbed_to(
    module_browser, live_server, transactional_db, assets, reviewer, size
):
    """Tab through the reviewer's busiest page, navigation included, from the first control to the last."""
    context = module_browser.new_context(viewport=size)
    page = context.new_page()
    log_in(page, live_server.url, "reviewer")
    page.goto(f"{live_server.url}/review/assets/{assets['waiting']}/?from=queue")
    reached, unringed = [], []
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_OUTLINE)
        if focused["seen"]:
            break
        reached.append(focused["what"])
        if not focused["visible"]:
            unringed.append(focused["what"])
    context.close()
    assert len(reached) > 20
    assert unringed == []
