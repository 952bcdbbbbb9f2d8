"""Fault injection on the emulator: regions down (503 ServiceUnavailable, replication waits, events
held), replication delays, the control API and the command line."""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import sys
import time
import zipfile

import emulator as launcher
import pytest
from botocore.exceptions import ClientError
from emulator_helpers import (
    ENDPOINT,
    HOME,
    NOT_YET,
    TARGET_A,
    cfn_deploy_stage,
    client,
    relay_api,
    replicate_everything,
    s3_source_stage,
    wait_execution,
)

from tools.wait import WaitTimeout, wait_for

pytestmark = pytest.mark.emulator

DOWN = TARGET_A  # the region the tests take down


def no_retry(service: str, region: str):
    """A client that reports a 503 at once (botocore retries 503s by default)."""
    return client(service, region, retries={"total_max_attempts": 1})


def assert_unavailable(call, region: str = DOWN):
    with pytest.raises(ClientError) as e:
        call()
    error = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert error["Code"] == "ServiceUnavailable", error
    assert region in error["Message"] and "relay emulator region down" in error["Message"]


@pytest.fixture
def faults(res):
    """The fault API; every fault is cleared at teardown, before `res` removes the resources."""
    launcher.clear_faults(ENDPOINT)
    yield launcher
    launcher.clear_faults(ENDPOINT)


def test_down_region_answers_503_in_each_protocol_and_other_regions_answer(faults, res):
    bucket = res.bucket(DOWN)
    faults.set_region(ENDPOINT, DOWN, True)
    assert faults.faults(ENDPOINT)["regions_down"] == [DOWN]
    assert_unavailable(lambda: no_retry("s3", DOWN).list_objects_v2(Bucket=bucket))  # rest-xml
    # the bucket's region decides, whatever region the caller signs for
    assert_unavailable(lambda: no_retry("s3", HOME).put_object(Bucket=bucket, Key="k", Body=b"x"))
    assert_unavailable(lambda: no_retry("ssm", DOWN).describe_parameters())  # json
    assert_unavailable(lambda: no_retry("codepipeline", DOWN).list_pipelines())  # json
    assert_unavailable(lambda: no_retry("cloudformation", DOWN).list_stacks())  # query
    # other regions, and global services (us-east-1), answer
    no_retry("ssm", HOME).describe_parameters()
    no_retry("cloudformation", HOME).list_stacks()
    no_retry("iam", DOWN).list_roles()
    faults.set_region(ENDPOINT, "us-east-1", True)
    assert_unavailable(lambda: no_retry("iam", HOME).list_roles(), "us-east-1")
    faults.set_region(ENDPOINT, "us-east-1", False)
    faults.set_region(ENDPOINT, DOWN, False)
    assert no_retry("s3", DOWN).list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def statuses(s3, bucket: str, versions: dict) -> dict:
    return {
        key: s3.head_object(Bucket=bucket, Key=key, VersionId=v).get("ReplicationStatus") for key, v in versions.items()
    }


def test_replication_into_a_down_region_stays_pending_then_completes_with_nothing_lost(faults, res):
    src, dst = res.bucket(HOME), res.bucket(DOWN)
    other = res.bucket("eu-central-1")
    role = res.role("s3")
    rules = [
        {
            "ID": dest,
            "Status": "Enabled",
            "Priority": i,
            "Filter": {},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": f"arn:aws:s3:::{dest}"},
        }
        for i, dest in enumerate((dst, other))
    ]
    s3 = client("s3", HOME)
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": role, "Rules": rules})
    faults.set_region(ENDPOINT, DOWN, True)
    versions = {
        f"obj-{i:02d}": s3.put_object(Bucket=src, Key=f"obj-{i:02d}", Body=f"body {i}".encode())["VersionId"]
        for i in range(20)
    }
    # the region that is up gets its replicas meanwhile; the sources wait for the down one
    up = client("s3", "eu-central-1")
    wait_for(
        "replicas in the region that is up",
        lambda: len(up.list_object_versions(Bucket=other).get("Versions", [])) == 20,
        timeout=30,
        interval=0.1,
    )
    assert set(statuses(s3, src, versions).values()) == {"PENDING"}
    faults.set_region(ENDPOINT, DOWN, False)
    wait_for(
        "every source COMPLETED",
        lambda: set(statuses(s3, src, versions).values()) == {"COMPLETED"},
        timeout=30,
        interval=0.2,
    )
    dest = client("s3", DOWN)
    for key, version_id in versions.items():
        head = dest.head_object(Bucket=dst, Key=key)
        assert head["VersionId"] == version_id and head["ReplicationStatus"] == "REPLICA"


