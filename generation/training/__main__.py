"""``python -m generation.training``: the training command without Django, for a machine with only torch.

Takes the options of ``manage.py train_default_model`` (see generation/training/cli.py); paths default to
this checkout's models/default and var/training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generation.training import cli
from generation.training.catalogue import DEFAULT_OBJECT_COUNT, OBJECTS
from generation.training.looks import bundle_packages, ensure_packages
from generation.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generation.training", description=__doc__)
    cli.add_arguments(
        parser, cli.Defaults(out=ROOT / "models" / "default", work_dir=ROOT / "var" / "training")
    )
    parser.add_argument(
        "--bundle-data",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy only the art the first --objects objects need into DIR/data (to carry to a GPU "
        "machine as its --work-dir), then exit",
    )
    options = vars(parser.parse_args(argv))
    if options["bundle_data"] is not None:
        count = options["objects"] or DEFAULT_OBJECT_COUNT
        packages = ensure_packages(Path(options["work_dir"]) / "data")
        names = [entry.short_name for entry in OBJECTS[:count]]
        bundle_packages(packages, names, Path(options["bundle_data"]) / "data")
        print(f"Bundled the art of {count} objects into {options['bundle_data']}/data")
        return 0
    try:
        trainer = Trainer(cli.config_from_options(options))
    except ValueError as error:
        parser.error(str(error))
    trainer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
