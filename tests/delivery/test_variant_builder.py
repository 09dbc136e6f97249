"""The variant builder page: form choices to a signed URL the delivery view serves, the grammar's reason
in place of the preview, planned size and upscale warning, and access rules."""

import html
import io
import re

import pytest
from django.urls import reverse
from PIL import Image

from delivery.builder import VariantForm


def _builder(asset_id: int) -> str:
    return reverse("delivery:variant-builder", args=[asset_id])


def _preview(client, asset_id: int, **params):
    return client.get(_builder(asset_id), params, HTTP_HX_REQUEST="true")


def _url(body: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]+)<', body)
    assert match, body
    return html.unescape(match.group(1))


@pytest.mark.django_db
def test_the_page_shows_the_form_and_a_first_preview(client, marketer, approved):
    asset, public_id = approved
    client.force_login(marketer)
    response = client.get(_builder(asset.pk))
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]  # htmx gets only the result fragment from the same URL
    body = response.content.decode()
    for name in ("crop", "width", "height", "gravity", "format", "quality", "dpr", "effect", "extra"):
        assert f'name="{name}"' in body
    assert 'data-copy="variant-url"' in body and 'data-copy="variant-snippet"' in body
    assert public_id in _url(body, "variant-url")
    assert "<script>" not in body  # CSP: copy buttons are static/studio.js


@pytest.mark.django_db
def test_preview_returns_a_signed_url_that_the_delivery_view_serves(client, marketer, approved):
    asset, public_id = approved
    client.force_login(marketer)
    response = _preview(
        client,
        asset.pk,
        crop="fill",
        width="120",
        height="80",
        gravity="auto",
        format="png",
        quality="",
        dpr="",
        effect="grayscale",
        extra="r_10/bo_2px_solid_black",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body  # the fragment only
    url = _url(body, "variant-url")
    assert url.startswith("http://testserver/image/upload/s--")
    assert url.endswith(f"/{public_id}.png")
    assert "Output 124\N{MULTIPLICATION SIGN}84 px" in body  # the border adds 2 px a side
    served = client.get(url.removeprefix("http://testserver"))
    assert served.status_code == 200, served.content
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (124, 84)
    # The preview <img> is the same variant, site-relative.
    preview = re.search(r'<img class="variant-preview" src="([^"]+)"', body).group(1)
    assert client.get(html.unescape(preview)).status_code == 200
    snippet = html.unescape(re.search(r'id="variant-snippet">(.*?)</pre>', body, re.S).group(1))
    assert snippet.startswith('<picture><source type="image/avif"')
    assert 'width="124" height="84"' in snippet and " 2x" in snippet
    srcset_url = re.search(r'srcset="([^ ]+) 1x', snippet).group(1)
    assert client.get(srcset_url.removeprefix("http://testserver")).status_code == 200


@pytest.mark.django_db
def test_auto_format_uses_f_auto(client, marketer, approved):
    asset, _ = approved
    client.force_login(marketer)
    body = _preview(
        client, asset.pk, crop="fit", width="100", format="auto", quality="auto:eco"
    ).content.decode()
    url = _url(body, "variant-url")
    assert "/f_auto,q_auto:eco/" in url
    assert client.get(url.removeprefix("http://testserver"), HTTP_ACCEPT="image/webp").status_code == 200


@pytest.mark.django_db
def test_invalid_input_shows_the_grammars_reason_in_place(client, marketer, approved):
    asset, _ = approved
    client.force_login(marketer)
    response = _preview(client, asset.pk, crop="fill", width="12x", format="jpg")
    assert response.status_code == 200  # htmx swaps 2xx only
    body = response.content.decode()
    assert 'role="alert"' in body and "w_ must be whole pixels" in body
    assert 'id="variant-url"' not in body
    response = _preview(client, asset.pk, extra="e_sepia", format="jpg")
    assert "e_sepia is not supported here" in response.content.decode()
    response = _preview(client, asset.pk, width="10,e_blur", format="jpg")
    assert "One value only" in response.content.decode()
    # The whole page (no htmx) says the same with a 400.
    page = client.get(
        _builder(asset.pk), {"crop": "fill_pad", "width": "50", "height": "50", "format": "jpg"}
    )
    assert page.status_code == 400
    assert "c_fill_pad needs g_auto" in page.content.decode()


@pytest.mark.django_db
def test_an_enlarging_variant_warns_and_one_over_the_limits_is_refused(client, marketer, approved, settings):
    asset, _ = approved  # 256x192
    client.force_login(marketer)
    body = _preview(client, asset.pk, crop="scale", width="512", format="jpg").content.decode()
    assert "enlarges the source 2.00\N{MULTIPLICATION SIGN}" in body
    assert 'role="note"' in body
    body = _preview(client, asset.pk, crop="limit", width="512", format="jpg").content.decode()
    assert "enlarges" not in body
    assert "Output 256\N{MULTIPLICATION SIGN}192 px" in body
    body = _preview(client, asset.pk, crop="pad", width="512", height="512", format="jpg").content.decode()
    assert "enlarges the source 2.00\N{MULTIPLICATION SIGN}" in body
    settings.STUDIO_DELIVERY_MAX_WIDTH = 300
    body = _preview(client, asset.pk, crop="scale", width="0.5", dpr="3.0", format="jpg").content.decode()
    assert "the result would be 384x288 pixels" in body


@pytest.mark.django_db
def test_unapproved_assets_are_refused(client, marketer, make_asset):
    asset = make_asset()
    client.force_login(marketer)
    response = client.get(_builder(asset.pk))
    assert response.status_code == 409
    assert "only approved assets have delivery URLs" in response.content.decode()
    assert 'id="variant-url"' not in response.content.decode()


@pytest.mark.django_db
def test_another_teams_asset_is_a_404(client, other_marketer, approved):
    asset, _ = approved
    client.force_login(other_marketer)
    assert client.get(_builder(asset.pk)).status_code == 404
    assert _preview(client, asset.pk, crop="scale", width="10").status_code == 404


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_log_in(client, approved):
    asset, _ = approved
    response = client.get(_builder(asset.pk))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.django_db
def test_the_builder_only_reads(client, marketer, approved):
    asset, _ = approved
    client.force_login(marketer)
    assert client.post(_builder(asset.pk), {"crop": "fill"}).status_code == 405


@pytest.mark.django_db
def test_the_embed_panel_links_to_the_builder(client, marketer, approved):
    asset, _ = approved
    client.force_login(marketer)
    body = client.get(reverse("review:asset", args=[asset.pk])).content.decode()
    assert _builder(asset.pk) in body
    assert "manage.py delivery_url" not in body


@pytest.mark.parametrize(
    ("data", "transformation"),
    [
        ({"format": "jpg"}, ""),
        ({"format": "auto"}, "f_auto"),
        ({"width": "300", "format": "png"}, "c_scale,w_300"),
        (
            {
                "crop": "fill",
                "width": "300",
                "height": "200",
                "gravity": "auto",
                "dpr": "2.0",
                "format": "webp",
                "quality": "80",
                "effect": "sharpen",
                "extra": "/r_max/",
            },
            "c_fill,w_300,h_200,g_auto,dpr_2.0/e_sharpen/r_max/q_80",
        ),
    ],
)
def test_form_choices_become_one_transformation(data: dict, transformation: str) -> None:
    form = VariantForm(data)
    assert form.is_valid(), form.errors
    assert form.transformation() == transformation
