"""CloudTrail S3 data events: EventBridge ``AWS API Call via CloudTrail`` events and log files.

A trail that is logging makes every successful S3 object-level call that its selectors match
produce one CloudTrail record. As in AWS:

* the record goes, as an ``AWS API Call via CloudTrail`` event (``source: aws.s3``), to the
  default event bus of the region where the call happened (the bucket's region), once per
  account that has a matching trail, whatever the number of matching trails;
* it is delivered in gzip JSON log files ``{"Records": [...]}`` to the bucket of every matching
  trail, under ``[<prefix>/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` named
  ``<account>_CloudTrail_<region>_YYYYMMDDTHHMMZ_<16 chars>.json.gz``, SSE-KMS with the trail's
  key when it has one. Files are batched (flushed every ``RELAY_CLOUDTRAIL_FLUSH`` seconds,
  default 1, or at ``RELAY_CLOUDTRAIL_BATCH`` records; CloudTrail takes minutes).

Seam: a response handler appended to LocalStack's ``run_custom_response_handlers``. It sees
every S3 operation (PutObject, CopyObject, CompleteMultipartUpload, GetObject, ...) with its
request, response, caller and request id, after the provider succeeded. Which trails match is
decided in the request itself (so a call that returns after StopLogging is never recorded);
building and delivering the record happens on a background thread. When no trail is logging
the handler returns after one attribute check.

Replica writes of the replication engine carry its ticket: their records name the identity
S3 uses to replicate, the replication configuration's IAM role assumed by S3
(``invokedBy: s3.amazonaws.com``). Log file deliveries carry an internal header and are never
recorded themselves (no feedback loop).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import logging
import os
import queue
import secrets
import string
import threading
import uuid

LOG = logging.getLogger("relay_emulator.trail_events")

DELIVERY_HEADER = "x-relay-cloudtrail-delivery"
FLUSH_INTERVAL = float(os.environ.get("RELAY_CLOUDTRAIL_FLUSH", "1.0"))
BATCH_RECORDS = int(os.environ.get("RELAY_CLOUDTRAIL_BATCH", "500"))
EVENT_VERSION = "1.10"
DEFAULT_ACCOUNT = "000000000000"

# S3 object-level operations CloudTrail records as data events (resources.type AWS::S3::Object),
# with their readOnly flag.
OBJECT_OPERATIONS = {
    "PutObject": False,
    "CopyObject": False,
    "CompleteMultipartUpload": False,
    "CreateMultipartUpload": False,
    "UploadPart": False,
    "UploadPartCopy": False,
    "AbortMultipartUpload": False,
    "DeleteObject": False,
    "PutObjectAcl": False,
    "PutObjectTagging": False,
    "DeleteObjectTagging": False,
    "PutObjectRetention": False,
    "PutObjectLegalHold": False,
    "RestoreObject": False,
    "GetObject": True,
    "HeadObject": True,
    "GetObjectAcl": True,
    "GetObjectTagging": True,
    "GetObjectAttributes": True,
    "GetObjectRetention": True,
    "GetObjectLegalHold": True,
    "ListParts": True,
}


# ---------------------------------------------------------------------- selectors


def _field_matches(value: str | None, fs: dict) -> bool:
    """One advanced field selector: each operator given must hold (positive ones: any value;
    negative ones: no value)."""
    v = value if value is not None else ""
    checks = (
        ("Equals", lambda x: v == x, True),
        ("StartsWith", v.startswith, True),
        ("EndsWith", v.endswith, True),
        ("NotEquals", lambda x: v == x, False),
        ("NotStartsWith", v.startswith, False),
        ("NotEndsWith", v.endswith, False),
    )
    for op, test, positive in checks:
        values = fs.get(op)
        if not values:
            continue
        hit = any(test(x) for x in values)
        if hit != positive:
            return False
    return True


def advanced_selectors_match(selectors: list, fields: dict) -> bool:
    """A trail's advanced event selectors: any selector whose field selectors all match."""
    for sel in selectors or []:
        field_selectors = sel.get("FieldSelectors") or []
        if field_selectors and all(_field_matches(fields.get(fs.get("Field")), fs) for fs in field_selectors):
            return True
    return False


