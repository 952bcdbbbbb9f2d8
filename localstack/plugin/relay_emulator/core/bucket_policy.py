"""Explicit ``Deny`` statements of S3 bucket policies: which one refuses a request.

This is a documented subset of IAM policy evaluation, enough to prove that a bucket policy keeps
a principal from writing an object (relay's ``ReleaseWriteGuard``). ``Allow`` statements are
never evaluated (the emulator allows whatever no enforced ``Deny`` refuses), and a ``Deny``
statement is enforced only when every element of it is in the subset:

* ``Effect: Deny`` with ``Action`` or ``NotAction`` (case-insensitive, wildcards ``*`` ``?``),
  ``Resource`` or ``NotResource`` (case-sensitive, same wildcards);
* ``Principal``: ``"*"``, ``{"AWS": "*"}``, ``{"AWS": [...]}`` with account ids, account root ARNs
  (any principal of that account), role or user ARNs (``aws:PrincipalArn`` equal) and assumed-role
  session ARNs, and ``{"Service": [...]}``; no ``NotPrincipal``, no other principal types;
* ``Condition`` operators ``StringEquals``, ``StringNotEquals``, ``StringLike``, ``StringNotLike``,
  ``ArnEquals``, ``ArnNotEquals``, ``ArnLike``, ``ArnNotLike``, each with the ``IfExists`` suffix
  and the ``ForAnyValue:`` / ``ForAllValues:`` qualifiers, on the keys ``aws:PrincipalArn``,
  ``aws:PrincipalAccount`` and ``aws:SourceAccount``; no policy variables (``${...}``).

A statement outside the subset (e.g. ``aws:SecureTransport``: the emulator serves plain HTTP,
enforcing it would refuse everything) is not enforced; ``Policy.skipped`` says why.

Condition semantics are IAM's: operators and keys are ANDed, the values of one key ORed (NOR for
the negated operators); a key missing from the request makes a positive operator false and a
negated one true, ``IfExists`` makes it true; ``ForAnyValue`` over a missing key is false,
``ForAllValues`` true. ``ArnEquals`` and ``ArnLike`` both compare the six colon-separated parts
of an ARN separately, with wildcards inside each part (a pattern of fewer than six parts, such as
``*``, is matched against the whole value).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable

SUPPORTED_KEYS = ("aws:principalarn", "aws:principalaccount", "aws:sourceaccount")
STRING_OPERATORS = ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike")
ARN_OPERATORS = ("ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike")
NEGATED = ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")
QUALIFIERS = ("ForAnyValue", "ForAllValues")

_ACCOUNT = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:[^:]+:iam::(\d{12}):root$")


# ------------------------------------------------------------------------------------- principals


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who makes a request, as far as the subset needs to know.

    ``arn`` is ``aws:PrincipalArn`` (the account root ``arn:aws:iam::<account>:root``, a role's ARN
    for its sessions, a user's ARN), ``account`` is ``aws:PrincipalAccount``; both are None for
    anonymous requests and service principals. ``session_arn`` is an assumed role's session
    (``arn:aws:sts::<account>:assumed-role/<name>/<session>``), ``service`` a service principal
    (``cloudtrail.amazonaws.com``) and ``source_account`` the account it acts for
    (``aws:SourceAccount``, absent for requests of users and roles).
    """

    arn: str | None = None
    account: str | None = None
    session_arn: str | None = None
    service: str | None = None
    source_account: str | None = None

    @classmethod
    def root(cls, account: str, partition: str = "aws") -> Principal:
        return cls(arn=f"arn:{partition}:iam::{account}:root", account=account)

    @classmethod
    def role(cls, role_arn: str, session_name: str | None = None) -> Principal:
        """A session of ``role_arn`` (``arn:<partition>:iam::<account>:role/[path/]<name>``)."""
        partition, account, name = _role_parts(role_arn)
        session = f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}" if session_name else None
        return cls(arn=role_arn, account=account, session_arn=session)

    @classmethod
    def user(cls, user_arn: str) -> Principal:
        return cls(arn=user_arn, account=_arn_account(user_arn))

    @classmethod
    def for_service(cls, service: str, source_account: str | None = None) -> Principal:
        return cls(service=service, source_account=source_account)

    @property
    def anonymous(self) -> bool:
        return self.arn is None and self.service is None

    @property
    def identity(self) -> str:
        """The identity an AccessDenied message names."""
        return self.session_arn or self.arn or self.service or "anonymous"

    def context(self) -> dict[str, str]:
        """The request context keys of the subset that this principal has (lower-case names)."""
        keys = {}
        if self.arn:
            keys["aws:principalarn"] = self.arn
        if self.account:
            keys["aws:principalaccount"] = self.account
        if self.source_account:
            keys["aws:sourceaccount"] = self.source_account
        return keys


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[4] else None


