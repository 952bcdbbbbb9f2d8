"""Emulator restarts lose nothing (the plugin's ``persistence.py``): ``stop`` / ``start`` keeps S3 objects
(small and on-disk bodies, version ids, metadata, replication statuses), an SSM parameter, a CloudFormation
stack, a CodePipeline pipeline and its executions, an EventBridge rule; ``kill -9`` during a burst of 1,000
PutObjects into a replicated bucket loses no acknowledged object, and every one of them ends replicated.

These tests start their own emulator (a free port, a temporary state dir, the suite's venv), like
``test_emulator_launcher.py``: restarting the suite's shared emulator would disturb other tests."""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import io
import json
import os
import signal
import threading
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import (
    SSM_PARAMETER_TEMPLATE,
    cfn_deploy_stage,
    free_port,
    replicate_all_rule,
    s3_source_stage,
)

from tools.wait import wait_for

LAUNCHER = Path(__file__).resolve().parent.parent / "emulator.py"
_spec = importlib.util.spec_from_file_location("relay_emulator_launcher_persist", LAUNCHER)
launcher = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launcher)

HOME, TARGET = "eu-west-1", "eu-south-2"

SLOW_BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 300\n"
BUILD_ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}


class Own:
    """An emulator of its own state dir and port, with clients for it."""

    def __init__(self, state_dir: Path, **environ: str):
        venv = os.environ.get("RELAY_EMULATOR_VENV") or str(launcher.emulator_dir() / "venv")
        self.environ = {**os.environ, "RELAY_STATE_DIR": str(state_dir), "RELAY_EMULATOR_VENV": venv, **environ}
        self.environ.pop("RELAY_EMULATOR_PERSIST", None)
        self.emulator = launcher.Emulator(free_port(), environ=self.environ, echo=False)
        self.endpoint = self.emulator.endpoint
        self.config = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}, max_pool_connections=32)

    def client(self, service: str, region: str = HOME):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 - the emulator's fixed test credentials
            config=self.config,
        )

    def start(self) -> str:
        self.emulator.ensure_running()
        return self.emulator.persistence_summary()

    def persistence(self) -> dict:
        with urllib.request.urlopen(self.endpoint + "/_relay/persistence", timeout=10) as r:  # noqa: S310
            return json.loads(r.read())

    def kill_9(self) -> None:
        """``kill -9`` the emulator and wait until it is gone."""
        pid = self.emulator.pid()
        os.kill(pid, signal.SIGKILL)
        child = self.emulator._child  # started by this process: collect it (a zombie keeps its pid)
        if child is not None and child.pid == pid:
            child.wait(timeout=10)
        wait_for("the killed emulator to exit", lambda: self.emulator.pid() is None, timeout=10, interval=0.1)

    def save_now(self) -> dict:
        request = urllib.request.Request(self.endpoint + "/_relay/persistence", data=b"{}", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310
            return json.loads(r.read())


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    own = Own(tmp_path_factory.mktemp("persist"))
    own.start()
    try:
        yield own
    finally:
        with contextlib.suppress(Exception):
            own.emulator.stop()


def _role(own: Own, name: str) -> str:
    doc = {"Version": "2012-10-17", "Statement": []}
    return own.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]


def _replicated_pair(own: Own, uid: str) -> tuple[str, str]:
    src, dst = f"src-{uid}", f"dst-{uid}"
    for bucket, region in ((src, HOME), (dst, TARGET)):
        s3 = own.client("s3", region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    own.client("s3").put_bucket_replication(
        Bucket=src, ReplicationConfiguration={"Role": _role(own, f"repl-{uid}"), "Rules": [replicate_all_rule(dst)]}
    )
    return src, dst


def _replicated(own: Own, src: str, dst: str, key: str, version_id: str) -> bool:
    try:
        head = own.client("s3").head_object(Bucket=src, Key=key, VersionId=version_id)
        replica = own.client("s3", TARGET).head_object(Bucket=dst, Key=key, VersionId=version_id)
    except ClientError:
        return False
    return head.get("ReplicationStatus") == "COMPLETED" and replica.get("ReplicationStatus") == "REPLICA"


def _zip(template: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("template.yaml", template)
    return buf.getvalue()


def _pipeline(own: Own, uid: str) -> tuple[str, str, str]:
    """A pipeline (S3 source, CloudFormation deploy of one SSM parameter) and its succeeded execution."""
    s3, cp = own.client("s3", TARGET), own.client("codepipeline", TARGET)
    source, artifacts = f"psrc-{uid}", f"part-{uid}"
    for bucket in (source, artifacts):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TARGET})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    param, stack, name = f"/persist/{uid}", f"stack-{uid}", f"pipe-{uid}"
    s3.put_object(
        Bucket=source, Key="release.zip", Body=_zip(SSM_PARAMETER_TEMPLATE.format(name=param, value="deployed"))
    )
    role = _role(own, f"cp-{uid}")
    cp.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": artifacts},
            "stages": [
                s3_source_stage(source, "release.zip"),
                cfn_deploy_stage(stack, role),
            ],
        }
    )
    execution_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]

    def ended():
        ex = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)["pipelineExecution"]
        return ex if ex["status"] not in ("InProgress", "Stopping") else None

    assert wait_for("the pipeline execution", ended, timeout=60, interval=0.3)["status"] == "Succeeded"
    return name, execution_id, stack


