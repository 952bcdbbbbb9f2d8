"""In-process replica writes: what S3 does when it writes a replica, without an HTTP round trip.

The replication engine (``replication.py``) used to write every replica through LocalStack's internal
boto client: the body was read into a spool file, serialised, signed, parsed again by the gateway,
hashed twice (MD5 and CRC64NVME) and stored. Here the replica is written straight into LocalStack's
S3 model and storage, the way ``S3Provider.put_object`` stores an object, and everything an S3 write
triggers is done explicitly:

* the body is copied at the storage level: ``copy_file_range`` between the two spool files on disk
  (bodies above LocalStack's 512 KiB in-memory limit), one in-memory copy below it; never a whole
  large body in Python memory, no re-hashing (the replica keeps the source's ETag and checksum, as in
  S3, multipart ETags included);
* the replica's S3 object is built from the same PutObject parameters as before
  (``core.replication.replica_request``: metadata, tags, storage class, encryption, ACL) with
  LocalStack's own helpers (destination default encryption and object lock, canned ACL), and it keeps
  the source's version id and last-modified time and says ``REPLICA``;
* ``S3Provider._notify`` runs with a request context of the replica write (PutObject, the
  destination's region, the writing account, the engine's ticket header): the destination's
  notifications (EventBridge ``Object Created``) fire as for any PUT (the context is only built
  when the destination has a notification configuration or a trail is logging);
* the CloudTrail recorder (``trail_events``) gets the same call it sees for an API write (the
  ticket makes it record the replication identity);
* the persistence journal records the replica (``persistence.journal_version``), as its
  ``put_object`` patch does for API writes;
* bucket policies: the engine evaluates the destination's policy as the replication role before it
  writes (``ReplicationEngine.check_policy``), the same check ``write_guard`` made on the request.

A region that went down during the write fails it like the 503 the gateway would answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
import time
import urllib.parse

LOG = logging.getLogger("relay_emulator.replication")

_COPY_CHUNK = 1024 * 1024


class RegionDown(Exception):
    """The destination region is down (the gateway would have answered 503 ServiceUnavailable)."""


# ---------------------------------------------------------------------- body copy


def copy_body(storage, src_bucket: str, src_object, dest_bucket: str, dest_object) -> str:
    """Copy the stored body of ``src_object`` to ``dest_object``; returns how ("file", "memory" or
    "stream"). The destination keeps the source's size and ETag."""
    src = storage.open(src_bucket, src_object, mode="r")
    try:
        dest = storage.open(dest_bucket, dest_object, mode="w")
        try:
            how = _spool_copy(src, dest, int(src_object.size or 0))
            if how is None:
                dest.write(src)  # any other storage backend: chunk by chunk
                how = "stream"
        finally:
            dest.close()
    finally:
        src.close()
    dest_object.size = src_object.size
    dest_object.etag = src_object.etag
    dest_object.internal_last_modified = time.time_ns()
    return how


def _spool_copy(src, dest, size: int) -> str | None:
    """Copy between LocalStack's ephemeral spool files; None when the files are not spool files."""
    sf, df = getattr(src, "file", None), getattr(dest, "file", None)
    if not isinstance(sf, tempfile.SpooledTemporaryFile) or not isinstance(df, tempfile.SpooledTemporaryFile):
        return None
    if not all(hasattr(f, a) for f in (sf, df) for a in ("_rolled", "_file", "position_lock")):
        return None
    with sf.position_lock, df.position_lock:
        df.seek(0)
        df.truncate()
        if not sf._rolled:  # small body, in memory: one copy
            df.write(sf._file.getvalue()[:size])
            df.seek(0)
            how = "memory"
        else:
            sf._file.flush()
            df.rollover()  # the replica's spool file on disk, in the destination bucket's folder
            df._file.flush()
            _file_copy(sf._file.fileno(), df._file.fileno(), size)
            df._file.seek(0)
            how = "file"
        df.internal_last_modified = time.time_ns()
    dest.size = size
    return how