def _role_parts(role_arn: str) -> tuple[str, str | None, str]:
    parts = role_arn.split(":", 5)
    if len(parts) != 6:
        return "aws", None, role_arn
    return parts[1] or "aws", parts[4] or None, parts[5].rsplit("/", 1)[-1]


def partition_of(region: str | None) -> str:
    """The ARN partition of a region."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def object_arn(bucket: str, key: str, partition: str = "aws") -> str:
    """The resource ARN of an object, as a policy's ``Resource`` names it."""
    return f"arn:{partition}:s3:::{bucket}/{key}"


# ------------------------------------------------------------------------------------- actions

# object-level write operations and the IAM action each needs (the second: with a VersionId)
_WRITES: dict[str, tuple[str, str]] = {
    "PutObject": ("s3:PutObject", "s3:PutObject"),
    "PostObject": ("s3:PutObject", "s3:PutObject"),  # browser-based upload (HTML form)
    "CopyObject": ("s3:PutObject", "s3:PutObject"),
    "CreateMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "UploadPart": ("s3:PutObject", "s3:PutObject"),
    "UploadPartCopy": ("s3:PutObject", "s3:PutObject"),
    "CompleteMultipartUpload": ("s3:PutObject", "s3:PutObject"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
    "DeleteObject": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "PutObjectAcl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
    "PutObjectTagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    "PutObjectRetention": ("s3:PutObjectRetention", "s3:PutObjectRetention"),
    "PutObjectLegalHold": ("s3:PutObjectLegalHold", "s3:PutObjectLegalHold"),
    "RestoreObject": ("s3:RestoreObject", "s3:RestoreObject"),
}
GUARDED_OPERATIONS = frozenset((*_WRITES, "DeleteObjects"))
# operations that create an object and may set its ACL and tags in the same request
_CREATES = ("PutObject", "PostObject", "CopyObject", "CreateMultipartUpload")
_ACL_PARAMETERS = ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP")


def requested_actions(operation: str, request: dict, *, replica: bool = False) -> tuple[str, ...]:
    """The IAM actions an object-level write needs (empty for any other operation).

    ``request`` holds the operation's parameters (``VersionId``, ``ACL``, ``Tagging``, ...); for
    ``DeleteObjects``, call this per object with ``DeleteObject``. Creating an object with an ACL
    also needs ``s3:PutObjectAcl``, with tags ``s3:PutObjectTagging``. A ``replica`` write (S3
    replication acting as the configuration's role) needs ``s3:ReplicateObject`` (and
    ``s3:ReplicateTags`` with tags, ``s3:ObjectOwnerOverrideToBucketOwner`` with an ACL, i.e. owner
    translation), a replicated delete marker ``s3:ReplicateDelete``.
    """
    if replica:
        if operation == "DeleteObject":
            return ("s3:ReplicateDelete",)
        actions = ["s3:ReplicateObject"]
        if request.get("Tagging"):
            actions.append("s3:ReplicateTags")
        if any(request.get(p) for p in _ACL_PARAMETERS):
            actions.append("s3:ObjectOwnerOverrideToBucketOwner")
        return tuple(actions)
    pair = _WRITES.get(operation)
    if pair is None:
        return ()
    actions = [pair[1] if request.get("VersionId") else pair[0]]
    if operation in _CREATES:
        if any(request.get(p) for p in _ACL_PARAMETERS):
            actions.append("s3:PutObjectAcl")
        if request.get("Tagging"):
            actions.append("s3:PutObjectTagging")
    return tuple(actions)


# ------------------------------------------------------------------------------------- matching


def _glob(pattern: str, flags: int = 0) -> re.Pattern:
    """IAM's wildcard match (``*`` any characters, ``?`` one character), the whole string."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, flags | re.DOTALL)


def _arn_pattern(pattern: str) -> Callable[[str], bool]:
    parts = pattern.split(":", 5)
    if len(parts) < 6:
        whole = _glob(pattern)
        return lambda value: whole.fullmatch(value) is not None
    compiled = [_glob(p) for p in parts]

    def match(value: str) -> bool:
        got = value.split(":", 5)
        return len(got) == 6 and all(c.fullmatch(v) is not None for c, v in zip(compiled, got, strict=True))

    return match


def _value_matcher(operator: str, value: str) -> Callable[[str], bool]:
    if operator in ("StringEquals", "StringNotEquals"):
        return lambda got: got == value
    if operator in ("StringLike", "StringNotLike"):
        compiled = _glob(value)
        return lambda got: compiled.fullmatch(got) is not None
    return _arn_pattern(value)


@dataclasses.dataclass(frozen=True)
class Condition:
    """One operator on one key with its values."""

    operator: str  # the base operator, e.g. ArnNotEquals
    key: str  # lower-case
    values: tuple[str, ...]
    if_exists: bool = False
    qualifier: str | None = None  # ForAnyValue | ForAllValues
    _matchers: tuple = dataclasses.field(default=(), compare=False, repr=False)

    def holds(self, context: dict[str, str]) -> bool:
        negated = self.operator in NEGATED
        present = self.key in context
        if not present:
            if self.if_exists:
                return True
            if self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return negated
        got = (context[self.key],)  # the subset's keys are single-valued: a set of one

        def test(value: str) -> bool:
            matched = any(m(value) for m in self._matchers)
            return not matched if negated else matched

        if self.qualifier == "ForAllValues":
            return all(test(v) for v in got)
        return any(test(v) for v in got)


def _principal_entries(value) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


@dataclasses.dataclass(frozen=True)
class Statement:
    """A ``Deny`` statement of the policy (its position and ``Sid``) and, when it is outside the
    subset, why it is not enforced."""

    index: int
    sid: str | None
    unsupported: str | None = None
    actions: tuple = ()
    not_action: bool = False
    resources: tuple = ()
    not_resource: bool = False
    everyone: bool = False
    aws: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        """How messages name the statement: its Sid, else its position."""
        return f"Sid {self.sid}" if self.sid else f"statement #{self.index + 1} (no Sid)"

    def covers(self, action: str, resource: str) -> bool:
        """Whether Action/NotAction and Resource/NotResource select this request."""
        hit = any(p.fullmatch(action) for p in self.actions)
        if hit == self.not_action:
            return False
        hit = any(p.fullmatch(resource) for p in self.resources)
        return hit != self.not_resource

    def names(self, principal: Principal) -> bool:
        """Whether the statement's Principal element includes ``principal``."""
        if self.everyone:
            return True
        if principal.service is not None:
            return principal.service in self.services
        if principal.arn is None:  # anonymous: only "*" names it
            return False
        for entry in self.aws:
            if _ACCOUNT.match(entry):
                if entry == principal.account:
                    return True
                continue
            root = _ROOT.match(entry)
            if root:
                if root.group(1) == principal.account:
                    return True
                continue
            if entry == principal.arn or (principal.session_arn and entry == principal.session_arn):
                return True
        return False

    def applies_to(self, principal: Principal) -> bool:
        """Whether the statement denies ``principal`` (Principal element and conditions)."""
        if not self.names(principal):
            return False
        context = principal.context()
        return all(c.holds(context) for c in self.conditions)


@dataclasses.dataclass(frozen=True)
class Denial:
    """An explicit deny: the statement and the action it refused."""

    statement: Statement
    action: str
    resource: str
    principal: Principal

    @property
    def message(self) -> str:
        return access_denied_message(self.principal, self.action, self.resource)


def access_denied_message(principal: Principal, action: str, resource: str) -> str:
    """S3's AccessDenied message for an explicit deny in a bucket policy."""
    if principal.anonymous:
        return "Access Denied"
    return (
        f'User: {principal.identity} is not authorized to perform: {action} on resource: "{resource}" '
        "with an explicit deny in a resource-based policy"
    )


@dataclasses.dataclass(frozen=True)
class Policy:
    """The ``Deny`` statements of a bucket policy: ``denies`` are enforced, ``skipped`` are not
    (each says why); ``problem`` is set when the document itself cannot be read."""

    denies: tuple[Statement, ...] = ()
    skipped: tuple[Statement, ...] = ()
    problem: str | None = None

    def candidates(self, action: str, resource: str) -> list[Statement]:
        """The enforced statements whose actions and resources select the request (no principal
        needed yet, so the caller identifies it only when some statement could deny)."""
        return [s for s in self.denies if s.covers(action, resource)]

    def denial(self, actions: Iterable[str], resource: str, principal: Principal | Callable[[], Principal]):
        """The first enforced statement denying any of ``actions`` on ``resource`` to the
        principal (given, or a function that identifies it on demand); None when none does."""
        for action in actions:
            statements = self.candidates(action, resource)
            if not statements:
                continue
            if callable(principal):
                principal = principal()
            for statement in statements:
                if statement.applies_to(principal):
                    return Denial(statement, action, resource, principal)
        return None


# ------------------------------------------------------------------------------------- parsing


def _strings(value) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _condition_values(value) -> tuple[str, ...] | None:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str | int | float | bool) for v in items):
        return None
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items)


