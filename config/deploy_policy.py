"""The deploy policy (`deploy.policy_file`): reading it, filling its placeholders per region, and the
deploy role's ceiling, the rules every Allow statement must keep unless an exception with a reason covers it.

The ceiling, by rule id (exceptions, `deploy.policy_exceptions`, may cover the first three):

* `service-wildcard`: no wildcard action that can match a write action (`*`, `iam:*`, `ssm:*Parameter`);
  a wildcard over read actions only (`ssm:Get*`) is fine.
* `resource-wildcard`: no write action on every resource (`"Resource": "*"`, or an ARN whose service and
  resource are only wildcards such as `arn:${AWS::Partition}:*:*:*:*`).
* `passrole-unconditioned`: no `iam:PassRole` (or a wildcard matching it) without an `iam:PassedToService`
  condition naming the services the roles may be passed to.
* `unknown-placeholder`: no `${...}` but the three of :data:`PLACEHOLDERS` (Terraform reads any other as an
  interpolation of its own).
* `not-action`, `not-resource`: no `NotAction` or `NotResource` in an Allow (they allow everything else).
* `statement-shape`: each statement an object with `Effect`, `Action` and `Resource` as IAM defines them,
  and unique `Sid`s.

A write action is any action whose name does not start with a read verb (:data:`READ_VERBS`); names are
compared without regard to case, as IAM does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, get_args

from config.schema import ExceptableRule

PLACEHOLDERS = ("${AWS::Region}", "${AWS::AccountId}", "${AWS::Partition}")
"""The placeholders a policy file may use; each region's deploy role gets them filled with its region,
account and partition."""
READ_VERBS = (
    "Get",
    "List",
    "Describe",
    "Head",
    "BatchGet",
    "Search",
    "Lookup",
    "Scan",
    "Query",
    "View",
    "Check",
    "Select",
)
"""An action whose name starts with one of these only reads; every other action is a write action."""
EXCEPTABLE_RULES: tuple[str, ...] = get_args(ExceptableRule)
"""The ceiling rules an exception may cover; the others (`unknown-placeholder`, `not-action`,
`not-resource`, `statement-shape`) have none."""

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}?")
_EXCEPTION_FIELD = "deploy.policy_exceptions"


class PolicyFileError(ValueError):
    """The policy file is missing, not JSON, or not an IAM policy document."""


class ExceptionEntry(Protocol):
    """What the ceiling reads of an exception (config.schema.PolicyException)."""

    sid: str
    rule: str


@dataclass(frozen=True)
class Violation:
    """One statement breaking one ceiling rule."""

    index: int
    """Position of the statement in the Statement list."""
    sid: str | None
    """The statement's Sid, if it has one."""
    rule: str
    """The rule id (see the module's docstring)."""
    message: str
    """What is wrong, naming the statement, the action or resource at fault, the rule and the fix."""


@dataclass(frozen=True)
class Finding:
    """A problem the ceiling reports: a violation no exception covers, or an exception that is wrong."""

    message: str
    exception: int | None = None
    """Index of the `deploy.policy_exceptions` entry at fault; None for a statement of the policy."""


def read_policy(root: Path, policy_file: str) -> dict[str, Any]:
    """The policy document `policy_file` (relative to `root`), with `Statement` as a list; raises
    PolicyFileError naming the problem."""
    try:
        document = json.loads((root / policy_file).read_text())
    except FileNotFoundError:
        raise PolicyFileError(f"{policy_file!r} does not exist (relative to {root})") from None
    except json.JSONDecodeError as error:
        raise PolicyFileError(f"{policy_file!r} is not JSON ({error})") from None
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise PolicyFileError(
            f"{policy_file!r} must be an IAM policy document: an object whose Statement is a non-empty list "
            "of statements"
        )
    return {**document, "Statement": statements}


def load_statements(root: Path, policy_file: str | None) -> tuple[dict, ...]:
    """The statements of `policy_file` (relative to `root`) as written, placeholders kept; none without a file."""
    if not policy_file:
        return ()
    return tuple(read_policy(root, policy_file)["Statement"])


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, replacement in values.items():
            value = value.replace(placeholder, replacement)
        return value
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {_fill(key, values): _fill(item, values) for key, item in value.items()}
    return value


def render(
    statements: Sequence[Mapping[str, Any]], *, region: str, account_id: str, partition: str
) -> tuple[dict, ...]:
    """The statements with every placeholder replaced (in keys and values; plain string replacement, so the
    account and partition may be cdktf tokens)."""
    values = dict(zip(PLACEHOLDERS, (region, account_id, partition), strict=True))
    return tuple(_fill(dict(statement), values) for statement in statements)