def _file_copy(in_fd: int, out_fd: int, size: int) -> None:
    """``size`` bytes from offset 0 of ``in_fd`` to offset 0 of ``out_fd``, in the kernel when it can."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(in_fd, out_fd, size - copied, copied, copied)
            if n == 0:
                break
            copied += n
    except OSError:  # e.g. a file system without copy_file_range: plain reads and writes
        while copied < size:
            data = os.pread(in_fd, min(_COPY_CHUNK, size - copied), copied)
            if not data:
                break
            copied += os.pwrite(out_fd, data, copied)
    if copied != size:
        raise OSError(f"replica body copy stopped at {copied} of {size} bytes")


# ---------------------------------------------------------------------- the replica write


def _s3_service():
    from localstack.aws.spec import load_service

    return load_service("s3")  # cached by LocalStack


@dataclasses.dataclass
class ReplicaWrite:
    """Who writes one replica, where: its RequestContext is only built when something reads it
    (the destination has notifications, or a trail is logging)."""

    token_header: str
    token: str
    account: str  # the writing account
    region: str  # the destination bucket's region
    bucket: str
    key: str
    size: int
    _context: object = None

    def context(self):
        if self._context is None:
            self._context = replica_context(
                self.token_header, self.token, self.account, self.region, self.bucket, self.key, self.size
            )
        return self._context


def replica_context(token_header: str, token: str, account: str, region: str, bucket: str, key: str, size: int):
    """A RequestContext of the replica's PutObject (what notifications and CloudTrail read)."""
    from localstack.aws.api import RequestContext
    from localstack.http import Request

    service = _s3_service()
    request = Request(
        method="PUT",
        path=f"/{bucket}/{urllib.parse.quote(key)}",
        headers={
            token_header: token,
            "Content-Length": str(size),
            "User-Agent": "s3.amazonaws.com",
            "Host": f"s3.{region}.amazonaws.com",
        },
        remote_addr="127.0.0.1",
    )
    context = RequestContext(request)
    context.service = service
    context.operation = service.operation_model("PutObject")
    context.protocol = service.protocol
    context.region = region
    context.account_id = account
    return context


