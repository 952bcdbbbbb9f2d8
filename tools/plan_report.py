"""Plan every stack and render one Markdown report for review in a pull request.

    python -m tools.plan_report [--out-dir DIR] [--no-synth] [STACK ...]

Synthesizes (`python main.py`) unless `--no-synth`, then for each stack of the chosen environment runs
`terraform init` and `terraform plan -detailed-exitcode`, keeps `<stack>.tfplan` and its
`terraform show -json` output `<stack>.json` in the output directory (default `.relay/plans/<env>`), and
writes `report.md` (complete) and `comment.md` (the same report cut to fit one GitHub comment).

Exit code, like `terraform plan -detailed-exitcode`: 0 no changes in any stack, 2 changes in at least one
stack, 1 an error (the report names the stack that failed and Terraform's message).

Rendering is a pure function of the plan JSON (`render`), so it is tested on recorded plans without
Terraform; see docs/plan-review.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import terraform

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- relay-plan-report -->"
# GitHub rejects comments over 65,536 characters; the headroom absorbs what the workflow adds around it.
COMMENT_LIMIT = 65_000
EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"
# Longest Terraform error kept per failed stack: its last lines carry the cause.
ERROR_CHARS = 2_000

# Resources whose deletion loses data or history, or breaks what refers to them by name.
STATEFUL_TYPES = frozenset(
    {
        "aws_s3_bucket",
        "aws_s3_bucket_versioning",
        "aws_kms_key",
        "aws_kms_alias",
        "aws_cloudtrail",
        "aws_codepipeline",
        "aws_codebuild_project",
        "aws_cloudwatch_log_group",
    }
)
# The attribute holding a policy document, per resource type.
POLICY_ATTRIBUTES = {
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_iam_role": "assume_role_policy",
    "aws_s3_bucket_policy": "policy",
    "aws_kms_key": "policy",
}
REPLICATION_TYPE = "aws_s3_bucket_replication_configuration"
# Bucket settings whose removal alone (bucket kept) falls back to weaker defaults.
BUCKET_GUARDS = {
    "aws_s3_bucket_public_access_block": "Block Public Access removed",
    "aws_s3_bucket_server_side_encryption_configuration": "default encryption configuration removed",
    "aws_s3_bucket_versioning": "versioning configuration removed (versioning is suspended)",
    "aws_s3_bucket_policy": "bucket policy removed",
}
PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
# Attributes naming a resource for a reader, in order of preference.
LABEL_ATTRIBUTES = ("bucket", "name", "rule", "description")

ATTENTION_GROUPS = {
    "stateful": "Destroyed or replaced stateful resources",
    "iam": "IAM policy changes",
    "replication": "Replication rule changes",
    "weakened": "Weakened security settings",
}
COUNTED_ACTIONS = ("create", "update", "replace", "delete")
COUNT_HEADINGS = ("add", "change", "replace", "destroy")


# --------------------------------------------------------------------------- analysis


def action_of(actions: list[str]) -> str:
    """One word for Terraform's action list: create, update, replace, delete, read, no-op or forget."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def _unknown(marks: Any, key: str | int) -> bool:
    """Whether `after_unknown` (or a nested part of it) marks `key` as unknown anywhere inside."""
    try:
        mark = marks[key]
    except (KeyError, IndexError, TypeError):
        return False
    return _any_true(mark)


def _any_true(mark: Any) -> bool:
    if isinstance(mark, dict):
        return any(_any_true(v) for v in mark.values())
    if isinstance(mark, list):
        return any(_any_true(v) for v in mark)
    return mark is True


def _dig(value: Any, *path: str | int) -> Any:
    """`value[path...]`, or None where the path does not exist."""
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


