"""End to end on the emulator: a `git push` to the branch runs the home pipeline, whose CodeBuild build
publishes the release. A release in the home bucket reaches every bespoke region, emits `Object Created`
(or a CloudTrail record) there, and starts exactly that region's pipeline, which deploys the
CloudFormation stack; the home pipeline's own Deploy stage deploys the native region (a cross-region
CloudFormation action) and the remote region (a CodeBuild build that deploys a change set there).

The tests share one deployment (tests/integration/conftest.py) but not their order: each one sets up
what it needs through the fixtures below, waits for the executions it starts before it ends, and
leaves the deployment as it found it, so any test runs alone or in any order.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError

from config import load_config
from config.schema import DeliveryStrategy
from regions.delivery import decisions
from tests.integration.test_platform import rebuild_platform
from tools import deploy
from tools.platform import Platform
from tools.release import Release, SourceRepository, release_zip
from tools.wait import wait_for

pytestmark = pytest.mark.emulator

REPLICATION_TIMEOUT = 60
PIPELINE_TIMEOUT = 120
BESPOKE = DeliveryStrategy.BESPOKE
HOME_DELIVERED = (DeliveryStrategy.NATIVE, DeliveryStrategy.REMOTE)


def bespoke(release: Release) -> list[str]:
    """The regions with a pipeline of their own, started by the replicated release."""
    return release.regions_delivered(BESPOKE)


def home_delivered(release: Release) -> list[str]:
    """The regions the home pipeline's Deploy stage deploys (native and remote)."""
    return release.regions_delivered(*HOME_DELIVERED)


def finished(release: Release, region: str, execution_id: str) -> str | None:
    status = release.execution_status(region, execution_id)
    return status if status in ("Succeeded", "Failed", "Stopped") else None


def execution_ids(release: Release, region: str) -> set[str]:
    return {e["pipelineExecutionId"] for e in release.executions(region)}


def running(release: Release, region: str) -> list[str]:
    """Executions of the region's pipeline that have not finished."""
    return [e["pipelineExecutionId"] for e in release.executions(region) if e["status"] in ("InProgress", "Stopping")]


@pytest.fixture
def released(settled: Release, repository: SourceRepository) -> Release:
    """The application stack deployed in every target region (by a first release, if none has yet)."""
    if any(settled.deployed_stack(region) is None for region in settled.config.target_regions):
        run_release(settled, repository, "first")
    return settled


def home_finished(release: Release, execution_id: str) -> str | None:
    status = release.home_execution_status(execution_id)
    return status if status in ("Succeeded", "Failed", "Stopped", "Superseded") else None


def build_release(release: Release, repository: SourceRepository, label: str) -> tuple[str, str]:
    """`git push` the application with `label`; wait for the home pipeline to build and publish it and to
    deploy the regions it delivers itself. The commit and the release object's version id."""
    commit = repository.push(label)
    # the repository's hook tells the emulator before `git push` returns: the execution exists already
    execution = release.home_execution_for(commit)
    assert execution is not None, f"no home execution for {commit}: {release.home_executions()[:3]}"
    assert execution["trigger"]["triggerType"] == "WebhookV2"
    status = wait_for(
        "the home execution (source, build, deploy actions) to finish",
        lambda: home_finished(release, execution["pipelineExecutionId"]),
        timeout=PIPELINE_TIMEOUT,
    )
    assert status == "Succeeded", release.home_executions()[0]
    head = release.published()
    assert head["Metadata"]["source-revision"] == commit
    for region in home_delivered(release):
        action = release.home_action(execution["pipelineExecutionId"], region)
        assert action and action["status"] == "Succeeded", action
    return commit, head["VersionId"]


def run_release(release: Release, repository: SourceRepository, label: str) -> tuple[str, dict[str, dict]]:
    """Push a release and wait until every target region deployed it: the home execution's deploy actions
    (native, remote) and each bespoke region's own pipeline, whose executions are returned."""
    before = {region: execution_ids(release, region) for region in bespoke(release)}
    _, version_id = build_release(release, repository, label)
    executions: dict[str, dict] = {}
    for region in bespoke(release):
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
        new = [e for e in release.executions(region) if e["pipelineExecutionId"] not in before[region]]
        for_version = [e for e in new if version_id in {r.get("revisionId") for r in e.get("sourceRevisions", [])}]
        assert len(for_version) == 1, f"{region}: expected one execution of {version_id}, got {for_version}"
        assert new == for_version, f"{region}: executions of other revisions started meanwhile: {new}"
        executions[region] = execution
    return version_id, executions


