import html
import io
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory
from PIL import Image

from delivery.models import NamedPreset
from delivery.panels import embed_panel
from delivery.urls_builder import variant_path, variant_url
from review import decisions as review_decisions
from review import selectors as review_selectors

VOID_ELEMENTS = frozenset({"img", "source", "br", "hr", "input", "meta", "link", "wbr"})


class _Elements(HTMLParser):
    """Start tags and their attributes, in document order; fails on anything but well-formed tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        if tag not in VOID_ELEMENTS:  # they have no end tag
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"


def parse(markup: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    assert not parser.open, f"unclosed {parser.open}"
    return parser.elements


def srcset_entries(srcset: str) -> list[tuple[str, int]]:
    """(url, width) pairs; candidates are separated by commas that follow a descriptor."""
    entries = []
    for candidate in srcset.split(", "):
        url, descriptor = candidate.rsplit(" ", 1)
        assert descriptor.endswith("w")
        entries.append((url, int(descriptor[:-1])))
    return entries


def render(text: str, **context) -> str:
    return Template("{% load delivery_tags %}" + text).render(Context(context))


def fetch_image(client, url: str, mime: str) -> Image.Image:
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200, (url, response.content)
    assert response["Content-Type"] == mime
    return Image.open(io.BytesIO(response.content))


def test_responsive_image_renders_an_img_whose_every_candidate_is_served_at_its_width(client, approved):
    _, public_id = approved
    markup = render('{% responsive_image pid "product-thumb" alt="Red apple" %}', pid=public_id)
    [(tag, attrs)] = parse(markup)
    assert tag == "img"
    assert attrs["sizes"] == "200px"
    assert attrs["alt"] == "Red apple"
    assert attrs["loading"] == "lazy"
    assert attrs["decoding"] == "async"
    entries = srcset_entries(attrs["srcset"])
    assert [width for _, width in entries] == [200, 400]
    for url, width in entries:
        assert fetch_image(client, url, "image/jpeg").width == width
    assert attrs["src"] == entries[-1][0]
    served = fetch_image(client, attrs["src"], "image/jpeg")
    assert (int(attrs["width"]), int(attrs["height"])) == served.size == (400, 400)


def test_width_and_height_follow_the_presets_shape_so_the_page_does_not_shift(client, approved):
    _, public_id = approved
    [(_, attrs)] = parse(render('{% responsive_image pid "preview" %}', pid=public_id))
    # c_limit keeps the 256x192 source's 4:3 shape; the widest candidate is 320 wide.
    assert (attrs["width"], attrs["height"]) == ("320", "240")
    assert fetch_image(client, attrs["src"], "image/jpeg").size == (320, 240)


def test_picture_offers_avif_and_webp_sources_and_a_jpeg_fallback_all_served(client, approved):
    _, public_id = approved
    markup = render('{% picture pid "preview" alt="An apple" loading="eager" %}', pid=public_id)
    elements = parse(markup)
    assert [tag for tag, _ in elements] == ["picture", "source", "source", "img"]
    sources = [attrs for tag, attrs in elements if tag == "source"]
    assert [source["type"] for source in sources] == ["image/avif", "image/webp"]
    img = elements[-1][1]
    assert img["loading"] == "eager"
    assert {source["sizes"] for source in sources} == {img["sizes"]} == {"320px"}
    for mime, srcset in [*((s["type"], s["srcset"]) for s in sources), ("image/jpeg", img["srcset"])]:
        for url, width in srcset_entries(srcset):
            assert fetch_image(client, url, mime).width == width


def test_preset_plus_width_urls_are_signed_and_preset_only_urls_are_not(approved):
    _, public_id = approved
    assert variant_path(public_id, "t_preview", ext="jpg") == f"t_preview/{public_id}.jpg"
    signed = variant_path(public_id, "t_preview/w_160,c_scale", ext="jpg")
    assert signed.startswith("s--")
    assert signed.endswith(f"--/t_preview/c_scale,w_160/{public_id}.jpg"), "signed in canonical form"


def test_variant_url_is_absolute_with_a_request(approved, settings):
    settings.ALLOWED_HOSTS = ["studio.example"]
    _, public_id = approved
    request = RequestFactory().get("/", HTTP_HOST="studio.example")
    url = variant_url(public_id, "t_preview", ext="webp", request=request)
    assert url == f"http://studio.example/image/upload/t_preview/{public_id}.webp"


def test_alt_text_is_escaped(approved):
    _, public_id = approved
    markup = render('{% responsive_image pid "preview" alt=alt %}', pid=public_id, alt='"><script>')
    assert "<script>" not in markup
    assert parse(markup)[0][1]["alt"] == '"><script>'


def test_an_asset_that_is_not_approved_renders_nothing(
    approved, reviewer, django_capture_on_commit_callbacks
):
    asset, public_id = approved
    with django_capture_on_commit_callbacks(execute=True):
        review_decisions.asset_review_revoke(asset=asset, actor=reviewer, comment="pulled")
    assert render('{% picture pid "preview" %}', pid=public_id) == ""


def test_an_unknown_preset_is_a_template_error(approved):
    _, public_id = approved
    with pytest.raises(TemplateSyntaxError, match="no-such-preset"):
        render('{% picture pid "no-such-preset" %}', pid=public_id)


def test_a_preset_without_widths_uses_its_own_output_width(client, approved):
    _, public_id = approved
    NamedPreset.objects.create(name="banner", label="Banner", transformation="c_fill,w_300,h_100")
    [(_, attrs)] = parse(render('{% responsive_image pid "banner" %}', pid=public_id))
    assert srcset_entries(attrs["srcset"]) == [(attrs["src"], 300)]
    assert (attrs["width"], attrs["height"], attrs["sizes"]) == ("300", "100", "100vw")


def test_the_embed_panel_shows_a_working_picture_snippet_and_a_preview_per_preset(client, approved):
    asset, _ = approved
    request = RequestFactory().get("/", HTTP_HOST="testserver")
    review = review_selectors.review_state_of(asset=asset)
    panel = embed_panel(request, asset, review)
    previews = [attrs["src"] for tag, attrs in parse(panel) if tag == "img"]
    assert len(previews) == NamedPreset.objects.count()
    snippets = [html.unescape(part.split("</pre>")[0]) for part in panel.split('<pre class="embed"')[1:]]
    assert len(snippets) == len(previews)
    assert all(snippet.split(">", 1)[1].startswith("<picture><source") for snippet in snippets)
    [preview_snippet] = [s for s in snippets if 'id="embed-preview"' in s]
    elements = parse(preview_snippet.split(">", 1)[1])
    for tag, attrs in elements:
        if tag in {"source", "img"}:
            mime = attrs.get("type", "image/jpeg")
            for url, width in srcset_entries(attrs["srcset"]):
                assert url.startswith("http://testserver/image/upload/"), "pasted on other sites"
                assert fetch_image(client, url, mime).width == width
    preview = next(url for url in previews if "/t_preview/" in url)
    assert fetch_image(client, preview, "image/jpeg").width == 256
