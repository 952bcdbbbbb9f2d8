"""`relay drill`: disaster drills on the emulator, each timed; a table of drill, result and recovery time.

    relay drill                          # every drill, in order
    relay drill --only target-down,home-down
    tox -e drill

The drills run on an emulator of their own (port 4590, state under `<state root>/drill`, both changeable:
`--port`, RELAY_STATE_DIR) with the `local` environment cut down to the release path: home eu-west-1,
bespoke eu-south-2 (EventBridge trigger) and ap-southeast-4 (CloudTrail trigger), native eu-central-1; no
platform, application tier, edge, observability or governance (`DRILL_OVERRIDES`). They deploy it once,
ship a first release, then:

* `target-down`: eu-south-2 is taken down (every call to it answers 503), a release is pushed; the home
  bucket's object stays PENDING for it while every other region deploys; the region comes back, the replica
  arrives, the event starts its pipeline, the stack deploys. Recovery: from `up` to deployed.
* `releases-in-order`: the emulator holds one region's replica of a release while the next release is
  pushed right behind it, so the older replica arrives last. Every region must end on the later release.
* `home-down`: eu-west-1 is taken down. Every bespoke region re-runs its own pipeline and keeps its release;
  `cdktf diff` and `cdktf deploy` of a target stack succeed (the stack reads nothing of home, Terraform
  included). Recovery: the slowest re-run.
* `promote-home`: with eu-west-1 still down, eu-central-1 becomes the home (docs/runbooks/promote-home.md):
  its target stack is destroyed, the configuration names the new home, every stack deploys, a push to the
  branch releases to every region from the new home. Then failback: eu-west-1 comes back, the promoted home's
  stacks are destroyed, the original configuration deploys again, a push reaches every region. Recovery:
  promotion to the first release everywhere, and failback likewise.
* `restart`: the emulator is stopped and started: the stacks, pipelines and releases are still there (a target
  stack's `cdktf diff` finds nothing to change) and a push reaches every region; then the emulator is killed
  (`kill -9`) during a burst of 1,000 objects into a replicated bucket and started again: every acknowledged
  object ends replicated. Recovery: from the start to every replica.

Exit 0 when every drill passed, 1 when one failed, 2 when nothing could start (bad arguments, Terraform
cannot install its provider). The emulator is stopped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from config import ConfigError, load_config, paths
from config.schema import RelayConfig
from tools import deploy, terraform
from tools.demo import Progress, finished, revision_of
from tools.emulator_session import launcher
from tools.release import Clients, Release, SourceRepository
from tools.wait import WaitTimeout, wait_for

PORT = 4590
HOME, BESPOKE, CLOUDTRAIL_BESPOKE, NATIVE = "eu-west-1", "eu-south-2", "ap-southeast-4", "eu-central-1"
DRILL_OVERRIDES: dict[str, Any] = {
    "target_regions": [BESPOKE, CLOUDTRAIL_BESPOKE, NATIVE],
    "platform": {"enabled": False},
    "application": {"enabled": False},
    "edge": {"enabled": False},
    "observability": {"enabled": False},
    "governance": {"config": {"enabled": False}, "security_hub": {"enabled": False}},
}
"""The `local` environment cut down to the release path (the drills are about releases and regions)."""
PROMOTED_OVERRIDES: dict[str, Any] = {
    **DRILL_OVERRIDES,
    "home_region": NATIVE,
    "target_regions": [BESPOKE, CLOUDTRAIL_BESPOKE],
    # the platform's and application's settings name regions by role; they are off in the drills
    "platform": {"enabled": False, "regions": None, "network": None},
    "application": {"enabled": False, "standby_regions": None},
}
"""The configuration change of docs/runbooks/promote-home.md: eu-central-1 is the home, eu-west-1 is not listed
while it is down."""
BESPOKE_REGIONS = (BESPOKE, CLOUDTRAIL_BESPOKE)
DRILLS = ("target-down", "releases-in-order", "home-down", "promote-home", "restart")
RELEASE_TIMEOUT = 180.0
BURST = 1000


class DrillFailed(Exception):
    """A drill's check did not hold; the message says which and what was seen."""


@dataclass
class Outcome:
    drill: str
    ok: bool
    recovery: str
    detail: str