@dataclass(frozen=True)
class Change:
    """One resource change with what a reader needs: action, region, name, what changes and why."""

    address: str
    type: str
    action: str
    actions: tuple[str, ...]
    region: str
    before: Any
    after: Any
    after_unknown: Any
    sensitive: Any
    replace_paths: tuple[str, ...]

    def value(self, key: str, *, after: bool) -> Any:
        """A top-level attribute before or after, UNKNOWN or SENSITIVE where Terraform cannot show it."""
        if after and _unknown(self.after_unknown, key):
            return UNKNOWN
        if _any_true(_dig(self.sensitive, key)):
            return SENSITIVE
        return _dig(self.after if after else self.before, key)

    @property
    def label(self) -> str:
        """The physical name of the resource, `old → new` when the change renames it."""
        current = self.after is not None
        if self.type == "aws_iam_role_policy":
            return f"{self.value('role', after=current)}:{self.value('name', after=current)}"
        state = self.after if current else self.before
        for key in LABEL_ATTRIBUTES:
            if (isinstance(state, dict) and key in state) or _unknown(self.after_unknown, key):
                name = self.value(key, after=current)
                previous = self.value(key, after=False) if current and self.before is not None else None
                return f"{previous} → {name}" if previous is not None and previous != name else str(name)
        return ""

    @property
    def changed_attributes(self) -> str:
        """Attributes an update or replacement changes (marking those that force replacement), then how
        many more are known only after apply: a replacement makes every computed attribute unknown."""
        if not (isinstance(self.before, dict) and isinstance(self.after, dict)):
            return ""
        forcing = set(self.replace_paths)
        keys = sorted(set(self.before) | set(self.after))
        unknown = [k for k in keys if _unknown(self.after_unknown, k)]
        # Terraform shows no difference between an absent and an empty collection (tags null -> {}).
        known = [k for k in keys if k not in unknown and (self.before.get(k) or None) != (self.after.get(k) or None)]
        shown = [k for k in keys if k in forcing or k in known]
        text = ", ".join(f"{k} (forces replacement)" if k in forcing else k for k in shown)
        more = len([k for k in unknown if k not in shown])
        return (
            f"{text} + {more} known after apply"
            if text and more
            else text or (f"{more} known after apply" if more else "")
        )


@dataclass(frozen=True)
class Finding:
    """Something a reviewer must look at, with optional detail lines (a diff) shown collapsed."""

    group: str
    stack: str
    region: str
    change: Change
    summary: str
    detail: tuple[str, ...] = ()


@dataclass
class StackPlan:
    """What one stack's plan changes, and what of it needs attention."""

    name: str
    region: str
    changes: list[Change]
    output_changes: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Number of resources per counted action (create, update, replace, delete)."""
        tally = Counter(c.action for c in self.changes)
        return {action: tally[action] for action in COUNTED_ACTIONS}

    @property
    def has_changes(self) -> bool:
        """Whether applying the plan would change anything, the rule of `terraform plan -detailed-exitcode`."""
        return bool(self.changes or self.output_changes)


def _provider_regions(plan: Mapping[str, Any]) -> dict[str, str]:
    """Region of each provider configuration key (e.g. `aws.eu_west_1` -> `eu-west-1`)."""
    regions = {}
    for key, provider in (_dig(plan, "configuration", "provider_config") or {}).items():
        region = _dig(provider, "expressions", "region", "constant_value")
        if isinstance(region, str):
            regions[key] = region
    return regions


def _resource_providers(module: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Provider configuration key of every resource address in a configuration module and its children."""
    keys = {f"{prefix}{r['address']}": r.get("provider_config_key", "") for r in module.get("resources", [])}
    for name, call in (module.get("module_calls") or {}).items():
        keys |= _resource_providers(call.get("module") or {}, f"{prefix}module.{name}.")
    return keys


def stack_region(name: str, plan: Mapping[str, Any]) -> str:
    """A target stack's region is in its name; otherwise the region most of the stack's resources use."""
    if "-target-" in name:
        return name.rsplit("-target-", 1)[1]
    regions = _provider_regions(plan)
    used = Counter(
        regions.get(key, "")
        for key in _resource_providers(_dig(plan, "configuration", "root_module") or {}).values()
        if regions.get(key)
    )
    return used.most_common(1)[0][0] if used else next(iter(regions.values()), "")


def analyse(name: str, plan: Mapping[str, Any]) -> StackPlan:
    """Changes and findings of one stack from its `terraform show -json` plan."""
    region = stack_region(name, plan)
    provider_regions = _provider_regions(plan)
    providers = _resource_providers(_dig(plan, "configuration", "root_module") or {})
    changes = []
    for item in plan.get("resource_changes") or []:
        action = action_of(item["change"]["actions"])
        # Data sources are reads, not changes; no-op resources are unchanged.
        if item.get("mode") != "managed" or action == "no-op":
            continue
        change = item["change"]
        config_address = item["address"].split("[", 1)[0]
        changes.append(
            Change(
                address=item["address"],
                type=item["type"],
                action=action,
                actions=tuple(change["actions"]),
                region=provider_regions.get(providers.get(config_address, ""), region),
                before=change.get("before"),
                after=change.get("after"),
                after_unknown=change.get("after_unknown") or {},
                sensitive=_merge_sensitive(change.get("before_sensitive"), change.get("after_sensitive")),
                replace_paths=tuple(str(path[0]) for path in change.get("replace_paths") or [] if path),
            )
        )
    outputs = [key for key, out in (plan.get("output_changes") or {}).items() if out["actions"] != ["no-op"]]
    stack = StackPlan(name, region, changes, outputs)
    stack.findings = list(_findings(stack, existing=_has_state(plan)))
    return stack


