"""The Markdown report of analysed plans, complete or cut to fit one GitHub comment.

Rendering is a pure function of the analysed stacks (`rules.analyse`) and the failed stacks' messages:
it never reads a plan again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from tools.plan_report.model import COUNTED_ACTIONS, Finding, StackPlan, stack_region
from tools.plan_report.rules import GROUPS, plural

if TYPE_CHECKING:
    # Only the types: rows and suppressions come from the caller, and the report renders without the
    # configuration or the synthesized stacks.
    from modules.policy_checks import Suppression
    from tools.delivery import Row

MARKER = "<!-- relay-plan-report -->"
# GitHub rejects comments over 65,536 characters; the headroom absorbs what the workflow adds around it.
COMMENT_LIMIT = 65_000
# Longest Terraform error kept per failed stack: its last lines carry the cause.
ERROR_CHARS = 2_000
COUNT_HEADINGS = ("add", "change", "replace", "destroy")
TABLES_HEAD = "### Resources per stack\n\n"


def report(
    stacks: Sequence[StackPlan],
    *,
    errors: Mapping[str, str] | None = None,
    title: str = "Terraform plan",
    delivery: Sequence[Row] = (),
    suppressions: Mapping[str, Sequence[Suppression]] | None = None,
) -> str:
    """The complete report of every analysed stack and every stack that failed (name → Terraform's message).

    Summary, the delivery of each region (`tools.delivery.rows`; no section when empty), the policy-check
    suppressions of each stack (stack name → `modules.policy_checks.suppressions` of its synthesized JSON;
    no section when None) and needs-attention items come first, then one collapsed table per stack.
    """
    return _Blocks.of(stacks, errors or {}, title, delivery, suppressions).full


def comment(
    stacks: Sequence[StackPlan],
    *,
    errors: Mapping[str, str] | None = None,
    title: str = "Terraform plan",
    max_chars: int = COMMENT_LIMIT,
    artifact_url: str | None = None,
    delivery: Sequence[Row] = (),
    suppressions: Mapping[str, Sequence[Suppression]] | None = None,
) -> str:
    """The report, cut to at most `max_chars` characters for one GitHub comment.

    When the complete report is longer, needs-attention items and stack tables are dropped from the
    end, whole, and a note says what was left out and that the full report is in the workflow run's
    artifact (`artifact_url` links it); the summary, the delivery table and the suppressions are always
    kept. Raises ValueError when not even they fit.
    """
    blocks = _Blocks.of(stacks, errors or {}, title, delivery, suppressions)
    full = blocks.full
    if len(full) <= max_chars:
        return full
    attention, tables = blocks.attention, blocks.tables
    # Reserve room for the longest note (everything omitted), then keep blocks in order while they fit.
    reserve = len(_truncation_note(len(attention), len(tables), len(tables), artifact_url)) + 1
    budget = max_chars - reserve - len(blocks.head)
    if budget < 0:
        raise ValueError(f"max_chars={max_chars} is too small even for the summary ({len(blocks.head)} characters)")
    kept_attention, budget = _leading(attention, budget)
    body = "".join(kept_attention)
    kept_tables: list[str] = []
    if len(kept_attention) == len(attention) and tables and budget > len(TABLES_HEAD) + 1:
        kept_tables, budget = _leading(tables, budget - len(TABLES_HEAD) - 1)
        body += "\n" + TABLES_HEAD + "".join(kept_tables)
    left_attention, left_tables = len(attention) - len(kept_attention), len(tables) - len(kept_tables)
    return blocks.head + _truncation_note(left_attention, left_tables, len(tables), artifact_url) + "\n" + body


def _leading(blocks: Sequence[str], budget: int) -> tuple[list[str], int]:
    """The blocks from the first on that fit in `budget` characters together, and the budget left."""
    kept = []
    for block in blocks:
        if len(block) > budget:
            break
        kept.append(block)
        budget -= len(block)
    return kept, budget


@dataclass(frozen=True)
class _Blocks:
    """The report as the pieces truncation keeps or drops whole: the head, each item, each table."""

    head: str
    attention: tuple[str, ...]
    tables: tuple[str, ...]

    @classmethod
    def of(
        cls,
        stacks: Sequence[StackPlan],
        errors: Mapping[str, str],
        title: str,
        delivery: Sequence[Row],
        suppressions: Mapping[str, Sequence[Suppression]] | None,
    ) -> _Blocks:
        names = {s.name for s in stacks}
        order = [s.name for s in stacks] + [name for name in errors if name not in names]
        findings = [f for s in stacks for f in s.findings]
        head = [MARKER, f"## {title}", "", *_summary(stacks, errors, order), ""]
        if delivery:
            head += ["### Delivery", "", *delivery_table(delivery), ""]
        if suppressions is not None:
            head += [*suppressions_section(suppressions), ""]
        if errors:
            head += ["### Failed stacks", "", *(_error_block(name, errors[name]) for name in errors)]
        head += [f"### Needs attention ({len(findings)})", ""]
        if not findings:
            head.append("Nothing needs attention: no stateful resource is destroyed or replaced, no IAM policy or")
            head += ["replication rule changes, no encryption or public-access setting is weakened.", ""]
        attention = []
        for group, heading in GROUPS.items():
            items = [f for f in findings if f.group == group]
            attention += [_finding_block(f, heading if i == 0 else None) for i, f in enumerate(items)]
        return cls("\n".join(head) + "\n", tuple(attention), tuple(_stack_block(s) for s in stacks))

    @property
    def full(self) -> str:
        return self.head + "".join(self.attention) + ("\n" + TABLES_HEAD + "".join(self.tables) if self.tables else "")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _counts_text(stack: StackPlan) -> str:
    counts = stack.counts
    text = ", ".join(f"{counts[a]} to {h}" for a, h in zip(COUNTED_ACTIONS, COUNT_HEADINGS, strict=True) if counts[a])
    return text or ("outputs only" if stack.output_changes else "no changes")


def _summary(stacks: Sequence[StackPlan], errors: Mapping[str, str], order: list[str]) -> list[str]:
    changed = [s for s in stacks if s.has_changes]
    lines = []
    if not changed and not errors:
        lines.append(f"**No changes.** The infrastructure of {plural(len(stacks), 'stack')} matches the configuration.")
    else:
        lines.append(
            f"**{plural(len(order), 'stack')}:** {len(changed)} with changes, {len(stacks) - len(changed)} without, "
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


def delivery_table(rows: Sequence[Row]) -> list[str]:
    """How each region receives a release (`relay delivery`'s rows), as a Markdown table."""
    columns = [column.name for column in fields(rows[0])] if rows else []
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row.cells()) + " |" for row in rows]
    return lines


