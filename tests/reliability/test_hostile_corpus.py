"""A corpus of hostile input for every way in (uploads, prompts, form fields, refine, review, delivery URLs),
Hypothesis fuzzing of the serve view and the two generation forms, and a memory cap on the heaviest cases.

Each corpus case names what it sends and the answer it must get: a 4xx, or a documented 2xx/3xx where the
input is legitimately fine. None may be a 5xx, and a refused case must leave no row (Asset,
GenerationRequest, Variant, ReviewEvent) and no file under MEDIA_ROOT behind it.

Extends, without repeating their assertions on messages, tests/generation/test_upload.py (hostile uploads),
tests/generation/test_refine_views.py (bad refine requests), tests/delivery/test_limits.py (unsigned preset
chains) and tests/reliability/test_bad_input.py (fuzzing of delivery paths and the generate form's text).
"""

import io
import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, assume, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from delivery.models import Variant
from delivery.signing import signed_path
from generation.models import Asset, GenerationRequest
from generation.services import MAX_SEED
from review.decisions import asset_review_decide
from review.models import ReviewEvent
from tests.forms import generate_form_data

# --- Building hostile bytes, in memory ------------------------------------------------------------------


def encoded(image: Image.Image, pillow_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format, **options)
    return buffer.getvalue()


def png(size=(64, 48), mode: str = "RGB", colour=(200, 40, 40)) -> bytes:
    return encoded(Image.new(mode, size, colour), "PNG")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height greyscale pixels; only four rows are there."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def png_with_html() -> bytes:
    """A real PNG carrying a script in a text chunk and an HTML page after IEND: a browser sniffing it as
    HTML would run the script, so what is stored must be re-encoded pixels only."""
    image = png((32, 24))
    script = b"<script>alert(document.cookie)</script>"
    text = _chunk(b"tEXt", b"Comment\x00" + script)
    return image[:33] + text + image[33:] + b"<html><body>" + script + b"</body></html>"


def html_then_png() -> bytes:
    return b"<!DOCTYPE html><html><script>alert(1)</script></html>\n" + png((8, 8))


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<script>alert(document.domain)</script><rect width="64" height="64"/></svg>'
)


