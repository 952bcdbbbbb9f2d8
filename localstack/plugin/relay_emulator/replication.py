"""S3 replication engine for LocalStack.

LocalStack validates and stores a bucket's replication configuration but never copies an
object. This module adds the copying, following S3's documented semantics closely enough
for relay's cross-region delivery pipeline:

* Trigger: every object write passes through ``S3Provider._notify`` (PutObject, CopyObject,
  CompleteMultipartUpload, delete-marker creation), which is patched. Objects written before a
  rule existed are therefore never replicated (S3 does not either, without Batch Replication),
  and deletes that name a version id never create a delete marker, so they are not replicated.
* Rules are selected synchronously in the request (so HeadObject right after the PUT already
  says ``PENDING``) by ``core.replication`` (Status, Priority, filters, delete markers, SSE-KMS
  criteria); the copy itself runs on a worker thread (S3 is asynchronous).
* Replicas are written in-process (``replica_write``): the body is copied at the storage level
  (kernel ``copy_file_range`` between spool files, never a whole large body in memory), the
  replica's S3 object keeps the source's version id, ETag, checksum and last-modified time and
  says ``REPLICA``, and what an S3 write triggers runs explicitly with a request context of the
  replica's PutObject: the destination's notifications (EventBridge ``Object Created``), the
  CloudTrail data event, the persistence journal. The context carries an internal header naming a
  "ticket" (who writes: the replication role). Delete markers (and every replica with
  ``RELAY_REPLICATION_WRITE=api``) still go through the S3 API with LocalStack's internal client,
  tagged with the ticket the patched handlers read. Replicas are never replicated again (S3 does
  not chain replicas either).
* Failures (missing or unversioned destination, any error) are retried with backoff, then
  the source is marked ``FAILED`` and the reason is logged at ERROR level in the LocalStack
  log. Nothing is dropped silently. A destination whose bucket policy denies the replication
  role the write (``s3:ReplicateObject``, ``s3:ReplicateTags``,
  ``s3:ObjectOwnerOverrideToBucketOwner``, ``s3:ReplicateDelete``: what S3 checks for a replica,
  evaluated by ``write_guard``) fails at once, naming the statement; the replica write itself is
  also evaluated as that role.
* Statuses belong to the object version: they are kept on LocalStack's S3 object itself, so
  they live, and are reset, with S3's own store. Engine and handlers access them under one lock.

Ordering: tasks are sharded by (bucket, key) onto single-threaded queues, so versions of the
same key replicate in write order, while different keys replicate in parallel.

Back-pressure: at most ``RELAY_REPLICATION_BACKLOG`` tasks (default 1000) wait for a worker; a
write that would exceed it waits in its request (before the response) until a worker takes a task,
at most ``RELAY_REPLICATION_BACKLOG_WAIT`` seconds (default 30), after which it is admitted anyway
and counted as an overflow (nothing is dropped). ``GET /_relay/replication`` shows the backlog
(depth, bound, high-water mark, waits, overflows) and the workers; ``POST /_relay/replication``
changes ``backlog``, ``backlog_wait``, ``write`` (``direct`` | ``api``) or ``reset``s the counters.

Not emulated: IAM policies of the replication role (only the destination's bucket policy
``Deny`` statements in ``write_guard``'s subset are enforced), Replication Time Control's 15-minute
guarantee and its missed-threshold events, replica modification sync, existing-object and Batch
Replication. Replication metrics of rules with ``Metrics`` enabled are published to CloudWatch
(``replication_metrics.py``).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
import zlib

from localstack.utils.patch import Patches

from relay_emulator import faults, replica_write, write_guard
from relay_emulator.common import describe, in_memory, internal_client
from relay_emulator.core.bucket_policy import requested_actions
from relay_emulator.core.faults import Scheduler, down_backoff
from relay_emulator.core.replication import (
    DELETE_MARKER,
    OBJECT,
    Backlog,
    destination_bucket,
    owner_translated,
    replica_request,
    select_rules,
    settings_update,
)
from relay_emulator.replication_metrics import ReplicationMetrics

LOG = logging.getLogger("relay_emulator.replication")

# Internal request header that identifies a replica write (only sent by this engine).
REPLICA_HEADER = "x-relay-replica-ticket"
# Attributes of LocalStack's S3Object that hold its replication status and failure reason.
STATUS_ATTRIBUTE = "relay_replication_status"
FAILURE_ATTRIBUTE = "relay_replication_failure"

# Operations whose new object version is eligible for replication.
OBJECT_WRITE_OPS = {"PutObject", "CopyObject", "CompleteMultipartUpload"}
DELETE_OPS = {"DeleteObject", "DeleteObjects"}

WORKERS = int(os.environ.get("RELAY_REPLICATION_WORKERS", "8"))
ATTEMPTS = int(os.environ.get("RELAY_REPLICATION_ATTEMPTS", "3"))
BACKOFF = float(os.environ.get("RELAY_REPLICATION_BACKOFF", "0.3"))  # seconds, doubled per retry
SPOOL_MAX = 16 * 1024 * 1024  # api writes: bodies above this are spooled to disk while copied
BACKLOG = int(os.environ.get("RELAY_REPLICATION_BACKLOG", "1000"))  # tasks waiting for a worker
BACKLOG_WAIT = float(os.environ.get("RELAY_REPLICATION_BACKLOG_WAIT", "30"))  # seconds a write waits for a slot
# direct: replicas written in-process (replica_write); api: through LocalStack's internal S3 client
WRITE = os.environ.get("RELAY_REPLICATION_WRITE", "direct")
REPLICATION_PATH = "/_relay/replication"

_request_local = threading.local()  # per request thread: version id forced by a replica ticket
_worker_local = threading.local()  # per worker thread: ticket to attach to outgoing requests


class ReplicationFailed(Exception):
    """A destination cannot receive the replica (reason is logged and recorded)."""


class ReplicationDenied(ReplicationFailed):
    """The destination's bucket policy denies the replication role the write (never retried)."""


