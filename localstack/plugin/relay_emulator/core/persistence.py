"""Files of the emulator's persistence (standard library only): atomic snapshots, the journal, the manifest.

Layout of a persistence folder (``<state dir>/emulator/persistence/``)::

    manifest.json            instance id, saved_at, the snapshot file of every service, journal_from, lost
    services/<name>.pickle   one service's state (written by the plugin, opaque here)
    bodies/<id>              S3 object bodies, one file per object version (named by the version's body id)
    journal-<n>.log          acknowledged S3 object writes since the snapshot (JSON lines, append-only)

Every file but the journal is written to a temporary file in the same folder and renamed over the
old one (``atomic_write``), so a reader sees the old or the new file, never half of one, even after
``kill -9``. The journal is append-only without fsync: a killed process's writes are in the page
cache. Each record is one line; a line that does not end with a newline (the process died while
writing it: its request was not acknowledged) or does not parse is ignored when it is the last one.

The manifest is written last: a snapshot is the set of files the manifest names. ``journal_from`` is
the first journal segment the snapshot does not contain; restoring loads the snapshot and replays
the segments from there, in order. Every journal record states the whole state of one S3 key after
the write (``"key"`` records), so replaying a record the snapshot already contains changes nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

MANIFEST = "manifest.json"
SERVICES_DIR = "services"
BODIES_DIR = "bodies"
FORMAT = 1
_SEGMENT = re.compile(r"^journal-(\d{8})\.log$")


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporaries(folder: str | os.PathLike) -> int:
    """Delete what an interrupted ``atomic_write`` left (``.<name>.<hex>.tmp``); returns how many."""
    removed = 0
    for sub in (Path(folder), Path(folder) / SERVICES_DIR, Path(folder) / BODIES_DIR):
        if not sub.is_dir():
            continue
        for f in sub.glob(".*.tmp"):
            f.unlink(missing_ok=True)
            removed += 1
    return removed


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- manifest


def new_manifest() -> dict:
    """The manifest of fresh state: a new instance id, no services."""
    return {
        "format": FORMAT,
        "instance": str(uuid.uuid4()),
        "saved_at": None,
        "services": {},
        "journal_from": 0,
        "lost": [],
    }


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's manifest; None when there is none. A manifest of another format, or one that does
    not parse (it is written atomically, so only a foreign file can be), raises ValueError."""
    path = Path(folder) / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"{path} is not a persistence manifest: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("instance"), str):
        raise ValueError(f"{path} is not a persistence manifest of format {FORMAT}")
    doc.setdefault("services", {})
    doc.setdefault("journal_from", 0)
    doc.setdefault("lost", [])
    return doc


def write_manifest(folder: str | os.PathLike, manifest: dict) -> None:
    atomic_write(Path(folder) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


# --------------------------------------------------------------------------- journal


def segment_path(folder: str | os.PathLike, number: int) -> Path:
    return Path(folder) / f"journal-{number:08d}.log"


def segments(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """The journal segments in the folder, in order."""
    found = []
    if Path(folder).is_dir():
        for f in Path(folder).iterdir():
            m = _SEGMENT.match(f.name)
            if m:
                found.append((int(m.group(1)), f))
    return sorted(found)


def read_segment(path: str | os.PathLike) -> tuple[list[dict], int]:
    """The records of one segment and the number of lines ignored (a torn or unreadable last line).

    A line that is not the last one and does not parse raises ValueError: append-only writes under
    one lock cannot produce it, so the journal was damaged by something else."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: b"" when the last record is complete
    records, ignored = [], 0
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if i == len(lines) - 1 and not tail:
                ignored += 1
                continue
            raise ValueError(f"{path}: journal line {i + 1} does not parse") from None
        records.append(record)
    if tail:
        ignored += 1  # torn: the writer died before the newline; that write was never acknowledged
    return records, ignored


def replay(folder: str | os.PathLike, start: int) -> Iterator[dict]:
    """Every record of the segments numbered ``start`` and above, in order (torn last lines skipped)."""
    for number, path in segments(folder):
        if number >= start:
            records, _ = read_segment(path)
            yield from records


class Journal:
    """Append-only journal in numbered segments; ``rotate`` starts the next one (at a snapshot)."""

    def __init__(self, folder: str | os.PathLike, start: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = segments(self.folder)
        last = existing[-1][0] if existing else -1
        self.number = max(last + 1, start or 0)
        self.lock = threading.Lock()
        self.appended = 0
        self.pending = 0  # records in the current segment
        self._fh = open(segment_path(self.folder, self.number), "ab")

    def append(self, record: dict) -> None:
        with self.lock:
            self.write(record)

    def write(self, record: dict) -> None:
        """Append one record; the caller holds ``lock`` (to read the state it records under it)."""
        self._write(json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def _write(self, line: bytes) -> None:
        """Write one line (call under ``lock``); unbuffered: in the page cache when this returns."""
        self._fh.write(line)
        self._fh.flush()
        self.appended += 1
        self.pending += 1

    def rotate(self) -> int:
        """Start a new segment unless the current one is empty; returns the number of the first segment a
        snapshot begun now lacks."""
        with self.lock:
            if not self.pending:
                return self.number
            self.pending = 0
            self._fh.close()
            self.number += 1
            self._fh = open(segment_path(self.folder, self.number), "ab")
            return self.number

    def remove_before(self, number: int) -> int:
        """Delete the segments older than ``number`` (a snapshot contains them); returns how many."""
        removed = 0
        for n, path in segments(self.folder):
            if n < number:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        with self.lock:
            self._fh.close()


# --------------------------------------------------------------------------- bodies


def body_path(folder: str | os.PathLike, body_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", body_id or ""):
        raise ValueError(f"not a body id: {body_id!r}")
    return Path(folder) / BODIES_DIR / body_id


def new_body_id() -> str:
    return uuid.uuid4().hex


def unreferenced_bodies(folder: str | os.PathLike, referenced: Iterable[str], older_than: float) -> list[Path]:
    """Body files no object of a snapshot names, written before ``older_than`` (a time.time() value:
    the snapshot's start; anything newer may belong to a journal record written meanwhile)."""
    keep = set(referenced)
    out = []
    bodies = Path(folder) / BODIES_DIR
    if not bodies.is_dir():
        return out
    for f in bodies.iterdir():
        if f.name.startswith(".") or f.name in keep:
            continue
        try:
            if f.stat().st_mtime < older_than:
                out.append(f)
        except FileNotFoundError:
            continue
    return out
