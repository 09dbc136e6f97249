"""The Generate page's polish: one size rule and one style rule for the form, the API and the command;
prompt meters that say what the model does not read; errors beside their fields; names instead of internal
values; destination channels from the channel presets."""

import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from generation.engine.prompt_reading import READ_TOKENS, read_prompt
from generation.engine.registry import get_model
from generation.forms import default_size_key
from generation.models import GenerationRequest
from generation.presets import STYLES
from generation.services import generation_request_complete
from tests.forms import generate_form_data

# Words that are one CLIP token each.
WORDS = ["apple", "pear", "mug", "desk", "red", "blue", "green", "table", "chair", "lamp"]


def long_prompt(words: int) -> str:
    return " ".join(WORDS[index % len(WORDS)] for index in range(words))


@pytest.fixture
def marketer_client(client, marketer, no_enqueue):
    client.force_login(marketer)
    return client


def _options(body: str, name: str) -> list[str]:
    """The values the page's ``name`` menu offers."""
    select = re.search(rf'<select name="{name}".*?</select>', body, re.S).group(0)
    return re.findall(r'<option value="([^"]+)"', select)


def _default_model_data(**fields: str | list[str]) -> dict:
    """The form for the default model at the size it makes, with ``fields`` changed."""
    size = default_size_key(get_model("default"))
    return generate_form_data(model="default", size=size, width="", height="", **fields)


def _field_block(body: str, field_id: str) -> str:
    """The markup of the form field holding ``field_id``: from its label to the next field."""
    start = body.index(f'for="{field_id}"')
    following = re.search(r'<div class="field|<fieldset|<details', body[start:])
    return body[start : start + following.start()] if following else body[start:]


# --- One size rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "problem"),
    [
        ("default", (512, 512), ""),
        ("default", (256, 256), "Studio default makes 512 x 512 images only; choose Square 512 x 512"),
        ("default", (1024, 1024), "Studio default makes 512 x 512 images only; choose Square 512 x 512"),
        ("tiny", (512, 384), ""),
        (
            "tiny",
            (100, 64),
            "from 64 to 512 px, in multiples of 8. The nearest to 100 x 64 it makes is 96 x 64.",
        ),
        ("tiny", (32, 1024), "The nearest to 32 x 1024 it makes is 64 x 512."),
    ],
)
def test_a_model_says_which_sizes_it_makes(model, size, problem):
    found = get_model(model).size_problem(*size)
    assert found == problem if not problem else problem in found


def test_each_model_is_offered_only_the_sizes_it_makes():
    assert [preset.key for preset in get_model("default").size_presets()] == ["square"]
    # Up to 512 px a side: the landscape, portrait and banner presets are larger.
    assert [preset.key for preset in get_model("tiny").size_presets()] == ["square-small", "square"]
    assert get_model("default").default_size() == (512, 512)
    assert get_model("tiny").default_size() == (512, 512)


@pytest.mark.django_db
def test_a_fixed_size_model_whose_size_has_no_preset_is_offered_its_one_size(marketer_client, settings):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "big": {"label": "Big", "source": "/nowhere/big", "native_size": 256, "upscaler": "realesrgan-x4"},
    }

    page = marketer_client.get(reverse("generation:create")).content.decode()
    posted = marketer_client.post(
        reverse("generation:create"), generate_form_data(model="big", size="1024x1024")
    )

    assert [(preset.key, preset.label) for preset in get_model("big").size_presets()] == [
        ("1024x1024", "Square 1024 x 1024")
    ]
    assert '"big": {"sizes": [["1024x1024", "Square 1024 x 1024"]], "default": "1024x1024"}' in page
    assert posted.status_code == 302
    assert (GenerationRequest.objects.get().width, GenerationRequest.objects.get().height) == (1024, 1024)


@pytest.mark.django_db
def test_the_size_menu_is_the_selected_models_and_the_page_carries_every_models_menu(marketer_client):
    body = marketer_client.get(reverse("generation:create")).content.decode()

    size_select = re.search(r'<select name="size".*?</select>', body, re.S).group(0)
    assert re.findall(r'<option value="([^"]+)"', size_select) == ["square"], "the default makes one size"
    menus = json.loads(
        re.search(r'<script id="size-menus" type="application/json">(.*?)</script>', body).group(1)
    )
    assert menus["default"] == {"sizes": [["square", "Square 512 x 512"]], "default": "square"}
    assert [key for key, _label in menus["tiny"]["sizes"]] == ["square-small", "square", "custom"]
    assert menus["tiny"]["default"] == "square"


