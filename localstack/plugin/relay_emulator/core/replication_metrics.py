"""S3 replication metrics (standard library only): which rules publish them and the CloudWatch
data points S3 publishes for a rule (namespace ``AWS/S3``, dimensions SourceBucket,
DestinationBucket, RuleId). Used by ``relay_emulator.replication_metrics``."""

from __future__ import annotations

import datetime

NAMESPACE = "AWS/S3"


def metrics_enabled(rule: dict) -> bool:
    """A rule publishes replication metrics when ``Destination.Metrics.Status`` is ``Enabled``
    (Replication Time Control requires it in S3, so RTC alone publishes nothing)."""
    return ((rule.get("Destination") or {}).get("Metrics") or {}).get("Status") == "Enabled"


def dimensions(source_bucket: str, destination_bucket: str, rule_id: str) -> list[dict]:
    return [
        {"Name": "SourceBucket", "Value": source_bucket},
        {"Name": "DestinationBucket", "Value": destination_bucket},
        {"Name": "RuleId", "Value": rule_id},
    ]


def datum(name: str, value: float, unit: str, dims: list[dict], at: datetime.datetime) -> dict:
    return {"MetricName": name, "Value": float(value), "Unit": unit, "Dimensions": dims, "Timestamp": at}


def pending_data(operations: int, size: int, dims: list[dict], at: datetime.datetime) -> list[dict]:
    """OperationsPendingReplication and BytesPendingReplication after a change."""
    return [
        datum("OperationsPendingReplication", operations, "Count", dims, at),
        datum("BytesPendingReplication", size, "Bytes", dims, at),
    ]


def latency_seconds(last_modified: datetime.datetime | None, completed: datetime.datetime) -> float | None:
    """ReplicationLatency: the replica's completion minus the source version's last-modified time
    (never negative; None without a last-modified time)."""
    if last_modified is None:
        return None
    if last_modified.tzinfo is None:
        last_modified = last_modified.replace(tzinfo=datetime.UTC)
    return max(0.0, (completed - last_modified).total_seconds())


def batches(data: list[dict], size: int = 1000) -> list[list[dict]]:
    """PutMetricData accepts at most 1000 data points per request."""
    return [data[i : i + size] for i in range(0, len(data), size)]