@dataclass
class Drills:
    """One drill run: its configurations, clients, working clone and the release labels shipped so far."""

    port: int
    environ: dict[str, str]
    config: RelayConfig = field(init=False)
    promoted: RelayConfig = field(init=False)
    shipped: int = 0
    clone: SourceRepository | None = None
    commits: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = self.load(DRILL_OVERRIDES)
        self.promoted = self.load(PROMOTED_OVERRIDES)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def overrides(self, overrides: dict[str, Any]) -> str:
        merged = copy.deepcopy(overrides)
        merged["emulator"] = {"endpoint": self.endpoint}
        return json.dumps(merged)

    def load(self, overrides: dict[str, Any]) -> RelayConfig:
        return load_config(environ={**self.environ, "RELAY_ENV": "local", "RELAY_OVERRIDES": self.overrides(overrides)})

    def use(self, config: RelayConfig) -> None:
        """Make `config` the one every command of this process (cdktf, synthesis) reads."""
        overrides = PROMOTED_OVERRIDES if config.home_region == NATIVE else DRILL_OVERRIDES
        os.environ.update(RELAY_ENV="local", RELAY_OVERRIDES=self.overrides(overrides))

    # -- emulator faults ------------------------------------------------------------------------------
    def region(self, region: str, *, down: bool) -> None:
        launcher.set_region(self.endpoint, region, down)

    # -- releases -------------------------------------------------------------------------------------
    def repository(self, config: RelayConfig) -> SourceRepository:
        if self.clone is None:
            self.clone = SourceRepository(config, paths.state_root() / "drill" / "clone")
        self.clone.config = config
        return self.clone

    def push(self, config: RelayConfig) -> str:
        """Push the next release to the branch; its label (the commit is in `self.commits`)."""
        self.shipped += 1
        label = f"d{self.shipped}-{time.strftime('%H%M%S')}"
        self.commits[label] = self.repository(config).push(label)
        return label

    def regions(self, config: RelayConfig) -> list[str]:
        """Every region a release deploys to: the targets (the home region runs the build, not the app)."""
        return list(config.target_regions)

    def labels(self, config: RelayConfig, regions: list[str] | None = None) -> dict[str, str | None]:
        release = Release(config, Clients(config))
        regions = self.regions(config) if regions is None else regions
        with ThreadPoolExecutor(max_workers=len(regions) or 1) as pool:
            return dict(zip(regions, pool.map(release.deployed_label, regions), strict=True))

    def everywhere(self, config: RelayConfig, label: str, regions: list[str] | None = None) -> float:
        """Wait until every region's stack reports `label`; the moment it did."""
        wait_for(
            f"release {label} deployed in {', '.join(regions or self.regions(config))}",
            lambda: all(v == label for v in self.labels(config, regions).values()),
            timeout=RELEASE_TIMEOUT,
            interval=0.5,
        )
        return time.monotonic()

    def published(self, config: RelayConfig, label: str) -> dict:
        """The home bucket's release object of the build of `label` (HeadObject)."""
        release = Release(config, Clients(config))

        def head() -> dict | None:
            head = release.published()
            return head if head and revision_of(head) == self.commits[label] else None

        return wait_for(f"the build of {label} published in {config.home_region}", head, timeout=RELEASE_TIMEOUT)

    # -- the drills -----------------------------------------------------------------------------------
    def target_down(self) -> Outcome:
        config = self.config
        self.region(BESPOKE, down=True)
        try:
            label = self.push(config)
            head = self.published(config, label)
            others = [r for r in self.regions(config) if r != BESPOKE]
            self.everywhere(config, label, others)
            release = Release(config, Clients(config))
            version = head["VersionId"]
            time.sleep(3)  # the object must stay PENDING while the region is down, not just for a moment
            status = release.source_status(version)
            if status != "PENDING":
                raise DrillFailed(f"home object of {label} is {status} while {BESPOKE} is down (expected PENDING)")
        finally:
            self.region(BESPOKE, down=False)
        up = time.monotonic()
        done = self.everywhere(config, label)
        wait_for(f"{label} replicated to every region", lambda: release.source_status(version) == "COMPLETED")
        replica = release.replica(BESPOKE, version)
        if not replica or replica["VersionId"] != version:
            raise DrillFailed(f"{BESPOKE} has no replica with the source's version id {version}")
        return Outcome(
            "target-down",
            True,
            f"{done - up:.1f} s",
            f"{label}: PENDING for {BESPOKE} while down, COMPLETED and deployed {done - up:.1f} s after up",
        )

    def releases_in_order(self) -> Outcome:
        config = self.config
        launcher.delay_replication(self.endpoint, BESPOKE, 20, count=1)
        first = self.push(config)
        self.published(config, first)
        pushed = time.monotonic()
        second = self.push(config)
        self.everywhere(config, second)
        release = Release(config, Clients(config))
        # the held replica of the first release arrives last; its event starts one more execution there
        first_head = self.first_version(config, first)
        late = wait_for(
            f"the execution the late replica of {first} started in {BESPOKE}",
            lambda: (found := release.execution_for(BESPOKE, first_head)) and finished(found["status"]) and found,
            timeout=RELEASE_TIMEOUT,
        )
        if late["status"] != "Succeeded":
            raise DrillFailed(f"the execution the late replica of {first} started ended {late['status']}")
        labels = self.labels(config)
        if any(v != second for v in labels.values()):
            raise DrillFailed(f"after the late replica of {first}: {labels} (every region must stay on {second})")
        return Outcome(
            "releases-in-order",
            True,
            f"{time.monotonic() - pushed:.1f} s",
            f"{first}'s replica to {BESPOKE} held 20 s, arrived after {second}; the execution it started "
            f"redeployed {second}: every region on {second}",
        )

    def first_version(self, config: RelayConfig, label: str) -> str:
        release = Release(config, Clients(config))
        s3 = release.clients("s3", config.home_region)
        versions = s3.list_object_versions(Bucket=release.home_bucket(), Prefix=release.key)["Versions"]
        for version in versions:
            head = s3.head_object(Bucket=release.home_bucket(), Key=release.key, VersionId=version["VersionId"])
            if revision_of(head) == self.commits[label]:
                return version["VersionId"]
        raise DrillFailed(f"no version of {release.key} in {release.home_bucket()} is release {label}")

    def home_down(self) -> Outcome:
        config = self.config
        before = self.labels(config, [BESPOKE, CLOUDTRAIL_BESPOKE])
        self.region(HOME, down=True)
        try:
            release = Release(config, Clients(config))
            started = time.monotonic()
            runs = {}
            for region in (BESPOKE, CLOUDTRAIL_BESPOKE):
                client = release.clients("codepipeline", region)
                runs[region] = client.start_pipeline_execution(name=release.pipeline(region))["pipelineExecutionId"]
            for region, execution in runs.items():
                status = wait_for(
                    f"the re-run of {release.pipeline(region)}",
                    lambda region=region, execution=execution: (
                        release.execution_status(region, execution) in ("Succeeded", "Failed", "Stopped")
                        and release.execution_status(region, execution)
                    ),
                    timeout=RELEASE_TIMEOUT,
                )
                if status != "Succeeded":
                    raise DrillFailed(f"the re-run in {region} with home down ended {status}")
            rerun = time.monotonic() - started
            after = self.labels(config, [BESPOKE, CLOUDTRAIL_BESPOKE])
            if after != before:
                raise DrillFailed(f"releases changed while home was down: {before} -> {after}")
            stack = config.names.target_stack(BESPOKE)
            diff_started = time.monotonic()
            deploy.cdktf("diff", [stack])
            deploy.cdktf("deploy", [stack], synth=False)
            terraform_seconds = time.monotonic() - diff_started
        finally:
            self.region(HOME, down=False)
        return Outcome(
            "home-down",
            True,
            f"{rerun:.1f} s",
            f"both bespoke pipelines re-ran and kept {sorted(set(after.values()))}; "
            f"cdktf diff + deploy of {stack} {terraform_seconds:.0f} s",
        )

    def promote_home(self) -> Outcome:
        config, promoted = self.config, self.promoted
        self.region(HOME, down=True)
        started = time.monotonic()
        try:
            # 1. the promoted region's target stack goes (its key alias and buckets are the home's to create)
            deploy.cdktf("destroy", [config.names.target_stack(NATIVE)], synth=False)  # cdktf.out: this config
            # 2. the configuration names the new home; 3. every stack deploys (a new home state in eu-central-1)
            self.use(promoted)
            deploy.deploy_all(promoted, on_line=Progress())
            # 4. a push to the branch releases from the new home
            label = self.push(promoted)
            done = self.everywhere(promoted, label)
            promotion = done - started
        finally:
            self.region(HOME, down=False)
        # failback: the promoted home's stacks go, the original configuration deploys again
        failback_started = time.monotonic()
        stacks = [promoted.names.replication_stack(), promoted.names.home_stack()]
        deploy.cdktf("destroy", stacks, ignore_missing=False, synth=False)  # cdktf.out: the promoted configuration
        self.use(config)
        deploy.deploy_all(config, on_line=Progress())
        back = self.push(config)
        failback = self.everywhere(config, back) - failback_started
        return Outcome(
            "promote-home",
            True,
            f"{promotion:.0f} s / {failback:.0f} s",
            f"{NATIVE} home, {label} everywhere {promotion:.0f} s after {HOME} went down; "
            f"failback to {HOME}, {back} everywhere in {failback:.0f} s",
        )

    def restart(self) -> Outcome:
        config = self.config
        emulator = launcher.Emulator(self.port)
        # an orderly restart lets running executions finish first: one in flight at the stop ends failed
        # (localstack/README.md, Persistence), which is not what this drill measures
        release = Release(config, Clients(config))
        wait_for(
            "every pipeline idle before the stop",
            lambda: (
                not any(
                    e["status"] == "InProgress"
                    for e in [*release.home_executions(), *(x for r in BESPOKE_REGIONS for x in release.executions(r))]
                )
            ),
            timeout=RELEASE_TIMEOUT,
        )
        stopped = time.monotonic()
        emulator.stop()
        emulator.ensure_running()
        restarted = time.monotonic() - stopped
        report = deploy.emulator_state(self.endpoint) or {}
        if report.get("fresh") or not report.get("restored"):
            raise DrillFailed(f"the restart did not restore the emulator's state: {report}")
        if report.get("lost"):
            raise DrillFailed(f"the restart lost {report['lost']}")
        deploy.cdktf("diff", [config.names.target_stack(BESPOKE)], synth=False)
        label = self.push(config)
        self.everywhere(config, label)
        burst = self.burst(emulator)
        return Outcome(
            "restart",
            True,
            f"{restarted:.1f} s / {burst['recovered']:.1f} s",
            f"stop + start {restarted:.1f} s, nothing lost, {label} everywhere after; kill -9 after "
            f"{burst['acknowledged']} of {BURST} PUTs: all replicated {burst['recovered']:.1f} s after the start",
        )

    def burst(self, emulator) -> dict:
        """kill -9 during a burst of PUTs into a replicated bucket; start again; every acknowledged object
        must end replicated (with the source's version id)."""
        clients = Clients(self.config)
        names = burst_buckets(clients)
        s3 = clients("s3", HOME)
        acknowledged: dict[str, str] = {}
        lock = threading.Lock()
        pid = emulator.pid()

        def put(index: int) -> None:
            key = f"burst/{index:04d}"
            try:
                version = s3.put_object(Bucket=names[0], Key=key, Body=key.encode())["VersionId"]
            except (BotoCoreError, ClientError):
                return  # after the kill: never acknowledged
            with lock:
                acknowledged[key] = version
                if len(acknowledged) == BURST // 3:
                    os.kill(pid, signal.SIGKILL)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, range(BURST)))
        child = emulator._child  # started by this process: collect it (a zombie keeps its pid)
        if child is not None and child.pid == pid:
            child.wait(timeout=30)
        wait_for("the killed emulator to exit", lambda: emulator.pid() is None, timeout=30)
        started = time.monotonic()
        emulator.ensure_running()
        destination = Clients(self.config)("s3", BESPOKE)

        def missing() -> list[str]:
            versions: dict[str, set[str]] = {}  # a key may have more than one version (a retried PUT)
            paginator = destination.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=names[1], Prefix="burst/"):
                for v in page.get("Versions", []):
                    versions.setdefault(v["Key"], set()).add(v["VersionId"])
            return sorted(k for k, v in acknowledged.items() if v not in versions.get(k, ()))

        try:
            what = f"{len(acknowledged)} acknowledged objects replicated"
            wait_for(what, lambda: not missing(), timeout=RELEASE_TIMEOUT)
        except WaitTimeout as e:
            keys = missing()
            statuses = {}
            for key in keys[:5]:
                try:
                    head = s3.head_object(Bucket=names[0], Key=key, VersionId=acknowledged[key])
                    statuses[key] = head.get("ReplicationStatus")
                except ClientError as error:
                    statuses[key] = error.response["Error"]["Code"]
            report = deploy.emulator_state(self.endpoint) or {}
            raise DrillFailed(
                f"{e}: {len(keys)} of {len(acknowledged)} not replicated (source status of the first: {statuses}); "
                f"the restart restored {report.get('objects')} object versions, replayed "
                f"{report.get('journal_replayed')} journal records, queued {report.get('replications_requeued')} "
                f"replications again, lost {report.get('lost')}"
            ) from e
        return {"acknowledged": len(acknowledged), "recovered": time.monotonic() - started}