def truncated_jpeg() -> bytes:
    noise = Image.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3))
    data = encoded(noise, "JPEG")
    return data[: len(data) // 2]


def animated_png() -> bytes:
    first, second = (Image.new("RGB", (40, 30), (i * 90, 0, 0)) for i in range(2))
    return encoded(first, "PNG", save_all=True, append_images=[second], duration=100)


def mask_png(size=(96, 64), pillow_format: str = "PNG") -> bytes:
    """Black with a white rectangle in the middle (white = change), the asset's aspect ratio by default."""
    image = Image.new("L", size, 0)
    width, height = size
    ImageDraw.Draw(image).rectangle((width // 3, height // 3, 2 * width // 3, 2 * height // 3), fill=255)
    return encoded(image.convert("RGB"), pillow_format)


def multipart(client: Client, url: str, parts: list[tuple[str, str | None, bytes]], **extra):
    """POST a hand-built multipart body: the test client would refuse or escape the names sent here."""
    boundary = "----hostile-corpus-boundary"
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return client.generic(
        "POST", url, body, content_type=f"multipart/form-data; boundary={boundary}", **extra
    )


# --- What a case talks to -------------------------------------------------------------------------------


@dataclass
class Target:
    """The signed-in client (or an anonymous one for delivery) and the objects a case may aim at."""

    client: Client
    settings: object
    media_root: Path
    asset: Asset | None = None
    public_id: str = ""

    def signed(self, path: str) -> str:
        return "/image/upload/" + signed_path(path, self.settings.STUDIO_DELIVERY_KEYS)


@dataclass(frozen=True)
class Case:
    surface: str  # which client and objects the case gets: see target_for
    send: Callable[[Target], object]
    statuses: frozenset[int] = frozenset({400})
    stores: bool = False  # legitimately fine input: it may store what it made
    check: Callable[[Target, object], None] | None = None  # run on a 2xx/3xx answer


def case(surface, send, statuses=(400,), *, stores=False, check=None, id: str):
    return pytest.param(Case(surface, send, frozenset(statuses), stores, check), id=id)


JSON = {"HTTP_ACCEPT": "application/json"}
# The default model at its one size, as a new user's Generate page starts.
GENERATE_FIELDS = generate_form_data(model="default", size="square", width="", height="", steps="4")


def upload_one(name: str, build: Callable[[], bytes]):
    return lambda t: multipart(t.client, "/upload/", [("files", name, build())], **JSON)


def generate(**overrides):
    """The generate form as the page posts it, with ``overrides``; a list value repeats the key."""
    return lambda t: t.client.post(reverse("generation:create"), {**GENERATE_FIELDS, **overrides})


def refine(operation: str = "inpaint", mask: bytes | None = None, **overrides):
    data = {
        "operation": operation,
        "model": "tiny",
        "num_images": "1",
        "anchor": "center",
        "scale": "2",
        "mode": "img2img",
        "prompt": "a pear",
        **overrides,
    }

    def send(t: Target):
        fields = dict(data)
        if mask is not None:
            fields["mask"] = io.BytesIO(mask)
            fields["mask"].name = "mask.png"
        return t.client.post(reverse("generation:refine", args=[t.asset.pk]), fields)

    return send


def review(action: str, **data):
    return lambda t: t.client.post(reverse(f"review:{action}", args=[t.asset.pk]), data)


def with_setting(name: str, value, send):
    def send_with_setting(t: Target):
        setattr(t.settings, name, value)
        return send(t)

    return send_with_setting


def deliver(path: Callable[[Target], str] | str, **extra):
    def send(t: Target):
        url = path(t) if callable(path) else path
        return t.client.get(url, **extra)

    return send


def unsigned(transformation: str, ext: str = ".png"):
    return deliver(lambda t: f"/image/upload/{transformation}/{t.public_id}{ext}")


def signed(transformation: str, ext: str = ".png"):
    return deliver(lambda t: t.signed(f"{transformation}/{t.public_id}{ext}"))


# --- Checks on what legitimately fine input stored -------------------------------------------------------


def stored_upload_is_clean_pixels(t: Target, response) -> None:
    asset = Asset.objects.get()
    with asset.file.open("rb") as handle:
        data = handle.read()
    assert b"<script" not in data and b"<html" not in data, "the stored file is re-encoded pixels only"


def stored_inside_media_root(t: Target, response) -> None:
    asset = Asset.objects.get()
    path = Path(asset.file.path).resolve()
    assert path.is_relative_to(t.media_root.resolve())
    assert ".." not in asset.file.name and "\x00" not in asset.file.name and "\u202e" not in asset.file.name
    assert not (t.media_root.parent / "etc").exists()


def stored_with_a_plain_title(t: Target, response) -> None:
    stored_inside_media_root(t, response)
    # The override would make the title read "invoiceexe.png" wherever it is shown.
    assert Asset.objects.get().title == "invoicegnp.exe"


def prompt_stored_verbatim(prompt: str):
    def check(t: Target, response) -> None:
        stored = GenerationRequest.objects.get()
        assert stored.prompt == prompt.strip()
        assert prompt.strip() in stored.full_prompt, "a style template must not format the user's text"
        page = t.client.get(reverse("generation:request", args=[stored.pk]))
        assert page.status_code == 200
        assert b"<script>alert" not in page.content, "the prompt is escaped on its page"

    return check


def served_an_image(t: Target, response) -> None:
    assert response["Content-Type"].startswith("image/")
    assert response["X-Content-Type-Options"] == "nosniff"


def served_size(width: int, height: int | None = None):
    def check(t: Target, response) -> None:
        served_an_image(t, response)
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.width == width and height in {None, image.height}

    return check


def says(response, text: str) -> None:
    assert text in response.content.decode(), response.content.decode()[:500]


def stored_size(width: int, height: int) -> None:
    asset = Asset.objects.get()
    assert (asset.width, asset.height) == (width, height)


def table_still_there(t: Target, response) -> None:
    assert GenerationRequest.objects.count() == 1


# --- The corpus -----------------------------------------------------------------------------------------

LONG_TRANSFORMATION = "/".join(["c_scale,w_10"] * 700)  # 8.4 KB
RTL_NAME = "invoice\u202egnp.exe.png"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'

CORPUS = [
    # Uploads: the JSON endpoint upload.js talks to, one file per request.
    case("upload", upload_one("empty.png", lambda: b""), id="upload-zero-bytes"),
    case("upload", upload_one("notes.png", lambda: b"campaign ideas\n"), id="upload-text-named-png"),
    case("upload", upload_one("page.png", html_then_png), id="upload-html-page-with-a-png-inside"),
    case(
        "upload",
        upload_one("poly.png", png_with_html),
        (201,),
        stores=True,
        check=stored_upload_is_clean_pixels,
        id="upload-png-carrying-html-and-script-is-stored-re-encoded",
    ),
    case("upload", upload_one("logo.svg", lambda: SVG_WITH_SCRIPT), id="upload-svg-with-script"),
    case("upload", upload_one("logo.png", lambda: SVG_WITH_SCRIPT), id="upload-svg-named-png"),
    case(
        "upload", upload_one("bomb.png", lambda: png_claiming(30_000, 30_000)), id="upload-30000x30000-header"
    ),
    case(
        "upload", upload_one("max.png", lambda: png_claiming(65_535, 65_535)), id="upload-65535x65535-header"
    ),
    # Pillow decodes a PNG whose zlib stream ends early as black rows without an error, so this 800-byte
    # file is stored as a 7000x7000 image: within STUDIO_UPLOAD_MAX_PIXELS, and the heaviest upload there is.
    case(
        "upload",
        upload_one("tall.png", lambda: png_claiming(7_000, 7_000)),
        (201,),
        stores=True,
        check=lambda t, r: stored_size(7_000, 7_000),
        id="upload-49-megapixels-declared-4-rows-present",
    ),
    case("upload", upload_one("cut.jpg", truncated_jpeg), id="upload-truncated-jpeg"),
    case("upload", upload_one("moving.png", animated_png), id="upload-animated-png"),
    case(
        "upload",
        upload_one("strip.png", lambda: png((1, 100_000), mode="L", colour=128)),
        (201,),
        stores=True,
        id="upload-1x100000-strip-is-a-legitimate-image",
    ),
    case(
        "upload",
        upload_one("../../etc/passwd.png", png),
        (201,),
        stores=True,
        check=stored_inside_media_root,
        id="upload-name-with-path-traversal-is-stored-under-its-own-key",
    ),
    case(
        "upload",
        lambda t: multipart(t.client, "/upload/", [("files", "a\x00b.png", png())], **JSON),
        (201,),
        stores=True,
        check=stored_inside_media_root,
        id="upload-name-with-nul-is-stripped-by-django",
    ),
    case(
        "upload",
        lambda t: multipart(
            t.client, "/upload/", [("files", "a.png\r\nContent-Type: text/html\r\nX: y", png())], **JSON
        ),
        (201,),
        stores=True,
        check=stored_inside_media_root,
        id="upload-name-with-crlf-header-injection",
    ),
    case(
        "upload",
        lambda t: multipart(t.client, "/upload/", [("files", RTL_NAME, png())], **JSON),
        (201,),
        stores=True,
        check=stored_with_a_plain_title,
        id="upload-name-with-rtl-override",
    ),
    case(
        "upload",
        lambda t: multipart(
            t.client, "/upload/", [("files", f"{i}.png", png((8, 8))) for i in range(40)], **JSON
        ),
        id="upload-40-files-in-one-json-request",
    ),
    case(
        "upload",
        lambda t: multipart(
            t.client, "/upload/", [("files", f"{i}.png", b"not an image") for i in range(40)]
        ),
        id="upload-40-broken-files-in-one-form-post",
    ),
    case(
        "upload",
        lambda t: multipart(t.client, "/upload/", [("files", f"{i}.png", b"x") for i in range(101)]),
        id="upload-101-files-over-djangos-file-count-limit",
    ),
    case(
        "upload",
        lambda t: multipart(t.client, "/upload/", [("image", "a.png", png())], **JSON),
        id="upload-file-in-an-unknown-field",
    ),
    case(
        "upload",
        lambda t: t.client.post("/upload/", {"files": "not a file"}, **JSON),
        id="upload-text-where-a-file-goes",
    ),
    # Prompts on the generate form.
    case("generate", generate(prompt="a" * 10_000), id="prompt-10000-characters"),
    case("generate", generate(prompt="a red\x00apple"), id="prompt-with-nul"),
    case("generate", generate(negative_prompt="blurry\x00"), id="negative-prompt-with-nul"),
    case("generate", generate(prompt=" \t\r\n\u3000 "), id="prompt-only-whitespace"),
    case(
        "generate",
        generate(prompt="a mug \u202eggum a"),
        (302,),
        stores=True,
        check=prompt_stored_verbatim("a mug \u202eggum a"),
        id="prompt-with-rtl-override",
    ),
    case(
        "generate",
        generate(prompt=SCRIPT),
        (302,),
        stores=True,
        check=prompt_stored_verbatim(SCRIPT),
        id="prompt-html-and-script-is-stored-and-escaped",
    ),
    case(
        "generate",
        generate(prompt="x'); DROP TABLE generation_generationrequest; --"),
        (302,),
        stores=True,
        check=table_still_there,
        id="prompt-sql-injection",
    ),
    case(
        "generate",
        generate(prompt="🍎🧑🏽‍🚀 on 🌕"),
        (302,),
        stores=True,
        check=prompt_stored_verbatim("🍎🧑🏽‍🚀 on 🌕"),
        id="prompt-emoji",
    ),
    case(
        "generate",
        generate(prompt="{0.__class__} {prompt} %s %(x)s", style="emoji"),
        (302,),
        stores=True,
        check=prompt_stored_verbatim("{0.__class__} {prompt} %s %(x)s"),
        id="prompt-format-strings-with-a-style",
    ),
    # Form fields on the generate form.
    case("generate", generate(steps="-1"), id="steps-negative"),
    case("generate", generate(steps="1" + "0" * 40), id="steps-40-digits"),
    case("generate", generate(steps="4.5"), id="steps-a-fraction"),
    case("generate", generate(guidance="NaN"), id="guidance-nan"),
    case("generate", generate(guidance="inf"), id="guidance-infinity"),
    case("generate", generate(guidance="1e308"), id="guidance-1e308"),
    case("generate", generate(guidance="0x10"), id="guidance-hex"),
    case("generate", generate(seed="-1"), id="seed-negative"),
    case("generate", generate(seed=str(2**64)), id="seed-2-to-the-64"),
    case("generate", generate(seed="9" * 5000), id="seed-5000-digits"),
    case(
        "generate", generate(size="custom", width="1000000000", height="64"), id="size-custom-a-billion-wide"
    ),
    case("generate", generate(size="custom", width="-64", height="64"), id="size-custom-negative"),
    case("generate", generate(size="huge"), id="size-unknown-choice"),
    case("generate", generate(model="../../etc/passwd"), id="model-unknown-choice"),
    case("generate", generate(style="{0.__class__}"), id="style-unknown-choice"),
    case("generate", generate(style="photorealistic"), id="style-the-model-does-not-draw"),
    case("generate", generate(num_images="5"), id="num-images-over-four"),
    case("generate", generate(num_images="true"), id="num-images-a-boolean"),
    case("generate", generate(steps=["4", "abc"]), id="steps-repeated-last-value-bad"),
    case(
        "generate",
        generate(prompt=["a first prompt", "a second prompt"]),
        (302,),
        stores=True,
        check=prompt_stored_verbatim("a second prompt"),
        id="prompt-repeated-key-takes-the-last",
    ),
    case(
        "generate",
        lambda t: t.client.post(
            reverse("generation:create"), b'{"prompt": "a mug", "steps": 4}', content_type="application/json"
        ),
        id="generate-json-body-instead-of-a-form",
    ),
    case(
        "generate",
        lambda t: t.client.generic(
            "POST",
            reverse("generation:create"),
            b"prompt=%FF%FE%00&steps=4&guidance=5&size=square&model=default&style=none&num_images=1",
            content_type="application/x-www-form-urlencoded",
        ),
        id="generate-invalid-utf8-and-nul-percent-encoded",
    ),
    # Refine: masks, outpaint geometry, colours and scales, against a 96x64 asset.
    case("refine", refine(mask=mask_png(pillow_format="JPEG")), id="refine-mask-a-jpeg"),
    case("refine", refine(mask=png((1, 1), mode="L", colour=255)), id="refine-mask-1x1"),
    case("refine", refine(mask=png_claiming(30_000, 20_000)), id="refine-mask-30000x20000-header"),
    case(
        "refine",
        refine(mask=png_claiming(8_190, 5_460)),
        id="refine-mask-45-megapixels-declared-4-rows-present",
    ),
    case("refine", refine(mask=b""), id="refine-mask-zero-bytes"),
    case("refine", refine(mask=SVG_WITH_SCRIPT), id="refine-mask-svg"),
    case("refine", refine(mask=png((96, 64), mode="L", colour=0)), id="refine-mask-all-black"),
    case(
        "refine",
        refine("outpaint", pad_left="4096", pad_top="4096", pad_right="4096", pad_bottom="4096"),
        id="refine-outpaint-pad-4096-every-side",
    ),
    case("refine", refine("outpaint", pad_left="4097"), id="refine-outpaint-pad-over-4096"),
    case("refine", refine("outpaint", pad_left="-10"), id="refine-outpaint-pad-negative"),
    case("refine", refine("outpaint", aspect="0:0"), id="refine-outpaint-aspect-0-0"),
    case("refine", refine("outpaint", aspect="1e308:1"), id="refine-outpaint-aspect-1e308-1"),
    case("refine", refine("outpaint", aspect="nan:1"), id="refine-outpaint-aspect-nan"),
    case("refine", refine("outpaint", aspect="-16:9"), id="refine-outpaint-aspect-negative"),
    case("refine", refine("outpaint", aspect="16:9", pad_left="8"), id="refine-outpaint-aspect-and-pad"),
    case("refine", refine("recolor", color="expression(alert(1))"), id="refine-colour-css-expression"),
    case("refine", refine("recolor", color="#" + "f" * 39), id="refine-colour-39-hex-digits"),
    case("refine", refine("upscale", scale="3"), id="refine-upscale-x3-not-offered"),
    case(
        "refine",
        with_setting("STUDIO_REFINE_MAX_PIXELS", 96 * 64 * 4, refine("upscale", scale="4")),  # x2 would fit
        id="refine-upscale-x4-over-the-pixel-limit",
    ),
    case("refine", refine("rm -rf /"), id="refine-unknown-operation"),
    case("refine", refine(strength="NaN"), id="refine-strength-nan"),
    case("refine", refine(strength="0"), id="refine-strength-zero"),
    case("refine", refine(seed=str(MAX_SEED)), id="refine-seed-over-the-limit"),
    case("refine", refine(num_images="1e3"), id="refine-num-images-scientific"),
    case("refine", refine(anchor="northnorthwest"), id="refine-anchor-unknown"),
    case(
        "refine",
        lambda t: t.client.post(reverse("generation:refine", args=[2**62]), {"operation": "inpaint"}),
        (404,),
        id="refine-an-asset-id-that-does-not-exist",
    ),
    # Review: refused input sends the reviewer back with a message (a documented 302) and records nothing.
    case("review", review("decide", decision="approve_all"), (302,), id="review-decision-unknown"),
    case(
        "review",
        review("decide", decision="approve", comment="c" * 5000),
        (302,),
        id="review-comment-5000-characters",
    ),
    case(
        "review",
        review("decide", decision=["reject", "nonsense"]),
        (302,),
        id="review-decision-repeated-last-bad",
    ),
    case(
        "review",
        lambda t: t.client.post(reverse("review:bulk"), {"decision": "approve", "assets": ["abc", "-1"]}),
        (400,),
        id="review-bulk-asset-ids-not-numbers",
    ),
    case(
        "review",
        lambda t: t.client.post(reverse("review:bulk"), {"decision": "approve", "assets": [str(2**70)]}),
        (400,),
        id="review-bulk-asset-id-2-to-the-70",
    ),
    case(
        "changes-requested",
        review("submit", comment="c" * 5000),
        (302,),
        check=lambda t, r: says(t.client.get(r.url), "Nothing was changed: the comment was refused."),
        id="review-resubmit-with-a-comment-over-2000-characters",
    ),
    case(
        "changes-requested",
        review("submit", comment="fixed\x00"),
        (302,),
        id="review-resubmit-with-nul-in-the-comment",
    ),
    case(
        "approved-review",
        review("revoke", comment="c" * 5000),
        (302,),
        id="review-revoke-with-a-comment-over-2000-characters",
    ),
    case(
        "approved-review",
        review("revoke", comment="bad\x00reason"),
        (302,),
        id="review-revoke-with-nul-in-the-comment",
    ),
    # Delivery URLs, strict mode (the default), against an approved 256x192 asset.
    case("delivery", unsigned("t_story/t_desktop-hero"), (403,), id="delivery-unsigned-preset-chain"),
    case("delivery", unsigned("t_no-such-preset"), (400,), id="delivery-unknown-preset"),
    case("delivery", unsigned("t_"), (400,), id="delivery-empty-preset-name"),
    case("delivery", unsigned(LONG_TRANSFORMATION), (400,), id="delivery-8kb-transformation"),
    case("delivery", unsigned("c_scale,w_99999"), (400,), id="delivery-w-99999"),
    case("delivery", unsigned("c_scale,w_-1"), (400,), id="delivery-w-negative"),
    case("delivery", unsigned("c_scale,w_0.0000001"), (403,), id="delivery-unsigned-w-a-tiny-fraction"),
    case(
        "delivery",
        signed("c_scale,w_0.0000001"),
        (200,),
        stores=True,
        check=served_size(1),
        id="delivery-signed-w-a-tiny-fraction-renders-one-pixel",
    ),
    case("delivery", unsigned("c_fill,ar_0:1,w_100"), (400,), id="delivery-ar-0-1"),
    case("delivery", unsigned("c_scale,w_100,dpr_100"), (400,), id="delivery-dpr-100"),
    case("delivery", signed("c_scale,w_99999"), (400,), id="delivery-signed-w-99999"),
    case(
        "delivery",
        signed("c_fill,w_4096,h_4097"),
        (400,),
        id="delivery-signed-one-pixel-over-the-height-limit",
    ),
    case("delivery", signed("/".join(["c_scale,w_10"] * 17)), (400,), id="delivery-signed-17-components"),
    case("delivery", unsigned("t_preview", ext=".png.jpg"), (400,), id="delivery-double-extension"),
    case("delivery", unsigned("t_preview", ext=".exe"), (400,), id="delivery-executable-extension"),
    case(
        "delivery",
        deliver("/image/upload/t_preview/../../../studio/settings.png"),
        (400,),
        id="delivery-dot-dot-in-public-id",
    ),
    case(
        "delivery",
        deliver(lambda t: f"/image/upload/t_preview%2F{t.public_id}.png"),
        (200,),
        stores=True,
        check=served_an_image,
        id="delivery-percent-encoded-slash-is-a-slash",
    ),
    case(
        "delivery",
        deliver(lambda t: f"/image/upload/t_preview%252F{t.public_id}.png"),
        (400,),
        id="delivery-double-percent-encoded-slash",
    ),
    case(
        "delivery",
        deliver(lambda t: f"/image/upload/s--AAAAAAAAAAAAAAAA--/c_scale,w_10/{t.public_id}.png"),
        (403,),
        id="delivery-bad-signature",
    ),
    case(
        "delivery",
        deliver(lambda t: t.signed(f"c_scale,w_10/{t.public_id}.png").replace("w_10", "w_20")),
        (403,),
        id="delivery-signature-for-another-transformation",
    ),
    case(
        "delivery",
        deliver(lambda t: t.signed(f"c_scale,w_10/{t.public_id}.png").replace(".png", ".webp")),
        (403,),
        id="delivery-signature-for-another-format",
    ),
    case(
        "delivery",
        deliver(lambda t: f"/image/upload/t_preview/{t.public_id}%00.png"),
        (400,),
        id="delivery-nul-in-path",
    ),
    case(
        "delivery",
        deliver("/image/upload/t_preview/caf%C3%A9-%E2%80%AE-\u202e.png"),
        (400,),
        id="delivery-unicode-public-id",
    ),
    case(
        "delivery",
        deliver("/image/upload/t_preview/%FF%FE.png"),
        (400,),
        id="delivery-invalid-utf8-public-id",
    ),
    case("delivery", unsigned("c_scale,w_10,q_101"), (400,), id="delivery-quality-101"),
    case("delivery", unsigned("b_rgb:zz,c_pad,w_10"), (400,), id="delivery-bad-background-colour"),
    case("delivery", unsigned("fl_attachment,e_blur"), (400,), id="delivery-unknown-parameters"),
    case(
        "delivery",
        lambda t: t.client.post(f"/image/upload/t_preview/{t.public_id}.png"),
        (405,),
        id="delivery-post",
    ),
    case(
        "delivery",
        unsigned("t_preview", ext=".webp"),
        (200,),
        stores=True,
        check=served_an_image,
        id="delivery-one-preset-is-fine-unsigned",
    ),
    case(
        "delivery",
        signed("c_scale,w_4096,h_4096", ext=".jpg"),
        (200,),
        stores=True,
        check=served_size(4096, 4096),
        id="delivery-signed-max-size-render",
    ),
]

# The cases the memory test runs again in a capped child process: the biggest declared images, the longest
# URL and the largest render the limits allow.
HEAVY_CASES = [
    "upload-65535x65535-header",
    "upload-49-megapixels-declared-4-rows-present",
    "refine-mask-30000x20000-header",
    "refine-mask-45-megapixels-declared-4-rows-present",
    "refine-outpaint-pad-4096-every-side",
    "delivery-8kb-transformation",
    "delivery-signed-max-size-render",
]


def stored_everything() -> dict:
    return {
        "assets": Asset.objects.count(),
        "requests": GenerationRequest.objects.count(),
        "variants": Variant.objects.count(),
        "review events": ReviewEvent.objects.count(),
    }


def stored_files(media_root: Path) -> set[str]:
    return {str(path.relative_to(media_root)) for path in media_root.rglob("*") if path.is_file()}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Every case makes a user or two; PBKDF2 would be a third of this file's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def target_for(request, client, settings, media_root, no_enqueue):
    """Builds the Target one surface needs: a signed-in client, an asset to refine or review, an approved
    public id for delivery."""
    settings.STUDIO_DELIVERY_RENDER_RATE = ""  # each case is a cold render from one address

    def build(surface: str) -> Target:
        target = Target(client=client, settings=settings, media_root=media_root)
        if surface in {"upload", "generate", "refine"}:
            client.force_login(request.getfixturevalue("marketer"))
        if surface == "refine":
            target.asset = request.getfixturevalue("make_asset")()
        if surface == "review":
            target.asset = request.getfixturevalue("make_asset")()
            client.force_login(request.getfixturevalue("reviewer"))
        if surface == "changes-requested":
            target.asset = request.getfixturevalue("make_asset")()
            asset_review_decide(
                asset=target.asset,
                actor=request.getfixturevalue("reviewer"),
                decision="request_changes",
                comment="Warmer red, please.",
            )
            client.force_login(request.getfixturevalue("marketer"))
        if surface == "approved-review":
            target.asset, target.public_id = request.getfixturevalue("approved")
            client.force_login(request.getfixturevalue("second_reviewer"))
        if surface == "delivery":
            target.asset, target.public_id = request.getfixturevalue("approved")
        return target

    return build


@pytest.mark.django_db
@pytest.mark.parametrize("hostile", CORPUS)
def test_hostile_input_is_answered_without_a_server_error_and_refused_input_stores_nothing(
    target_for, hostile: Case
):
    target = target_for(hostile.surface)
    rows, files = stored_everything(), stored_files(target.media_root)

    response = hostile.send(target)

    assert response.status_code < 500
    assert response.status_code in hostile.statuses, (response.status_code, response.content[:300])
    if not hostile.stores or response.status_code >= 400:
        assert stored_everything() == rows
        assert stored_files(target.media_root) == files
    if hostile.check and response.status_code < 400:
        hostile.check(target, response)


def test_the_corpus_covers_every_surface_with_at_least_forty_cases():
    ids = [param.id for param in CORPUS]
    assert len(ids) == len(set(ids)) >= 40
    surfaces = {param.values[0].surface for param in CORPUS}
    assert surfaces == {
        "upload",
        "generate",
        "refine",
        "review",
        "changes-requested",
        "approved-review",
        "delivery",
    }
    assert set(HEAVY_CASES) <= set(ids)


# --- Hypothesis: the serve view in strict mode, with paths built from the grammar's own tokens -----------

GOOD_PARAMETERS = [
    "c_scale", "c_fill", "c_limit", "c_pad", "c_crop", "c_thumb", "w_64", "w_320", "h_48", "w_0.5", "ar_16:9",
    "ar_1:1", "g_auto", "g_north", "dpr_2", "q_auto", "q_50", "f_png", "f_webp", "b_white", "b_rgb:ff00ff",
    "x_10", "y_5", "t_preview", "t_og-image",
]  # fmt: skip
BAD_PARAMETERS = [
    "w_99999", "w_-1", "w_0", "h_0.0000001", "ar_0:1", "ar_1e308:1", "dpr_100", "q_101", "b_rgb:zz", "f_exe",
    "g_bogus", "t_nope", "t_", "fl_attachment", "e_blur", "c_", "w_nan", "w_inf", "x_1e308", "w_", "_", "",
]  # fmt: skip
JUNK = st.text(max_size=8)
GOOD_COMPONENTS = st.sampled_from(
    [
        "c_scale,w_64", "c_fill,w_64,h_48", "c_limit,w_320", "t_preview", "t_og-image", "f_webp", "q_50",
        "c_pad,w_100,h_100,b_white", "c_scale,w_0.5", "c_fill,ar_16:9,w_100,g_auto", "c_scale,dpr_2,w_64",
        "c_crop,w_32,x_10,y_5",
    ]
)  # fmt: skip
PARAMETER = st.one_of(st.sampled_from(GOOD_PARAMETERS), st.sampled_from(BAD_PARAMETERS), JUNK)
# one_of picks a branch evenly: half the components are whole valid ones, so whole URLs often are valid.
COMPONENT = st.one_of(GOOD_COMPONENTS, st.lists(PARAMETER, min_size=1, max_size=3).map(",".join))
EXTENSION = st.one_of(
    st.sampled_from(["", ".png", ".jpg", ".webp", ".avif"]),
    st.sampled_from([".gif", ".png.jpg", ".exe", "."]),
)


@st.composite
def delivery_paths(draw, public_id: str) -> str:
    """[transformation/...][vN/]public_id[.ext], each part valid, broken or junk, now and then spliced."""
    components = draw(st.lists(COMPONENT, max_size=2))
    version = draw(st.sampled_from(["", "", "", "v1/", "v99999999999999999999/", "v-1/"]))
    name = draw(
        st.one_of(
            st.just(public_id),
            st.just(public_id),
            st.sampled_from(["nope", "..", "%00", "caf\u00e9\u202e", f"{public_id}%2F..", f"../{public_id}"]),
            JUNK,
        )
    )
    extension = draw(EXTENSION)
    path = "/".join([*components, f"{version}{name}{extension}"])
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(path)))
        path = path[:at] + draw(JUNK) + path[at:]
    return path


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), sign=st.booleans())
def test_any_strict_mode_delivery_path_is_answered_and_refusals_store_nothing(approved, settings, data, sign):
    _, public_id = approved
    settings.STUDIO_DELIVERY_RENDER_RATE = ""
    path = data.draw(delivery_paths(public_id), label="path").replace("\x00", "%00")
    # /image/upload/ alone (also with only a query or fragment after it) is not the serve view's URL.
    assume(re.split(r"[?#]", path, maxsplit=1)[0].strip("/"))
    url = "/image/upload/" + (signed_path(path, settings.STUDIO_DELIVERY_KEYS) if sign else path.lstrip("/"))
    variants = Variant.objects.count()

    response = Client().get(url)

    event(f"{'signed' if sign else 'unsigned'}: status {response.status_code}")
    assert response.status_code in {200, 400, 403, 404}, (url, response.status_code, response.content[:200])
    if response.status_code == 200:
        assert response["Content-Type"].startswith("image/")
        assert Variant.objects.count() <= variants + 1
    else:
        assert response["Content-Type"].startswith("text/plain")
        assert Variant.objects.count() == variants


