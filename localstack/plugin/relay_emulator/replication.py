"""S3 replication engine for LocalStack.

LocalStack validates and stores a bucket's replication configuration but never copies an
object. This module adds the copying, following S3's documented semantics closely enough
for relay's cross-region delivery pipeline:

* Trigger: every object write passes through ``S3Provider._notify`` (PutObject, CopyObject,
  CompleteMultipartUpload, delete-marker creation). We wrap that seam. Objects written
  before a rule existed are therefore never replicated (S3 does not either, without Batch
  Replication), and deletes that name a version id never create a delete marker, so they
  are not replicated.
* Rule evaluation happens synchronously in the request (so HeadObject right after the PUT
  already says ``PENDING``); the copy itself runs on a worker thread (S3 is asynchronous).
  Rules: Status, Priority (per destination bucket, the highest priority matching rule
  wins), Prefix / Tag / And filters (and the legacy rule-level Prefix), DeleteMarker-
  Replication, SourceSelectionCriteria.SseKmsEncryptedObjects + ReplicaKmsKeyID,
  Destination StorageClass, Account and AccessControlTranslation.
* Replicas are written *through the S3 API* with LocalStack's internal boto client, so the
  destination's own notifications (EventBridge ``Object Created``) fire exactly as for any
  PUT. The request carries an internal header naming a "ticket"; our wrapped handlers use it
  to give the replica the source's version id and last-modified time and to mark it
  ``REPLICA``. Replicas are never replicated again (S3 does not chain replicas either).
* Failures (missing or unversioned destination, any error) are retried with backoff, then
  the source is marked ``FAILED`` and the reason is logged at ERROR level in the LocalStack
  log. Nothing is dropped silently.

Ordering: tasks are sharded by (bucket, key) onto single-threaded queues, so versions of the
same key replicate in write order, while different keys replicate in parallel.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import os
import queue
import tempfile
import threading
import time
import urllib.parse
import uuid
import zlib

LOG = logging.getLogger("relay_emulator.replication")

# Internal request header that identifies a replica write (only sent by this engine).
REPLICA_HEADER = "x-relay-replica-ticket"

# Operations whose new object version is eligible for replication.
OBJECT_WRITE_OPS = {"PutObject", "CopyObject", "CompleteMultipartUpload"}
DELETE_OPS = {"DeleteObject", "DeleteObjects"}

WORKERS = int(os.environ.get("RELAY_REPLICATION_WORKERS", "8"))
ATTEMPTS = int(os.environ.get("RELAY_REPLICATION_ATTEMPTS", "3"))
BACKOFF = float(os.environ.get("RELAY_REPLICATION_BACKOFF", "0.3"))  # seconds, doubled per retry
SPOOL_MAX = 16 * 1024 * 1024  # bodies above this are spooled to disk while copied

_request_local = threading.local()  # per request thread: version id forced by a replica ticket
_worker_local = threading.local()  # per worker thread: ticket to attach to outgoing requests


class ReplicationFailed(Exception):
    """A destination cannot receive the replica (reason is logged and recorded)."""


@dataclasses.dataclass
class Ticket:
    """What a replica write must look like; looked up by the handlers of the replica request."""

    version_id: str
    last_modified: datetime.datetime | None
    role_arn: str | None = None  # the replication role S3 acts as (recorded by CloudTrail)
    source_account: str | None = None


@dataclasses.dataclass
class Task:
    kind: str  # "object" | "delete_marker"
    account_id: str
    region: str
    bucket: str
    key: str
    version_id: str
    last_modified: datetime.datetime | None
    encryption: str | None
    storage_class: str | None
    rules: list  # matched rules, at most one per destination bucket
    s3_object: object = None  # the source version (LocalStack model), read in-process
    tags: dict = dataclasses.field(default_factory=dict)
    role_arn: str | None = None
    enqueued: float = dataclasses.field(default_factory=time.monotonic)


class ReplicationEngine:
    def __init__(self, workers: int = WORKERS):
        # (bucket, key, version_id) -> PENDING | COMPLETED | FAILED | REPLICA
        self.status: dict[tuple, str] = {}
        self.failures: dict[tuple, str] = {}
        self.tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()
        self._clients: dict[tuple, object] = {}
        self.provider = None  # the S3Provider instance, captured on the first write
        self._queues = [queue.Queue() for _ in range(max(1, workers))]
        for i, q in enumerate(self._queues):
            t = threading.Thread(target=self._work, args=(q,), name=f"relay-s3-repl-{i}", daemon=True)
            t.start()

    # ------------------------------------------------------------------ request-side hooks

    def on_write(self, provider, context, s3_bucket, s3_object=None, s3_notif_ctx=None) -> None:
        """Called from the wrapped ``S3Provider._notify`` for every object write/delete."""
        from localstack.services.s3.models import S3DeleteMarker, S3Object

        self.provider = provider

        ticket = self._ticket_of(context)
        if ticket is not None:
            # A replica written by this engine: keep the source's last-modified time and mark
            # it REPLICA. It is never replicated again.
            if isinstance(s3_object, S3Object):
                if ticket.last_modified is not None:
                    s3_object.last_modified = ticket.last_modified
                self._set_status(s3_bucket.name, s3_object.key, s3_object.version_id, "REPLICA")
            return

        config = s3_bucket.replication
        if not config or s3_bucket.versioning_status != "Enabled" or context.operation is None:
            return
        op = context.operation.name
        if op in OBJECT_WRITE_OPS and isinstance(s3_object, S3Object):
            kind, key, version_id = "object", s3_object.key, s3_object.version_id
        elif op in DELETE_OPS and s3_notif_ctx is not None and s3_notif_ctx.event_type.endswith("DeleteMarkerCreated"):
            kind, key, version_id = "delete_marker", s3_notif_ctx.key_name, s3_notif_ctx.key_version_id
        elif op in DELETE_OPS and isinstance(s3_object, S3DeleteMarker):
            kind, key, version_id = "delete_marker", s3_object.key, s3_object.version_id
        else:
            return

        tags = self._object_tags(s3_bucket, key, version_id) if kind == "object" else {}
        encryption = getattr(s3_object, "encryption", None) if kind == "object" else None
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
            encryption=encryption,
            storage_class=getattr(s3_object, "storage_class", None),
            rules=rules,
            s3_object=s3_object if kind == "object" else None,
            tags=tags,
            role_arn=config.get("Role"),
        )
        if kind == "object":
            self._set_status(task.bucket, key, version_id, "PENDING")
        shard = zlib.crc32(f"{task.bucket}/{key}".encode()) % len(self._queues)
        self._queues[shard].put(task)

    def forced_version_id(self) -> str | None:
        """Version id the current request must use (a replica keeps the source's)."""
        return getattr(_request_local, "version_id", None)

    def status_of(self, bucket: str, key: str, version_id: str | None) -> str | None:
        if not version_id:
            return None
        return self.status.get((bucket, key, version_id))

    def _ticket_of(self, context) -> Ticket | None:
        try:
            token = context.request.headers.get(REPLICA_HEADER)
        except AttributeError:
            return None
        return self.tickets.get(token) if token else None

    def _set_status(self, bucket, key, version_id, status, reason=None):
        with self._lock:
            self.status[(bucket, key, version_id)] = status
            if reason:
                self.failures[(bucket, key, version_id)] = reason

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

    def _work(self, q: queue.Queue) -> None:
        while True:
            task = q.get()
            try:
                self._replicate(task)
            except Exception:  # never let a worker die: log and continue
                LOG.exception("S3 replication worker error for s3://%s/%s", task.bucket, task.key)
                if task.kind == "object":
                    self._set_status(task.bucket, task.key, task.version_id, "FAILED", "internal error")
            finally:
                q.task_done()

    def _replicate(self, task: Task) -> None:
        failed = []
        for rule in task.rules:
            dest = rule["Destination"]
            dest_bucket = dest["Bucket"].split(":::", 1)[-1]
            last_error = None
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    self._copy_to(task, rule, dest_bucket)
                    last_error = None
                    break
                except Exception as e:
                    last_error = _describe(e)
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
            if last_error is not None:
                failed.append(f"{dest_bucket}: {last_error}")
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
        if task.kind == "object":
            if failed:
                self._set_status(task.bucket, task.key, task.version_id, "FAILED", "; ".join(failed))
            else:
                self._set_status(task.bucket, task.key, task.version_id, "COMPLETED")
                LOG.debug(
                    "S3 replication COMPLETED for s3://%s/%s (version %s) in %.3fs",
                    task.bucket,
                    task.key,
                    task.version_id,
                    time.monotonic() - task.enqueued,
                )

    def _client(self, region: str, account_id: str):
        """Internal boto client that tags outgoing requests with the current worker's ticket."""
        cache_key = (region, account_id)
        client = self._clients.get(cache_key)
        if client is None:
            from botocore.config import Config
            from localstack.aws.connect import connect_to

            client = connect_to(
                region_name=region,
                aws_access_key_id=account_id,
                aws_secret_access_key="test",  # noqa: S106 - LocalStack ignores secrets
                # no client-side CRC of the body: S3 computes its own checksums on write
                config=Config(
                    retries={"max_attempts": 1},
                    read_timeout=300,
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                ),
            ).s3

            def add_ticket(request, **kwargs):
                token = getattr(_worker_local, "token", None)
                if token:
                    request.headers[REPLICA_HEADER] = token

            client.meta.events.register("before-sign.s3", add_ticket)
            _short_circuit(client)
            self._clients[cache_key] = client
        return client

    @staticmethod
    def _check_destination(name: str, account_id: str) -> str:
        """Region of the destination bucket; fails like S3 when it is missing or unversioned.

        Read from LocalStack's S3 store in-process (bucket names are global), which is what
        S3 checks before it writes a replica.
        """
        from localstack.services.s3.models import s3_stores

        any_store = s3_stores[account_id]["us-east-1"]
        owner = any_store.global_bucket_map.get(name)
        bucket = s3_stores[owner]["us-east-1"].buckets.get(name) if owner else None
        if bucket is None:
            raise ReplicationFailed(f"destination bucket {name} does not exist (NoSuchBucket)")
        if bucket.versioning_status != "Enabled":
            raise ReplicationFailed(f"destination bucket {name} does not have versioning enabled")
        return bucket.bucket_region

    def _copy_to(self, task: Task, rule: dict, dest_bucket: str) -> None:
        dest = rule["Destination"]
        dest_account = dest.get("Account") or task.account_id
        # Write as the destination account only when ownership is translated to it; otherwise
        # the replica is owned by the source account, as in S3.
        owner_translated = (dest.get("AccessControlTranslation") or {}).get("Owner") == "Destination"
        writer_account = dest_account if owner_translated else task.account_id

        dest_region = self._check_destination(dest_bucket, dest_account)
        dest_client = self._client(dest_region, writer_account)

        token = uuid.uuid4().hex
        self.tickets[token] = Ticket(
            version_id=task.version_id,
            last_modified=task.last_modified,
            role_arn=task.role_arn,
            source_account=task.account_id,
        )
        _worker_local.token = token
        try:
            if task.kind == "delete_marker":
                dest_client.delete_object(Bucket=dest_bucket, Key=task.key)
                return
            self._copy_object(task, rule, dest_bucket, dest_client)
        finally:
            _worker_local.token = None
            self.tickets.pop(token, None)

    def _copy_object(self, task: Task, rule: dict, dest_bucket: str, dest_client) -> None:
        # Read the exact source version from LocalStack's storage in-process (S3 reads the
        # source internally too); only the replica write goes through the S3 API.
        src = task.s3_object
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)
        stored = self.provider._storage_backend.open(task.bucket, src, mode="r")
        try:
            for chunk in stored:
                body.write(chunk)
        finally:
            stored.close()
        body.seek(0)
        obj = dict(src.system_metadata or {})
        obj["Metadata"] = dict(src.user_metadata or {})
        if src.expires:
            obj["Expires"] = src.expires
        if src.website_redirect_location:
            obj["WebsiteRedirectLocation"] = src.website_redirect_location
        obj["StorageClass"] = src.storage_class
        obj["ServerSideEncryption"] = src.encryption
        tagging = [{"Key": k, "Value": v} for k, v in task.tags.items()]

        dest = rule["Destination"]
        params = {"Bucket": dest_bucket, "Key": task.key, "Body": body, "Metadata": obj.get("Metadata", {})}
        for field in (
            "ContentType",
            "CacheControl",
            "ContentDisposition",
            "ContentEncoding",
            "ContentLanguage",
            "Expires",
            "WebsiteRedirectLocation",
        ):
            if obj.get(field):
                params[field] = obj[field]
        storage_class = dest.get("StorageClass") or obj.get("StorageClass") or task.storage_class
        if storage_class and storage_class != "STANDARD":
            params["StorageClass"] = storage_class
        if tagging:
            params["Tagging"] = urllib.parse.urlencode([(t["Key"], t["Value"]) for t in tagging])
        replica_kms = (dest.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
        if task.encryption == "aws:kms" and replica_kms:
            # S3 re-encrypts SSE-KMS objects with the destination key named by the rule.
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = replica_kms
        elif obj.get("ServerSideEncryption") == "AES256":
            params["ServerSideEncryption"] = "AES256"
        if (dest.get("AccessControlTranslation") or {}).get("Owner") == "Destination":
            params["ACL"] = "bucket-owner-full-control"
        try:
            dest_client.put_object(**params)
        finally:
            body.close()


def _short_circuit(client) -> None:
    """Send this client's requests straight into LocalStack's gateway, in the worker thread.

    The request still passes the whole S3 handler chain (parsing, provider, notifications),
    only the loopback HTTP hop is skipped. This is LocalStack's own IN_MEMORY_CLIENT
    mechanism, applied to the replication clients only.
    """
    if os.environ.get("RELAY_REPLICATION_HTTP") == "1":
        return
    try:
        from localstack.aws.client import GatewayShortCircuit, botocore_in_memory_endpoint_patch
        from localstack.runtime import get_current_runtime

        # the short circuit needs botocore requests to carry their parsed parameters
        botocore_in_memory_endpoint_patch.apply()  # idempotent
        GatewayShortCircuit.modify_client(client, get_current_runtime().components.gateway)
    except Exception:  # fall back to loopback HTTP, which behaves the same, only slower
        LOG.warning("in-memory S3 client unavailable; replicating over loopback HTTP", exc_info=True)


def _describe(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------- rule matching


def rule_matches(rule: dict, key: str, tags: dict) -> bool:
    """Filter semantics of a replication rule (V2 ``Filter`` or legacy rule-level ``Prefix``)."""
    if "Filter" not in rule:
        return key.startswith(rule.get("Prefix") or "")
    flt = rule.get("Filter") or {}
    if "Prefix" in flt:
        return key.startswith(flt["Prefix"] or "")
    if "Tag" in flt:
        return tags.get(flt["Tag"]["Key"]) == flt["Tag"]["Value"]
    if "And" in flt:
        cond = flt["And"] or {}
        if not key.startswith(cond.get("Prefix") or ""):
            return False
        return all(tags.get(t["Key"]) == t["Value"] for t in cond.get("Tags") or [])
    return True  # empty filter: every object


def _is_tag_based(rule: dict) -> bool:
    flt = rule.get("Filter") or {}
    return "Tag" in flt or bool((flt.get("And") or {}).get("Tags"))


def select_rules(config: dict, key: str, tags: dict, kind: str, encryption: str | None) -> list:
    """The rules that apply to one object version: at most one per destination bucket.

    When several enabled rules match and share a destination, S3 uses the one with the
    highest Priority; rules with different destinations all apply (multiple destinations).
    """
    best: dict[str, dict] = {}
    for rule in config.get("Rules") or []:
        if rule.get("Status") != "Enabled" or not rule_matches(rule, key, tags):
            continue
        if kind == "delete_marker":
            if "Filter" in rule:
                # V2 rules replicate delete markers only when asked to, and never for tag filters.
                if (rule.get("DeleteMarkerReplication") or {}).get("Status") != "Enabled":
                    continue
                if _is_tag_based(rule):
                    continue
        elif encryption == "aws:kms":
            criteria = (rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects") or {}
            if criteria.get("Status") != "Enabled":
                continue  # S3 skips SSE-KMS objects unless the rule opts in
        dest = rule["Destination"]["Bucket"]
        current = best.get(dest)
        if current is None or int(rule.get("Priority") or 0) > int(current.get("Priority") or 0):
            best[dest] = rule
    return list(best.values())


# ---------------------------------------------------------------------- installation

ENGINE: ReplicationEngine | None = None


def install() -> ReplicationEngine:
    """Patch LocalStack's S3 provider (class level, before it is instantiated)."""
    global ENGINE
    if ENGINE is not None:
        return ENGINE
    from localstack.services.s3 import provider as s3_provider_module
    from localstack.services.s3.provider import S3Provider

    engine = ENGINE = ReplicationEngine()

    original_generate = s3_provider_module.generate_version_id

    def generate_version_id(bucket_versioning_status):
        forced = engine.forced_version_id()
        if forced and bucket_versioning_status == "Enabled":
            _request_local.version_id = None  # one forced id per replica request
            return forced
        return original_generate(bucket_versioning_status)

    s3_provider_module.generate_version_id = generate_version_id

    original_notify = S3Provider._notify

    @functools.wraps(original_notify)
    def _notify(self, context, s3_bucket, s3_object=None, s3_notif_ctx=None):
        try:
            engine.on_write(self, context, s3_bucket, s3_object=s3_object, s3_notif_ctx=s3_notif_ctx)
        except Exception:  # replication must never break the S3 request itself
            LOG.exception("S3 replication scheduling failed for bucket %s", getattr(s3_bucket, "name", "?"))
        return original_notify(self, context, s3_bucket, s3_object=s3_object, s3_notif_ctx=s3_notif_ctx)

    S3Provider._notify = _notify

    def with_ticket(fn):
        """Handler wrapper: a replica request uses the version id named by its ticket."""

        @functools.wraps(fn)  # keeps the @handler markers, so the dispatch table still finds it
        def wrapper(self, context, *args, **kwargs):
            ticket = engine._ticket_of(context)
            _request_local.version_id = ticket.version_id if ticket else None
            try:
                return fn(self, context, *args, **kwargs)
            finally:
                _request_local.version_id = None

        return wrapper

    S3Provider.put_object = with_ticket(S3Provider.put_object)
    S3Provider.delete_object = with_ticket(S3Provider.delete_object)

    def with_replication_status(fn):
        """HeadObject/GetObject report x-amz-replication-status like S3."""

        @functools.wraps(fn)
        def wrapper(self, context, request, *args, **kwargs):
            response = fn(self, context, request, *args, **kwargs)
            try:
                status = engine.status_of(request["Bucket"], request["Key"], response.get("VersionId"))
                if status:
                    response["ReplicationStatus"] = status
            except Exception:
                LOG.debug("could not add ReplicationStatus", exc_info=True)
            return response

        return wrapper

    original_put_replication = S3Provider.put_bucket_replication

    @functools.wraps(original_put_replication)
    def put_bucket_replication(self, context, bucket, replication_configuration, **kwargs):
        """LocalStack only looks for destination buckets in the caller's account; S3 accepts
        destinations owned by another account (``Destination.Account``)."""
        from localstack.services.s3.exceptions import InvalidRequest

        try:
            return original_put_replication(
                self, context, bucket=bucket, replication_configuration=replication_configuration, **kwargs
            )
        except InvalidRequest as e:
            if "Destination bucket must have versioning enabled" not in str(e.message):
                raise
            from localstack.utils.strings import short_uid

            for rule in replication_configuration.get("Rules") or []:
                rule.setdefault("ID", short_uid())
                dest = rule.get("Destination") or {}
                try:
                    engine._check_destination(
                        (dest.get("Bucket") or "").split(":::", 1)[-1],
                        dest.get("Account") or context.account_id,
                    )
                except ReplicationFailed:
                    raise e from None
            _, s3_bucket = self._get_cross_account_bucket(context, bucket)
            s3_bucket.replication = replication_configuration

    S3Provider.put_bucket_replication = put_bucket_replication
    S3Provider.head_object = with_replication_status(S3Provider.head_object)
    S3Provider.get_object = with_replication_status(S3Provider.get_object)
    LOG.info("relay S3 replication engine installed (%d workers)", len(engine._queues))
    return engine