def _merge_sensitive(before: Any, after: Any) -> dict[str, Any]:
    """Top-level attributes marked sensitive before or after; a sensitive value is never printed."""
    merged: dict[str, Any] = {}
    for marks in (before, after):
        if isinstance(marks, dict):
            for key, mark in marks.items():
                merged[key] = merged.get(key) or mark
    return merged


def _has_state(plan: Mapping[str, Any]) -> bool:
    """Whether the stack was deployed before this plan (a first deployment creates every policy)."""
    resources = _dig(plan, "prior_state", "values", "root_module", "resources") or []
    return any(r.get("mode") == "managed" for r in resources)


def _findings(stack: StackPlan, *, existing: bool) -> Iterable[Finding]:
    deleted_buckets = {
        c.before.get("bucket") for c in stack.changes if c.type == "aws_s3_bucket" and c.action in ("delete", "replace")
    }
    for change in stack.changes:
        for group, summary, detail in _rules(change, existing=existing, deleted_buckets=deleted_buckets):
            yield Finding(group, stack.name, change.region, change, summary, tuple(detail))


def _rules(change: Change, *, existing: bool, deleted_buckets: set[str]) -> Iterable[tuple[str, str, list[str]]]:
    """(group, summary, detail lines) of every needs-attention rule the change matches."""
    action = change.action
    if change.type in STATEFUL_TYPES and action in ("delete", "replace"):
        order = "created, then destroyed" if change.actions[0] == "create" else "destroyed, then created"
        summary = "destroyed" if action == "delete" else f"replaced ({order})"
        if change.replace_paths:
            summary += "; forced by " + ", ".join(f"`{p}`" for p in change.replace_paths)
        yield "stateful", summary, []
    attribute = POLICY_ATTRIBUTES.get(change.type)
    if attribute and (action in ("update", "replace") or (action == "create" and existing)):
        diff = policy_diff(change, attribute)
        if diff:
            yield "iam", *diff
    if change.type == REPLICATION_TYPE and (action in ("update", "replace", "delete") or existing):
        diff = replication_diff(change)
        if diff:
            yield "replication", *diff
    for weakening in weakened(change, deleted_buckets):
        yield "weakened", weakening, []


def _statements(document: Any) -> list[dict[str, Any]]:
    """Statements of a policy document given as JSON text."""
    if not isinstance(document, str) or not document:
        return []
    try:
        statements = json.loads(document).get("Statement", [])
    except (ValueError, AttributeError):
        # Not a JSON object: compare the text as one opaque statement rather than fail the report.
        return [{"Document": document}]
    return statements if isinstance(statements, list) else [statements]


def _canonical(statement: Mapping[str, Any]) -> str:
    """Statement text that ignores key order and the string-or-list spelling of actions and resources."""
    normal = {
        key: sorted(value) if isinstance(value, list) else value
        for key, value in statement.items()
        if key not in ("Action", "NotAction", "Resource", "NotResource")
    }
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in statement:
            value = statement[key]
            normal[key] = sorted(value if isinstance(value, list) else [value])
    return json.dumps(normal, sort_keys=True)


