"""Configured data is checked at start-up: the delivery allow-list and limits, and the model registry."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from delivery.checks import check_allowed_transformations, check_delivery_limits
from generation.checks import check_model_registry
from generation.engine.registry import get_model
from generation.presets import STYLES

GOOD_MODEL = {"label": "Real", "source": "org/real-model", "tasks": ["text2img"], "default_steps": 30}


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def only(messages, check_id: str):
    [message] = [m for m in messages if m.id == check_id]
    return message


def with_model(settings, entry) -> list:
    settings.STUDIO_MODELS = {**django_settings.STUDIO_MODELS, "extra": entry}
    return [m for m in check_model_registry() if "'extra'" in m.msg]


# --- delivery ----------------------------------------------------------------------------------------------


def test_the_default_delivery_settings_pass():
    assert check_delivery_limits() == []
    assert check_allowed_transformations() == []


def test_good_allow_list_entries_pass(settings):
    settings.STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS = [
        "c_limit,w_800",
        "c_fill,w_400,h_300/f_auto",
        "t_hero/c_scale,w_480",
    ]
    assert check_allowed_transformations() == []


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("c_fil,w_400", "unknown crop mode 'fil'"),
        ("c_fill,g_auto", "c_fill needs a size"),
        ("c_limit,w_8000", "8000 pixels wide, over the limit of 4096"),
        ("t_bad!name", "invalid preset name 'bad!name'"),
    ],
)
def test_a_bad_allow_list_entry_is_an_error_with_the_parsers_reason(settings, entry, reason):
    settings.STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS = ["c_limit,w_800", entry]
    [message] = check_allowed_transformations()
    assert message.id == "delivery.E001"
    assert repr(entry) in message.msg and reason in message.msg
    assert message.hint


def test_limits_must_be_positive(settings):
    settings.STUDIO_DELIVERY_MAX_WIDTH = 0
    settings.STUDIO_DELIVERY_MAX_PIXELS = -5
    messages = check_delivery_limits()
    assert ids(messages) == ["delivery.E002", "delivery.E002"]
    assert "STUDIO_DELIVERY_MAX_WIDTH is 0" in messages[0].msg
    assert "STUDIO_DELIVERY_MAX_PIXELS is -5" in messages[1].msg


# --- generation --------------------------------------------------------------------------------------------


def test_the_configured_registry_passes(settings, tiny_model_dir):
    assert check_model_registry() == []


def test_a_complete_entry_passes(settings):
    assert with_model(settings, GOOD_MODEL) == []


def test_an_entry_must_be_an_object_with_a_source(settings):
    assert ids(with_model(settings, ["org/model"])) == ["generation.E001"]
    message = only(with_model(settings, {"label": "No source"}), "generation.E002")
    assert "has no source" in message.msg and "hub id" in message.hint


def test_an_unknown_key_is_a_warning_naming_the_close_match(settings):
    messages = with_model(settings, {**GOOD_MODEL, "defualt_steps": 10})
    message = only(messages, "generation.W001")
    assert "unknown key 'defualt_steps'" in message.msg
    assert 'Did you mean "default_steps"?' in message.hint
    assert message.is_serious() is False


def test_a_misspelt_source_is_an_error_and_a_hint(settings):
    messages = with_model(settings, {"sourse": "org/model"})
    assert ids(messages) == ["generation.E002", "generation.W001"]
    assert 'Did you mean "source"?' in messages[1].hint


def test_engine_options_are_known_keys(settings):
    entry = {
        **GOOD_MODEL,
        "source": "org/model.safetensors",
        "config": "org/base",
        "pipeline": "StableDiffusionPipeline",
        "dtype": "float16",
        "safety_checker": "org/checker",
        "original_config": "org/yaml",
    }
    assert with_model(settings, entry) == []


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("default_steps", 0, "'default_steps' is 0; it must be 1-100"),
        ("default_steps", 101, "it must be 1-100"),
        ("default_steps", "25", "'default_steps' must be a whole number, not '25'"),
        ("default_steps", 12.5, "must be a whole number"),
        ("default_guidance", 31, "it must be 0-30"),
        ("default_guidance", True, "must be a number"),
        ("max_side", 32, "it must be 64-8192"),
        ("native_size", 4, "it must be 0 or 8-4096"),
        ("label", 5, "'label' must be text"),
        ("test_only", "yes", "'test_only' must be true or false"),
    ],
)
def test_numbers_and_text_must_have_the_right_type_and_range(settings, key, value, reason):
    message = only(with_model(settings, {**GOOD_MODEL, key: value}), "generation.E003")
    assert reason in message.msg
    assert message.hint


def test_guidance_may_be_a_decimal_and_native_size_zero(settings):
    assert with_model(settings, {**GOOD_MODEL, "default_guidance": 7.5, "native_size": 0}) == []


def test_tasks_must_be_known(settings):
    message = only(with_model(settings, {**GOOD_MODEL, "tasks": ["text2img", "txt2img"]}), "generation.E004")
    assert "unknown task(s) 'txt2img'" in message.msg and "text2img, img2img, inpaint" in message.hint
    assert ids(with_model(settings, {**GOOD_MODEL, "tasks": "text2img"})) == ["generation.E004"]


def test_an_upscaler_must_be_known_and_needs_native_size(settings):
    message = only(
        with_model(settings, {**GOOD_MODEL, "upscaler": "esrgan", "native_size": 64}), "generation.E005"
    )
    assert "unknown upscaler 'esrgan'" in message.msg and "realesrgan-x4" in message.hint
    message = only(with_model(settings, {**GOOD_MODEL, "upscaler": "realesrgan-x4"}), "generation.E005")
    assert "needs the model's native_size" in message.msg
    assert with_model(settings, {**GOOD_MODEL, "upscaler": "realesrgan-x4", "native_size": 64}) == []


def test_styles_must_be_a_non_empty_list_of_known_presets(settings):
    message = only(with_model(settings, {**GOOD_MODEL, "styles": ["none", "oil-paint"]}), "generation.E009")
    assert "unknown style(s) 'oil-paint'" in message.msg
    assert ", ".join(STYLES) in message.hint, "the hint names every known style"
    assert ids(with_model(settings, {**GOOD_MODEL, "styles": "emoji"})) == ["generation.E009"]
    assert ids(with_model(settings, {**GOOD_MODEL, "styles": []})) == ["generation.E009"]
    assert with_model(settings, {**GOOD_MODEL, "styles": ["emoji", "none"]}) == []


def test_a_model_with_an_unknown_style_is_refused_when_used(settings):
    settings.STUDIO_MODELS = {**django_settings.STUDIO_MODELS, "extra": {**GOOD_MODEL, "styles": ["oil"]}}
    with pytest.raises(ImproperlyConfigured, match=r"Model 'extra': unknown style\(s\) 'oil'\. Use only"):
        get_model("extra")


def test_a_model_offers_its_listed_styles_in_order_or_else_every_preset(settings):
    settings.STUDIO_MODELS = {
        **django_settings.STUDIO_MODELS,
        "listed": {**GOOD_MODEL, "styles": ["emoji", "none"]},
        "unlisted": GOOD_MODEL,
    }
    assert [style.label for style in get_model("listed").style_choices()] == ["Emoji", "No style"]
    assert get_model("unlisted").style_choices() == list(STYLES.values())
    assert get_model("unlisted").style_problem("watercolor") == ""
    assert get_model("listed").style_problem("watercolor") == (
        "Real draws only these styles: Emoji, No style; choose one of them or another model."
    )


@pytest.mark.parametrize(("key", "value"), [("pipeline", "FluxPipeline"), ("dtype", "fp8")])
def test_pipeline_and_dtype_come_from_the_allowed_lists(settings, key, value):
    message = only(with_model(settings, {**GOOD_MODEL, key: value}), "generation.E006")
    assert repr(value) in message.msg


def test_a_missing_local_source_is_a_warning_but_a_hub_id_is_not(settings, tmp_path):
    message = only(
        with_model(settings, {**GOOD_MODEL, "source": str(tmp_path / "absent")}), "generation.W002"
    )
    assert "does not exist" in message.msg and not message.is_serious()
    assert ids(with_model(settings, {**GOOD_MODEL, "source": "./absent/model.safetensors"})) == [
        "generation.W002"
    ]
    assert with_model(settings, {**GOOD_MODEL, "source": str(tmp_path)}) == []
    assert with_model(settings, {**GOOD_MODEL, "source": "org/not-downloaded-yet"}) == []


def test_a_test_only_model_is_not_checked_on_disk_unless_offered(settings, tmp_path):
    entry = {**GOOD_MODEL, "source": str(tmp_path / "absent"), "test_only": True}
    settings.STUDIO_TEST_MODELS = False
    assert with_model(settings, entry) == []
    settings.STUDIO_TEST_MODELS = True
    assert ids(with_model(settings, entry)) == ["generation.W002"]


def test_the_default_model_must_exist_and_not_be_test_only(settings):
    settings.STUDIO_DEFAULT_MODEL = "nope"
    assert "generation.E007" in ids(check_model_registry())
    settings.STUDIO_DEFAULT_MODEL = "tiny"
    settings.STUDIO_TEST_MODELS = False
    message = only(check_model_registry(), "generation.E008")
    assert "STUDIO_TEST_MODELS=1" in message.hint
    settings.STUDIO_TEST_MODELS = True
    assert "generation.E008" not in ids(check_model_registry())


# --- at start-up -------------------------------------------------------------------------------------------


def _start(command: list[str], **env: str) -> subprocess.CompletedProcess:
    """Run ``command`` on the embedded defaults plus ``env``, as tests/test_settings.py does."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "CELERY_", "STUDIO_", "DJANGO_"))
    }
    clean["DJANGO_SETTINGS_MODULE"] = "studio.settings"
    clean["STUDIO_VAR_DIR"] = str(django_settings.VAR_DIR)
    return subprocess.run(
        [sys.executable, *command],
        env={**clean, **env},
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_check_passes_on_the_default_configuration():
    result = _start(["manage.py", "check"])
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_manage_py_check_refuses_a_bad_models_json_and_allow_list_with_what_to_fix():
    models = {"mine": {"source": "org/model", "default_steps": 500, "sourse": "x"}}
    result = _start(
        ["manage.py", "check"],
        STUDIO_MODELS_JSON=json.dumps(models),
        STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS="c_limit,w_800 c_fil,w_1",
    )
    assert result.returncode != 0
    assert "(generation.E003) Model 'mine': 'default_steps' is 500; it must be 1-100." in result.stderr
    assert 'Did you mean "source"?' in result.stderr
    assert "(delivery.E001) STUDIO_DELIVERY_ALLOWED_TRANSFORMATIONS entry 'c_fil,w_1'" in result.stderr


def test_a_worker_refuses_to_start_on_a_bad_registry():
    models = {"mine": {"source": "org/model", "tasks": ["paint"]}}
    worker = ["-m", "celery", "-A", "studio", "worker", "-P", "solo", "--without-gossip", "--without-mingle"]
    result = _start(worker, STUDIO_MODELS_JSON=json.dumps(models))
    assert result.returncode != 0
    assert "(generation.E004) Model 'mine': unknown task(s) 'paint'." in result.stderr
    assert "The worker did not start." in result.stderr
