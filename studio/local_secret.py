"""A secret key made once per var directory, so a single machine never runs on a public default key."""

import contextlib
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def local_secret_key(path: Path) -> str:
    """Read the key at `path`, creating it (random, mode 0600) on the first start.

    Two processes starting at once (the web server and a worker) must end up with the same key: the new key
    is written to a private temporary file and then hard-linked into place, which fails if the other process
    linked first; the loser reads the winner's key. A reader never sees a half-written file.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(secrets.token_urlsafe(50) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # If another process linked its key first, that key is the one everyone uses.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured(f"{path} holds no usable secret key: delete it to make a new one.")
    return key
