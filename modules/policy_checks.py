"""Policy as code: rules every synthesized stack must pass, checked at synthesis, in the spirit of cdk-nag.

`attach(stack)` adds a validation to the stack: at synthesis (`app.synth()`, `relay synth`,
`cdktf synth`) it reads the stack's Terraform JSON and fails the synthesis with one message per
violation, for whatever configuration the stack was built from. The rules read the synthesized JSON,
not construct objects, so they check what Terraform receives, overrides included.

A module that needs an exception calls `suppress(resource, rule, reason)` next to the construct. The
suppression is written into the resource's `"//"` (comment) key of the synthesized JSON, beside
cdktf's own metadata, so the checks, the plan report (`tools/plan_report`) and a reviewer reading
`cdk.tf.json` all see the same thing:

    "//": {"metadata": {...}, "relay_suppressions": [{"rule": "tls-only", "reason": "..."}]}

`suppress(policy, "wildcard-resource-write", reason, statements=["Sid"])` limits a suppression to some
statements of a policy. A checkov check id (`CKV_AWS_18`) is suppressed the same way: checkov reads no
suppressions from Terraform JSON, so tests/policy/test_checkov.py honours these for their resource only.

Only `suppress` and `attach` load cdktf (through `modules.cdk_seam`): `check` and `suppressions` read
JSON alone, so the plan report and the checkov tests use them without loading the AWS bindings.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RULES: dict[str, str] = {
    "customer-key": "every bucket, log group and CodeBuild project is encrypted with a customer-managed KMS key",
    "versioning": "every bucket has versioning Enabled",
    "public-access-block": "every bucket has all four Block Public Access settings on",
    "tls-only": "every bucket policy denies requests without TLS (aws:SecureTransport false)",
    "wildcard-resource-write": 'no Allow statement of an IAM or bucket policy grants a write action on Resource "*"',
    "trust-condition": "every statement trusting an AWS service principal has a Condition",
    "release-write-guard": "every release bucket (tag relay:role=release) has the ReleaseWriteGuard deny statement",
    "log-retention": "every log group has a retention period",
}
"""Rule id -> what it requires."""

CHECKOV_CHECK = re.compile(r"^CKV2?_[A-Z0-9]+_[0-9]+$")
"""A checkov check id (`CKV_AWS_18`, `CKV2_AWS_62`). checkov reads no suppressions from Terraform JSON, so a
check that does not apply to one resource is suppressed like a rule here, next to the construct, and
tests/policy/test_checkov.py honours it for that resource only (.checkov.yaml skips checks everywhere)."""

SUPPRESSION_RULE = "suppression"
"""Rule id of the messages about a malformed suppression (which cannot itself be suppressed)."""

MIN_REASON_LENGTH = 20
"""A suppression's reason must say why in at least this many characters."""

SUPPRESSIONS_KEY = "relay_suppressions"
"""Key of the suppressions in a resource's `"//"` object of the synthesized JSON."""

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
"""An action is a read when its name, up to the first wildcard, starts with one of these verbs (IAM action
names ignore case); every other action is a write. The configuration loader's definition
(config/deploy_policy.py), repeated here because modules do not import the configuration."""

RELEASE_ROLE_TAG = ("relay:role", "release")
RELEASE_GUARD_SID = "ReleaseWriteGuard"

_SSE = "aws_s3_bucket_server_side_encryption_configuration"
_POLICY_TYPES = ("aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy")
"""Resources whose `policy` is an identity policy (KMS key policies are exempt: their "*" is the key)."""


@dataclass(frozen=True)
class Suppression:
    """A rule switched off for one resource, with the reason a reviewer reads."""

    address: str
    """Terraform address of the resource (`aws_s3_bucket.release-bucket_this_02B16B4E`)."""
    path: str
    """Construct path of the resource (cdktf's metadata), empty when unknown."""
    rule: str
    reason: str
    statements: tuple[str, ...] = ()
    """Sids the suppression is limited to (policy statement rules); empty: the whole resource."""


