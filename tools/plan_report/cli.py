"""The command: synthesize, plan each stack with Terraform, write the reports, exit like `-detailed-exitcode`.

Each stack's plan is analysed once, right after `terraform show -json`; the complete report, the
comment and the exit code are all computed from those analysed stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from config import paths
from modules import policy_checks
from tools import terraform
from tools.deploy import synthesize
from tools.plan_report import render
from tools.plan_report.model import StackPlan
from tools.plan_report.rules import analyse

EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
PROG = "python -m tools.plan_report"


@dataclass
class PlanRun:
    """The stacks that planned, analysed, in the configuration's order, the message of each stack
    that failed, and the policy-check suppressions of each synthesized stack."""

    stacks: list[StackPlan] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    suppressions: dict[str, tuple[policy_checks.Suppression, ...]] = field(default_factory=dict)
    """Stack name -> the rules `modules/policy_checks.py` does not apply to its resources, with the reasons,
    as its synthesized JSON records them (every stack that was synthesized, planned or not)."""

    @property
    def plans(self) -> dict[str, Mapping[str, Any]]:
        """The `terraform show -json` document of each stack that planned, by stack name."""
        return {stack.name: stack.plan for stack in self.stacks}


def exit_code(stacks: Iterable[StackPlan], errors: Mapping[str, str]) -> int:
    """1 if any stack failed, else 2 if any stack has changes, else 0 (`terraform plan -detailed-exitcode`)."""
    if errors:
        return EXIT_ERROR
    return EXIT_CHANGES if any(stack.has_changes for stack in stacks) else EXIT_NO_CHANGES


def plan_stack(stack: Path, out_dir: Path, env: dict[str, str]) -> StackPlan:
    """`terraform plan` one initialized stack into `<out_dir>/<stack>.tfplan`, save its JSON as
    `<out_dir>/<stack>.json` and return it analysed."""
    plan_file = out_dir / f"{stack.name}.tfplan"
    # -lock=false: a review plan writes nothing, so it needs no state lock (and no lock permission).
    args = ["plan", f"-out={plan_file}", "-detailed-exitcode", "-lock=false", "-input=false", "-no-color"]
    result = terraform.run(stack, *args, env=env)
    if result.returncode not in (EXIT_NO_CHANGES, EXIT_CHANGES):
        raise terraform.TerraformError(f"terraform plan failed:\n{result.stderr or result.stdout}")
    shown = terraform.run(stack, "show", "-json", "-no-color", str(plan_file), env=env)
    if shown.returncode:
        raise terraform.TerraformError(f"terraform show -json failed:\n{shown.stderr or shown.stdout}")
    (out_dir / f"{stack.name}.json").write_text(shown.stdout)
    analysed = analyse(stack.name, json.loads(shown.stdout))
    if analysed.has_changes != (result.returncode == EXIT_CHANGES):
        # The report's rule for "changes" must agree with Terraform's; a mismatch is a bug here, not in Terraform.
        raise terraform.TerraformError(
            f"the plan JSON and terraform's exit code {result.returncode} disagree on whether there are changes"
        )
    return analysed


def plan_stacks(stacks: list[Path], out_dir: Path, env: dict[str, str], *, jobs: int = 4) -> PlanRun:
    """Init every stack one after the other (the shared plugin cache is not safe for concurrent installs),
    then plan them in parallel; a failure is recorded for its stack and the others still run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    run = PlanRun()
    ready = []
    for stack in stacks:
        try:
            terraform.init(stack, env)
            ready.append(stack)
        except terraform.TerraformError as error:
            run.errors[stack.name] = str(error)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {stack.name: pool.submit(plan_stack, stack, out_dir, env) for stack in ready}
    planned = {}
    for name, future in futures.items():
        try:
            planned[name] = future.result()
        except (terraform.TerraformError, json.JSONDecodeError) as error:
            run.errors[name] = str(error)
    # Keep the configuration's order (targets, then home) whatever finished first.
    run.stacks = [planned[s.name] for s in stacks if s.name in planned]
    return run


