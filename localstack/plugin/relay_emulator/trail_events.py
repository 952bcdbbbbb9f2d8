"""CloudTrail S3 data events: EventBridge ``AWS API Call via CloudTrail`` events and log files.

A trail that is logging makes every successful S3 object-level call that its selectors match
(``core.trail_selectors``) produce one CloudTrail record (``core.trail_records``). As in AWS:

* the record goes, as an ``AWS API Call via CloudTrail`` event (``source: aws.s3``), to the
  default event bus of the region where the call happened (the bucket's region), once per
  account that has a matching trail, whatever the number of matching trails;
* it is delivered in gzip JSON log files ``{"Records": [...]}`` to the bucket of every matching
  trail, SSE-KMS with the trail's key when it has one. Files are batched (flushed every
  ``RELAY_CLOUDTRAIL_FLUSH`` seconds, default 1, or at ``RELAY_CLOUDTRAIL_BATCH`` records;
  CloudTrail takes minutes).

Seam: a response handler appended to LocalStack's ``run_custom_response_handlers``. It sees
every S3 operation with its request, response, caller and request id, after the provider
succeeded. Which trails match is decided in the request itself (so a call that returns after
StopLogging is never recorded); building and delivering the record happens on a background
thread. When no trail is logging the handler returns after one attribute check.

Replica writes of the replication engine carry its ticket: their records name the identity
S3 uses to replicate, the replication configuration's IAM role assumed by S3
(``invokedBy: s3.amazonaws.com``). Log file deliveries carry an internal header (a secret of the
process) and are never recorded themselves (no feedback loop); bucket policies see them as the
service principal ``cloudtrail.amazonaws.com`` (``write_guard``).

Not emulated: management events, other services' data events, DeleteObjects (batch) records,
Event history / LookupEvents, digest files, SNS notifications, CloudWatch Logs delivery.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import string
import threading

from relay_emulator import faults
from relay_emulator.common import bucket_location, in_memory, internal_client, now
from relay_emulator.core.trail_records import (
    Call,
    build_record,
    event_entry,
    log_file_body,
    log_file_key,
    response_elements,
)
from relay_emulator.core.trail_selectors import OBJECT_OPERATIONS, TrailView

LOG = logging.getLogger("relay_emulator.trail_events")

DELIVERY_HEADER = "x-relay-cloudtrail-delivery"
# the header's value: a secret of this process, so that no client can pass as a delivery
DELIVERY_TOKEN = secrets.token_hex(16)
FLUSH_INTERVAL = float(os.environ.get("RELAY_CLOUDTRAIL_FLUSH", "1.0"))
BATCH_RECORDS = int(os.environ.get("RELAY_CLOUDTRAIL_BATCH", "500"))


def _logging_trails() -> list[TrailView]:
    from moto.cloudtrail.models import cloudtrail_backends

    views = []
    for _account, per_region in list(cloudtrail_backends.items()):
        for backend in list(per_region.values()):
            for trail in list(backend.trails.values()):
                if trail.status.is_logging:
                    views.append(TrailView.of(trail))
    return views


def _access_key(headers) -> str | None:
    try:
        from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

        return extract_access_key_id_from_auth_header(dict(headers))
    except Exception:
        return None


class Recorder:
    """Matches S3 calls against logging trails and delivers their records."""

    def __init__(self):
        self.trails: list[TrailView] = []
        self.active = False  # fast path: no trail is logging anywhere
        self._lock = threading.Lock()
        self._buffers: dict[tuple, list] = {}  # (trail arn, event region) -> records
        self._trail_of: dict[str, TrailView] = {}
        self._work: queue.Queue = queue.Queue()
        self._flush_now = threading.Event()
        self._clients: dict[tuple, object] = {}
        threading.Thread(target=self._worker, name="relay-cloudtrail-events", daemon=True).start()
        threading.Thread(target=self._flusher, name="relay-cloudtrail-logs", daemon=True).start()

    def refresh(self) -> None:
        """Re-read the logging trails (after every CloudTrail write call)."""
        try:
            trails = _logging_trails()
        except Exception:
            LOG.exception("could not read CloudTrail trails")
            return
        self.trails = trails
        self.active = bool(trails)

    # -------------------------------------------------------------- request side

    def on_response(self, context, response) -> None:
        """Called for every S3 response while some trail is logging (request thread)."""
        op = context.operation.name if context.operation else None
        read_only = OBJECT_OPERATIONS.get(op)
        if read_only is None or context.service_exception is not None or response.status_code >= 300:
            return
        headers = context.request.headers
        if is_delivery(context):
            return
        req = context.service_request or {}
        bucket, key = req.get("Bucket"), req.get("Key")
        if not bucket or key is None:
            return
        owner, region = bucket_location(bucket)
        if owner is None:
            return
        caller = context.account_id or owner
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        accounts = (owner, caller)
        matched = [t for t in self.trails if t.matches(region, accounts, op, object_arn, read_only)]
        if not matched:
            return
        from relay_emulator import replication

        ticket = replication.ENGINE.ticket_of(context) if replication.ENGINE else None
        call = Call(
            operation=op,
            read_only=read_only,
            bucket=bucket,
            key=key,
            owner=owner,
            caller=caller,
            region=region,
            time=now(),
            request_id=response.headers.get("x-amz-request-id") or context.request_id,
            id2=response.headers.get("x-amz-id-2"),
            access_key=_access_key(headers),
            source_ip=context.request.remote_addr or "127.0.0.1",
            user_agent=headers.get("User-Agent", ""),
            bytes_in=int(headers.get("Content-Length") or 0) if not read_only else 0,
            bytes_out=int(response.headers.get("Content-Length") or 0) if op == "GetObject" else 0,
            request={k: v for k, v in req.items() if isinstance(v, str | int | bool)},
            response=None if read_only else response_elements(context.service_response),
            replica=(ticket.role_arn, ticket.source_account) if ticket is not None else None,
        )
        self._work.put((matched, call))

    # -------------------------------------------------------------- background side

    def _worker(self) -> None:
        while True:
            trails, call = self._work.get()
            try:
                self._deliver(trails, call)
            except Exception:
                LOG.exception(
                    "CloudTrail event delivery failed for %s s3://%s/%s", call.operation, call.bucket, call.key
                )

    def _deliver(self, trails: list[TrailView], call: Call) -> None:
        records = {}
        for trail in trails:
            if trail.account_id not in records:
                records[trail.account_id] = build_record(call, trail.account_id)
        for account, record in records.items():
            self._put_event(account, call.region, record)
        with self._lock:
            for trail in trails:
                buf = self._buffers.setdefault((trail.arn, call.region), [])
                self._trail_of[trail.arn] = trail
                buf.append(records[trail.account_id])
                if len(buf) >= BATCH_RECORDS:
                    self._flush_now.set()

    def _client(self, service: str, region: str, account: str, hook=None):
        """A background client of this recorder (in-process; ``hook`` runs before signing)."""
        client = self._clients.get((service, region, account))
        if client is None:
            from botocore.config import Config

            # own Config (connect_to caches clients per config): this client is modified
            client = internal_client(
                service,
                region,
                account,
                config=Config(
                    retries={"max_attempts": 2},
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                ),
            )
            if hook is not None:
                client.meta.events.register(f"before-sign.{service}", hook)
            in_memory(client)
            self._clients[(service, region, account)] = client
        return client

    def _put_event(self, account: str, region: str, record: dict) -> None:
        result = self._client("events", region, account).put_events(Entries=[event_entry(record)])
        if result.get("FailedEntryCount"):
            LOG.error("EventBridge refused CloudTrail event %s: %s", record["eventID"], result.get("Entries"))

    def _flusher(self) -> None:
        while True:
            self._flush_now.wait(FLUSH_INTERVAL)
            self._flush_now.clear()
            try:
                self.flush()
            except Exception:
                LOG.exception("CloudTrail log file delivery failed")

    def flush(self) -> None:
        """Deliver every buffered record to its trail's bucket."""
        with self._lock:
            buffers, self._buffers = self._buffers, {}
            trails = dict(self._trail_of)
        for (trail_arn, region), records in buffers.items():
            trail = trails.get(trail_arn)
            if trail is None or not records:
                continue
            if faults.is_down(bucket_location(trail.bucket)[1]):  # kept until the bucket's region is up
                with self._lock:
                    self._buffers[(trail_arn, region)] = records + self._buffers.get((trail_arn, region), [])
                continue
            try:
                self._write_log_file(trail, region, records)
            except Exception as e:
                LOG.warning(
                    "CloudTrail trail %s could not deliver %d records to s3://%s: %s",
                    trail.arn,
                    len(records),
                    trail.bucket,
                    e,
                )

    def _write_log_file(self, trail: TrailView, region: str, records: list) -> None:
        unique = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        key = log_file_key(trail.account_id, region, trail.prefix, now(), unique)
        _owner, bucket_region = bucket_location(trail.bucket)
        if bucket_region is None:
            raise RuntimeError(f"trail bucket {trail.bucket} does not exist")
        params = {
            "Bucket": trail.bucket,
            "Key": key,
            "Body": log_file_body(records),
            "ContentType": "application/json",
            "ContentEncoding": "gzip",
            "ACL": "bucket-owner-full-control",
        }
        if trail.kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = trail.kms_key_id
        self._client("s3", bucket_region, trail.account_id, hook=_mark_delivery).put_object(**params)
        LOG.debug("CloudTrail trail %s delivered %d records to s3://%s/%s", trail.name, len(records), trail.bucket, key)


