"""The needs-attention rules: each one a small function in a registry.

A rule is a generator registered with `@rule(group, types)`: it receives one resource change of one of
`types` and the stack it belongs to, and yields a `Flag` for each thing a reviewer must look at. Its
name is the function's name and its description the first paragraph of its docstring. `analyse` reads
a plan and runs every rule on every change; the report lists a group's findings in change order, and
those of one change in registration order. Adding a rule is adding one decorated function here (and
its line in docs/plan-review.md).
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tools.plan_report.model import (
    SENSITIVE,
    UNKNOWN,
    Change,
    Finding,
    StackPlan,
    dig,
    marked_unknown,
    read_plan,
)

# Report sections, in report order: every rule belongs to one.
GROUPS = {
    "stateful": "Destroyed or replaced stateful resources",
    "iam": "IAM policy changes",
    "replication": "Replication rule changes",
    "weakened": "Weakened security settings",
}

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


@dataclass(frozen=True)
class Flag:
    """What a rule says about one change: a one-line summary and optional detail lines (a diff)."""

    summary: str
    detail: tuple[str, ...] = ()


Check = Callable[[Change, StackPlan], Iterable[Flag]]


@dataclass(frozen=True)
class Rule:
    """One registered needs-attention rule."""

    name: str
    group: str
    """Key of `GROUPS`: the report section its findings are listed under."""
    types: frozenset[str]
    """Resource types it looks at; it is called only for changes of these."""
    description: str
    check: Check


RULES: list[Rule] = []
"""Every rule, in registration order."""


def rule(group: str, types: Collection[str]) -> Callable[[Check], Check]:
    """Register the decorated function as a rule of `group` for changes of `types`."""

    def register(check: Check) -> Check:
        name = check.__name__
        description = (inspect.getdoc(check) or "").split("\n\n")[0].replace("\n", " ")
        problems = []
        if group not in GROUPS:
            problems.append(f"group {group!r} is not one of {', '.join(GROUPS)}")
        if not types:
            problems.append("it names no resource type")
        if not description:
            problems.append("it has no docstring (its first paragraph is the rule's description)")
        if any(r.name == name for r in RULES):
            problems.append("a rule of that name is already registered")
        if problems:
            raise ValueError(f"rule {name}: " + "; ".join(problems))
        RULES.append(Rule(name, group, frozenset(types), description, check))
        return check

    return register


def findings(stack: StackPlan) -> tuple[Finding, ...]:
    """Every finding of every rule on the stack's changes, in change order, then rule order."""
    return tuple(
        Finding(r.name, r.group, stack.name, change.region, change, flag.summary, flag.detail)
        for change in stack.changes
        for r in RULES
        if change.type in r.types
        for flag in r.check(change, stack)
    )


def analyse(name: str, plan: Mapping[str, Any]) -> StackPlan:
    """Changes and findings of one stack from its `terraform show -json` plan."""
    stack = read_plan(name, plan)
    return replace(stack, findings=findings(stack))


