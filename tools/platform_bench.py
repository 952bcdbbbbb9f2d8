"""Benchmark of the regional platform on the emulator: replication latency and deploy time per stack.

    relay platform-bench [--samples 20] [--deploy]   # needs the stacks deployed (`make demo` leaves them so)

Replication: the time from the write in one region returning until each other region answers the new
value: a secret updated in home until every replica's GetSecretValue returns it; an image pushed to home's
repository until every target's repository has it (same digest); an item written in a target until home
and the other targets read it (consistent reads). Prints p50 / p95 in milliseconds, per kind, over every
region of every sample.

`--deploy` then destroys the platform's stacks and deploys them again one at a time (each region's
platform, then what home replicates, then each peering), printing each stack's deploy time.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from tools import deploy
from tools.platform import Platform
from tools.push_bench import local_emulator_config, percentile
from tools.wait import WaitTimeout, wait_for


def replicated(what: str, readers: dict[str, Callable[[], bool]]) -> list[float]:
    """Seconds from now until each reader answers true, each region timed on its own."""
    started = time.monotonic()
    done: dict[str, float] = {}

    def every_region() -> bool:
        for region, read in readers.items():
            if region not in done and read():
                done[region] = time.monotonic() - started
        return len(done) == len(readers)

    wait_for(what, every_region, timeout=60, interval=0.005)
    return list(done.values())


def secret_sample(platform: Platform, value: str) -> list[float]:
    """A new value of the first secret in home; seconds until each target's replica answers it."""
    platform.put_secret(value)
    readers = {r: (lambda r=r: platform.read_secret(r) == value) for r in platform.targets}
    return replicated("the secret's new value", readers)


def image_sample(platform: Platform, tag: str) -> list[float]:
    """An image pushed to home's first repository; seconds until each target's repository has it."""
    digest = platform.put_image(tag, seed=tag)
    readers = {r: (lambda r=r: platform.image_digest(r, tag) == digest) for r in platform.targets}
    return replicated(f"the image {tag}", readers)


def item_sample(platform: Platform, key: str) -> list[float]:
    """An item written in the first target's replica of the first table; seconds until home and the
    other targets read it. The item is deleted afterwards."""
    writer = platform.targets[0]
    platform.put_item(writer, key, key)
    try:
        readers = {r: (lambda r=r: platform.read_item(r, key) == key) for r in platform.regions if r != writer}
        return replicated(f"the item {key}", readers)
    finally:
        platform.delete_item(writer, key)


def one_sample(platform: Platform, index: int) -> dict[str, list[float]]:
    """One write of each kind, and how long each other region took to answer it."""
    sample = f"bench-{index}-{uuid.uuid4().hex[:8]}"
    return {
        "secret (home -> targets)": secret_sample(platform, sample),
        "image (home -> targets)": image_sample(platform, sample),
        f"item ({platform.targets[0]} -> others)": item_sample(platform, sample),
    }


def deploy_times(platform: Platform) -> list[tuple[str, float]]:
    """Destroy the platform's stacks, then deploy them one at a time; each stack's seconds."""
    names = platform.names
    regional = [names.platform_stack(r) for r in platform.regions]
    peering = [names.peering_stack(r) for r in platform.targets]
    stacks = [*regional, names.platform_global_stack(), *peering]
    # one stack per cdktf run, dependents first (cdktf, given several dependent stacks with
    # --ignore-missing-stack-dependencies, kept starting the same destroy while another held the state lock)
    for index, stack in enumerate(reversed(stacks)):
        deploy.cdktf("destroy", [stack], synth=index == 0)
    timed = []
    for stack in stacks:
        started = time.monotonic()
        deploy.cdktf("deploy", [stack], synth=False)
        timed.append((stack, time.monotonic() - started))
    return timed


def main(argv: list[str] | None = None, *, prog: str = "relay platform-bench") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="writes of each kind to time (default 20)")
    parser.add_argument("--deploy", action="store_true", help="also time each platform stack's deploy")
    options = parser.parse_args(argv)
    if options.samples < 1:
        parser.error(f"--samples must be at least 1, got {options.samples}")
    config = local_emulator_config("platform")
    if config is None:
        return 2
    if not config.platform.enabled:
        print(f"relay: the platform is off in {config.environment} (platform.enabled)", file=sys.stderr)
        return 2
    platform = Platform(config)
    rows: dict[str, list[float]] = {}
    try:
        for index in range(options.samples):
            for kind, seconds in one_sample(platform, index).items():
                rows.setdefault(kind, []).extend(seconds)
        timed = deploy_times(platform) if options.deploy else []
    except (WaitTimeout, deploy.DeployError, ClientError, BotoCoreError) as error:
        print(f"relay: platform benchmark failed: {error}", file=sys.stderr)
        return 1
    width = max(len(kind) for kind in rows)
    print(f"{options.samples} samples (replica readable, p50 / p95 ms after the write returned):")
    for kind, seconds in rows.items():
        millis = [s * 1000 for s in seconds]
        print(f"  {kind:<{width}}  {percentile(millis, 50):7.1f} / {percentile(millis, 95):7.1f}")
    if timed:
        print("deploy time per stack, one at a time (s):")
        width = max(len(stack) for stack, _ in timed)
        for stack, seconds in timed:
            print(f"  {stack:<{width}}  {seconds:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
