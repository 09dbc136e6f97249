"""Every full page Studio shows says what it is in its title ("<page> · Studio", the admin's "<page> · Studio
admin"), no two alike, and carries Studio's icon: the pages people reach, the error pages and the admin."""

import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.DOTALL)
STUDIO_TITLE = re.compile(r"(?P<page>.+) · Studio( admin)?")


@pytest.fixture
def visits(make_asset, approved) -> list[tuple[str, str, int]]:
    """(who, path, status) for every full page: who is a persona, or "" for someone not logged in."""
    asset = make_asset()
    approved_asset, _ = approved
    return [
        ("", reverse("login"), 200),
        ("", reverse("admin:login"), 200),
        ("marketer", reverse("generation:create"), 200),
        ("marketer", reverse("generation:upload"), 200),
        ("marketer", reverse("generation:gallery"), 200),
        ("marketer", reverse("generation:request", args=[asset.request_id]), 200),
        ("marketer", reverse("generation:refine", args=[asset.pk]), 200),
        ("marketer", reverse("review:assets"), 200),
        ("marketer", reverse("review:asset", args=[asset.pk]), 200),
        ("marketer", reverse("delivery:variant-builder", args=[approved_asset.pk]), 200),
        ("marketer", reverse("settings"), 200),
        ("marketer", reverse("attention"), 200),
        ("marketer", reverse("review:queue"), 403),
        ("marketer", "/no-such-page/", 404),
        ("reviewer", reverse("review:queue"), 200),
        ("reviewer", reverse("review:metadata", args=[asset.pk]), 200),
        ("reviewer", reverse("review:exports"), 200),
        ("admin", reverse("admin:index"), 200),
        ("admin", reverse("admin:generation_asset_changelist"), 200),
        ("admin", reverse("admin:generation_asset_change", args=[asset.pk]), 200),
    ]


def _title(page: str) -> str:
    match = TITLE.search(page)
    assert match, "no <title>"
    return match.group(1)


def test_every_page_has_a_title_of_its_own_and_studios_icon(
    client, settings, visits, marketer, reviewer, admin_user
):
    personas = {"marketer": marketer, "reviewer": reviewer, "admin": admin_user}
    pages: dict[str, str] = {}
    for who, path, status in visits:
        client.logout()
        if who:
            client.force_login(personas[who])
        response = client.get(path)
        assert response.status_code == status, (who, path)
        pages[f"{who or 'anyone'} {path}"] = response.content.decode()
    client.logout()
    settings.AXES_FAILURE_LIMIT = 1
    locked_out = client.post(reverse("login"), {"username": "marketer", "password": "wrong"})
    assert locked_out.status_code == 429
    pages["locked out"] = locked_out.content.decode()
    # What Django's 500 handler and studio.middleware (database unreachable) render, with no context.
    pages["500"] = render_to_string("500.html")
    pages["503"] = render_to_string("503.html")

    titles = {name: _title(page) for name, page in pages.items()}
    for name, title in titles.items():
        match = STUDIO_TITLE.fullmatch(title)
        assert match and match["page"] != "Studio", f"{name}: {title!r}"
        assert 'rel="icon"' in pages[name] and "favicon.svg" in pages[name], f"{name} has no icon"
    repeated = {title for title in titles.values() if list(titles.values()).count(title) > 1}
    assert not repeated, f"pages share a title: {repeated}"


def test_the_admin_calls_itself_studio_administration(client, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Studio administration" in page
    assert _title(page) == "Administration · Studio admin"