def plural(count: int, noun: str) -> str:
    """`1 statement`, `2 statements`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- rules, in report order


@rule("stateful", STATEFUL_TYPES)
def stateful_destroyed(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """A resource holding data or history, or found by name by other stacks, is destroyed or replaced
    (with the attributes that force the replacement)."""
    if change.action not in ("delete", "replace"):
        return
    order = "created, then destroyed" if change.actions[0] == "create" else "destroyed, then created"
    summary = "destroyed" if change.action == "delete" else f"replaced ({order})"
    if change.replace_paths:
        summary += "; forced by " + ", ".join(f"`{p}`" for p in change.replace_paths)
    yield Flag(summary)


@rule("iam", POLICY_ATTRIBUTES)
def policy_changed(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """A policy document is updated or replaced, or created in a stack that is already deployed: the
    statements added, removed and changed (by Sid) with a diff; a new spelling alone is no change."""
    if change.action in ("update", "replace") or (change.action == "create" and stack.deployed):
        flag = _policy_diff(change, POLICY_ATTRIBUTES[change.type])
        if flag:
            yield flag


@rule("replication", {REPLICATION_TYPE})
def replication_changed(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """Replication rules are added, removed or changed (by rule id, naming the fields that change)."""
    if change.action in ("update", "replace", "delete") or stack.deployed:
        flag = _replication_diff(change)
        if flag:
            yield flag


@rule("weakened", BUCKET_GUARDS)
def bucket_guard_removed(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """A bucket's encryption, versioning, Block Public Access or TLS-only policy resource is destroyed
    while the bucket stays."""
    if change.action != "delete" or change.before.get("bucket") in _deleted_buckets(stack):
        return
    if change.type == "aws_s3_bucket_policy" and not _has_tls_deny(change.before.get("policy")):
        return
    yield Flag(f"{BUCKET_GUARDS[change.type]} while the bucket stays")


@rule("weakened", {"aws_s3_bucket"})
def force_destroy_enabled(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """`force_destroy` false → true: destroying the bucket then deletes every object in it."""
    states = _kept(change)
    if states and states[0].get("force_destroy") is False and states[1].get("force_destroy") is True:
        yield Flag("`force_destroy` false → true: destroy deletes the bucket with every object in it")


@rule("weakened", {"aws_s3_bucket_public_access_block"})
def public_access_unblocked(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """A Block Public Access flag true → false."""
    for flag in PUBLIC_ACCESS_FLAGS:
        if _turned_off(change, flag):
            yield Flag(f"Block Public Access `{flag}` true → false")


@rule("weakened", {"aws_s3_bucket_versioning"})
def versioning_suspended(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """Versioning `Enabled` → `Suspended` (or `Disabled`)."""
    states = _kept(change)
    if not states:
        return
    old = dig(states[0], "versioning_configuration", 0, "status")
    new = dig(states[1], "versioning_configuration", 0, "status")
    if old == "Enabled" and new in ("Suspended", "Disabled"):
        yield Flag(f"versioning `{old}` → `{new}`")


@rule("weakened", {"aws_s3_bucket_server_side_encryption_configuration"})
def encryption_weakened(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """Default encryption moves away from `aws:kms`, no longer names a customer-managed KMS key, or
    turns the S3 Bucket Key off."""
    states = _kept(change)
    if not states:
        return
    unknown_rules = dig(change.after_unknown, "rule")
    for index, old in enumerate(states[0].get("rule") or []):
        if marked_unknown(unknown_rules, index):
            continue
        new = dig(states[1], "rule", index) or {}
        old_default = dig(old, "apply_server_side_encryption_by_default", 0) or {}
        new_default = dig(new, "apply_server_side_encryption_by_default", 0) or {}
        old_algorithm, new_algorithm = old_default.get("sse_algorithm"), new_default.get("sse_algorithm")
        if old_algorithm in KMS_ALGORITHMS and new_algorithm not in KMS_ALGORITHMS:
            yield Flag(f"default encryption `{old_algorithm}` → `{new_algorithm or 'none'}`")
        elif old_default.get("kms_master_key_id") and not new_default.get("kms_master_key_id"):
            yield Flag("default encryption no longer names a customer-managed KMS key (`kms_master_key_id`)")
        if old.get("bucket_key_enabled") is True and new.get("bucket_key_enabled") is False:
            yield Flag("S3 Bucket Key `bucket_key_enabled` true → false")


@rule("weakened", {"aws_s3_bucket_policy"})
def tls_deny_removed(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """A bucket policy no longer denies requests without TLS (`aws:SecureTransport`)."""
    states = _kept(change)
    if not states or change.value("policy", after=True) == UNKNOWN:
        return
    if _has_tls_deny(states[0].get("policy")) and not _has_tls_deny(states[1].get("policy")):
        yield Flag("bucket policy no longer denies requests without TLS (`aws:SecureTransport`)")


@rule("weakened", {"aws_kms_key"})
def key_rotation_disabled(change: Change, stack: StackPlan) -> Iterator[Flag]:
    """KMS key rotation `enable_key_rotation` true → false."""
    if _turned_off(change, "enable_key_rotation"):
        yield Flag("KMS key rotation `enable_key_rotation` true → false")


# --------------------------------------------------------------------------- helpers of the rules


def _kept(change: Change) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Before and after of a resource the change keeps (an update or a replacement), else None."""
    before, after = change.before, change.after
    if change.action == "delete" or not (isinstance(before, dict) and isinstance(after, dict)):
        return None
    return before, after