def test_stop_and_start_keep_every_service_state(own):
    uid = uuid.uuid4().hex[:8]
    s3 = own.client("s3")
    src, dst = _replicated_pair(own, uid)
    small = s3.put_object(Bucket=src, Key="small.txt", Body=b"hello", Metadata={"release": "r1"})
    large_body = os.urandom(2 * 1024 * 1024)  # above LocalStack's in-memory size: a spooled file
    large = s3.put_object(Bucket=src, Key="large.bin", Body=large_body, ContentType="application/x-relay")
    for key, put in (("small.txt", small), ("large.bin", large)):
        wait_for("replication", lambda k=key, p=put: _replicated(own, src, dst, k, p["VersionId"]), timeout=30)
    own.client("ssm").put_parameter(Name=f"/persist/plain-{uid}", Value="v1", Type="String")
    events = own.client("events")
    events.put_rule(Name=f"rule-{uid}", EventPattern=json.dumps({"source": ["relay.test"]}))
    pipeline, execution_id, stack = _pipeline(own, uid)
    cb = own.client("codebuild")
    cb.create_project(
        name=f"slow-{uid}",
        source={"type": "NO_SOURCE", "buildspec": SLOW_BUILDSPEC},
        artifacts={"type": "NO_ARTIFACTS"},
        environment=BUILD_ENVIRONMENT,
        serviceRole=_role(own, f"cb-{uid}"),
    )
    build_id = cb.start_build(projectName=f"slow-{uid}")["build"]["id"]
    wait_for(
        "the build to run its commands",
        lambda: cb.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] == "BUILD",
        timeout=30,
        interval=0.2,
    )
    before = own.persistence()
    assert before["fresh"] is True

    own.emulator.stop()
    summary = own.start()

    after = own.persistence()
    assert after["instance"] == before["instance"] and after["fresh"] is False
    assert summary.startswith("restored ") and own.emulator.persistence.name in summary
    for service in ("s3", "ssm", "events", "codepipeline", "cloudformation", "iam"):
        assert service in after["restored"], after
    assert not [lost for lost in after["lost"] if lost["service"] in ("s3", "ssm", "events", "codepipeline")], after

    head = s3.head_object(Bucket=src, Key="small.txt")
    assert head["VersionId"] == small["VersionId"] and head["Metadata"] == {"release": "r1"}
    assert head["ReplicationStatus"] == "COMPLETED" and head["ETag"] == small["ETag"]
    body = s3.get_object(Bucket=src, Key="large.bin")
    assert body["VersionId"] == large["VersionId"] and body["ContentType"] == "application/x-relay"
    assert body["Body"].read() == large_body
    replica = own.client("s3", TARGET).get_object(Bucket=dst, Key="large.bin")
    assert replica["VersionId"] == large["VersionId"] and replica["ReplicationStatus"] == "REPLICA"
    assert replica["Body"].read() == large_body

    assert own.client("ssm").get_parameter(Name=f"/persist/plain-{uid}")["Parameter"]["Value"] == "v1"
    assert own.client("ssm", TARGET).get_parameter(Name=f"/persist/{uid}")["Parameter"]["Value"] == "deployed"
    rule = events.describe_rule(Name=f"rule-{uid}")
    assert json.loads(rule["EventPattern"]) == {"source": ["relay.test"]}
    stacks = own.client("cloudformation", TARGET).describe_stacks(StackName=stack)["Stacks"]
    assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"
    cp = own.client("codepipeline", TARGET)
    assert cp.get_pipeline(name=pipeline)["pipeline"]["stages"][1]["name"] == "Deploy"
    (ex,) = cp.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    assert ex["pipelineExecutionId"] == execution_id and ex["status"] == "Succeeded"
    # a build in flight at the stop cannot go on: it ends FAILED, and the restore says so
    assert cb.batch_get_builds(ids=[build_id])["builds"][0]["buildStatus"] == "FAILED"
    (lost,) = [lost for lost in after["lost"] if lost["service"] == "codebuild"]
    assert build_id in lost["reason"] and "in flight" in lost["reason"]
    # the restored pipeline still runs
    again = cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"]

    def ended():
        ex = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=again)["pipelineExecution"]
        return ex if ex["status"] not in ("InProgress", "Stopping") else None

    assert wait_for("the second execution", ended, timeout=60, interval=0.3)["status"] == "Succeeded"