def _parse_operator(name: str) -> tuple[str | None, str, bool]:
    qualifier = None
    if ":" in name:
        qualifier, _, name = name.partition(":")
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def _parse_conditions(block) -> tuple[tuple[Condition, ...], str | None]:
    if block is None:
        return (), None
    if not isinstance(block, dict):
        return (), "its Condition is not an object"
    conditions = []
    for operator_name, keys in block.items():
        qualifier, operator, if_exists = _parse_operator(str(operator_name))
        if operator not in STRING_OPERATORS + ARN_OPERATORS or (qualifier and qualifier not in QUALIFIERS):
            return (), f"condition operator {operator_name} is outside the supported subset"
        if not isinstance(keys, dict):
            return (), f"condition operator {operator_name} does not map keys to values"
        for key, raw in keys.items():
            if str(key).lower() not in SUPPORTED_KEYS:
                return (), f"condition key {key} is outside the supported subset"
            values = _condition_values(raw)
            if values is None:
                return (), f"condition {operator_name} {key} has values that are not strings"
            if any("${" in v for v in values):
                return (), f"condition {operator_name} {key} uses a policy variable"
            matchers = tuple(_value_matcher(operator, v) for v in values)
            conditions.append(Condition(operator, str(key).lower(), values, if_exists, qualifier, _matchers=matchers))
    return tuple(conditions), None