# --- Hypothesis: the generate and refine forms with hostile values in every field ------------------------

HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            "", " ", "0", "-1", "1", "4", "64", "100", "101", "4096", "4097", str(MAX_SEED), str(2**64),
            "1e308", "-1e308", "NaN", "inf", "-inf", "0.05", "0.049", "1.5", "30", "30.0001", "0x10", "1_000",
            "\u0663", "\x00", "true", "None", "[]", "{}", "16:9", "0:0", "1e308:1", "#ff0000", "red",
            "expression(alert(1))", "<script>", "'; --", "{0.__class__}", "\u202e", "\U0001f34e",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40),
)  # fmt: skip
# A list posts the key more than once: the form sees the last value.
FIELD_VALUE = st.one_of(HOSTILE_VALUES, st.lists(HOSTILE_VALUES, min_size=2, max_size=3))


@st.composite
def form_changes(draw, plausible: dict[str, list[str]]) -> dict:
    """Up to four fields, each set to a value the page could send or to a hostile one."""
    names = draw(st.lists(st.sampled_from(sorted(plausible)), unique=True, max_size=4))
    return {name: draw(st.one_of(st.sampled_from(plausible[name]), FIELD_VALUE)) for name in names}


GENERATE_PLAUSIBLE = {
    "prompt": ["a pear", "a pear \U0001f350"],
    "negative_prompt": ["", "blurry"],
    "style": ["none", "emoji", "photorealistic"],
    "model": ["default", "tiny"],
    "size": ["square-small", "square", "custom"],
    "width": ["", "64", "128"],
    "height": ["", "64", "128"],
    "num_images": ["1", "4"],
    "seed": ["", "0", "7"],
    "steps": ["1", "4"],
    "guidance": ["0", "5"],
    "campaign": ["", "spring"],
}


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=form_changes(GENERATE_PLAUSIBLE))
def test_any_generate_form_values_are_a_bounded_request_or_a_400_that_stores_nothing(
    client, marketer, no_enqueue, changes
):
    client.force_login(marketer)
    before = GenerationRequest.objects.count()

    response = client.post(reverse("generation:create"), {**GENERATE_FIELDS, **changes})

    event(f"status {response.status_code}")
    assert response.status_code in {302, 400}, (changes, response.status_code)
    if response.status_code == 400:
        assert GenerationRequest.objects.count() == before
        return
    stored = GenerationRequest.objects.latest("pk")
    assert 1 <= stored.steps <= 100 and 0 <= stored.guidance <= 30 and 0 <= stored.seed <= MAX_SEED
    assert 1 <= stored.num_images <= 4 and stored.width % 8 == 0 and stored.height % 8 == 0
    assert "\x00" not in stored.prompt and stored.prompt.strip()