def _keyed(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Statements by Sid, or by their content when they have none (then a change is a remove plus an add)."""
    keyed: dict[str, dict[str, Any]] = {}
    for statement in statements:
        sid = statement.get("Sid")
        key = f"Sid {sid}" if sid and f"Sid {sid}" not in keyed else f"statement {_canonical(statement)}"
        keyed[key] = statement
    return keyed


def _pretty(statement: Mapping[str, Any]) -> list[str]:
    return _json_lines(json.loads(_canonical(statement)))


def _name(key: str) -> str:
    """How a statement is named in a summary: its Sid, or 'a statement without Sid'."""
    return f"`{key[4:]}`" if key.startswith("Sid ") else "a statement without Sid"


def policy_diff(change: Change, attribute: str) -> tuple[str, list[str]] | None:
    """Summary and diff lines of the statements a policy change adds, removes and changes; None if equal."""
    after = change.value(attribute, after=True)
    before = change.value(attribute, after=False) if change.before is not None else None
    if SENSITIVE in (before, after):
        return f"`{attribute}` changes (sensitive value)", []
    if after == UNKNOWN:
        return f"`{attribute}` changes; the new document is {UNKNOWN}", []
    old, new = _keyed(_statements(before)), _keyed(_statements(after))
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    modified = [k for k in new if k in old and _canonical(old[k]) != _canonical(new[k])]
    if not (added or removed or modified):
        return None
    parts = []
    for verb, keys in (("changed", modified), ("added", added), ("removed", removed)):
        if keys:
            parts.append(f"{_plural(len(keys), 'statement')} {verb}: {', '.join(_name(k) for k in keys)}")
    detail: list[str] = []
    for key in modified:
        detail += [f"~ {key}", *_changed_lines(_pretty(old[key]), _pretty(new[key]))]
    for key in added:
        detail += [f"+ {key}", *(f"+ {line}" for line in _pretty(new[key]))]
    for key in removed:
        detail += [f"- {key}", *(f"- {line}" for line in _pretty(old[key]))]
    return f"`{attribute}`: " + "; ".join(parts), detail


def _normal(value: Any) -> Any:
    """`value` without empty strings, lists and maps: the provider reads back as "" what it was given as null."""
    if isinstance(value, dict):
        kept = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _json_lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True).splitlines()


def _changed_lines(old: list[str], new: list[str]) -> list[str]:
    """A unified diff's lines with one line of context, without the ---/+++ and @@ headers (the caller
    names what is compared; the context lines place each change)."""
    lines = difflib.unified_diff(old, new, lineterm="", n=1)
    return [line for line in lines if not line.startswith(("---", "+++", "@@"))]


def replication_diff(change: Change) -> tuple[str, list[str]] | None:
    """Summary and per-rule diff of a replication configuration change; None if the rules are equal."""
    after = change.value("rule", after=True) if change.after is not None else []
    if after == UNKNOWN:
        return f"replication rules change; the new rules are {UNKNOWN}", []
    before = change.value("rule", after=False) if change.before is not None else []
    old = {rule.get("id") or json.dumps(rule, sort_keys=True): _normal(rule) for rule in before or []}
    new = {rule.get("id") or json.dumps(rule, sort_keys=True): _normal(rule) for rule in after or []}
    unknown_rules = {rid for index, rid in enumerate(new) if _unknown(_dig(change.after_unknown, "rule"), index)}
    parts, detail = [], []
    for rid in new:
        if rid not in old:
            parts.append(f"rule `{rid}` added")
            detail += [f"+ rule {rid}", *(f"+ {line}" for line in _json_lines(new[rid]))]
        elif new[rid] != old[rid] or rid in unknown_rules:
            fields = sorted(k for k in set(old[rid]) | set(new[rid]) if old[rid].get(k) != new[rid].get(k))
            parts.append(f"rule `{rid}` changed ({', '.join(fields) or UNKNOWN})")
            detail += [f"~ rule {rid}", *_changed_lines(_json_lines(old[rid]), _json_lines(new[rid]))]
    for rid in old:
        if rid not in new:
            parts.append(f"rule `{rid}` removed")
            detail += [f"- rule {rid}", *(f"- {line}" for line in _json_lines(old[rid]))]
    return ("; ".join(parts), detail) if parts else None


def _has_tls_deny(policy: Any) -> bool:
    """Whether a bucket policy denies requests without TLS (a Deny on aws:SecureTransport = false)."""
    for statement in _statements(policy):
        condition = json.dumps(statement.get("Condition", {}))
        if statement.get("Effect") == "Deny" and "aws:SecureTransport" in condition:
            return True
    return False


def weakened(change: Change, deleted_buckets: set[str]) -> list[str]:
    """Descriptions of the security settings a change weakens; empty when it weakens none."""
    before, after = change.before, change.after
    if change.action == "delete":
        guard = BUCKET_GUARDS.get(change.type)
        if guard and before.get("bucket") not in deleted_buckets:
            if change.type != "aws_s3_bucket_policy" or _has_tls_deny(before.get("policy")):
                return [f"{guard} while the bucket stays"]
        return []
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return []
    found = []

    def turned_off(key: str) -> bool:
        return before.get(key) is True and after.get(key) is False and not _unknown(change.after_unknown, key)

    if change.type == "aws_s3_bucket" and before.get("force_destroy") is False and after.get("force_destroy") is True:
        found.append("`force_destroy` false → true: destroy deletes the bucket with every object in it")
    if change.type == "aws_s3_bucket_public_access_block":
        found += [f"Block Public Access `{flag}` true → false" for flag in PUBLIC_ACCESS_FLAGS if turned_off(flag)]
    if change.type == "aws_s3_bucket_versioning":
        old = _dig(before, "versioning_configuration", 0, "status")
        new = _dig(after, "versioning_configuration", 0, "status")
        if old == "Enabled" and new in ("Suspended", "Disabled"):
            found.append(f"versioning `{old}` → `{new}`")
    if change.type == "aws_s3_bucket_server_side_encryption_configuration":
        found += _weakened_encryption(change)
    if change.type == "aws_s3_bucket_policy" and change.value("policy", after=True) != UNKNOWN:
        if _has_tls_deny(before.get("policy")) and not _has_tls_deny(after.get("policy")):
            found.append("bucket policy no longer denies requests without TLS (`aws:SecureTransport`)")
    if change.type == "aws_kms_key" and turned_off("enable_key_rotation"):
        found.append("KMS key rotation `enable_key_rotation` true → false")
    return found


def _weakened_encryption(change: Change) -> list[str]:
    found = []
    unknown_rules = _dig(change.after_unknown, "rule")
    for index, old in enumerate(change.before.get("rule") or []):
        if _unknown(unknown_rules, index):
            continue
        new = _dig(change.after, "rule", index) or {}
        old_default = _dig(old, "apply_server_side_encryption_by_default", 0) or {}
        new_default = _dig(new, "apply_server_side_encryption_by_default", 0) or {}
        old_algorithm, new_algorithm = old_default.get("sse_algorithm"), new_default.get("sse_algorithm")
        if old_algorithm in KMS_ALGORITHMS and new_algorithm not in KMS_ALGORITHMS:
            found.append(f"default encryption `{old_algorithm}` → `{new_algorithm or 'none'}`")
        elif old_default.get("kms_master_key_id") and not new_default.get("kms_master_key_id"):
            found.append("default encryption no longer names a customer-managed KMS key (`kms_master_key_id`)")
        if old.get("bucket_key_enabled") is True and new.get("bucket_key_enabled") is False:
            found.append("S3 Bucket Key `bucket_key_enabled` true → false")
    return found


def exit_code(stacks: Iterable[StackPlan], errors: Mapping[str, str]) -> int:
    """1 if any stack failed, else 2 if any stack has changes, else 0 (`terraform plan -detailed-exitcode`)."""
    if errors:
        return EXIT_ERROR
    return EXIT_CHANGES if any(stack.has_changes for stack in stacks) else EXIT_NO_CHANGES


# --------------------------------------------------------------------------- rendering


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _counts_text(stack: StackPlan) -> str:
    counts = stack.counts
    text = ", ".join(f"{counts[a]} to {h}" for a, h in zip(COUNTED_ACTIONS, COUNT_HEADINGS, strict=True) if counts[a])
    return text or ("outputs only" if stack.output_changes else "no changes")


def _summary(stacks: list[StackPlan], errors: Mapping[str, str], order: list[str]) -> list[str]:
    changed = [s for s in stacks if s.has_changes]
    lines = []
    if not changed and not errors:
        lines.append(
            f"**No changes.** The infrastructure of {_plural(len(stacks), 'stack')} matches the configuration."
        )
    else:
        lines.append(
            f"**{_plural(len(order), 'stack')}:** {len(changed)} with changes, {len(stacks) - len(changed)} without, "
            f"{len(errors)} failed."
        )
    lines += [
        "",
        "| stack | region | add | change | replace | destroy | needs attention |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    by_name = {s.name: s for s in stacks}
    for name in order:
        if name in errors:
            lines.append(f"| `{name}` | {stack_region(name, {})} | | | | | :x: plan failed |")
            continue
        stack = by_name[name]
        counts = [str(stack.counts[a]) for a in COUNTED_ACTIONS]
        attention = f":warning: {len(stack.findings)}" if stack.findings else "0"
        lines.append(f"| `{name}` | {stack.region} | {' | '.join(counts)} | {attention} |")
    return lines


def _finding_block(finding: Finding, header: str | None) -> str:
    change = finding.change
    label = f" ({_cell(_code(change.label))})" if change.label else ""
    lines = ["", f"#### {header}", ""] if header else []
    lines.append(
        f"- `{finding.stack}` · {finding.region} · **{change.action}** `{change.address}`{label}: {finding.summary}"
    )
    if finding.detail:
        lines += ["", "  <details><summary>diff</summary>", "", "  ```diff"]
        lines += [f"  {line}".rstrip() for line in finding.detail]
        lines += ["  ```", "", "  </details>", ""]
    return "\n".join(lines) + "\n"


def _stack_block(stack: StackPlan) -> str:
    """The collapsed table of one stack's resource changes."""
    regions = {c.region for c in stack.changes}
    show_region = len(regions - {stack.region}) > 0
    lines = [f"<details><summary><code>{stack.name}</code> ({stack.region}): {_counts_text(stack)}</summary>", ""]
    if stack.changes:
        header = "| action | resource | name |" + (" region |" if show_region else "") + " changed attributes |"
        lines += [header, "|---" * header.count(" |") + "|"]
        for change in stack.changes:
            region = f" {change.region} |" if show_region else ""
            attributes = change.changed_attributes
            lines.append(
                f"| {change.action} | `{change.address}` | {_cell(_code(change.label))} |{region} {_cell(attributes)} |"
            )
    if stack.output_changes:
        lines += ["", "Outputs that change: " + ", ".join(f"`{o}`" for o in stack.output_changes)]
    if not stack.changes and not stack.output_changes:
        lines.append("No changes.")
    lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"


