"""Files in storage for the rows that refer to them: one key scheme, and no file left without its rows.

Generated results, refine masks, imports and uploads are all stored this way. Keys stored before this scheme
existed keep working: a row holds its file's name, whatever the scheme was when it was written.
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone


def storage_key(*, folder: str, extension: str, stem: str = "", month: datetime | None = None) -> str:
    """Where a new file goes: ``<folder>/<yyyy>/<mm>/<stem>.<extension>``.

    By default the month is this one and the stem random. A caller that must find its file again with no row
    to read the name from (a job attempt cleaning up after a killed one) derives both instead.
    """
    month = month or timezone.now()
    return f"{folder}/{month:%Y/%m}/{stem or uuid.uuid4().hex}.{extension}"


@contextmanager
def stored_files(files: Sequence[tuple[str, bytes]]) -> Iterator[list[str]]:
    """Store each ``(key, content)`` and give the block the names they were stored under.

    The block writes the rows that refer to the files and commits them (a ``transaction.atomic()`` inside the
    block). If anything fails, from storing the files to that commit, the files already stored are deleted
    again: no row refers to them, so they would be orphans.
    """
    names: list[str] = []
    try:
        for key, content in files:
            names.append(default_storage.save(key, ContentFile(content)))
        yield names
    except Exception:
        for name in names:
            default_storage.delete(name)
        raise