@pytest.mark.django_db
def test_a_posted_model_gets_its_own_size_menu_back(marketer_client):
    body = marketer_client.post(reverse("generation:create"), generate_form_data(prompt="")).content.decode()

    size_select = re.search(r'<select name="size".*?</select>', body, re.S).group(0)
    assert 'value="custom"' in size_select and 'value="banner"' not in size_select


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field_id", "message"),
    [
        (
            {"size": "banner"},
            "id_size",
            "Tiny test pipeline makes each side from 64 to 512 px, in multiples of 8. "
            "The nearest to 768 x 256 it makes is 512 x 256.",
        ),
        ({"size": "huge"}, "id_size", "huge is not a size: choose one from the menu."),
        (
            {"width": "100"},
            "id_width",
            "The nearest to 100 x 64 it makes is 96 x 64.",
        ),
        (
            {"height": "600"},
            "id_height",
            "The nearest to 64 x 600 it makes is 64 x 512.",
        ),
        (
            {"size": "custom", "height": ""},
            "id_height",
            "Give a height for a custom size. Tiny test pipeline makes each side from 64 to 512 px",
        ),
        ({"model": "default", "size": "custom"}, "id_size", "Studio default makes 512 x 512 images only"),
        (
            {"model": "default", "size": "square-small"},
            "id_size",
            "Studio default makes 512 x 512 images only",
        ),
    ],
)
def test_a_size_the_model_cannot_make_is_refused_beside_the_field_saying_what_it_makes(
    marketer_client, overrides, field_id, message
):
    response = marketer_client.post(reverse("generation:create"), generate_form_data(**overrides))

    assert response.status_code == 400
    assert message in _field_block(response.content.decode(), field_id)
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_custom_size_the_model_makes_is_used(marketer_client):
    response = marketer_client.post(
        reverse("generation:create"), generate_form_data(width="320", height="192")
    )

    assert response.status_code == 302
    assert (GenerationRequest.objects.get().width, GenerationRequest.objects.get().height) == (320, 192)