def test_a_git_push_to_the_branch_builds_the_release_and_every_region_deploys_that_commit(
    settled: Release, repository: SourceRepository
):
    _, version_id = build_release(settled, repository, "pushed")
    assert settled.published()["ServerSideEncryption"] == "aws:kms"
    for region in bespoke(settled):
        await_execution(settled, region, version_id)
    for region in settled.config.target_regions:
        assert settled.deployed_label(region) == "pushed", region


def test_a_push_to_another_branch_starts_nothing(settled: Release, repository: SourceRepository):
    before = {e["pipelineExecutionId"] for e in settled.home_executions()}
    commit = repository.push("elsewhere", branch="feature/not-released")
    # the hook has run when the push returns, so nothing started means nothing will
    assert {e["pipelineExecutionId"] for e in settled.home_executions()} == before
    assert settled.home_execution_for(commit) is None


def test_a_failing_build_fails_the_home_execution_and_publishes_nothing(
    settled: Release, repository: SourceRepository, tmp_path
):
    before = (settled.published() or {}).get("VersionId")
    started = {region: execution_ids(settled, region) for region in bespoke(settled)}
    labels = {region: settled.deployed_label(region) for region in home_delivered(settled)}
    empty = tmp_path / "empty"
    empty.mkdir()
    commit = repository.push("nothing", source=empty)  # the build's zip has nothing to zip: it fails
    execution = settled.home_execution_for(commit)
    assert execution is not None
    status = wait_for(
        "the home execution to finish", lambda: home_finished(settled, execution["pipelineExecutionId"]), timeout=120
    )
    assert status == "Failed"
    detail = settled.clients("codepipeline", settled.config.home_region).get_pipeline_execution(
        pipelineName=settled.names.pipeline("release", settled.config.home_region),
        pipelineExecutionId=execution["pipelineExecutionId"],
    )["pipelineExecution"]
    summary = detail.get("statusSummary", "")
    assert "BUILD" in summary and settled.names.codebuild_project(settled.config.home_region) in summary, summary
    assert (settled.published() or {}).get("VersionId") == before
    for region in bespoke(settled):
        assert execution_ids(settled, region) == started[region], f"{region} started a pipeline"
    for region in home_delivered(settled):
        assert settled.home_action(execution["pipelineExecutionId"], region) is None, f"{region} was deployed"
        assert settled.deployed_label(region) == labels[region]


def test_two_pushes_in_quick_succession_end_with_every_region_on_the_later_commit(
    settled: Release, repository: SourceRepository
):
    repository.push("first-of-two")
    later = repository.push("second-of-two")
    wait_for(
        "the release object of the later commit",
        lambda: (settled.published() or {}).get("Metadata", {}).get("source-revision") == later,
        timeout=PIPELINE_TIMEOUT,
    )
    for region in settled.config.target_regions:
        wait_for(
            f"{region} to deploy the later commit",
            lambda region=region: settled.deployed_label(region) == "second-of-two",
            timeout=PIPELINE_TIMEOUT,
        )
    wait_for("every execution to finish", lambda: not settled.running_executions(), timeout=PIPELINE_TIMEOUT)
    for region in settled.config.target_regions:
        assert settled.deployed_label(region) == "second-of-two", f"{region} went back to the earlier commit"


def target_regions():
    """Each bespoke region with its trigger mode as the test id (the `local` environment uses both)."""
    config = load_config(environ={"RELAY_ENV": os.environ.get("RELAY_ENV", "local")})
    return [
        pytest.param(d.region, id=f"{d.region}-{d.trigger_mode.value}")
        for d in decisions(config)
        if d.strategy is BESPOKE
    ]


def put_direct(release: Release, region: str, label: str, key: str | None = None) -> str:
    s3 = release.clients("s3", region)
    return s3.put_object(Bucket=release.target_bucket(region), Key=key or release.key, Body=release_zip(label))[
        "VersionId"
    ]


