"""Prompt rules and the output safety checker, at every entry point that makes images."""

import io
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from generation import moderation, services
from generation.engine.safety import build_tiny_safety_checker, clear_safety_checker_cache
from generation.imagefile import read_png_parameters
from generation.models import Asset, GenerationRequest, PromptRule
from tests.forms import generate_form_data, generation_parameters
from tests.generation.test_refine import subject_image

Rule = moderation.Rule


# --- Matching -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "prompt", "matched"),
    [
        (Rule("café", "word", "Brand safety", "block"), "a CAFE on a desk", "CAFE"),
        (Rule("cafe", "word", "Brand safety", "block"), "Crème Café au lait", "Café"),
        (Rule("ass", "word", "Unsafe", "block"), "a class of students", None),
        (Rule("ass", "word", "Unsafe", "block"), "a donkey, an ass!", "ass"),
        (Rule("coca cola", "phrase", "Competitor", "flag"), "a COCA   Cola can", "COCA   Cola"),
        (Rule("coca cola", "phrase", "Competitor", "flag"), "a coca-cola can", None),
        (Rule(r"guns?", "regex", "Unsafe", "block"), "two Guns", "Guns"),
        (Rule(r"guns?", "regex", "Unsafe", "block"), "a gunshot", None),
        (Rule("naïve", "word", "Legal", "block"), "a naive robot", "naive"),
        (Rule("rival", "word", "Competitor", "block"), "a Ri\u200bval\u00ad mug", "Ri\u200bval"),
        (Rule("\uff43\uff4f\uff4c\uff41", "word", "Competitor", "block"), "a cola", "cola"),
    ],
)
def test_rules_match_case_and_accent_insensitively_on_word_boundaries(rule, prompt, matched):
    verdict = moderation.check([rule], prompt=prompt)
    found = verdict.blocked or verdict.flagged
    assert (found[0].text if found else None) == matched


def test_the_negative_prompt_is_checked_too_and_the_message_names_category_and_words():
    verdict = moderation.check(
        [Rule("rival", "word", "Competitor", "block")], prompt="a mug", negative_prompt="Rival logo"
    )
    assert verdict.blocked[0].field == "negative prompt"
    assert 'Competitor: "Rival" in the negative prompt' in verdict.message


@pytest.mark.parametrize(
    ("pattern", "kind", "message"),
    [
        ("", "phrase", "empty"),
        ("two words", "word", "one word"),
        ("(unclosed", "regex", "does not compile"),
        ("a*", "regex", "matches empty text"),
        ("x" * 301, "phrase", "over 300"),
    ],
)
def test_unusable_patterns_are_refused_with_a_reason(pattern, kind, message):
    with pytest.raises(moderation.RuleError, match=message):
        moderation.compile_rule(pattern, kind)


@pytest.mark.django_db
def test_an_admin_rule_with_a_broken_pattern_does_not_validate():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="does not compile"):
        PromptRule(pattern="(bad", kind="regex").full_clean()


# --- The services and forms -------------------------------------------------------------------------------


def _parameters(prompt: str, negative: str = "") -> services.GenerationParameters:
    return generation_parameters(prompt=prompt, negative_prompt=negative)


@pytest.fixture
def rules(db):
    PromptRule.objects.create(pattern="rival cola", kind="phrase", category="competitor", action="block")
    PromptRule.objects.create(pattern="beer", kind="word", category="legal", action="flag")
    PromptRule.objects.create(pattern="apple", kind="word", category="other", action="block", enabled=False)


def test_a_blocked_prompt_queues_nothing(marketer, rules, no_enqueue):
    with pytest.raises(services.PromptBlockedError, match='Competitor: "Rival Cola"'):
        services.generation_request_create(user=marketer, parameters=_parameters("a can of Rival Cola"))
    assert not GenerationRequest.objects.exists()


def test_disabled_rules_do_nothing(marketer, rules, no_enqueue):
    request = services.generation_request_create(user=marketer, parameters=_parameters("an apple"))
    assert request.moderation_flags == []


def test_the_operators_blocklist_blocks_too(marketer, rules, no_enqueue, settings):
    settings.STUDIO_PROMPT_BLOCKLIST = ["brand x", "gore"]
    with pytest.raises(services.PromptBlockedError, match='Operator blocklist: "Brand  X"'):
        services.generation_request_create(user=marketer, parameters=_parameters("a Brand  X mug"))


def test_a_flagged_prompt_runs_and_its_images_carry_the_flag_into_review(
    marketer, rules, no_enqueue, tiny_model_dir, django_capture_on_commit_callbacks
):
    request = services.generation_request_create(user=marketer, parameters=_parameters("a cold beer"))
    assert request.moderation_flags[0]["category"] == "Legal"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.generation_request_execute(request_id=request.pk) == "succeeded"
    asset = request.assets.get()
    assert asset.is_flagged
    assert asset.flags == [
        {
            "source": "prompt rule",
            "rule": PromptRule.objects.get(pattern="beer").pk,
            "pattern": "beer",
            "category": "Legal",
            "field": "prompt",
            "matched": "beer",
        }
    ]


def test_the_generate_form_shows_the_block_reason_and_stores_nothing(client, marketer, rules, no_enqueue):
    client.force_login(marketer)
    response = client.post("/generate/", generate_form_data(prompt="rival COLA on ice"))
    assert response.status_code == 400
    assert "Competitor" in response.content.decode() and "rival COLA" in response.content.decode()
    assert not GenerationRequest.objects.exists()


