"""`relay status`: each region judged from hand-built facts, the table and the JSON, the metrics, and the read
calls gathered from fake clients (the emulator path is the integration suite's)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from config import load_config
from config.paths import PROJECT_ROOT
from regions.delivery import decisions
from tools import status
from tools.status import Facts, Release, Run

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
PUBLISHED = NOW - timedelta(minutes=10)
RELEASE = Release("relay-local-release-eu-west-1", "release/source.zip", "v2", "c2" * 20, PUBLISHED, "COMPLETED")


def run(status_: str, version: str | None = "v2", commit: str | None = "c2" * 20, ended: bool = True) -> Run:
    return Run(
        "e-" + status_.lower(),
        status_,
        PUBLISHED,
        PUBLISHED + timedelta(seconds=40) if ended else None,
        version,
        commit,
    )


def target(**changes) -> Facts:
    facts = dict(
        region="eu-south-2",
        role="target",
        strategy="bespoke",
        replication="COMPLETED",
        replica_version="v2",
        last_run=run("Succeeded"),
        deployed_run=run("Succeeded"),
        stack="relay-sample-app",
        stack_status="UPDATE_COMPLETE",
    )
    return Facts(**(facts | changes))


@pytest.mark.parametrize(
    ("facts", "state", "behind"),
    [
        (target(), "current", 0),
        # a missed event: the replica arrived, no execution followed; the region keeps the old release
        (target(last_run=run("Succeeded", "v1", "c1"), deployed_run=run("Succeeded", "v1", "c1")), "behind", 600),
        (target(replication="PENDING", replica_version="v1", deployed_run=run("Succeeded", "v1")), "behind", 600),
        (target(replication="FAILED", replica_version="v1", deployed_run=run("Succeeded", "v1")), "failed", 600),
        (target(last_run=run("InProgress", ended=False), deployed_run=run("Succeeded", "v1")), "deploying", 600),
        (target(last_run=run("Failed"), deployed_run=run("Succeeded", "v1")), "failed", 600),
        # before its source action has run, an execution names no release yet
        (target(last_run=run("InProgress", None, None, False), deployed_run=run("Succeeded", "v1")), "deploying", 600),
        # an older release's execution in progress: the latest is not being deployed
        (target(last_run=run("InProgress", "v1", "c1", False), deployed_run=run("Succeeded", "v1")), "behind", 600),
        (target(stack_status="UPDATE_ROLLBACK_COMPLETE", deployed_run=run("Succeeded", "v1")), "failed", 600),
        (target(stack_status="ROLLBACK_COMPLETE"), "failed", 0),
        (target(stack_status="UPDATE_FAILED"), "failed", 0),
        # the stack was deleted after the run succeeded: its release is unknown, not guessed
        (target(stack_status="missing"), "behind", 600),
        (target(deployed_run=None, last_run=None), "behind", 600),
        (target(error="AccessDenied"), "unreachable", None),
        # native: the home execution that published the release runs, the region's action has not yet
        (
            target(
                strategy="native",
                replication="home pipeline",
                replica_version=None,
                in_flight=True,
                last_run=run("Succeeded", None, "c1"),
                deployed_run=run("Succeeded", None, "c1"),
            ),
            "deploying",
            600,
        ),
        # native runs carry the commit only: compared by commit
        (target(strategy="remote", replica_version=None, deployed_run=run("Succeeded", None, "c2" * 20)), "current", 0),
    ],
)
def test_a_target_region_is_judged_against_the_latest_release(facts, state, behind):
    judged = status.judge(facts, RELEASE, NOW)
    assert judged.state == state
    assert judged.behind_seconds == behind
    assert judged.current is (state == "current")


def test_the_home_region_fails_only_when_its_build_did_not_publish():
    home = Facts("eu-west-1", "home", last_run=run("Failed", None, "c3"))
    assert status.judge(home, RELEASE, NOW).state == "failed"
    # the execution that published the latest release failed later, in a region's deploy action: that region
    # is failed, home is current
    home = Facts("eu-west-1", "home", last_run=run("Failed", "v2"))
    assert status.judge(home, RELEASE, NOW).state == "current"
    home = Facts("eu-west-1", "home", last_run=run("InProgress", ended=False))
    assert status.judge(home, RELEASE, NOW).state == "deploying"
    assert status.judge(Facts("eu-west-1", "home"), RELEASE, NOW).state == "current"


def test_without_the_latest_release_no_region_is_current():
    assert status.judge(target(), None, NOW).state == "behind"
    judged = status.judge(target(), None, NOW, home_error="AccessDenied")
    assert judged.state == "unreachable" and "AccessDenied" in judged.note


def fleet(*regions: Facts, release: Release | None = RELEASE) -> status.FleetStatus:
    home = Facts("eu-west-1", "home", last_run=run("Succeeded"))
    return status.FleetStatus(
        environment="local",
        app="relay",
        home_region="eu-west-1",
        emulator=True,
        checked_at=NOW,
        release=release,
        regions=[status.judge(f, release, NOW) for f in (home, *regions)],
        bucket=RELEASE.bucket,
        key=RELEASE.key,
    )


def test_every_region_current_exits_0_and_says_so():
    fleet_ = fleet(target(), target(region="eu-central-1", strategy="native", replication="home pipeline"))
    assert fleet_.exit_code == 0
    assert fleet_.summary.startswith("every region (3) runs the latest release c2c2c2c2c2c2@v2")


def test_a_lagging_region_exits_1_and_the_summary_names_it_by_state():
    fleet_ = fleet(
        target(),
        target(region="ap-southeast-4", last_run=run("Failed"), deployed_run=run("Succeeded", "v1")),
        target(region="eu-central-1", error="home: AccessDenied"),
        target(region="ca-west-1", deployed_run=run("Succeeded", "v1", "c1")),
    )
    assert fleet_.exit_code == 1
    assert "2 of 5 regions current" in fleet_.summary
    assert "failed: ap-southeast-4" in fleet_.summary
    assert "unreachable: eu-central-1 (home: AccessDenied)" in fleet_.summary
    assert "behind: ca-west-1 (for 10m00s)" in fleet_.summary


def test_deploying_counts_as_not_current():
    fleet_ = fleet(target(last_run=run("InProgress", ended=False), deployed_run=run("Succeeded", "v1")))
    assert fleet_.exit_code == 1 and "deploying: eu-south-2" in fleet_.summary


def test_no_release_published_yet_exits_1_and_says_so():
    fleet_ = fleet(target(), release=None)
    assert fleet_.exit_code == 1
    assert fleet_.summary == "no release published yet in s3://relay-local-release-eu-west-1/release/source.zip"
    assert fleet_.as_json()["release"] is None


def test_the_table_is_aligned_plain_text_home_first():
    fleet_ = fleet(target(), target(region="ca-west-1", strategy="remote", deployed_run=run("Succeeded", "v1", "c1")))
    text = status.render(fleet_)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("REGION"))
    rows = lines[header : header + 4]
    assert [r.split()[0] for r in rows] == ["REGION", "eu-west-1", "eu-south-2", "ca-west-1"]
    column = rows[0].index("STATE")
    assert [r[column:].split()[0] for r in rows[1:]] == ["current", "current", "behind"]
    assert "\x1b" not in text  # no colours: plain text
    assert "c1@v1" in rows[3] and "10m00s" in rows[3]
    assert lines[-1] == fleet_.summary
    assert "latest release: commit " + "c2" * 20 + ", version v2, published 2026-11-28 11:50:00Z" in text


def test_the_json_has_iso_times_seconds_and_states():
    fleet_ = fleet(target(), target(region="ca-west-1", strategy="remote", deployed_run=run("Succeeded", "v1", "c1")))
    document = json.loads(json.dumps(fleet_.as_json()))
    assert document["release"]["published_at"] == "2026-11-28T11:50:00Z"
    assert [r["region"] for r in document["regions"]] == ["eu-west-1", "eu-south-2", "ca-west-1"]
    home, current, behind = document["regions"]
    assert home["role"] == "home" and home["deployed"] is None and home["behind"] is False
    assert current | {"state": "current", "current": True, "behind": False, "behind_seconds": 0} == current
    assert current["execution"]["ended_at"] == "2026-11-28T11:50:40Z"
    assert behind["state"] == "behind" and behind["behind_seconds"] == 600 and behind["behind"] is True
    assert behind["deployed"]["commit"] == "c1" and behind["stack"]["status"] == "UPDATE_COMPLETE"
    assert document["exit_code"] == 1 and document["current"] is False
    assert {r["state"] for r in document["regions"]} <= set(status.STATES)


def test_the_metrics_name_the_application_and_region():
    fleet_ = fleet(
        target(),
        target(region="ca-west-1", strategy="remote", deployed_run=run("Succeeded", "v1", "c1")),
        target(region="eu-central-1", error="Throttling"),
    )
    data = status.metric_data(fleet_, "relay-local")
    assert [(d["MetricName"], d["Dimensions"][1]["Value"], d["Value"]) for d in data] == [
        ("BehindSeconds", "eu-south-2", 0),
        ("PublishToDeployedSeconds", "eu-south-2", 40),
        ("BehindSeconds", "ca-west-1", 600),
    ]
    assert data[0]["Dimensions"][0] == {"Name": "Application", "Value": "relay-local"}
    assert status.metric_data(fleet(target(), release=None), "relay-local") == []
    assert status.application_dimension(load_config(environ={"RELAY_ENV": "prod"})) == "relay-prod"


# --- gathering, from fake clients ---------------------------------------------------------------------------


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeAWS:
    """`clients(service, region)` answering the read calls of one hand-built deployment."""

    def __init__(self, config, *, failing: dict[tuple[str, str], Exception] | None = None):
        self.config = config
        self.names = config.names
        self.failing = failing or {}
        self.objects: dict[str, dict[str, dict]] = {}
        """bucket -> version id -> head (newest last)."""
        self.executions: dict[str, list[dict]] = {}
        self.actions: list[dict] = []
        self.stacks: dict[str, str] = {}
        self.stack_tags: dict[str, dict[str, str]] = {}
        self.metrics: list[dict] = []
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, service: str, region: str) -> FakeClient:
        return FakeClient(self, service, region)


class FakeClient:
    def __init__(self, aws: FakeAWS, service: str, region: str):
        self.aws, self.service, self.region = aws, service, region

    def _call(self, operation: str) -> None:
        self.aws.calls.append((self.service, self.region, operation))
        failure = self.aws.failing.get((self.service, self.region))
        if failure is not None:
            raise failure

    def head_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict:
        self._call("HeadObject")
        versions = self.aws.objects.get(Bucket, {})
        if VersionId is None:
            if not versions:
                raise client_error("404", "HeadObject")
            return list(versions.values())[-1]
        if VersionId not in versions:
            raise client_error("404", "HeadObject")
        return versions[VersionId]

    def list_object_versions(self, Bucket: str, Prefix: str) -> dict:
        self._call("ListObjectVersions")
        versions = reversed(self.aws.objects.get(Bucket, {}))
        return {"Versions": [{"Key": Prefix, "VersionId": v} for v in versions]}

    def list_pipeline_executions(self, pipelineName: str) -> dict:
        self._call("ListPipelineExecutions")
        return {"pipelineExecutionSummaries": self.aws.executions.get(pipelineName, [])}

    def list_action_executions(self, pipelineName: str, maxResults: int) -> dict:
        self._call("ListActionExecutions")
        return {"actionExecutionDetails": self.aws.actions}

    def describe_stacks(self, StackName: str) -> dict:
        self._call("DescribeStacks")
        if self.region not in self.aws.stacks:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}},
                "DescribeStacks",
            )
        tags = [{"Key": k, "Value": v} for k, v in self.aws.stack_tags.get(self.region, {}).items()]
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.aws.stacks[self.region], "Tags": tags}]}

    def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> dict:
        self._call("PutMetricData")
        self.aws.metrics += [{"Namespace": Namespace, **d} for d in MetricData]
        return {}


def execution(execution_id: str, state: str, revision: str, minutes: int) -> dict:
    start = PUBLISHED + timedelta(minutes=minutes)
    return {
        "pipelineExecutionId": execution_id,
        "status": state,
        "startTime": start,
        "lastUpdateTime": start + timedelta(seconds=30),
        "sourceRevisions": [{"actionName": "Source", "revisionId": revision}],
        "trigger": {"triggerType": "WebhookV2"},
    }


@pytest.fixture
def deployment():
    """The local environment (bespoke eu-south-2 and ap-southeast-4, native eu-central-1, remote ca-west-1):
    release v2 (commit c2) published; every region deployed it but ap-southeast-4: its replica arrived, the
    event that starts its pipeline was missed."""
    config = load_config(environ={"RELAY_ENV": "local"})
    aws = FakeAWS(config)
    names = config.names
    home = config.home_region
    head = {"Metadata": {"source-revision": "c2"}, "LastModified": PUBLISHED, "ReplicationStatus": "COMPLETED"}
    aws.objects[names.bucket("release", home)] = {
        "v1": {"VersionId": "v1", "Metadata": {"source-revision": "c1"}, "LastModified": PUBLISHED},
        "v2": {"VersionId": "v2", **head},
    }
    aws.executions[names.pipeline("release", home)] = [
        execution("h2", "Succeeded", "c2", 0),
        execution("h1", "Succeeded", "c1", -60),
    ]
    strategies = {d.region: d.strategy.value for d in decisions(config)}
    for region, strategy in strategies.items():
        aws.stacks[region] = "UPDATE_COMPLETE"
        if strategy == "bespoke":
            aws.objects[names.bucket("release", region)] = {v: {"VersionId": v} for v in ("v1", "v2")}
            pipeline = names.pipeline("deploy", region)
            aws.executions[pipeline] = [execution(f"{region}-1", "Succeeded", "v1", -59)]
            if region != "ap-southeast-4":
                aws.executions[pipeline].insert(0, execution(f"{region}-2", "Succeeded", "v2", 1))
        else:
            for execution_id, minutes in (("h2", 1), ("h1", -59)):
                aws.actions.append(
                    {
                        "pipelineExecutionId": execution_id,
                        "actionName": names.deploy_action(region),
                        "status": "Succeeded",
                        "startTime": PUBLISHED + timedelta(minutes=minutes),
                        "lastUpdateTime": PUBLISHED + timedelta(minutes=minutes, seconds=20),
                    }
                )
    aws.actions.append({"pipelineExecutionId": "h2", "actionName": "Build", "status": "Succeeded"})
    return config, aws, strategies


def test_gathering_reads_every_region_and_finds_the_missed_one(deployment):
    config, aws, strategies = deployment
    assert list(strategies.values()) == ["bespoke", "bespoke", "native", "remote"]
    fleet_ = status.fleet_status(config, aws, now=NOW)
    assert [(r.region, r.state) for r in fleet_.regions] == [
        ("eu-west-1", "current"),
        ("eu-south-2", "current"),
        ("ap-southeast-4", "behind"),
        ("eu-central-1", "current"),
        ("ca-west-1", "current"),
    ]
    assert fleet_.exit_code == 1
    assert fleet_.release == Release(RELEASE.bucket, RELEASE.key, "v2", "c2", PUBLISHED, "COMPLETED")
    missed = fleet_.regions[2]
    assert (missed.facts.replication, missed.facts.replica_version) == ("COMPLETED", "v2")
    assert missed.facts.deployed_run.version_id == "v1" and missed.facts.deployed_run.commit == "c1"
    native = fleet_.regions[3]
    assert native.facts.replication == "home pipeline"
    assert native.deployed.execution_id == "h2" and native.deployed.commit == "c2"
    assert native.deployed.version_id == "v2"
    # read calls only
    assert {operation for _, _, operation in aws.calls} <= {
        "HeadObject",
        "ListPipelineExecutions",
        "ListActionExecutions",
        "DescribeStacks",
    }
    assert aws.calls.count(("s3", config.home_region, "HeadObject")) == 2  # the latest, and v1 once


def test_a_bespoke_region_runs_the_release_its_stack_is_tagged_with_not_the_one_that_started_its_run(deployment):
    """The late replica of v1 started eu-south-2's last run; its Select action deployed v2 (the stack's tags)."""
    config, aws, _ = deployment
    pipeline = config.names.pipeline("deploy", "eu-south-2")
    aws.executions[pipeline].insert(0, execution("eu-south-2-3", "Succeeded", "v1", 2))
    fleet_ = status.fleet_status(config, aws, now=NOW)
    assert fleet_.regions[1].state == "behind"  # untagged (a stack deployed before Select): the run's version
    aws.stack_tags["eu-south-2"] = {"relay:release-version": "v2", "relay:release-seq": "2"}
    region = status.fleet_status(config, aws, now=NOW).regions[1]
    assert region.state == "current"
    assert (region.deployed.execution_id, region.deployed.version_id, region.deployed.commit) == (
        "eu-south-2-3",
        "v2",
        "c2",
    )


def test_the_replica_missing_is_replication_pending(deployment):
    config, aws, _ = deployment
    aws.objects[config.names.bucket("release", config.home_region)]["v2"]["ReplicationStatus"] = "PENDING"
    del aws.objects[config.names.bucket("release", "ap-southeast-4")]["v2"]
    fleet_ = status.fleet_status(config, aws, now=NOW)
    missed = fleet_.regions[2].facts
    assert (missed.replication, missed.replica_version) == ("PENDING", "v1")


def test_an_unreachable_region_does_not_stop_the_others(deployment):
    config, aws, _ = deployment
    aws.failing[("cloudformation", "eu-south-2")] = client_error("AccessDenied", "DescribeStacks")
    aws.failing[("cloudformation", "ca-west-1")] = EndpointConnectionError(endpoint_url="https://example.invalid")
    fleet_ = status.fleet_status(config, aws, now=NOW)
    states = {r.region: (r.state, r.facts.error) for r in fleet_.regions}
    assert states["eu-south-2"] == ("unreachable", "AccessDenied")
    assert states["ca-west-1"] == ("unreachable", "EndpointConnectionError")
    assert states["eu-central-1"] == ("current", None)


def test_an_unreachable_home_makes_the_home_delivered_regions_unreachable(deployment):
    config, aws, _ = deployment
    aws.failing[("codepipeline", config.home_region)] = client_error("AccessDenied", "ListPipelineExecutions")
    fleet_ = status.fleet_status(config, aws, now=NOW)
    states = {r.region: (r.state, r.facts.error) for r in fleet_.regions}
    assert states["eu-west-1"] == ("unreachable", "AccessDenied")
    assert states["eu-central-1"] == ("unreachable", "home: AccessDenied")
    assert states["eu-south-2"] == ("current", None)  # its own pipeline, its own replica


def test_a_failed_deploy_action_fails_its_region_not_home(deployment):
    config, aws, _ = deployment
    aws.actions[0] |= {"status": "Failed"}  # eu-central-1's action in h2
    aws.executions[config.names.pipeline("release", config.home_region)][0]["status"] = "Failed"
    fleet_ = status.fleet_status(config, aws, now=NOW)
    states = {r.region: r.state for r in fleet_.regions}
    assert states["eu-central-1"] == "failed" and states["eu-west-1"] == "current"


def test_a_region_the_home_execution_did_not_deploy_is_behind_and_says_why(deployment):
    config, aws, _ = deployment
    del aws.actions[2]  # ca-west-1's action in h2: the execution failed before it
    aws.executions[config.names.pipeline("release", config.home_region)][0]["status"] = "Failed"
    fleet_ = status.fleet_status(config, aws, now=NOW)
    remote = fleet_.regions[4]
    assert (remote.region, remote.state, remote.behind_seconds) == ("ca-west-1", "behind", 600)
    assert remote.deployed.commit == "c1" and remote.deployed.version_id == "v1"  # read from the home bucket
    assert remote.note == "runs c1@v1; home execution h2 (Failed) did not run Deploy-ca-west-1"
    assert ("s3", config.home_region, "ListObjectVersions") in aws.calls


def test_record_puts_the_metrics_into_the_home_region(deployment):
    config, aws, _ = deployment
    fleet_ = status.fleet_status(config, aws, now=NOW)
    recorded = status.record(config, fleet_, aws)
    assert ("cloudwatch", config.home_region, "PutMetricData") in aws.calls
    assert {m["Namespace"] for m in aws.metrics} == {"Relay"}
    assert "BehindSeconds ap-southeast-4" in recorded and "PublishToDeployedSeconds eu-central-1" in recorded
    behind = next(
        m for m in aws.metrics if m["MetricName"] == "BehindSeconds" and m["Dimensions"][1]["Value"] == "ap-southeast-4"
    )
    assert behind["Value"] == 600 and behind["Unit"] == "Seconds"
    deployed = next(
        m
        for m in aws.metrics
        if m["MetricName"] == "PublishToDeployedSeconds" and m["Dimensions"][1]["Value"] == "eu-central-1"
    )
    assert deployed["Value"] == 80  # the action ended 1 min 20 s after the publish


def test_the_verb_has_help():
    result = subprocess.run(
        [sys.executable, "-m", "tools.status", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: ")
    assert "--record" in result.stdout and "--json" in result.stdout and "--env" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "tools.status", "--bogus"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