def basic_selectors_match(selectors: list, object_arn: str, read_only: bool) -> bool:
    """Basic event selectors: an ``AWS::S3::Object`` data resource whose value is ``arn:aws:s3``
    (all objects) or a prefix of the object ARN, with a matching ReadWriteType."""
    for sel in selectors or []:
        rw = sel.get("ReadWriteType") or "All"
        if (rw == "ReadOnly" and not read_only) or (rw == "WriteOnly" and read_only):
            continue
        for resource in sel.get("DataResources") or []:
            if resource.get("Type") != "AWS::S3::Object":
                continue
            for value in resource.get("Values") or []:
                if value in ("arn:aws:s3", "arn:aws:s3:::") or object_arn.startswith(value):
                    return True
    return False


# ---------------------------------------------------------------------- trails


class TrailView:
    """What the recorder needs of a moto trail (a snapshot, refreshed on every CloudTrail write)."""

    __slots__ = (
        "account_id",
        "advanced",
        "arn",
        "basic",
        "bucket",
        "kms_key_id",
        "multi_region",
        "name",
        "prefix",
        "region",
    )

    def __init__(self, trail):
        self.account_id = trail.account_id
        self.region = trail.region_name
        self.name = trail.trail_name
        self.arn = trail.arn
        self.bucket = trail.bucket_name
        self.prefix = trail.s3_key_prefix
        self.kms_key_id = trail.kms_key_id
        self.multi_region = bool(trail.is_multi_region)
        self.advanced = list(trail.advanced_event_selectors or [])
        self.basic = [] if self.advanced else list(trail.event_selectors or [])

    def matches(self, region: str, accounts: tuple, fields: dict, object_arn: str, read_only: bool) -> bool:
        if self.account_id not in accounts or not (self.multi_region or self.region == region):
            return False
        if self.advanced:
            return advanced_selectors_match(self.advanced, fields)
        return basic_selectors_match(self.basic, object_arn, read_only)


def _logging_trails() -> list[TrailView]:
    from moto.cloudtrail.models import cloudtrail_backends

    views = []
    for _account, per_region in list(cloudtrail_backends.items()):
        for backend in list(per_region.values()):
            for trail in list(backend.trails.values()):
                if trail.status.is_logging:
                    views.append(TrailView(trail))
    return views


