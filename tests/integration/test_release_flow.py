"""End to end on the emulator: a release put into the home bucket reaches every target region, emits
`Object Created` there, and starts exactly that region's pipeline, which deploys the CloudFormation stack.

The tests share one deployment (tests/integration/conftest.py) and run in file order.
"""

from __future__ import annotations

import pytest

from tools import deploy
from tools.release import Release, release_zip, wait_for

pytestmark = pytest.mark.emulator

REPLICATION_TIMEOUT = 60
PIPELINE_TIMEOUT = 120


def finished(release: Release, region: str, execution_id: str) -> str | None:
    status = release.execution_status(region, execution_id)
    return status if status in ("Succeeded", "Failed", "Stopped") else None


def execution_ids(release: Release, region: str) -> set[str]:
    return {e["pipelineExecutionId"] for e in release.executions(region)}


def run_release(release: Release, label: str) -> tuple[str, dict[str, dict]]:
    """Publish a release and wait until every target region has run its pipeline on it."""
    before = {region: execution_ids(release, region) for region in release.config.target_regions}
    version_id = release.publish(release_zip(label))
    executions: dict[str, dict] = {}
    for region in release.config.target_regions:
        execution = wait_for(
            f"the {region} execution of {version_id}",
            lambda region=region: release.execution_for(region, version_id),
            timeout=REPLICATION_TIMEOUT,
        )
        wait_for(
            f"the {region} execution to finish",
            lambda region=region, e=execution: finished(release, region, e["pipelineExecutionId"]),
            timeout=PIPELINE_TIMEOUT,
        )
        new = execution_ids(release, region) - before[region]
        assert new == {execution["pipelineExecutionId"]}, f"{region}: expected exactly one new execution, got {new}"
        executions[region] = execution
    return version_id, executions


def test_release_is_replicated_to_every_target_with_the_same_bytes_and_version(deployed: Release):
    body = release_zip("replication-check")
    version_id = deployed.publish(body)
    for region in deployed.config.target_regions:
        replica = wait_for(
            f"the replica in {region}", lambda r=region: deployed.replica(r, version_id), timeout=REPLICATION_TIMEOUT
        )
        assert replica["VersionId"] == version_id
        assert replica["ReplicationStatus"] == "REPLICA"
        assert replica["ServerSideEncryption"] == "aws:kms"
        target_key = deployed.clients("kms", region).describe_key(KeyId=deployed.names.kms_alias(region))
        assert replica["SSEKMSKeyId"] == target_key["KeyMetadata"]["Arn"]
        assert deployed.replica_body(region, version_id) == body
    assert wait_for("COMPLETED on the source", lambda: deployed.source_status(version_id) == "COMPLETED")


def test_each_region_runs_one_execution_triggered_by_its_rule_and_deploys_the_stack(deployed: Release):
    version_id, executions = run_release(deployed, "v1")
    for region, execution in executions.items():
        assert execution["trigger"]["triggerType"] == "CloudWatchEvent"
        assert execution["trigger"]["triggerDetail"].endswith(f":rule/{deployed.names.event_rule('release', region)}")
        assert [r["revisionId"] for r in execution["sourceRevisions"]] == [version_id]
        assert deployed.execution_status(region, execution["pipelineExecutionId"]) == "Succeeded"
        stack = deployed.deployed_stack(region)
        assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        assert deployed.deployed_label(region) == "v1"


def test_a_second_release_updates_the_stack_in_every_region(deployed: Release):
    run_release(deployed, "v2")
    for region in deployed.config.target_regions:
        assert deployed.deployed_stack(region)["StackStatus"] == "UPDATE_COMPLETE"
        assert deployed.deployed_label(region) == "v2"


def test_other_keys_start_nothing_and_an_event_stays_in_its_own_region(deployed: Release):
    first, second = deployed.config.target_regions[:2]
    before = {region: execution_ids(deployed, region) for region in (first, second)}
    s3 = deployed.clients("s3", first)
    bucket = deployed.target_bucket(first)
    s3.put_object(Bucket=bucket, Key="release/other.zip", Body=release_zip("other-key"))
    # A matching object put after the other one is the positive control: once its execution exists,
    # the earlier event has been processed too.
    version_id = s3.put_object(Bucket=bucket, Key=deployed.key, Body=release_zip("direct"))["VersionId"]
    execution = wait_for(
        "the direct put's execution", lambda: deployed.execution_for(first, version_id), timeout=REPLICATION_TIMEOUT
    )
    wait_for(
        "it to finish", lambda: finished(deployed, first, execution["pipelineExecutionId"]), timeout=PIPELINE_TIMEOUT
    )
    assert execution_ids(deployed, first) - before[first] == {execution["pipelineExecutionId"]}
    assert execution_ids(deployed, second) == before[second]


def test_a_target_region_can_be_destroyed_and_redeployed_while_the_others_keep_working(deployed: Release):
    kept, rebuilt = deployed.config.target_regions[:2]
    stack = deployed.names.target_stack(rebuilt)
    s3 = deployed.clients("s3", rebuilt)
    deploy.cdktf("destroy", [stack], synth=False)
    assert deployed.target_bucket(rebuilt) not in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    kept_bucket = deployed.target_bucket(kept)
    version_id = deployed.clients("s3", kept).put_object(
        Bucket=kept_bucket, Key=deployed.key, Body=release_zip("while-rebuilding")
    )["VersionId"]
    execution = wait_for(
        f"{kept} to keep deploying", lambda: deployed.execution_for(kept, version_id), timeout=REPLICATION_TIMEOUT
    )
    assert wait_for("it to finish", lambda: finished(deployed, kept, execution["pipelineExecutionId"])) == "Succeeded"

    deploy.cdktf("deploy", [stack], synth=False)
    _, executions = run_release(deployed, "v3")
    assert set(executions) == set(deployed.config.target_regions)
    assert deployed.deployed_label(rebuilt) == "v3"