def test_the_replicas_object_created_event_fires_once_the_region_is_up(faults, res):
    src, dst = res.bucket(HOME), res.bucket(DOWN)
    replicate_everything(src, dst, res.role("s3"))
    sqs, events, s3d = client("sqs", DOWN), client("events", DOWN), client("s3", DOWN)
    queue_url = sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
    res.defer(sqs.delete_queue, QueueUrl=queue_url)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3d.put_bucket_notification_configuration(Bucket=dst, NotificationConfiguration={"EventBridgeConfiguration": {}})
    rule = res.name("rule")
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [dst]}}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    res.defer(events.delete_rule, Name=rule)
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    res.defer(events.remove_targets, Rule=rule, Ids=["q"])

    faults.set_region(ENDPOINT, DOWN, True)
    version = client("s3", HOME).put_object(Bucket=src, Key="release.zip", Body=b"r1")["VersionId"]
    faults.set_region(ENDPOINT, DOWN, False)

    def event():
        msgs = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in msgs]

    (evt,) = wait_for("Object Created event for the replica", event, timeout=30, interval=0.05)
    assert evt["detail"]["object"]["key"] == "release.zip" and evt["detail"]["object"]["version-id"] == version


def test_replication_out_of_a_down_region_waits_until_it_is_up(faults, res):
    src, dst = res.bucket(HOME), res.bucket(TARGET_A)
    replicate_everything(src, dst, res.role("s3"))
    s3 = client("s3", HOME)
    faults.delay_replication(ENDPOINT, TARGET_A, 1)  # the replica is still to be written ...
    version = s3.put_object(Bucket=src, Key="k", Body=b"v1")["VersionId"]
    faults.set_region(ENDPOINT, HOME, True)  # ... when its source region goes down
    assert_unavailable(lambda: no_retry("s3", HOME).get_object(Bucket=src, Key="k"), HOME)  # (HEAD has no body)
    dest = client("s3", TARGET_A)
    with pytest.raises(WaitTimeout):  # nothing is copied out of a down region
        wait_for(
            "a replica", lambda: dest.head_object(Bucket=dst, Key="k"), timeout=2.5, interval=0.2, retry_on=NOT_YET
        )
    faults.set_region(ENDPOINT, HOME, False)
    wait_for(
        "the source COMPLETED",
        lambda: s3.head_object(Bucket=src, Key="k").get("ReplicationStatus") == "COMPLETED",
        timeout=30,
        interval=0.1,
    )
    assert dest.head_object(Bucket=dst, Key="k")["VersionId"] == version


def test_a_delayed_replica_is_overtaken_by_a_later_version_of_the_same_key(faults, res):
    """The delay fault's purpose: S3 does not guarantee replication order; the delayed (earlier)
    version arrives after the later one and becomes the destination's latest version."""
    src, dst = res.bucket(HOME), res.bucket(TARGET_A)
    replicate_everything(src, dst, res.role("s3"))
    s3, dest = client("s3", HOME), client("s3", TARGET_A)
    faults.delay_replication(ENDPOINT, TARGET_A, 2)
    assert faults.faults(ENDPOINT)["replication_delays"] == [{"region": TARGET_A, "seconds": 2.0, "remaining": 1}]
    v1 = s3.put_object(Bucket=src, Key="release.zip", Body=b"release 1")["VersionId"]
    v2 = s3.put_object(Bucket=src, Key="release.zip", Body=b"release 2")["VersionId"]
    assert faults.faults(ENDPOINT)["replication_delays"] == []
    wait_for(
        "v2's replica",
        lambda: dest.head_object(Bucket=dst, Key="release.zip", VersionId=v2),
        timeout=20,
        interval=0.05,
        retry_on=NOT_YET,
    )
    assert s3.head_object(Bucket=src, Key="release.zip", VersionId=v1)["ReplicationStatus"] == "PENDING"
    assert dest.get_object(Bucket=dst, Key="release.zip")["Body"].read() == b"release 2"
    wait_for(
        "v1's replica",
        lambda: dest.head_object(Bucket=dst, Key="release.zip", VersionId=v1),
        timeout=20,
        interval=0.05,
        retry_on=NOT_YET,
    )
    # the late replica of release 1 is now the destination's latest version
    assert dest.get_object(Bucket=dst, Key="release.zip")["Body"].read() == b"release 1"
    for v in (v1, v2):
        assert s3.head_object(Bucket=src, Key="release.zip", VersionId=v)["ReplicationStatus"] == "COMPLETED"


