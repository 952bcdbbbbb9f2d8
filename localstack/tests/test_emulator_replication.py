"""S3 replication engine: the rule matrix, statuses, and the replica's own S3 events."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import HOME, NOT_YET, TARGET_A, TARGET_B, client, empty_and_delete

from tools.wait import wait_for

pytestmark = pytest.mark.emulator


def replicate(res, rules, src_region=HOME, dest_regions=(TARGET_A,)):
    """Versioned source bucket with the given rules; `{dest0}`... in rules are destination ARNs."""
    src = res.bucket(src_region, prefix="src")
    dests = []
    for region in dest_regions:
        dests.append(res.bucket(region, prefix="dst"))
    role = res.role("s3")
    rendered = json.loads(json.dumps(rules) % {f"dest{i}": f"arn:aws:s3:::{d}" for i, d in enumerate(dests)})
    client("s3", src_region).put_bucket_replication(
        Bucket=src, ReplicationConfiguration={"Role": role, "Rules": rendered}
    )
    return src, dests


def rule(dest="%(dest0)s", priority=1, flt=None, delete_markers=False, **extra):
    r = {
        "ID": f"rule-{priority}",
        "Status": "Enabled",
        "Priority": priority,
        "Filter": flt if flt is not None else {},
        "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
        "Destination": {"Bucket": dest},
    }
    r.update(extra)
    return r


def wait_replica(region, bucket, key, version_id=None, timeout=20):
    s3 = client("s3", region)
    kwargs = {"VersionId": version_id} if version_id else {}
    return wait_for(
        f"replica s3://{bucket}/{key}",
        lambda: s3.head_object(Bucket=bucket, Key=key, **kwargs),
        timeout=timeout,
        interval=0.05,
        retry_on=NOT_YET,
    )


def wait_status(region, bucket, key, wanted, timeout=20):
    s3 = client("s3", region)
    return wait_for(
        f"ReplicationStatus {wanted} on s3://{bucket}/{key}",
        lambda: s3.head_object(Bucket=bucket, Key=key).get("ReplicationStatus") == wanted,
        timeout=timeout,
        interval=0.05,
        retry_on=NOT_YET,
    )


def absent(region, bucket, key) -> bool:
    try:
        client("s3", region).head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return e.response["Error"]["Code"] in ("404", "NoSuchKey")
    return False


def test_put_is_replicated_with_version_metadata_and_statuses(res):
    src, (dst,) = replicate(res, [rule()])
    s3, s3t = client("s3", HOME), client("s3", TARGET_A)
    put = s3.put_object(
        Bucket=src,
        Key="release/app.zip",
        Body=b"payload-1",
        ContentType="application/zip",
        Metadata={"build": "42"},
        CacheControl="no-cache",
    )
    assert s3.head_object(Bucket=src, Key="release/app.zip").get("ReplicationStatus") in (
        "PENDING",
        "COMPLETED",
    )

    replica = wait_replica(TARGET_A, dst, "release/app.zip")
    source = s3.head_object(Bucket=src, Key="release/app.zip")
    assert replica["VersionId"] == put["VersionId"]
    assert replica["ReplicationStatus"] == "REPLICA"
    assert replica["ContentType"] == "application/zip"
    assert replica["Metadata"] == {"build": "42"}
    assert replica["CacheControl"] == "no-cache"
    assert replica["LastModified"] == source["LastModified"]
    assert replica["ETag"] == source["ETag"]
    assert s3t.get_object(Bucket=dst, Key="release/app.zip")["Body"].read() == b"payload-1"
    wait_status(HOME, src, "release/app.zip", "COMPLETED")

    # a second version replicates too and keeps its own version id
    put2 = s3.put_object(Bucket=src, Key="release/app.zip", Body=b"payload-2")
    assert wait_replica(TARGET_A, dst, "release/app.zip", put2["VersionId"])["VersionId"] == put2["VersionId"]
    versions = s3t.list_object_versions(Bucket=dst, Prefix="release/app.zip")["Versions"]
    assert {v["VersionId"] for v in versions} == {put["VersionId"], put2["VersionId"]}


def test_prefix_filter(res):
    src, (dst,) = replicate(res, [rule(flt={"Prefix": "in/"})])
    s3 = client("s3", HOME)
    s3.put_object(Bucket=src, Key="out/skip.txt", Body=b"x")
    s3.put_object(Bucket=src, Key="in/take.txt", Body=b"y")
    assert "ReplicationStatus" not in s3.head_object(Bucket=src, Key="out/skip.txt")
    wait_replica(TARGET_A, dst, "in/take.txt")
    wait_status(HOME, src, "in/take.txt", "COMPLETED")
    assert absent(TARGET_A, dst, "out/skip.txt")


def test_tag_filter_and_tags_are_copied(res):
    src, (dst,) = replicate(res, [rule(flt={"Tag": {"Key": "ship", "Value": "yes"}})])
    s3 = client("s3", HOME)
    s3.put_object(Bucket=src, Key="untagged", Body=b"x")
    s3.put_object(Bucket=src, Key="other-tag", Body=b"x", Tagging="ship=no")
    s3.put_object(Bucket=src, Key="tagged", Body=b"x", Tagging="ship=yes&team=relay")
    wait_replica(TARGET_A, dst, "tagged")
    tags = client("s3", TARGET_A).get_object_tagging(Bucket=dst, Key="tagged")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"ship": "yes", "team": "relay"}
    for key in ("untagged", "other-tag"):
        assert "ReplicationStatus" not in s3.head_object(Bucket=src, Key=key)
        assert absent(TARGET_A, dst, key)


def test_and_filter_needs_prefix_and_all_tags(res):
    flt = {"And": {"Prefix": "p/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}
    src, (dst,) = replicate(res, [rule(flt=flt)])
    s3 = client("s3", HOME)
    s3.put_object(Bucket=src, Key="p/one-tag", Body=b"x", Tagging="a=1")
    s3.put_object(Bucket=src, Key="q/both-tags", Body=b"x", Tagging="a=1&b=2")
    s3.put_object(Bucket=src, Key="p/match", Body=b"x", Tagging="a=1&b=2&c=3")
    wait_replica(TARGET_A, dst, "p/match")
    for key in ("p/one-tag", "q/both-tags"):
        assert "ReplicationStatus" not in s3.head_object(Bucket=src, Key=key)
        assert absent(TARGET_A, dst, key)


def test_priority_between_overlapping_rules_and_storage_class(res):
    rules = [
        rule(priority=1, flt={"Prefix": ""}, Destination={"Bucket": "%(dest0)s", "StorageClass": "STANDARD_IA"}),
        rule(
            priority=5,
            flt={"Prefix": "hot/"},
            Destination={"Bucket": "%(dest0)s", "StorageClass": "GLACIER_IR"},
        ),
    ]
    rules[1]["ID"] = "high"
    src, (dst,) = replicate(res, rules)
    s3 = client("s3", HOME)
    s3.put_object(Bucket=src, Key="hot/x", Body=b"x")
    s3.put_object(Bucket=src, Key="cold/x", Body=b"x")
    assert wait_replica(TARGET_A, dst, "hot/x").get("StorageClass") == "GLACIER_IR"
    assert wait_replica(TARGET_A, dst, "cold/x").get("StorageClass") == "STANDARD_IA"
    # exactly one copy for the overlapping key
    assert len(client("s3", TARGET_A).list_object_versions(Bucket=dst, Prefix="hot/x")["Versions"]) == 1


def test_several_destinations_in_several_regions(res):
    rules = [rule("%(dest0)s", priority=1), rule("%(dest1)s", priority=2)]
    src, (dst_a, dst_b) = replicate(res, rules, dest_regions=(TARGET_A, TARGET_B))
    put = client("s3", HOME).put_object(Bucket=src, Key="k", Body=b"multi")
    assert wait_replica(TARGET_A, dst_a, "k")["VersionId"] == put["VersionId"]
    assert wait_replica(TARGET_B, dst_b, "k")["VersionId"] == put["VersionId"]
    wait_status(HOME, src, "k", "COMPLETED")


def test_delete_markers_replicated_when_enabled(res):
    src, (dst,) = replicate(res, [rule(delete_markers=True)])
    s3, s3t = client("s3", HOME), client("s3", TARGET_A)
    put = s3.put_object(Bucket=src, Key="k", Body=b"x")
    wait_replica(TARGET_A, dst, "k")
    marker = s3.delete_object(Bucket=src, Key="k")
    assert marker["DeleteMarker"]

    def replica_marker():
        markers = s3t.list_object_versions(Bucket=dst, Prefix="k").get("DeleteMarkers", [])
        return [m for m in markers if m["VersionId"] == marker["VersionId"]]

    wait_for("replicated delete marker", replica_marker, timeout=20, interval=0.05)
    # a delete that names a version id is never replicated; a later object proves the queue has
    # moved past it (same key -> same ordered shard)
    s3.delete_object(Bucket=src, Key="k", VersionId=put["VersionId"])
    put2 = s3.put_object(Bucket=src, Key="k", Body=b"y")
    wait_replica(TARGET_A, dst, "k", put2["VersionId"])
    assert s3t.head_object(Bucket=dst, Key="k", VersionId=put["VersionId"])["VersionId"] == put["VersionId"]


def test_delete_markers_not_replicated_when_disabled(res):
    src, (dst,) = replicate(res, [rule(delete_markers=False)])
    s3, s3t = client("s3", HOME), client("s3", TARGET_A)
    s3.put_object(Bucket=src, Key="k", Body=b"x")
    wait_replica(TARGET_A, dst, "k")
    s3.delete_object(Bucket=src, Key="k")
    # a later object proves the queue has moved past the delete (same key -> same ordered shard)
    put2 = s3.put_object(Bucket=src, Key="k", Body=b"y")
    wait_replica(TARGET_A, dst, "k", put2["VersionId"])
    assert not s3t.list_object_versions(Bucket=dst, Prefix="k").get("DeleteMarkers")


def test_kms_objects_replicated_only_with_criteria_and_reencrypted(res):
    kms_home, kms_target = client("kms", HOME), client("kms", TARGET_A)
    src_key = kms_home.create_key(Description="src")["KeyMetadata"]["Arn"]
    dst_key = kms_target.create_key(Description="dst")["KeyMetadata"]["Arn"]
    res.defer(kms_home.schedule_key_deletion, KeyId=src_key, PendingWindowInDays=7)
    res.defer(kms_target.schedule_key_deletion, KeyId=dst_key, PendingWindowInDays=7)
    rules = [
        rule(
            priority=2,
            flt={"Prefix": "kms/"},
            SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Enabled"}},
            Destination={"Bucket": "%(dest0)s", "EncryptionConfiguration": {"ReplicaKmsKeyID": dst_key}},
        ),
        rule(priority=1, flt={"Prefix": "plain/"}),
    ]
    src, (dst,) = replicate(res, rules)
    s3 = client("s3", HOME)
    s3.put_object(Bucket=src, Key="plain/enc", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=src_key)
    s3.put_object(Bucket=src, Key="kms/enc", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=src_key)
    replica = wait_replica(TARGET_A, dst, "kms/enc")
    assert replica["ServerSideEncryption"] == "aws:kms"
    assert replica["SSEKMSKeyId"] == dst_key
    assert client("s3", TARGET_A).get_object(Bucket=dst, Key="kms/enc")["Body"].read() == b"secret"
    # SSE-KMS object under a rule without SseKmsEncryptedObjects: not replicated, no status
    assert "ReplicationStatus" not in s3.head_object(Bucket=src, Key="plain/enc")
    assert absent(TARGET_A, dst, "plain/enc")


def test_multipart_upload_and_copy_are_replicated(res):
    src, (dst,) = replicate(res, [rule()])
    s3 = client("s3", HOME)
    part = 5 * 1024 * 1024
    body = b"a" * part + b"b" * 1024
    mpu = s3.create_multipart_upload(Bucket=src, Key="big", ContentType="application/octet-stream")
    parts = []
    for n, chunk in enumerate((body[:part], body[part:]), start=1):
        etag = s3.upload_part(Bucket=src, Key="big", UploadId=mpu["UploadId"], PartNumber=n, Body=chunk)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    done = s3.complete_multipart_upload(
        Bucket=src, Key="big", UploadId=mpu["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert wait_replica(TARGET_A, dst, "big")["VersionId"] == done["VersionId"]
    assert client("s3", TARGET_A).get_object(Bucket=dst, Key="big")["Body"].read() == body

    copied = s3.copy_object(Bucket=src, Key="copy", CopySource={"Bucket": src, "Key": "big"})
    assert wait_replica(TARGET_A, dst, "copy")["VersionId"] == copied["VersionId"]


def test_objects_written_before_the_rule_are_not_replicated(res):
    s3 = client("s3", HOME)
    src = res.bucket(HOME, prefix="src")
    dst = res.bucket(TARGET_A, prefix="dst")
    s3.put_object(Bucket=src, Key="old", Body=b"x")
    s3.put_bucket_replication(
        Bucket=src,
        ReplicationConfiguration={"Role": res.role(), "Rules": [rule(f"arn:aws:s3:::{dst}")]},
    )
    s3.put_object(Bucket=src, Key="new", Body=b"y")
    wait_replica(TARGET_A, dst, "new")
    assert absent(TARGET_A, dst, "old")
    assert "ReplicationStatus" not in s3.head_object(Bucket=src, Key="old")


def test_missing_destination_is_failed(res):
    # S3 validates the destination when the rule is stored, so it disappears afterwards
    src, (dst,) = replicate(res, [rule()])
    client("s3", TARGET_A).delete_bucket(Bucket=dst)
    client("s3", HOME).put_object(Bucket=src, Key="k", Body=b"x")
    wait_status(HOME, src, "k", "FAILED")


def test_unversioned_destination_is_failed(res):
    src, (dst,) = replicate(res, [rule()])
    client("s3", TARGET_A).put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Suspended"})
    client("s3", HOME).put_object(Bucket=src, Key="k", Body=b"x")
    wait_status(HOME, src, "k", "FAILED")
    assert absent(TARGET_A, dst, "k")


def test_replica_emits_object_created_event_in_target_region(res):
    src, (dst,) = replicate(res, [rule()])
    s3t = client("s3", TARGET_A)
    s3t.put_bucket_notification_configuration(Bucket=dst, NotificationConfiguration={"EventBridgeConfiguration": {}})
    sqs, events = client("sqs", TARGET_A), client("events", TARGET_A)
    queue_url = sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
    res.defer(sqs.delete_queue, QueueUrl=queue_url)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_name = res.name("rule")
    events.put_rule(
        Name=rule_name,
        EventPattern=json.dumps(
            {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [dst]}}}
        ),
    )
    res.defer(events.delete_rule, Name=rule_name)
    events.put_targets(Rule=rule_name, Targets=[{"Id": "q", "Arn": queue_arn}])
    res.defer(events.remove_targets, Rule=rule_name, Ids=["q"])

    put = client("s3", HOME).put_object(Bucket=src, Key="release.zip", Body=b"zip")

    def event():
        msgs = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]

    (evt,) = wait_for("Object Created event for the replica", event, timeout=20, interval=0.05)
    assert evt["detail-type"] == "Object Created"
    assert evt["region"] == TARGET_A
    assert evt["detail"]["bucket"]["name"] == dst
    assert evt["detail"]["object"]["key"] == "release.zip"
    assert evt["detail"]["object"]["version-id"] == put["VersionId"]


def test_cross_account_destination_with_owner_translation(res):
    other = "111111111111"
    s3_other = client("s3", TARGET_A, aws_access_key_id=other)
    dst = res.name("xacct")
    s3_other.create_bucket(Bucket=dst, CreateBucketConfiguration={"LocationConstraint": TARGET_A})
    s3_other.put_bucket_versioning(Bucket=dst, VersioningConfiguration={"Status": "Enabled"})
    res.defer(empty_and_delete, s3_other, dst)
    src = res.bucket(HOME, prefix="src")
    destination = {
        "Bucket": f"arn:aws:s3:::{dst}",
        "Account": other,
        "AccessControlTranslation": {"Owner": "Destination"},
    }
    client("s3", HOME).put_bucket_replication(
        Bucket=src, ReplicationConfiguration={"Role": res.role(), "Rules": [rule(Destination=destination)]}
    )
    put = client("s3", HOME).put_object(Bucket=src, Key="k", Body=b"x")
    replica = wait_for(
        "cross-account replica",
        lambda: s3_other.head_object(Bucket=dst, Key="k"),
        timeout=20,
        interval=0.05,
        retry_on=NOT_YET,
    )
    assert replica["VersionId"] == put["VersionId"]
    assert replica["ReplicationStatus"] == "REPLICA"
    wait_status(HOME, src, "k", "COMPLETED")
