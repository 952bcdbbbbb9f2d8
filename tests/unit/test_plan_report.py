"""The plan report: golden reports of real plans recorded against the emulator, and the rules behind them.

Fixtures are `terraform show -json` plans in tests/golden/plan_report/fixtures/<scenario>/, recorded by
tests/golden/plan_report/regenerate.py. `pytest --update-golden` rewrites the golden Markdown files that
differ from what the fixtures render and fails those tests, so a rewrite never passes: review the diff,
then run the tests again without the option.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path

import pytest

from config import load_config
from modules import policy_checks
from tools import delivery
from tools.plan_report import (
    COMMENT_LIMIT,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_NO_CHANGES,
    GROUPS,
    MARKER,
    RULES,
    UNKNOWN,
    StackPlan,
    analyse,
    cli,
    exit_code,
    render,
    rules,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = PROJECT_ROOT / "tests" / "golden" / "plan_report"
WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "plan.yml"
DOCS = PROJECT_ROOT / "docs" / "plan-review.md"
SCENARIOS = ["create", "no_changes", "iam_policy", "force_destroy", "plan_error", "replace_bucket", "oversize"]
ARTIFACT_URL = "https://github.com/example-org/relay/actions/runs/1"
TITLE = "Terraform plan (recorded against the emulator)"


def load(scenario: str) -> dict[str, dict]:
    """A scenario's plans by stack name, in the recorded order (targets, then home)."""
    files = sorted((GOLDEN / "fixtures" / scenario).glob("*.json.gz"))
    assert files, f"no fixtures for {scenario}; run tests/golden/plan_report/regenerate.py"
    return {
        f.name.split("-", 1)[1].removesuffix(".json.gz"): json.loads(gzip.decompress(f.read_bytes())) for f in files
    }


@functools.cache
def stacks(scenario: str) -> tuple[StackPlan, ...]:
    """A scenario's plans, analysed (once per test session)."""
    return tuple(analyse(name, plan) for name, plan in load(scenario).items())


def errors(scenario: str) -> dict[str, str]:
    """Terraform's message of each stack that failed to plan in a scenario."""
    path = GOLDEN / "fixtures" / scenario / "errors.json"
    return json.loads(path.read_text()) if path.exists() else {}


def comment(scenario: str, **options) -> str:
    """The comment the workflow would post for a scenario."""
    options = {"title": TITLE, "max_chars": COMMENT_LIMIT, "artifact_url": ARTIFACT_URL, **options}
    return render.comment(stacks(scenario), errors=errors(scenario), **options)


def changes(scenario: str, type_: str, action: str) -> list:
    """Every change of one resource type and action in a scenario's plans."""
    return [c for s in stacks(scenario) for c in s.changes if c.type == type_ and c.action == action]


