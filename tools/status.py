"""`relay status`: the fleet's release status, region by region, for one environment.

    relay status                   # the environment RELAY_ENV names (default: cdktf.json's default)
    relay status --env prod        # another environment
    relay status --json            # one JSON document for scripts
    relay status --record          # also put the Relay metrics into CloudWatch in the home region

Home first: the latest release in the home bucket (commit = its `source-revision` metadata, version id,
published at) and the home pipeline's last execution. Then every target region in configuration order:
its delivery strategy, the replication of the latest release (bespoke regions; `native` and `remote`
regions get it from the home pipeline's deploy action), the last execution that deploys the region (its
own pipeline, or its deploy action in the home pipeline), the deployed stack's status and release (the
release of the latest succeeded execution for the region, "unknown" when there is none), and its state:

* `current`: the deployed release is the latest published one;
* `deploying`: the latest release's execution is in progress for the region;
* `failed`: the last execution for the region failed, the stack is in a failed or rolled back state, or
  the latest release's replication failed;
* `behind`: the region runs an older release (or none, or one not known), for `behind_seconds` (now minus
  the latest release's publish time);
* `unreachable`: an API call for the region failed (its error code is shown; the other regions still report).

Exit 0 when every region is current; 1 when one is not or when no release is published yet; 2 for usage
and configuration errors. Only read calls (Head, List, Get, Describe), each region's at the same time;
`--record` adds the one write: PutMetricData in the home region (namespace `Relay`, dimensions
`Application=<app>-<env>` and `Region`: `BehindSeconds`, and `PublishToDeployedSeconds` where the latest
release is deployed), for a schedule to run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from config.schema import DeliveryStrategy, RelayConfig

CURRENT, BEHIND, FAILED, UNREACHABLE, DEPLOYING = "current", "behind", "failed", "unreachable", "deploying"
STATES = (CURRENT, BEHIND, FAILED, UNREACHABLE, DEPLOYING)
RUNNING = "InProgress"
FINAL = ("Succeeded", "Failed", "Stopped", "Superseded", "Abandoned", "Cancelled")
"""Execution and action statuses after which nothing changes (their last update is their end)."""
NAMESPACE = "Relay"
NONE = "-"
PROG = "relay status"


@dataclass(frozen=True)
class Release:
    """The latest release object in the home bucket."""

    bucket: str
    key: str
    version_id: str
    commit: str | None
    """The `source-revision` metadata the build writes (`manual` for `relay release`)."""
    published_at: datetime
    replication: str | None = None
    """The source object's ReplicationStatus (PENDING, COMPLETED, FAILED; None without replication)."""


@dataclass(frozen=True)
class Run:
    """A pipeline execution, or the home execution's deploy action for a region, and the release it carries."""

    execution_id: str
    status: str
    """CodePipeline's status: InProgress, Succeeded, Failed, Stopped, Stopping, Superseded, Abandoned."""
    started: datetime | None
    ended: datetime | None
    """The last update once the status is final; None while it runs."""
    version_id: str | None = None
    commit: str | None = None

    def carries(self, release: Release | None) -> bool:
        """Whether this run deploys that release (by version id when both are known, else by commit)."""
        if release is None:
            return False
        if self.version_id and release.version_id:
            return self.version_id == release.version_id
        return bool(self.commit) and self.commit == release.commit


@dataclass(frozen=True)
class Facts:
    """What the API calls found for one region, before it is judged."""

    region: str
    role: str
    """`home` or `target`."""
    strategy: str | None = None
    replication: str | None = None
    """Bespoke: COMPLETED when the target bucket holds the latest version, else the source's status; native and
    remote: `home pipeline`; home: None."""
    replica_version: str | None = None
    last_run: Run | None = None
    deployed_run: Run | None = None
    """The latest succeeded run for the region (None: none known)."""
    in_flight: bool = False
    """The home execution that published the latest release runs and has not yet deployed the region."""
    stack: str | None = None
    stack_status: str | None = None
    """The stack's status, or `missing` when it does not exist (None for home)."""
    error: str | None = None
    hint: str = ""
    """Why a region is behind, when the calls tell (e.g. the home execution did not run its deploy action)."""