@dataclasses.dataclass
class Ticket:
    """What a replica write must look like; looked up by the handlers of the replica request."""

    version_id: str
    last_modified: datetime.datetime | None
    role_arn: str | None = None  # the replication role S3 acts as (recorded by CloudTrail)
    source_account: str | None = None


@dataclasses.dataclass
class Task:
    kind: str  # OBJECT | DELETE_MARKER
    account_id: str
    region: str
    bucket: str
    key: str
    version_id: str
    last_modified: datetime.datetime | None
    rules: list  # matched rules, at most one per destination bucket
    s3_object: object = None  # the source version (LocalStack model), read in-process
    tags: dict = dataclasses.field(default_factory=dict)
    role_arn: str | None = None
    enqueued: float = dataclasses.field(default_factory=time.monotonic)
    reserved: bool = False  # holds a backlog slot until a worker takes it
    outstanding: int | None = None  # rules not finished yet (set when a worker takes the task)
    failures: list = dataclasses.field(default_factory=list)  # "<dest bucket>: <reason>" of failed rules


@dataclasses.dataclass(eq=False)
class RuleWork:
    """One rule of a task that waits for a down region or was delayed by a fault (``faults.py``)."""

    task: Task
    rule: dict
    retry: int = 0  # retries while a region is down (never counted as attempts)
    delayed: bool = False  # a delay fault was applied (once)
    dest_region: str | None = None


_DOWN = object()  # an attempt met a down region


