"""Benchmark of a release on the emulator: `git push` -> release object -> every target region, per strategy.

    relay push-bench [--pushes 10]     # needs the stacks deployed (`make demo` leaves them so)

For each push: the time from `git push` returning until the release object of that commit is in the
home bucket (connection source, CodeBuild build, `aws s3 cp`), until the stacks of the regions of each
delivery strategy report the release (bespoke: replication, event, the region's pipeline; native: the
home pipeline's cross-region CloudFormation action; remote: the home pipeline's CodeBuild deploy), and
until every target stack does. Then the build's own overhead: the build's duration (BatchGetBuilds)
against the same commands of `buildspec/release.yml` run directly in a shell, as a ratio. Prints p50 / p95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from config import ConfigError, load_config, paths
from config.schema import RelayConfig
from regions.delivery import decisions
from tools.release import Release, SourceRepository, labelled
from tools.wait import WaitTimeout, wait_for

EMULATOR_BIN = paths.emulator_dir() / "venv" / "bin"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def one_push(release: Release, repository: SourceRepository, label: str) -> tuple[float, dict[str, float], float]:
    """(seconds to the release object, seconds to each region deployed, the build's seconds)."""
    commit = repository.push(label)
    pushed = time.monotonic()
    wait_for(
        f"the release object of {commit[:12]}",
        lambda: ((release.published() or {}).get("Metadata") or {}).get("source-revision") == commit,
        timeout=180,
        interval=0.05,
    )
    published = time.monotonic() - pushed
    deployed: dict[str, float] = {}

    def every_region_deployed() -> bool:
        # each region is timed on its own: polled in turn until it reports the release
        for region in release.config.target_regions:
            if region not in deployed and release.deployed_label(region) == label:
                deployed[region] = time.monotonic() - pushed
        return len(deployed) == len(release.config.target_regions)

    wait_for(f"every region on {label}", every_region_deployed, timeout=180, interval=0.05)
    # the release object is the build's last command: the build itself ends a moment later
    build = wait_for(
        "the build to end", lambda: (b := release.latest_build()).get("endTime") and b, timeout=60, interval=0.05
    )
    return published, deployed, (build["endTime"] - build["startTime"]).total_seconds()


def direct_run(release: Release) -> float:
    """The release build's commands run directly in a shell against the emulator (no CodeBuild)."""
    config = release.config
    region = config.home_region
    key_arn = release.clients("kms", region).describe_key(KeyId=config.names.kms_alias(region))["KeyMetadata"]["Arn"]
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "src"
        for path in sorted((paths.PROJECT_ROOT / "app" / "sample").rglob("*")):
            if path.is_file():
                target = tree / path.relative_to(paths.PROJECT_ROOT / "app" / "sample")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(labelled(path, "direct"))
        bucket = config.names.bucket("artifacts", region)
        script = (
            'set -euo pipefail; release_zip="$(mktemp -d)/release.zip"; '
            "zip -q -r -X \"$release_zip\" . -x '.git/*'; "
            f'aws s3 cp "$release_zip" "s3://{bucket}/bench/release.zip" --sse aws:kms --sse-kms-key-id {key_arn} '
            "--only-show-errors"
        )
        env = {
            **os.environ,
            "PATH": f"{EMULATOR_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AWS_ENDPOINT_URL": config.emulator.endpoint,
            "AWS_ACCESS_KEY_ID": "000000000000",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": region,
        }
        started = time.monotonic()
        subprocess.run(["bash", "-c", script], cwd=tree, env=env, check=True)
        return time.monotonic() - started


def local_emulator_config(benchmark: str) -> RelayConfig | None:
    """The configuration, when it is valid and names the local emulator; else None, the reason printed."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return None
    if not config.emulator.enabled or urlparse(config.emulator.endpoint).hostname not in ("127.0.0.1", "localhost"):
        print(f"relay: the {benchmark} benchmark runs on the local emulator only", file=sys.stderr)
        return None
    return config


def main(argv: list[str] | None = None, *, prog: str = "relay push-bench") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=10, help="how many pushes to time (default 10)")
    options = parser.parse_args(argv)
    if options.pushes < 1:
        parser.error(f"--pushes must be at least 1, got {options.pushes}")
    config = local_emulator_config("push")
    if config is None:
        return 2
    release = Release(config)
    repository = SourceRepository(config, paths.state_root() / "bench" / "clone")
    results = []
    try:
        for index in range(options.pushes):
            results.append(one_push(release, repository, f"bench-{index}-{time.strftime('%H%M%S')}"))
        direct = [direct_run(release) for _ in range(3)]
    except (WaitTimeout, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"relay: push benchmark failed: {error}", file=sys.stderr)
        return 1
    published, deployed, builds = (list(column) for column in zip(*results, strict=True))
    rows = [("release object in the home bucket", published)]
    by_strategy: dict[str, list[str]] = {}
    for decision in decisions(config):
        by_strategy.setdefault(decision.strategy.value, []).append(decision.region)
    for strategy, regions in by_strategy.items():
        rows.append((f"{strategy} stacks ({', '.join(regions)})", [max(push[r] for r in regions) for push in deployed]))
    rows.append(("every target stack on the release", [max(push.values()) for push in deployed]))
    width = max(len(name) for name, _ in rows)
    print(f"{options.pushes} pushes (p50 / p95 seconds from `git push` returning):")
    for name, times in rows:
        print(f"  {name:<{width}}  {percentile(times, 50):6.2f} / {percentile(times, 95):6.2f}")
    build, shell = statistics.median(builds), statistics.median(direct)
    print(f"  build {build:.2f} s vs the same commands in a shell {shell:.2f} s: {build / shell:.2f}x (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
