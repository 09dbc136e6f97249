"""The Refine page, review's Revise page built on it, and what the asset and request pages show of lineage.

Requests are enqueued after commit; under the `db` fixture on_commit callbacks never fire, so these tests
check the stored GenerationRequest row and nothing runs.
"""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageDraw

from generation.models import Asset, GenerationRequest
from generation.services import (
    RefineParameters,
    generation_request_claim,
    generation_request_complete,
    refine_request_create,
)
from review import decisions as review_decisions


def mask_file(size=(96, 64), *, pillow_format: str = "PNG", box=(30, 20, 60, 44)) -> SimpleUploadedFile:
    """Black with a white rectangle: white is the area to change."""
    image = Image.new("L", size, 0)
    ImageDraw.Draw(image).rectangle(box, fill=255)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=pillow_format)
    extension = "jpg" if pillow_format == "JPEG" else pillow_format.lower()
    return SimpleUploadedFile(f"mask.{extension}", buffer.getvalue(), content_type=f"image/{extension}")


def refine_fields(operation: str, **fields) -> dict:
    """What the page's form posts for ``operation``: its defaults plus ``fields``."""
    return {
        "operation": operation,
        "model": "tiny",
        "num_images": 1,
        "anchor": "center",
        "scale": 2,
        "mode": "img2img",
        **fields,
    }


@pytest.fixture
def asset(make_asset):
    return make_asset()


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def changes_requested(make_asset, reviewer, django_capture_on_commit_callbacks):
    """An asset a reviewer sent back with a comment."""
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()
    review_decisions.asset_review_decide(
        asset=asset, actor=reviewer, decision="request_changes", comment="Make the background a warmer red."
    )
    return asset


def refine_url(asset: Asset) -> str:
    return reverse("generation:refine", args=[asset.pk])


def revise_url(asset: Asset) -> str:
    return reverse("review:revise", args=[asset.pk])


# --- The Refine page ------------------------------------------------------------------------------------


def test_the_refine_page_offers_every_operation_with_its_help_and_a_mask_painter(marketer_client, asset):
    response = marketer_client.get(refine_url(asset))

    assert response.status_code == 200
    html = response.content.decode()
    for label in [
        "Inpaint",
        "Remove object",
        "Replace background",
        "Outpaint",
        "Recolour",
        "Upscale",
        "Variations",
    ]:
        assert label in html
    assert "Paint over an area and say what goes there" in html
    assert f'<canvas width="{asset.width}" height="{asset.height}"' in html
    assert 'value="tiny" data-tasks="text2img img2img inpaint"' in html
    assert 'id="op-inpaint" value="inpaint"' in html


def test_inpaint_with_a_painted_mask_queues_a_request_and_goes_to_its_page(marketer_client, asset):
    response = marketer_client.post(
        refine_url(asset), refine_fields("inpaint", prompt="a green pear", mask=mask_file())
    )

    request = GenerationRequest.objects.get(operation="inpaint")
    assert response.status_code == 302
    assert response["Location"] == reverse("generation:request", args=[request.pk])
    assert request.status == GenerationRequest.Status.QUEUED
    assert request.source_asset == asset
    assert request.revises is None
    assert request.prompt == "a green pear"
    assert (request.width, request.height) == (96, 64)
    assert request.mask.name and default_storage.exists(request.mask.name)
    with default_storage.open(request.mask.name, "rb") as handle, Image.open(handle) as stored:
        assert stored.size == (96, 64)
        assert stored.getpixel((45, 32)) == 255 and stored.getpixel((5, 5)) == 0


def test_inpaint_without_a_mask_is_refused_with_a_reason_and_stores_nothing(marketer_client, asset):
    before = GenerationRequest.objects.count()

    response = marketer_client.post(refine_url(asset), refine_fields("inpaint", prompt="a green pear"))

    assert response.status_code == 400
    assert "Inpaint needs a mask: paint over the area to change." in response.content.decode()
    assert GenerationRequest.objects.count() == before


