"""checkov on the synthesized stacks of every shipped environment: zero failed checks.

A check skipped in .checkov.yaml is skipped for every resource and carries its reason in a comment. A check
that does not fit one resource is suppressed for that resource only, next to its construct
(`policy_checks.suppress(resource, "CKV_...", reason)`, recorded in the resource's `"//"` of the JSON, where
checkov does not look): these tests accept the failure for that resource, and fail on a suppression that
suppresses nothing. The stacks are the unit session's (tests/conftest.py: one synthesis per configuration).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from config.paths import PROJECT_ROOT
from modules import policy_checks

CONFIG = PROJECT_ROOT / ".checkov.yaml"
ENVIRONMENTS = ["local", "prod"]
SKIP_ENTRY = re.compile(r"^\s*-\s*(?P<check>[^\s#]+)\s*(?:#\s*(?P<reason>.*?))?\s*$")


@dataclass(frozen=True)
class Failure:
    """One failed check of one resource."""

    stack: str
    resource: str
    """The resource's name in its stack (cdktf's logical id, unique in the stack)."""
    check: str
    title: str

    def describe(self, stacks: dict[str, dict]) -> str:
        """The failure with the resource's Terraform address and construct path."""
        resources = stacks.get(self.stack, {}).get("resource", {})
        found = [(rtype, items[self.resource]) for rtype, items in resources.items() if self.resource in items]
        where = self.resource
        if len(found) == 1:
            rtype, attributes = found[0]
            path = ((attributes.get("//") or {}).get("metadata") or {}).get("path", "")
            where = f"{rtype}.{self.resource} ({path})"
        return f"{self.stack}: {where}: {self.check} {self.title}"