@dataclass(frozen=True)
class RegionStatus:
    """One region, judged against the latest release."""

    facts: Facts
    state: str
    behind_seconds: float | None
    """0 when current; None when unknown (no release, or unreachable)."""
    note: str = ""

    @property
    def region(self) -> str:
        return self.facts.region

    @property
    def current(self) -> bool:
        return self.state == CURRENT

    @property
    def behind(self) -> bool:
        """A target region not known to run the latest release (whatever its state, unless unreachable)."""
        return self.facts.role == "target" and self.state != UNREACHABLE and self.behind_seconds != 0

    @property
    def deployed(self) -> Run | None:
        """The run whose release the stack runs (None: unknown, or no stack)."""
        if self.facts.stack_status in (None, "missing"):
            return None
        return self.facts.deployed_run

    def as_json(self) -> dict:
        f = self.facts
        return {
            "region": f.region,
            "role": f.role,
            "strategy": f.strategy,
            "state": self.state,
            "current": self.current,
            "behind": self.behind,
            "behind_seconds": self.behind_seconds,
            "failed": self.state == FAILED,
            "unreachable": self.state == UNREACHABLE,
            "error": f.error,
            "note": self.note or None,
            "replication": f.replication,
            "replica_version_id": f.replica_version,
            "execution": _run_json(f.last_run),
            "stack": None if f.stack is None else {"name": f.stack, "status": f.stack_status},
            "deployed": _run_json(self.deployed) if f.role == "target" else None,
        }


@dataclass(frozen=True)
class FleetStatus:
    """Every region of one environment, home first, judged at `checked_at`."""

    environment: str
    app: str
    home_region: str
    emulator: bool
    checked_at: datetime
    release: Release | None
    regions: list[RegionStatus]
    bucket: str = ""
    key: str = ""
    recorded: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.release is not None and all(r.current for r in self.regions) else 1

    @property
    def summary(self) -> str:
        if self.release is None:
            home = self.regions[0] if self.regions else None
            if home is not None and home.state == UNREACHABLE:
                return f"the home region is unreachable ({home.facts.error}): the latest release is unknown"
            return f"no release published yet in s3://{self.bucket}/{self.key}"
        total = len(self.regions)
        lagging = [r for r in self.regions if not r.current]
        release = f"release {_release(self.release.commit, self.release.version_id)}"
        age = _duration((self.checked_at - self.release.published_at).total_seconds())
        if not lagging:
            return f"every region ({total}) runs the latest {release}, published {age} ago"
        parts = []
        for state in (FAILED, UNREACHABLE, BEHIND, DEPLOYING):
            names = [_lag(r) for r in lagging if r.state == state]
            if names:
                parts.append(f"{state}: {', '.join(names)}")
        return f"{total - len(lagging)} of {total} regions current with {release} (published {age} ago); " + "; ".join(
            parts
        )

    def as_json(self) -> dict:
        release = None
        if self.release is not None:
            r = self.release
            release = {
                "bucket": r.bucket,
                "key": r.key,
                "version_id": r.version_id,
                "commit": r.commit,
                "published_at": _iso(r.published_at),
                "replication": r.replication,
            }
        return {
            "environment": self.environment,
            "app": self.app,
            "home_region": self.home_region,
            "emulator": self.emulator,
            "checked_at": _iso(self.checked_at),
            "release": release,
            "regions": [r.as_json() for r in self.regions],
            "current": self.exit_code == 0,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "recorded": self.recorded,
        }


# --- judging (pure) ---------------------------------------------------------------------------------------


def stack_failed(status: str | None) -> bool:
    """A stack status that means its last operation failed or was rolled back (*_FAILED, *ROLLBACK*)."""
    return bool(status) and (status.endswith("_FAILED") or "ROLLBACK" in status)


