"""Shapes of CloudTrail S3 data events: the record, its EventBridge event, its log file.

A record describes one successful S3 object-level call (``Call``); ``build_record`` gives the
CloudTrail record as AWS documents it (``eventVersion`` 1.10), ``event_entry`` the EventBridge
``PutEvents`` entry of an ``AWS API Call via CloudTrail`` event, and ``log_file_key`` /
``log_file_body`` the gzip JSON file CloudTrail delivers to a trail's bucket.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import hashlib
import json
import secrets
import uuid

EVENT_VERSION = "1.10"
DETAIL_TYPE = "AWS API Call via CloudTrail"

# Request members CloudTrail shows in requestParameters, with its names for them.
_REQUEST_PARAMETERS = (
    ("CopySource", "x-amz-copy-source"),
    ("UploadId", "uploadId"),
    ("PartNumber", "partNumber"),
    ("VersionId", "versionId"),
    ("ServerSideEncryption", "x-amz-server-side-encryption"),
    ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
    ("ACL", "x-amz-acl"),
    ("StorageClass", "x-amz-storage-class"),
)
# Response members CloudTrail shows in responseElements of writes.
_RESPONSE_ELEMENTS = (
    ("VersionId", "x-amz-version-id"),
    ("ServerSideEncryption", "x-amz-server-side-encryption"),
    ("SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"),
    ("UploadId", "uploadId"),
)


@dataclasses.dataclass
class Call:
    """One successful S3 object-level call, as the recorder saw it in the request."""

    operation: str
    read_only: bool
    bucket: str
    key: str
    owner: str  # account owning the bucket
    caller: str  # account of the caller's credentials
    region: str  # the bucket's region
    time: datetime.datetime
    request_id: str | None = None
    id2: str | None = None
    access_key: str | None = None
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    request: dict = dataclasses.field(default_factory=dict)
    response: dict | None = None
    replica: tuple | None = None  # (replication role ARN, source account) of a replica write


def iso(t: datetime.datetime) -> str:
    """CloudTrail's timestamp format (UTC, seconds)."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_parameters(call: Call) -> dict:
    """``requestParameters``: bucket, virtual-host name, key, and the request members given."""
    params = {"bucketName": call.bucket, "Host": f"{call.bucket}.s3.{call.region}.amazonaws.com", "key": call.key}
    for member, name in _REQUEST_PARAMETERS:
        if call.request.get(member) not in (None, ""):
            params[name] = call.request[member]
    return params


def response_elements(service_response) -> dict | None:
    """``responseElements`` of a write: version id and SSE headers (None when there are none)."""
    if not isinstance(service_response, dict):
        return None
    out = {}
    for member, name in _RESPONSE_ELEMENTS:
        value = service_response.get(member)
        if isinstance(value, str) and value:
            out[name] = value
    return out or None


def build_record(call: Call, recipient: str) -> dict:
    """The CloudTrail record of ``call`` as delivered to account ``recipient``."""
    if call.replica is not None:
        role_arn, source_account = call.replica
        identity = replication_identity(role_arn, source_account, call.time)
        source_ip = user_agent = "s3.amazonaws.com"
    else:
        identity = caller_identity(call.caller, call.access_key)
        source_ip, user_agent = call.source_ip, f"[{call.user_agent}]"
    return {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": iso(call.time),
        "eventSource": "s3.amazonaws.com",
        "eventName": call.operation,
        "awsRegion": call.region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters(call),
        "responseElements": call.response,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": call.bytes_in,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": call.id2 or secrets.token_urlsafe(48),
            "bytesTransferredOut": call.bytes_out,
        },
        "requestID": call.request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": call.read_only,
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{call.bucket}/{call.key}"},
            {"accountId": call.owner, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{call.bucket}"},
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
            "attributes": {"creationDate": iso(when), "mfaAuthenticated": "false"},
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


def event_entry(record: dict) -> dict:
    """EventBridge ``PutEvents`` entry carrying ``record`` (resources empty, as in AWS)."""
    return {
        "Source": "aws.s3",
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(record),
        "Resources": [],
        "Time": datetime.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC),
    }


def log_file_key(account: str, region: str, prefix: str | None, when: datetime.datetime, unique: str) -> str:
    """``[<prefix>/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_
    YYYYMMDDTHHMMZ_<unique>.json.gz``, CloudTrail's log file key."""
    name = f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{unique}.json.gz"
    key = f"AWSLogs/{account}/CloudTrail/{region}/{when:%Y/%m/%d}/{name}"
    return f"{prefix.strip('/')}/{key}" if prefix else key


def log_file_body(records: list) -> bytes:
    """A log file's content: gzip JSON ``{"Records": [...]}``."""
    return gzip.compress(json.dumps({"Records": records}).encode())