def _turned_off(change: Change, key: str) -> bool:
    """Whether a kept resource's boolean `key` goes from true to a known false."""
    states = _kept(change)
    return bool(
        states
        and states[0].get(key) is True
        and states[1].get(key) is False
        and not marked_unknown(change.after_unknown, key)
    )


def _deleted_buckets(stack: StackPlan) -> set[str]:
    """Names of the buckets the stack destroys or replaces (their settings go with them)."""
    return {
        c.before.get("bucket") for c in stack.changes if c.type == "aws_s3_bucket" and c.action in ("delete", "replace")
    }


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


def _policy_diff(change: Change, attribute: str) -> Flag | None:
    """The statements a policy change adds, removes and changes, with their diff; None if equal."""
    after = change.value(attribute, after=True)
    before = change.value(attribute, after=False) if change.before is not None else None
    if SENSITIVE in (before, after):
        return Flag(f"`{attribute}` changes (sensitive value)")
    if after == UNKNOWN:
        return Flag(f"`{attribute}` changes; the new document is {UNKNOWN}")
    old, new = _keyed(_statements(before)), _keyed(_statements(after))
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    modified = [k for k in new if k in old and _canonical(old[k]) != _canonical(new[k])]
    if not (added or removed or modified):
        return None
    parts = []
    for verb, keys in (("changed", modified), ("added", added), ("removed", removed)):
        if keys:
            parts.append(f"{plural(len(keys), 'statement')} {verb}: {', '.join(_name(k) for k in keys)}")
    detail: list[str] = []
    for key in modified:
        detail += [f"~ {key}", *_changed_lines(_pretty(old[key]), _pretty(new[key]))]
    for key in added:
        detail += [f"+ {key}", *(f"+ {line}" for line in _pretty(new[key]))]
    for key in removed:
        detail += [f"- {key}", *(f"- {line}" for line in _pretty(old[key]))]
    return Flag(f"`{attribute}`: " + "; ".join(parts), tuple(detail))


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


def _replication_diff(change: Change) -> Flag | None:
    """Each replication rule added, removed or changed, with its diff; None if the rules are equal."""
    after = change.value("rule", after=True) if change.after is not None else []
    if after == UNKNOWN:
        return Flag(f"replication rules change; the new rules are {UNKNOWN}")
    before = change.value("rule", after=False) if change.before is not None else []
    old = {rule.get("id") or json.dumps(rule, sort_keys=True): _normal(rule) for rule in before or []}
    new = {rule.get("id") or json.dumps(rule, sort_keys=True): _normal(rule) for rule in after or []}
    unknown_rules = {rid for index, rid in enumerate(new) if marked_unknown(dig(change.after_unknown, "rule"), index)}
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
    return Flag("; ".join(parts), tuple(detail)) if parts else None


def _has_tls_deny(policy: Any) -> bool:
    """Whether a bucket policy denies requests without TLS (a Deny on aws:SecureTransport = false)."""
    for statement in _statements(policy):
        condition = json.dumps(statement.get("Condition", {}))
        if statement.get("Effect") == "Deny" and "aws:SecureTransport" in condition:
            return True
    return False
