"""Refine in a real browser: upload an image, paint a mask on it, inpaint, then compare before and after."""

import re

import pytest
from PIL import Image, ImageDraw

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def _source_png(path) -> str:
    image = Image.new("RGB", (128, 96), (40, 90, 200))
    ImageDraw.Draw(image).ellipse((40, 24, 88, 72), fill=(230, 180, 30))
    image.save(path, format="PNG")
    return str(path)


def _clip(page) -> str:
    return page.locator(".compare-before").evaluate("image => getComputedStyle(image).clipPath")


def test_marketer_uploads_paints_a_mask_inpaints_and_compares_before_and_after(
    browser,
    live_server,
    celery_worker_process,
    marketer,
    tmp_path,
):
    from playwright.sync_api import expect

    from generation.models import Asset, GenerationRequest

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, base, "marketer")

    page.goto(f"{base}/upload/")
    page.set_input_files("#id_files", _source_png(tmp_path / "product.png"))
    uploaded = page.locator(".uploads .upload.done .upload-name a")
    expect(uploaded).to_have_text("product.png")
    uploaded.click()
    page.click("#refine-link")
    page.wait_for_url(re.compile(r"/assets/\d+/refine/$"))

    page.check("#op-inpaint")
    page.select_option("#id_model", "tiny")
    page.fill("#id_prompt", "a green pear")
    canvas = page.locator("[data-mask-canvas]")
    expect(canvas).to_be_visible()
    expect(page.locator("[data-when=outpaint]")).to_be_hidden()

    # Submitted unpainted, the form comes back with the reason, and the page (painter included) stays.
    page.click("[data-submit]")
    expect(page.locator("[data-form-errors]")).to_contain_text("Inpaint needs a mask")
    expect(canvas).to_be_visible()

    box = canvas.bounding_box()

    def paint(from_x: float, to_x: float) -> None:
        page.mouse.move(box["x"] + box["width"] * from_x, box["y"] + box["height"] * 0.5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * to_x, box["y"] + box["height"] * 0.5, steps=8)
        page.mouse.up()

    page.focus("#id_prompt")
    paint(0.05, 0.2)
    expect(page.locator("[data-undo]")).to_be_enabled()
    page.keyboard.press("Control+z")  # painting left the prompt field, so this undoes the stroke
    expect(page.locator("[data-undo]")).to_be_disabled()
    paint(0.35, 0.65)
    page.click(".advanced summary")
    page.fill("#id_steps", "2")
    page.click("[data-submit]")

    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(page.locator(".refine-heading h1")).to_contain_text("Inpaint of asset")
    expect(page.locator(".refine-heading .prompt")).to_have_text("a green pear")
    expect(page.locator("#progress .badge")).to_have_text("Succeeded", timeout=60_000)

    request = GenerationRequest.objects.get(operation="inpaint")
    source = request.source_asset
    with request.mask.open("rb") as handle, Image.open(handle) as mask:
        # The painted stroke, in the image's own pixels: white across the middle, black in the corners.
        assert mask.size == (source.width, source.height)
        assert mask.convert("L").getpixel((64, 48)) == 255
        assert mask.convert("L").getpixel((4, 4)) == 0

    page.locator("#progress .grid a").first.click()
    result = Asset.objects.get(request=request)
    page.wait_for_url(re.compile(rf"/review/assets/{result.pk}/$"))  # waits for "load": compare.js has run
    chain = page.locator("#lineage .lineage-chain li")
    expect(chain).to_have_count(2)
    expect(chain.nth(0)).to_contain_text("Uploaded")
    expect(chain.nth(1).locator("a")).to_have_attribute("aria-current", "page")

    halfway = _clip(page)
    page.focus("#compare-range")
    page.keyboard.press("Home")  # all "after"
    assert _clip(page) != halfway
    expect(page.locator("#compare-range")).to_have_value("0")
    page.locator("#compare-range").fill("80")
    assert "20%" in _clip(page)
    context.close()
