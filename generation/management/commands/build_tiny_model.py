"""Build the tiny random-weight pipeline that tests and the ``tiny`` registry entry use."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from generation.engine.tiny import build_tiny_pipeline


class Command(BaseCommand):
    help = "Build the tiny random-weight Stable Diffusion pipeline (for fast tests) into a folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out", type=Path, default=None, help="target folder (default: STUDIO_MODEL_DIR/tiny)"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
        parser.add_argument("--force", action="store_true", help="rebuild even if the folder holds a model")

    def handle(self, *args: Any, **options: Any) -> None:
        # call_command passes options unparsed, so a str may arrive here.
        out = Path(options["out"] or Path(settings.STUDIO_MODEL_DIR) / "tiny")
        if (out / "model_index.json").exists() and not options["force"]:
            self.stdout.write(f"Tiny model already present in {out}; skipping (use --force to rebuild).")
            return
        if out.exists() and options["force"]:
            # A rebuild must not leave files of an older layout behind.
            shutil.rmtree(out)
        build_tiny_pipeline(out, seed=options["seed"])
        self.stdout.write(self.style.SUCCESS(f"Tiny model written to {out}"))
