"""CloudTrail S3 data events: EventBridge "AWS API Call via CloudTrail" events and log files."""

from __future__ import annotations

import gzip
import json

import pytest
from emulator_helpers import (
    ACCOUNT,
    HOME,
    TARGET_A,
    TARGET_B,
    client,
    replicate_everything,
    wait_execution,
    wait_started,
)

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

DETAIL_FIELDS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}


def trail_bucket(res, region, trail_name_hint="trail"):
    """A versioned bucket with the CloudTrail bucket policy (as relay deploys it)."""
    bucket = res.bucket(region, prefix="ctlogs")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT}/*",
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            },
        ],
    }
    client("s3", region).put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    return bucket


def object_selector(bucket, key, extra=()):
    return [
        {
            "Name": "release-object-writes",
            "FieldSelectors": [
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                {"Field": "resources.ARN", "Equals": [f"arn:aws:s3:::{bucket}/{key}"]},
                {"Field": "readOnly", "Equals": ["false"]},
                *extra,
            ],
        }
    ]


def trail(res, region, log_bucket, selectors=None, basic=None, kms_key=None, prefix=None):
    ct = client("cloudtrail", region)
    name = res.name("trail")
    kwargs = {"Name": name, "S3BucketName": log_bucket, "EnableLogFileValidation": True}
    if kms_key:
        kwargs["KmsKeyId"] = kms_key
    if prefix:
        kwargs["S3KeyPrefix"] = prefix
    arn = ct.create_trail(**kwargs)["TrailARN"]
    res.defer(ct.delete_trail, Name=arn)
    if selectors:
        ct.put_event_selectors(TrailName=arn, AdvancedEventSelectors=selectors)
    if basic:
        ct.put_event_selectors(TrailName=arn, EventSelectors=basic)
    ct.start_logging(Name=arn)
    return arn


class Queue:
    """An SQS queue behind an EventBridge rule that matches CloudTrail S3 events of one bucket."""

    def __init__(self, res, region, bucket):
        self.sqs, events = client("sqs", region), client("events", region)
        self.url = self.sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
        res.defer(self.sqs.delete_queue, QueueUrl=self.url)
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = res.name("rule")
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventSource": ["s3.amazonaws.com"], "requestParameters": {"bucketName": [bucket]}},
        }
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        res.defer(events.delete_rule, Name=rule)
        events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
        res.defer(events.remove_targets, Rule=rule, Ids=["q"])
        self.seen: list = []

    def until(self, predicate, what, timeout=20):
        """Collect events until one satisfies predicate; returns it (all seen stay in .seen)."""

        def poll():
            msgs = self.sqs.receive_message(QueueUrl=self.url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            self.seen.extend(json.loads(m["Body"]) for m in msgs.get("Messages", []))
            return next((e for e in self.seen if predicate(e)), None)

        return wait_for(what, poll, timeout=timeout, interval=0.05)


def is_event(name, key):
    return lambda e: e["detail"]["eventName"] == name and e["detail"]["requestParameters"]["key"] == key


def log_records(region, bucket, prefix=f"AWSLogs/{ACCOUNT}/CloudTrail/"):
    s3 = client("s3", region)
    records = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        records.extend((obj["Key"], r) for r in json.loads(gzip.decompress(body))["Records"])
    return records


def test_selected_writes_emit_events_and_others_do_not(res):
    region = TARGET_B
    s3 = client("s3", region)
    bucket = res.bucket(region, prefix="rel")
    key = "release/source.zip"
    trail(res, region, trail_bucket(res, region), selectors=object_selector(bucket, key))
    q = Queue(res, region, bucket)

    s3.put_object(Bucket=bucket, Key="other/outside.zip", Body=b"no")  # outside the selector: no event
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"v1")
    s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # readOnly: not selected
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "other/outside.zip"})
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key)
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=mpu["UploadId"], PartNumber=1, Body=b"x" * 1024)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    evt = q.until(is_event("PutObject", key), "PutObject event")
    q.until(is_event("CopyObject", key), "CopyObject event")
    q.until(is_event("CompleteMultipartUpload", key), "CompleteMultipartUpload event")

    keys = [e["detail"]["requestParameters"]["key"] for e in q.seen]
    assert "other/outside.zip" not in keys
    names = sorted(e["detail"]["eventName"] for e in q.seen)
    # CreateMultipartUpload / UploadPart are writes of the same object ARN, so they are selected too
    assert names == sorted(
        ["PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"]
    ), names

    assert evt["source"] == "aws.s3" and evt["detail-type"] == "AWS API Call via CloudTrail"
    assert evt["region"] == region and evt["account"] == ACCOUNT and evt["resources"] == []
    d = evt["detail"]
    assert DETAIL_FIELDS <= set(d), DETAIL_FIELDS - set(d)
    assert d["eventSource"] == "s3.amazonaws.com" and d["awsRegion"] == region
    assert d["eventType"] == "AwsApiCall" and d["eventCategory"] == "Data"
    assert d["managementEvent"] is False and d["readOnly"] is False
    assert d["recipientAccountId"] == ACCOUNT
    assert d["requestParameters"]["bucketName"] == bucket and d["requestParameters"]["key"] == key
    assert d["responseElements"]["x-amz-version-id"] == put["VersionId"]
    assert d["resources"] == [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
    ]
    assert d["userIdentity"]["accountId"] == ACCOUNT
    assert d["requestID"] == put["ResponseMetadata"]["RequestId"]


def test_replica_write_is_recorded_with_the_replication_identity(res):
    src = res.bucket(HOME, prefix="src")
    dst = res.bucket(TARGET_A, prefix="dst")
    role = res.role("s3")
    replicate_everything(src, dst, role)
    key = "release/source.zip"
    trail(res, TARGET_A, trail_bucket(res, TARGET_A), selectors=object_selector(dst, key))
    q = Queue(res, TARGET_A, dst)
    put = client("s3", HOME).put_object(Bucket=src, Key=key, Body=b"zip")

    evt = q.until(is_event("PutObject", key), "replica PutObject event")
    d = evt["detail"]
    assert evt["region"] == TARGET_A
    assert d["responseElements"]["x-amz-version-id"] == put["VersionId"]
    ident = d["userIdentity"]
    role_name = role.rsplit("/", 1)[-1]
    assert ident["type"] == "AssumedRole" and ident["invokedBy"] == "s3.amazonaws.com"
    assert ident["sessionContext"]["sessionIssuer"]["arn"] == role
    assert ident["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/")
    assert d["sourceIPAddress"] == "s3.amazonaws.com" and d["userAgent"] == "s3.amazonaws.com"


def test_log_files_are_delivered_and_parse(res):
    region = TARGET_A
    s3 = client("s3", region)
    bucket = res.bucket(region, prefix="rel")
    logs = trail_bucket(res, region)
    kms = client("kms", region).create_key()["KeyMetadata"]["Arn"]
    # basic selector: every object under the bucket's release/ prefix, writes only
    basic = [
        {
            "ReadWriteType": "WriteOnly",
            "IncludeManagementEvents": False,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/release/"]}],
        }
    ]
    arn = trail(res, region, logs, basic=basic, kms_key=kms)
    ct = client("cloudtrail", region)
    assert ct.get_trail_status(Name=arn)["IsLogging"] is True
    (described,) = ct.describe_trails(trailNameList=[arn])["trailList"]
    assert described["KmsKeyId"] == kms and described["LogFileValidationEnabled"] is True
    assert described["HasCustomEventSelectors"] is True
    put = s3.put_object(Bucket=bucket, Key="release/a.zip", Body=b"a")
    s3.put_object(Bucket=bucket, Key="other/b.zip", Body=b"b")

    found = wait_for(
        "log file with the PutObject record",
        lambda: [r for _, r in log_records(region, logs) if r["requestParameters"]["key"] == "release/a.zip"],
        timeout=15,
        interval=0.05,
    )
    (record,) = found
    assert DETAIL_FIELDS <= set(record)
    assert record["eventName"] == "PutObject" and record["requestID"] == put["ResponseMetadata"]["RequestId"]
    assert all(r["requestParameters"]["key"] != "other/b.zip" for _, r in log_records(region, logs))

    (obj,) = s3.list_objects_v2(Bucket=logs)["Contents"]
    name = obj["Key"].rsplit("/", 1)[-1]
    day = obj["LastModified"].strftime("%Y/%m/%d")
    assert obj["Key"].startswith(f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{day}/")
    assert name.startswith(f"{ACCOUNT}_CloudTrail_{region}_") and name.endswith(".json.gz")
    head = s3.head_object(Bucket=logs, Key=obj["Key"])
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms


def test_stopped_and_deleted_trails_record_nothing(res):
    region = TARGET_B
    s3, ct = client("s3", region), client("cloudtrail", region)
    bucket = res.bucket(region, prefix="rel")
    stopped_logs, deleted_logs, control_logs = (trail_bucket(res, region) for _ in range(3))
    stopped = trail(res, region, stopped_logs, selectors=object_selector(bucket, "stopped.zip"))
    deleted = trail(res, region, deleted_logs, selectors=object_selector(bucket, "deleted.zip"))
    trail(res, region, control_logs, selectors=object_selector(bucket, "control.zip"))
    q = Queue(res, region, bucket)

    ct.stop_logging(Name=stopped)
    assert ct.get_trail_status(Name=stopped)["IsLogging"] is False
    ct.delete_trail(Name=deleted)
    s3.put_object(Bucket=bucket, Key="stopped.zip", Body=b"s")
    s3.put_object(Bucket=bucket, Key="deleted.zip", Body=b"d")
    # positive control: written after the others, delivered by the same worker and flusher
    s3.put_object(Bucket=bucket, Key="control.zip", Body=b"c")
    q.until(is_event("PutObject", "control.zip"), "control event")
    wait_for("control log file", lambda: log_records(region, control_logs), timeout=15, interval=0.05)

    assert [e["detail"]["requestParameters"]["key"] for e in q.seen] == ["control.zip"]
    assert log_records(region, stopped_logs) == [] and log_records(region, deleted_logs) == []

    ct.start_logging(Name=stopped)  # logging again records again
    s3.put_object(Bucket=bucket, Key="stopped.zip", Body=b"s2")
    q.until(is_event("PutObject", "stopped.zip"), "event after StartLogging")


def test_cloudtrail_rule_starts_pipeline(res):
    region = TARGET_B
    s3 = client("s3", region)
    source = res.bucket(region, prefix="src")
    artifacts = res.bucket(region, prefix="art")
    key = "release/source.zip"
    trail(
        res,
        region,
        trail_bucket(res, region),
        selectors=object_selector(source, key, extra=[{"Field": "eventName", "Equals": ["PutObject"]}]),
    )
    cp, events = client("codepipeline", region), client("events", region)
    name = res.name("pipe")
    cp.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": res.role("codepipeline"),
            "artifactStore": {"type": "S3", "location": artifacts},
            "pipelineType": "V2",
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": source, "S3ObjectKey": key, "PollForSourceChanges": "false"},
                            "outputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
                {
                    "name": "Approve",
                    "actions": [
                        {
                            "name": "Approve",
                            "actionTypeId": {
                                "category": "Approval",
                                "owner": "AWS",
                                "provider": "Manual",
                                "version": "1",
                            },
                        }
                    ],
                },
            ],
        }
    )
    res.defer(cp.delete_pipeline, name=name)
    rule = res.name("start")
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["s3.amazonaws.com"],
            "eventName": ["PutObject", "CopyObject", "CompleteMultipartUpload"],
            "requestParameters": {"bucketName": [source], "key": [key]},
        },
    }
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    res.defer(events.delete_rule, Name=rule)
    events.put_targets(
        Rule=rule,
        Targets=[{"Id": "p", "Arn": f"arn:aws:codepipeline:{region}:{ACCOUNT}:{name}", "RoleArn": res.role("events")}],
    )
    res.defer(events.remove_targets, Rule=rule, Ids=["p"])

    put = s3.put_object(Bucket=source, Key=key, Body=b"zip")
    summary = wait_started(cp, name, timeout=20)
    assert summary["trigger"] == {"triggerType": "CloudWatchEvent", "triggerDetail": rule_arn}

    ex = wait_execution(cp, name, summary["pipelineExecutionId"], timeout=20)
    assert ex["status"] == "Succeeded", ex
    assert ex["artifactRevisions"][0]["revisionId"] == put["VersionId"]
