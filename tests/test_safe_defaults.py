"""What a visitor sees with DEBUG off: friendly error pages, static files served, a CSP on Studio's pages."""

import pytest
from django.template.loader import get_template
from django.urls import reverse


@pytest.fixture(autouse=True)
def debug_off(settings):
    settings.DEBUG = False


def test_studio_pages_carry_a_content_security_policy(client, marketer):
    client.force_login(marketer)

    policy = client.get(reverse("generation:create"))["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'", "no inline scripts"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_the_login_page_carries_the_policy_too(client):
    assert "default-src 'self'" in client.get("/login/")["Content-Security-Policy"]


def test_delivered_images_keep_their_own_stricter_policy(client, approved):
    _asset, public_id = approved

    response = client.get(reverse("delivery:serve", args=[f"t_og-image/{public_id}.jpg"]))

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_an_unknown_address_gets_the_friendly_404_without_the_url_patterns(client, marketer):
    client.force_login(marketer)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "There is nothing at this address." in page
    assert "URLconf" not in page
    assert "admin/" not in page
    assert "Resolver404" not in page


def test_the_500_page_renders_without_a_request():
    page = get_template("500.html").render({})
    assert "Something went wrong" in page


@pytest.mark.parametrize("path", ["/static/studio.css", "/static/vendor/htmx.min.js"])
def test_static_files_are_served_without_debug(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)