REFINE_FIELDS = {
    "model": "tiny",
    "prompt": "a pear",
    "num_images": "1",
    "anchor": "center",
    "scale": "2",
    "mode": "img2img",
}
REFINE_PLAUSIBLE = {
    "model": ["tiny", "default"],
    "prompt": ["a pear", ""],
    "negative_prompt": ["", "blurry"],
    "num_images": ["1", "4"],
    "anchor": ["center", "north", "west"],
    "scale": ["2", "4"],
    "mode": ["img2img", "seeds"],
    "strength": ["", "0.05", "1"],
    "aspect": ["", "16:9", "1:1", "4:5"],
    "pad_left": ["", "0", "32"],
    "pad_top": ["", "64"],
    "pad_right": ["", "8"],
    "pad_bottom": ["", "4096"],
    "color": ["", "red", "#00ff00"],
    "seed": ["", "7"],
    "steps": ["", "4"],
    "guidance": ["", "5"],
}
OPERATION_NAMES = ["inpaint", "remove", "outpaint", "recolor", "upscale", "restore", "variations"]
MASKS = {
    "none": None,
    "good": mask_png(),
    "jpeg": mask_png(pillow_format="JPEG"),
    "empty": b"",
    "text": b"not a png",
    "other-aspect": mask_png((64, 64)),
    "bomb-header": png_claiming(30_000, 20_000),
}


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operation=st.sampled_from([*OPERATION_NAMES, "text2img", "", "../inpaint"]),
    changes=form_changes(REFINE_PLAUSIBLE),
    mask=st.sampled_from(["none", "good", "none", "good", *MASKS]),
)
def test_any_refine_form_values_are_a_bounded_request_or_a_400_that_stores_nothing(
    client, marketer, make_asset, media_root, no_enqueue, operation, changes, mask
):
    client.force_login(marketer)
    asset = Asset.objects.filter(created_by=marketer).first() or make_asset()
    before, files = GenerationRequest.objects.count(), stored_files(media_root)
    fields = {**REFINE_FIELDS, "operation": operation, **changes}
    if MASKS[mask] is not None:
        fields["mask"] = io.BytesIO(MASKS[mask])
        fields["mask"].name = "mask.png"

    response = client.post(reverse("generation:refine", args=[asset.pk]), fields)

    event(f"status {response.status_code}")
    assert response.status_code in {302, 400}, (operation, changes, mask, response.status_code)
    if response.status_code == 400:
        assert GenerationRequest.objects.count() == before
        assert stored_files(media_root) == files, "a refused request leaves no mask file behind"
        return
    stored = GenerationRequest.objects.latest("pk")
    assert stored.width * stored.height <= django_settings.STUDIO_REFINE_MAX_PIXELS
    assert min(stored.width, stored.height) >= 64
    assert 1 <= stored.num_images <= 4 and 0 <= stored.seed <= MAX_SEED
    assert 0 <= stored.guidance <= 30 and 1 <= stored.steps <= 100