def judge(facts: Facts, release: Release | None, now: datetime, *, home_error: str | None = None) -> RegionStatus:
    """The state of one region against the latest release (None: none published, or home unreachable)."""
    last = facts.last_run
    if facts.error:
        return RegionStatus(facts, UNREACHABLE, None, facts.error)
    if facts.role == "home":
        if last and last.status == RUNNING:
            return RegionStatus(facts, DEPLOYING, 0, f"execution {last.execution_id[:8]} in progress")
        if last and last.status == "Failed":
            if release is None or last.commit != release.commit:
                return RegionStatus(facts, FAILED, 0, "the last execution failed before publishing its release")
            return RegionStatus(facts, CURRENT, 0, "the last execution published its release, then failed deploying")
        return RegionStatus(facts, CURRENT, 0)
    deployed = facts.deployed_run if facts.stack_status not in (None, "missing") else None
    latest_deployed = deployed is not None and deployed.carries(release)
    behind = None if release is None else (0.0 if latest_deployed else _seconds(now - release.published_at))
    # a run in progress deploys the latest release unless it names another (before its source action has run it
    # names none)
    unnamed = last is not None and not (last.version_id or last.commit)
    if (last and last.status == RUNNING and (release is None or unnamed or last.carries(release))) or facts.in_flight:
        return RegionStatus(facts, DEPLOYING, behind, "the latest release is being deployed")
    if last and last.status == "Failed":
        return RegionStatus(facts, FAILED, behind, f"execution {last.execution_id[:8]} failed")
    if stack_failed(facts.stack_status):
        return RegionStatus(facts, FAILED, behind, f"stack {facts.stack_status}")
    if facts.replication == "FAILED":
        return RegionStatus(facts, FAILED, behind, "replication of the latest release failed")
    if release is None:
        if home_error:
            return RegionStatus(facts, UNREACHABLE, None, f"home unreachable ({home_error}): latest release unknown")
        return RegionStatus(facts, BEHIND, None, "no release published yet")
    if latest_deployed:
        return RegionStatus(facts, CURRENT, 0.0)
    if facts.stack_status == "missing":
        why = "no stack deployed"
    elif deployed is None:
        why = "deployed release unknown"
    elif facts.replication == "PENDING":
        why = "replication pending"
    else:
        why = f"runs {_release(deployed.commit, deployed.version_id)}"
    return RegionStatus(facts, BEHIND, behind, "; ".join(filter(None, (why, facts.hint))))


# --- gathering --------------------------------------------------------------------------------------------


def error_code(error: Exception) -> str:
    """The AWS error code of a failed call, or the exception's name (connection errors)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__


class _Commits:
    """The commit (`source-revision` metadata) of release versions in the home bucket, read once each."""

    SEARCHED = 10
    """How many of the newest versions `version_of` reads at most to find a commit's."""

    def __init__(self, s3: Any, bucket: str, key: str):
        self.s3, self.bucket, self.key = s3, bucket, key
        self._known: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._versions: list[str] | None = None

    def learn(self, version_id: str, commit: str | None) -> None:
        with self._lock:
            self._known[version_id] = commit

    def of(self, version_id: str | None) -> str | None:
        if not version_id:
            return None
        with self._lock:
            if version_id in self._known:
                return self._known[version_id]
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self.key, VersionId=version_id)
            commit = (head.get("Metadata") or {}).get("source-revision")
        except (ClientError, BotoCoreError):
            commit = None  # an older version deleted, or no access: the commit is unknown, not an error
        self.learn(version_id, commit)
        return commit

    def version_of(self, commit: str | None) -> str | None:
        """The newest release version the build published for `commit` (among the newest few), or None."""
        if not commit:
            return None
        if self._versions is None:
            try:
                listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=self.key)
                self._versions = [v["VersionId"] for v in listed.get("Versions", []) if v.get("Key") == self.key]
            except (ClientError, BotoCoreError):
                self._versions = []
        return next((v for v in self._versions[: self.SEARCHED] if self.of(v) == commit), None)


def _final_end(summary: dict) -> datetime | None:
    return summary.get("lastUpdateTime") if summary.get("status") in FINAL else None


def _run(summary: dict, version: str | None, commit: str | None = None) -> Run:
    """The run of a pipeline execution summary, of the release `version` (and `commit`)."""
    return Run(
        summary["pipelineExecutionId"],
        summary["status"],
        summary.get("startTime"),
        _final_end(summary),
        version,
        commit,
    )


def _execution_commit(summary: dict) -> str | None:
    from tools.release import trigger_commit

    revisions = summary.get("sourceRevisions") or []
    return (revisions[0].get("revisionId") if revisions else None) or trigger_commit(summary.get("trigger") or {})


RELEASE_VERSION_TAG = "relay:release-version"
"""The stack tag a bespoke region's Select action records the deployed release's version id in."""