def test_a_jpeg_mask_is_refused(marketer_client, asset):
    response = marketer_client.post(
        refine_url(asset), refine_fields("inpaint", prompt="a pear", mask=mask_file(pillow_format="JPEG"))
    )

    assert response.status_code == 400
    assert "The mask must be a PNG image, not JPEG." in response.content.decode()
    assert not GenerationRequest.objects.filter(operation="inpaint").exists()


def test_a_mask_with_another_aspect_ratio_is_refused(marketer_client, asset):
    response = marketer_client.post(
        refine_url(asset), refine_fields("inpaint", prompt="a pear", mask=mask_file(size=(64, 64)))
    )

    assert response.status_code == 400
    assert "The mask is 64x64 but the image is 96x64" in response.content.decode()
    assert not GenerationRequest.objects.filter(operation="inpaint").exists()


def test_a_mask_at_another_resolution_with_the_same_aspect_ratio_is_accepted(marketer_client, asset):
    response = marketer_client.post(
        refine_url(asset), refine_fields("inpaint", prompt="a pear", mask=mask_file(size=(192, 128)))
    )

    assert response.status_code == 302
    assert GenerationRequest.objects.get(operation="inpaint").mask.name


def test_outpaint_to_16_9_makes_a_request_for_the_new_canvas(marketer_client, asset):
    response = marketer_client.post(refine_url(asset), refine_fields("outpaint", aspect="16:9"))

    assert response.status_code == 302
    request = GenerationRequest.objects.get(operation="outpaint")
    assert (request.width, request.height) == (114, 64)  # 64 * 16 / 9, rounded; the height is kept
    assert request.options["aspect"] == "16:9"


def test_upscale_by_four_makes_a_request_four_times_the_size(marketer_client, asset):
    response = marketer_client.post(refine_url(asset), refine_fields("upscale", scale=4))

    assert response.status_code == 302
    request = GenerationRequest.objects.get(operation="upscale")
    assert (request.width, request.height) == (384, 256)
    assert request.model_key == ""


def test_recolour_with_a_colour_that_does_not_exist_is_refused(marketer_client, asset):
    response = marketer_client.post(refine_url(asset), refine_fields("recolor", color="blurple"))

    assert response.status_code == 400
    assert "is not a colour" in response.content.decode()
    assert not GenerationRequest.objects.filter(operation="recolor").exists()


