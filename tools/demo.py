"""Watch one release travel, on the emulator: deploy, git push, build, replication, event, pipeline, stack.

    relay demo              # check Terraform, start the emulator if needed, deploy, ship one release
    relay demo --destroy    # the same, then destroy every stack and stop the emulator if it started it

Terraform's provider is checked first: a machine that cannot install it stops within seconds, before
the emulator or a synthesis starts. Every later failure is a failed step of the closing summary, and
the closing lines say only what happened.

Exit code 0 when every step succeeded, 1 when a step failed, 2 when nothing could start (a bad
configuration, or Terraform cannot install its provider here).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from config import ConfigError, load_config, paths
from config.schema import DeliveryStrategy
from regions.delivery import decisions
from tools import deploy, platform_bench, secrets, status, terraform
from tools.application import Application
from tools.emulator_session import EmulatorError, EmulatorSession
from tools.platform import Platform
from tools.release import Release, SourceRepository
from tools.wait import WaitTimeout, wait_for

RESOURCE_DONE = re.compile(r"^(?P<stack>\S+)\s+.*(Creation|Destruction|Modifications) complete")
STACK_DONE = re.compile(r"^(?P<stack>\S+)\s+.*(Apply complete|Destroy complete|No changes)|Error")
EXPECTED_FAILURES = (
    WaitTimeout,
    deploy.DeployError,
    terraform.TerraformError,
    EmulatorError,
    BotoCoreError,
    ClientError,
)
"""Failures a step reports by their message; anything else also prints its traceback (a defect)."""
EMULATOR_STEP = "emulator running"


@dataclass
class Step:
    """One line of the summary: what was done, how long it took, and what came of it."""

    name: str
    seconds: float = 0.0
    detail: str = ""
    ok: bool = True
    value: Any = None


@dataclass
class Report:
    """The steps of one run, printed as they finish and summed up at the end."""

    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)

    def run(
        self,
        name: str,
        action: Callable[[], Any],
        describe: Callable[[Any], str] = str,
        *,
        since: float | None = None,
        check: Callable[[Any], bool] | None = None,
    ) -> Step:
        """Run one step, print its outcome and time, record it; a failure is recorded, never raised.

        The time is the step's own duration, or with `since` the time elapsed since that moment.
        `check` judges the result (a pipeline that ran but failed is a failed step).
        """
        print(f"… {name}", flush=True)
        start = time.monotonic() if since is None else since
        try:
            value = action()
        except Exception as error:
            if not isinstance(error, EXPECTED_FAILURES):
                traceback.print_exc()
            text = str(error) if isinstance(error, EXPECTED_FAILURES) else f"{type(error).__name__}: {error}"
            step = Step(name, time.monotonic() - start, (text.splitlines() or [""])[0], ok=False)
            print(f"✗ {name} ({step.seconds:.1f} s): {text}", flush=True)
        else:
            ok = check(value) if check else True
            step = Step(name, time.monotonic() - start, describe(value), ok=ok, value=value)
            print(f"{'✓' if ok else '✗'} {name} ({step.seconds:.1f} s) {step.detail}".rstrip(), flush=True)
        self.steps.append(step)
        return step

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def succeeded(self, name: str) -> bool:
        """Whether a step of that name ran and succeeded."""
        return any(step.name == name and step.ok for step in self.steps)

    def summary(self) -> str:
        width = max((len(s.name) for s in self.steps), default=0)
        lines = ["", "Summary (release steps: time since the release was published)", "-------"]
        for s in self.steps:
            mark = "ok  " if s.ok else "FAIL"
            lines.append(f"{mark} {s.name:<{width}}  {s.seconds:7.1f} s  {s.detail}".rstrip())
        total = time.monotonic() - self.started
        failed = sum(not s.ok for s in self.steps)
        verdict = (
            "the release reached every target region" if self.ok else f"{failed} of {len(self.steps)} steps failed"
        )
        lines.append(f"\n{verdict}; total {total:.1f} s")
        return "\n".join(lines)


class Progress:
    """Condense cdktf's output: a line per stack every few resources, its final line, and errors."""

    def __init__(self, every: int = 10):
        self.every = every
        self.done: dict[str, int] = {}

    def __call__(self, line: str) -> None:
        line = line.strip()
        if match := RESOURCE_DONE.match(line):
            stack = match["stack"]
            self.done[stack] = self.done.get(stack, 0) + 1
            if self.done[stack] % self.every == 0:
                print(f"    {stack}: {self.done[stack]} resources done", flush=True)
        elif STACK_DONE.search(line):
            print(f"    {line}", flush=True)