class Gatherer:
    """The read calls for one environment; each region's run side by side."""

    def __init__(self, config: RelayConfig, clients: Callable[[str, str], Any]):
        from regions.delivery import decisions

        self.config = config
        self.names = config.names
        self.clients = clients
        self.home = config.home_region
        self.key = config.release.object_key
        self.bucket = self.names.bucket("release", self.home)
        self.strategies = {d.region: d.strategy for d in decisions(config)}
        self.commits = _Commits(clients("s3", self.home), self.bucket, self.key)

    def warm(self) -> None:
        """Create every client first: boto3 creates clients safely from one thread only."""
        self.clients("s3", self.home)
        self.clients("codepipeline", self.home)
        for region, strategy in self.strategies.items():
            self.clients("cloudformation", region)
            if strategy is DeliveryStrategy.BESPOKE:
                self.clients("s3", region)
                self.clients("codepipeline", region)

    # home

    def latest_release(self) -> Release | None:
        s3 = self.clients("s3", self.home)
        try:
            head = s3.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchKey"):
                return None
            raise
        commit = (head.get("Metadata") or {}).get("source-revision")
        self.commits.learn(head["VersionId"], commit)
        return Release(
            self.bucket, self.key, head["VersionId"], commit, head["LastModified"], head.get("ReplicationStatus")
        )

    def home_executions(self) -> list[dict]:
        client = self.clients("codepipeline", self.home)
        name = self.names.pipeline("release", self.home)
        return client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]

    def home_actions(self) -> list[dict]:
        """The home pipeline's action executions (every execution's, newest first); only when the home pipeline
        deploys a region itself."""
        if not any(s is not DeliveryStrategy.BESPOKE for s in self.strategies.values()):
            return []
        client = self.clients("codepipeline", self.home)
        name = self.names.pipeline("release", self.home)
        details = client.list_action_executions(pipelineName=name, maxResults=100)["actionExecutionDetails"]
        return sorted(details, key=lambda d: d.get("startTime") or datetime.min.replace(tzinfo=UTC), reverse=True)

    def home_facts(self, executions: list[dict], release: Release | None) -> Facts:
        last = executions[0] if executions else None
        return Facts(self.home, "home", last_run=self._execution_run(last, release) if last else None)

    def _execution_run(self, summary: dict, release: Release | None) -> Run:
        commit = _execution_commit(summary)
        version = release.version_id if release and commit and commit == release.commit else None
        return _run(summary, version, commit)

    # targets

    def stack(self, region: str) -> dict:
        """The deployed stack (DescribeStacks), or `{}` when it does not exist."""
        client = self.clients("cloudformation", region)
        try:
            stacks = client.describe_stacks(StackName=self.config.deploy.stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return {}
            raise
        return stacks[0] if stacks else {}

    def stack_status(self, region: str) -> str:
        return self.stack(region).get("StackStatus", "missing")

    def bespoke(self, region: str, release_of: Callable[[], Release | None]) -> Facts:
        """A bespoke region: its replica, its own pipeline's executions (S3 source: the version id), its stack.

        The release a succeeded run deployed is the one its Select action chose, which the stack's tags record
        (an execution started by a late, older replica deploys the newest release there is)."""
        described = self.stack(region)
        stack = described.get("StackStatus", "missing")
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        client = self.clients("codepipeline", region)
        executions = client.list_pipeline_executions(pipelineName=self.names.pipeline("deploy", region))[
            "pipelineExecutionSummaries"
        ]
        release = release_of()
        s3 = self.clients("s3", region)
        target = self.names.bucket("release", region)
        replica = None
        if release is not None:
            replica = _head_or_none(s3, Bucket=target, Key=self.key, VersionId=release.version_id)
        if replica is None:
            replica = _head_or_none(s3, Bucket=target, Key=self.key)
        replica_version = replica.get("VersionId") if replica else None
        if release is None:
            replication = None
        elif replica_version == release.version_id:
            replication = "COMPLETED"
        else:
            replication = release.replication or "PENDING"
        runs = [self._version_run(e) for e in executions]
        deployed = next((r for r in runs if r.status == "Succeeded"), None)
        if deployed is not None and tags.get(RELEASE_VERSION_TAG):
            deployed = replace(deployed, version_id=tags[RELEASE_VERSION_TAG])
        deployed = self._with_commit(deployed) if deployed else None
        return Facts(
            region,
            "target",
            DeliveryStrategy.BESPOKE.value,
            replication,
            replica_version,
            self._with_commit(runs[0]) if runs else None,
            deployed,
            stack=self.config.deploy.stack_name,
            stack_status=stack,
        )

    def _with_commit(self, run: Run) -> Run:
        """The run with the commit of its release version (read from the home bucket's version, once each)."""
        return replace(run, commit=self.commits.of(run.version_id))

    def _version_run(self, summary: dict) -> Run:
        revisions = summary.get("sourceRevisions") or []
        version = revisions[0].get("revisionId") if revisions else None
        return _run(summary, version)

    def home_delivered(
        self,
        region: str,
        strategy: DeliveryStrategy,
        home: Callable[[], tuple[Release | None, list[dict], list[dict]]],
    ) -> Facts:
        """A native or remote region: its deploy action in the home pipeline's executions, and its stack."""
        stack = self.stack_status(region)
        release, executions, actions = home()
        by_id = {e["pipelineExecutionId"]: e for e in executions}
        name = self.names.deploy_action(region)
        runs = [
            self._action_run(a, by_id.get(a.get("pipelineExecutionId")), release)
            for a in actions
            if a.get("actionName") == name
        ]
        last = self._with_version(runs[0]) if runs else None
        deployed = next((self._with_version(r) for r in runs if r.status == "Succeeded"), None)
        publisher = next(
            (e for e in executions if release is not None and _execution_commit(e) == release.commit),
            None,
        )
        ran = publisher is not None and any(r.execution_id == publisher["pipelineExecutionId"] for r in runs)
        in_flight = bool(
            publisher
            and publisher.get("status") == RUNNING
            and not any(r.execution_id == publisher["pipelineExecutionId"] and r.ended for r in runs)
        )
        hint = ""
        if publisher is not None and publisher.get("status") in FINAL and not ran:
            execution = publisher["pipelineExecutionId"][:8]
            hint = f"home execution {execution} ({publisher['status']}) did not run {name}"
        return Facts(
            region,
            "target",
            strategy.value,
            "home pipeline",
            None,
            last,
            deployed,
            in_flight,
            stack=self.config.deploy.stack_name,
            stack_status=stack,
            hint=hint,
        )

    def _with_version(self, run: Run) -> Run:
        """The run with the version id the build published for its commit (a home execution knows its commit)."""
        return run if run.version_id else replace(run, version_id=self.commits.version_of(run.commit))

    def _action_run(self, action: dict, execution: dict | None, release: Release | None) -> Run:
        commit = _execution_commit(execution) if execution else None
        version = release.version_id if release and commit and commit == release.commit else None
        status = action.get("status", "?")
        return Run(
            action.get("pipelineExecutionId", "?"),
            status,
            action.get("startTime"),
            action.get("lastUpdateTime") if status in FINAL else None,
            version,
            commit,
        )


def _head_or_none(s3: Any, **kwargs: str) -> dict | None:
    try:
        return s3.head_object(**kwargs)
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NoSuchVersion", "400"):
            return None
        raise


class HomeUnreachable(Exception):
    """A region delivered by the home pipeline cannot be judged: the home region's calls failed."""


def _guard(facts_of: Callable[[], Facts], region: str, role: str, strategy: str | None) -> Facts:
    try:
        return facts_of()
    except HomeUnreachable as error:
        return Facts(region, role, strategy, error=str(error))
    except (ClientError, BotoCoreError) as error:
        return Facts(region, role, strategy, error=error_code(error))


def fleet_status(
    config: RelayConfig, clients: Callable[[str, str], Any] | None = None, *, now: datetime | None = None
) -> FleetStatus:
    """Every region of the configuration, home first, then the targets in configuration order."""
    if clients is None:
        from tools.release import Clients

        clients = Clients(config)
    gatherer = Gatherer(config, clients)
    gatherer.warm()
    with ThreadPoolExecutor(max_workers=3 + len(gatherer.strategies)) as pool:
        latest: Future = pool.submit(gatherer.latest_release)
        executions: Future = pool.submit(gatherer.home_executions)
        actions: Future = pool.submit(gatherer.home_actions)

        def release_or_none() -> Release | None:
            try:
                return latest.result()
            except (ClientError, BotoCoreError):
                return None

        def home() -> tuple[Release | None, list[dict], list[dict]]:
            try:
                return latest.result(), executions.result(), actions.result()
            except (ClientError, BotoCoreError) as error:
                raise HomeUnreachable(f"home: {error_code(error)}") from error

        targets: list[Future] = []
        for region, strategy in gatherer.strategies.items():
            if strategy is DeliveryStrategy.BESPOKE:
                task = lambda r=region: gatherer.bespoke(r, release_or_none)  # noqa: E731
            else:
                task = lambda r=region, s=strategy: gatherer.home_delivered(r, s, home)  # noqa: E731
            targets.append(pool.submit(_guard, task, region, "target", strategy.value))
        release, home_error = None, None
        try:
            release = latest.result()
            home_facts = gatherer.home_facts(executions.result(), release)
        except (ClientError, BotoCoreError) as error:
            home_error = error_code(error)
            home_facts = Facts(gatherer.home, "home", error=home_error)
        target_facts = [t.result() for t in targets]
    now = now or datetime.now(UTC)
    regions = [judge(home_facts, release, now)]
    regions += [judge(f, release, now, home_error=home_error) for f in target_facts]
    return FleetStatus(
        environment=config.environment,
        app=config.app,
        home_region=config.home_region,
        emulator=config.emulator.enabled,
        checked_at=now,
        release=release,
        regions=regions,
        bucket=gatherer.bucket,
        key=gatherer.key,
    )


# --- recording --------------------------------------------------------------------------------------------


def application_dimension(config: RelayConfig) -> str:
    """The `Application` dimension of the Relay metrics: `<app>-<env>` (the home dashboard graphs the same)."""
    return config.names.application_name()


def metric_data(status: FleetStatus, application: str) -> list[dict]:
    """The Relay metrics of one status: per target region, BehindSeconds (0 when current; none while unknown)
    and, where the latest release is deployed, PublishToDeployedSeconds (the deploying run's end minus the
    release's publish time)."""
    data: list[dict] = []
    release = status.release
    if release is None:
        return data
    for region in status.regions:
        if region.facts.role != "target" or region.behind_seconds is None:
            continue
        dimensions = [{"Name": "Application", "Value": application}, {"Name": "Region", "Value": region.region}]
        stamp = status.checked_at
        data.append(
            {
                "MetricName": "BehindSeconds",
                "Dimensions": dimensions,
                "Timestamp": stamp,
                "Value": region.behind_seconds,
                "Unit": "Seconds",
            }
        )
        deployed = region.deployed
        if region.behind_seconds == 0 and deployed is not None and deployed.ended is not None:
            data.append(
                {
                    "MetricName": "PublishToDeployedSeconds",
                    "Dimensions": dimensions,
                    "Timestamp": stamp,
                    "Value": max(0.0, _seconds(deployed.ended - release.published_at)),
                    "Unit": "Seconds",
                }
            )
    return data


def record(config: RelayConfig, status: FleetStatus, clients: Callable[[str, str], Any]) -> list[str]:
    """Put the metrics into CloudWatch in the home region (the one write of this module); their names and
    regions, e.g. `BehindSeconds eu-south-2`."""
    data = metric_data(status, application_dimension(config))
    cloudwatch = clients("cloudwatch", config.home_region)
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 20])
    return [f"{d['MetricName']} {d['Dimensions'][1]['Value']}" for d in data]