@pytest.mark.django_db
def test_the_generate_command_refuses_with_the_same_rule(tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("generate", prompt="a mug", model="tiny", size="100x64", out=str(tmp_path))

    assert str(refused.value) == f"--size: {get_model('tiny').size_problem(100, 64)}"


# --- One style rule --------------------------------------------------------------------------------------

DEFAULT_STYLES = ["none", "3d-render", "flat-illustration", "emoji"]


@pytest.mark.django_db
def test_the_style_menu_is_the_selected_models_and_the_page_carries_every_models_menu(marketer_client):
    body = marketer_client.get(reverse("generation:create")).content.decode()

    assert _options(body, "style") == DEFAULT_STYLES, "the default draws the looks it was trained on"
    menus = json.loads(
        re.search(r'<script id="style-menus" type="application/json">(.*?)</script>', body).group(1)
    )
    assert menus["default"] == [
        ["none", "No style"],
        ["3d-render", "3D render"],
        ["flat-illustration", "Flat illustration"],
        ["emoji", "Emoji"],
    ]
    assert [key for key, _label in menus["tiny"]] == list(STYLES), "a model that lists none offers all"


@pytest.mark.django_db
def test_a_posted_model_gets_its_own_style_menu_back(marketer_client):
    body = marketer_client.post(reverse("generation:create"), generate_form_data(prompt="")).content.decode()

    assert _options(body, "style") == list(STYLES)


@pytest.mark.django_db
@pytest.mark.parametrize("style", ["watercolor", "cinematic", "product-photography", "photorealistic"])
def test_a_style_the_model_does_not_draw_is_refused_beside_the_field_saying_what_it_draws(
    marketer_client, style
):
    response = marketer_client.post(reverse("generation:create"), _default_model_data(style=style))

    assert response.status_code == 400
    assert (
        "Studio default draws only these styles: No style, 3D render, Flat illustration, Emoji; "
        "choose one of them or another model."
    ) in _field_block(response.content.decode(), "id_style")
    assert not GenerationRequest.objects.exists()


@pytest.mark.django_db
def test_a_style_the_model_draws_is_used(marketer_client):
    response = marketer_client.post(reverse("generation:create"), _default_model_data(style="emoji"))

    assert response.status_code == 302
    request = GenerationRequest.objects.get()
    assert (request.model_key, request.style) == ("default", "emoji")
    assert request.full_prompt.startswith("an emoji of a red apple")


@pytest.mark.django_db
def test_a_style_the_default_refuses_is_drawn_by_a_model_that_offers_every_style(marketer_client):
    response = marketer_client.post(reverse("generation:create"), generate_form_data(style="watercolor"))

    assert response.status_code == 302
    assert (GenerationRequest.objects.get().model_key, GenerationRequest.objects.get().style) == (
        "tiny",
        "watercolor",
    )


# --- Prompt meters ---------------------------------------------------------------------------------------


def test_a_prompt_within_the_limit_is_read_whole():
    reading = read_prompt("a red apple, on a blue background!")
    assert (reading.tokens, reading.unread) == (9, "")


def test_the_words_past_the_models_limit_are_named():
    reading = read_prompt(long_prompt(READ_TOKENS + 5))
    assert reading.tokens == READ_TOKENS + 5
    assert reading.unread == " ".join(long_prompt(READ_TOKENS + 5).split()[READ_TOKENS:])


@pytest.mark.django_db
def test_the_prompt_meter_counts_characters_and_the_models_tokens(marketer_client):
    response = marketer_client.get(reverse("generation:prompt-meter"), {"prompt": "a red apple"})

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="meter-prompt"' in body
    assert "11 / 1000 characters" in body
    assert "3 of the 75 tokens the model reads" in body
    assert "data-unread" not in body


@pytest.mark.django_db
def test_the_prompt_meter_counts_the_styles_words_too_and_names_what_is_not_read(marketer_client):
    prompt = long_prompt(70)
    plain = marketer_client.get(reverse("generation:prompt-meter"), {"prompt": prompt}).content.decode()
    styled = marketer_client.get(
        reverse("generation:prompt-meter"), {"prompt": prompt, "style": "cinematic"}
    ).content.decode()

    assert "data-unread" not in plain
    assert "data-unread" in styled
    assert "anamorphic" in styled, "the style's last words are the ones the model does not read"


@pytest.mark.django_db
def test_the_negative_prompt_has_its_own_meter(marketer_client):
    body = marketer_client.get(
        reverse("generation:prompt-meter"), {"negative_prompt": "blurry"}
    ).content.decode()

    assert 'id="meter-negative_prompt"' in body and "6 / 1000 characters" in body


@pytest.mark.django_db
def test_an_unknown_style_is_a_400(marketer_client):
    response = marketer_client.get(reverse("generation:prompt-meter"), {"prompt": "a mug", "style": "nope"})

    assert response.status_code == 400
    assert "Unknown style" in response.content.decode()


@pytest.mark.django_db
def test_the_prompt_meter_is_for_signed_in_users(client):
    assert client.get(reverse("generation:prompt-meter"), {"prompt": "a mug"}).status_code == 302


@pytest.mark.django_db
def test_the_request_page_says_which_words_the_model_did_not_read(marketer_client):
    prompt = long_prompt(READ_TOKENS + 3)
    marketer_client.post(reverse("generation:create"), generate_form_data(prompt=prompt))
    request = GenerationRequest.objects.get()

    body = marketer_client.get(reverse("generation:request", args=[request.pk])).content.decode()

    assert request.prompt == prompt, "nothing is cut"
    unread = " ".join(prompt.split()[READ_TOKENS:])
    assert f"did not read: “{unread}”" in body


@pytest.mark.django_db
def test_a_refused_form_keeps_the_warning_under_a_long_prompt(marketer_client):
    body = marketer_client.post(
        reverse("generation:create"), generate_form_data(prompt=long_prompt(80), steps="0")
    ).content.decode()

    assert "data-unread" in _field_block(body, "id_prompt")


# --- Errors beside their fields ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["campaign", "product"])
def test_a_campaign_or_product_error_shows_beside_its_field(marketer_client, field):
    response = marketer_client.post(reverse("generation:create"), generate_form_data(**{field: "x" * 201}))

    body = response.content.decode()
    assert response.status_code == 400
    assert "at most 200 characters" in _field_block(body, f"id_{field}")
    assert "Nothing was started: fix what is marked below and press Generate again." in body


# --- Names, not internal values ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_request_page_names_the_model_and_style_and_shows_campaign_product_and_channels(
    marketer_client, channel_presets
):
    marketer_client.post(
        reverse("generation:create"),
        _default_model_data(
            style="emoji",
            campaign="Autumn",
            product="Mug",
            channels=["og-image", "product-thumb"],
        ),
    )
    request = GenerationRequest.objects.get()

    body = marketer_client.get(reverse("generation:request", args=[request.pk])).content.decode()

    assert "Model: Studio default" in body and "· default ·" not in body
    assert "Style: Emoji" in body
    tags = re.search(r'<dl class="facts" id="request-tags">.*?</dl>', body, re.S).group(0)
    assert "Autumn" in tags and "Mug" in tags and "og-image, product-thumb" in tags