def test_the_errors_are_listed_at_the_top_of_the_form(marketer_client, asset):
    response = marketer_client.post(
        refine_url(asset), refine_fields("inpaint", prompt="a pear", strength="7")
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'class="form-errors" role="alert"' in html
    assert '<a href="#id_strength">Strength</a>: Ensure this value is less than or equal to 1.0.' in html


def test_anonymous_visitors_are_sent_to_log_in(client, asset):
    response = client.get(refine_url(asset))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_reviewer_without_the_generate_permission_cannot_refine(client, reviewer, asset):
    client.force_login(reviewer)

    assert client.get(refine_url(asset)).status_code == 403


# --- Revise ---------------------------------------------------------------------------------------------


def test_revise_is_refused_for_an_asset_nobody_asked_changes_on(
    marketer_client, make_asset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        asset = make_asset()

    response = marketer_client.get(revise_url(asset))

    assert response.status_code == 403
    assert (
        "only an approved asset or one a reviewer asked changes on can be revised"
        in response.content.decode()
    )


def test_revise_of_a_missing_asset_is_404(marketer_client, db):
    assert marketer_client.get(reverse("review:revise", args=[999_999])).status_code == 404


def test_revise_needs_the_permission_to_generate(client, reviewer, changes_requested):
    client.force_login(reviewer)

    response = client.get(revise_url(changes_requested))

    assert response.status_code == 403
    assert "Only people who may generate images can revise one." in response.content.decode()


def test_revise_shows_the_reviewers_comment_and_links_what_it_makes_to_the_asset(
    marketer_client, changes_requested
):
    page = marketer_client.get(revise_url(changes_requested))

    html = page.content.decode()
    assert page.status_code == 200
    assert f"Revising asset {changes_requested.pk}" in html
    assert "Make the background a warmer red." in html

    response = marketer_client.post(
        revise_url(changes_requested), refine_fields("recolor", color="#d9480f", mask=mask_file())
    )

    request = GenerationRequest.objects.get(operation="recolor")
    assert response.status_code == 302
    assert response["Location"] == reverse("generation:request", args=[request.pk])
    assert request.revises == changes_requested
    assert request.source_asset == changes_requested


# --- The asset page and the request page ----------------------------------------------------------------


def _refined_child(source: Asset, user, *, revises: Asset | None = None) -> Asset:
    """A finished upscale of ``source``, as the worker would leave it."""
    request = refine_request_create(
        user=user, source=source, parameters=RefineParameters(operation="upscale", scale=2), revises=revises
    )
    assert generation_request_claim(request_id=request.pk)
    request.refresh_from_db()  # the lease the worker holds, as the worker reads it
    [child] = generation_request_complete(
        generation_request=request,
        images=[Image.new("RGB", (request.width, request.height), (40, 90, 200))],
        seeds=[0],
    )
    return child


def test_the_asset_page_of_a_refined_asset_shows_refine_its_lineage_and_a_before_after_slider(
    marketer_client, marketer, asset
):
    child = _refined_child(asset, marketer)

    response = marketer_client.get(reverse("review:asset", args=[child.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="refine-link" href="{refine_url(child)}"' in html
    assert 'id="revise-link"' not in html
    assert 'id="lineage"' in html
    assert f'href="{reverse("review:asset", args=[asset.pk])}"' in html
    assert 'aria-current="page"' in html
    assert "Upscale" in html and "Text to image" in html
    assert "data-compare" in html
    assert f'src="{reverse("generation:asset-file", args=[asset.pk])}" alt="Before: asset {asset.pk}"' in html
    assert 'type="range" id="compare-range"' in html


def test_the_source_asset_page_lists_what_was_made_from_it(marketer_client, marketer, asset):
    child = _refined_child(asset, marketer)

    html = marketer_client.get(reverse("review:asset", args=[asset.pk])).content.decode()

    assert "Made from it" in html
    assert f'href="{reverse("review:asset", args=[child.pk])}"' in html
    assert "data-compare" not in html  # nothing to compare an original with


def test_the_asset_page_offers_revise_when_changes_were_requested(marketer_client, changes_requested):
    html = marketer_client.get(reverse("review:asset", args=[changes_requested.pk])).content.decode()

    assert f'id="revise-link" href="{revise_url(changes_requested)}"' in html


def test_a_reviewer_sees_no_refine_button(client, reviewer, asset):
    client.force_login(reviewer)

    html = client.get(reverse("review:asset", args=[asset.pk])).content.decode()

    assert 'id="refine-link"' not in html


def test_a_revision_is_shown_beside_the_version_it_answers_with_the_reviewers_comment(
    marketer_client, marketer, changes_requested
):
    revision = _refined_child(changes_requested, marketer, revises=changes_requested)

    html = marketer_client.get(reverse("review:asset", args=[revision.pk])).content.decode()

    assert f"Revision of asset {changes_requested.pk}" in html
    assert "reviewer asked for changes on" in html
    assert '<blockquote id="revision-comment">Make the background a warmer red.</blockquote>' in html
    assert f'alt="The earlier version, asset {changes_requested.pk}"' in html


def test_the_request_page_of_a_refine_names_the_operation_and_shows_the_source(marketer_client, asset):
    marketer_client.post(refine_url(asset), refine_fields("upscale", scale=2, prompt="ignored"))
    request = GenerationRequest.objects.get(operation="upscale")

    html = marketer_client.get(reverse("generation:request", args=[request.pk])).content.decode()

    assert "<h1>Upscale of" in html
    assert f'alt="Source: asset {asset.pk}"' in html
    assert "ignored" not in html  # upscale takes no prompt, so none is shown
    assert 'id="progress"' in html


def test_the_progress_fragment_of_a_refine_is_unchanged(marketer_client, asset):
    marketer_client.post(refine_url(asset), refine_fields("upscale", scale=2))
    request = GenerationRequest.objects.get(operation="upscale")

    response = marketer_client.get(reverse("generation:request", args=[request.pk]), HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="progress"')
    assert "refine-heading" not in html
