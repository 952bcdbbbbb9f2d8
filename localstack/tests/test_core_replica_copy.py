"""The replication engine's storage-level body copy (``relay_emulator.replica_write``), without an emulator:
spool files like LocalStack's ephemeral S3 storage (in memory up to a limit, then on disk)."""

from __future__ import annotations

import os
import tempfile
import threading

import pytest
from relay_emulator.replica_write import _file_copy, _spool_copy


class Spool(tempfile.SpooledTemporaryFile):
    """LocalStack's LockedSpooledTemporaryFile, as far as the copy uses it."""

    def __init__(self, max_size: int):
        super().__init__(max_size=max_size)
        self.position_lock = threading.RLock()
        self.internal_last_modified = 0


class Stored:
    def __init__(self, file):
        self.file = file
        self.size = None


@pytest.mark.parametrize("size", [0, 1, 1000, 3 * 1024 * 1024 + 7])
def test_file_copy_copies_exactly(size):
    data = os.urandom(size)
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
        src.write(data)
        src.flush()
        _file_copy(src.fileno(), dst.fileno(), size)
        dst.seek(0)
        assert dst.read() == data


def test_file_copy_fails_loudly_when_the_source_is_short():
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
        src.write(b"abc")
        src.flush()
        with pytest.raises(OSError, match="stopped at 3 of 10"):
            _file_copy(src.fileno(), dst.fileno(), 10)


@pytest.mark.parametrize(("size", "how"), [(100, "memory"), (64 * 1024, "file")])
def test_spool_copy_in_memory_and_on_disk(size, how):
    data = os.urandom(size)
    src = Spool(max_size=1024)
    src.write(data)
    src.seek(0)
    dest = Stored(Spool(max_size=1024))
    dest.file.write(b"stale bytes of an earlier attempt")
    assert _spool_copy(Stored(src), dest, size) == how
    assert dest.size == size
    dest.file.seek(0)
    assert dest.file.read() == data
    assert dest.file._rolled == (how == "file")  # a large replica lives on disk, like its source


def test_spool_copy_declines_other_storage():
    assert _spool_copy(Stored(object()), Stored(object()), 1) is None
