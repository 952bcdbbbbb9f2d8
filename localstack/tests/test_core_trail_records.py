"""CloudTrail record, EventBridge event and log file shapes (``relay_emulator.core.trail_records``)."""

from __future__ import annotations

import datetime
import gzip
import json

import pytest
from relay_emulator.core.trail_records import (
    DETAIL_TYPE,
    Call,
    build_record,
    event_entry,
    log_file_body,
    log_file_key,
    replication_identity,
    request_parameters,
    response_elements,
)

WHEN = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
ROLE = "arn:aws:iam::000000000000:role/replication"


def call(**overrides) -> Call:
    values = {
        "operation": "PutObject",
        "read_only": False,
        "bucket": "rel",
        "key": "release/source.zip",
        "owner": "000000000000",
        "caller": "000000000000",
        "region": "eu-south-2",
        "time": WHEN,
        "request_id": "REQ1",
        "id2": "ID2",
        "access_key": "test",
        "source_ip": "10.0.0.1",
        "user_agent": "Boto3/1.43",
        "bytes_in": 3,
        "request": {"Bucket": "rel", "Key": "release/source.zip", "ServerSideEncryption": "aws:kms", "ACL": ""},
        "response": {"x-amz-version-id": "v1"},
    }
    values.update(overrides)
    return Call(**values)


def test_record_of_a_caller_write():
    record = build_record(call(), recipient="000000000000")
    assert record["eventVersion"] == "1.10"
    assert record["eventTime"] == "2026-03-04T05:06:07Z"
    assert (record["eventSource"], record["eventName"], record["awsRegion"]) == (
        "s3.amazonaws.com",
        "PutObject",
        "eu-south-2",
    )
    assert record["userIdentity"] == {
        "type": "Root",
        "principalId": "000000000000",
        "arn": "arn:aws:iam::000000000000:root",
        "accountId": "000000000000",
        "accessKeyId": "test",
    }
    assert record["sourceIPAddress"] == "10.0.0.1" and record["userAgent"] == "[Boto3/1.43]"
    assert record["requestParameters"] == {
        "bucketName": "rel",
        "Host": "rel.s3.eu-south-2.amazonaws.com",
        "key": "release/source.zip",
        "x-amz-server-side-encryption": "aws:kms",
    }
    assert record["responseElements"] == {"x-amz-version-id": "v1"}
    assert record["additionalEventData"]["bytesTransferredIn"] == 3
    assert record["additionalEventData"]["x-amz-id-2"] == "ID2"
    assert record["requestID"] == "REQ1" and record["eventID"]
    assert record["resources"] == [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::rel/release/source.zip"},
        {"accountId": "000000000000", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::rel"},
    ]
    assert (record["eventType"], record["managementEvent"], record["eventCategory"]) == ("AwsApiCall", False, "Data")
    assert record["readOnly"] is False and record["recipientAccountId"] == "000000000000"


def test_records_of_one_call_differ_only_in_recipient_and_event_id():
    one, other = build_record(call(), "000000000000"), build_record(call(), "111111111111")
    assert one["eventID"] != other["eventID"]
    one.pop("eventID"), other.pop("eventID")
    assert {k for k in one if one[k] != other[k]} == {"recipientAccountId"}


def test_replica_write_is_recorded_as_the_replication_role():
    record = build_record(call(replica=(ROLE, "000000000000")), "000000000000")
    identity = record["userIdentity"]
    assert identity["type"] == "AssumedRole" and identity["invokedBy"] == "s3.amazonaws.com"
    assert identity["arn"] == "arn:aws:sts::000000000000:assumed-role/replication/s3-replication"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == ROLE
    assert identity["principalId"].startswith("AROA") and identity["principalId"].endswith(":s3-replication")
    assert record["sourceIPAddress"] == record["userAgent"] == "s3.amazonaws.com"


def test_replication_identity_without_role_names_the_source_account():
    identity = replication_identity(None, "222222222222", WHEN)
    assert identity["accountId"] == "222222222222"
    assert identity["sessionContext"]["sessionIssuer"]["arn"] == "arn:aws:iam::222222222222:role/s3-replication"
    assert replication_identity(ROLE, "x", WHEN)["principalId"] == replication_identity(ROLE, "y", WHEN)["principalId"]


@pytest.mark.parametrize(
    "request_members, expected_extra",
    [
        ({}, {}),
        ({"CopySource": "src/k", "VersionId": "v"}, {"x-amz-copy-source": "src/k", "versionId": "v"}),
        ({"UploadId": "u", "PartNumber": 2}, {"uploadId": "u", "partNumber": 2}),
        ({"StorageClass": "GLACIER", "ACL": None}, {"x-amz-storage-class": "GLACIER"}),
    ],
    ids=["plain", "copy", "multipart", "empty-members-left-out"],
)
def test_request_parameters(request_members, expected_extra):
    base = {"bucketName": "rel", "Host": "rel.s3.eu-south-2.amazonaws.com", "key": "release/source.zip"}
    assert request_parameters(call(request=request_members)) == {**base, **expected_extra}


@pytest.mark.parametrize(
    "service_response, expected",
    [
        (None, None),
        ({}, None),
        ({"VersionId": "v1", "ETag": "e"}, {"x-amz-version-id": "v1"}),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k", "UploadId": ""},
            {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": "k"},
        ),
    ],
    ids=["no-response", "empty", "version", "sse"],
)
def test_response_elements(service_response, expected):
    assert response_elements(service_response) == expected


def test_eventbridge_entry_carries_the_record():
    record = build_record(call(), "000000000000")
    entry = event_entry(record)
    assert entry["Source"] == "aws.s3" and entry["DetailType"] == DETAIL_TYPE == "AWS API Call via CloudTrail"
    assert entry["Resources"] == [] and json.loads(entry["Detail"]) == record
    assert entry["Time"] == WHEN


@pytest.mark.parametrize(
    "prefix, expected_start",
    [(None, "AWSLogs/"), ("", "AWSLogs/"), ("trails", "trails/AWSLogs/"), ("/trails/", "trails/AWSLogs/")],
    ids=["none", "empty", "prefix", "slashes-stripped"],
)
def test_log_file_key(prefix, expected_start):
    key = log_file_key("000000000000", "eu-south-2", prefix, WHEN, "ABCDEFGHIJKLMNOP")
    assert key == (
        f"{expected_start}000000000000/CloudTrail/eu-south-2/2026/03/04/"
        "000000000000_CloudTrail_eu-south-2_20260304T0506Z_ABCDEFGHIJKLMNOP.json.gz"
    )


def test_log_file_body_is_gzip_json_records():
    records = [build_record(call(), "000000000000")]
    assert json.loads(gzip.decompress(log_file_body(records))) == {"Records": records}