def stack_count(config) -> int:
    """How many stacks the deploy step deploys: every stack `relay deploy` deploys (all but the edge)."""
    return len(deploy.stack_names(config, edge=False))


def application_steps(report: Report, config) -> None:
    """The application tier after the release: each region's capacity and healthy targets, the edge deployed
    on the load balancers, Route 53's answer for the application's name, and the CloudFront origin group."""
    if not config.has_application:
        return
    application = Application(config, Release(config).clients)
    for region in application.regions:
        minimum, desired, maximum = application.expected_capacity(region)
        role = "standby" if config.standby(region) else "active"
        report.run(
            f"application tier in {region} ({role})",
            lambda r=region, d=desired: wait_for(
                f"{d} healthy targets in {r}",
                lambda: (s := application.state(r)).healthy_targets == d and s,
                timeout=60,
            ),
            lambda s, lo=minimum, hi=maximum: (
                f"release {s.release}: {s.instances} instances in service (min {lo}, max {hi}), "
                f"{s.healthy_targets} healthy targets, {s.protocol} on {s.load_balancer}"
            ),
        )
    if not config.has_edge:
        return
    edge = report.run(
        f"deploy the edge ({config.names.edge_stack()}: Route 53, health checks, CloudFront)",
        lambda: deploy.deploy_edge(config, on_line=Progress()),
        lambda _: "",
    )
    if not edge.ok:
        return
    report.run(
        f"DNS answer for {application.record_name}",
        lambda: wait_for("an answer", lambda: application.answering_region(), timeout=30),
        lambda region: (
            f"{region} ({'standby' if config.standby(region) else 'active'}) via {application.dns_answer()[0]}"
        ),
    )
    if config.edge.cloudfront.enabled:

        def origins() -> str:
            distribution = application.distribution() or {}
            settings = distribution.get("DistributionConfig", {})
            domains = {o["Id"]: o["DomainName"] for o in settings.get("Origins", {}).get("Items", [])}
            groups = settings.get("OriginGroups", {}).get("Items", [])
            members = [m["OriginId"] for m in groups[0]["Members"]["Items"]] if groups else list(domains)
            regions = " then ".join(str(application.region_of(domains[m])) for m in members)
            return f"{distribution.get('DomainName')} {distribution.get('Status')}: {regions}"

        report.run("CloudFront origin group", origins, lambda text: text)


def finished(status: str) -> str | bool:
    """A pipeline execution status once it is final, False while it runs."""
    return status in ("Succeeded", "Failed", "Stopped", "Superseded") and status


def revision_of(head: dict) -> str:
    """The commit the build recorded on the release object (its `source-revision` metadata)."""
    return (head.get("Metadata") or {}).get("source-revision", "?")