def _parse_principal(raw) -> tuple[dict, str | None]:
    if raw == "*":
        return {"everyone": True}, None
    if not isinstance(raw, dict):
        return {}, "its Principal is neither * nor an object"
    fields: dict = {"aws": (), "services": ()}
    for kind, value in raw.items():
        entries = _principal_entries(value)
        if kind == "AWS":
            if "*" in entries:
                return {"everyone": True}, None
            fields["aws"] = entries
        elif kind == "Service":
            fields["services"] = entries
        else:
            return {}, f"principal type {kind} is outside the supported subset"
    return fields, None


def _statement(index: int, raw: dict) -> Statement:
    sid = raw.get("Sid") if isinstance(raw.get("Sid"), str) else None

    def skip(reason: str) -> Statement:
        return Statement(index, sid, unsupported=reason)

    if "NotPrincipal" in raw:
        return skip("NotPrincipal is outside the supported subset")
    if "Principal" not in raw:
        return skip("it has no Principal")
    principal, problem = _parse_principal(raw["Principal"])
    if problem:
        return skip(problem)
    not_action = "NotAction" in raw
    actions = _strings(raw.get("NotAction" if not_action else "Action"))
    if not actions:
        return skip("its Action/NotAction is missing or not strings")
    not_resource = "NotResource" in raw
    resources = _strings(raw.get("NotResource" if not_resource else "Resource"))
    if not resources:
        return skip("its Resource/NotResource is missing or not strings")
    if any("${" in r for r in resources):
        return skip("its Resource uses a policy variable")
    conditions, problem = _parse_conditions(raw.get("Condition"))
    if problem:
        return skip(problem)
    return Statement(
        index,
        sid,
        actions=tuple(_glob(a, re.IGNORECASE) for a in actions),
        not_action=not_action,
        resources=tuple(_glob(r) for r in resources),
        not_resource=not_resource,
        conditions=conditions,
        **principal,
    )


def parse(text: str) -> Policy:
    """The ``Deny`` statements of a bucket policy document (JSON text)."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return Policy(problem=f"the policy is not JSON: {e}")
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return Policy(problem="the policy has no Statement list")
    denies, skipped = [], []
    for index, raw in enumerate(statements):
        if not isinstance(raw, dict) or raw.get("Effect") != "Deny":
            continue
        statement = _statement(index, raw)
        (skipped if statement.unsupported else denies).append(statement)
    return Policy(tuple(denies), tuple(skipped))