# ---------------------------------------------------------------------- recorder


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder:
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

    # -------------------------------------------------------------- trail state

    def refresh(self) -> None:
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
        if headers.get(DELIVERY_HEADER):
            return
        req = context.service_request or {}
        bucket, key = req.get("Bucket"), req.get("Key")
        if not bucket or key is None:
            return
        owner, region = _bucket_location(bucket)
        if owner is None:
            return
        caller = context.account_id or owner
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        fields = {
            "eventCategory": "Data",
            "eventSource": "s3.amazonaws.com",
            "eventType": "AwsApiCall",
            "eventName": op,
            "readOnly": "true" if read_only else "false",
            "resources.type": "AWS::S3::Object",
            "resources.ARN": object_arn,
        }
        accounts = (owner, caller)
        matched = [t for t in self.trails if t.matches(region, accounts, fields, object_arn, read_only)]
        if not matched:
            return
        from relay_emulator import replication

        ticket = replication.ENGINE._ticket_of(context) if replication.ENGINE else None
        self._work.put(
            {
                "trails": matched,
                "op": op,
                "read_only": read_only,
                "bucket": bucket,
                "key": key,
                "owner": owner,
                "caller": caller,
                "region": region,
                "time": _now(),
                "request_id": response.headers.get("x-amz-request-id") or context.request_id,
                "id2": response.headers.get("x-amz-id-2"),
                "access_key": _access_key(headers),
                "ip": context.request.remote_addr or "127.0.0.1",
                "user_agent": headers.get("User-Agent", ""),
                "bytes_in": int(headers.get("Content-Length") or 0) if not read_only else 0,
                "bytes_out": int(response.headers.get("Content-Length") or 0) if op == "GetObject" else 0,
                "request": {k: v for k, v in req.items() if isinstance(v, str | int | bool)},
                "response": None if read_only else _response_elements(context.service_response),
                "replica": (ticket.role_arn, ticket.source_account) if ticket is not None else None,
            }
        )

    # -------------------------------------------------------------- background side

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            try:
                self._deliver(item)
            except Exception:
                LOG.exception(
                    "CloudTrail event delivery failed for %s s3://%s/%s", item["op"], item["bucket"], item["key"]
                )

    def _deliver(self, item: dict) -> None:
        accounts = []
        for trail in item["trails"]:
            if trail.account_id not in accounts:
                accounts.append(trail.account_id)
        records = {account: build_record(item, account) for account in accounts}
        for account, record in records.items():
            self._put_event(account, item["region"], record)
        with self._lock:
            for trail in item["trails"]:
                buf = self._buffers.setdefault((trail.arn, item["region"]), [])
                self._trail_of[trail.arn] = trail
                buf.append(records[trail.account_id])
                if len(buf) >= BATCH_RECORDS:
                    self._flush_now.set()

    def _put_event(self, account: str, region: str, record: dict) -> None:
        events = self._clients.get(("events", region, account))
        if events is None:
            from botocore.config import Config
            from localstack.aws.connect import connect_to

            from relay_emulator.replication import _short_circuit

            # own Config instance: connect_to caches clients by config, and this one is modified
            events = connect_to(
                aws_access_key_id=account, region_name=region, config=Config(retries={"max_attempts": 2})
            ).events
            _short_circuit(events)  # in-process, like the replication engine's S3 client
            self._clients[("events", region, account)] = events
        result = events.put_events(
            Entries=[
                {
                    "Source": "aws.s3",
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(record),
                    "Resources": [],
                    "Time": datetime.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                        tzinfo=datetime.UTC
                    ),
                }
            ]
        )
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
        with self._lock:
            buffers, self._buffers = self._buffers, {}
        for (trail_arn, region), records in buffers.items():
            trail = self._trail_of.get(trail_arn)
            if trail is None or not records:
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
        now = _now()
        account = trail.account_id
        unique = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        name = f"{account}_CloudTrail_{region}_{now:%Y%m%dT%H%MZ}_{unique}.json.gz"
        key = f"AWSLogs/{account}/CloudTrail/{region}/{now:%Y/%m/%d}/{name}"
        if trail.prefix:
            key = f"{trail.prefix.strip('/')}/{key}"
        body = gzip.compress(json.dumps({"Records": records}).encode())
        _owner, bucket_region = _bucket_location(trail.bucket)
        if bucket_region is None:
            raise RuntimeError(f"trail bucket {trail.bucket} does not exist")
        params = {
            "Bucket": trail.bucket,
            "Key": key,
            "Body": body,
            "ContentType": "application/json",
            "ContentEncoding": "gzip",
            "ACL": "bucket-owner-full-control",
        }
        if trail.kms_key_id:
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = trail.kms_key_id
        self._s3(bucket_region, account).put_object(**params)
        LOG.debug("CloudTrail trail %s delivered %d records to s3://%s/%s", trail.name, len(records), trail.bucket, key)

    def _s3(self, region: str, account: str):
        client = self._clients.get(("s3", region, account))
        if client is None:
            from botocore.config import Config
            from localstack.aws.connect import connect_to

            from relay_emulator.replication import _short_circuit

            client = connect_to(
                region_name=region,
                aws_access_key_id=account,
                aws_secret_access_key="test",  # noqa: S106 - LocalStack ignores secrets
                config=Config(
                    retries={"max_attempts": 2},
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                ),
            ).s3

            def mark(request, **kwargs):
                request.headers[DELIVERY_HEADER] = "1"

            client.meta.events.register("before-sign.s3", mark)
            _short_circuit(client)
            self._clients[("s3", region, account)] = client
        return client


# ---------------------------------------------------------------------- record shape