def ship(report: Report, release: Release, repository: SourceRepository, label: str) -> None:
    """Push one commit and follow it: home pipeline, build, release object, then every target region;
    every outcome is a step."""
    config = release.config
    published = time.monotonic()
    push = report.run(
        f"git push: app/sample (release {label}) to {config.source.repository} {config.source.branch}",
        lambda: repository.push(label),
        lambda commit: f"commit {commit[:12]}",
    )
    if not push.ok:
        return
    commit = push.value
    home = report.run(
        "home: push -> pipeline execution",
        lambda: wait_for("the home execution of the commit", lambda: release.home_execution_for(commit), timeout=30),
        lambda e: f"{e['pipelineExecutionId'][:8]} trigger {e['trigger']['triggerType']}",
        since=published,
    )
    if not home.ok:
        return
    home_delivered = release.regions_delivered(DeliveryStrategy.NATIVE, DeliveryStrategy.REMOTE)
    deploys = " and deploy actions" if home_delivered else ""
    report.run(
        f"home: pipeline (connection source, CodeBuild build{deploys})",
        lambda: wait_for(
            "the home execution to finish",
            lambda: finished(release.home_execution_status(home.value["pipelineExecutionId"])),
            timeout=180,
        ),
        since=published,
        check=lambda status: status == "Succeeded",
    )
    build = report.run(
        "home: build",
        lambda: release.latest_build(),
        lambda b: f"{b['buildStatus']} in {(b['endTime'] - b['startTime']).total_seconds():.1f} s, {b['id']}",
        since=published,
        check=lambda b: b["buildStatus"] == "SUCCEEDED",
    )
    if not build.ok:
        # A failed deploy action fails the execution too, but the release was published: follow it.
        return
    publish = report.run(
        f"home: release object in {release.home_bucket()}",
        lambda: release.published() or {},
        lambda head: f"version {head.get('VersionId')}, source-revision {revision_of(head)[:12]}",
        since=published,
        check=lambda head: revision_of(head) == commit,
    )
    if not publish.ok:
        return
    version_id = publish.value["VersionId"]
    execution_id = home.value["pipelineExecutionId"]
    for decision in decisions(config):
        if decision.strategy is DeliveryStrategy.BESPOKE:
            follow_bespoke(report, release, decision.region, version_id, label, published)
        else:
            follow_home_delivered(report, release, decision.region, decision.strategy, execution_id, label, published)
    if not release.regions_delivered(DeliveryStrategy.BESPOKE):
        return
    report.run(
        "home: replication status of the release",
        lambda: wait_for(
            "the release's replication status to settle",
            lambda: (status := release.source_status(version_id)) in ("COMPLETED", "FAILED") and status,
            timeout=30,
        ),
        since=published,
        check=lambda status: status == "COMPLETED",
    )


def follow_bespoke(
    report: Report, release: Release, region: str, version_id: str, label: str, published: float
) -> None:
    """A bespoke region: replica, event, its own pipeline's execution, the deployed stack."""
    config = release.config
    mode = config.trigger_mode(region)
    event = "Object Created" if mode.value == "eventbridge" else "CloudTrail PutObject record"
    prefix = f"{region} (bespoke)"
    replica = report.run(
        f"{prefix}: replica readable",
        lambda: wait_for(f"the replica in {region}", lambda: release.replica(region, version_id), timeout=60),
        lambda head: f"{head['ReplicationStatus']}, re-encrypted with {head.get('SSEKMSKeyId', '?').split('/')[-1]}",
        since=published,
    )
    if not replica.ok:
        return
    execution = report.run(
        f"{prefix}: {event} -> rule -> pipeline execution",
        lambda: wait_for(f"an execution in {region}", lambda: release.execution_for(region, version_id), timeout=60),
        lambda e: f"{e['pipelineExecutionId'][:8]} trigger {e['trigger']['triggerType']}",
        since=published,
    )
    if not execution.ok:
        return
    report.run(
        f"{prefix}: pipeline (S3 source, Select build, CloudFormation deploy)",
        lambda: wait_for(
            f"the execution in {region} to finish",
            lambda: finished(release.execution_status(region, execution.value["pipelineExecutionId"])),
            timeout=120,
        ),
        since=published,
        check=lambda status: status == "Succeeded",
    )
    deployed_stack(report, release, prefix, region, label, published)


