"""The training command's options and checks, shared by ``manage.py train_default_model`` and
``python -m generation.training`` (the same command without Django, for a GPU machine that has only torch,
diffusers and transformers).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generation.training.catalogue import DEFAULT_OBJECT_COUNT, OBJECTS
from generation.training.networks import PRESETS
from generation.training.trainer import STATE_FILE, TrainConfig

# "decoder" is optional: it fine-tunes the VAE decoder alone, which keeps the trained UNet valid.
PHASES = ("vae", "unet", "decoder")


class OptionError(ValueError):
    """A bad option: the caller reports it as a usage error."""


@dataclass(frozen=True)
class Defaults:
    out: Path  # the export folder
    work_dir: Path  # the data packages and the full checkpoint


def add_arguments(parser: argparse.ArgumentParser, defaults: Defaults) -> None:
    parser.add_argument("--out", type=Path, default=defaults.out, help="export folder")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=defaults.work_dir,
        help="data package and full checkpoints (not committed)",
    )
    parser.add_argument(
        "--objects",
        type=int,
        default=None,
        help=f"train the first N catalogue objects (1-{len(OBJECTS)}); default: as many as already "
        f"trained, or {DEFAULT_OBJECT_COUNT} for a new model",
    )
    parser.add_argument("--phases", default="vae,unet", help="comma-separated subset of: vae,unet,decoder")
    parser.add_argument("--vae-steps", type=int, default=4000, help="total VAE steps over all runs")
    parser.add_argument("--unet-steps", type=int, default=1_000_000, help="total UNet steps over all runs")
    parser.add_argument(
        "--decoder-steps", type=int, default=0, help="total decoder fine-tune steps (phase 'decoder')"
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="stop this run after N minutes")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0, help="save and export this often")
    parser.add_argument("--vae-batch-size", type=int, default=16)
    parser.add_argument("--unet-batch-size", type=int, default=32)
    parser.add_argument("--unet-lr", type=float, default=3e-4)
    parser.add_argument(
        "--balance-cap",
        type=float,
        default=4.0,
        help="sample objects added in a later run up to N times as often until they catch up (1: off)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of a new run (a resumed run keeps its own)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log-every", type=int, default=25, help="print progress every N steps")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start a new run's UNet and text encoder from this model folder (same sizes)",
    )
    parser.add_argument(
        "--mixed-precision",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on for a GPU, off for a CPU)",
    )
    parser.add_argument(
        "--data-workers",
        type=int,
        default=None,
        help="processes compositing batches ahead; on a CPU they also run the frozen VAE encoder for the "
        "UNet (default: 1 on a CPU, 8 on a GPU)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore earlier training and start over")
    parser.add_argument(
        "--model-preset",
        default="default",
        choices=sorted(PRESETS),
        help="model sizes ('test': tests only)",
    )


def config_from_options(options: dict[str, Any]) -> TrainConfig:
    """Check the options and turn them into a TrainConfig; sets torch's thread count when asked."""
    phases = tuple(phase.strip() for phase in options["phases"].split(",") if phase.strip())
    unknown = set(phases) - set(PHASES)
    if unknown or not phases:
        raise OptionError(f"--phases takes a subset of {','.join(PHASES)}, got {options['phases']!r}")
    if options["device"].startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda was asked for, but torch sees no CUDA device.")
    if options["balance_cap"] < 1:
        raise OptionError("--balance-cap must be at least 1 (1 samples every object equally).")
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    out = Path(options["out"])
    object_count = options["objects"] or _trained_object_count(out, options["fresh"]) or DEFAULT_OBJECT_COUNT
    workers = options["data_workers"]
    return TrainConfig(
        output_dir=out,
        work_dir=Path(options["work_dir"]),
        object_count=object_count,
        phases=phases,
        vae_steps=options["vae_steps"],
        unet_steps=options["unet_steps"],
        decoder_steps=options["decoder_steps"],
        vae_batch_size=options["vae_batch_size"],
        unet_batch_size=options["unet_batch_size"],
        unet_lr=options["unet_lr"],
        balance_cap=options["balance_cap"],
        checkpoint_minutes=options["checkpoint_minutes"],
        max_minutes=options["max_minutes"],
        log_every=options["log_every"],
        seed=options["seed"],
        device=options["device"],
        resume=not options["fresh"],
        model_preset=options["model_preset"],
        init_from=options["init_from"],
        mixed_precision=options["mixed_precision"],
        data_workers=workers if workers is not None else (1 if options["device"] == "cpu" else 8),
    )


def _trained_object_count(out: Path, fresh: bool) -> int | None:
    state_path = out / STATE_FILE
    if fresh or not state_path.exists():
        return None
    return len(json.loads(state_path.read_text()).get("objects", [])) or None