def test_kill_9_during_a_burst_loses_no_acknowledged_object_and_replication_resumes(own):
    uid = uuid.uuid4().hex[:8]
    src, dst = _replicated_pair(own, uid)
    instance = own.save_now()["instance"]  # the buckets are in a snapshot; objects go to the journal
    s3 = own.client("s3")
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    killed = threading.Event()
    errors: list = []
    pid = own.emulator.pid()

    def put(i: int) -> None:
        if killed.is_set():
            return
        key = f"burst/{i:04d}"
        try:
            version = s3.put_object(Bucket=src, Key=key, Body=f"object {i}".encode() * 10)["VersionId"]
        except Exception as e:  # the emulator died under this request: not acknowledged
            errors.append(e)
            return
        with lock:
            acknowledged[key] = version
            if len(acknowledged) == 250:  # a snapshot in the middle of the burst: the journal goes on after it
                threading.Thread(target=own.save_now, daemon=True).start()
            if len(acknowledged) == 500 and not killed.is_set():
                killed.set()
                os.kill(pid, signal.SIGKILL)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(1000)))
    assert killed.is_set() and len(acknowledged) >= 500, (len(acknowledged), errors[:3])
    child = own.emulator._child  # started by this process: collect it (a zombie keeps its pid)
    if child is not None and child.pid == pid:
        child.wait(timeout=10)
    wait_for("the killed emulator to exit", lambda: own.emulator.pid() is None, timeout=10, interval=0.1)

    own.start()
    doc = own.persistence()
    # the objects since the last background snapshot come from the journal (how many depends on when it ran)
    assert doc["instance"] == instance and doc["objects"] >= len(acknowledged), doc

    missing = dict(acknowledged)

    def all_replicated():
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            done = pool.map(lambda kv: (kv[0], _replicated(own, src, dst, *kv)), list(missing.items()))
            for key, ok in list(done):
                if ok:
                    del missing[key]
        return not missing

    wait_for(f"{len(acknowledged)} acknowledged objects replicated", all_replicated, timeout=90, interval=0.5)


def test_kill_9_keeps_bucket_changes_made_after_the_last_snapshot(tmp_path):
    """Buckets created, configured, tagged and deleted after the last snapshot (the background saver never runs
    here) are journaled like objects: ``kill -9`` loses none of it, and the objects written into the new buckets
    are replicated after the start."""
    own = Own(tmp_path, RELAY_PERSIST_INTERVAL="3600")
    own.start()
    try:
        uid = uuid.uuid4().hex[:8]
        s3 = own.client("s3")
        gone = f"gone-{uid}"
        s3.create_bucket(Bucket=gone, CreateBucketConfiguration={"LocationConstraint": HOME})
        saved_at = own.save_now()["saved_at"]  # the only snapshot: ``gone`` is in it, nothing below is
        src, dst = _replicated_pair(own, uid)
        tags = [{"Key": "relay:test", "Value": uid}]
        s3.put_bucket_tagging(Bucket=src, Tagging={"TagSet": tags})
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TLSOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{src}", f"arn:aws:s3:::{src}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        )
        s3.put_bucket_policy(Bucket=src, Policy=policy)
        s3.delete_bucket(Bucket=gone)
        replication = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
        versions = {f"k{i}": s3.put_object(Bucket=src, Key=f"k{i}", Body=b"x" * i)["VersionId"] for i in range(20)}
        assert own.persistence()["saved_at"] == saved_at  # no snapshot since: only the journal has the changes

        own.kill_9()
        own.start()
        doc = own.persistence()
        assert doc["lost"] == [], doc["lost"]
        assert s3.get_bucket_versioning(Bucket=src)["Status"] == "Enabled"
        assert own.client("s3", TARGET).get_bucket_versioning(Bucket=dst)["Status"] == "Enabled"
        assert s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"] == replication
        assert s3.get_bucket_tagging(Bucket=src)["TagSet"] == tags
        assert json.loads(s3.get_bucket_policy(Bucket=src)["Policy"]) == json.loads(policy)
        with pytest.raises(ClientError) as deleted:
            s3.head_bucket(Bucket=gone)
        assert deleted.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
        assert gone not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        for key, version in versions.items():
            wait_for(f"{key} replicated", lambda k=key, v=version: _replicated(own, src, dst, k, v), timeout=30)
    finally:
        with contextlib.suppress(Exception):
            own.emulator.stop()


def test_persistence_off_and_clean(tmp_path):
    off = launcher.Emulator(free_port(), environ={"RELAY_STATE_DIR": str(tmp_path), "RELAY_EMULATOR_PERSIST": "0"})
    assert not off.persist()
    assert "persistence off" in off.persistence_summary()
    on = launcher.Emulator(free_port(), environ={"RELAY_STATE_DIR": str(tmp_path)})
    assert on.launch_environment()["RELAY_EMULATOR_PERSISTENCE_DIR"] == str(tmp_path / "emulator" / "persistence")
    on.persistence.mkdir(parents=True)
    (on.persistence / "manifest.json").write_text("{}")
    on.clean()
    assert not on.persistence.exists()