# --- rendering --------------------------------------------------------------------------------------------

COLUMNS = (
    "REGION",
    "STRATEGY",
    "STATE",
    "REPLICATION",
    "REPLICA",
    "LAST EXECUTION",
    "STARTED",
    "ENDED",
    "ITS RELEASE",
    "STACK",
    "DEPLOYED",
    "BEHIND",
    "NOTE",
)


def render(status: FleetStatus) -> str:
    """The terminal output: a header, one aligned row per region (plain text), and the summary line."""
    mode = ", emulator" if status.emulator else ""
    lines = [f"{status.environment} (app {status.app}, home {status.home_region}{mode}) at {_clock(status.checked_at)}"]
    release = status.release
    if release is not None:
        lines.append(
            f"latest release: commit {release.commit or '?'}, version {release.version_id}, published "
            f"{_clock(release.published_at)} in s3://{release.bucket}/{release.key}"
        )
    rows = [COLUMNS, *(_cells(r) for r in status.regions)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines.append("")
    lines += ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip() for row in rows]
    lines += ["", status.summary]
    if status.recorded:
        lines.append(f"recorded in CloudWatch ({NAMESPACE}, {status.home_region}): {', '.join(status.recorded)}")
    return "\n".join(lines)


def _cells(status: RegionStatus) -> tuple[str, ...]:
    f = status.facts
    last = f.last_run
    target = f.role == "target"
    deployed = status.deployed
    if not target or status.state == UNREACHABLE:
        deployed_text = NONE
    elif deployed is None:
        deployed_text = "none" if f.stack_status == "missing" else "unknown"
    else:
        deployed_text = _release(deployed.commit, deployed.version_id)
    if not target or status.behind_seconds is None:
        behind = NONE
    else:
        behind = "0" if status.behind_seconds == 0 else _duration(status.behind_seconds)
    return (
        f.region,
        f.strategy or "home",
        status.state,
        f.replication or NONE,
        _short(f.replica_version, 8) or NONE,
        f"{last.execution_id[:8]} {last.status}" if last else NONE,
        _clock(last.started) if last and last.started else NONE,
        _clock(last.ended) if last and last.ended else NONE,
        _release(last.commit, last.version_id) if last else NONE,
        f.stack_status or NONE,
        deployed_text,
        behind,
        status.note,
    )


