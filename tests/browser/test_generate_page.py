"""The Generate page in a real browser, at desktop and phone sizes: the size and style menus follow the
model, the prompt meter names the words the model will not read, and a refused size is explained beside its
field."""

import re

import pytest

from generation.presets import STYLES
from tests.browser.conftest import axe_violations, csp_violations, log_in

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# One CLIP token each, 80 of them: past the 75 the model reads.
LONG_PROMPT = " ".join(["apple", "pear", "mug", "desk", "lamp"] * 16)


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_the_generate_form_follows_the_model_measures_the_prompt_and_explains_a_refused_size(
    module_browser, live_server, marketer, channel_presets, viewport
):
    from playwright.sync_api import expect

    base = live_server.url
    context = module_browser.new_context(viewport=viewport)
    page = context.new_page()
    violations = csp_violations(page)
    log_in(page, base, "marketer")
    page.goto(f"{base}/generate/")

    # The default model makes one size: the menu offers that one, and no custom width and height.
    size = page.locator("#id_size")
    expect(size.locator("option")).to_have_text(["Square 512 x 512"])
    expect(page.locator("[data-custom-size]")).to_be_hidden()
    expect(page.locator("#notice-default")).to_be_visible()

    # It draws the three looks it was trained on: its style menu offers only those (and no style).
    style = page.locator("#id_style")
    expect(style.locator("option")).to_have_text(["No style", "3D render", "Flat illustration", "Emoji"])
    page.select_option("#id_style", "emoji")

    # Another model, other menus (and its notice), the style kept; a custom size shows the width and height.
    page.select_option("#id_model", "tiny")
    expect(size.locator("option")).to_have_text(["Square 256 x 256", "Square 512 x 512", "Custom size"])
    expect(style.locator("option")).to_have_text([preset.label for preset in STYLES.values()])
    expect(style).to_have_value("emoji")
    expect(page.locator("#notice-default")).to_be_hidden()
    expect(page.locator("#notice-tiny")).to_be_visible()
    page.select_option("#id_size", "custom")
    expect(page.locator("[data-custom-size]")).to_be_visible()

    # The meter counts as the prompt is typed (with the style's words: none here), and names what the model
    # will not read.
    page.select_option("#id_style", "none")
    page.fill("#id_prompt", "a red apple")
    expect(page.locator("#meter-prompt")).to_contain_text("11 / 1000 characters")
    expect(page.locator("#meter-prompt")).to_contain_text("3 of the 75 tokens the model reads")
    page.fill("#id_prompt", LONG_PROMPT)
    expect(page.locator("#meter-prompt [data-unread]")).to_contain_text("mug desk lamp")

    # The destination channels are the channel presets, as checkboxes; nothing is wider than the screen.
    expect(page.locator("input[name=channels][value=og-image]")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {viewport['width']}px screen"

    # A size the model cannot make is refused beside the width, saying what it makes.
    page.fill("#id_prompt", "a red apple")
    page.fill("#id_width", "100")
    page.fill("#id_height", "64")
    page.click("[data-generate-form] button[type=submit]")
    expect(page.locator("[data-form-errors]")).to_contain_text("Nothing was started")
    width_field = page.locator(".field", has=page.locator("#id_width"))
    expect(width_field).to_contain_text("The nearest to 100 x 64 it makes is 96 x 64.")
    expect(page.locator("[data-custom-size]")).to_be_visible()
    expect(size).to_have_value("custom")
    assert axe_violations(page) == [], "the refused form, its meters and channels are accessible"

    # Fixed, it is queued with the channel ticked.
    page.fill("#id_width", "96")
    page.check("input[name=channels][value=og-image]")
    page.click("[data-generate-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(page.locator("#request-tags")).to_contain_text("og-image")
    expect(page.locator(".meta").first).to_contain_text("Model: Tiny test pipeline")

    assert violations == []
    context.close()
