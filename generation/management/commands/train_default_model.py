"""Train (or continue training) Studio's default text-to-image model and export it with save_pretrained.

Examples::

    python manage.py train_default_model --max-minutes 120 --threads 1          # start or continue
    python manage.py train_default_model --objects 200 --max-minutes 90          # grow to more objects
    python manage.py train_default_model --device cuda --unet-batch-size 256     # the same run on a GPU

``python -m generation.training`` takes the same options without Django (for a GPU machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.training import cli
from generation.training.trainer import Trainer


class Command(BaseCommand):
    help = "Train the default model from three emoji art packages (npm); resumes from earlier runs."

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = cli.Defaults(
            out=Path(settings.BASE_DIR) / "models" / "default", work_dir=Path(settings.VAR_DIR) / "training"
        )
        cli.add_arguments(parser, defaults)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            trainer = Trainer(cli.config_from_options(options))
        except ValueError as error:  # cli.OptionError, or what the trainer refuses (sizes, dropped objects)
            raise CommandError(str(error)) from error
        trainer.run()
