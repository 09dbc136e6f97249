"""`manage.py refine`: the web form's checks and the worker's engine, from the shell."""

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image, ImageDraw

from generation.disclosure import TRAINED_ALGORITHMIC_MEDIA
from generation.imagefile import read_png_parameters
from tests.generation.test_refine import subject_image

# The commands read the prompt rules admins keep in the database.
pytestmark = pytest.mark.django_db


def _save(image: Image.Image, path: Path, format: str = "PNG") -> Path:
    image.save(path, format=format)
    return path


def _refine(*args: str) -> tuple[list[Path], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("refine", *args, stdout=out, stderr=err)
    return [Path(line) for line in out.getvalue().split()], err.getvalue()


@pytest.fixture
def source(tmp_path) -> Path:
    return _save(subject_image(), tmp_path / "apple.png")


@pytest.fixture
def mask(tmp_path) -> Path:
    mask = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(mask).rectangle((35, 15, 60, 50), fill=255)
    return _save(mask, tmp_path / "mask.png")


def test_inpaint_writes_pngs_with_the_operation_and_the_source_hash_embedded(
    tmp_path, source, mask, tiny_model_dir
):
    paths, err = _refine(
        "inpaint",
        "--image",
        str(source),
        "--mask",
        str(mask),
        "--prompt",
        "a pear",
        "--model",
        "tiny",
        "--steps",
        "3",
        "--count",
        "2",
        "--seed",
        "5",
        "--out",
        str(tmp_path / "out"),
    )
    assert len(paths) == 2 and all(path.is_file() for path in paths)
    assert "Inpaint: step" in err, "progress goes to stderr"
    data = paths[0].read_bytes()
    embedded = read_png_parameters(data)
    assert embedded["operation"] == "inpaint"
    assert embedded["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert embedded["seed"] == 5 and embedded["model"] == "tiny" and embedded["steps"] == 3
    assert embedded["strength"] == 1.0
    assert TRAINED_ALGORITHMIC_MEDIA.encode() in data


def test_upscale_and_outpaint_sizes(tmp_path, source):
    [upscaled], _ = _refine("upscale", "--image", str(source), "--scale", "4", "--out", str(tmp_path))
    with Image.open(upscaled) as image:
        assert image.size == (384, 256)
    [restored], _ = _refine("restore", "--image", str(source), "--out", str(tmp_path))
    with Image.open(restored) as image:
        assert image.size == (96, 64)


def test_outpaint_by_pixels_keeps_the_original(tmp_path, source, tiny_model_dir):
    [path], _ = _refine(
        "outpaint",
        "--image",
        str(source),
        "--pad",
        "0,10,30,0",
        "--model",
        "tiny",
        "--steps",
        "2",
        "--out",
        str(tmp_path),
    )
    with Image.open(path) as result, Image.open(source) as original:
        assert result.size == (126, 74)
        assert result.convert("RGB").crop((0, 10, 96, 74)).tobytes() == original.convert("RGB").tobytes()


def test_an_existing_result_is_never_overwritten(tmp_path, source):
    first, _ = _refine("recolor", "--image", str(source), "--color", "gold", "--out", str(tmp_path))
    second, _ = _refine("recolor", "--image", str(source), "--color", "gold", "--out", str(tmp_path))
    assert first != second and first[0].exists() and second[0].exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["remove"], "needs a mask"),
        (["inpaint", "--mask", "{mask}"], "needs a prompt"),
        (["remove", "--mask", "{source}"], "must be black and white"),
        (["remove", "--mask", "{jpeg_mask}"], "must be a PNG"),
        (["remove", "--mask", "{square_mask}"], "aspect ratio"),
        (["remove", "--mask", "{tmp}/missing.png"], "no such file"),
        (["upscale", "--scale", "3"], "Upscale by 2 or 4"),
        (["outpaint"], "Choose a target aspect ratio"),
        (["outpaint", "--pad", "1,2,3"], "--pad must be"),
        (["recolor", "--color", "blurple"], "is not a colour"),
        (["img2img", "--prompt", "x", "--model", "missing"], "No model 'missing'"),
        (["variations", "--mode", "seeds"], "generated from text"),
        (["img2img", "--prompt", "x", "--steps", "0"], "--steps must be"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_write_nothing(tmp_path, source, mask, args, message):
    Image.new("L", (96, 64)).save(tmp_path / "mask.jpg", format="JPEG")
    Image.new("L", (64, 64)).save(tmp_path / "square.png")
    values = {
        "mask": str(mask),
        "source": str(source),
        "jpeg_mask": str(tmp_path / "mask.jpg"),
        "square_mask": str(tmp_path / "square.png"),
        "tmp": str(tmp_path),
    }
    args = [arg.format(**values) for arg in args]
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=message):
        _refine(*args, "--image", str(source), "--out", str(out))
    assert not out.exists() or not any(out.iterdir())


def test_an_operation_the_model_does_not_support_is_refused(tmp_path, source, mask, settings):
    settings.STUDIO_MODELS = {
        **settings.STUDIO_MODELS,
        "tiny": {**settings.STUDIO_MODELS["tiny"], "tasks": ["text2img"]},
    }
    with pytest.raises(CommandError, match="cannot remove object"):
        _refine(
            "remove", "--image", str(source), "--mask", str(mask), "--model", "tiny", "--out", str(tmp_path)
        )


def test_a_text_file_named_png_is_not_an_image(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    with pytest.raises(CommandError, match="not a readable image"):
        _refine("upscale", "--image", str(fake), "--out", str(tmp_path))


def test_variations_with_new_seeds_reuse_the_prompt_embedded_in_a_studio_png(tmp_path, tiny_model_dir):
    out = io.StringIO()
    call_command(
        "generate",
        "--prompt",
        "a red apple",
        "--model",
        "tiny",
        "--size",
        "64x64",
        "--steps",
        "2",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "gen"),
        stdout=out,
        stderr=io.StringIO(),
    )
    generated = out.getvalue().split()[0]
    [path], _ = _refine(
        "variations",
        "--mode",
        "seeds",
        "--image",
        generated,
        "--model",
        "tiny",
        "--steps",
        "2",
        "--seed",
        "9",
        "--out",
        str(tmp_path / "var"),
    )
    embedded = read_png_parameters(path.read_bytes())
    assert embedded["prompt"] == "a red apple" and embedded["seed"] == 9 and embedded["mode"] == "seeds"
