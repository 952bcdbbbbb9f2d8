"""Emulator restarts lose nothing: snapshots of every service's state, an S3 journal, restore at start-up.

LocalStack's community edition has the persistence interfaces (state visitors, ``accept_state_visitor``,
the pickle codecs) but no implementation; ``PERSISTENCE=1`` does nothing for these services. This
module implements it for the emulator the launcher starts (``RELAY_EMULATOR_PERSISTENCE_DIR``, set by
``localstack/emulator.py``; ``RELAY_EMULATOR_PERSIST=0`` turns it off). Files: ``core/persistence.py``.

* **What is saved**: for every loaded service, the state containers its provider's state visitor
  names, plus moto's backend found by LocalStack's ``ReflectionStateLocator`` (LocalStack store bundles,
  moto ``BackendDict`` s): every account's and region's store / backend ``__dict__``, pickled with the C
  pickler (locks, events, conditions and queues are recreated empty, threads are dropped), or LocalStack's
  dill pickler when that fails. References between services (an Auto Scaling backend's EC2 backend, ...)
  are saved as references and resolved to the live object on restore, so they stay shared.
* **S3 object bodies** (LocalStack keeps them in memory or in spooled files of a temporary folder that
  it clears) are copied to ``bodies/<id>`` when the object version is written; the version carries the
  id (``relay_body_id``).
* **When**: in the background every ``RELAY_PERSIST_INTERVAL`` seconds (2) for the services that got a
  write request since the last round, and those whose state changes on their own (``ALWAYS_CHECKED``,
  ``FOLLOW_UP``); a service whose pickled state did not change is not written again. On graceful
  stop (``on_infra_shutdown``, before the services stop) every loaded service.
* **kill -9**: every acknowledged S3 object write (PutObject, CopyObject, CompleteMultipartUpload,
  deletes, tagging, ACL, retention, legal hold, restore) and every replication status change appends
  the whole state of that key to the journal before the response leaves; so does every bucket-level
  write (CreateBucket, DeleteBucket, every PutBucket* / DeleteBucket* configuration, public access
  block, object lock configuration) with the bucket's configuration and tags. Restore replays the
  journal written since the snapshot. Other services' changes made after the last background snapshot
  (a couple of seconds, longer while a large state is pickled) are lost by ``kill -9``.
* **Restore** (``on_infra_start``, after the patches, before the gateway serves): the services of the
  snapshot are started, their containers filled in place, their lifecycle hooks told
  (``on_before/after_state_load``); S3 bodies written back; journal replayed; EventBridge rule and bus
  services rebuilt; executions and builds in flight failed with a reason; once the gateway is up, every
  source object version whose replication status is PENDING is queued for replication again.
* ``GET /_relay/persistence``: instance id (kept across restores, new with fresh state), restored
  services, what was lost and why, saved_at, journal records replayed.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import io
import logging
import os
import pickle
import queue
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

from botocore.client import BaseClient
from localstack.aws.connect import MetadataRequestInjector

from relay_emulator.core import persistence as files

LOG = logging.getLogger("relay_emulator.persistence")

PERSISTENCE_PATH = "/_relay/persistence"
INTERVAL = float(os.environ.get("RELAY_PERSIST_INTERVAL", "2"))
# Any service is saved in the round after a write request. These change their state without a request
# to them: executions and builds (started by EventBridge targets or git pushes too) are checked every round,
# the others for RECENT_WRITES seconds after a write request to them (stack deployments, replication).
ALWAYS_CHECKED = ("codepipeline", "codebuild")
FOLLOW_UP = ("cloudformation", "dynamodb", "ecr", "securityhub", "secretsmanager")
RECENT_WRITES = 120.0
# Pickling holds the interpreter lock most of the time: a service whose pickling took t seconds is pickled
# again in the background at most every DUTY * t seconds, and a round that took r seconds is followed by a
# pause of at least DUTY * r (the saver takes at most about 1/DUTY of the emulator's time while it is busy).
DUTY = 10.0
_READ_PREFIXES = ("Describe", "Get", "List", "Lookup", "Head", "Select", "Scan", "Query", "BatchGet", "Test")
# S3 operations that change an object version (the journal records the new version after the first three, the
# key's state after the others)
S3_OBJECT_WRITES = (
    "put_object",
    "copy_object",
    "complete_multipart_upload",
    "delete_object",
    "delete_objects",
    "put_object_tagging",
    "delete_object_tagging",
    "put_object_acl",
    "put_object_retention",
    "put_object_legal_hold",
    "restore_object",
)
S3_NEW_VERSIONS = ("put_object", "copy_object", "complete_multipart_upload")
NOT_KEPT = [
    {
        "service": "s3",
        "reason": "multipart uploads in progress (their parts live in LocalStack's temporary folder)",
    },
    {
        "service": "s3",
        "reason": "replication of delete markers in flight at the stop (object versions PENDING resume)",
    },
    {"service": "codepipeline", "reason": "executions in flight at the stop end Failed on restore (AWS keeps them)"},
    {"service": "codebuild", "reason": "builds in flight at the stop end FAILED on restore (their processes died)"},
    {"service": "route53", "reason": "measured health check statuses: probed again after the restart"},
    {"service": "ecr", "reason": "image replications in flight at the stop (the queue is in memory)"},
    {"service": "dynamodb", "reason": "global table item replications in flight at the stop (the queue is in memory)"},
    {"service": "events", "reason": "events in flight to targets at the stop; archives, replays and API destinations"},
]


class _State:
    def __init__(self):
        self.folder: Path | None = None
        self.manifest: dict | None = None
        self.journal: files.Journal | None = None
        self.restored: list[str] = []
        self.lost: list[dict] = []
        self.objects = 0  # S3 object versions restored
        self.replayed = 0
        self.requeued = 0
        self.dirty: set[str] = set()
        self.written: dict[str, float] = {}  # service -> monotonic time of its last write request
        self.next_ok: dict[str, float] = {}  # service -> monotonic time before which it is not pickled again
        self.save_lock = threading.Lock()
        self.stopping = False
        self.last_save_seconds: float | None = None
        self.restore_seconds: float | None = None
        self.fresh = True
        # services whose snapshot did not load: never overwritten (the state in memory is not theirs)
        self.unrestored: set[str] = set()


STATE = _State()


def folder_from_env() -> Path | None:
    """The persistence folder, None when persistence is off (``RELAY_EMULATOR_PERSIST=0``, or not
    started by the launcher)."""
    if os.environ.get("RELAY_EMULATOR_PERSIST", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    raw = os.environ.get("RELAY_EMULATOR_PERSISTENCE_DIR")
    return Path(raw) if raw else None


# --------------------------------------------------------------------------- pickling


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _none():
    return None


def _event(is_set: bool):
    event = threading.Event()
    if is_set:
        event.set()
    return event


def _queue(cls, items: list, maxsize: int):
    q = cls(maxsize)
    for item in items:
        q.put_nowait(item)
    return q


def _defaultdict(cls, factory):
    obj = cls.__new__(cls)
    collections.defaultdict.__init__(obj, factory)
    return obj


def _client(service: str, region: str, account: str):
    from relay_emulator.common import internal_client

    return internal_client(service, region, account)


def _client_reduce(obj):
    """An internal boto client (e.g. a CodeBuild build's log client) is made again on restore, as the same
    account's root; one with other credentials (an assumed role's, expired by then) is dropped."""
    credentials = getattr(getattr(obj, "_request_signer", None), "_credentials", None)
    key = getattr(credentials, "access_key", None) or ""
    if len(key) == 12 and key.isdigit():
        return (_client, (obj.meta.service_model.service_name, obj.meta.region_name, key))
    return (_none, ())


def _special(obj):
    """How to pickle what the standard pickler cannot: synchronisation objects are recreated, threads dropped,
    subclasses of defaultdict with their own constructor (moto's) made without calling it."""
    t = type(obj)
    if isinstance(obj, collections.defaultdict) and t is not collections.defaultdict:
        return (_defaultdict, (t, obj.default_factory), vars(obj) or None, None, iter(obj.items()))
    if t in _LOCK_TYPES:
        return ((t is _LOCK_TYPES[1] and threading.RLock) or threading.Lock, ())
    if t is threading.Event:
        return (_event, (obj.is_set(),))
    if t is threading.Condition:
        return (threading.Condition, ())
    if t in (threading.Semaphore, threading.BoundedSemaphore):
        return (t, (obj._value,))
    if isinstance(obj, (threading.Thread, subprocess.Popen)):  # a build's processes die with the emulator
        return (_none, ())
    if isinstance(obj, io.IOBase) and not isinstance(obj, (io.BytesIO, io.StringIO)):  # open files, pipes
        return (_none, ())
    if isinstance(obj, queue.Queue):
        return (_queue, (t, list(obj.queue), obj.maxsize))
    if isinstance(obj, BaseClient):
        return _client_reduce(obj)
    if isinstance(obj, MetadataRequestInjector):  # LocalStack's wrapper of an internal client
        return _client_reduce(obj._client) if isinstance(obj._client, BaseClient) else (_none, ())
    return NotImplemented


class _Refs:
    """Root objects of every service's containers (stores, backends), by id: saved as references."""

    def __init__(self):
        self.by_id: dict[int, tuple] = {}
        self.containers: dict[str, object] = {}

    def add(self, key: str, kind: str, container) -> None:
        self.containers[key] = container
        self.by_id[id(container)] = (key,)
        for account, regions in list(container.items()):
            self.by_id[id(regions)] = (key, account)
            for region, obj in list(dict.items(regions)):
                self.by_id[id(obj)] = (key, account, region)

    def resolve(self, pid: tuple):
        container = self.containers.get(pid[0])
        if container is None:
            raise pickle.UnpicklingError(f"reference to a state container that does not exist here: {pid[0]}")
        if len(pid) == 1:
            return container
        if len(pid) == 2:
            return container[pid[1]]
        return container[pid[1]][pid[2]]


class _Pickler(pickle.Pickler):
    def __init__(self, fh, refs: _Refs | None):
        super().__init__(fh, protocol=5)
        self._refs = refs

    def persistent_id(self, obj):
        if self._refs is not None:
            ref = self._refs.by_id.get(id(obj))
            if ref is not None:
                return ref
        return None

    def reducer_override(self, obj):
        return _special(obj)


def _dill_pickler(refs: _Refs | None):
    from localstack.state.pickle import Pickler

    class DillPickler(Pickler):
        def persistent_id(self, obj):
            if refs is not None:
                return refs.by_id.get(id(obj))
            return None

        def save(self, obj, save_persistent_id=True):
            special = _special(obj) if not isinstance(obj, type) else NotImplemented
            if special is not NotImplemented:
                return self.save_reduce(*special, obj=obj)
            return super().save(obj, save_persistent_id)

    return DillPickler


def dumps(obj, refs: _Refs | None = None) -> bytes:
    """Pickle with the C pickler; LocalStack's dill pickler (lambdas, local classes) when that fails."""
    buf = io.BytesIO()
    try:
        _Pickler(buf, refs).dump(obj)
        return b"P" + buf.getvalue()
    except (pickle.PicklingError, TypeError, AttributeError):
        buf = io.BytesIO()
        _dill_pickler(refs)(buf).dump(obj)
        return b"D" + buf.getvalue()


def loads(data: bytes, refs: _Refs | None = None):
    kind, payload = data[:1], data[1:]
    if kind == b"P":
        base = pickle.Unpickler
    elif kind == b"D":
        import dill

        base = dill.Unpickler
    else:
        raise pickle.UnpicklingError("unknown snapshot encoding")

    class Unpickler(base):
        def persistent_load(self, pid):
            if refs is None:
                raise pickle.UnpicklingError(f"reference without a registry: {pid}")
            return refs.resolve(tuple(pid))

    return Unpickler(io.BytesIO(payload)).load()


# --------------------------------------------------------------------------- containers


def _container_key(kind: str, container) -> str:
    if kind == "store":
        return f"store:{container.service_name}:{container.store.__module__}.{container.store.__qualname__}"
    return f"moto:{container.service_name}:{container.backend.__module__}.{container.backend.__qualname__}"


def service_containers(name: str) -> list[tuple[str, str, object]]:
    """(key, kind, container) of a loaded service: what its state visitor names, plus moto's backend."""
    from localstack.services.plugins import SERVICE_PLUGINS
    from localstack.services.stores import AccountRegionBundle
    from localstack.state.core import StateVisitor
    from localstack.state.inspect import ReflectionStateLocator
    from moto.core.base_backend import BackendDict

    found: dict[int, tuple] = {}

    class Collector(StateVisitor):
        def visit(self, container):
            if isinstance(container, AccountRegionBundle):
                found.setdefault(id(container), (_container_key("store", container), "store", container))
            elif isinstance(container, BackendDict):
                found.setdefault(id(container), (_container_key("moto", container), "moto", container))

    service = SERVICE_PLUGINS.get_service(name)
    if service is not None:
        service.accept_state_visitor(Collector())
    ReflectionStateLocator(service=name).accept_state_visitor(Collector())
    return sorted(found.values(), key=lambda c: c[0])


def _loaded_services() -> list[str]:
    from localstack.services.plugins import SERVICE_PLUGINS

    return sorted(SERVICE_PLUGINS.list_loaded_services())


def _refs_of(services: list[str]) -> tuple[_Refs, dict[str, list]]:
    refs, by_service = _Refs(), {}
    for name in services:
        by_service[name] = service_containers(name)
        for key, kind, container in by_service[name]:
            refs.add(key, kind, container)
    return refs, by_service


_STORE_OWN = ("_global", "_universal", "_service_name", "_account_id", "_region_name")


def _capture(kind: str, container) -> dict:
    """A container's state: every account's and region's store or backend attributes."""
    out = {"kind": kind, "accounts": {}}
    if kind == "store":
        out["universal"] = dict(container._universal)
    for account, regions in list(container.items()):
        entry = {"regions": {}}
        if kind == "store":
            entry["global"] = dict(regions._global)
        for region, obj in list(dict.items(regions)):
            entry["regions"][region] = {k: v for k, v in list(vars(obj).items()) if k not in _STORE_OWN}
        out["accounts"][account] = entry
    return out


def _apply(kind: str, container, state: dict) -> list[str]:
    """Fill a live container in place (objects keep their identity: references from other services
    and from providers stay valid)."""
    skipped = []
    if kind == "store":
        container._universal.clear()
        container._universal.update(state.get("universal") or {})
    for account, entry in state["accounts"].items():
        regions = container[account]
        if kind == "store":
            regions._global.clear()
            regions._global.update(entry.get("global") or {})
        for region, attributes in entry["regions"].items():
            try:
                target = regions[region]
            except Exception as e:  # a region name this LocalStack refuses
                skipped.append(f"{account}/{region}: {type(e).__name__}: {e}")
                continue
            keep = {k: v for k, v in vars(target).items() if k in _STORE_OWN} if kind == "store" else {}
            vars(target).clear()
            vars(target).update(attributes)
            vars(target).update(keep)
    return skipped


# --------------------------------------------------------------------------- saving


def _service_file(name: str) -> str:
    return f"{files.SERVICES_DIR}/{name.replace('/', '_')}.pickle"


def save(services: list[str] | None = None, *, reason: str = "background") -> dict:
    """Snapshot ``services`` (default: every loaded one) and write the manifest. Returns a summary.

    The journal rotates first; the manifest's ``journal_from`` advances only when S3's snapshot of this
    round is current (written, or unchanged), so the journal always holds every S3 write since it."""
    st = STATE
    if st.folder is None or st.manifest is None:
        return {}
    with st.save_lock:
        began = time.monotonic()
        started_wall = time.time()
        loaded = _loaded_services()
        wanted = [s for s in (services if services is not None else loaded) if s in loaded and s not in st.unrestored]
        s3_round = "s3" in wanted
        journal_from = None
        if s3_round:
            st.dirty.discard("s3")  # before the rotation: a write from now on makes it dirty again
            if st.journal is not None:
                journal_from = st.journal.rotate()
            _ensure_all_bodies()
        refs, by_service = _refs_of(loaded)
        manifest = dict(st.manifest)
        manifest["services"] = dict(manifest.get("services") or {})
        failures, busy = {}, []
        written = 0
        for name in wanted:
            containers = by_service.get(name) or []
            if not containers:
                continue
            data = None
            pickled = time.monotonic()
            for attempt in range(3):  # a request changing the state while it is pickled: try again
                try:
                    data = dumps({key: _capture(kind, c) for key, kind, c in containers}, refs)
                    break
                except RuntimeError:  # "dictionary changed size during iteration"
                    time.sleep(0.01 * (attempt + 1))
                except Exception as e:
                    failures[name] = f"cannot be pickled: {type(e).__name__}: {e}"
                    break
            st.next_ok[name] = time.monotonic() + DUTY * (time.monotonic() - pickled)
            if data is None:
                if name not in failures:
                    busy.append(name)  # changing all the time: the next round tries again
                    st.dirty.add(name)
                continue
            digest = files.digest(data)
            entry = manifest["services"].get(name)
            if entry and entry.get("digest") == digest and (st.folder / entry["file"]).exists():
                continue
            files.atomic_write(st.folder / _service_file(name), data)
            manifest["services"][name] = {
                "file": _service_file(name),
                "digest": digest,
                "bytes": len(data),
                "seconds": round(time.monotonic() - pickled, 3),
            }
            written += 1
        if s3_round and "s3" not in failures and "s3" not in busy and journal_from is not None:
            advance = journal_from != manifest.get("journal_from")
        else:
            advance = False
        old_failures = manifest.get("save_failures") or []
        new_failures = [f for f in old_failures if f.get("service") not in wanted] + [
            {"service": s, "reason": r} for s, r in sorted(failures.items())
        ]
        for name in wanted:
            if name not in busy and name != "s3":
                st.dirty.discard(name)
        if not written and not advance and new_failures == old_failures and reason == "background":
            return {"written": 0, "busy": busy}
        if advance:
            manifest["journal_from"] = journal_from
        manifest["saved_at"] = files.now_iso()
        manifest["save_failures"] = new_failures
        files.write_manifest(st.folder, manifest)
        st.manifest = manifest
        if st.journal is not None:
            st.journal.remove_before(manifest["journal_from"])
        if advance:
            referenced = _referenced_bodies()
            for f in files.unreferenced_bodies(st.folder, referenced, started_wall):
                f.unlink(missing_ok=True)
        st.last_save_seconds = time.monotonic() - began
        for name, failure in failures.items():
            LOG.warning("persistence: %s not saved (%s)", name, failure)
        LOG.debug("persistence: %s save of %d services in %.3f s", reason, written, st.last_save_seconds)
        return {"written": written, "failures": failures, "busy": busy, "seconds": st.last_save_seconds}


def _saver() -> None:
    pause = INTERVAL
    while not STATE.stopping:
        time.sleep(pause)
        if STATE.stopping:
            return
        began = time.monotonic()
        try:
            loaded = set(_loaded_services())
            recent = {s for s, t in list(STATE.written.items()) if began - t < RECENT_WRITES and s in FOLLOW_UP}
            wanted = (set(STATE.dirty) | recent | set(ALWAYS_CHECKED)) & loaded
            wanted = {s for s in wanted if STATE.next_ok.get(s, 0) <= began}
            if wanted:
                save(sorted(wanted))
        except Exception:
            LOG.exception("persistence: background save failed")
        pause = max(INTERVAL, DUTY * (time.monotonic() - began))


def mark_written(service: str) -> None:
    STATE.dirty.add(service)
    STATE.written[service] = time.monotonic()


# --------------------------------------------------------------------------- S3 bodies and journal


def _s3_provider():
    from localstack.services.plugins import SERVICE_PLUGINS

    service = SERVICE_PLUGINS.get_service("s3")
    return getattr(service, "_provider", None) if service is not None else None


def _versions(s3_bucket) -> list:
    """Every object version (and delete marker) of a bucket."""
    store = s3_bucket.objects._store
    out = []
    for value in list(store.values()):
        if isinstance(value, dict):
            out.extend(list(value.values()))
        else:
            out.append(value)
    return out


def _buckets():
    from localstack.services.s3.models import s3_stores

    seen = set()  # ``buckets`` is a cross-region attribute: every region's store shows the same dict
    for _account, _region, store in list(s3_stores.iter_stores()):
        if id(store.buckets) not in seen:
            seen.add(id(store.buckets))
            yield from list(store.buckets.values())


def _ensure_body(provider, bucket_name: str, obj) -> None:
    """Copy a version's body to ``bodies/<id>`` once (the id goes on the version)."""
    from localstack.services.s3.models import S3Object

    if not isinstance(obj, S3Object) or getattr(obj, "relay_body_id", None):
        return
    body_id = files.new_body_id()
    path = files.body_path(STATE.folder, body_id)
    tmp = path.with_name(f".{body_id}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = provider._storage_backend.open(bucket_name, obj, mode="r")  # holds the body's read lock
    try:
        with open(tmp, "wb") as fh:
            _copy_body(stored, fh)
    finally:
        stored.close()
    os.replace(tmp, path)
    obj.relay_body_id = body_id


def _copy_body(stored, fh) -> None:
    """Copy a stored body to ``fh``: in the kernel (``copy_file_range``) when LocalStack spooled it to a file,
    else from its in-memory buffer, else chunk by chunk."""
    spooled = getattr(stored, "file", None)
    with getattr(spooled, "position_lock", contextlib.nullcontext()):
        inner = getattr(spooled, "_file", None)
        if getattr(spooled, "_rolled", False) and hasattr(os, "copy_file_range"):
            inner.flush()
            size, offset = os.fstat(inner.fileno()).st_size, 0
            try:
                while offset < size:
                    copied = os.copy_file_range(inner.fileno(), fh.fileno(), size - offset, offset)
                    if not copied:
                        break
                    offset += copied
            except OSError:  # a file system without it: the chunk loop below
                fh.seek(0)
                fh.truncate()
            else:
                if offset == size:
                    return
                fh.seek(0)
                fh.truncate()
        elif isinstance(inner, io.BytesIO):  # at most 512 KiB
            fh.write(inner.getvalue())
            return
    for chunk in stored:
        fh.write(chunk)


def _ensure_all_bodies() -> None:
    provider = _s3_provider()
    if provider is None:
        return
    for bucket in _buckets():
        for obj in _versions(bucket):
            try:
                _ensure_body(provider, bucket.name, obj)
            except Exception:
                LOG.exception("persistence: body of s3://%s/%s not saved", bucket.name, getattr(obj, "key", "?"))


def _referenced_bodies() -> set[str]:
    return {
        body_id
        for bucket in _buckets()
        for obj in _versions(bucket)
        if (body_id := getattr(obj, "relay_body_id", None))
    }


def journal_key(s3_bucket, key: str) -> None:
    """Append the whole state of one key (every version, with bodies saved) to the journal."""
    st = STATE
    if st.journal is None or s3_bucket is None:
        return
    provider = _s3_provider()
    objects = s3_bucket.objects
    current = objects._store.get(key)
    where = (s3_bucket.bucket_account_id, s3_bucket.bucket_region, s3_bucket.name)
    for obj in list(current.values()) if isinstance(current, dict) else [current] if current else []:
        _ensure_body(provider, s3_bucket.name, obj)
    st.dirty.add("s3")
    with st.journal.lock:
        current = objects._store.get(key)
        state = dict(current) if isinstance(current, dict) else current
        for obj in list(state.values()) if isinstance(state, dict) else [state] if state else []:
            obj.relay_bucket = where  # status changes of this version are journaled from now on
        record = {
            "t": "key",
            "a": s3_bucket.bucket_account_id,
            "r": s3_bucket.bucket_region,
            "b": s3_bucket.name,
            "k": key,
            "s": base64.b64encode(dumps(state)).decode(),
        }
        st.journal.write(record)


def journal_version(s3_bucket, key: str, version_id: str | None) -> None:
    """Append one new object version (its body saved) to the journal; the key's other versions are unchanged
    (a write that creates a version: PutObject, CopyObject, CompleteMultipartUpload)."""
    st = STATE
    if st.journal is None or s3_bucket is None:
        return
    current = s3_bucket.objects._store.get(key)
    if isinstance(current, dict):
        obj = current.get(version_id) if version_id else None
    else:
        obj = current
    if obj is None:  # not found as answered (overwritten meanwhile, or no version id): the whole key
        journal_key(s3_bucket, key)
        return
    _ensure_body(_s3_provider(), s3_bucket.name, obj)
    where = (s3_bucket.bucket_account_id, s3_bucket.bucket_region, s3_bucket.name)
    st.dirty.add("s3")
    with st.journal.lock:
        # marked under the lock: a status change is journaled only after its version (``journal_status``)
        obj.relay_bucket = where
        record = {"t": "version", "a": where[0], "r": where[1], "b": where[2], "k": key}
        record["s"] = base64.b64encode(dumps(obj)).decode()
        st.journal.write(record)


def journal_status(s3_object, status: str, reason: str | None) -> None:
    """Append a replication status change of one journaled version (never before the version's own record:
    the version is marked journaled under the same lock)."""
    st = STATE
    st.dirty.add("s3")
    with st.journal.lock:
        where = getattr(s3_object, "relay_bucket", None)
        if where is None:
            return
        record = {"t": "status", "a": where[0], "r": where[1], "b": where[2], "k": s3_object.key}
        record.update(v=s3_object.version_id, status=status, reason=reason)
        st.journal.write(record)


def _apply_version_record(record: dict) -> bool:
    from localstack.services.s3.models import KeyStore

    bucket = _find_bucket(record["a"], record["r"], record["b"])
    if bucket is None:
        return False
    obj, key = loads(base64.b64decode(record["s"])), record["k"]
    if isinstance(bucket.objects, KeyStore):
        bucket.objects._store[key] = obj
    else:
        versions = bucket.objects._store.setdefault(key, {})
        versions.pop(obj.version_id, None)  # the newest version is the last one
        versions[obj.version_id] = obj
    return True


def _apply_status_record(record: dict) -> bool:
    from relay_emulator import replication

    bucket = _find_bucket(record["a"], record["r"], record["b"])
    current = bucket.objects._store.get(record["k"]) if bucket is not None else None
    obj = current.get(record["v"]) if isinstance(current, dict) else current
    if obj is None or getattr(obj, "version_id", None) != record["v"]:
        return False
    setattr(obj, replication.STATUS_ATTRIBUTE, record["status"])
    if record.get("reason"):
        setattr(obj, replication.FAILURE_ATTRIBUTE, record["reason"])
    return True


# S3 operations that change a bucket (its configuration, tags or existence): the journal records the
# bucket's configuration after them
_S3_BUCKET_WRITE = re.compile(
    r"(create_bucket|delete_bucket|put_bucket_\w+|delete_bucket_\w+|put_public_access_block"
    r"|delete_public_access_block|put_object_lock_configuration)"
)
# attributes of LocalStack's S3Bucket that are not configuration: its objects (journaled per key) and its
# multipart uploads in progress (not kept, see NOT_KEPT)
_BUCKET_CONTENT = ("objects", "multiparts")


def journal_bucket(account: str, region: str, name: str, s3_bucket) -> None:
    """Append a bucket's configuration and tags (``s3_bucket`` None: the bucket was deleted) to the journal."""
    from localstack.services.s3.models import VersionedKeyStore, s3_stores

    st = STATE
    if st.journal is None:
        return
    st.dirty.add("s3")
    with st.journal.lock:
        state = None
        if s3_bucket is not None:
            state = {
                "attributes": {k: v for k, v in vars(s3_bucket).items() if k not in _BUCKET_CONTENT},
                "versioned": isinstance(s3_bucket.objects, VersionedKeyStore),
                "tags": s3_stores[account][region].tags.get_tags(s3_bucket.bucket_arn),
            }
        record = {"t": "bucket", "a": account, "r": region, "b": name, "s": base64.b64encode(dumps(state)).decode()}
        st.journal.write(record)


def _apply_bucket_record(record: dict) -> bool:
    """Create, reconfigure or delete a bucket as the record says (its objects come from key records)."""
    from localstack.services.s3.models import KeyStore, S3Bucket, VersionedKeyStore, s3_stores

    account, region, name = record["a"], record["r"], record["b"]
    store = s3_stores[account][region]
    state = loads(base64.b64decode(record["s"]))
    bucket = store.buckets.get(name)
    if state is None:
        if bucket is not None:
            store.buckets.pop(name, None)
            store.global_bucket_map.pop(name, None)
            store.tags.delete_all_tags(bucket.bucket_arn)
        return True
    if bucket is None:
        bucket = S3Bucket.__new__(S3Bucket)
        bucket.objects = VersionedKeyStore() if state["versioned"] else KeyStore()
        bucket.multiparts = {}
        store.buckets[name] = bucket
        store.global_bucket_map[name] = account
    elif state["versioned"] and not isinstance(bucket.objects, VersionedKeyStore):
        bucket.objects = VersionedKeyStore.from_key_store(bucket.objects)
    for attribute, value in state["attributes"].items():
        setattr(bucket, attribute, value)
    store.tags.delete_all_tags(bucket.bucket_arn)
    if state["tags"]:
        store.tags.update_tags(bucket.bucket_arn, state["tags"])
    return True


def _find_bucket(account: str, region: str, name: str):
    from localstack.services.s3.models import s3_stores

    bucket = s3_stores[account][region].buckets.get(name)
    if bucket is not None:
        return bucket
    for _a, _r, store in s3_stores.iter_stores():
        if name in store.buckets and store.buckets[name].bucket_account_id == account:
            return store.buckets[name]
    return None


def _apply_key_record(record: dict) -> bool:
    from localstack.services.s3.models import KeyStore

    bucket = _find_bucket(record["a"], record["r"], record["b"])
    if bucket is None:
        return False
    state = loads(base64.b64decode(record["s"]))
    store, key = bucket.objects, record["k"]
    if isinstance(bucket.objects, KeyStore):
        if isinstance(state, dict):  # versioning enabled after the snapshot: the latest version
            state = list(state.values())[-1] if state else None
        if state is None:
            store._store.pop(key, None)
        else:
            store._store[key] = state
    else:
        if state is None:
            store._store.pop(key, None)
        elif isinstance(state, dict):
            store._store[key] = state
        else:
            store._store[key] = {state.version_id or "null": state}
    return True


RECORD_APPLIERS = {
    "bucket": _apply_bucket_record,
    "key": _apply_key_record,
    "version": _apply_version_record,
    "status": _apply_status_record,
}


def _install_s3_journal() -> None:
    from localstack.services.s3.provider import S3Provider
    from localstack.utils.patch import Patch

    def journaled(operation: str):
        new_version = operation in S3_NEW_VERSIONS

        def wrapper(original, self, context, *args, **kwargs):
            response = original(self, context, *args, **kwargs)
            try:
                request = args[0] if args and isinstance(args[0], dict) else kwargs
                bucket_name = request.get("Bucket") or request.get("bucket")
                keys = []
                if request.get("Key") or request.get("key"):
                    keys.append(request.get("Key") or request.get("key"))
                for entry in (request.get("delete") or request.get("Delete") or {}).get("Objects") or []:
                    keys.append(entry.get("Key"))
                if bucket_name and keys:
                    _, s3_bucket = self._get_cross_account_bucket(context, bucket_name)
                    if new_version:
                        journal_version(s3_bucket, keys[0], (response or {}).get("VersionId"))
                    else:
                        for key in dict.fromkeys(keys):
                            journal_key(s3_bucket, key)
            except Exception:
                LOG.exception("persistence: S3 journal record failed")
            return response

        return wrapper

    def bucket_journaled(operation: str):
        deleting = operation == "delete_bucket"

        def wrapper(original, self, context, *args, **kwargs):
            request = args[0] if args and isinstance(args[0], dict) else kwargs
            name = request.get("Bucket") or request.get("bucket")
            before = None
            if deleting and name:
                with contextlib.suppress(Exception):  # a missing bucket: the call itself answers NoSuchBucket
                    before = self._get_cross_account_bucket(context, name)[1]
            response = original(self, context, *args, **kwargs)
            try:
                if deleting:
                    if before is not None:
                        journal_bucket(before.bucket_account_id, before.bucket_region, name, None)
                elif name:
                    _, s3_bucket = self._get_cross_account_bucket(context, name)
                    journal_bucket(s3_bucket.bucket_account_id, s3_bucket.bucket_region, name, s3_bucket)
            except Exception:
                LOG.exception("persistence: S3 journal record of bucket %s failed", name)
            return response

        return wrapper

    for name in S3_OBJECT_WRITES:
        Patch.function(getattr(S3Provider, name), journaled(name)).apply()
    for name in sorted(vars(S3Provider)):
        if _S3_BUCKET_WRITE.fullmatch(name) and callable(getattr(S3Provider, name)):
            Patch.function(getattr(S3Provider, name), bucket_journaled(name)).apply()


def _install_replication_journal() -> None:
    """Every replication status change (PENDING, COMPLETED, FAILED) of a journaled version is journaled."""
    from relay_emulator import replication

    engine = replication.ENGINE
    if engine is None:
        return
    original = engine.set_status

    def set_status(s3_object, status, reason=None):
        original(s3_object, status, reason)
        journal = STATE.journal
        if journal is None or getattr(s3_object, "relay_bucket", None) is None:
            return  # not journaled yet: its version's record, still to come, carries the status
        try:
            journal_status(s3_object, status, reason)
        except Exception:
            LOG.exception("persistence: journal of a replication status failed")

    engine.set_status = set_status


def _install_dirty_tracking() -> None:
    from localstack.aws.skeleton import Skeleton
    from localstack.utils.patch import Patch

    def invoke(original, self, context):
        response = original(self, context)
        try:
            op = context.operation.name if context.operation else ""
            if op and not op.startswith(_READ_PREFIXES) and context.service is not None:
                mark_written(context.service.service_name)
        except Exception:
            LOG.debug("persistence: dirty tracking failed", exc_info=True)
        return response

    Patch.function(Skeleton.invoke, invoke).apply()


# --------------------------------------------------------------------------- restoring


def _lifecycle(name: str, hook: str) -> None:
    from localstack.services.plugins import SERVICE_PLUGINS
    from localstack.utils.functions import call_safe

    service = SERVICE_PLUGINS.get_service(name)
    if service is not None:
        call_safe(getattr(service.lifecycle_hook, hook))


def _restore_services(manifest: dict) -> None:
    from localstack.services.plugins import SERVICE_PLUGINS

    st = STATE
    names = sorted(manifest.get("services") or {})
    started = []
    for name in names:
        try:
            SERVICE_PLUGINS.require(name)
            started.append(name)
        except Exception as e:
            st.unrestored.add(name)
            st.lost.append({"service": name, "reason": f"the service did not start: {type(e).__name__}: {e}"})
    refs, by_service = _refs_of(_loaded_services())
    for name in started:
        entry = manifest["services"][name]
        try:
            state = loads((st.folder / entry["file"]).read_bytes(), refs)
            live = {key: (kind, c) for key, kind, c in by_service.get(name) or []}
            _lifecycle(name, "on_before_state_load")
            for key, saved in state.items():
                if key not in live:
                    st.lost.append({"service": name, "reason": f"state container {key} no longer exists"})
                    continue
                kind, container = live[key]
                for skipped in _apply(kind, container, saved):
                    st.lost.append({"service": name, "reason": f"{key} {skipped}"})
            _lifecycle(name, "on_after_state_load")
            st.restored.append(name)
        except Exception as e:
            LOG.exception("persistence: %s not restored", name)
            # kept aside for a post-mortem; the service starts empty and is saved again from now on
            path = st.folder / entry["file"]
            aside = path.with_name(f"{path.name}.unloadable-{int(time.time())}")
            with contextlib.suppress(OSError):
                path.replace(aside)
            manifest["services"].pop(name, None)
            reason = f"snapshot not loadable ({type(e).__name__}: {e}); kept as {aside.name}"
            st.lost.append({"service": name, "reason": reason})
    for failure in manifest.get("save_failures") or []:
        st.lost.append(
            {"service": failure["service"], "reason": f"not saved at the last snapshot: {failure['reason']}"}
        )


def _restore_bodies() -> None:
    """Write every restored version's body back into LocalStack's storage; drop versions without one."""
    from localstack.services.s3.models import S3Object

    provider = _s3_provider()
    if provider is None:
        return
    st = STATE
    missing = []
    for bucket in _buckets():
        provider._storage_backend.create_bucket(bucket.name)
        store = bucket.objects._store
        for key, value in list(store.items()):
            versions = value if isinstance(value, dict) else {None: value}
            for version_id, obj in list(versions.items()):
                if not isinstance(obj, S3Object):
                    continue
                body_id = getattr(obj, "relay_body_id", None)
                path = files.body_path(st.folder, body_id) if body_id else None
                if path is None or not path.exists():
                    # never acknowledged (the process died before its journal record) or lost
                    missing.append(f"s3://{bucket.name}/{key} ({obj.version_id})")
                    if isinstance(value, dict):
                        value.pop(version_id, None)
                        if not value:
                            store.pop(key, None)
                    else:
                        store.pop(key, None)
                    continue
                etag = obj.etag  # write() sets the MD5 of the body; a multipart ETag is not one
                with open(path, "rb") as fh:
                    stored = provider._storage_backend.open(bucket.name, obj, mode="w")
                    try:
                        stored.write(fh)
                    finally:
                        stored.close()
                obj.etag = etag
                st.objects += 1
    if missing:
        st.lost.append(
            {
                "service": "s3",
                "reason": f"{len(missing)} object versions without a saved body dropped: " + ", ".join(missing[:10]),
            }
        )


def _rebuild_events() -> None:
    from localstack.services.events.event_bus import EventBusService
    from localstack.services.events.models import events_stores
    from localstack.services.events.rule import RuleService
    from localstack.services.plugins import SERVICE_PLUGINS

    service = SERVICE_PLUGINS.get_service("events")
    provider = getattr(service, "_provider", None)
    if provider is None or not hasattr(provider, "_rule_services_store"):
        return
    for account, region, store in list(events_stores.iter_stores()):
        for bus in list(store.event_buses.values()):
            provider._event_bus_services_store[bus.arn] = EventBusService(bus)
            for rule in list(bus.rules.values()):
                rule_service = RuleService(rule)
                provider._rule_services_store[rule.arn] = rule_service
                for target in list((rule.targets or {}).values()):
                    provider.create_target_sender(target, rule.arn, rule.name, region, account)
                if rule_service.schedule_cron and rule.targets:
                    job = provider._get_scheduled_rule_job_function(account, region, rule)
                    rule_service.create_schedule_job(job)


def _fail_in_flight() -> None:
    """Executions and builds running at the stop cannot continue: they end failed, saying why (and ``lost``
    names them)."""
    from relay_emulator.common import now

    reason = "The emulator restarted while this was in progress (relay emulator persistence does not resume it)"
    executions, builds = [], []
    try:
        from relay_emulator.codepipeline.models import codepipeline_stores

        for _a, _r, store in list(codepipeline_stores.iter_stores()):
            for pipeline in list(store.pipelines.values()):
                for ex in pipeline.executions:
                    if ex.status in ("InProgress", "Stopping"):
                        ex.status, ex.status_summary, ex.last_update = "Failed", reason, now()
                        executions.append(f"{pipeline.name}/{ex.id}")
                for state in pipeline.stage_states.values():
                    latest = state.get("latestExecution") or {}
                    if latest.get("status") == "InProgress":
                        latest["status"] = "Failed"
                    for action in (state.get("actions") or {}).values():
                        latest = action.get("latestExecution") or {}
                        if latest.get("status") == "InProgress":
                            latest.update(status="Failed", summary=reason, lastStatusChange=now())
    except Exception:
        LOG.exception("persistence: failing pipeline executions in flight")
    try:
        from relay_emulator.codebuild import codebuild_stores

        for _a, _r, store in list(codebuild_stores.iter_stores()):
            for build in list(store.builds.values()):
                if getattr(build, "status", None) == "IN_PROGRESS":
                    build.status, build.current_phase, build.failed = "FAILED", "COMPLETED", True
                    build.end_time = now()
                    build.done.set()
                    builds.append(build.id)
    except Exception:
        LOG.exception("persistence: failing builds in flight")
    for service, what, ids in (("codepipeline", "executions", executions), ("codebuild", "builds", builds)):
        if ids:
            shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
            reason = f"{len(ids)} {what} in flight at the stop failed: {shown}"
            STATE.lost.append({"service": service, "reason": reason})


def _requeue_pending() -> int:
    """Queue every source version whose replication is PENDING again (workers run once the gateway serves)."""
    from relay_emulator import replication
    from relay_emulator.core.replication import OBJECT, destination_bucket, select_rules

    engine = replication.ENGINE
    if engine is None:
        return 0
    engine.provider = engine.provider or _s3_provider()
    count = 0
    for bucket in _buckets():
        config = bucket.replication
        if not config or bucket.versioning_status != "Enabled":
            continue
        for obj in _versions(bucket):
            if getattr(obj, replication.STATUS_ATTRIBUTE, None) != "PENDING":
                continue
            tags = engine._object_tags(bucket, obj.key, obj.version_id)
            rules = select_rules(config, obj.key, tags, OBJECT, getattr(obj, "encryption", None))
            if not rules:
                continue
            task = replication.Task(
                kind=OBJECT,
                account_id=bucket.bucket_account_id,
                region=bucket.bucket_region,
                bucket=bucket.name,
                key=obj.key,
                version_id=obj.version_id,
                last_modified=obj.last_modified,
                rules=rules,
                s3_object=obj,
                tags=tags,
                role_arn=config.get("Role"),
            )
            for rule in rules:
                engine.metrics.scheduled(
                    task.account_id, task.region, task.bucket, destination_bucket(rule), rule, replication._size(task)
                )
            engine._shard(task).put(task)
            count += 1
    return count


def restore() -> None:
    """At start-up: load the snapshot, replay the journal, start the journal and the background saver."""
    st = STATE
    st.folder = folder_from_env()
    _register_route()
    if st.folder is None:
        LOG.info("persistence off (RELAY_EMULATOR_PERSIST=0 or no RELAY_EMULATOR_PERSISTENCE_DIR)")
        return
    began = time.monotonic()
    st.folder.mkdir(parents=True, exist_ok=True)
    files.remove_temporaries(st.folder)
    try:
        manifest = files.read_manifest(st.folder)
    except ValueError as e:
        LOG.error("persistence: %s; starting with fresh state", e)
        manifest = None
    fresh = st.fresh = manifest is None
    if fresh:
        manifest = files.new_manifest()
        for _n, path in files.segments(st.folder):  # a journal without a snapshot belongs to nothing
            path.unlink(missing_ok=True)
    st.manifest = manifest
    _install_dirty_tracking()
    _install_s3_journal()
    _install_replication_journal()
    if not fresh:
        _restore_services(manifest)
        if "s3" in st.restored or files.segments(st.folder):
            _restore_bodies_and_journal(manifest)
        _rebuild_events_safely()
        _refresh_trails()
        _fail_in_flight()
    st.journal = files.Journal(st.folder, manifest.get("journal_from", 0))
    if fresh:
        manifest["saved_at"] = files.now_iso()
        files.write_manifest(st.folder, manifest)
    else:
        # the replayed journal's records are in memory now: the next snapshot must contain them
        for name in st.restored:
            st.dirty.add(name)
        if st.replayed:
            st.dirty.add("s3")
    st.restore_seconds = time.monotonic() - began
    LOG.info(
        "persistence: instance %s, %s: %d services, %d S3 object versions, %d journal records replayed in %.2f s (%s)",
        manifest["instance"],
        "fresh state" if fresh else "restored",
        len(st.restored),
        st.objects,
        st.replayed,
        st.restore_seconds,
        st.folder,
    )
    threading.Thread(target=_after_ready, name="relay-persistence-ready", daemon=True).start()
    threading.Thread(target=_saver, name="relay-persistence-saver", daemon=True).start()


def _restore_bodies_and_journal(manifest: dict) -> None:
    from localstack.services.plugins import SERVICE_PLUGINS

    st = STATE
    if "s3" not in st.restored:
        SERVICE_PLUGINS.require("s3")
    unknown = 0
    for record in files.replay(st.folder, manifest.get("journal_from", 0)):
        applier = RECORD_APPLIERS.get(record.get("t"))
        try:
            if applier is not None and applier(record):
                st.replayed += 1
            else:
                unknown += 1
        except Exception as e:
            unknown += 1
            where = f"s3://{record.get('b')}/{record.get('k') or ''}"
            LOG.warning("persistence: %s journal record for %s not applied: %s", record.get("t"), where, e)
    if unknown:
        st.lost.append(
            {
                "service": "s3",
                "reason": f"{unknown} journal records not applied (their bucket is unknown or the record is damaged)",
            }
        )
    _restore_bodies()


def _rebuild_events_safely() -> None:
    if "events" not in STATE.restored:
        return
    try:
        _rebuild_events()
    except Exception as e:
        LOG.exception("persistence: EventBridge rules not rebuilt")
        STATE.lost.append({"service": "events", "reason": f"rule and target services not rebuilt: {e}"})


def _refresh_trails() -> None:
    """The CloudTrail recorder keeps the logging trails it read at the last CloudTrail write: have it read the
    restored ones (else a restored trail in `cloudtrail` trigger mode would record nothing)."""
    if "cloudtrail" not in STATE.restored:
        return
    from relay_emulator import trail_events

    trail_events.refresh()


def _after_ready() -> None:
    from localstack.runtime import events

    events.infra_ready.wait()
    _refresh_trails()  # again, in case the recorder was installed after the restore
    try:
        STATE.requeued = _requeue_pending()
        if STATE.requeued:
            LOG.info("persistence: %d PENDING S3 replications queued again", STATE.requeued)
    except Exception:
        LOG.exception("persistence: PENDING replications not queued again")


def shutdown() -> None:
    """Graceful stop: save every loaded service, then tell the launcher (``stopped-<pid>``)."""
    st = STATE
    if st.folder is None or st.manifest is None:
        return
    st.stopping = True
    try:
        summary = save(None, reason="shutdown")
        LOG.info("persistence: saved at stop (%s)", summary)
    except Exception:
        LOG.exception("persistence: save at stop failed")
    finally:
        if st.journal is not None:
            st.journal.close()
        files.atomic_write(st.folder / f"stopped-{os.getpid()}", files.now_iso().encode())


# --------------------------------------------------------------------------- route


PROCESS_INSTANCE = f"unpersisted-{uuid.uuid4().hex[:12]}"
"""The instance id of an emulator that keeps nothing: its state is fresh at every start, so a new id each time."""


def document() -> dict:
    st = STATE
    if st.folder is None:
        return {
            "enabled": False,
            "fresh": True,
            "instance": PROCESS_INSTANCE,
            "restored": [],
            "lost": [],
            "saved_at": None,
            "journal_replayed": 0,
        }
    manifest = st.manifest or {}
    return {
        "enabled": True,
        "fresh": st.fresh,
        "instance": manifest.get("instance"),
        "restored": list(st.restored),
        "lost": list(st.lost),
        "not_kept": NOT_KEPT,
        "saved_at": manifest.get("saved_at"),
        "saved_services": sorted(manifest.get("services") or {}),
        "save_failures": manifest.get("save_failures") or [],
        "journal_replayed": st.replayed,
        "objects": st.objects,
        "replications_requeued": st.requeued,
        "restore_seconds": st.restore_seconds,
        "last_save_seconds": st.last_save_seconds,
        "folder": str(st.folder),
    }


class PersistenceResource:
    def on_get(self, request):
        from localstack.http import Response

        return Response.for_json(document())

    def on_post(self, request):
        """``POST /_relay/persistence`` saves every loaded service now (tests, drills)."""
        from localstack.http import Response

        if STATE.folder is None:
            return Response.for_json({"error": "persistence is off"}, status=409)
        summary = save(None, reason="request")
        return Response.for_json({**document(), "save": summary})


def _register_route() -> None:
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    get_internal_apis().add(Resource(PERSISTENCE_PATH, PersistenceResource()))


# --------------------------------------------------------------------------- LocalStack hooks (entry points)

try:
    from localstack.runtime.hooks import on_infra_shutdown, on_infra_start
except ImportError:  # imported outside LocalStack (documentation tools)
    pass
else:

    @on_infra_start(priority=-100)
    def relay_emulator_restore():
        """After relay_emulator_install (priority 10) and LocalStack's own start-up hooks, before the gateway."""
        restore()

    @on_infra_shutdown(priority=100)
    def relay_emulator_save():
        """Before LocalStack stops its services (priority -10)."""
        shutdown()