def suppressions_section(suppressions: Mapping[str, Sequence[Suppression]]) -> list[str]:
    """The policy checks switched off for a resource, per stack, each with its reason (reviewers approve
    them like any other change)."""
    rows = [(stack, s) for stack, items in suppressions.items() for s in items]
    lines = [f"### Policy check suppressions ({len(rows)})", ""]
    if not rows:
        return [*lines, "No resource of any stack is exempt from a rule of `modules/policy_checks.py`."]
    lines += [
        "Rules of `modules/policy_checks.py` switched off for one resource, next to its construct:",
        "",
        "| stack | resource | rule | reason |",
        "|---|---|---|---|",
    ]
    for stack, s in rows:
        resource = _code(s.address) + (f" ({_code(s.path)})" if s.path else "")
        rule = _code(s.rule) + (f" (statements {', '.join(s.statements)})" if s.statements else "")
        lines.append(f"| `{stack}` | {_cell(resource)} | {_cell(rule)} | {_cell(s.reason)} |")
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
        omitted.append(plural(attention_left, "needs-attention item"))
    if tables_left:
        omitted.append(f"the resource tables of {tables_left} of {total_tables} stacks")
    return (
        f"> [!WARNING]\n> Report truncated to fit one GitHub comment: {' and '.join(omitted)} omitted. "
        f"The full report is `report.md` in {where}.\n"
    )