def follow_home_delivered(
    report: Report,
    release: Release,
    region: str,
    strategy: DeliveryStrategy,
    execution_id: str,
    label: str,
    published: float,
) -> None:
    """A region the home pipeline delivers itself: its deploy action in the home execution, the stack."""
    prefix = f"{region} ({strategy.value})"
    what = "cross-region CloudFormation action" if strategy is DeliveryStrategy.NATIVE else "CodeBuild deploy build"
    action = report.run(
        f"{prefix}: home pipeline's {what}",
        lambda: release.home_action(execution_id, region) or {},
        describe_action,
        since=published,
        check=lambda found: found.get("status") == "Succeeded",
    )
    if action.ok:
        deployed_stack(report, release, prefix, region, label, published)


def describe_action(found: dict) -> str:
    """An action execution: status, where it ran, how long, and its summary."""
    if not found:
        return "did not run"
    took = (found["lastUpdateTime"] - found["startTime"]).total_seconds()
    summary = (found.get("output", {}).get("executionResult") or {}).get("externalExecutionSummary", "")
    return f"{found['status']} in {found['input'].get('region', '?')} in {took:.1f} s: {summary}"


def deployed_stack(report: Report, release: Release, prefix: str, region: str, label: str, published: float) -> None:
    """The application stack of a region, with the release label it reports."""
    report.run(
        f"{prefix}: stack {release.config.deploy.stack_name}",
        lambda: (release.deployed_stack(region) or {}, release.deployed_label(region)),
        lambda found: f"{found[0].get('StackStatus', 'missing')}, release {found[1]}",
        since=published,
        check=lambda found: found[1] == label,
    )


def platform_steps(report: Report, config) -> None:
    """The platform, when on: every target peered with home, the secrets seeded and their replicas in step
    (compared, never printed), an image and an item replicated, each with its time."""
    if not config.platform.enabled:
        return
    platform = Platform(config)
    home, targets = platform.home, platform.targets
    if not targets:
        return
    report.run(
        f"transit gateway peering {', '.join(targets)} <-> {home}",
        lambda: wait_for("every peering", lambda: all(platform.peering(r).ready for r in targets), timeout=30),
        lambda _: "available on both sides, static routes both ways",
    )
    report.run(
        "seed the platform's secrets (relay secrets seed)",
        lambda: secrets.seed(config, platform.clients, 32),
        lambda done: "; ".join(f"{name}: {outcome}" for name, outcome in done),
    )
    if config.platform.secrets:
        name = platform.secret_name()

        def replicas_in_step() -> None:
            value = platform.read_secret(home)  # read once: home's value does not change while we wait
            wait_for(
                "every replica to answer home's value",
                lambda: all(platform.read_secret(r) == value for r in targets),
                timeout=30,
            )

        report.run(
            f"secret {name} readable in {', '.join(targets)}",
            replicas_in_step,
            lambda _: "every replica answers home's value",
        )
    tag = f"demo-{uuid.uuid4().hex[:8]}"
    if config.platform.images.repositories:
        report.run(
            f"image {platform.repository_name()}:{tag} pushed in {home}",
            lambda: platform_bench.image_sample(platform, tag),
            lambda seconds: f"in every target in {max(seconds) * 1000:.0f} ms, same digest",
        )
    if config.platform.data.tables:
        report.run(
            f"item written in table {platform.table_name()} ({targets[0]})",
            lambda: platform_bench.item_sample(platform, tag),
            lambda seconds: f"readable in every other region in {max(seconds) * 1000:.0f} ms",
        )


STATUS_STEP = "relay status: every region runs the latest release"


def status_step(report: Report, config, fleet: Callable[..., status.FleetStatus] = status.fleet_status) -> None:
    """The last step: `relay status` for the environment; its exit code is the step's verdict, and its table
    ends the run's output (before the summary)."""
    step = report.run(STATUS_STEP, lambda: fleet(config), lambda s: s.summary, check=lambda s: s.exit_code == 0)
    if step.value is not None:
        print(status.render(step.value), flush=True)