def test_event_bus_delivery_into_a_down_region_is_held_and_delivered_in_order(faults, res):
    home_events, events, sqs = client("events", HOME), client("events", DOWN), client("sqs", DOWN)
    bus = res.name("bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    res.defer(events.delete_event_bus, Name=bus)
    queue_url = sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
    res.defer(sqs.delete_queue, QueueUrl=queue_url)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    there = res.name("there")
    events.put_rule(Name=there, EventBusName=bus, EventPattern=json.dumps({"source": ["relay.test"]}))
    res.defer(events.delete_rule, Name=there, EventBusName=bus)
    events.put_targets(Rule=there, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    res.defer(events.remove_targets, Rule=there, EventBusName=bus, Ids=["q"])
    here = res.name("here")
    home_events.put_rule(Name=here, EventPattern=json.dumps({"source": ["relay.test"]}))
    res.defer(home_events.delete_rule, Name=here)
    home_events.put_targets(Rule=here, Targets=[{"Id": "bus", "Arn": bus_arn, "RoleArn": res.role("events")}])
    res.defer(home_events.remove_targets, Rule=here, Ids=["bus"])

    faults.set_region(ENDPOINT, DOWN, True)
    for n in range(3):
        home_events.put_events(Entries=[{"Source": "relay.test", "DetailType": "t", "Detail": json.dumps({"n": n})}])
    wait_for(
        "3 held deliveries",
        lambda: faults.faults(ENDPOINT)["held_deliveries"].get(DOWN) == 3,
        timeout=20,
        interval=0.05,
    )
    faults.set_region(ENDPOINT, DOWN, False)
    got = []

    def three():
        msgs = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        got.extend(json.loads(m["Body"])["detail"]["n"] for m in msgs)
        return len(got) >= 3

    wait_for("the held events", three, timeout=30, interval=0.05)
    assert got == [0, 1, 2]
    assert faults.faults(ENDPOINT)["held_deliveries"] == {}


def test_cross_region_action_into_a_down_region_fails_with_service_unavailable(faults, res):
    source, home_store, down_store = res.bucket(HOME), res.bucket(HOME), res.bucket(DOWN)
    client("s3", HOME).put_object(Bucket=source, Key="release.zip", Body=b"not deployed")
    name = res.name("pipe")
    decl = {
        "name": name,
        "roleArn": res.role("codepipeline"),
        "pipelineType": "V2",
        "artifactStores": {
            HOME: {"type": "S3", "location": home_store},
            DOWN: {"type": "S3", "location": down_store},
        },
        "stages": [
            s3_source_stage(source, "release.zip"),
            cfn_deploy_stage(res.name("stack"), res.role("cloudformation"), DOWN),
        ],
    }
    cp = client("codepipeline", HOME)
    cp.create_pipeline(pipeline=decl)
    res.defer(cp.delete_pipeline, name=name)
    faults.set_region(ENDPOINT, DOWN, True)
    execution_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    assert wait_execution(cp, name, execution_id)["status"] == "Failed"
    details = cp.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": execution_id})
    deploy = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "Deploy")
    assert deploy["status"] == "Failed"
    assert deploy["output"]["executionResult"]["externalExecutionSummary"].startswith("ServiceUnavailable:")
    assert DOWN in deploy["output"]["executionResult"]["externalExecutionSummary"]


def test_an_execution_in_a_region_that_goes_down_stops_progressing_until_it_is_up(faults, res, tmp_path):
    started, marker = tmp_path / "started", tmp_path / "go"
    source, store = res.bucket(DOWN), res.bucket(DOWN)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README", "release")
    client("s3", DOWN).put_object(Bucket=source, Key="release.zip", Body=buf.getvalue())
    cb, cp = client("codebuild", DOWN), client("codepipeline", DOWN)
    projects = {}
    for step, command in (
        ("hold", f"touch {started}; while [ ! -e {marker} ]; do sleep 0.05; done"),
        ("after", "echo after"),
    ):
        projects[step] = res.name(step)
        cb.create_project(
            name=projects[step],
            source={
                "type": "CODEPIPELINE",
                "buildspec": f"version: 0.2\nphases:\n  build:\n    commands:\n      - {command}\n",
            },
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            serviceRole=res.role("codebuild"),
            logsConfig={"cloudWatchLogs": {"status": "DISABLED"}},  # no log writes into the down region
        )
        res.defer(cb.delete_project, name=projects[step])

    def build_stage(step: str) -> dict:
        action = {
            "name": step,
            "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "configuration": {"ProjectName": projects[step]},
            "inputArtifacts": [{"name": "SourceArtifact"}],
        }
        return {"name": step.title(), "actions": [action]}

    name = res.name("pipe")
    cp.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": res.role("codepipeline"),
            "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": store},
            "stages": [s3_source_stage(source, "release.zip"), build_stage("hold"), build_stage("after")],
        }
    )
    res.defer(cp.delete_pipeline, name=name)
    execution_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]

    wait_for("the Hold build to run its command", started.exists, timeout=30, interval=0.05)
    faults.set_region(ENDPOINT, DOWN, True)
    marker.touch()  # the build ends while the region is down; the next action must wait
    # the region's pipeline events are held meanwhile: Hold's action and stage Succeeded, After's
    # stage InProgress, and no more (After's action does not start)
    held = wait_for(
        "the Hold stage to end",
        lambda: faults.faults(ENDPOINT)["held_deliveries"].get(DOWN, 0) >= 3,
        timeout=30,
        interval=0.05,
    )
    time.sleep(1)  # room for a (wrong) next action to start
    assert faults.faults(ENDPOINT)["held_deliveries"].get(DOWN) == 3, held
    up_at = datetime.datetime.now(datetime.UTC)
    faults.set_region(ENDPOINT, DOWN, False)
    assert wait_execution(cp, name, execution_id)["status"] == "Succeeded"
    details = cp.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": execution_id})
    after = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "after")
    assert after["startTime"] >= up_at