def await_execution(release: Release, region: str, version_id: str) -> dict:
    execution = wait_for(
        f"the execution of {version_id} in {region}",
        lambda: release.execution_for(region, version_id),
        timeout=REPLICATION_TIMEOUT,
    )
    wait_for(
        "it to finish", lambda: finished(release, region, execution["pipelineExecutionId"]), timeout=PIPELINE_TIMEOUT
    )
    return execution


def test_a_release_published_by_hand_is_replicated_with_the_same_bytes_and_version(deployed: Release):
    """The manual path (`relay release`, for re-releasing while the source is unavailable): a zip put
    into the home bucket as the build puts it reaches the bespoke regions (only a home execution deploys
    the native and remote ones)."""
    body = release_zip("replication-check")
    version_id = deployed.publish(body)
    for region in bespoke(deployed):
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
    # Let the deployments this release started finish, so the next test counts only its own executions.
    for region in bespoke(deployed):
        await_execution(deployed, region, version_id)


@pytest.mark.usefixtures("settled")
def test_each_region_runs_one_execution_triggered_by_its_rule_and_deploys_the_stack(
    deployed: Release, repository: SourceRepository
):
    version_id, executions = run_release(deployed, repository, "v1")
    assert set(executions) == set(bespoke(deployed))
    for region, execution in executions.items():
        assert execution["trigger"]["triggerType"] == "CloudWatchEvent"
        assert execution["trigger"]["triggerDetail"].endswith(f":rule/{deployed.names.event_rule('release', region)}")
        assert [r["revisionId"] for r in execution["sourceRevisions"]] == [version_id]
        assert deployed.execution_status(region, execution["pipelineExecutionId"]) == "Succeeded"
        stack = deployed.deployed_stack(region)
        assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        assert deployed.deployed_label(region) == "v1"


@pytest.mark.usefixtures("settled")
def test_the_home_pipeline_deploys_the_native_and_the_remote_region_itself(
    deployed: Release, repository: SourceRepository
):
    commit, _ = build_release(deployed, repository, "home-delivered")
    execution = deployed.home_execution_for(commit)
    home = deployed.config.home_region
    native = deployed.regions_delivered(DeliveryStrategy.NATIVE)
    remote = deployed.regions_delivered(DeliveryStrategy.REMOTE)
    assert native and remote, "the local environment uses every strategy"
    for region in native:
        action = deployed.home_action(execution["pipelineExecutionId"], region)
        assert action["input"]["actionTypeId"]["provider"] == "CloudFormation"
        assert action["input"]["region"] == region
        # CodePipeline copied the release into that region's artifact store, encrypted with that region's key
        copied = one_location(action)
        assert copied["bucket"] == deployed.names.bucket("artifacts", region)
        head = deployed.clients("s3", region).head_object(Bucket=copied["bucket"], Key=copied["key"])
        assert head["SSEKMSKeyId"] == target_key(deployed, region)
    for region in remote:
        action = deployed.home_action(execution["pipelineExecutionId"], region)
        assert action["input"]["actionTypeId"]["provider"] == "CodeBuild"
        assert action["input"]["region"] == home
        build_id = action["output"]["executionResult"]["externalExecutionId"]
        build = deployed.clients("codebuild", home).batch_get_builds(ids=[build_id])["builds"][0]
        assert build["projectName"] == deployed.names.remote_deploy_project(region)
        assert build["buildStatus"] == "SUCCEEDED"
        assert not [p for p in deployed.clients("codepipeline", region).list_pipelines()["pipelines"]], (
            "a remote region has no pipeline"
        )
    for region in [*native, *remote]:
        assert deployed.deployed_label(region) == "home-delivered", region
    assert deployed.deployed_stack(home) is None, "the home region deploys nothing of its own"


def one_location(action: dict) -> dict:
    """Where a cross-region action read its input artifact (its `inputArtifacts[0].s3location`)."""
    artifacts = action["input"].get("inputArtifacts") or []
    assert len(artifacts) == 1, action["input"]
    location = artifacts[0]["s3location"]
    return {"bucket": location["bucket"], "key": location["key"]}