def _mark_delivery(request, **kwargs) -> None:
    request.headers[DELIVERY_HEADER] = DELIVERY_TOKEN


def is_delivery(context) -> bool:
    """Whether an S3 request is a log file delivery of this recorder (written by CloudTrail)."""
    return context.request.headers.get(DELIVERY_HEADER) == DELIVERY_TOKEN


# ---------------------------------------------------------------------- installation

RECORDER: Recorder | None = None


def refresh() -> None:
    """Re-read the trails after a CloudTrail write (create, update, start/stop, selectors, delete)."""
    if RECORDER is not None:
        RECORDER.refresh()


def install() -> Recorder:
    """Start the recorder and append its response handler to LocalStack's chain."""
    global RECORDER
    if RECORDER is not None:
        return RECORDER
    from localstack.aws.handlers import run_custom_response_handlers

    recorder = RECORDER = Recorder()

    def cloudtrail_data_events(chain, context, response):
        if not recorder.active:
            return
        service = context.service
        if service is None or service.service_name != "s3":
            return
        try:
            recorder.on_response(context, response)
        except Exception:  # recording must never break the S3 request itself
            LOG.exception("CloudTrail recording failed")

    run_custom_response_handlers.append(cloudtrail_data_events)
    LOG.info("relay CloudTrail S3 data events installed (log files flushed every %.1fs)", FLUSH_INTERVAL)
    return recorder
