"""Persistence files (``relay_emulator.core.persistence``), without an emulator: the journal (replay in
order, a torn last line ignored, rotation), atomic snapshots and the manifest."""

from __future__ import annotations

import json
import os

import pytest
from relay_emulator.core import persistence as p


def test_journal_replays_in_order_across_segments(tmp_path):
    j = p.Journal(tmp_path)
    j.append({"n": 1})
    j.append({"n": 2})
    second = j.rotate()
    j.append({"n": 3})
    j.close()
    assert [r["n"] for r in p.replay(tmp_path, 0)] == [1, 2, 3]
    assert [r["n"] for r in p.replay(tmp_path, second)] == [3]
    # a new journal on the same folder never appends to an old segment
    j2 = p.Journal(tmp_path)
    assert j2.number == second + 1
    j2.append({"n": 4})
    j2.close()
    assert [r["n"] for r in p.replay(tmp_path, second)] == [3, 4]


def test_torn_last_line_is_ignored(tmp_path):
    j = p.Journal(tmp_path)
    j.append({"n": 1})
    j.append({"n": 2})
    j.close()
    path = p.segment_path(tmp_path, j.number)
    with open(path, "ab") as fh:
        fh.write(b'{"n": 3, "body": "abc')  # the writer died mid-line: never acknowledged
    records, ignored = p.read_segment(path)
    assert [r["n"] for r in records] == [1, 2] and ignored == 1
    assert [r["n"] for r in p.replay(tmp_path, 0)] == [1, 2]


def test_unparsable_last_complete_line_is_ignored_but_not_in_the_middle(tmp_path):
    path = tmp_path / "journal-00000000.log"
    path.write_bytes(b'{"n": 1}\n{"n": \n')
    assert p.read_segment(path) == ([{"n": 1}], 1)
    path.write_bytes(b'{"n": 1}\n{"n": \n{"n": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        p.read_segment(path)


def test_remove_before_keeps_the_segments_a_snapshot_lacks(tmp_path):
    j = p.Journal(tmp_path)
    j.append({"n": 1})
    start = j.rotate()
    j.append({"n": 2})
    assert j.remove_before(start) == 1
    j.close()
    assert [n for n, _ in p.segments(tmp_path)] == [start]


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "services" / "s3.pickle"
    p.atomic_write(target, b"old")
    assert target.read_bytes() == b"old"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        p.atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert not [f for f in target.parent.iterdir() if f.name != "s3.pickle"]  # no temporary left


def test_interrupted_write_leaves_only_a_temporary_that_is_never_loaded(tmp_path):
    p.write_manifest(tmp_path, {**p.new_manifest(), "saved_at": "x"})
    (tmp_path / ".manifest.json.0badc0de.tmp").write_bytes(b'{"format": 1, "inst')  # a killed writer
    assert p.read_manifest(tmp_path)["saved_at"] == "x"
    assert p.remove_temporaries(tmp_path) == 1
    assert sorted(f.name for f in tmp_path.iterdir()) == ["manifest.json"]


def test_manifest_round_trip_and_foreign_files(tmp_path):
    assert p.read_manifest(tmp_path) is None
    m = p.new_manifest()
    m["services"]["s3"] = {"file": "services/s3.pickle", "digest": "abc"}
    p.write_manifest(tmp_path, m)
    assert p.read_manifest(tmp_path) == m
    assert p.new_manifest()["instance"] != m["instance"]
    (tmp_path / p.MANIFEST).write_text(json.dumps({"format": 99, "instance": "x"}))
    with pytest.raises(ValueError, match="format"):
        p.read_manifest(tmp_path)


def test_unreferenced_bodies_spare_referenced_and_newer_files(tmp_path):
    ids = [p.new_body_id() for _ in range(3)]
    for body_id in ids:
        p.atomic_write(p.body_path(tmp_path, body_id), b"x")
    old = p.body_path(tmp_path, ids[0])
    os.utime(old, (1000, 1000))
    os.utime(p.body_path(tmp_path, ids[1]), (1000, 1000))
    found = p.unreferenced_bodies(tmp_path, [ids[1]], older_than=2000)
    assert found == [old]  # ids[1] is referenced, ids[2] is newer than the snapshot
    with pytest.raises(ValueError):
        p.body_path(tmp_path, "../escape")


def test_rotate_keeps_an_empty_segment(tmp_path):
    j = p.Journal(tmp_path)
    first = j.number
    assert j.rotate() == first  # nothing written: the snapshot lacks nothing before this segment
    j.append({"n": 1})
    assert j.rotate() == first + 1
    j.close()
