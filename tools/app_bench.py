"""Benchmark of the application tier and its edge on the emulator: release rollout and DNS failover.

    relay app-bench [--releases 3] [--failovers 5]   # needs the stacks and the edge deployed (`make demo`)

Rollout: the time from `git push` returning until every application region serves the new release (its stack
reports the release and its load balancer has the region's capacity of healthy targets), per region and for
the slowest one. Failover: the active region's group is scaled to zero; the time from its last target going
out of service until Route 53's answer (TestDNSAnswer for the application's name) is the standby region, and
until the active region's health check reports unhealthy; then the group is scaled back and the time until the
answer is the active region again. Prints p50 / p95 in seconds. On the emulator, health checkers probe every
`RELAY_HEALTH_CHECK_INTERVAL_SECONDS` (1 s as the launcher starts it) instead of AWS's 10 or 30 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from botocore.exceptions import BotoCoreError, ClientError

from tools.application import Application
from tools.push_bench import local_emulator_config, percentile
from tools.release import SourceRepository
from tools.wait import WaitTimeout, wait_for

ROLLOUT_TIMEOUT = 240


def rollout_sample(application: Application, repository: SourceRepository, label: str) -> dict[str, float]:
    """Push a release; seconds from the push returning until each application region serves it."""
    repository.push(label)
    started = time.monotonic()
    done: dict[str, float] = {}

    def every_region() -> bool:
        for region in application.regions:
            if region not in done and application.serving(region, label):
                done[region] = time.monotonic() - started
        return len(done) == len(application.regions)

    wait_for(f"every application region serving {label}", every_region, timeout=ROLLOUT_TIMEOUT, interval=0.1)
    return done


def failover_sample(application: Application) -> dict[str, float]:
    """Scale the active region to zero and back; seconds to each observable change."""
    config = application.config
    active, standby = config.active_regions[0], config.standby_regions[0]
    timeout = 10 * config.edge.health_check.failure_threshold + 30
    application.scale(active, 0)
    try:
        wait_for(
            f"no healthy target in {active}", lambda: not application.healthy_targets(active), timeout=60, interval=0.05
        )
        down = time.monotonic()
        wait_for(
            f"the answer {standby}", lambda: application.answering_region() == standby, timeout=timeout, interval=0.05
        )
        answer = time.monotonic() - down
        wait_for(
            f"{active} unhealthy",
            lambda: application.health_checks().get(active) == "unhealthy",
            timeout=timeout,
            interval=0.1,
        )
        check = time.monotonic() - down
    finally:
        application.scale(active)
    wait_for(f"a healthy target in {active}", lambda: application.healthy_targets(active), timeout=60, interval=0.05)
    up = time.monotonic()
    wait_for(f"the answer {active}", lambda: application.answering_region() == active, timeout=timeout, interval=0.05)
    back = time.monotonic() - up
    wait_for(
        f"{active} healthy", lambda: application.health_checks().get(active) == "healthy", timeout=timeout, interval=0.1
    )
    return {
        "targets out -> DNS answers the standby": answer,
        "targets out -> a health checker reports the failure": check,
        "targets back -> DNS answers the active": back,
    }


def report(title: str, rows: dict[str, list[float]]) -> None:
    width = max(len(kind) for kind in rows)
    print(title)
    for kind, seconds in rows.items():
        print(f"  {kind:<{width}}  {percentile(seconds, 50):7.2f} / {percentile(seconds, 95):7.2f}")


def main(argv: list[str] | None = None, *, prog: str = "relay app-bench") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=3, help="releases pushed and timed (default 3)")
    parser.add_argument("--failovers", type=int, default=5, help="failovers and failbacks timed (default 5)")
    options = parser.parse_args(argv)
    problems = [f"--{n} must be at least 0, got {v}" for n, v in vars(options).items() if v < 0]
    if problems:
        parser.error("; ".join(problems))
    config = local_emulator_config("application")
    if config is None:
        return 2
    if not (config.has_edge and config.standby_regions):
        print(
            f"relay: {config.environment} needs the application tier, the edge and a standby region "
            "(application.enabled, edge.enabled, application.standby_regions)",
            file=sys.stderr,
        )
        return 2
    application = Application(config)
    rollout: dict[str, list[float]] = {}
    failover: dict[str, list[float]] = {}
    try:
        with TemporaryDirectory(prefix="relay-app-bench-") as workdir:
            repository = SourceRepository(config, Path(workdir) / "clone")
            for index in range(options.releases):
                done = rollout_sample(application, repository, f"bench-{index}-{int(time.time())}")
                for region, seconds in done.items():
                    rollout.setdefault(f"push -> {region} serving", []).append(seconds)
                rollout.setdefault("push -> every region serving", []).append(max(done.values()))
        for _ in range(options.failovers):
            for kind, seconds in failover_sample(application).items():
                failover.setdefault(kind, []).append(seconds)
    except (WaitTimeout, ClientError, BotoCoreError) as error:
        print(f"relay: application benchmark failed: {error}", file=sys.stderr)
        return 1
    if rollout:
        report(f"{options.releases} releases (p50 / p95 s after git push returned):", rollout)
    if failover:
        report(f"{options.failovers} failovers of {config.active_regions[0]} (p50 / p95 s):", failover)
    return 0


if __name__ == "__main__":
    sys.exit(main())