def suppressions_of(stacks: Iterable[Path]) -> dict[str, tuple[policy_checks.Suppression, ...]]:
    """The policy-check suppressions each synthesized stack's `cdk.tf.json` records, by stack name."""
    found = {}
    for stack in stacks:
        try:
            document = json.loads((stack / "cdk.tf.json").read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise terraform.TerraformError(f"cannot read the suppressions of {stack.name}: {error}") from error
        found[stack.name] = tuple(policy_checks.suppressions(document))
    return found


def run_url() -> str | None:
    """Link to the GitHub Actions run, whose artifacts hold the full report; None outside Actions."""
    parts = [os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 1: its default, 2, would read as "changes"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _parser(prog: str) -> _Parser:
    parser = _Parser(
        prog=prog,
        description="Plan every stack and render one Markdown report for review in a pull request.",
        epilog="Exit status, like terraform plan -detailed-exitcode: 0 no changes in any stack, 2 changes in "
        "at least one stack, 1 an error (a stack that failed to plan, synthesis, configuration or usage).",
    )
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="stack names (default: every stack of RELAY_ENV)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="where plans and reports go (default: <state root>/plans/<env>, see RELAY_STATE_DIR)",
    )
    parser.add_argument("--no-synth", action="store_true", help="plan the stacks already in cdktf.out")
    parser.add_argument(
        "--max-chars",
        type=int,
        default=render.COMMENT_LIMIT,
        metavar="N",
        help="size limit of comment.md (default %(default)s)",
    )
    parser.add_argument(
        "--jobs", type=int, default=4, metavar="N", help="stacks planned in parallel (default %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None, *, prog: str = PROG) -> int:
    """Run the command with `argv` (default: the process's arguments) and return its exit status;
    `prog` is how usage and error messages name the command."""
    parser = _parser(prog)
    options = parser.parse_args(argv)
    counts = (("--max-chars", options.max_chars), ("--jobs", options.jobs))
    problems = [f"{flag} must be at least 1, got {value}" for flag, value in counts if value < 1]
    if problems:
        parser.error("; ".join(problems))

    # Imported here: the configuration needs pydantic and the decisions boto3, which `--help` and usage
    # errors do not.
    from config import ConfigError, load_config
    from tools.delivery import rows
    from tools.deploy import stack_names

    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return EXIT_ERROR
    names = options.stacks or stack_names(config)
    out_dir = options.out_dir or paths.plans_dir(config.environment)
    title = f"Terraform plan: `{config.app}-{config.environment}`" + (" (emulator)" if config.emulator.enabled else "")
    try:
        # Terraform's set-up first: a machine that cannot install the provider fails in seconds, not
        # after the synthesis.
        env = terraform.environment()
        if not options.no_synth:
            synthesize()
        # Only this environment's stacks: cdktf.out may still hold stacks of another configuration.
        dirs = terraform.stack_dirs(names)
        suppressions = suppressions_of(dirs)
        run = plan_stacks(dirs, out_dir, env, jobs=options.jobs)
        run.suppressions = suppressions
    except terraform.TerraformError as error:
        run = PlanRun(errors={"(all stacks)": str(error)})
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "report.md"
    delivery = rows(config)
    suppressed = run.suppressions if run.suppressions else None
    report.write_text(
        render.report(run.stacks, errors=run.errors, title=title, delivery=delivery, suppressions=suppressed)
    )
    print(report)
    try:
        comment = render.comment(
            run.stacks,
            errors=run.errors,
            title=title,
            max_chars=options.max_chars,
            artifact_url=run_url(),
            delivery=delivery,
            suppressions=suppressed,
        )
    except ValueError as error:
        # A comment.md of an earlier run must not be posted as this run's.
        (out_dir / "comment.md").unlink(missing_ok=True)
        print(f"relay: comment.md not written: {error}; raise --max-chars", file=sys.stderr)
        return EXIT_ERROR
    (out_dir / "comment.md").write_text(comment)
    return exit_code(run.stacks, run.errors)