def run_checkov(checkov: Path, stacks: Path) -> dict:
    """checkov's JSON report of every `<stack>/cdk.tf.json` under `stacks`, with the repository's configuration."""
    result = subprocess.run(
        [str(checkov), "--config-file", str(CONFIG), "--directory", str(stacks), "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
    )
    # checkov exits 1 when a check failed and 0 when none did; anything else is checkov failing.
    assert result.returncode in (0, 1), f"checkov exited {result.returncode}:\n{result.stderr}"
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "terraform_json", result.stdout[:2000]
    summary = report["summary"]
    # A run that read nothing would pass (checkov exits 0 when a directory is missing): make sure it checked.
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert summary["passed"] > 0, summary
    return report


def failures(report: dict) -> list[Failure]:
    return [
        Failure(Path(f["file_path"]).parent.name, f["resource"].rsplit(".", 1)[-1], f["check_id"], f["check_name"])
        for f in report["results"]["failed_checks"]
    ]


def resource_suppressions(stacks: dict[str, dict]) -> dict[tuple[str, str], set[str]]:
    """(stack, resource name) -> the checkov checks suppressed for that resource."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, stack in stacks.items():
        for suppression in policy_checks.suppressions(stack):
            if policy_checks.CHECKOV_CHECK.match(suppression.rule):
                found[(name, suppression.address.split(".", 1)[1])].add(suppression.rule)
    return found


def problems(report: dict, stacks: dict[str, dict]) -> tuple[list[str], list[str]]:
    """The failed checks no suppression of their resource covers, and the suppressions that cover no failure."""
    suppressed = resource_suppressions(stacks)
    found = failures(report)
    unsuppressed = [f.describe(stacks) for f in found if f.check not in suppressed.get((f.stack, f.resource), set())]
    failed = {(f.stack, f.resource, f.check) for f in found}
    stale = [
        f"{stack}: {resource}: the suppression of {check} suppresses no failed check; remove it"
        for (stack, resource), checks in sorted(suppressed.items())
        for check in sorted(checks)
        if (stack, resource, check) not in failed
    ]
    return unsuppressed, stale


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_checkov_finds_nothing_unsuppressed_in_the_shipped_stacks(environment, request, checkov):
    synth = request.getfixturevalue(environment)
    report = run_checkov(checkov, synth.outdir / "stacks")
    assert {Path(r["file_path"]).parent.name for r in report["results"]["passed_checks"]} == set(synth.stacks)
    unsuppressed, stale = problems(report, {name: synth.stack(name) for name in synth.stacks})
    assert not unsuppressed + stale, (
        f"checkov ({report['summary']['passed']} passed) on the `{environment}` stacks: "
        f"{len(unsuppressed)} failed check(s) not suppressed, {len(stale)} stale suppression(s). Fix the stack, or "
        'suppress the check next to the construct with policy_checks.suppress(resource, "CKV_...", reason), or, '
        "for a check that fits no resource of this app, skip it in .checkov.yaml with the reason:\n"
        + "\n".join(unsuppressed + stale)
    )


def skip_entries() -> list[tuple[str, str]]:
    """(check id, reason in its comment) of each `skip-check` entry of .checkov.yaml."""
    entries, inside = [], False
    for line in CONFIG.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.startswith("skip-check:")
            continue
        match = SKIP_ENTRY.match(line)
        if inside and match:
            entries.append((match["check"], match["reason"] or ""))
    return entries


def test_every_skipped_check_has_a_reason():
    config = yaml.safe_load(CONFIG.read_text())
    entries = skip_entries()
    assert [check for check, _ in entries] == config["skip-check"], "one entry per line: `- CKV_...  # reason`"
    problems = [
        f"{check}: {'not a checkov check id' if not policy_checks.CHECKOV_CHECK.match(check) else 'no reason'}"
        for check, reason in entries
        if not policy_checks.CHECKOV_CHECK.match(check) or len(reason) < policy_checks.MIN_REASON_LENGTH
    ]
    assert not problems, f"every skipped check needs a comment of at least 20 characters saying why: {problems}"
    assert len(set(config["skip-check"])) == len(entries)


def test_checks_run_offline_on_the_terraform_json_only():
    config = yaml.safe_load(CONFIG.read_text())
    assert config["framework"] == ["terraform_json"]
    assert config["skip-download"] is True
    # Nothing may turn failures into passes behind the tests' back.
    assert not {"soft-fail", "soft-fail-on", "skip-path", "skip-resources-without-violations"} & set(config)


def weakened_home(local, directory: Path) -> tuple[str, str, dict]:
    """Home's stack with its release bucket's default encryption removed, written under `directory`; its
    name, the release bucket's name and the stack."""
    name = local.home
    stack = local.stack(name)
    buckets = stack["resource"]["aws_s3_bucket"]
    (release,) = [key for key, bucket in buckets.items() if (bucket.get("tags") or {}).get("relay:role") == "release"]
    encryption = stack["resource"]["aws_s3_bucket_server_side_encryption_configuration"]
    removed = [key for key, sse in encryption.items() if sse["bucket"] == f"${{aws_s3_bucket.{release}.id}}"]
    assert len(removed) == 1
    del encryption[removed[0]]
    (directory / name).mkdir()
    (directory / name / "cdk.tf.json").write_text(json.dumps(stack))
    return name, release, stack


def test_a_weakened_stack_fails_checkov_and_the_policy_checks(local, checkov, tmp_path):
    """The release bucket of home without its default encryption: both gates name it."""
    name, release, stack = weakened_home(local, tmp_path)
    report = run_checkov(checkov, tmp_path)
    unsuppressed, _ = problems(report, {name: stack})
    assert [p for p in unsuppressed if f"aws_s3_bucket.{release} " in p and ": CKV_AWS_145 " in p], unsuppressed
    messages = [v.message for v in policy_checks.check(name, stack)]
    assert [m for m in messages if f"aws_s3_bucket.{release} " in m and ": customer-key: " in m], messages


def test_a_suppression_covers_its_check_on_its_resource_only_and_must_cover_a_failure(local, checkov, tmp_path):
    name, release, stack = weakened_home(local, tmp_path)
    comment = stack["resource"]["aws_s3_bucket"][release].setdefault("//", {})
    comment["relay_suppressions"] = [
        {"rule": "CKV_AWS_145", "reason": "this test removed the bucket's encryption"},
        {"rule": "CKV_AWS_21", "reason": "versioning is on, so this suppresses nothing"},
    ]
    report = run_checkov(checkov, tmp_path)
    unsuppressed, stale = problems(report, {name: stack})
    assert not [p for p in unsuppressed if f"aws_s3_bucket.{release} " in p and ": CKV_AWS_145 " in p], unsuppressed
    assert stale == [f"{name}: {release}: the suppression of CKV_AWS_21 suppresses no failed check; remove it"]
