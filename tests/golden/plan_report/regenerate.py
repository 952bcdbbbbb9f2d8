"""Regenerate the plan-report fixtures from real plans against the emulator, then the golden reports.

    python tests/golden/plan_report/regenerate.py [--port 4610] [--work-dir DIR] [--keep]

Runs its own emulator (port 4610) with the work directory as relay's state root (`RELAY_STATE_DIR`):
the emulator's files, the Terraform state and the plugin cache all live there, so the shared emulator
on 4566 and the `local` environment's state are never touched. The emulator is started unless it is
already running there, and stopped at the end only if this script started it. Apps `plandemo`
(2 target regions) and `planbig` (10 target regions) are synthesized into the work directory, with the
regional platform switched off: the fixtures are the pipeline's stacks (targets, home, replication).

Scenarios, each saved as `fixtures/<scenario>/<stack>.json.gz` (`terraform show -json`, gzipped):

- create:          first deployment (targets and home planned from empty, replication once they exist)
- no_changes:      the same configuration again, after apply
- iam_policy:      `deploy.policy_file` = deploy-policy-changed.json (one statement changed, one added)
- force_destroy:   `buckets.force_destroy` false -> true
- plan_error:      `namespace` set, every stack planned at once: the targets plan (every bucket renamed,
                   so replaced), replication fails as it cannot find the renamed buckets (errors.json)
- replace_bucket:  the same change rolled out like `cdktf deploy '*'`: the targets' and home's plans,
                   then the replication plan once they are applied (bucket replacements, replication rules)
- oversize:        `planbig` deployed, then rolled out the same way: a report too large for one comment

Everything applied is destroyed at the end (unless --keep). Last, the golden Markdown files are
rewritten from the new fixtures (`pytest tests/unit/test_plan_report.py --update-golden`) and the tests
run again without the option; the exit code is theirs. Takes about 25 minutes; set RELAY_TF_MIRROR on
machines without registry access.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[2]
# Run as a script from anywhere: the project's packages live at its root.
sys.path.insert(0, str(PROJECT_ROOT))

from config import load_config  # noqa: E402 - importable only once the project root is on the path
from stacks import build_app  # noqa: E402
from tools import plan_report, terraform  # noqa: E402

FIXTURES = HERE / "fixtures"
LAUNCHER = PROJECT_ROOT / "localstack" / "emulator.py"
WORK_DIR = Path(tempfile.gettempdir()) / "relay-plan-fixtures"
CHANGED_POLICY = HERE.relative_to(PROJECT_ROOT) / "deploy-policy-changed.json"
BIG_TARGETS = [
    "eu-south-2",
    "ap-southeast-4",
    "eu-central-1",
    "eu-north-1",
    "us-east-1",
    "us-west-2",
    "ap-northeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
]


class Fixtures:
    """Synthesizes configurations into one work directory and plans, applies and destroys their stacks."""

    def __init__(self, work: Path, endpoint: str):
        self.work = work
        self.outdir = work / "cdktf.out"
        self.endpoint = endpoint
        self.env = terraform.environment()
        self.timings: dict[str, float] = {}

    def synth(self, **overrides) -> list[Path]:
        """Synthesize `overrides` over the `local` environment, its platform off; return the stack dirs in
        deploy order."""
        # The local environment's platform regions are not the fixtures' targets, and its stacks are not planned.
        overrides = {"emulator": {"endpoint": self.endpoint}, "platform": {"enabled": False}, **overrides}
        config = load_config(environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)})
        # Fresh stacks only: a stack left from another configuration must not be planned.
        shutil.rmtree(self.outdir / "stacks", ignore_errors=True)
        built = build_app(config, outdir=str(self.outdir))
        built.app.synth()
        pipeline = (*built.targets, built.home, built.replication)
        if set(built.stacks) != set(pipeline):
            raise SystemExit(f"expected only the pipeline's stacks, got {[s.node.id for s in built.stacks]}")
        # The local backend's state path is relative to the stack directory, so it lands in the work dir.
        return [self.outdir / "stacks" / s.node.id for s in pipeline]

    def plan(self, scenario: str, stacks: list[Path]) -> dict[str, dict]:
        started = time.monotonic()
        run = plan_report.plan_stacks(stacks, self.work / "plans" / scenario, self.env)
        self.timings[f"plan {scenario} ({len(stacks)} stacks)"] = time.monotonic() - started
        if run.errors:
            raise SystemExit(f"{scenario}: plan failed: {json.dumps(run.errors, indent=2)}")
        return run.plans

    def _each(self, verb: str, stacks: list[Path]) -> None:
        """`terraform apply|destroy` of independent stacks in parallel (after a sequential init)."""
        for stack in stacks:
            terraform.init(stack, self.env)
        args = [verb, "-auto-approve", "-input=false", "-no-color"]
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda s: terraform.run(s, *args, env=self.env), stacks))
        failed = [f"{s.name}:\n{r.stderr or r.stdout}" for s, r in zip(stacks, results, strict=True) if r.returncode]
        if failed:
            raise SystemExit(f"terraform {verb} failed:\n" + "\n".join(failed))

    def apply(self, stacks: list[Path]) -> None:
        self._each("apply", stacks)

    def deploy(self, stacks: list[Path]) -> None:
        """Every stack: targets and home first, then replication (the last), which reads their buckets and keys."""
        self._each("apply", stacks[:-1])
        self._each("apply", stacks[-1:])

    def destroy(self, stacks: list[Path]) -> None:
        """Every stack: replication first, then the others."""
        self._each("destroy", stacks[-1:])
        self._each("destroy", stacks[:-1])


def save(scenario: str, plans: dict[str, dict], errors: dict[str, str] | None = None) -> None:
    """Write one scenario's plans as gzipped JSON, byte-for-byte reproducible (no gzip timestamp)."""
    directory = FIXTURES / scenario
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for index, (name, plan) in enumerate(plans.items()):
        # The index keeps the stacks' order (targets, home, replication) when the test reads the directory.
        data = json.dumps(plan, indent=1, sort_keys=True).encode()
        (directory / f"{index:02d}-{name}.json.gz").write_bytes(gzip.compress(data, mtime=0))
    if errors:
        (directory / "errors.json").write_text(json.dumps(errors, indent=2, sort_keys=True) + "\n")
    print(f"fixture {scenario}: {', '.join(plans)}" + (f"; failed: {', '.join(errors)}" if errors else ""))