def section(report: str, heading: str) -> str:
    """Text of a `####` or `###` section, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}.*?\n(.*?)(?=^#+ |\Z)", report, re.S | re.M)
    assert match, f"no section {heading!r}"
    return match.group(1)


def assert_well_formed(report: str) -> None:
    """Every <details> closes after it opens, code fences pair up, and the report carries its marker."""
    depth = 0
    for tag in re.findall(r"</?details>", report):
        depth += 1 if tag == "<details>" else -1
        assert depth >= 0, "</details> before <details>"
    assert depth == 0, "unclosed <details>"
    assert len(re.findall(r"^\s*```", report, re.M)) % 2 == 0, "unpaired code fence"
    assert report.startswith(MARKER)


def plan_of(type_: str, before: dict | None, after: dict | None, *, actions=("update",), unknown=None, **change):
    """A minimal plan JSON with one managed resource change in a stack that already has state."""
    return {
        "resource_changes": [
            {
                "address": f"{type_}.x",
                "mode": "managed",
                "type": type_,
                "name": "x",
                "change": {"actions": list(actions), "before": before, "after": after, "after_unknown": unknown or {}}
                | change,
            }
        ],
        "prior_state": {"values": {"root_module": {"resources": [{"mode": "managed", "address": f"{type_}.x"}]}}},
    }


def findings(plan: dict, group: str | None = None) -> list[str]:
    stack = analyse("app-env-target-eu-south-2", plan)
    return [f.summary for f in stack.findings if group in (None, f.group)]


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- golden reports of real plans --------------------------------------------------------------


@pytest.fixture
def update_golden(request) -> bool:
    """Whether pytest runs with `--update-golden` (tests/conftest.py)."""
    return request.config.getoption("--update-golden")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_report_matches_golden_file(scenario, update_golden):
    report = comment(scenario)
    assert_well_formed(report)
    golden = GOLDEN / f"{scenario}.md"
    recorded = golden.read_text() if golden.exists() else None
    if update_golden and report != recorded:
        golden.write_text(report)
        pytest.fail(f"{golden} rewritten (--update-golden): review its diff, then run without the option")
    assert report == recorded, f"{golden.name} differs or is missing; `pytest --update-golden` rewrites it"


def test_first_deployment_creates_everything_and_flags_nothing():
    created = stacks("create")
    assert [s.region for s in created] == ["eu-south-2", "ap-southeast-4", "eu-west-1"]
    assert all(c.action == "create" for s in created for c in s.changes)
    assert not [f for s in created for f in s.findings]
    assert exit_code(created, {}) == EXIT_CHANGES
    assert "Nothing needs attention" in comment("create")


def test_no_changes_report_says_so_and_exits_0():
    unchanged = stacks("no_changes")
    assert not any(s.has_changes for s in unchanged)
    assert exit_code(unchanged, {}) == EXIT_NO_CHANGES
    report = comment("no_changes")
    assert "**No changes.**" in report
    assert report.count(": no changes</summary>") == 3


def test_replaced_bucket_needs_attention():
    report = comment("replace_bucket")
    stateful = section(report, "Destroyed or replaced stateful resources")
    bucket = "plandemo-local-release-eu-south-2"
    line = next(line for line in stateful.splitlines() if f"`{bucket} → acme-{bucket}`" in line)
    assert "**replace** `aws_s3_bucket." in line
    assert "forced by `bucket`" in line
    # Every bucket of every stack is renamed, so replaced: at least release and artifacts in three regions.
    replaced = changes("replace_bucket", "aws_s3_bucket", "replace")
    assert len(replaced) >= 6
    assert stateful.count("**replace** `aws_s3_bucket.") == len(replaced)


def test_replication_rule_changes_are_listed_per_rule():
    replication = section(comment("replace_bucket"), "Replication rule changes")
    assert "rule `release-to-eu-south-2` changed (destination)" in replication
    assert "rule `release-to-ap-southeast-4` changed (destination)" in replication


def test_iam_policy_change_shows_the_statements_that_change():
    iam = section(comment("iam_policy"), "IAM policy changes")
    assert iam.count("**update** `aws_iam_role_policy.") == 2  # the deploy role of each target region
    assert "1 statement changed: `ManageTheSampleParameter`" in iam
    assert "1 statement added: `ReadTheSampleQueue`" in iam
    assert '\n  +    "ssm:GetParameterHistory",' in iam
    assert '\n  +   "Sid": "ReadTheSampleQueue"' in iam


def test_force_destroy_turned_on_is_a_weakened_setting():
    weakened = section(comment("force_destroy"), "Weakened security settings")
    updated = changes("force_destroy", "aws_s3_bucket", "update")
    assert len(updated) >= 6
    assert weakened.count("`force_destroy` false → true") == len(updated)


def test_stack_that_failed_to_plan_is_reported_with_terraforms_error():
    home = "plandemo-local-home"
    report = comment("plan_error")
    assert f"| `{home}` |  | | | | | :x: plan failed |" in report
    failed = section(report, "Failed stacks")
    assert "Error: reading S3 Bucket (acme-plandemo-local-release-eu-south-2): couldn't find resource" in failed
    assert home not in load("plan_error")
    assert exit_code(stacks("plan_error"), errors("plan_error")) == EXIT_ERROR


def test_oversize_report_is_cut_to_the_limit_with_a_note():
    full = render.report(stacks("oversize"), title=TITLE)
    assert len(full) > COMMENT_LIMIT, "the oversize fixture no longer needs truncation; add regions"
    report = comment("oversize")
    assert len(report) <= COMMENT_LIMIT
    assert "Report truncated to fit one GitHub comment" in report
    assert f"[the workflow run's artifact]({ARTIFACT_URL})" in report
    assert_well_formed(report)
    # The summary keeps every stack even when tables are dropped.
    for name in load("oversize"):
        assert f"| `{name}` |" in report


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8, 0.99])
def test_truncation_keeps_whole_blocks_at_any_limit(fraction):
    limit = int(len(render.report(stacks("replace_bucket"), title=TITLE)) * fraction)
    report = comment("replace_bucket", max_chars=limit)
    assert len(report) <= limit
    assert_well_formed(report)
    assert "omitted" in report


def test_limit_below_the_summary_is_an_error():
    with pytest.raises(ValueError, match="too small"):
        comment("replace_bucket", max_chars=500)


SUPPRESSION = policy_checks.Suppression(
    "aws_iam_role.replication_role_this_BEE13F19",
    "replication/role/this",
    "trust-condition",
    "S3 sends no aws:SourceArn | a reason with a pipe",
)


def replay(scenario: str, monkeypatch) -> cli.PlanRun:
    """Make the command plan nothing and find a scenario's recorded plans instead; return them, with the
    suppressions the command reads from the synthesized stacks: one in the last stack."""
    recorded = cli.PlanRun(stacks=list(stacks(scenario)), errors=errors(scenario))
    monkeypatch.setenv("RELAY_ENV", "local")
    monkeypatch.delenv("RELAY_OVERRIDES", raising=False)
    monkeypatch.setattr(cli, "synthesize", lambda: None)
    monkeypatch.setattr(cli.terraform, "environment", dict)
    monkeypatch.setattr(cli.terraform, "stack_dirs", lambda names: names)
    suppressions = {name: () for name in [*(s.name for s in recorded.stacks), *recorded.errors]}
    suppressions[next(reversed(suppressions))] = (SUPPRESSION,)
    monkeypatch.setattr(cli, "suppressions_of", lambda dirs: suppressions)
    monkeypatch.setattr(cli, "plan_stacks", lambda stacks, out_dir, env, jobs: recorded)
    return cli.PlanRun(recorded.stacks, recorded.errors, suppressions)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("no_changes", EXIT_NO_CHANGES), ("iam_policy", EXIT_CHANGES), ("plan_error", EXIT_ERROR)],
)
def test_command_writes_both_reports_and_exits_like_detailed_exitcode(scenario, expected, tmp_path, monkeypatch):
    """The command's wiring, with Terraform replaced by a scenario's recorded plans."""
    recorded = replay(scenario, monkeypatch)
    assert cli.main(["--out-dir", str(tmp_path)]) == expected
    config = load_config(environ={"RELAY_ENV": "local"})
    assert (tmp_path / "report.md").read_text() == render.report(
        recorded.stacks,
        errors=recorded.errors,
        title="Terraform plan: `relay-local` (emulator)",
        delivery=delivery.rows(config),
        suppressions=recorded.suppressions,
    )
    assert (tmp_path / "comment.md").read_text().startswith(MARKER)
    assert "### Delivery" in (tmp_path / "comment.md").read_text()
    assert "### Policy check suppressions (1)" in (tmp_path / "comment.md").read_text()


MIXED = {"target_regions": ["eu-south-2", "eu-central-1", "ca-west-1"], "trigger": {"regions": None}}
"""One region of each strategy under `auto`: bespoke, native, remote."""


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            MIXED,
            [
                "relay-local-target-eu-south-2",
                "relay-local-target-eu-central-1",
                "relay-local-target-ca-west-1",
                "relay-local-home",
                "relay-local-replication",
                # the platform of the local environment: home's and each platform region's, then what home
                # replicates, then the peerings
                "relay-local-platform-eu-west-1",
                "relay-local-platform-eu-south-2",
                "relay-local-platform-eu-central-1",
                "relay-local-platform",
                "relay-local-peering-eu-south-2",
                "relay-local-peering-eu-central-1",
                # the edge's access log bucket, then the edge
                "relay-local-edge-logs",
                "relay-local-edge",
            ],
            id="a-stack-per-target-region-of-each-strategy",
        ),
        pytest.param(
            # Without eu-south-2, one of the local environment's platform regions: the platform is switched off.
            {
                "target_regions": ["eu-central-1", "ca-west-1"],
                "trigger": {"regions": None},
                "platform": {"enabled": False},
            },
            ["relay-local-target-eu-central-1", "relay-local-target-ca-west-1", "relay-local-home"],
            id="no-replication-stack-without-a-bespoke-region",
        ),
        pytest.param(
            # A remote region's stack holds its event forwarding and governance only: with both off it has none.
            {
                "target_regions": ["eu-central-1", "ca-west-1"],
                "trigger": {"regions": None},
                "platform": {"enabled": False},
                "observability": {"forward_events": False},
                "governance": {"config": {"enabled": False}, "security_hub": {"enabled": False}},
            },
            ["relay-local-target-eu-central-1", "relay-local-home"],
            id="no-stack-for-a-remote-region-without-forwarding-or-governance",
        ),
    ],
)
def test_command_plans_the_stacks_each_regions_strategy_has(overrides, expected, tmp_path, monkeypatch):
    replay("no_changes", monkeypatch)
    monkeypatch.setenv("RELAY_OVERRIDES", json.dumps(overrides))
    planned = []
    monkeypatch.setattr(cli.terraform, "stack_dirs", lambda names: planned.extend(names) or names)
    cli.main(["--out-dir", str(tmp_path)])
    assert planned == expected


def test_delivery_section_shows_every_region_of_the_environment():
    config = load_config(
        environ={
            "RELAY_ENV": "local",
            "RELAY_OVERRIDES": json.dumps(MIXED),
        }
    )
    report = render.report([], title=TITLE, delivery=delivery.rows(config))
    assert_well_formed(report)
    lines = section(report, "Delivery").strip().splitlines()
    assert lines[:3] == [
        "| region | role | strategy | requested | trigger | reason |",
        "|---|---|---|---|---|---|",
        "| eu-west-1 | home | - | - | - | the home pipeline: source (CodeConnections), build (CodeBuild) and the "
        "release bucket |",
    ]
    assert [line.split(" | ")[:5] for line in lines[3:]] == [
        ["| eu-south-2", "target", "bespoke", "auto", "eventbridge"],
        ["| eu-central-1", "target", "native", "auto", "-"],
        ["| ca-west-1", "target", "remote", "auto", "-"],
    ]
    # The summary and the delivery table are the head a cut comment always keeps.
    cut = render.comment(list(stacks("oversize")), title=TITLE, max_chars=6_000, delivery=delivery.rows(config))
    assert "| ca-west-1 | target | remote |" in cut and len(cut) <= 6_000


def test_without_rows_the_report_has_no_delivery_section():
    assert "### Delivery" not in render.report(list(stacks("no_changes")), title=TITLE)


def test_suppressions_section_lists_each_stacks_suppressions_with_their_reasons():
    scoped = policy_checks.Suppression("aws_iam_role_policy.p", "", "wildcard-resource-write", "x" * 20, ("A", "B"))
    report = render.report(
        list(stacks("no_changes")),
        title=TITLE,
        suppressions={"relay-local-home": (), "relay-local-replication": (SUPPRESSION, scoped)},
    )
    assert_well_formed(report)
    lines = section(report, "Policy check suppressions (2)").strip().splitlines()
    assert lines[1:] == [
        "",
        "| stack | resource | rule | reason |",
        "|---|---|---|---|",
        "| `relay-local-replication` | `aws_iam_role.replication_role_this_BEE13F19` (`replication/role/this`) | "
        "`trust-condition` | S3 sends no aws:SourceArn \\| a reason with a pipe |",
        "| `relay-local-replication` | `aws_iam_role_policy.p` | `wildcard-resource-write` (statements A, B) | "
        + "x" * 20
        + " |",
    ]
    # Like the summary, the suppressions are never cut from the comment.
    cut = render.comment(list(stacks("oversize")), title=TITLE, max_chars=6_000, suppressions={"s": (SUPPRESSION,)})
    assert "S3 sends no aws:SourceArn" in cut and len(cut) <= 6_000


def test_suppressions_section_says_when_nothing_is_suppressed_and_is_absent_without_suppressions():
    report = render.report(list(stacks("no_changes")), title=TITLE, suppressions={"relay-local-home": ()})
    assert section(report, "Policy check suppressions (0)").strip() == (
        "No resource of any stack is exempt from a rule of `modules/policy_checks.py`."
    )
    assert "Policy check suppressions" not in render.report(list(stacks("no_changes")), title=TITLE)


def test_command_reads_the_suppressions_from_each_synthesized_stack(tmp_path):
    reason = "the trust needs no condition in this test"
    role = {"//": {"metadata": {"path": "relay-local-replication/role/this"}, "relay_suppressions": []}}
    role["//"]["relay_suppressions"].append({"rule": "trust-condition", "reason": reason})
    documents = {
        "relay-local-home": {"resource": {}},
        "relay-local-replication": {"resource": {"aws_iam_role": {"r": role}}},
    }
    for name, document in documents.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "cdk.tf.json").write_text(json.dumps(document))
    assert cli.suppressions_of([tmp_path / name for name in documents]) == {
        "relay-local-home": (),
        "relay-local-replication": (
            policy_checks.Suppression("aws_iam_role.r", "role/this", "trust-condition", reason),
        ),
    }
    (tmp_path / "relay-local-home" / "cdk.tf.json").write_text("{")
    with pytest.raises(cli.terraform.TerraformError, match="cannot read the suppressions of relay-local-home"):
        cli.suppressions_of([tmp_path / "relay-local-home"])


def test_command_with_a_limit_below_the_summary_writes_no_comment_and_exits_1(tmp_path, monkeypatch, capsys):
    replay("iam_policy", monkeypatch)
    (tmp_path / "comment.md").write_text("an earlier run's comment")
    assert cli.main(["--out-dir", str(tmp_path), "--max-chars", "500"]) == EXIT_ERROR
    assert (tmp_path / "report.md").read_text().startswith(MARKER)
    assert not (tmp_path / "comment.md").exists()
    assert "max_chars=500 is too small" in capsys.readouterr().err


def test_command_usage_errors_exit_1_naming_every_problem(capsys):
    # argparse's own status for usage errors, 2, is the command's "changes".
    with pytest.raises(SystemExit) as exited:
        cli.main(["--jobs", "0", "--max-chars", "-1"])
    assert exited.value.code == EXIT_ERROR
    assert "--max-chars must be at least 1, got -1; --jobs must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["--no-such-option"])
    assert exited.value.code == EXIT_ERROR


# --- rules on small plans ----------------------------------------------------------------------


def test_exit_code_mapping():
    unchanged = analyse("s", {"resource_changes": []})
    changed = analyse("s", plan_of("aws_s3_bucket", {"bucket": "a"}, {"bucket": "a", "tags": {"x": "y"}}))
    assert exit_code([unchanged], {}) == EXIT_NO_CHANGES
    assert exit_code([unchanged, changed], {}) == EXIT_CHANGES
    assert exit_code([changed], {"other": "boom"}) == EXIT_ERROR


def test_output_only_change_counts_as_a_change():
    plan = {"resource_changes": [], "output_changes": {"bucket": {"actions": ["update"]}}}
    assert analyse("s", plan).has_changes


def test_failed_stack_is_named_with_its_error():
    report = render.report([], errors={"app-env-target-eu-south-2": "Error: No valid credential sources found"})
    assert "| `app-env-target-eu-south-2` | eu-south-2 | | | | | :x: plan failed |" in report
    assert "No valid credential sources found" in section(report, "Failed stacks")


def test_data_source_reads_are_not_changes():
    plan = plan_of("aws_s3_bucket", None, {"bucket": "a"}, actions=("read",))
    plan["resource_changes"][0]["mode"] = "data"
    assert not analyse("s", plan).has_changes


def test_unknown_policy_is_shown_as_known_after_apply():
    plan = plan_of("aws_iam_role_policy", {"policy": policy({"Sid": "A"})}, {"policy": None}, unknown={"policy": True})
    assert findings(plan, "iam") == [f"`policy` changes; the new document is {UNKNOWN}"]


def test_statement_without_sid_changes_as_removed_and_added():
    before = {"policy": policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})}
    after = {"policy": policy({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"})}
    [summary] = findings(plan_of("aws_iam_role_policy", before, after), "iam")
    assert "1 statement added: a statement without Sid; 1 statement removed" in summary


def test_equivalent_policy_spelling_is_not_a_change():
    before = {"policy": policy({"Sid": "A", "Action": "s3:GetObject", "Resource": ["b", "a"]}), "tags": {}}
    after = {"policy": policy({"Resource": ["a", "b"], "Action": ["s3:GetObject"], "Sid": "A"}), "tags": {"k": "v"}}
    assert findings(plan_of("aws_iam_role_policy", before, after)) == []


def test_new_policy_in_a_deployed_stack_needs_attention():
    plan = plan_of("aws_iam_role_policy", None, {"policy": policy({"Sid": "New"})}, actions=("create",))
    assert findings(plan, "iam") == ["`policy`: 1 statement added: `New`"]


def test_sensitive_policy_is_never_printed():
    before, after = {"policy": policy({"Sid": "Secret"})}, {"policy": policy({"Sid": "Other"})}
    plan = plan_of("aws_iam_role_policy", before, after, after_sensitive={"policy": True})
    assert findings(plan, "iam") == ["`policy` changes (sensitive value)"]


@pytest.mark.parametrize(
    ("type_", "before", "after", "expected"),
    [
        (
            "aws_s3_bucket_server_side_encryption_configuration",
            {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]},
            {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]},
            "default encryption `aws:kms` → `AES256`",
        ),
        (
            "aws_s3_bucket_server_side_encryption_configuration",
            {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": "arn:aws:kms:eu-south-2:1:key/k"}
                        ],
                        "bucket_key_enabled": True,
                    }
                ]
            },
            {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": ""}
                        ],
                        "bucket_key_enabled": False,
                    }
                ]
            },
            "default encryption no longer names a customer-managed KMS key (`kms_master_key_id`)",
        ),
        (
            "aws_s3_bucket_public_access_block",
            {"block_public_acls": True, "block_public_policy": True},
            {"block_public_acls": True, "block_public_policy": False},
            "Block Public Access `block_public_policy` true → false",
        ),
        (
            "aws_s3_bucket_versioning",
            {"versioning_configuration": [{"status": "Enabled"}]},
            {"versioning_configuration": [{"status": "Suspended"}]},
            "versioning `Enabled` → `Suspended`",
        ),
        (
            "aws_s3_bucket_policy",
            {"policy": policy({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})},
            {"policy": policy({"Sid": "Other", "Effect": "Allow"})},
            "bucket policy no longer denies requests without TLS (`aws:SecureTransport`)",
        ),
        (
            "aws_kms_key",
            {"enable_key_rotation": True},
            {"enable_key_rotation": False},
            "KMS key rotation `enable_key_rotation` true → false",
        ),
    ],
)
def test_weakened_settings(type_, before, after, expected):
    assert expected in findings(plan_of(type_, before, after), "weakened")


def test_bucket_key_disabled_is_weakened():
    rule = {"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}], "bucket_key_enabled": True}
    plan = plan_of(
        "aws_s3_bucket_server_side_encryption_configuration",
        {"rule": [rule]},
        {"rule": [rule | {"bucket_key_enabled": False}]},
    )
    assert findings(plan, "weakened") == ["S3 Bucket Key `bucket_key_enabled` true → false"]


def test_strengthened_settings_are_not_flagged():
    before = {"block_public_acls": False, "block_public_policy": False}
    after = {"block_public_acls": True, "block_public_policy": True}
    assert findings(plan_of("aws_s3_bucket_public_access_block", before, after)) == []


def test_guard_removed_while_the_bucket_stays_is_weakened_but_not_with_the_bucket():
    guard = plan_of("aws_s3_bucket_public_access_block", {"bucket": "b"}, None, actions=("delete",))
    assert findings(guard, "weakened") == ["Block Public Access removed while the bucket stays"]
    bucket = plan_of("aws_s3_bucket", {"bucket": "b"}, None, actions=("delete",))
    both = {"resource_changes": bucket["resource_changes"] + guard["resource_changes"]}
    assert findings(both) == ["destroyed"]


def test_destroyed_stateful_resource_needs_attention():
    plan = plan_of("aws_kms_key", {"description": "k"}, None, actions=("delete",))
    assert findings(plan, "stateful") == ["destroyed"]
    assert findings(plan_of("aws_iam_role", {"name": "r"}, None, actions=("delete",))) == []


# --- the rule registry -------------------------------------------------------------------------


def first_deployment(plan: dict) -> dict:
    """The same plan in a stack that has no state yet."""
    return {key: value for key, value in plan.items() if key != "prior_state"}


def versioning(status: str) -> dict:
    return {"versioning_configuration": [{"status": status}]}


REPLICATION = "aws_s3_bucket_replication_configuration"
TLS_DENY = {"Sid": "DenyWithoutTls", "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
REPLICATION_RULE = {"id": "to-eu-south-2", "status": "Enabled", "destination": [{"bucket": "arn:aws:s3:::a"}]}
KMS_DEFAULT = {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}
AES_DEFAULT = {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}

# Per rule: a plan it flags, and a close plan it must not flag.
RULE_CASES = {
    "stateful_destroyed": (
        plan_of("aws_s3_bucket", {"bucket": "b"}, {"bucket": "c"}, actions=("delete", "create")),
        plan_of("aws_s3_bucket", {"bucket": "b"}, {"bucket": "b", "tags": {"k": "v"}}),
    ),
    "policy_changed": (
        plan_of("aws_iam_role_policy", None, {"policy": policy({"Sid": "New"})}, actions=("create",)),
        first_deployment(plan_of("aws_iam_role_policy", None, {"policy": policy({"Sid": "New"})}, actions=("create",))),
    ),
    "replication_changed": (
        plan_of(REPLICATION, {"rule": []}, {"rule": [REPLICATION_RULE]}),
        first_deployment(plan_of(REPLICATION, None, {"rule": [REPLICATION_RULE]}, actions=("create",))),
    ),
    "bucket_guard_removed": (
        plan_of("aws_s3_bucket_policy", {"bucket": "b", "policy": policy(TLS_DENY)}, None, actions=("delete",)),
        plan_of("aws_s3_bucket_policy", {"bucket": "b", "policy": policy({"Sid": "Read"})}, None, actions=("delete",)),
    ),
    "force_destroy_enabled": (
        plan_of("aws_s3_bucket", {"force_destroy": False}, {"force_destroy": True}),
        plan_of("aws_s3_bucket", {"force_destroy": True}, {"force_destroy": False}),
    ),
    "public_access_unblocked": (
        plan_of("aws_s3_bucket_public_access_block", {"ignore_public_acls": True}, {"ignore_public_acls": False}),
        plan_of("aws_s3_bucket_public_access_block", {"ignore_public_acls": False}, {"ignore_public_acls": True}),
    ),
    "versioning_suspended": (
        plan_of("aws_s3_bucket_versioning", versioning("Enabled"), versioning("Suspended")),
        plan_of("aws_s3_bucket_versioning", versioning("Suspended"), versioning("Enabled")),
    ),
    "encryption_weakened": (
        plan_of("aws_s3_bucket_server_side_encryption_configuration", KMS_DEFAULT, AES_DEFAULT),
        plan_of("aws_s3_bucket_server_side_encryption_configuration", AES_DEFAULT, KMS_DEFAULT),
    ),
    "tls_deny_removed": (
        plan_of("aws_s3_bucket_policy", {"policy": policy(TLS_DENY)}, {"policy": policy({"Sid": "Read"})}),
        plan_of("aws_s3_bucket_policy", {"policy": policy(TLS_DENY)}, {"policy": None}, unknown={"policy": True}),
    ),
    "key_rotation_disabled": (
        plan_of("aws_kms_key", {"enable_key_rotation": True}, {"enable_key_rotation": False}),
        plan_of("aws_kms_key", {"enable_key_rotation": True}, {}, unknown={"enable_key_rotation": True}),
    ),
}


def fired(plan: dict) -> list[str]:
    """Names of the rules that flag the plan, once each."""
    return sorted({f.rule for f in analyse("app-env-target-eu-south-2", plan).findings})


def test_every_rule_has_a_case_a_group_and_a_description():
    assert [r.name for r in RULES] == list(RULE_CASES), "add the new rule to RULE_CASES (same order)"
    for registered in RULES:
        assert registered.group in GROUPS
        assert registered.description and registered.types


@pytest.mark.parametrize("name", list(RULE_CASES))
def test_rule_flags_its_case_and_not_the_close_one(name):
    flagged, unflagged = RULE_CASES[name]
    assert name in fired(flagged)
    assert name not in fired(unflagged)


def test_rule_is_asked_only_about_its_resource_types():
    # A bucket policy that would weaken TLS, but under a type no weakening rule names.
    plan = plan_of("aws_sqs_queue_policy", {"policy": policy(TLS_DENY)}, {"policy": policy({"Sid": "Read"})})
    assert fired(plan) == []


def test_a_broken_rule_is_refused_with_every_problem_at_once():
    def stateful_destroyed(change, stack):
        yield rules.Flag("never")

    before = list(RULES)
    with pytest.raises(ValueError) as refused:
        rules.rule("security", set())(stateful_destroyed)
    message = str(refused.value)
    assert "group 'security' is not one of stateful, iam, replication, weakened" in message
    assert "names no resource type" in message
    assert "no docstring" in message
    assert "already registered" in message
    assert before == RULES


def test_docs_describe_every_rule():
    text = DOCS.read_text()
    assert [r.name for r in RULES if f"`{r.name}`" not in text] == []


# --- the workflow ------------------------------------------------------------------------------


def test_workflow_posts_the_comment_with_oidc_and_no_credentials_for_forks():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the bare key `on` as the boolean true.
    assert "pull_request" in workflow[True]
    assert workflow["permissions"] == {"contents": "read"}
    plan = workflow["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert "head.repo.full_name == github.repository" in plan["if"]
    steps = {step.get("name"): step for step in plan["steps"]}
    credentials = next(
        s for s in plan["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_PLAN_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials["with"]
    assert MARKER in json.dumps(steps)


def test_workflow_is_present_even_without_yaml():
    text = WORKFLOW.read_text()
    assert "tox -e plan" in text
    assert MARKER in text
