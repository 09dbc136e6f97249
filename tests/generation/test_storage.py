"""Where generation stores files, and that a file whose rows are never written is not left behind."""

import re
from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage

from generation.storage import storage_key, stored_files

# Files only, no database or broker: the services pass leaves it out.
pytestmark = pytest.mark.storage_free

FILES = [("masks/a.png", b"a"), ("masks/b.png", b"b")]


def test_a_new_file_gets_a_random_name_under_its_folder_and_this_month():
    now = datetime.now(UTC)
    key = storage_key(folder="imported", extension="jpg")
    assert re.fullmatch(rf"imported/{now:%Y/%m}/[0-9a-f]{{32}}\.jpg", key)
    assert key != storage_key(folder="imported", extension="jpg")


def test_a_derived_name_and_month_give_the_same_key_every_time():
    month = datetime(2025, 3, 31, 23, 59, tzinfo=UTC)
    assert storage_key(folder="generated", extension="png", stem="abc-2-0", month=month) == (
        "generated/2025/03/abc-2-0.png"
    )


def test_files_are_kept_when_their_rows_are_written():
    with stored_files(FILES) as names:
        pass
    assert [default_storage.open(name).read() for name in names] == [b"a", b"b"]


def test_files_are_deleted_again_when_their_rows_are_not_written():
    with pytest.raises(RuntimeError), stored_files(FILES) as names:
        assert all(default_storage.exists(name) for name in names)
        raise RuntimeError("the transaction failed")
    assert not any(default_storage.exists(name) for name in names)


def test_a_file_that_cannot_be_stored_takes_the_ones_stored_before_it_away(monkeypatch):
    save = default_storage.save

    def full_disk(name: str, content):
        if name.endswith("b.png"):
            raise OSError("No space left on device")
        return save(name, content)

    monkeypatch.setattr(default_storage, "save", full_disk)
    with pytest.raises(OSError, match="No space"), stored_files(FILES):
        pytest.fail("the block must not run without all its files")
    assert not default_storage.exists("masks/a.png")