@dataclass(frozen=True)
class Violation:
    """One rule one resource breaks."""

    stack: str
    address: str
    path: str
    rule: str
    problem: str
    """What is wrong."""
    fix: str
    """How to fix it."""
    statement: str | None = None
    """The Sid (or `#<index>`) of the offending policy statement, for statement-level rules."""

    @property
    def message(self) -> str:
        where = f"{self.address} ({self.path})" if self.path else self.address
        if self.rule == SUPPRESSION_RULE:
            return f"{self.stack}: {where}: {self.rule}: {self.problem}; {self.fix}"
        return (
            f"{self.stack}: {where}: {self.rule}: {self.problem}; {self.fix}, or suppress the rule next to the "
            f'construct with policy_checks.suppress(resource, "{self.rule}", reason)'
        )


# Suppressions recorded per resource, so that a second suppression of one resource adds to the first
# (an override of a list replaces it).
_recorded: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def suppress(resource: Any, rule: str, reason: str, *, statements: Sequence[str] = ()) -> None:
    """Switch `rule` (a rule id of `RULES`, or a checkov check id such as `CKV_AWS_18`) off for one cdktf
    resource, with a written `reason` (at least 20 characters).

    `statements` limits a policy-statement rule (`wildcard-resource-write`, `trust-condition`) to the
    statements with these Sids. The suppression is written into the resource's synthesized JSON
    (`"//": {"relay_suppressions": [...]}`). An unknown rule, a short reason or something other than a
    resource raises ValueError naming every problem.
    """
    from modules.cdk_seam import cdk

    problems = []
    if not cdk.TerraformResource.is_terraform_resource(resource):
        problems.append(f"{resource!r} is not a Terraform resource; suppress rules on the resource itself")
    if not _known(rule):
        problems.append(f"unknown rule {rule!r}; rules: {', '.join(RULES)}, or a checkov check id (CKV_AWS_18)")
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) < MIN_REASON_LENGTH:
        problems.append(
            f"the reason {reason!r} is too short: say in at least {MIN_REASON_LENGTH} characters why the rule "
            "does not apply"
        )
    if isinstance(statements, str) or not all(isinstance(s, str) and s for s in statements):
        problems.append(f"statements must be a list of statement Sids, got {statements!r}")
    if problems:
        raise ValueError(f"policy_checks.suppress(resource, {rule!r}, reason): " + "; ".join(problems))
    entry: dict[str, Any] = {"rule": rule, "reason": text}
    if statements:
        entry["statements"] = sorted(statements)
    entries = _recorded.setdefault(resource, [])
    entries.append(entry)
    resource.add_override(f"//.{SUPPRESSIONS_KEY}", list(entries))


def attach(stack: Any) -> None:
    """Check `stack` at synthesis: every violation of `RULES` that is not suppressed fails the synthesis,
    one message each (all of them at once)."""
    stack.node.add_validation(_validation_class()(stack))


@functools.cache
def _validation_class() -> type:
    # constructs' IValidation: a jsii interface a Python class implements with @jsii.implements.
    import jsii

    from modules.cdk_seam import IValidation

    @jsii.implements(IValidation)
    class StackChecks:
        """The validation `attach` adds: runs after every Aspect, on the JSON Terraform will receive."""

        def __init__(self, stack: Any):
            self._stack = stack

        def validate(self) -> list[str]:
            return [v.message for v in check(self._stack.node.id, self._stack.to_terraform())]

    return StackChecks


def check(stack: str, config: Mapping[str, Any]) -> list[Violation]:
    """Every unsuppressed violation in one stack's Terraform JSON, and every malformed suppression."""
    resources = _Resources(config)
    found = [*_customer_key(resources), *_bucket_settings(resources), *_policies(resources), *_roles(resources)]
    found += _log_retention(resources)
    allowed: dict[tuple[str, str], list[Suppression]] = {}
    problems = []
    for address, path, entry in resources.suppression_entries():
        suppression, problem = _parse_suppression(address, path, entry)
        if suppression:
            allowed.setdefault((address, suppression.rule), []).append(suppression)
        else:
            problems.append(
                Violation(
                    stack,
                    address,
                    path,
                    SUPPRESSION_RULE,
                    problem,
                    f"suppress rules only with policy_checks.suppress(resource, rule, reason), a reason of at least "
                    f"{MIN_REASON_LENGTH} characters and one of the rules {', '.join(RULES)} or a checkov check id",
                )
            )
    kept = [
        Violation(stack, address, path, rule, problem, fix, statement)
        for address, path, rule, problem, fix, statement in found
        if not any(not s.statements or statement in s.statements for s in allowed.get((address, rule), []))
    ]
    return problems + kept


