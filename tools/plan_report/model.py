"""The analysed plan: what one stack's `terraform show -json` plan changes, per resource and region.

Reading a plan is pure (no Terraform, no network). The needs-attention findings are added by
`tools.plan_report.rules.analyse`, which is the one way to get a complete `StackPlan`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNKNOWN = "(known after apply)"
SENSITIVE = "(sensitive)"
COUNTED_ACTIONS = ("create", "update", "replace", "delete")
# Attributes naming a resource for a reader, in order of preference.
LABEL_ATTRIBUTES = ("bucket", "name", "rule", "description")


def action_of(actions: list[str]) -> str:
    """One word for Terraform's action list: create, update, replace, delete, read, no-op or forget."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return actions[0] if len(actions) == 1 else "+".join(actions)


def marked_unknown(marks: Any, key: str | int) -> bool:
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


def dig(value: Any, *path: str | int) -> Any:
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
        if after and marked_unknown(self.after_unknown, key):
            return UNKNOWN
        if _any_true(dig(self.sensitive, key)):
            return SENSITIVE
        return dig(self.after if after else self.before, key)

    @property
    def label(self) -> str:
        """The physical name of the resource, `old → new` when the change renames it."""
        current = self.after is not None
        if self.type == "aws_iam_role_policy":
            return f"{self.value('role', after=current)}:{self.value('name', after=current)}"
        state = self.after if current else self.before
        for key in LABEL_ATTRIBUTES:
            if (isinstance(state, dict) and key in state) or marked_unknown(self.after_unknown, key):
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
        unknown = [k for k in keys if marked_unknown(self.after_unknown, k)]
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

    rule: str
    """Name of the rule that found it (`tools.plan_report.rules.RULES`)."""
    group: str
    """The report section it is listed under (`tools.plan_report.rules.GROUPS`)."""
    stack: str
    region: str
    change: Change
    summary: str
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackPlan:
    """What one stack's plan changes, and what of it needs attention."""

    name: str
    region: str
    """The stack's own region (a target's from its name, home's from most of its resources)."""
    changes: tuple[Change, ...]
    """Managed resources whose action is not no-op, in the plan's order."""
    output_changes: tuple[str, ...]
    """Root outputs whose action is not no-op."""
    deployed: bool
    """Whether the stack was deployed before this plan (a first deployment creates every policy)."""
    plan: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The `terraform show -json` document this was read from."""
    findings: tuple[Finding, ...] = ()
    """What needs attention, in change order; filled in by `rules.analyse`."""

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
    for key, provider in (dig(plan, "configuration", "provider_config") or {}).items():
        region = dig(provider, "expressions", "region", "constant_value")
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
        for key in _resource_providers(dig(plan, "configuration", "root_module") or {}).values()
        if regions.get(key)
    )
    return used.most_common(1)[0][0] if used else next(iter(regions.values()), "")


def read_plan(name: str, plan: Mapping[str, Any]) -> StackPlan:
    """The changes of one stack from its `terraform show -json` plan, without findings."""
    region = stack_region(name, plan)
    provider_regions = _provider_regions(plan)
    providers = _resource_providers(dig(plan, "configuration", "root_module") or {})
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
    outputs = tuple(key for key, out in (plan.get("output_changes") or {}).items() if out["actions"] != ["no-op"])
    return StackPlan(name, region, tuple(changes), outputs, deployed=_has_state(plan), plan=plan)


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
    resources = dig(plan, "prior_state", "values", "root_module", "resources") or []
    return any(r.get("mode") == "managed" for r in resources)