def _run_json(run: Run | None) -> dict | None:
    if run is None:
        return None
    return {
        "execution_id": run.execution_id,
        "status": run.status,
        "started_at": _iso(run.started),
        "ended_at": _iso(run.ended),
        "version_id": run.version_id,
        "commit": run.commit,
    }


def _short(value: str | None, size: int) -> str:
    return value[:size] if value else ""


def _release(commit: str | None, version_id: str | None) -> str:
    """A release as the table shows it: `<commit, 12>@<version id, 8>`, `?` for an unknown part."""
    return f"{_short(commit, 12) or '?'}@{_short(version_id, 8) or '?'}"


def _lag(region: RegionStatus) -> str:
    if region.state == UNREACHABLE:
        return f"{region.region} ({region.facts.error or region.note})"
    if region.state == BEHIND and region.behind_seconds:
        return f"{region.region} (for {_duration(region.behind_seconds)})"
    return region.region


def _seconds(delta: Any) -> float:
    return round(delta.total_seconds(), 3)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


# --- command ----------------------------------------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show, for one environment and region by region, the latest release in the home bucket, its "
        "replication, the last pipeline execution, the deployed stack's release and status, and whether the region "
        "is behind. Read-only (Head/List/Get/Describe calls), except --record. The local environment talks to the "
        "emulator, the others to AWS with the default credential chain.",
        epilog="Exit status: 0 every region runs the latest release; 1 a region is behind, deploying, failed or "
        "unreachable, or no release is published yet; 2 usage or configuration error.",
    )
    parser.add_argument(
        "--env",
        metavar="NAME",
        help="an environment of cdktf.json's context.relay.environments (default: RELAY_ENV, else its default)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document for scripts instead of a table")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"also put the metrics BehindSeconds and PublishToDeployedSeconds into CloudWatch in the home region "
        f"(namespace {NAMESPACE}, dimensions Application and Region): the one write, for a schedule to run",
    )
    return parser


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """`relay status`: see the module docstring for what it shows and its exit codes."""
    options = _parser(prog).parse_args(argv)
    from config import ConfigError, load_config

    environ = dict(os.environ)
    if options.env:
        environ["RELAY_ENV"] = options.env
    try:
        config = load_config(environ=environ)
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    from tools.release import Clients

    clients = Clients(config)
    status = fleet_status(config, clients)
    code = status.exit_code
    if options.record:
        try:
            status = replace(status, recorded=record(config, status, clients))
        except (ClientError, BotoCoreError) as error:
            print(f"relay: could not record the metrics in {config.home_region}: {error_code(error)}", file=sys.stderr)
            code = 1
    print(json.dumps(status.as_json(), indent=2) if options.json else render(status))
    return code


if __name__ == "__main__":
    sys.exit(main())