def suppressions(config: Mapping[str, Any]) -> list[Suppression]:
    """The well-formed suppressions of one stack's Terraform JSON, in resource order."""
    found = []
    for address, path, entry in _Resources(config).suppression_entries():
        suppression, _ = _parse_suppression(address, path, entry)
        if suppression:
            found.append(suppression)
    return found


def _known(rule: Any) -> bool:
    return isinstance(rule, str) and (rule in RULES or CHECKOV_CHECK.match(rule) is not None)


def _parse_suppression(address: str, path: str, entry: Any) -> tuple[Suppression | None, str]:
    if not isinstance(entry, Mapping):
        return None, f"suppression {entry!r} is not an object with a rule and a reason"
    rule, reason, statements = entry.get("rule"), entry.get("reason"), entry.get("statements", [])
    if not _known(rule):
        return None, f"suppression of unknown rule {rule!r}"
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
        return None, f"suppression of rule {rule} has no reason of at least {MIN_REASON_LENGTH} characters"
    if not isinstance(statements, list) or not all(isinstance(s, str) for s in statements):
        return None, f"suppression of rule {rule} has statements that are not a list of Sids: {statements!r}"
    return Suppression(address, path, rule, reason.strip(), tuple(statements)), ""


# A finding before suppressions: address, construct path, rule, problem, fix, statement.
Finding = tuple[str, str, str, str, str, str | None]