def burst_buckets(clients: Clients) -> tuple[str, str]:
    """A versioned bucket in home replicating everything to one in eu-south-2 (made once per emulator)."""
    source, destination = "relay-drill-burst-source", "relay-drill-burst-replica"
    iam = clients("iam", "us-east-1")
    role = "relay-drill-burst-replication"
    try:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    for name, region in ((source, HOME), (destination, BESPOKE)):
        s3 = clients("s3", region)
        try:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    rule = {
        "ID": "all",
        "Status": "Enabled",
        "Priority": 1,
        "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
    }
    rule["Destination"] = {"Bucket": f"arn:aws:s3:::{destination}"}
    clients("s3", HOME).put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": arn, "Rules": [rule]})
    return source, destination


def table(outcomes: list[Outcome]) -> str:
    rows = [("DRILL", "RESULT", "RECOVERY", "DETAIL")] + [
        (o.drill, "ok" if o.ok else "FAILED", o.recovery, o.detail) for o in outcomes
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)


def _only(raw: str) -> list[str]:
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in DRILLS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown drill {', '.join(unknown) or '(none)'}; allowed: {', '.join(DRILLS)}"
        )
    return chosen


def main(argv: list[str] | None = None, *, prog: str = "relay drill") -> int:
    """`relay drill`: see the module docstring for what it does and its exit codes."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Disaster drills on the emulator: a region down, a home promoted and failed back, releases "
        "in order, restarts; prints drill, result and recovery time.",
        epilog="Exit 0: every drill passed; 1: a drill failed; 2: nothing could start.",
    )
    parser.add_argument("--only", type=_only, default=list(DRILLS), help=f"comma-separated, of: {', '.join(DRILLS)}")
    parser.add_argument("--port", type=int, default=PORT, help=f"the drills' own emulator port (default {PORT})")
    parser.add_argument("--keep", action="store_true", help="leave the emulator and the stacks up afterwards")
    options = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress as it happens, also into a CI log
    # the drills' own state (Terraform state, emulator data) beside the main one; the emulator's venv is shared
    os.environ.setdefault("RELAY_EMULATOR_VENV", str(paths.emulator_dir() / "venv"))
    os.environ["RELAY_STATE_DIR"] = str(paths.state_root() / "drill")
    os.environ["RELAY_EMULATOR_PORT"] = str(options.port)
    environ = dict(os.environ)
    try:
        drills = Drills(options.port, environ)
        source = terraform.preflight()
    except (ConfigError, terraform.TerraformError) as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    print(f"relay drill: {', '.join(options.only)} on {drills.endpoint} (Terraform provider from {source.describe()})")
    outcomes: list[Outcome] = []
    emulator = launcher.Emulator(options.port)
    try:
        emulator.ensure_running()
        drills.use(drills.config)
        setup = time.monotonic()
        deploy.deploy_all(drills.config, on_line=Progress())
        first = drills.push(drills.config)
        drills.everywhere(drills.config, first)
        stacks = len(deploy.stack_names(drills.config))
        print(f"deployed {stacks} stacks, {first} everywhere: {time.monotonic() - setup:.0f} s")
        runs: dict[str, Callable[[], Outcome]] = {
            "target-down": drills.target_down,
            "releases-in-order": drills.releases_in_order,
            "home-down": drills.home_down,
            "promote-home": drills.promote_home,
            "restart": drills.restart,
        }
        for name in options.only:
            print(f"… {name}", flush=True)
            started = time.monotonic()
            try:
                outcome = runs[name]()
            except (DrillFailed, WaitTimeout, deploy.DeployError) as error:
                outcome = Outcome(name, False, "-", str(error).splitlines()[0])
            except Exception as error:  # a defect: reported with its traceback, the rest still run
                traceback.print_exc()
                outcome = Outcome(name, False, "-", f"{type(error).__name__}: {error}")
            finally:
                with_faults = launcher.faults(drills.endpoint) if emulator.health() else {}
                if with_faults.get("regions_down") or with_faults.get("replication_delays"):
                    launcher.clear_faults(drills.endpoint)
            print(
                f"{'✓' if outcome.ok else '✗'} {name} ({time.monotonic() - started:.0f} s) {outcome.detail}", flush=True
            )
            outcomes.append(outcome)
    except Exception as error:  # the set-up failed: every drill counts as failed
        traceback.print_exc()
        outcomes.append(Outcome("set-up", False, "-", f"{type(error).__name__}: {error}".splitlines()[0]))
    finally:
        if not options.keep and emulator.pid():
            emulator.stop()
    print()
    print(table(outcomes))
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