def emulator_launcher():
    """The emulator launcher module, loaded from its file: `localstack` must stay LocalStack's own name."""
    spec = importlib.util.spec_from_file_location("relay_emulator_launcher", LAUNCHER)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {LAUNCHER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def roll_out(fixtures: Fixtures, scenario: str, stacks: list[Path]) -> dict[str, dict]:
    """Plans of a change that renames buckets, as `cdktf deploy '*'` meets it: the targets' and home's
    plans, then, once they are applied, the replication plan (before, it cannot read the renamed buckets)."""
    plans = fixtures.plan(scenario, stacks[:-1])
    fixtures.apply(stacks[:-1])
    return plans | fixtures.plan(f"{scenario}-replication", stacks[-1:])


def generate(fixtures: Fixtures, keep: bool) -> None:
    # The fixtures were recorded with every region bespoke (the local environment's first two targets).
    base = {
        "app": "plandemo",
        "buckets": {"force_destroy": False},
        "target_regions": ["eu-south-2", "ap-southeast-4"],
        "delivery": {"strategy": "bespoke"},
    }
    renamed = {**base, "namespace": "acme"}
    stacks = fixtures.synth(**base)
    standalone, replication = stacks[:-1], stacks[-1:]
    applied = base
    try:
        created = fixtures.plan("create-standalone", standalone)
        fixtures.apply(standalone)
        created |= fixtures.plan("create-replication", replication)
        save("create", created)
        fixtures.apply(replication)
        save("no_changes", fixtures.plan("no_changes", stacks))
        fixtures.synth(**base, deploy={"policy_file": str(CHANGED_POLICY)})
        save("iam_policy", fixtures.plan("iam_policy", stacks))
        fixtures.synth(**{**base, "buckets": {"force_destroy": True}})
        save("force_destroy", fixtures.plan("force_destroy", stacks))
        fixtures.synth(**renamed)
        # Planning every stack at once fails for replication, which cannot find the renamed buckets yet.
        failed = plan_report.plan_stacks(stacks, fixtures.work / "plans" / "plan_error", fixtures.env)
        save("plan_error", failed.plans, failed.errors)
        applied = renamed
        save("replace_bucket", roll_out(fixtures, "replace_bucket", stacks))
    finally:
        if not keep:
            fixtures.synth(**applied)
            fixtures.destroy(stacks)
    big = {"app": "planbig", "target_regions": BIG_TARGETS, "delivery": {"strategy": "bespoke"}}
    stacks = fixtures.synth(**big)
    applied = big
    try:
        started = time.monotonic()
        fixtures.deploy(stacks)
        fixtures.timings[f"apply planbig ({len(stacks)} stacks)"] = time.monotonic() - started
        fixtures.synth(**big, namespace="acme")
        applied = {**big, "namespace": "acme"}
        save("oversize", roll_out(fixtures, "oversize", stacks))
    finally:
        if not keep:
            fixtures.synth(**applied)
            fixtures.destroy(stacks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4610, help="port of the fixtures' own emulator (default 4610)")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help=f"synth and state (default {WORK_DIR})")
    parser.add_argument("--keep", action="store_true", help="leave the deployed stacks in the emulator")
    options = parser.parse_args(argv)
    if not 0 < options.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {options.port}")
    work = options.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    # Read by the launcher, Terraform's set-up and the stacks' local backend alike: all stay in `work`.
    os.environ.update(RELAY_EMULATOR_PORT=str(options.port), RELAY_STATE_DIR=str(work))
    launcher = emulator_launcher()
    try:
        with launcher.running(echo=True) as endpoint:
            fixtures = Fixtures(work, endpoint)
            generate(fixtures, options.keep)
    except launcher.LauncherError as error:
        print(f"regenerate: {error}", file=sys.stderr)
        return 1
    for what, seconds in fixtures.timings.items():
        print(f"{what}: {seconds:.0f} s")
    tests = [sys.executable, "-m", "pytest", "-q", "tests/unit/test_plan_report.py"]
    # Fails for each golden file it rewrites; the run after it is the verdict.
    subprocess.run([*tests, "--update-golden"], cwd=PROJECT_ROOT, check=False)
    return subprocess.run(tests, cwd=PROJECT_ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
