"""The plugin's stage timers (``timing.py``): off by default (``/_relay/timings`` is LocalStack's 404,
nothing patched); with ``RELAY_EMULATOR_TIMING=1`` a replicated PutObject is counted stage by stage
(the gateway chain, LocalStack's S3 provider, the plugin's hooks, the replica write, the EventBridge
event), and ``DELETE`` resets the counters.

The "on" test starts its own emulator (a free port, a temporary state dir, the suite's venv), like
``test_emulator_persistence.py``: the suite's shared emulator runs without the timers."""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
import uuid

import boto3
import emulator as launcher
import pytest
from botocore.config import Config
from emulator_helpers import ENDPOINT, NOT_YET, free_port, replicate_all_rule

from tools.wait import wait_for

HOME, TARGET = "eu-west-1", "eu-south-2"


def _get(endpoint: str, method: str = "GET") -> tuple[int, dict | None]:
    request = urllib.request.Request(endpoint + "/_relay/timings", method=method)  # noqa: S310 - local emulator
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - local emulator
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def test_timings_are_off_by_default(emulator):
    if os.environ.get("RELAY_EMULATOR_TIMING"):
        pytest.skip("the suite's emulator was started with RELAY_EMULATOR_TIMING")
    status, _ = _get(ENDPOINT)
    assert status == 404


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """An emulator of its own with RELAY_EMULATOR_TIMING=1 (persistence on, as for users)."""
    venv = os.environ.get("RELAY_EMULATOR_VENV") or str(launcher.emulator_dir() / "venv")
    environ = {
        **os.environ,
        "RELAY_STATE_DIR": str(tmp_path_factory.mktemp("timing")),
        "RELAY_EMULATOR_VENV": venv,
        "RELAY_EMULATOR_TIMING": "1",
    }
    environ.pop("RELAY_EMULATOR_PERSIST", None)
    environ.pop("RELAY_EMULATOR_CPROFILE", None)
    own = launcher.Emulator(free_port(), environ=environ, echo=False)
    own.ensure_running()
    try:
        yield own.endpoint
    finally:
        with contextlib.suppress(Exception):
            own.stop()


def _client(endpoint: str, service: str, region: str):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - the emulator's fixed test credentials
        config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
    )


def test_a_replicated_put_is_timed_stage_by_stage(timed):
    uid = uuid.uuid4().hex[:8]
    s3h, s3t = _client(timed, "s3", HOME), _client(timed, "s3", TARGET)
    events, logs, iam = _client(timed, "events", TARGET), _client(timed, "logs", TARGET), _client(timed, "iam", HOME)
    src, dst = f"time-src-{uid}", f"time-dst-{uid}"
    s3h.create_bucket(Bucket=src, CreateBucketConfiguration={"LocationConstraint": HOME})
    s3t.create_bucket(Bucket=dst, CreateBucketConfiguration={"LocationConstraint": TARGET})
    for s3, bucket in ((s3h, src), (s3t, dst)):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    role = iam.create_role(RoleName=f"time-{uid}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    s3h.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": role, "Rules": [replicate_all_rule(dst)]})
    s3t.put_bucket_notification_configuration(Bucket=dst, NotificationConfiguration={"EventBridgeConfiguration": {}})
    group = f"/relay/timing/{uid}"
    logs.create_log_group(logGroupName=group)
    events.put_rule(
        Name=f"time-{uid}",
        EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [dst]}}}),
    )
    events.put_targets(
        Rule=f"time-{uid}", Targets=[{"Id": "log", "Arn": f"arn:aws:logs:{TARGET}:000000000000:log-group:{group}"}]
    )

    assert _get(timed, "DELETE") == (200, {"enabled": True, "stages": {}})
    version = s3h.put_object(Bucket=src, Key="k", Body=b"x" * 1024)["VersionId"]
    wait_for(
        "the source version COMPLETED",
        lambda: s3h.head_object(Bucket=src, Key="k", VersionId=version).get("ReplicationStatus") == "COMPLETED",
        timeout=30,
        interval=0.05,
        retry_on=NOT_YET,
    )
    assert s3t.head_object(Bucket=dst, Key="k", VersionId=version)["ReplicationStatus"] == "REPLICA"

    def stages() -> dict:
        return _get(timed)[1]["stages"]

    # the replica's Object Created event reaches its rule's target on EventBridge's own threads
    wait_for(
        "the replica's event at its target",
        lambda: stages().get("eventbridge target process_event", {}).get("count", 0) >= 1,
        timeout=30,
        interval=0.1,
    )
    doc = _get(timed)[1]
    assert doc["enabled"] is True and doc["missing"] == [], doc["missing"]
    got = doc["stages"]
    once = [
        "request s3.PutObject",  # the client's PUT, the whole handler chain
        "handler s3.PutObject ServiceRequestParser",
        "handler s3.PutObject ServiceRequestRouter",
        "handler s3.PutObject serve_custom_service_request_handlers/fault_handler",
        "handler s3.PutObject serve_custom_service_request_handlers/s3_write_guard",
        "handler s3.PutObject run_custom_response_handlers/cloudtrail_data_events",
        "handler s3.PutObject ResponseLogger",
        "replication select_rules",
        "replication set_status [request]",  # PENDING, in the request
        "eventbridge s3 notifier notify",  # only the destination has notifications
        "eventbridge put_events",
    ]
    for name in once:
        assert got.get(name, {}).get("count") == 1, f"{name}: {sorted(got)}"
    at_least = [
        "s3 provider put_object",
        "s3 _notify",  # source and replica
        "replication on_write",
        "replication set_status [worker]",  # COMPLETED
        "persistence journal_version",  # the source's and the replica's new versions
        "persistence mark_written",
        "eventbridge process_rules",
        "eventbridge target process_event",
    ]
    for name in at_least:
        assert got.get(name, {}).get("count", 0) >= 1, f"{name}: {sorted(got)}"
    # the replica write: in-process (replica_write.py) or through the S3 API (the engine's "api" mode)
    assert "replication write_replica" in got or "request s3.PutObject [replica]" in got, sorted(got)
    put = got["request s3.PutObject"]
    assert put["total_ms"] > 0 and put["p50_ms"] == put["p95_ms"] == put["mean_ms"]
    assert put["total_ms"] >= got["handler s3.PutObject ServiceRequestRouter"]["total_ms"]

    assert _get(timed, "DELETE") == (200, {"enabled": True, "stages": {}})
    assert "request s3.PutObject" not in stages()