class _Resources:
    """The resources of one stack's Terraform JSON, with the lookups the rules need."""

    def __init__(self, config: Mapping[str, Any]):
        self.by_type: dict[str, dict[str, Mapping[str, Any]]] = {
            rtype: dict(items) for rtype, items in (config.get("resource") or {}).items() if isinstance(items, Mapping)
        }

    def of(self, rtype: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(address, construct path, attributes) of every resource of one type."""
        for name, attrs in self.by_type.get(rtype, {}).items():
            yield f"{rtype}.{name}", _path(attrs), attrs

    def suppression_entries(self) -> Iterator[tuple[str, str, Any]]:
        for rtype in self.by_type:
            for address, path, attrs in self.of(rtype):
                comment = attrs.get("//")
                entries = comment.get(SUPPRESSIONS_KEY, []) if isinstance(comment, Mapping) else []
                for entry in entries if isinstance(entries, list) else [entries]:
                    yield address, path, entry

    @functools.cached_property
    def buckets(self) -> list[tuple[str, str, Mapping[str, Any], frozenset[str]]]:
        """(address, path, attributes, the values by which other resources name the bucket) of each bucket."""
        found = []
        for address, path, attrs in self.of("aws_s3_bucket"):
            refs = {f"${{{address}.id}}", f"${{{address}.bucket}}"}
            name = attrs.get("bucket")
            if isinstance(name, str) and "${" not in name:
                refs.add(name)
            found.append((address, path, attrs, frozenset(refs)))
        return found

    def for_bucket(self, rtype: str, refs: frozenset[str]) -> list[Mapping[str, Any]]:
        """The resources of one type whose `bucket` names the bucket."""
        return [attrs for _, _, attrs in self.of(rtype) if attrs.get("bucket") in refs]


def _path(attrs: Mapping[str, Any]) -> str:
    path = ((attrs.get("//") or {}).get("metadata") or {}).get("path", "")
    # The stack's name starts every path; messages name the stack already.
    return path.split("/", 1)[1] if "/" in path else path


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block as a list (cdktf writes a single block as an object or as a list of one)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _true(value: Any) -> bool:
    return value is True or value == "true"


def _document(text: Any) -> list[Mapping[str, Any]] | None:
    """The statements of a policy document written as literal JSON; None when it is not (a reference)."""
    if isinstance(text, Mapping):
        document = text
    else:
        try:
            document = json.loads(text)
        except (TypeError, ValueError):
            return None
    if not isinstance(document, Mapping):
        return None
    return _blocks(document.get("Statement"))


def _sid(statement: Mapping[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"#{index}")


def _customer_key(resources: _Resources) -> Iterator[Finding]:
    rule = "customer-key"
    for address, path, attrs, refs in resources.buckets:
        defaults = [
            default
            for config in [
                *resources.for_bucket(_SSE, refs),
                *_blocks(attrs.get("server_side_encryption_configuration")),
            ]
            for config_rule in _blocks(config.get("rule"))
            for default in _blocks(config_rule.get("apply_server_side_encryption_by_default"))
        ]
        if not any(
            d.get("sse_algorithm") in ("aws:kms", "aws:kms:dsse") and d.get("kms_master_key_id") for d in defaults
        ):
            yield (
                address,
                path,
                rule,
                "the bucket has no default encryption with aws:kms and a kms_master_key_id",
                f"add an {_SSE} with sse_algorithm aws:kms and the region's customer-managed key",
                None,
            )
    for rtype, key, what in (
        ("aws_cloudwatch_log_group", "kms_key_id", "log group"),
        ("aws_codebuild_project", "encryption_key", "CodeBuild project"),
    ):
        for address, path, attrs in resources.of(rtype):
            if not attrs.get(key):
                yield (
                    address,
                    path,
                    rule,
                    f"the {what} has no {key}",
                    f"set {key} to the region's customer-managed key",
                    None,
                )


def _bucket_settings(resources: _Resources) -> Iterator[Finding]:
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    for address, path, attrs, refs in resources.buckets:
        statuses = [
            (block.get("versioning_configuration") or {}).get("status")
            for block in resources.for_bucket("aws_s3_bucket_versioning", refs)
            if isinstance(block.get("versioning_configuration"), Mapping)
        ] + ["Enabled" for block in _blocks(attrs.get("versioning")) if _true(block.get("enabled"))]
        if "Enabled" not in statuses:
            yield (
                address,
                path,
                "versioning",
                f"the bucket's versioning is {', '.join(map(str, statuses)) or 'not configured'}",
                'add an aws_s3_bucket_versioning with status "Enabled"',
                None,
            )
        blocks = resources.for_bucket("aws_s3_bucket_public_access_block", refs)
        if not any(all(_true(block.get(flag)) for flag in flags) for block in blocks):
            off = sorted({flag for block in blocks for flag in flags if not _true(block.get(flag))})
            yield (
                address,
                path,
                "public-access-block",
                f"Block Public Access is not fully on ({', '.join(off)} not true)"
                if blocks
                else "the bucket has no aws_s3_bucket_public_access_block",
                f"add an aws_s3_bucket_public_access_block with {', '.join(flags)} all true",
                None,
            )
        documents = [policy.get("policy") for policy in resources.for_bucket("aws_s3_bucket_policy", refs)] + (
            [attrs["policy"]] if attrs.get("policy") else []
        )
        statements = [s for text in documents for s in _document(text) or []]
        unreadable = [text for text in documents if _document(text) is None]
        reason = " (its policy is not literal JSON the checks can read)" if unreadable else ""
        if not any(_denies_insecure_transport(s) for s in statements):
            yield (
                address,
                path,
                "tls-only",
                f"no bucket policy statement denies requests without TLS{reason}",
                'add a statement {"Effect": "Deny", "Principal": "*", "Action": "s3:*", '
                '"Condition": {"Bool": {"aws:SecureTransport": "false"}}} to the bucket policy',
                None,
            )
        tags = attrs.get("tags") if isinstance(attrs.get("tags"), Mapping) else {}
        if tags.get(RELEASE_ROLE_TAG[0]) == RELEASE_ROLE_TAG[1]:
            guards = [s for s in statements if s.get("Sid") == RELEASE_GUARD_SID]
            problem = _guard_problem(guards)
            if problem:
                yield (
                    address,
                    path,
                    "release-write-guard",
                    f"the release bucket's policy {problem}{reason}",
                    f'add the statement Sid "{RELEASE_GUARD_SID}": Effect Deny, Principal "*", Action including '
                    's3:PutObject on the release key, Condition {"ArnNotEquals": {"aws:PrincipalArn": [the roles '
                    "that may write it]}}",
                    None,
                )


def _any_principal(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS")))


def _denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition")
    if statement.get("Effect") != "Deny" or not isinstance(condition, Mapping):
        return False
    secure = [
        value
        for operator in ("Bool", "BoolIfExists")
        if isinstance(condition.get(operator), Mapping)
        for value in _as_list(condition[operator].get("aws:SecureTransport"))
    ]
    actions = _as_list(statement.get("Action"))
    return (
        _any_principal(statement.get("Principal"))
        and ("s3:*" in actions or "*" in actions)
        and any(value is False or str(value).lower() == "false" for value in secure)
    )


def _guard_problem(guards: list[Mapping[str, Any]]) -> str:
    """What the ReleaseWriteGuard statements lack; empty when one of them is complete."""
    if not guards:
        return f"has no statement with Sid {RELEASE_GUARD_SID}"
    lacks = []
    for guard in guards:
        missing = []
        if guard.get("Effect") != "Deny":
            missing.append("Effect Deny")
        if not _any_principal(guard.get("Principal")):
            missing.append('Principal "*"')
        if not {"s3:PutObject", "s3:*", "*"} & set(_as_list(guard.get("Action"))):
            missing.append("s3:PutObject among its actions")
        condition = guard.get("Condition")
        arn_not_equals = condition.get("ArnNotEquals") if isinstance(condition, Mapping) else None
        if not (isinstance(arn_not_equals, Mapping) and arn_not_equals.get("aws:PrincipalArn")):
            missing.append("a Condition ArnNotEquals aws:PrincipalArn naming the writers")
        if not missing:
            return ""
        lacks.append(", ".join(missing))
    return f"statement {RELEASE_GUARD_SID} lacks " + "; ".join(lacks)


def is_write(action: str) -> bool:
    """Whether an IAM action (`service:Name`, wildcards allowed, or `*`) is or can match a write action."""
    name = action.split(":", 1)[1] if ":" in action else action
    literal = re.split(r"[*?]", name, maxsplit=1)[0].lower()
    return not literal.startswith(tuple(verb.lower() for verb in READ_VERBS))


def _policies(resources: _Resources) -> Iterator[Finding]:
    documents = [
        (address, path, attrs.get("policy"))
        for rtype in (*_POLICY_TYPES, "aws_s3_bucket_policy")
        for address, path, attrs in resources.of(rtype)
    ] + [
        (address, path, inline.get("policy"))
        for address, path, attrs in resources.of("aws_iam_role")
        for inline in _blocks(attrs.get("inline_policy"))
    ]
    rule = "wildcard-resource-write"
    for address, path, text in documents:
        statements = _document(text)
        if statements is None:
            yield (
                address,
                path,
                rule,
                "the policy is not literal JSON, so the checks cannot read it",
                "write the document as JSON (modules.iam.document)",
                None,
            )
            continue
        for index, statement in enumerate(statements):
            if statement.get("Effect") != "Allow":
                continue
            wildcard = "NotResource" in statement or "*" in _as_list(statement.get("Resource"))
            if not wildcard:
                continue
            if "NotAction" in statement:
                writes = [f"every action but {', '.join(map(str, _as_list(statement['NotAction'])))}"]
            else:
                writes = [str(a) for a in _as_list(statement.get("Action")) if is_write(str(a))]
            if writes:
                sid = _sid(statement, index)
                target = "NotResource" if "NotResource" in statement else 'Resource "*"'
                yield (
                    address,
                    path,
                    rule,
                    f"statement {sid} allows write actions ({', '.join(writes)}) on {target}",
                    "name the exact resources the actions need",
                    sid,
                )


def _roles(resources: _Resources) -> Iterator[Finding]:
    rule = "trust-condition"
    for address, path, attrs in resources.of("aws_iam_role"):
        statements = _document(attrs.get("assume_role_policy"))
        if statements is None:
            yield (
                address,
                path,
                rule,
                "the trust policy is not literal JSON, so the checks cannot read it",
                "write the document as JSON (modules.iam.assume_role)",
                None,
            )
            continue
        for index, statement in enumerate(statements):
            principal = statement.get("Principal")
            service = principal.get("Service") if isinstance(principal, Mapping) else None
            if statement.get("Effect") == "Allow" and service and not statement.get("Condition"):
                sid = _sid(statement, index)
                yield (
                    address,
                    path,
                    rule,
                    f"statement {sid} trusts {', '.join(map(str, _as_list(service)))} without a Condition",
                    "limit it with aws:SourceAccount (and aws:SourceArn where the service sends it)",
                    sid,
                )


def _log_retention(resources: _Resources) -> Iterator[Finding]:
    for address, path, attrs in resources.of("aws_cloudwatch_log_group"):
        if not attrs.get("retention_in_days"):
            yield (
                address,
                path,
                "log-retention",
                "the log group keeps its events forever (no retention_in_days)",
                "set retention_in_days",
                None,
            )
