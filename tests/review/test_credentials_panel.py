"""The asset page shows the content credentials the stored file carries, read back with the SDK."""

from django.urls import reverse
from PIL import Image

from generation.models import GenerationRequest
from generation.services import generation_request_complete


def test_the_asset_page_says_who_made_the_image_and_that_the_signer_is_not_trusted(
    client, reviewer, make_asset
):
    asset = make_asset()
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[asset.pk])).content.decode()

    assert "Content credentials: created by Studio with model tiny, AI-generated." in page
    assert 'id="credentials-untrusted"' in page
    assert "development certificate" in page


def test_a_refinement_shows_the_edit_and_what_it_was_made_from(client, reviewer, make_asset, marketer):
    parent = make_asset()
    request = GenerationRequest.objects.create(
        created_by=marketer,
        operation="replace_background",
        prompt="on a beach",
        full_prompt="on a beach",
        model_key="tiny",
        width=parent.width,
        height=parent.height,
        seed=3,
        steps=2,
        guidance=5.0,
        source_asset=parent,
        status=GenerationRequest.Status.RUNNING,
    )
    [child] = generation_request_complete(
        generation_request=request, images=[Image.new("RGB", (96, 64))], seeds=[3]
    )
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[child.pk])).content.decode()

    assert "edited: background replaced (model tiny)" in page
    assert f"made from <code>studio-asset-{parent.pk}.png</code>: created by Studio with model tiny" in page


def test_an_image_made_with_credentials_off_says_it_carries_none(client, reviewer, make_asset, settings):
    settings.STUDIO_C2PA = False
    asset = make_asset()
    client.force_login(reviewer)

    page = client.get(reverse("review:asset", args=[asset.pk])).content.decode()

    assert "This file carries no content credentials." in page
    assert "STUDIO_C2PA=0" in page
