"""What the benchmarks record about the machine they ran on, shared by both benchmark scripts."""

from pathlib import Path


def training_job_running() -> bool:
    """Whether `manage.py train_default_model` is running here: it takes a core, so results say so."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"train_default_model" in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False
