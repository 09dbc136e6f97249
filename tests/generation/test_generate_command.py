"""`manage.py generate`: PNGs with their parameters embedded, straight from the shell, no database rows
(it reads the prompt rules, so the tests have a database)."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA
from generation.imagefile import read_png_parameters

pytestmark = pytest.mark.django_db


def _generate(**options) -> tuple[list[str], str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("generate", stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue().splitlines(), stderr.getvalue()


def test_writes_count_pngs_whose_parameters_read_back(tmp_path, tiny_model_dir):
    paths, progress = _generate(
        prompt="a red apple",
        negative_prompt="blurry",
        style="watercolor",
        model="tiny",
        size="72x64",
        count=3,
        seed=40,
        steps=2,
        guidance=4.5,
        out=str(tmp_path / "out"),
    )

    assert sorted(Path(path) for path in paths) == sorted((tmp_path / "out").iterdir())
    assert len(paths) == 3
    seeds = []
    for path in paths:
        data = Path(path).read_bytes()
        embedded = read_png_parameters(data)
        seeds.append(embedded["seed"])
        assert (
            embedded["prompt"]
            == "a watercolor painting of a red apple, soft washes, paper texture, loose brush strokes"
        )
        assert embedded["user_prompt"] == "a red apple"
        assert embedded["negative_prompt"].startswith("blurry, ")
        assert (embedded["model"], embedded["style"], embedded["steps"], embedded["guidance"]) == (
            "tiny",
            "watercolor",
            2,
            4.5,
        )
        assert embedded["size"] == "72x64"
        assert embedded["scheduler"]
        assert "request" not in embedded and "upscaler" not in embedded
        assert TRAINED_ALGORITHMIC_MEDIA.encode() in data
        with Image.open(path) as image:
            assert image.size == (72, 64)
    assert sorted(seeds) == [40, 41, 42]
    assert "step 2/2" in progress


def test_a_second_run_never_overwrites_the_first(tmp_path, tiny_model_dir):
    options = {
        "prompt": "a cat",
        "model": "tiny",
        "size": "64x64",
        "steps": 1,
        "seed": 3,
        "out": str(tmp_path),
    }
    [first] = _generate(**options)[0]
    [second] = _generate(**options)[0]
    assert first != second
    assert Path(first).read_bytes() == Path(second).read_bytes(), "same seed, same image"


def test_the_default_model_from_a_shell_prints_only_the_paths(tmp_path):
    # A real process: the ncnn upscaler's own progress output must not reach stdout or stderr.
    env = {**os.environ, "STUDIO_VAR_DIR": str(settings.VAR_DIR), "STUDIO_TORCH_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "generate",
            "--prompt",
            "a coffee mug on a wooden desk",
            "--count",
            "2",
            "--steps",
            "2",
            "--seed",
            "9",
            "--out",
            str(tmp_path),
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    paths = result.stdout.splitlines()
    assert len(paths) == 2
    assert "%" not in result.stdout, "stdout carries the paths only"
    for path in paths:
        embedded = read_png_parameters(Path(path).read_bytes())
        assert (embedded["model"], embedded["size"]) == ("default", "512x512")
        assert embedded["upscaler"] == "Real-ESRGAN realesr-animevideov3-x4"
    assert "upscaled to 512 x 512 by Real-ESRGAN" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "nope"}, "Unknown --model 'nope'; registered models: default, tiny"),
        ({"count": 0}, "--count must be between 1 and 16"),
        ({"count": 17}, "--count must be between 1 and 16"),
        ({"steps": 0}, "--steps must be between 1 and 100"),
        ({"steps": 101}, "--steps must be between 1 and 100"),
        ({"guidance": -1.0}, "--guidance must be between 0.0 and 30.0"),
        ({"seed": -5}, "--seed must be between 0"),
        ({"style": "oil"}, "Unknown --style 'oil'"),
        (
            {"style": "watercolor"},
            "Studio default draws only these styles: No style, 3D render, Flat illustration, Emoji; "
            "choose one of them or another model. Their keys: none, 3d-render, flat-illustration, emoji.",
        ),
        ({"style": "cinematic"}, "Studio default draws only these styles: No style, 3D render,"),
        ({"prompt": "  "}, "--prompt is empty"),
        ({"size": "256x256"}, "Studio default makes 512 x 512 images only"),
        ({"size": "big"}, "--size must look like 512x512"),
        ({"model": "tiny", "size": "100x64"}, "The nearest to 100 x 64 it makes is 96 x 64"),
        ({"model": "tiny", "size": "1024x1024"}, "from 64 to 512 px"),
    ],
)
def test_bad_input_is_a_clear_error_before_any_model_loads(tmp_path, monkeypatch, options, message):
    def no_loading(spec):
        raise AssertionError("bad input must be refused before the model loads")

    monkeypatch.setattr("generation.management.commands.generate.scheduler_name", no_loading)
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        _generate(**{"prompt": "a red apple", "out": str(tmp_path / "out"), **options})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_out_folder_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="Cannot create --out folder"):
        _generate(prompt="a red apple", out=str(blocker / "images"))
    with pytest.raises(CommandError, match="is a file, not a folder"):
        _generate(prompt="a red apple", out=str(blocker))


def test_an_out_folder_without_write_permission_is_a_clear_error(tmp_path, monkeypatch):
    # The suite may run as root, which may write anywhere; the permission check itself is what is tested.
    monkeypatch.setattr("generation.management.commands.generate.os.access", lambda path, mode: False)
    with pytest.raises(CommandError, match="is not a folder this user can write to"):
        _generate(prompt="a red apple", out=str(tmp_path))