def _error_block(name: str, message: str) -> str:
    text = message.strip()
    if len(text) > ERROR_CHARS:
        text = "…" + text[-ERROR_CHARS:]
    body = "\n".join(f"  {line}".rstrip() for line in text.splitlines())
    return f"- `{name}`\n\n  ```text\n{body}\n  ```\n"


def _truncation_note(attention_left: int, tables_left: int, total_tables: int, artifact_url: str | None) -> str:
    where = f"[the workflow run's artifact]({artifact_url})" if artifact_url else "the workflow run's artifact"
    omitted = []
    if attention_left:
        omitted.append(_plural(attention_left, "needs-attention item"))
    if tables_left:
        omitted.append(f"the resource tables of {tables_left} of {total_tables} stacks")
    return (
        f"> [!WARNING]\n> Report truncated to fit one GitHub comment: {' and '.join(omitted)} omitted. "
        f"The full report is `report.md` in {where}.\n"
    )


def render(
    plans: Mapping[str, Mapping[str, Any]],
    *,
    errors: Mapping[str, str] | None = None,
    title: str = "Terraform plan",
    max_chars: int | None = None,
    artifact_url: str | None = None,
) -> str:
    """The Markdown report of every stack's plan (`terraform show -json`) and every stack that failed.

    Summary and needs-attention items come first, then one collapsed table per stack. With `max_chars`,
    items and tables are dropped from the end until the report, with a note saying what was left out
    and where the full report is, fits.
    """
    errors = dict(errors or {})
    stacks = [analyse(name, plan) for name, plan in plans.items()]
    order = list(plans) + [name for name in errors if name not in plans]
    findings = [f for s in stacks for f in s.findings]
    head = [MARKER, f"## {title}", "", *_summary(stacks, errors, order), ""]
    if errors:
        head += ["### Failed stacks", "", *(_error_block(name, errors[name]) for name in errors)]
    head += [f"### Needs attention ({len(findings)})", ""]
    if not findings:
        head.append("Nothing needs attention: no stateful resource is destroyed or replaced, no IAM policy or")
        head += ["replication rule changes, no encryption or public-access setting is weakened.", ""]
    attention = []
    for group, heading in ATTENTION_GROUPS.items():
        items = [f for f in findings if f.group == group]
        attention += [_finding_block(f, heading if i == 0 else None) for i, f in enumerate(items)]
    tables = [_stack_block(stack) for stack in stacks]
    tables_head = "### Resources per stack\n\n"
    head_text = "\n".join(head) + "\n"
    full = head_text + "".join(attention) + ("\n" + tables_head + "".join(tables) if tables else "")
    if max_chars is None or len(full) <= max_chars:
        return full
    # Reserve room for the longest note (everything omitted), then keep blocks in order while they fit.
    reserve = len(_truncation_note(len(attention), len(tables), len(tables), artifact_url)) + 1
    budget = max_chars - reserve - len(head_text)
    if budget < 0:
        raise ValueError(f"max_chars={max_chars} is too small even for the summary ({len(head_text)} characters)")
    kept: list[str] = []
    kept_attention = kept_tables = 0
    for block in attention:
        if len(block) > budget:
            break
        kept.append(block)
        budget -= len(block)
        kept_attention += 1
    if kept_attention == len(attention) and tables and budget > len(tables_head) + 1:
        kept.append("\n" + tables_head)
        budget -= len(tables_head) + 1
        for block in tables:
            if len(block) > budget:
                break
            kept.append(block)
            budget -= len(block)
            kept_tables += 1
    note = _truncation_note(len(attention) - kept_attention, len(tables) - kept_tables, len(tables), artifact_url)
    return head_text + note + "\n" + "".join(kept)