# --- A memory cap on the heaviest cases ------------------------------------------------------------------

# The child's address-space cap, above what the same child maps running one trivial case. Python with
# Django, Pillow, NumPy and PyTorch's libraries loaded maps address space it never touches (here 560 MiB
# mapped for 130 MiB resident), so the cap is set over that measured baseline, not as one absolute number.
# The heaviest cases map about 390 MiB more; 768 MiB leaves them twice that, and stops what a decoder
# trusting a refused header would need: 860 MiB for the 30000x30000 upload even in greyscale, 4 GiB for
# 65535x65535.
ADDRESS_SPACE_HEADROOM = 768 * 2**20
# Resident memory the heavy cases may add over that baseline (about 105 MiB here). The largest buffers any
# of them may legitimately hold are the 49-megapixel greyscale upload (47 MiB decoded, plus its re-encoding)
# and the 4096x4096 RGB render (48 MiB, plus its resize source and the encoder's copy); 256 MiB is five such
# buffers at once, and a regression that kept the upload as RGB (140 MiB more) would cross it.
RSS_BOUND = 256 * 2**20

CHILD_SCRIPT = """
import resource, sys
cap = int(sys.argv[1])
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
import pytest
code = pytest.main(sys.argv[2:])
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print("MEMORY", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, status["VmPeak"].split()[0])
sys.exit(code)
"""


