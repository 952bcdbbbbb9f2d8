"""Releases in order on the emulator: a bespoke target pipeline with relay's Select stage
(buildspec/select-release.yml, a CodeBuild build in the target region between the S3 source and the
CloudFormation deploy) deploys the newest release present in the region's bucket, even when an older
release's replica arrived last and started the execution; and it never deploys a release older than the
one the stack runs.

The replicas are written out of order directly (as the replication role would, with the home build's
`relay-release-seq` metadata), so the test needs no replication delay."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import TARGET_A, client, s3_source_stage, wait_execution

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[2]
KEY = "release/source.zip"
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}
TEMPLATE = """
Parameters:
  ReleaseLabel:
    Type: String
    Default: {label}
Resources:
  Deployed:
    Type: AWS::SSM::Parameter
    Properties:
      Name: {parameter}
      Type: String
      Value: !Ref ReleaseLabel
"""


def release(parameter: str, label: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("template.yaml", TEMPLATE.format(label=label, parameter=parameter))
        archive.writestr("app/VERSION", f"{label}\n")
    return buffer.getvalue()


def action(name: str, category: str, provider: str, configuration: dict, inputs=(), outputs=()) -> dict:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        "configuration": configuration,
        "inputArtifacts": [{"name": a} for a in inputs],
        "outputArtifacts": [{"name": a} for a in outputs],
    }


@pytest.fixture
def target(res):
    """A bespoke target region's release bucket, key and pipeline: S3 source -> Select -> Deploy."""
    region = TARGET_A
    key_arn = client("kms", region).create_key(Description="release order")["KeyMetadata"]["Arn"]
    releases, artifacts = res.bucket(region, prefix="rel"), res.bucket(region, prefix="art")
    stack, parameter = res.name("order-stack"), f"/relay-order/{res.name('p')}"
    cb, cp, cfn = client("codebuild", region), client("codepipeline", region), client("cloudformation", region)
    project = res.name("select")
    cb.create_project(
        name=project,
        source={"type": "CODEPIPELINE", "buildspec": (REPO / "buildspec" / "select-release.yml").read_text()},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            **ENVIRONMENT,
            "environmentVariables": [
                {"name": "RELEASE_BUCKET", "value": releases, "type": "PLAINTEXT"},
                {"name": "RELEASE_KEY", "value": KEY, "type": "PLAINTEXT"},
                {"name": "STACK_NAME", "value": stack, "type": "PLAINTEXT"},
            ],
        },
        serviceRole=res.role("codebuild"),
        encryptionKey=key_arn,
    )
    res.defer(cb.delete_project, name=project)
    pipeline = res.name("deploy")
    cp.create_pipeline(
        pipeline={
            "name": pipeline,
            "roleArn": res.role("codepipeline"),
            "artifactStore": {"type": "S3", "location": artifacts, "encryptionKey": {"id": key_arn, "type": "KMS"}},
            "pipelineType": "V2",
            "executionMode": "QUEUED",
            "stages": [
                s3_source_stage(releases, KEY),
                {
                    "name": "Select",
                    "actions": [
                        action(
                            "NewestRelease",
                            "Build",
                            "CodeBuild",
                            {"ProjectName": project},
                            ["SourceArtifact"],
                            ["ReleaseArtifact"],
                        )
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        action(
                            "CloudFormation",
                            "Deploy",
                            "CloudFormation",
                            {
                                "ActionMode": "CREATE_UPDATE",
                                "StackName": stack,
                                "TemplatePath": "ReleaseArtifact::template.yaml",
                                "TemplateConfiguration": "ReleaseArtifact::relay-release.json",
                                "RoleArn": res.role("cloudformation"),
                            },
                            ["ReleaseArtifact"],
                        )
                    ],
                },
            ],
        }
    )
    res.defer(cp.delete_pipeline, name=pipeline)
    res.defer(cfn.delete_stack, StackName=stack)

    def publish(label: str, seq: int | None) -> str:
        """A replica of release `label` landing now in the target bucket (SSE-KMS, the build's metadata)."""
        metadata = {"source-revision": f"commit-{label}"}
        if seq is not None:
            metadata["relay-release-seq"] = str(seq)
        return client("s3", region).put_object(
            Bucket=releases,
            Key=KEY,
            Body=release(parameter, label),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key_arn,
            Metadata=metadata,
        )["VersionId"]

    def run() -> dict:
        return wait_execution(cp, pipeline, cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"], 90)

    def deployed() -> tuple[str, dict]:
        """The label the stack deployed and the stack's release tags."""
        value = client("ssm", region).get_parameter(Name=parameter)["Parameter"]["Value"]
        tags = {t["Key"]: t["Value"] for t in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Tags") or []}
        return value, tags

    def select_log(execution_id: str) -> str:
        details = cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id})
        build_id = next(
            d["output"]["executionResult"]["externalExecutionId"]
            for d in details["actionExecutionDetails"]
            if d["actionName"] == "NewestRelease"
        )
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        events = client("logs", region).get_log_events(
            logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
        )["events"]
        return "".join(e["message"] for e in events)

    return SimpleNamespace(
        publish=publish,
        run=run,
        deployed=deployed,
        select_log=select_log,
        releases=releases,
        source_revision=lambda ex: ex["artifactRevisions"][0]["revisionId"],
    )