# --------------------------------------------------------------------------- running Terraform


@dataclass
class PlanRun:
    """Plans of the stacks that succeeded and the message of each stack that failed."""

    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def plan_stack(stack: Path, out_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """`terraform plan` one initialized stack into `<out_dir>/<stack>.tfplan`; save and return its JSON."""
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
    plan = json.loads(shown.stdout)
    if analyse(stack.name, plan).has_changes != (result.returncode == EXIT_CHANGES):
        # The report's rule for "changes" must agree with Terraform's; a mismatch is a bug here, not in Terraform.
        raise terraform.TerraformError(
            f"the plan JSON and terraform's exit code {result.returncode} disagree on whether there are changes"
        )
    return plan


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
    for name, future in futures.items():
        try:
            run.plans[name] = future.result()
        except (terraform.TerraformError, json.JSONDecodeError) as error:
            run.errors[name] = str(error)
    # Keep the configuration's order (targets, then home) whatever finished first.
    run.plans = {s.name: run.plans[s.name] for s in stacks if s.name in run.plans}
    return run


def synthesize() -> None:
    """`python main.py` with this interpreter, as `cdktf synth` would."""
    result = subprocess.run([sys.executable, "main.py"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if result.returncode:
        raise terraform.TerraformError(f"synthesis (python main.py) failed:\n{result.stderr or result.stdout}")


def run_url() -> str | None:
    """Link to the GitHub Actions run, whose artifacts hold the full report; None outside Actions."""
    parts = [os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stack names (default: every stack of the environment)")
    parser.add_argument("--out-dir", type=Path, help="where plans and reports go (default: .relay/plans/<env>)")
    parser.add_argument("--no-synth", action="store_true", help="plan the stacks already in cdktf.out")
    parser.add_argument("--max-chars", type=int, default=COMMENT_LIMIT, help="size limit of comment.md")
    parser.add_argument("--jobs", type=int, default=4, help="stacks planned in parallel (default 4)")
    options = parser.parse_args(argv)

    from config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return EXIT_ERROR
    names = options.stacks or [config.names.target_stack(r) for r in config.target_regions]
    names = names if options.stacks else [*names, config.names.home_stack()]
    out_dir = options.out_dir or PROJECT_ROOT / ".relay" / "plans" / config.environment
    title = f"Terraform plan: `{config.app}-{config.environment}`" + (" (emulator)" if config.emulator.enabled else "")
    try:
        if not options.no_synth:
            synthesize()
        # Only this environment's stacks: cdktf.out may still hold stacks of another configuration.
        run = plan_stacks(terraform.stack_dirs(names), out_dir, terraform.environment(), jobs=options.jobs)
    except terraform.TerraformError as error:
        run = PlanRun(errors={"(all stacks)": str(error)})
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "report.md"
    report.write_text(render(run.plans, errors=run.errors, title=title))
    comment = render(run.plans, errors=run.errors, title=title, max_chars=options.max_chars, artifact_url=run_url())
    (out_dir / "comment.md").write_text(comment)
    print(report)
    return exit_code([analyse(n, p) for n, p in run.plans.items()], run.errors)


if __name__ == "__main__":
    sys.exit(main())