def build_record(item: dict, recipient: str) -> dict:
    bucket, key, region, owner = item["bucket"], item["key"], item["region"], item["owner"]
    request_parameters = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key}
    req = item["request"]
    for field, name in (
        ("CopySource", "x-amz-copy-source"),
        ("UploadId", "uploadId"),
        ("PartNumber", "partNumber"),
        ("VersionId", "versionId"),
        ("ServerSideEncryption", "x-amz-server-side-encryption"),
        ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
        ("ACL", "x-amz-acl"),
        ("StorageClass", "x-amz-storage-class"),
    ):
        if req.get(field) not in (None, ""):
            request_parameters[name] = req[field]
    if item["replica"] is not None:
        role_arn, source_account = item["replica"]
        identity = replication_identity(role_arn, source_account, item["time"])
        source_ip = user_agent = "s3.amazonaws.com"
    else:
        identity = caller_identity(item["caller"], item["access_key"])
        source_ip, user_agent = item["ip"], f"[{item['user_agent']}]"
    return {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": _iso(item["time"]),
        "eventSource": "s3.amazonaws.com",
        "eventName": item["op"],
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters,
        "responseElements": item["response"],
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": item["bytes_in"],
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": item["id2"] or secrets.token_urlsafe(48),
            "bytesTransferredOut": item["bytes_out"],
        },
        "requestID": item["request_id"],
        "eventID": str(uuid.uuid4()),
        "readOnly": item["read_only"],
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": recipient,
        "eventCategory": "Data",
    }


def _principal_id(seed: str, prefix: str) -> str:
    return prefix + hashlib.sha1(seed.encode()).hexdigest()[:17].upper()  # noqa: S324 - an id, not security


def replication_identity(role_arn: str | None, source_account: str, when: datetime.datetime) -> dict:
    """S3 replicates as the replication configuration's role, assumed by the S3 service."""
    role_arn = role_arn or f"arn:aws:iam::{source_account}:role/s3-replication"
    role_account = role_arn.split(":")[4] or source_account
    role_name = role_arn.rsplit("/", 1)[-1]
    role_id = _principal_id(role_arn, "AROA")
    session = "s3-replication"
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{role_account}:assumed-role/{role_name}/{session}",
        "accountId": role_account,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": role_arn,
                "accountId": role_account,
                "userName": role_name,
            },
            "attributes": {"creationDate": _iso(when), "mfaAuthenticated": "false"},
        },
        "invokedBy": "s3.amazonaws.com",
    }


def caller_identity(account: str, access_key: str | None) -> dict:
    """LocalStack's test credentials act as the account's root user."""
    return {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": access_key or "",
    }


def _response_elements(service_response) -> dict | None:
    if not isinstance(service_response, dict):
        return None
    out = {}
    for field, name in (
        ("VersionId", "x-amz-version-id"),
        ("ServerSideEncryption", "x-amz-server-side-encryption"),
        ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
        ("UploadId", "uploadId"),
    ):
        value = service_response.get(field)
        if isinstance(value, str) and value:
            out[name] = value
    return out or None


def _access_key(headers) -> str | None:
    try:
        from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

        return extract_access_key_id_from_auth_header(dict(headers))
    except Exception:
        return None


def _bucket_location(bucket: str) -> tuple:
    """(owner account, region) of a bucket, from LocalStack's S3 store; (None, None) if missing."""
    from localstack.services.s3.models import s3_stores

    owner = s3_stores[DEFAULT_ACCOUNT]["us-east-1"].global_bucket_map.get(bucket)  # shared by all accounts
    if owner is None:
        return None, None
    b = s3_stores[owner]["us-east-1"].buckets.get(bucket)
    return (owner, b.bucket_region) if b is not None else (None, None)


# ---------------------------------------------------------------------- installation

RECORDER: Recorder | None = None


def refresh() -> None:
    """Re-read the trails after a CloudTrail write (create, update, start/stop, selectors, delete)."""
    if RECORDER is not None:
        RECORDER.refresh()


def install() -> Recorder:
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