def write_replica(
    provider,
    *,
    source_bucket: str,
    source,
    dest_bucket: str,
    params: dict,
    target: ReplicaWrite,
) -> tuple[dict, str]:
    """Write the replica of ``source`` (a LocalStack S3Object) into ``dest_bucket`` with the replica's
    PutObject ``params``; returns the PutObject response members (ETag, VersionId, SSE) and how the
    body was copied (``copy_body``)."""
    from localstack.services.s3.models import S3Object, s3_stores
    from localstack.services.s3.provider import (
        add_encryption_to_response,
        get_encryption_parameters_from_request_and_bucket,
        get_object_lock_parameters_from_bucket_and_request,
    )
    from localstack.services.s3.utils import (
        get_system_metadata_from_request,
        get_unique_key_id,
        parse_tagging_header,
        validate_kms_key_id,
    )

    from localstack import config

    key = source.key
    owner = s3_stores[target.account]["us-east-1"].global_bucket_map.get(dest_bucket)
    s3_bucket = s3_stores[owner]["us-east-1"].buckets.get(dest_bucket) if owner else None
    if s3_bucket is None:
        raise LookupError(f"NoSuchBucket: destination bucket {dest_bucket} does not exist")
    if s3_bucket.versioning_status != "Enabled":
        raise LookupError(f"destination bucket {dest_bucket} does not have versioning enabled")
    store = s3_stores[s3_bucket.bucket_account_id][s3_bucket.bucket_region]

    request = dict(params, Bucket=dest_bucket, Key=key)
    if not config.S3_SKIP_KMS_KEY_VALIDATION and (kms_key := request.get("SSEKMSKeyId")):
        validate_kms_key_id(kms_key, s3_bucket)
    system_metadata = get_system_metadata_from_request(request)
    system_metadata.setdefault("ContentType", "binary/octet-stream")
    encryption = get_encryption_parameters_from_request_and_bucket(request, s3_bucket, store)
    lock = get_object_lock_parameters_from_bucket_and_request(request, s3_bucket)
    acl = _acl(request, s3_bucket.owner)
    tagging = parse_tagging_header(request["Tagging"]) if request.get("Tagging") else None

    replica = S3Object(
        key=key,
        version_id=source.version_id,
        storage_class=request.get("StorageClass"),
        expires=request.get("Expires"),
        user_metadata=dict(request.get("Metadata") or {}),
        system_metadata=system_metadata,
        checksum_algorithm=source.checksum_algorithm,
        checksum_value=source.checksum_value,
        checksum_type=source.checksum_type,
        encryption=encryption.encryption,
        kms_key_id=encryption.kms_key_id,
        bucket_key_enabled=encryption.bucket_key_enabled,
        lock_mode=lock.lock_mode,
        lock_legal_status=lock.lock_legal_status,
        lock_until=lock.lock_until,
        website_redirect_location=request.get("WebsiteRedirectLocation"),
        acl=acl,
        owner=s3_bucket.owner,
    )
    if source.last_modified is not None:
        replica.last_modified = source.last_modified
    replica.parts = dict(source.parts or {})  # same body layout: GetObject PartNumber works alike
    from relay_emulator import replication  # the status attribute (no import cycle at module load)

    setattr(replica, replication.STATUS_ATTRIBUTE, "REPLICA")

    locks = getattr(provider, "_preconditions_locks", None)
    lock_ = locks[dest_bucket][key] if locks is not None else contextlib.nullcontext()
    with lock_:
        how = copy_body(provider._storage_backend, source_bucket, source, dest_bucket, replica)
        s3_bucket.objects.set(key, replica)
    key_id = get_unique_key_id(dest_bucket, key, replica.version_id)
    store.tags.delete_all_tags(key_id)
    if tagging:
        store.tags.update_tags(key_id, tagging)

    response = {"ETag": replica.quoted_etag, "VersionId": replica.version_id}
    add_encryption_to_response(response, s3_object=replica)
    if s3_bucket.notification_configuration:  # EventBridge / SQS / SNS / Lambda notifications
        context = target.context()
        context.service_request, context.service_response = request, response
        provider._notify(context, s3_bucket=s3_bucket, s3_object=replica)
    _journal(s3_bucket, key, replica.version_id)
    _record_trail(target, request, response)
    return response, how


def _acl(request: dict, owner):
    from localstack.services.s3.provider import get_access_control_policy_for_new_resource_request

    return get_access_control_policy_for_new_resource_request(request, owner=owner)


def _journal(s3_bucket, key: str, version_id: str | None) -> None:
    """What persistence's ``put_object`` patch records for an API write: the new version (no-op without
    persistence)."""
    from relay_emulator import persistence

    if persistence.STATE.journal is not None:
        persistence.journal_version(s3_bucket, key, version_id)


def _record_trail(target: ReplicaWrite, request: dict, response: dict) -> None:
    """The CloudTrail data event of the replica write (what the response handler records for an API write)."""
    from relay_emulator import trail_events

    recorder = trail_events.RECORDER
    if recorder is None or not recorder.active:
        return
    from localstack.http import Response

    context = target.context()
    context.service_request, context.service_response = request, response
    http_response = Response(
        status=200,
        headers={"x-amz-request-id": context.request_id, "x-amz-version-id": response.get("VersionId") or ""},
    )
    try:
        recorder.on_response(context, http_response)
    except Exception:  # recording must never fail the replica itself (as for an API write)
        LOG.exception("CloudTrail recording of a replica write failed")
