"""S3 replication metrics' pure logic (``relay_emulator.core.replication_metrics``)."""

from __future__ import annotations

import datetime

from relay_emulator.core import replication_metrics as core


def test_metrics_enabled_only_with_metrics_status_enabled():
    assert core.metrics_enabled({"Destination": {"Bucket": "b", "Metrics": {"Status": "Enabled"}}})
    assert not core.metrics_enabled({"Destination": {"Bucket": "b", "Metrics": {"Status": "Disabled"}}})
    assert not core.metrics_enabled({"Destination": {"Bucket": "b", "ReplicationTime": {"Status": "Enabled"}}})
    assert not core.metrics_enabled({"Destination": {"Bucket": "b"}})
    assert not core.metrics_enabled({})


def test_data_points():
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    dims = core.dimensions("src", "dst", "r1")
    assert dims == [
        {"Name": "SourceBucket", "Value": "src"},
        {"Name": "DestinationBucket", "Value": "dst"},
        {"Name": "RuleId", "Value": "r1"},
    ]
    ops, size = core.pending_data(2, 300, dims, at)
    assert (ops["MetricName"], ops["Value"], ops["Unit"]) == ("OperationsPendingReplication", 2.0, "Count")
    assert (size["MetricName"], size["Value"], size["Unit"]) == ("BytesPendingReplication", 300.0, "Bytes")
    assert ops["Timestamp"] == at and ops["Dimensions"] == dims


def test_latency_and_batches():
    done = datetime.datetime(2026, 1, 1, 0, 0, 3, tzinfo=datetime.UTC)
    assert core.latency_seconds(datetime.datetime(2026, 1, 1, 0, 0, 1, tzinfo=datetime.UTC), done) == 2.0
    assert core.latency_seconds(datetime.datetime(2026, 1, 1, 0, 0, 1), done) == 2.0  # naive = UTC
    assert core.latency_seconds(datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=datetime.UTC), done) == 0.0
    assert core.latency_seconds(None, done) is None
    assert [len(b) for b in core.batches(list(range(2500)))] == [1000, 1000, 500]
    assert core.batches([]) == []