def test_a_late_older_replica_starts_an_execution_that_deploys_the_newer_release(target):
    newer = target.publish("two", 2_000)
    older = target.publish("one", 1_000)  # release 1's replica arrives last: it is the key's latest version
    ex = target.run()
    assert ex["status"] == "Succeeded", ex
    assert target.source_revision(ex) == older, "the execution was started by (and its source read) the older one"
    label, tags = target.deployed()
    assert label == "two", "the newest release present in the region is deployed"
    assert tags == {"relay:release-seq": "2000", "relay:release-version": newer, "relay:release-revision": "commit-two"}
    log = target.select_log(ex["pipelineExecutionId"])
    assert f"chose version {newer} (seq 2000, revision commit-two): highest relay-release-seq among 2 version(s)" in log
    assert f"this execution was started by version {older}" in log

    # the next release lands in order: deployed; a rerun on an unchanged bucket changes nothing
    latest = target.publish("three", 3_000)
    assert target.run()["status"] == "Succeeded"
    assert target.deployed() == (
        "three",
        {"relay:release-seq": "3000", "relay:release-version": latest, "relay:release-revision": "commit-three"},
    )


def test_it_never_deploys_a_release_older_than_the_stacks(target):
    newer = target.publish("two", 2_000)
    target.publish("one", 1_000)
    assert target.run()["status"] == "Succeeded"
    # the newer release's version disappears (expired as noncurrent, deleted): only the older one is left
    client("s3", TARGET_A).delete_object(Bucket=target.releases, Key=KEY, VersionId=newer)
    ex = target.run()
    assert ex["status"] == "Failed", ex
    assert 'Error while executing command: python3 "${TMPDIR:-/tmp}/select-release.py"' in ex["statusSummary"]
    assert "runs release seq 2000, newer than the newest release" in target.select_log(ex["pipelineExecutionId"])
    assert target.deployed()[0] == "two"


def test_update_stack_replaces_the_stacks_tags_and_a_failed_update_keeps_the_old_ones(res):
    cfn = client("cloudformation", TARGET_A)
    stack, parameter = res.name("tags-stack"), f"/relay-order/{res.name('p')}"
    body = TEMPLATE.format(label="one", parameter=parameter)
    cfn.create_stack(StackName=stack, TemplateBody=body, Tags=[{"Key": "release", "Value": "1"}])
    res.defer(cfn.delete_stack, StackName=stack)

    def settled() -> dict:
        def done():
            found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
            return found if not found["StackStatus"].endswith("_IN_PROGRESS") else None

        return wait_for(f"stack {stack}", done, timeout=30, interval=0.2)

    def tags(found: dict) -> dict:
        return {t["Key"]: t["Value"] for t in found.get("Tags") or []}

    assert settled()["StackStatus"] == "CREATE_COMPLETE"
    # a tags-only change is an update of its own
    cfn.update_stack(StackName=stack, TemplateBody=body, Tags=[{"Key": "release", "Value": "2"}])
    found = settled()
    assert (found["StackStatus"], tags(found)) == ("UPDATE_COMPLETE", {"release": "2"})
    # the same tags again: nothing to update
    with pytest.raises(ClientError, match="No updates are to be performed"):
        cfn.update_stack(StackName=stack, TemplateBody=body, Tags=[{"Key": "release", "Value": "2"}])
    # without Tags, UpdateStack leaves them
    cfn.update_stack(StackName=stack, TemplateBody=TEMPLATE.format(label="two", parameter=parameter))
    found = settled()
    assert (found["StackStatus"], tags(found)) == ("UPDATE_COMPLETE", {"release": "2"})
    # a failed update keeps the stack's tags
    broken = body + "  Unknown:\n    Type: AWS::Relay::NoSuchType\n"
    cfn.update_stack(StackName=stack, TemplateBody=broken, Tags=[{"Key": "release", "Value": "3"}])
    found = settled()
    assert found["StackStatus"] != "UPDATE_COMPLETE" and tags(found) == {"release": "2"}, found


def test_queued_executions_run_one_at_a_time_in_the_order_they_started(res):
    """The home pipeline (QUEUED) deploys native and remote regions itself: an older execution never runs
    after a newer one."""
    cp, s3 = client("codepipeline", TARGET_A), client("s3", TARGET_A)
    bucket, artifacts = res.bucket(TARGET_A, prefix="src"), res.bucket(TARGET_A, prefix="art")
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"release")
    pipeline = res.name("queued")
    cp.create_pipeline(
        pipeline={
            "name": pipeline,
            "roleArn": res.role("codepipeline"),
            "artifactStore": {"type": "S3", "location": artifacts},
            "pipelineType": "V2",
            "executionMode": "QUEUED",
            "stages": [
                s3_source_stage(bucket, KEY),
                {"name": "Approve", "actions": [action("Approve", "Approval", "Manual", {})]},
            ],
        }
    )
    res.defer(cp.delete_pipeline, name=pipeline)
    started = [cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"] for _ in range(6)]
    for execution_id in started:
        assert wait_execution(cp, pipeline, execution_id)["status"] == "Succeeded"
    details = cp.list_action_executions(pipelineName=pipeline)["actionExecutionDetails"]
    runs = sorted(details, key=lambda d: d["startTime"])
    assert [d["pipelineExecutionId"] for d in runs] == [e for e in started for _ in range(2)], "one at a time, in order"