@pytest.mark.usefixtures("released")
def test_a_second_release_updates_the_stack_in_every_region(deployed: Release, repository: SourceRepository):
    run_release(deployed, repository, "v2")
    for region in deployed.config.target_regions:
        assert deployed.deployed_stack(region)["StackStatus"] == "UPDATE_COMPLETE"
        assert deployed.deployed_label(region) == "v2"


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("region", target_regions())
def test_other_keys_start_nothing_and_an_event_stays_in_its_own_region(deployed: Release, region: str):
    others = [r for r in bespoke(deployed) if r != region]
    before = {r: execution_ids(deployed, r) for r in bespoke(deployed)}
    put_direct(deployed, region, "other-key", key="release/other.zip")
    # A matching object put after the other one is the positive control: once its execution exists,
    # the earlier event has been processed too.
    execution = await_execution(deployed, region, put_direct(deployed, region, "direct"))
    assert execution_ids(deployed, region) - before[region] == {execution["pipelineExecutionId"]}
    for other in others:
        assert execution_ids(deployed, other) == before[other]


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("region", [r for r in target_regions() if r.id.endswith("-cloudtrail")])
def test_a_stopped_trail_starts_nothing_and_log_files_parse(deployed: Release, region: str):
    trail = deployed.names.trail(region)
    cloudtrail = deployed.clients("cloudtrail", region)
    before = execution_ids(deployed, region)
    logged_before = {r["eventID"] for r in release_writes(deployed, region)}
    cloudtrail.stop_logging(Name=trail)
    try:
        put_direct(deployed, region, "while-stopped")
    finally:
        cloudtrail.start_logging(Name=trail)
    execution = await_execution(deployed, region, put_direct(deployed, region, "after-restart"))
    assert execution_ids(deployed, region) - before == {execution["pipelineExecutionId"]}

    # Earlier tests may have left log files: only the records delivered since this test began count.
    written = wait_for(
        f"a log file in {region} with the PutObject after the restart",
        lambda: [r for r in release_writes(deployed, region) if r["eventID"] not in logged_before],
        timeout=60,
    )
    assert "PutObject" in {r["eventName"] for r in written}
    assert {r["eventSource"] for r in written} == {"s3.amazonaws.com"}
    assert {r["awsRegion"] for r in written} == {region}


def release_writes(release: Release, region: str) -> list[dict]:
    """The trail's records of writes to the release object."""
    return [r for r in trail_records(release, region) if r["requestParameters"].get("key") == release.key]


def trail_records(release: Release, region: str) -> list[dict]:
    """Every CloudTrail record in the region's trail bucket, from gzip JSON files under AWSLogs/."""
    s3 = release.clients("s3", region)
    bucket = release.names.bucket("trail", region)
    account = release.clients("sts", region).get_caller_identity()["Account"]
    prefix = f"AWSLogs/{account}/CloudTrail/{region}/"
    records: list[dict] = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        assert re.fullmatch(rf"{prefix}\d{{4}}/\d{{2}}/\d{{2}}/{account}_CloudTrail_{region}_.+\.json\.gz", item["Key"])
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        records += json.loads(gzip.decompress(body))["Records"]
    return records


def replication_key(release: Release, region: str) -> str | None:
    """The key the home bucket's replication rule re-encrypts replicas for `region` with."""
    s3 = release.clients("s3", release.config.home_region)
    rules = s3.get_bucket_replication(Bucket=release.home_bucket())["ReplicationConfiguration"]["Rules"]
    bucket_arn = f"arn:aws:s3:::{release.target_bucket(region)}"
    rule = next(r for r in rules if r["Destination"]["Bucket"] == bucket_arn)
    return rule["Destination"].get("EncryptionConfiguration", {}).get("ReplicaKmsKeyID")


def target_key(release: Release, region: str) -> str:
    return release.clients("kms", region).describe_key(KeyId=release.names.kms_alias(region))["KeyMetadata"]["Arn"]


def target_deployed(release: Release, region: str) -> bool:
    s3 = release.clients("s3", region)
    return release.target_bucket(region) in {b["Name"] for b in s3.list_buckets()["Buckets"]}


@pytest.fixture
def rebuilt(settled: Release):
    """A target region the test destroys and redeploys; put back afterwards if the test stopped half-way,
    with the replication stack re-applied so that replication uses the region's new key."""
    region = bespoke(settled)[-1]
    yield region
    names = settled.names
    if not target_deployed(settled, region):
        deploy.cdktf("deploy", [names.target_stack(region)], synth=False)
    if replication_key(settled, region) != target_key(settled, region):
        deploy.cdktf("deploy", [names.replication_stack()], synth=False)