def closing(report: Report, *, deploy_step: str, destroy_step: str | None, started: bool) -> str:
    """What is left running after the run, saying only what the recorded steps prove."""
    if not report.succeeded(EMULATOR_STEP):
        return "Nothing was deployed: the emulator step failed (see above)."
    stop = "`make emulator-stop` stops it" if started else "it was already running before the demo"
    if destroy_step is not None:
        if report.succeeded(destroy_step):
            left = "Every stack was destroyed."
        else:
            left = "The destroy failed: stacks may be left in the emulator."
        return f"{left} Stopping the emulator this run started." if started else left
    if report.succeeded(deploy_step):
        return f"The emulator keeps running with the stacks deployed ({stop})."
    return f"The deploy failed; the emulator keeps running with whatever the deploy created ({stop})."


def main(argv: list[str] | None = None, *, prog: str = "relay demo") -> int:
    """`relay demo`: see the module docstring for what it does and its exit codes."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Deploy every stack to the emulator, ship one release and follow it into every target region.",
        epilog="Exit 0: every step succeeded; 1: a step failed; 2: nothing could start "
        f"(bad configuration, or Terraform cannot install its provider: see {terraform.README_SECTION}).",
    )
    parser.add_argument(
        "--destroy", action="store_true", help="destroy the stacks afterwards and stop the emulator if it started it"
    )
    parser.add_argument("--label", default=None, help="release label written into the sample app (default: time)")
    options = parser.parse_args(argv)
    environ = dict(os.environ)
    environ.setdefault("RELAY_ENV", "local")
    try:
        config = load_config(environ=environ)
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    if not config.emulator.enabled:
        print(f"relay: the demo runs on the emulator; environment {config.environment!r} targets AWS", file=sys.stderr)
        return 2
    try:
        source = terraform.preflight()
    except terraform.TerraformError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    label = options.label or time.strftime("r%H%M%S")
    report = Report()
    info = terraform.terraform_info()
    delivered = ", ".join(f"{d.region} ({d.strategy.value})" for d in decisions(config))
    print(f"relay demo: {config.home_region} -> {delivered} on {config.emulator.endpoint}")
    print(f"terraform {info.text}; hashicorp/aws {terraform.provider_version()} from {source.describe()}")
    deploy_step = f"deploy {stack_count(config)} stacks with cdktf (replication and peerings last)"
    destroy_step = "destroy the deployed application and every stack" if options.destroy else None
    started = False
    with ExitStack() as cleanup:
        session = report.run(
            EMULATOR_STEP,
            lambda: cleanup.enter_context(EmulatorSession(config)),
            lambda s: "started" if s.started else "already running",
        )
        if session.ok:
            started = session.value.started
            if report.run(deploy_step, lambda: deploy.deploy_all(config, on_line=Progress()), lambda _: "").ok:
                repository = report.run(
                    f"emulator repository {config.source.repository} and a working clone",
                    lambda: SourceRepository(config, paths.state_root() / "demo" / "clone"),
                    lambda r: r.url,
                )
                if repository.ok:
                    ship(report, Release(config), repository.value, label)
                platform_steps(report, config)
                application_steps(report, config)
                if repository.ok:
                    status_step(report, config)
            if destroy_step is not None:
                release = Release(config)
                report.run(
                    destroy_step,
                    lambda: deploy.destroy_all(
                        config, on_line=Progress(), synth=False, after_edge=release.delete_deployed_stacks
                    ),
                    lambda _: "",
                )
            else:
                # Leave the emulator up for exploring; the next run reuses it.
                session.value.started = False
        print(report.summary())
        print(closing(report, deploy_step=deploy_step, destroy_step=destroy_step, started=started))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