@pytest.mark.django_db
def test_no_style_is_called_no_style(marketer_client):
    body = marketer_client.get(reverse("generation:create")).content.decode()
    assert '<option value="none" selected>No style</option>' in body


# --- Destination channels ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_offers_the_channel_presets_and_its_images_carry_the_ones_ticked(
    marketer_client, channel_presets
):
    page = marketer_client.get(reverse("generation:create")).content.decode()
    assert 'type="checkbox" name="channels" value="og-image"' in page

    marketer_client.post(
        reverse("generation:create"), generate_form_data(channels=["product-thumb", "og-image"])
    )
    request = GenerationRequest.objects.get()
    assert request.channels == ["og-image", "product-thumb"]

    GenerationRequest.objects.filter(pk=request.pk).update(status=GenerationRequest.Status.RUNNING)
    [asset] = generation_request_complete(
        generation_request=request, images=[Image.new("RGB", (64, 64))], seeds=[1]
    )
    assert asset.channels == ["og-image", "product-thumb"]


@pytest.mark.django_db
def test_a_channel_that_is_not_a_preset_is_refused_beside_the_channels(marketer_client, channel_presets):
    response = marketer_client.post(reverse("generation:create"), generate_form_data(channels=["billboard"]))

    body = response.content.decode()
    assert response.status_code == 400
    channels = re.search(r'<fieldset class="field wide channels">.*?</fieldset>', body, re.S).group(0)
    assert "billboard is not a destination channel: choose from the channel presets." in channels


# --- Refine and Upload -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_refine_page_measures_its_prompts_too(marketer_client, make_asset):
    asset = make_asset(prompt=long_prompt(READ_TOKENS + 2))

    body = marketer_client.get(reverse("generation:refine", args=[asset.pk])).content.decode()

    assert "data-unread" in _field_block(body, "id_prompt")
    assert 'id="meter-negative_prompt"' in body


@pytest.mark.django_db
def test_an_upload_without_files_says_so_beside_the_file_picker(marketer_client):
    body = marketer_client.post(reverse("generation:upload"), {"campaign": "Autumn"}).content.decode()

    start = body.index('id="id_files"')
    picker = body[start : body.index("</form>", start)]
    assert 'id="files-error"' in picker and "Choose one or more JPEG, PNG or WebP files." in picker


@pytest.mark.django_db
def test_the_prompt_meter_refuses_a_prompt_no_form_would_accept(marketer_client):
    response = marketer_client.get("/generate/prompt-meter/", {"prompt": "mug " * 2000})
    assert response.status_code == 400
    assert "at most 1000 characters" in response.content.decode()


@pytest.mark.django_db
def test_the_gallery_names_the_model_not_its_registry_key(marketer_client):
    marketer_client.post(reverse("generation:create"), generate_form_data(model="tiny"))
    body = marketer_client.get(reverse("generation:gallery")).content.decode()
    assert "Tiny test pipeline" in body
    assert "· tiny" not in body