def test_the_refine_form_refuses_a_blocked_prompt(client, marketer, make_asset, rules, no_enqueue):
    source = make_asset(image=subject_image())
    client.force_login(marketer)
    response = client.post(
        f"/assets/{source.pk}/refine/",
        {
            "operation": "img2img",
            "model": "tiny",
            "prompt": "Rival Cola bottle",
            "num_images": "1",
            "anchor": "center",
            "scale": "2",
            "mode": "img2img",
        },
    )
    assert response.status_code == 400
    assert "Competitor" in response.content.decode()
    assert not GenerationRequest.objects.filter(operation="img2img").exists()


def test_the_generate_command_refuses_a_blocked_prompt_and_marks_a_flagged_one(
    rules, tmp_path, tiny_model_dir
):
    with pytest.raises(CommandError, match='Competitor: "rival cola"'):
        call_command(
            "generate",
            prompt="rival cola",
            model="tiny",
            out=str(tmp_path / "out"),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert not (tmp_path / "out").exists()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "generate",
        prompt="a beer",
        model="tiny",
        size="64x64",
        steps=2,
        out=str(tmp_path),
        stdout=out,
        stderr=err,
    )
    assert "Flagged for review" in err.getvalue()
    embedded = read_png_parameters(Path(out.getvalue().split()[0]).read_bytes())
    assert embedded["moderation"][0]["matched"] == "beer"


def test_the_refine_command_refuses_a_blocked_prompt(rules, tmp_path):
    source = tmp_path / "in.png"
    subject_image().save(source)
    with pytest.raises(CommandError, match="Competitor"):
        call_command(
            "refine",
            "img2img",
            "--image",
            str(source),
            "--prompt",
            "rival cola",
            "--model",
            "tiny",
            "--out",
            str(tmp_path / "out"),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


# --- The output safety checker ------------------------------------------------------------------------------


@pytest.fixture
def checker(tmp_path_factory, settings):
    """Point the tiny model (and the default model, for operations without one) at a tiny checker."""

    def install(threshold: float) -> Path:
        folder = tmp_path_factory.mktemp("checker")
        build_tiny_safety_checker(folder, threshold=threshold)
        models = dict(settings.STUDIO_MODELS)
        for key in ("tiny", "default"):
            models[key] = {**models[key], "safety_checker": str(folder)}
        settings.STUDIO_MODELS = models
        clear_safety_checker_cache()
        return folder

    yield install
    clear_safety_checker_cache()


@pytest.mark.parametrize(("threshold", "flagged"), [(-2.0, True), (2.0, False)])
def test_the_worker_runs_the_models_safety_checker_on_every_image(
    marketer, checker, threshold, flagged, no_enqueue, tiny_model_dir, django_capture_on_commit_callbacks
):
    folder = checker(threshold)
    request = services.generation_request_create(user=marketer, parameters=_parameters("a red apple"))
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_request_execute(request_id=request.pk)
    asset = request.assets.get()
    assert asset.is_flagged is flagged
    if flagged:
        assert asset.flags == [
            {
                "source": "safety checker",
                "checker": str(folder),
                "category": "Unsafe",
                "matched": "the safety checker found a sensitive concept",
            }
        ]
        assert default_storage.exists(asset.file.name), "a flagged image is stored, for review"


def test_refined_images_are_checked_too_even_without_a_diffusion_model(
    marketer, make_asset, checker, no_enqueue, django_capture_on_commit_callbacks
):
    checker(-2.0)
    source = make_asset(image=subject_image())
    request = services.refine_request_create(
        user=marketer, source=source, parameters=services.RefineParameters(operation="upscale", scale=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_request_execute(request_id=request.pk)
    assert Asset.objects.get(request=request).is_flagged


def test_a_checker_that_cannot_load_fails_the_request_with_a_reason(
    marketer, settings, no_enqueue, tiny_model_dir, tmp_path
):
    models = dict(settings.STUDIO_MODELS)
    models["tiny"] = {**models["tiny"], "safety_checker": str(tmp_path / "missing-checker")}
    settings.STUDIO_MODELS = models
    clear_safety_checker_cache()
    request = services.generation_request_create(user=marketer, parameters=_parameters("a red apple"))
    assert services.generation_request_execute(request_id=request.pk) == "failed"
    request.refresh_from_db()
    assert "safety checker" in request.error and not request.assets.exists()


def test_the_generate_command_marks_images_the_checker_flags(rules, checker, tmp_path, tiny_model_dir):
    checker(-2.0)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "generate",
        prompt="a pear",
        model="tiny",
        size="64x64",
        steps=2,
        out=str(tmp_path),
        stdout=out,
        stderr=err,
    )
    embedded = read_png_parameters(Path(out.getvalue().split()[0]).read_bytes())
    assert embedded["moderation"][0]["source"] == "safety checker"
    assert "Flagged for review" in err.getvalue()


def test_a_pipeline_folder_with_a_safety_checker_subfolder_loads(tmp_path):
    from generation.engine.safety import SafetyChecker

    build_tiny_safety_checker(tmp_path / "safety_checker", threshold=-2.0)
    (tmp_path / "feature_extractor").mkdir()
    for name in ("preprocessor_config.json",):
        (tmp_path / "safety_checker" / name).rename(tmp_path / "feature_extractor" / name)
    verdicts = SafetyChecker(str(tmp_path)).check([Image.new("RGB", (40, 30), "red")])
    assert verdicts[0].flagged