class ReplicationEngine:
    def __init__(self, workers: int = WORKERS):
        self.tickets: dict[str, Ticket] = {}  # in-flight replica writes, by token
        self._lock = threading.Lock()  # statuses on S3 objects
        self._clients: dict[tuple, object] = {}
        self.provider = None  # the S3Provider instance, captured on the first write
        self.metrics = ReplicationMetrics()  # CloudWatch metrics of rules with Metrics enabled
        self._queues = [queue.Queue() for _ in range(max(1, workers))]
        self.backlog = Backlog(max(1, BACKLOG), max(0.0, BACKLOG_WAIT))
        self.write = WRITE if WRITE in ("direct", "api") else "direct"
        # per shard: [CPU seconds its worker spent (thread time), items done], for benchmarks
        self._cpu = [[0.0, 0] for _ in range(max(1, workers))]
        self.written = collections.Counter()  # replica writes by how ("file", "memory", "stream", "api", ...)
        self._stats_lock = threading.Lock()
        # (bucket, key, destination bucket) -> rules of that key waiting, in write order, behind
        # the head that waits for a down region; only touched by the lane's shard worker
        self._waiting: dict[tuple, collections.deque] = {}
        self._scheduler = Scheduler("relay-s3-repl-later")
        for i, q in enumerate(self._queues):
            t = threading.Thread(target=self._work, args=(q, i), name=f"relay-s3-repl-{i}", daemon=True)
            t.start()

    # ------------------------------------------------------------------ statuses

    def set_status(self, s3_object, status: str, reason: str | None = None) -> None:
        """Record an object version's replication status (and the reason of a failure)."""
        with self._lock:
            setattr(s3_object, STATUS_ATTRIBUTE, status)
            if reason:
                setattr(s3_object, FAILURE_ATTRIBUTE, reason)

    def status_of(self, s3_object) -> str | None:
        """PENDING | COMPLETED | FAILED on a source version, REPLICA on a replica, else None."""
        with self._lock:
            return getattr(s3_object, STATUS_ATTRIBUTE, None)

    # ------------------------------------------------------------------ request-side hooks

    def on_write(self, provider, context, s3_bucket, s3_object=None, s3_notif_ctx=None) -> None:
        """Called from the patched ``S3Provider._notify`` for every object write/delete."""
        from localstack.services.s3.models import S3DeleteMarker, S3Object

        self.provider = provider

        ticket = self.ticket_of(context)
        if ticket is not None:
            # A replica written by this engine: keep the source's last-modified time and mark
            # it REPLICA. It is never replicated again.
            if isinstance(s3_object, S3Object):
                if ticket.last_modified is not None:
                    s3_object.last_modified = ticket.last_modified
                self.set_status(s3_object, "REPLICA")
            return

        config = s3_bucket.replication
        if not config or s3_bucket.versioning_status != "Enabled" or context.operation is None:
            return
        op = context.operation.name
        if op in OBJECT_WRITE_OPS and isinstance(s3_object, S3Object):
            kind, key, version_id = OBJECT, s3_object.key, s3_object.version_id
        elif op in DELETE_OPS and s3_notif_ctx is not None and s3_notif_ctx.event_type.endswith("DeleteMarkerCreated"):
            kind, key, version_id = DELETE_MARKER, s3_notif_ctx.key_name, s3_notif_ctx.key_version_id
        elif op in DELETE_OPS and isinstance(s3_object, S3DeleteMarker):
            kind, key, version_id = DELETE_MARKER, s3_object.key, s3_object.version_id
        else:
            return

        tags = self._object_tags(s3_bucket, key, version_id) if kind == OBJECT else {}
        encryption = getattr(s3_object, "encryption", None) if kind == OBJECT else None
        rules = select_rules(config, key, tags, kind, encryption)
        if not rules:
            return
        task = Task(
            kind=kind,
            account_id=s3_bucket.bucket_account_id,
            region=s3_bucket.bucket_region,
            bucket=s3_bucket.name,
            key=key,
            version_id=version_id,
            last_modified=getattr(s3_object, "last_modified", None),
            rules=rules,
            s3_object=s3_object if kind == OBJECT else None,
            tags=tags,
            role_arn=config.get("Role"),
        )
        if kind == OBJECT:
            self.set_status(s3_object, "PENDING")
        for rule in rules:
            dest = destination_bucket(rule)
            self.metrics.scheduled(task.account_id, task.region, task.bucket, dest, rule, _size(task))
        if self.backlog.acquire():
            LOG.debug("S3 replication backlog full (%d): s3://%s/%s waited", self.backlog.bound, task.bucket, key)
        task.reserved = True
        self._shard(task).put(task)

    def forced_version_id(self) -> str | None:
        """Version id the current request must use (a replica keeps the source's)."""
        return getattr(_request_local, "version_id", None)

    def ticket_of(self, context) -> Ticket | None:
        """The ticket of a replica write request (None for any other request)."""
        try:
            token = context.request.headers.get(REPLICA_HEADER)
        except AttributeError:
            return None
        return self.tickets.get(token) if token else None

    @staticmethod
    def _object_tags(s3_bucket, key, version_id) -> dict:
        from localstack.services.s3.models import s3_stores
        from localstack.services.s3.utils import get_unique_key_id

        store = s3_stores[s3_bucket.bucket_account_id][s3_bucket.bucket_region]
        try:
            return dict(store.tags.get_tags(get_unique_key_id(s3_bucket.name, key, version_id)) or {})
        except Exception:  # tags are best effort for rule matching
            return {}

    # ------------------------------------------------------------------ worker side

    def _work(self, q: queue.Queue, index: int = 0) -> None:
        while True:
            item = q.get()
            began = time.thread_time()
            task = item.task if isinstance(item, RuleWork) else item
            if task is item and task.reserved:
                task.reserved = False
                self.backlog.release()
            try:
                if isinstance(item, RuleWork):
                    self._replicate_rule(item)
                else:
                    self._replicate(item)
            except Exception:  # never let a worker die: log and continue
                LOG.exception("S3 replication worker error for s3://%s/%s", task.bucket, task.key)
                if task.kind == OBJECT:
                    self.set_status(task.s3_object, "FAILED", "internal error")
            finally:
                q.task_done()
                cpu = self._cpu[index]  # only this shard's worker writes its slot
                cpu[0] += time.thread_time() - began
                cpu[1] += 1

    def _shard(self, task: Task) -> queue.Queue:
        return self._queues[zlib.crc32(f"{task.bucket}/{task.key}".encode()) % len(self._queues)]

    def _later(self, seconds: float, work: RuleWork) -> None:
        """Put ``work`` back on its shard's queue after ``seconds`` (the worker never sleeps on it)."""
        self._scheduler.schedule(seconds, lambda: self._shard(work.task).put(work))

    def _replicate(self, task: Task) -> None:
        task.outstanding = len(task.rules)
        for rule in task.rules:
            self._replicate_rule(RuleWork(task, rule))

    def _replicate_rule(self, work: RuleWork) -> None:
        """One rule of a task. While the source or destination region is down (``faults``), the
        rule is re-scheduled with ``down_backoff`` (not an attempt) and later versions of the key
        for that destination queue behind it (write order kept); a delay fault re-schedules it
        once without holding the key (later versions may overtake it, as S3 allows)."""
        lane = (work.task.bucket, work.task.key, destination_bucket(work.rule))
        waiting = self._waiting.get(lane)
        if waiting and waiting[0] is not work:
            waiting.append(work)  # an earlier version of this key waits for a down region
            return
        while True:
            down = self._down_region(work)
            if down is not None:
                if waiting is None:
                    waiting = self._waiting[lane] = collections.deque([work])
                    LOG.info(
                        "S3 replication of s3://%s/%s (version %s) to %s waits: region %s is down",
                        work.task.bucket,
                        work.task.key,
                        work.task.version_id,
                        lane[2],
                        down,
                    )
                self._later(down_backoff(work.retry), work)
                work.retry += 1
                return
            if waiting is None and not work.delayed and work.dest_region:
                seconds = faults.replication_delay(work.dest_region)
                if seconds:
                    work.delayed = True
                    LOG.info(
                        "S3 replication of s3://%s/%s (version %s) to %s delayed %g s (injected fault)",
                        work.task.bucket,
                        work.task.key,
                        work.task.version_id,
                        lane[2],
                        seconds,
                    )
                    self._later(seconds, work)
                    return
            error = self._attempts(work)
            if error is _DOWN:
                continue
            self._rule_done(work, error)
            if waiting is None:
                return
            waiting.popleft()
            if not waiting:
                del self._waiting[lane]
                return
            work = waiting[0]  # the next version of the key, now the head

    def _down_region(self, work: RuleWork) -> str | None:
        """The down region (source or destination) that keeps ``work`` from replicating, if any;
        records the destination's region on ``work``."""
        task, rule = work.task, work.rule
        if faults.is_down(task.region):
            return task.region
        try:
            work.dest_region = self.check_destination(
                destination_bucket(rule), rule["Destination"].get("Account") or task.account_id
            )
        except ReplicationFailed:  # the attempts report it
            work.dest_region = None
            return None
        return work.dest_region if faults.is_down(work.dest_region) else None

    def _attempts(self, work: RuleWork):
        """Copy with ATTEMPTS attempts: None when done, the last error, or ``_DOWN`` when an
        attempt failed because a region went down (that attempt is not counted)."""
        task, rule = work.task, work.rule
        dest_bucket = destination_bucket(rule)
        last_error = None
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._copy_to(task, rule, dest_bucket)
                return None
            except ReplicationDenied as e:  # a policy does not change between attempts
                return str(e)
            except Exception as e:
                if self._down_region(work) is not None:
                    return _DOWN
                last_error = describe(e)
                if attempt < ATTEMPTS:
                    LOG.warning(
                        "S3 replication attempt %d/%d of s3://%s/%s (version %s) to %s failed: %s; retrying",
                        attempt,
                        ATTEMPTS,
                        task.bucket,
                        task.key,
                        task.version_id,
                        dest_bucket,
                        last_error,
                    )
                    time.sleep(BACKOFF * (2 ** (attempt - 1)))
        return last_error

    def _rule_done(self, work: RuleWork, last_error: str | None) -> None:
        """Record one finished rule; the task's status once every rule finished."""
        task, rule = work.task, work.rule
        dest_bucket = destination_bucket(rule)
        if last_error is not None:
            task.failures.append(f"{dest_bucket}: {last_error}")
            LOG.error(
                "S3 replication FAILED for s3://%s/%s (version %s, %s) to bucket %s (rule %s): %s",
                task.bucket,
                task.key,
                task.version_id,
                task.kind,
                dest_bucket,
                rule.get("ID", "-"),
                last_error,
            )
        self.metrics.finished(
            task.account_id,
            task.region,
            task.bucket,
            dest_bucket,
            rule,
            _size(task),
            task.last_modified,
            failed=last_error is not None,
        )
        task.outstanding = (task.outstanding or 1) - 1
        if task.kind != OBJECT or task.outstanding > 0:
            return
        if task.failures:
            self.set_status(task.s3_object, "FAILED", "; ".join(task.failures))
        else:
            self.set_status(task.s3_object, "COMPLETED")
            LOG.debug(
                "S3 replication COMPLETED for s3://%s/%s (version %s) in %.3fs",
                task.bucket,
                task.key,
                task.version_id,
                time.monotonic() - task.enqueued,
            )

    def _client(self, region: str, account_id: str):
        """Internal S3 client that tags outgoing requests with the current worker's ticket."""
        cache_key = (region, account_id)
        client = self._clients.get(cache_key)
        if client is None:
            from botocore.config import Config

            # own Config (connect_to caches clients per config): this client gets a hook
            client = internal_client(
                "s3",
                region,
                account_id,
                # no client-side CRC of the body: S3 computes its own checksums on write
                config=Config(
                    retries={"max_attempts": 1},
                    read_timeout=300,
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                ),
            )

            def add_ticket(request, **kwargs):
                token = getattr(_worker_local, "token", None)
                if token:
                    request.headers[REPLICA_HEADER] = token

            client.meta.events.register("before-sign.s3", add_ticket)
            in_memory(client)
            self._clients[cache_key] = client
        return client

    @staticmethod
    def check_destination(name: str, account_id: str) -> str:
        """Region of the destination bucket; fails like S3 when it is missing or unversioned.

        Read from LocalStack's S3 store in-process (bucket names are global), which is what
        S3 checks before it writes a replica.
        """
        from localstack.services.s3.models import s3_stores

        owner = s3_stores[account_id]["us-east-1"].global_bucket_map.get(name)
        bucket = s3_stores[owner]["us-east-1"].buckets.get(name) if owner else None
        if bucket is None:
            raise ReplicationFailed(f"destination bucket {name} does not exist (NoSuchBucket)")
        if bucket.versioning_status != "Enabled":
            raise ReplicationFailed(f"destination bucket {name} does not have versioning enabled")
        return bucket.bucket_region

    def _copy_to(self, task: Task, rule: dict, dest_bucket: str) -> None:
        dest_account = rule["Destination"].get("Account") or task.account_id
        # Write as the destination account only when ownership is translated to it; otherwise
        # the replica is owned by the source account, as in S3.
        writer_account = dest_account if owner_translated(rule) else task.account_id

        dest_region = self.check_destination(dest_bucket, dest_account)
        params = self._replica_params(task, rule) if task.kind == OBJECT else {}
        self.check_policy(task, dest_bucket, params)
        direct = task.kind == OBJECT and self.write == "direct"
        if direct and faults.is_down(dest_region):  # what the gateway answers an API write
            raise replica_write.RegionDown(f"ServiceUnavailable: region {dest_region} is down")
        dest_client = None if direct else self._client(dest_region, writer_account)

        token = uuid.uuid4().hex
        self.tickets[token] = Ticket(
            version_id=task.version_id,
            last_modified=task.last_modified,
            role_arn=task.role_arn,
            source_account=task.account_id,
        )
        _worker_local.token = token
        try:
            if task.kind == DELETE_MARKER:
                dest_client.delete_object(Bucket=dest_bucket, Key=task.key)
                self._count("delete_marker")
                return
            if direct:
                target = replica_write.ReplicaWrite(
                    REPLICA_HEADER, token, writer_account, dest_region, dest_bucket, task.key, _size(task)
                )
                self._copy_object(task, dest_bucket, target, params)
            else:
                self._copy_object(task, dest_bucket, dest_client, params)
        finally:
            _worker_local.token = None
            self.tickets.pop(token, None)

    @staticmethod
    def check_policy(task: Task, dest_bucket: str, params: dict) -> None:
        """Fail like S3 when the destination's bucket policy denies the replication role the
        replica write (``params``: the replica's PutObject parameters; a delete marker has none)."""
        operation = "DeleteObject" if task.kind == DELETE_MARKER else "PutObject"
        actions = requested_actions(operation, params, replica=True)
        principal = write_guard.replication_principal(task.role_arn, task.account_id)
        denial = write_guard.check(dest_bucket, task.key, actions, principal)
        if denial is not None:
            raise ReplicationDenied(
                f"AccessDenied: the bucket policy of {dest_bucket} denies {denial.action} to the replication "
                f"role {task.role_arn} ({denial.statement.name})"
            )

    @staticmethod
    def _replica_params(task: Task, rule: dict) -> dict:
        """The replica's PutObject parameters (metadata, tags, storage class, encryption, ACL)."""
        src = task.s3_object
        source = dict(src.system_metadata or {})
        source.update(
            Metadata=dict(src.user_metadata or {}),
            Expires=src.expires,
            WebsiteRedirectLocation=src.website_redirect_location,
            StorageClass=src.storage_class,
            ServerSideEncryption=src.encryption,
        )
        return replica_request(rule, source, task.tags)

    def _copy_object(self, task: Task, dest_bucket: str, dest, params: dict) -> None:
        """Write the replica: ``dest`` is a ``replica_write.ReplicaWrite`` (in-process write) or the
        destination's internal S3 client (``api``)."""
        src = task.s3_object
        if not hasattr(dest, "put_object"):
            _response, how = replica_write.write_replica(
                self.provider,
                source_bucket=task.bucket,
                source=src,
                dest_bucket=dest_bucket,
                params=params,
                target=dest,
            )
            self._count(how)
            return
        # api: read the exact source version from LocalStack's storage in-process (S3 reads the
        # source internally too); only the replica write goes through the S3 API.
        dest_client = dest
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)
        stored = self.provider._storage_backend.open(task.bucket, src, mode="r")
        try:
            for chunk in stored:
                body.write(chunk)
        finally:
            stored.close()
        body.seek(0)
        try:
            dest_client.put_object(Bucket=dest_bucket, Key=task.key, Body=body, **params)
            self._count("api")
        finally:
            body.close()

    # ------------------------------------------------------------------ control API

    def _count(self, how: str) -> None:
        with self._stats_lock:
            self.written[how] += 1

    def document(self) -> dict:
        """What ``GET /_relay/replication`` answers."""
        return {
            "workers": len(self._queues),
            "write": self.write,
            "backlog": self.backlog.snapshot(),
            "queued": [q.qsize() for q in self._queues],
            "waiting_for_region": sum(len(w) for w in list(self._waiting.values())),
            "in_flight_tickets": len(self.tickets),
            "written": self._written(),
            "worker_items": sum(c[1] for c in self._cpu),
            "worker_cpu_seconds": round(sum(c[0] for c in self._cpu), 4),
        }

    def _written(self) -> dict:
        with self._stats_lock:
            return dict(self.written)

    def configure(self, settings: dict) -> None:
        if "write" in settings:
            self.write = settings["write"]
        self.backlog.configure(settings.get("backlog"), settings.get("backlog_wait"), settings.get("reset", False))
        if settings.get("reset"):
            with self._stats_lock:
                self.written.clear()
            for cpu in self._cpu:  # a worker may add to its slot meanwhile: figures are approximate
                cpu[0], cpu[1] = 0.0, 0