def _statements(policy: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    if isinstance(policy, Mapping):
        statements = policy.get("Statement", [])
        return [statements] if isinstance(statements, Mapping) else list(statements)
    return list(policy)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pattern(glob: str) -> re.Pattern[str]:
    """IAM's `*` and `?` wildcards as a case-insensitive regular expression."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.IGNORECASE)


def _wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def can_write(action: str) -> bool:
    """Whether `action` (`service:name`, wildcards allowed, or `*`) is or can match a write action: its name,
    up to the first wildcard, does not start with a read verb."""
    name = action.split(":", 1)[1] if ":" in action else action
    literal = re.split(r"[*?]", name, maxsplit=1)[0].lower()
    return not any(literal.startswith(verb.lower()) for verb in READ_VERBS)


def _every_resource(resource: str) -> bool:
    """Only wildcards, or an ARN whose service and resource are only wildcards (whatever its partition,
    region and account)."""
    only = re.compile(r"[*?]+")
    if only.fullmatch(resource):
        return True
    marked = _fill(resource, dict.fromkeys(PLACEHOLDERS, "placeholder"))
    fields = marked.split(":", 5)
    if len(fields) != 6 or fields[0] != "arn":
        return False
    service, resource_part = fields[2], fields[5]
    return bool(only.fullmatch(service)) and bool(only.fullmatch(resource_part))


def _passed_to_service(condition: Any) -> bool:
    """Whether a condition block restricts iam:PassedToService (an operator that neither negates nor only
    tests presence)."""
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in condition.items():
        if not isinstance(tests, Mapping) or "not" in operator.lower() or operator.lower().startswith("null"):
            continue
        if any(str(key).lower() == "iam:passedtoservice" for key in tests):
            return True
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def _name(index: int, sid: str | None) -> str:
    return f"statement {sid!r}" if sid else f"statement Statement[{index}] (no Sid)"


def _exception_hint(sid: str | None, rule: str) -> str:
    if sid:
        entry = json.dumps({"sid": sid, "rule": rule, "reason": "<why, at least 20 characters>"})
        return f"or add to {_EXCEPTION_FIELD} {entry}"
    return (
        f"or give the statement a Sid and add to {_EXCEPTION_FIELD} an entry with that sid, rule {rule!r} and a reason"
    )


def _shape(index: int, sid: str | None, statement: Any) -> list[str]:
    where = _name(index, sid)
    if not isinstance(statement, Mapping):
        return [f"Statement[{index}] is not an object (rule statement-shape); write each statement as a JSON object"]
    found = []
    if statement.get("Effect") not in ("Allow", "Deny"):
        found.append(f"{where} has Effect {statement.get('Effect')!r} (rule statement-shape); allowed: 'Allow', 'Deny'")
    if "Principal" in statement or "NotPrincipal" in statement:
        found.append(
            f"{where} names a Principal (rule statement-shape); the deploy policy is attached to the deploy role, "
            "remove the Principal"
        )
    for element, negated in (("Action", "NotAction"), ("Resource", "NotResource")):
        present = [key for key in (element, negated) if key in statement]
        if len(present) != 1:
            found.append(f"{where} must have exactly one of {element} and {negated} (rule statement-shape)")
            continue
        values = _as_list(statement[present[0]])
        if not values or not all(isinstance(value, str) and value for value in values):
            found.append(f"{where}: {present[0]} must be a non-empty string or list of strings (rule statement-shape)")
        elif element == "Action":
            malformed = [value for value in values if value != "*" and not re.fullmatch(r"[\w*?-]+:[\w*?-]+", value)]
            found += [
                f"{where} has action {value!r} (rule statement-shape); allowed: 'service:Action' such as "
                "'ssm:GetParameter' (wildcards * and ? allowed)"
                for value in malformed
            ]
    return found


def _statement_violations(index: int, statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(rule, message) of each rule one well-formed statement breaks."""
    sid = statement.get("Sid") or None
    where = _name(index, sid)
    found: list[tuple[str, str]] = []
    unknown = sorted(
        {match for text in _strings(statement) for match in _PLACEHOLDER.findall(text)} - set(PLACEHOLDERS)
    )
    found += [
        (
            "unknown-placeholder",
            f"{where} uses the placeholder {placeholder!r} (rule unknown-placeholder); allowed: "
            f"{', '.join(PLACEHOLDERS)} (Terraform would read any other ${{...}} as its own interpolation); "
            "replace it with one of them or the literal value",
        )
        for placeholder in unknown
    ]
    if statement["Effect"] != "Allow":
        return found
    if "NotAction" in statement:
        found.append(
            (
                "not-action",
                f"{where} is an Allow with NotAction, which allows every action it does not name (rule not-action); "
                "list the actions the template needs in Action instead",
            )
        )
        return found
    if "NotResource" in statement:
        found.append(
            (
                "not-resource",
                f"{where} is an Allow with NotResource, which allows every resource it does not name "
                "(rule not-resource); list the resources in Resource instead",
            )
        )
    actions: list[str] = _as_list(statement["Action"])
    for action in actions:
        if _wildcard(action) and can_write(action):
            found.append(
                (
                    "service-wildcard",
                    f"{where} allows {action!r}, a wildcard that can match write actions (rule service-wildcard); "
                    "list the write actions the template needs (a wildcard may cover read actions only, e.g. "
                    f"'ssm:Get*'), {_exception_hint(sid, 'service-wildcard')}",
                )
            )
    writes = [action for action in actions if can_write(action)]
    if writes and "Resource" in statement:
        for resource in _as_list(statement["Resource"]):
            if _every_resource(resource):
                found.append(
                    (
                        "resource-wildcard",
                        f"{where} allows the write actions {', '.join(repr(a) for a in writes)} on {resource!r}, every "
                        "resource (rule resource-wildcard); name the resources, e.g. "
                        "'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/my-app/*', "
                        f"{_exception_hint(sid, 'resource-wildcard')}",
                    )
                )
    if not _passed_to_service(statement.get("Condition")):
        passrole = [action for action in actions if _pattern(action).fullmatch("iam:PassRole")]
        found += [
            (
                "passrole-unconditioned",
                f"{where} allows {action!r}, which passes roles to services, without an iam:PassedToService "
                'condition (rule passrole-unconditioned); add "Condition": {"StringEquals": {"iam:PassedToService": '
                f'"<service>.amazonaws.com"}}}}, {_exception_hint(sid, "passrole-unconditioned")}',
            )
            for action in passrole
        ]
    return found


def violations(policy: Mapping[str, Any] | Sequence[Any]) -> list[Violation]:
    """Every ceiling rule each statement breaks, exceptions aside. `policy` is a policy document or its
    statements, placeholders kept."""
    found: list[Violation] = []
    seen: dict[str, int] = {}
    for index, statement in enumerate(_statements(policy)):
        sid = statement.get("Sid") if isinstance(statement, Mapping) else None
        sid = sid if isinstance(sid, str) and sid else None
        shape = _shape(index, sid, statement)
        if sid is not None and sid in seen:
            shape.append(
                f"statement {sid!r} repeats the Sid of Statement[{seen[sid]}] (rule statement-shape); "
                "give each statement its own Sid"
            )
        if sid is not None:
            seen.setdefault(sid, index)
        found += [Violation(index, sid, "statement-shape", message) for message in shape]
        if not shape:
            found += [Violation(index, sid, rule, message) for rule, message in _statement_violations(index, statement)]
    return found


def check(policy: Mapping[str, Any] | Sequence[Any], exceptions: Sequence[ExceptionEntry | None] = ()) -> list[Finding]:
    """The violations no exception covers, then each exception that names no statement, covers nothing or
    repeats another. An entry may be None (one the caller could not read), so that positions stay those of
    the configuration."""
    found = violations(policy)
    sids = {statement.get("Sid") for statement in _statements(policy) if isinstance(statement, Mapping)}
    sids = {sid for sid in sids if isinstance(sid, str) and sid}
    covering: dict[tuple[str, str], int] = {}
    findings: list[Finding] = []
    for position, exception in enumerate(exceptions):
        if exception is None:
            continue
        key = (exception.sid, exception.rule)
        if exception.sid not in sids:
            named = ", ".join(repr(sid) for sid in sorted(sids)) or "(no statement has a Sid)"
            findings.append(
                Finding(
                    f"names Sid {exception.sid!r}, which no statement of the policy file has; Sids in the file: "
                    f"{named}; remove the entry (a stale exception would cover the next statement given that Sid)",
                    position,
                )
            )
        elif key in covering:
            findings.append(
                Finding(
                    f"repeats the exception for Sid {exception.sid!r} and rule {exception.rule!r} of "
                    f"{_EXCEPTION_FIELD}[{covering[key]}]; remove one",
                    position,
                )
            )
        elif not any(v.sid == exception.sid and v.rule == exception.rule for v in found):
            findings.append(
                Finding(
                    f"statement {exception.sid!r} breaks no rule {exception.rule!r}, so the exception covers "
                    "nothing; remove the entry",
                    position,
                )
            )
        covering.setdefault(key, position)
    uncovered = [
        Finding(v.message)
        for v in found
        if v.rule not in EXCEPTABLE_RULES or v.sid is None or (v.sid, v.rule) not in covering
    ]
    return uncovered + findings


def problems(policy: Mapping[str, Any] | Sequence[Any], exceptions: Sequence[ExceptionEntry | None] = ()) -> list[str]:
    """The ceiling's messages: each violation no exception covers, each exception at fault (prefixed with
    its place in `deploy.policy_exceptions`)."""
    return [
        finding.message if finding.exception is None else f"{_EXCEPTION_FIELD}[{finding.exception}]: {finding.message}"
        for finding in check(policy, exceptions)
    ]