def test_control_api_refuses_bad_input_naming_every_problem(faults):
    status, doc = relay_api("POST", "/_relay/faults/replication-delays", {"region": "mars-1", "seconds": 0, "count": 0})
    assert status == 400 and len(doc["problems"]) == 3
    assert "mars-1" in doc["error"] and "<= 3600" in doc["error"] and ">= 1" in doc["error"]
    status, doc = relay_api("POST", "/_relay/faults/regions/eu-west-1", b"{not json")
    assert status == 400 and "not valid JSON" in doc["error"]
    status, doc = relay_api("POST", "/_relay/faults/regions/atlantis-1", {"down": True})
    assert status == 400 and "atlantis-1" in doc["error"]
    status, doc = relay_api("GET", "/_relay/faults")
    assert status == 200 and doc["regions_down"] == [] and doc["replication_delays"] == []


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, launcher.__file__, *args, "--port", ENDPOINT.rsplit(":", 1)[1]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_line_verbs_and_bad_arguments(faults):
    down = cli("region", "down", DOWN)
    assert down.returncode == 0 and f"region {DOWN} is down" in down.stdout
    delay = cli("region", "delay", DOWN, "2.5", "--count", "2")
    assert delay.returncode == 0 and f"replication into {DOWN} delayed 2.5 s for the next 2" in delay.stdout
    status = cli("status")
    assert status.returncode == 0 and f"faults: region {DOWN} is down" in status.stdout
    assert cli("region", "up", DOWN).returncode == 0
    listed = cli("faults")
    assert listed.returncode == 0 and "is down" not in listed.stdout and "delayed 2.5 s" in listed.stdout
    cleared = cli("faults", "--clear")
    assert cleared.returncode == 0 and cleared.stdout.strip() == "no faults injected"
    bad = cli("region", "delay", DOWN, "0")
    assert bad.returncode == 2 and "seconds > 0" in bad.stderr
    unknown = cli("region", "down", "atlantis-1")
    assert unknown.returncode == 2 and "unknown region 'atlantis-1'" in unknown.stderr
    assert cli("region", "sideways", DOWN).returncode == 2


def test_command_line_says_when_the_emulator_is_not_running():
    done = subprocess.run(
        [sys.executable, launcher.__file__, "faults", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "not running" in done.stderr