class ReplicationResource:
    """``GET``/``POST /_relay/replication`` (see the module docstring)."""

    def on_get(self, request):
        from localstack.http import Response

        return Response.for_json(ENGINE.document())

    def on_post(self, request):
        import json

        from localstack.http import Response

        try:
            raw = request.get_data(as_text=True)
            settings = settings_update(json.loads(raw) if raw.strip() else {})
        except ValueError as e:
            return Response.for_json({"error": str(e)}, status=400)
        ENGINE.configure(settings)
        return Response.for_json(ENGINE.document())


def _size(task: Task) -> int:
    """Bytes a task replicates (0 for a delete marker)."""
    return int(getattr(task.s3_object, "size", 0) or 0) if task.kind == OBJECT else 0


# ---------------------------------------------------------------------- installation

ENGINE: ReplicationEngine | None = None
PATCHES = Patches()


def install() -> ReplicationEngine:
    """Patch LocalStack's S3 provider (class level, before it is instantiated)."""
    global ENGINE
    if ENGINE is not None:
        return ENGINE
    from localstack.services.s3 import provider as s3_provider_module
    from localstack.services.s3.provider import S3Provider

    engine = ENGINE = ReplicationEngine()

    def generate_version_id(original, bucket_versioning_status):
        forced = engine.forced_version_id()
        if forced and bucket_versioning_status == "Enabled":
            _request_local.version_id = None  # one forced id per replica request
            return forced
        return original(bucket_versioning_status)

    def notify(original, self, context, s3_bucket, s3_object=None, s3_notif_ctx=None):
        try:
            engine.on_write(self, context, s3_bucket, s3_object=s3_object, s3_notif_ctx=s3_notif_ctx)
        except Exception:  # replication must never break the S3 request itself
            LOG.exception("S3 replication scheduling failed for bucket %s", getattr(s3_bucket, "name", "?"))
        return original(self, context, s3_bucket, s3_object=s3_object, s3_notif_ctx=s3_notif_ctx)

    def with_ticket(original, self, context, *args, **kwargs):
        """A replica request uses the version id named by its ticket."""
        ticket = engine.ticket_of(context)
        _request_local.version_id = ticket.version_id if ticket else None
        try:
            return original(self, context, *args, **kwargs)
        finally:
            _request_local.version_id = None

    def with_replication_status(original, self, context, request, *args, **kwargs):
        """HeadObject/GetObject report x-amz-replication-status like S3."""
        response = original(self, context, request, *args, **kwargs)
        try:
            _, s3_bucket = self._get_cross_account_bucket(context, request["Bucket"])
            s3_object = s3_bucket.get_object(key=request["Key"], version_id=response.get("VersionId"))
            status = engine.status_of(s3_object)
            if status:
                response["ReplicationStatus"] = status
        except Exception:
            LOG.debug("could not add ReplicationStatus", exc_info=True)
        return response

    def put_bucket_replication(original, self, context, bucket, replication_configuration, **kwargs):
        """LocalStack only looks for destination buckets in the caller's account; S3 accepts
        destinations owned by another account (``Destination.Account``)."""
        from localstack.services.s3.exceptions import InvalidRequest
        from localstack.utils.strings import short_uid

        try:
            return original(self, context, bucket=bucket, replication_configuration=replication_configuration, **kwargs)
        except InvalidRequest as e:
            if "Destination bucket must have versioning enabled" not in str(e.message):
                raise
            for rule in replication_configuration.get("Rules") or []:
                rule.setdefault("ID", short_uid())
                dest = rule.get("Destination") or {}
                try:
                    engine.check_destination(
                        (dest.get("Bucket") or "").split(":::", 1)[-1], dest.get("Account") or context.account_id
                    )
                except ReplicationFailed:
                    raise e from None
            _, s3_bucket = self._get_cross_account_bucket(context, bucket)
            s3_bucket.replication = replication_configuration

    PATCHES.function(s3_provider_module.generate_version_id, generate_version_id)
    PATCHES.function(S3Provider._notify, notify)
    PATCHES.function(S3Provider.put_object, with_ticket)
    PATCHES.function(S3Provider.delete_object, with_ticket)
    PATCHES.function(S3Provider.put_bucket_replication, put_bucket_replication)
    PATCHES.function(S3Provider.head_object, with_replication_status)
    PATCHES.function(S3Provider.get_object, with_replication_status)
    PATCHES.apply()
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    get_internal_apis().add(Resource(REPLICATION_PATH, ReplicationResource()))
    LOG.info(
        "relay S3 replication engine installed (%d workers, backlog %d, %s writes)",
        len(engine._queues),
        engine.backlog.bound,
        engine.write,
    )
    return engine
