"""Watch one release travel, on the emulator: deploy, release, replication, event, pipeline, stack.

    python -m tools.demo              # start the emulator if needed, deploy, ship one release
    python -m tools.demo --destroy    # the same, then destroy every stack and stop what it started

Exit code 0 when every step in every target region succeeded, 1 otherwise, 2 for a bad configuration.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from config import ConfigError, load_config
from tools import deploy
from tools.emulator_session import EmulatorError, EmulatorSession
from tools.release import Release, WaitTimeout, release_zip, wait_for

RESOURCE_DONE = re.compile(r"^(?P<stack>\S+)\s+.*(Creation|Destruction|Modifications) complete")
STACK_DONE = re.compile(r"^(?P<stack>\S+)\s+.*(Apply complete|Destroy complete|No changes)|Error")


@dataclass
class Step:
    name: str
    seconds: float | None = None
    detail: str = ""
    ok: bool = True


@dataclass
class Report:
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)

    def run(
        self, name: str, action: Callable[[], Any], describe: Callable[[Any], str] = str, since: float | None = None
    ) -> Any:
        """Run one step, print its outcome and time, record it; a failure is recorded, not raised.

        The time is the step's own duration, or with `since` the time elapsed since that moment.
        """
        print(f"… {name}", flush=True)
        start = time.monotonic() if since is None else since
        try:
            result = action()
        except (WaitTimeout, deploy.DeployError, EmulatorError) as error:
            step = Step(name, time.monotonic() - start, str(error).splitlines()[0], ok=False)
            self.steps.append(step)
            print(f"✗ {name} ({step.seconds:.1f} s): {error}", flush=True)
            return None
        step = Step(name, time.monotonic() - start, describe(result))
        self.steps.append(step)
        print(f"✓ {name} ({step.seconds:.1f} s) {step.detail}".rstrip(), flush=True)
        return result

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    def summary(self) -> str:
        width = max(len(s.name) for s in self.steps)
        lines = ["", "Summary (release steps: time since the release was published)", "-------"]
        for s in self.steps:
            mark = "ok  " if s.ok else "FAIL"
            lines.append(f"{mark} {s.name:<{width}}  {s.seconds or 0:7.1f} s  {s.detail}")
        total = time.monotonic() - self.started
        verdict = "the release reached every target region" if self.ok else "some steps failed"
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


def ship(report: Report, release: Release, label: str) -> None:
    """Publish one release and follow it into every target region."""
    config = release.config
    published = time.monotonic()
    version_id = report.run(
        f"release {label}: zip app/sample and put it in {release.home_bucket()}",
        lambda: release.publish(release_zip(label)),
        lambda v: f"version {v}",
    )
    if not version_id:
        return
    for region in config.target_regions:
        mode = config.trigger_mode(region)
        event = "Object Created" if mode.value == "eventbridge" else "CloudTrail PutObject record"
        replica = report.run(
            f"{region}: replica readable",
            lambda r=region: wait_for(f"the replica in {r}", lambda: release.replica(r, version_id), timeout=60),
            lambda head: (
                f"{head['ReplicationStatus']}, re-encrypted with {head.get('SSEKMSKeyId', '?').split('/')[-1]}"
            ),
            since=published,
        )
        if not replica:
            continue
        execution = report.run(
            f"{region}: {event} -> rule -> pipeline execution",
            lambda r=region: wait_for(f"an execution in {r}", lambda: release.execution_for(r, version_id), timeout=60),
            lambda e: f"{e['pipelineExecutionId'][:8]} trigger {e['trigger']['triggerType']}",
            since=published,
        )
        if not execution:
            continue
        status = report.run(
            f"{region}: pipeline (S3 source, CloudFormation deploy)",
            lambda r=region, e=execution: wait_for(
                f"the execution in {r} to finish",
                lambda: (s := release.execution_status(r, e["pipelineExecutionId"])) in ("Succeeded", "Failed") and s,
                timeout=120,
            ),
            since=published,
        )
        if status and status != "Succeeded":
            report.steps[-1].ok = False
        stack = release.deployed_stack(region) or {}
        report.steps.append(
            Step(
                f"{region}: stack {config.deploy.stack_name}",
                time.monotonic() - published,
                f"{stack.get('StackStatus', 'missing')}, release {release.deployed_label(region)}",
                ok=release.deployed_label(region) == label,
            )
        )
        print(f"{'✓' if report.steps[-1].ok else '✗'} {report.steps[-1].name}: {report.steps[-1].detail}", flush=True)
    if wait_for("COMPLETED", lambda: release.source_status(version_id) in ("COMPLETED", "FAILED"), timeout=30):
        status = release.source_status(version_id)
        report.steps.append(
            Step(
                "home: replication status of the release",
                time.monotonic() - published,
                status,
                ok=status == "COMPLETED",
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--destroy", action="store_true", help="destroy the stacks afterwards")
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
    label = options.label or time.strftime("r%H%M%S")
    report = Report()
    print(f"relay demo: {config.home_region} -> {', '.join(config.target_regions)} on {config.emulator.endpoint}")
    with ExitStack() as cleanup:
        session = report.run(
            "emulator running",
            lambda: cleanup.enter_context(EmulatorSession(config)),
            lambda s: "started" if s.started else "already running",
        )
        if session:
            deployed = report.run(
                f"deploy {len(config.regions)} stacks with cdktf (targets first)",
                lambda: deploy.cdktf("deploy", on_line=Progress()),
                lambda _: "",
            )
            if deployed is not None:
                ship(report, Release(config), label)
            if options.destroy:
                release = Release(config)
                report.run(
                    "destroy the deployed application and every stack",
                    lambda: (
                        release.delete_deployed_stacks(),
                        deploy.cdktf("destroy", on_line=Progress(), synth=False),
                    ),
                    lambda _: "",
                )
            elif session.started:
                # Leave the emulator and the stacks up for exploring; the next run reuses both.
                session.started = False
                print("\nThe emulator keeps running with the stacks deployed: `make emulator-stop` stops it.")
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
