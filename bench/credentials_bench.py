"""Content credentials benchmark: what C2PA signing adds to a generation and to a cold delivery variant.

    .venv/bin/python bench/credentials_bench.py [--runs 7] [--out var/bench/credentials.md]

What it does, in this process, with its own STUDIO_VAR_DIR under var/bench/credentials-run/ (wiped first;
Studio's development certificate is made there):
1. generation: a 1024x1024 image (gradients under noise, as a diffusion output looks to the PNG encoder)
   written by ``imagefile.encode_png`` (no credentials) and by ``credentials.signed_png`` (the worker's path:
   the same PNG, then signed), for text to image (``c2pa.created``) and for a refinement (``c2pa.edited``
   with the 1024x1024 parent as ingredient); medians of N runs after one warm-up;
2. cold variants: the renderer (``delivery.rendering.render``) alone, then with the signing delivery does
   after it (``delivery.services._with_credentials``: the approved file as ingredient), for JPEG, WebP, AVIF
   and PNG, from two masters: Studio's signed 1024x1024 PNG and a 12-megapixel JPEG upload (4000x3000,
   q90, no credentials), each rendered as ``c_fill,w_800,h_600``; medians of N runs after one warm-up;
3. the bytes a manifest adds to each file.

A cached variant never pays any of this: it is signed once, when it is rendered, and stored signed.
The table goes to stdout and var/bench/credentials.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.machine import training_job_running  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
RUN_DIR = BENCH_DIR / "credentials-run"
REPORT = BENCH_DIR / "credentials.md"
FORMATS = ("jpg", "webp", "avif", "png")
TRANSFORMATION = "c_fill,w_800,h_600"


def synthetic_image(width: int, height: int, seed: int) -> Image.Image:
    """Gradients under noise: compresses about as badly as a real photo or a diffusion output does."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    base = np.concatenate([x * np.ones_like(y), y * np.ones_like(x), (x + y) / 2], axis=2) * 200
    noise = rng.normal(0, 18, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def median_seconds(function, runs: int) -> tuple[float, object]:
    result = (
        function()
    )  # warm-up: first-use costs (the signer's key, libvips' loaders) are not the steady state
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    os.environ["STUDIO_VAR_DIR"] = str(RUN_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    os.environ.pop("STUDIO_C2PA", None)
    import django

    django.setup()
    import c2pa
    import pyvips

    from delivery.rendering import render
    from delivery.services import _with_credentials
    from delivery.transformations import parse_delivery_path
    from generation import credentials
    from generation.imagefile import encode_png

    model = credentials.ModelVersion(key="default", source="models/default", revision="bench")
    parameters = {"prompt": "a red bicycle on a blue background", "model": "default", "seed": 1, "steps": 20}
    image = synthetic_image(1024, 1024, seed=1)
    parent_png = credentials.signed_png(
        synthetic_image(1024, 1024, seed=2),
        parameters,
        title="parent.png",
        actions=credentials.refinement_actions(operation="text2img", model=model),
        parent=None,
    ).data

    # what, seconds without credentials, with them, signing alone; bytes without, with
    rows: list[tuple[str, float, float, float, int, int]] = []
    plain_seconds, plain = median_seconds(lambda: encode_png(image, parameters), args.runs)
    for label, operation, parent in [
        ("text to image (c2pa.created)", "text2img", None),
        ("refinement (c2pa.edited, 1024x1024 parent as ingredient)", "replace_background", parent_png),
    ]:
        ingredient = credentials.Ingredient(parent, "png", "parent.png") if parent else None
        signed_seconds, signed = median_seconds(
            lambda operation=operation, ingredient=ingredient: credentials.signed_png(
                image,
                parameters,
                title="bench.png",
                actions=credentials.refinement_actions(operation=operation, model=model),
                parent=ingredient,
            ),
            args.runs,
        )
        signing_seconds, _ = median_seconds(
            lambda operation=operation, ingredient=ingredient: credentials.sign(
                plain.data,
                format="png",
                title="bench.png",
                actions=credentials.refinement_actions(operation=operation, model=model),
                parent=ingredient,
            ),
            args.runs,
        )
        rows.append(
            (
                f"generation, 1024x1024 PNG: {label}",
                plain_seconds,
                signed_seconds,
                signing_seconds,
                len(plain.data),
                len(signed.data),
            )
        )

    buffer = io.BytesIO()
    synthetic_image(4000, 3000, seed=3).save(buffer, format="JPEG", quality=90)
    masters = [
        ("Studio-made, signed 1024x1024 PNG", parent_png, "png"),
        ("12-MP JPEG upload", buffer.getvalue(), "jpg"),
    ]
    for master_label, source, source_format in masters:
        asset = SimpleNamespace(pk=0, format=source_format)
        for fmt in FORMATS:
            chain = parse_delivery_path(f"{TRANSFORMATION}/bench.{fmt}").components

            def cold_render(source=source, chain=chain, fmt=fmt):
                return render(source, chain, output_format=fmt, ai_generated=True)

            def cold_render_signed(source=source, chain=chain, fmt=fmt, asset=asset):
                rendered = render(source, chain, output_format=fmt, ai_generated=True)
                return _with_credentials(rendered, asset=asset, source=source, public_id="bench")

            without, rendered = median_seconds(cold_render, args.runs)
            with_credentials, signed = median_seconds(cold_render_signed, args.runs)
            signing, _ = median_seconds(
                lambda rendered=rendered, source=source, asset=asset: _with_credentials(
                    rendered, asset=asset, source=source, public_id="bench"
                ),
                args.runs,
            )
            reader = c2pa.Reader.try_create(rendered.content_type, io.BytesIO(signed.data))
            assert reader is not None, f"{fmt} variant carries no manifest"
            reader.close()
            rows.append(
                (
                    f"cold variant {TRANSFORMATION} -> {fmt}, from a {master_label}",
                    without,
                    with_credentials,
                    signing,
                    len(rendered.data),
                    len(signed.data),
                )
            )

    libvips = f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
    lines = [
        "# Content credentials (C2PA): time and bytes they add",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, c2pa-python {c2pa.__version__} "
        f"(c2pa-rs {c2pa.sdk_version()}), libvips {libvips}; medians of {args.runs} runs after one "
        "warm-up, in one process, ES256 with Studio's development certificate, no timestamp authority. "
        "The signing column times the signing step alone on the same bytes (the difference of the first "
        "two columns is noisier).",
    ]
    if training_job_running():
        lines.append("")
        lines.append("**A training job was running on this machine and took a core: times are inflated.**")
    lines += [
        "",
        "| what | without credentials | with credentials | signing alone | bytes without | bytes added |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for what, without, with_credentials, signing, size, signed_size in rows:
        lines.append(
            f"| {what} | {without * 1000:.1f} ms | {with_credentials * 1000:.1f} ms | "
            f"{signing * 1000:.1f} ms | {size:,} | {signed_size - size:+,} |"
        )
    lines += [
        "",
        "A cached variant is served from the stored, already signed bytes: credentials add nothing to a hit.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