def _run_child(tmp_path: Path, name: str, case_ids: list[str], cap: int) -> tuple[int, int]:
    """Run corpus cases in a fresh process under an address-space cap: (peak RSS, peak VM) in bytes."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The embedded defaults: its own SQLite database, cache and broker, whichever pass this is.
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_CACHE_URL", "STUDIO_TEST_PASS"}
    }
    env.update(STUDIO_VAR_DIR=str(tmp_path / name), STUDIO_TORCH_THREADS="1")
    selection = " or ".join(f"[{case_id}]" for case_id in case_ids)
    command = [
        sys.executable, "-c", CHILD_SCRIPT, str(cap), __file__, "-q", "-p", "no:cacheprovider",
        "-k", f"test_hostile_input_is_answered and ({selection})",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"{len(case_ids)} passed" in result.stdout, result.stdout[-2000:]
    [memory] = [line.split() for line in result.stdout.splitlines() if line.startswith("MEMORY ")]
    return int(memory[1]) * 1024, int(memory[2]) * 1024


def test_the_heaviest_cases_pass_under_an_address_space_cap_and_a_resident_memory_bound(tmp_path):
    baseline_rss, baseline_vm = _run_child(tmp_path, "baseline", ["upload-zero-bytes"], cap=0)

    peak_rss, peak_vm = _run_child(tmp_path, "heavy", HEAVY_CASES, cap=baseline_vm + ADDRESS_SPACE_HEADROOM)

    print(f"baseline {baseline_rss / 2**20:.0f} MiB resident, {baseline_vm / 2**20:.0f} MiB mapped")
    print(f"heaviest cases {peak_rss / 2**20:.0f} MiB resident, {peak_vm / 2**20:.0f} MiB mapped")
    assert peak_rss - baseline_rss < RSS_BOUND
