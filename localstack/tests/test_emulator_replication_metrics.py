"""S3 replication metrics on the emulator (relay_emulator.replication_metrics): a rule with
Metrics enabled publishes ReplicationLatency, OperationsPendingReplication,
BytesPendingReplication in the source bucket's region (AWS/S3; SourceBucket, DestinationBucket,
RuleId), a failing destination OperationsFailedReplication; a rule without metrics publishes
nothing; Metrics / ReplicationTime survive Get/PutBucketReplication."""

from __future__ import annotations

import datetime

import pytest
from emulator_helpers import HOME, NOT_YET, TARGET_A, client

from tools.wait import wait_for

pytestmark = pytest.mark.emulator


def _rule(rule_id: str, prefix: str, dest: str, priority: int, metrics: bool, rtc: bool = False) -> dict:
    destination = {"Bucket": f"arn:aws:s3:::{dest}"}
    if metrics:
        destination["Metrics"] = {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
    if rtc:
        destination["ReplicationTime"] = {"Status": "Enabled", "Time": {"Minutes": 15}}
    return {
        "ID": rule_id,
        "Priority": priority,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": destination,
    }


def _stats(cw, name: str, dims: dict) -> list[dict]:
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    return cw.get_metric_statistics(
        Namespace="AWS/S3",
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start,
        EndTime=start + datetime.timedelta(minutes=20),
        Period=60,
        Statistics=["Sum", "Minimum", "Maximum", "SampleCount"],
    )["Datapoints"]


def _total(points: list[dict], stat: str) -> float:
    return sum(p[stat] for p in points)


def test_metrics_latency_pending_and_failures(res):
    role = res.role()
    source = res.bucket(HOME)
    dest = res.bucket(TARGET_A)
    gone = res.bucket(TARGET_A)
    quiet = res.bucket(TARGET_A)
    s3 = client("s3", HOME)
    rules = [
        _rule("rtc", "rtc/", dest, 1, metrics=True, rtc=True),
        _rule("gone", "gone/", gone, 2, metrics=True),
        _rule("quiet", "quiet/", quiet, 3, metrics=False),
    ]
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": role, "Rules": rules})
    kept = {
        r["ID"]: r["Destination"] for r in s3.get_bucket_replication(Bucket=source)["ReplicationConfiguration"]["Rules"]
    }
    assert kept["rtc"]["Metrics"] == {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}
    assert kept["rtc"]["ReplicationTime"] == {"Status": "Enabled", "Time": {"Minutes": 15}}
    assert kept["gone"]["Metrics"]["Status"] == "Enabled" and "Metrics" not in kept["quiet"]
    client("s3", TARGET_A).delete_bucket(Bucket=gone)  # replicas to it fail

    for i in range(3):
        s3.put_object(Bucket=source, Key=f"rtc/{i}", Body=b"x" * 100)
    s3.put_object(Bucket=source, Key="gone/0", Body=b"y" * 10)
    s3.put_object(Bucket=source, Key="quiet/0", Body=b"z")

    cw = client("cloudwatch", HOME)  # the source bucket's region
    ok = {"SourceBucket": source, "DestinationBucket": dest, "RuleId": "rtc"}
    failed = {"SourceBucket": source, "DestinationBucket": gone, "RuleId": "gone"}

    latency = wait_for(
        "3 ReplicationLatency data points",
        lambda: (p := _stats(cw, "ReplicationLatency", ok)) and _total(p, "SampleCount") == 3 and p,
        timeout=30,
        interval=0.3,
    )
    assert 0 <= min(p["Minimum"] for p in latency) and max(p["Maximum"] for p in latency) < 30
    failures = wait_for(
        "OperationsFailedReplication",
        lambda: _stats(cw, "OperationsFailedReplication", failed),
        timeout=30,
        interval=0.3,
    )
    assert _total(failures, "Sum") == 1
    # pending: every change published, back to 0 at the end: 3 ops up and 3 down
    pending = _stats(cw, "OperationsPendingReplication", ok)
    assert _total(pending, "SampleCount") == 6 and min(p["Minimum"] for p in pending) == 0
    assert max(p["Maximum"] for p in _stats(cw, "BytesPendingReplication", ok)) in (100, 200, 300)
    assert _stats(cw, "ReplicationLatency", failed) == []
    # no metrics for the rule without them, nor in the destination's region
    names = {
        m["MetricName"]
        for m in cw.list_metrics(Namespace="AWS/S3", Dimensions=[{"Name": "SourceBucket", "Value": source}])["Metrics"]
        if {"Name": "RuleId", "Value": "quiet"} in m["Dimensions"]
    }
    assert names == set()
    assert (
        client("cloudwatch", TARGET_A).list_metrics(
            Namespace="AWS/S3", Dimensions=[{"Name": "SourceBucket", "Value": source}]
        )["Metrics"]
        == []
    )
    replica = wait_for(
        "the replica of quiet/0",
        lambda: client("s3", TARGET_A).head_object(Bucket=quiet, Key="quiet/0"),
        timeout=30,
        retry_on=NOT_YET,
    )
    assert replica["ReplicationStatus"] == "REPLICA"