def test_a_target_region_can_be_destroyed_and_redeployed_while_the_others_keep_working(
    deployed: Release, rebuilt: str, repository: SourceRepository
):
    """A bespoke region's pipeline stack is destroyed and redeployed while another bespoke region keeps
    deploying; side by side, the last platform target's platform and peering stacks are destroyed and rebuilt
    (tests/integration/test_platform.py, rebuild_platform); then a release reaches every region."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        platform = Platform(deployed.config, deployed.clients) if deployed.config.platform.enabled else None
        other = platform.targets[-1] if platform else None
        assert other not in (rebuilt, *bespoke(deployed)[:1]), "the platform rebuilt is another region's"
        platform_rebuilt = pool.submit(rebuild_platform, deployed, platform, other) if platform else None
        rebuild_target(deployed, rebuilt)
        if platform_rebuilt is not None:
            platform_rebuilt.result()
    version_id, executions = run_release(deployed, repository, "v3")
    assert set(executions) == set(bespoke(deployed))
    assert deployed.deployed_label(rebuilt) == "v3"
    assert deployed.replica(rebuilt, version_id)["SSEKMSKeyId"] == target_key(deployed, rebuilt)


def rebuild_target(deployed: Release, rebuilt: str) -> None:
    """Destroy a bespoke region's own stack; deploy it again, while another bespoke region keeps deploying."""
    kept = next(r for r in bespoke(deployed) if r != rebuilt)
    stack = deployed.names.target_stack(rebuilt)
    deploy.cdktf("destroy", [stack], synth=False)
    assert not target_deployed(deployed, rebuilt)

    with ThreadPoolExecutor(max_workers=1) as pool:
        redeployed = pool.submit(deploy.cdktf, "deploy", [stack], synth=False)
        kept_bucket = deployed.target_bucket(kept)
        version_id = deployed.clients("s3", kept).put_object(
            Bucket=kept_bucket, Key=deployed.key, Body=release_zip("while-rebuilding")
        )["VersionId"]
        execution = wait_for(
            f"{kept} to keep deploying", lambda: deployed.execution_for(kept, version_id), timeout=REPLICATION_TIMEOUT
        )
        finish = wait_for("it to finish", lambda: finished(deployed, kept, execution["pipelineExecutionId"]))
        assert finish == "Succeeded"
        redeployed.result()

    # The new region's key is a new key: the replication stack, which reads it by alias, is applied again
    # so that replication re-encrypts with it (the old one is pending deletion). Two runs: cdktf deploys
    # stacks named together side by side, and replication must read the new key only once it exists.
    deploy.cdktf("deploy", [deployed.names.replication_stack()], synth=False)
    assert replication_key(deployed, rebuilt) == target_key(deployed, rebuilt)


def assumed_s3(release: Release, role_name: str, region: str):
    """An S3 client acting as another role of the account (the emulator does not check trust policies, so
    any of the app's roles can stand in for "someone else")."""
    account = release.clients("sts", region).get_caller_identity()["Account"]
    credentials = release.clients("sts", region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="not-a-release-writer"
    )["Credentials"]
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=release.config.emulator.endpoint,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.mark.usefixtures("settled")
def test_another_role_cannot_write_a_release_and_starts_nothing(deployed: Release):
    """The release write guard: a role that is not the build (home), the replication (targets) or a configured
    publisher is refused the release object, in home and in a bespoke region, and nothing is deployed."""
    home, region = deployed.config.home_region, bespoke(deployed)[0]
    published = (deployed.published() or {}).get("VersionId")
    before = execution_ids(deployed, region)
    intruder = deployed.names.role("trigger", region)
    for where, bucket in ((home, deployed.home_bucket()), (region, deployed.target_bucket(region))):
        with pytest.raises(ClientError) as refused:
            assumed_s3(deployed, intruder, where).put_object(
                Bucket=bucket, Key=deployed.key, Body=release_zip("forged")
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied", where
    # The positive control: a configured publisher's write starts exactly one execution, so had the refused
    # write started one, it would show here too.
    execution = await_execution(deployed, region, put_direct(deployed, region, "publisher"))
    assert execution_ids(deployed, region) - before == {execution["pipelineExecutionId"]}
    assert (deployed.published() or {}).get("VersionId") == published, "the home release did not change"
