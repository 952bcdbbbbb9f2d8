"""Explicit Deny statements of bucket policies (``relay_emulator.core.bucket_policy``), without an emulator."""

from __future__ import annotations

import json

import pytest
from relay_emulator.core.bucket_policy import (
    GUARDED_OPERATIONS,
    Principal,
    access_denied_message,
    object_arn,
    parse,
    partition_of,
    requested_actions,
)

ACCOUNT, OTHER = "000000000000", "111111111111"
ROLE_A = f"arn:aws:iam::{ACCOUNT}:role/release-builder"
ROLE_B = f"arn:aws:iam::{ACCOUNT}:role/intruder"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ARN = "arn:aws:s3:::rel/release/source.zip"

A = Principal.role(ROLE_A, "build-1")
B = Principal.role(ROLE_B, "session")
ROOT_P = Principal.root(ACCOUNT)
OTHER_ROOT = Principal.root(OTHER)
ANONYMOUS = Principal()
TRAIL = Principal.for_service("cloudtrail.amazonaws.com", ACCOUNT)


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny(action="s3:PutObject", resource=KEY_ARN, principal="*", condition=None, sid="Guard", **extra) -> dict:
    s = {"Sid": sid, "Effect": "Deny", "Principal": principal, "Action": action, "Resource": resource, **extra}
    if condition is not None:
        s["Condition"] = condition
    return s


def guard(allowed) -> str:
    """relay's ReleaseWriteGuard shape: writes of the release key only by the allowed roles."""
    return policy(
        deny(
            ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"],
            sid="ReleaseWriteGuard",
            condition={"ArnNotEquals": {"aws:PrincipalArn": allowed}},
        )
    )


def denied(text: str, principal: Principal, action="s3:PutObject", resource=KEY_ARN) -> str | None:
    """The Sid (or name) of the statement denying the request, None when it is not denied."""
    denial = parse(text).denial([action], resource, principal)
    return denial.statement.name if denial else None


# --- the release write guard ------------------------------------------------------------------


@pytest.mark.parametrize(
    "allowed, principal, action, resource, expected",
    [
        ([ROLE_A], B, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),
        ([ROLE_A], A, "s3:PutObject", KEY_ARN, None),
        ([ROLE_A], B, "s3:PutObject", "arn:aws:s3:::rel/release/other.zip", None),
        ([ROLE_A], B, "s3:GetObject", KEY_ARN, None),
        ([ROLE_A], B, "s3:DeleteObjectVersion", KEY_ARN, "Sid ReleaseWriteGuard"),
        ([ROLE_A], B, "s3:PutObjectAcl", KEY_ARN, "Sid ReleaseWriteGuard"),
        ([ROLE_A], ROOT_P, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),
        ([ROLE_A, ROOT], ROOT_P, "s3:PutObject", KEY_ARN, None),
        ([ROLE_A, ROOT], OTHER_ROOT, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),
        ([ROLE_A], ANONYMOUS, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),  # no PrincipalArn: Not* holds
        ([ROLE_A], TRAIL, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),
        (ROLE_A, B, "s3:PutObject", KEY_ARN, "Sid ReleaseWriteGuard"),  # a single value, not a list
    ],
    ids=[
        "other-role-denied",
        "allowed-role-writes",
        "other-key-not-guarded",
        "reads-not-guarded",
        "delete-version-denied",
        "acl-denied",
        "root-denied-unless-listed",
        "root-listed",
        "other-account-root-denied",
        "anonymous-denied",
        "service-principal-denied",
        "single-value",
    ],
)
def test_release_write_guard(allowed, principal, action, resource, expected):
    assert denied(guard(allowed), principal, action, resource) == expected


def test_no_policy_allow_statements_and_unreadable_documents_deny_nothing():
    assert parse("").denies == () and parse("").problem
    allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    assert parse(policy(allow)).denies == ()
    assert denied(policy(allow), B) is None
    assert "not JSON" in parse("{nope").problem
    assert parse(json.dumps({"Version": "2012-10-17"})).problem == "the policy has no Statement list"
    # a single statement object instead of a list is read as a list of one
    single = json.dumps({"Statement": deny(principal="*")})
    assert denied(single, B) == "Sid Guard"


def test_the_principal_is_identified_only_when_a_statement_could_deny():
    calls = []

    def identify():
        calls.append(1)
        return B

    parsed = parse(guard([ROLE_A]))
    assert parsed.denial(["s3:GetObject"], KEY_ARN, identify) is None
    assert parsed.denial(["s3:PutObject"], "arn:aws:s3:::rel/other", identify) is None
    assert calls == []
    denial = parsed.denial(["s3:GetObject", "s3:PutObject"], KEY_ARN, identify)
    assert calls == [1]
    assert (denial.action, denial.resource, denial.principal) == ("s3:PutObject", KEY_ARN, B)


# --- condition operators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, principal, expected_denied",
    [
        ({"StringEquals": {"aws:PrincipalArn": ROLE_B}}, B, True),
        ({"StringEquals": {"aws:PrincipalArn": ROLE_B}}, A, False),
        ({"StringNotEquals": {"aws:PrincipalArn": ROLE_A}}, B, True),
        ({"StringNotEquals": {"aws:PrincipalArn": ROLE_A}}, A, False),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/intr?der"}}, B, True),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/intr?der"}}, A, False),
        ({"StringNotLike": {"aws:PrincipalArn": "*:role/release-*"}}, B, True),
        ({"StringNotLike": {"aws:PrincipalArn": "*:role/release-*"}}, A, False),
        ({"ArnEquals": {"aws:PrincipalArn": ROLE_B}}, B, True),
        ({"ArnEquals": {"aws:PrincipalArn": ROLE_B}}, A, False),
        ({"ArnNotEquals": {"aws:PrincipalArn": ROLE_A}}, B, True),
        ({"ArnNotEquals": {"aws:PrincipalArn": ROLE_A}}, A, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, B, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, ROOT_P, False),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/release-*"}}, B, True),
        ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/release-*"}}, A, False),
        # ARNs compare part by part (wildcards inside a part); a pattern of fewer parts as a whole
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::0*:role/intr*"}}, B, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::1*:role/*"}}, B, False),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/intruder"}}, B, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:*:role/intruder"}}, B, True),
        ({"ArnLike": {"aws:PrincipalArn": "*"}}, B, True),
        ({"ArnEquals": {"aws:PrincipalArn": "not-an-arn"}}, B, False),
        # string values are case-sensitive, key names are not
        ({"StringEquals": {"aws:PrincipalArn": ROLE_B.upper()}}, B, False),
        ({"StringEquals": {"AWS:PRINCIPALARN": ROLE_B}}, B, True),
        ({"StringEquals": {"aws:PrincipalAccount": OTHER}}, B, False),
        ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, B, True),
        # several values of one key: OR; of a negated operator: NOR
        ({"StringEquals": {"aws:PrincipalArn": [ROLE_A, ROLE_B]}}, B, True),
        ({"ArnNotEquals": {"aws:PrincipalArn": [ROLE_A, ROLE_B]}}, B, False),
        ({"ArnNotEquals": {"aws:PrincipalArn": [ROLE_A, ROOT]}}, B, True),
        ({"StringNotEquals": {"aws:PrincipalArn": [ROLE_A, ROOT]}}, ROOT_P, False),
        # several operators and keys: AND
        (
            {"ArnNotEquals": {"aws:PrincipalArn": ROLE_A}, "StringEquals": {"aws:PrincipalAccount": OTHER}},
            B,
            False,
        ),
        (
            {"ArnNotEquals": {"aws:PrincipalArn": ROLE_A}, "StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            B,
            True,
        ),
    ],
)
def test_condition_operators(condition, principal, expected_denied):
    assert (denied(policy(deny(condition=condition)), principal) is not None) is expected_denied


@pytest.mark.parametrize(
    "condition, principal, expected_denied",
    [
        # aws:SourceAccount is absent for users and roles: positive operators fail, negated ones hold
        ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, B, False),
        ({"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}, B, True),
        ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, TRAIL, True),
        ({"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}, TRAIL, False),
        # IfExists: a missing key makes the condition hold
        ({"StringEqualsIfExists": {"aws:SourceAccount": OTHER}}, B, True),
        ({"StringEqualsIfExists": {"aws:SourceAccount": OTHER}}, TRAIL, False),
        ({"ArnNotEqualsIfExists": {"aws:PrincipalArn": ROLE_A}}, TRAIL, True),
        ({"ArnNotEqualsIfExists": {"aws:PrincipalArn": ROLE_A}}, A, False),
        # set qualifiers: ForAnyValue needs a value, ForAllValues holds for none
        ({"ForAnyValue:StringEquals": {"aws:SourceAccount": ACCOUNT}}, B, False),
        ({"ForAnyValue:StringEquals": {"aws:SourceAccount": ACCOUNT}}, TRAIL, True),
        ({"ForAllValues:StringEquals": {"aws:SourceAccount": OTHER}}, B, True),
        ({"ForAllValues:StringEquals": {"aws:SourceAccount": OTHER}}, TRAIL, False),
        ({"ForAnyValue:StringNotLike": {"aws:PrincipalArn": "*:role/release-*"}}, B, True),
        ({"ForAllValues:ArnNotEquals": {"aws:PrincipalArn": [ROLE_A]}}, A, False),
        ({"ForAnyValue:StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}, B, True),
    ],
)
def test_missing_keys_if_exists_and_set_qualifiers(condition, principal, expected_denied):
    assert (denied(policy(deny(condition=condition)), principal) is not None) is expected_denied


# --- actions, resources, principals -----------------------------------------------------------


@pytest.mark.parametrize(
    "actions, action, expected_denied",
    [
        ("s3:PutObject", "s3:PutObject", True),
        ("s3:PutObject", "s3:putobject", True),  # action names are case-insensitive
        ("S3:PUTOBJECT", "s3:PutObject", True),
        ("s3:Put*", "s3:PutObjectAcl", True),
        ("s3:Put*", "s3:DeleteObject", False),
        ("s3:?utObject", "s3:PutObject", True),
        ("s3:*", "s3:DeleteObjectVersion", True),
        ("*", "s3:ReplicateObject", True),
        (["s3:GetObject", "s3:Delete*"], "s3:DeleteObject", True),
        ("s3:PutObject", "s3:PutObjectAcl", False),  # no implicit prefix match
    ],
)
def test_action_wildcards(actions, action, expected_denied):
    assert (denied(policy(deny(action=actions)), B, action=action) is not None) is expected_denied


@pytest.mark.parametrize(
    "resources, resource, expected_denied",
    [
        (KEY_ARN, KEY_ARN, True),
        ("arn:aws:s3:::rel/release/*", KEY_ARN, True),
        ("arn:aws:s3:::rel/*", "arn:aws:s3:::rel/a/b/c", True),  # * crosses "/"
        ("arn:aws:s3:::rel/*/source.zip", KEY_ARN, True),
        ("arn:aws:s3:::rel/release/source.zi?", KEY_ARN, True),
        ("arn:aws:s3:::rel/RELEASE/*", KEY_ARN, False),  # resources are case-sensitive
        ("arn:aws:s3:::rel", KEY_ARN, False),  # the bucket is not its objects
        ("*", KEY_ARN, True),
        (["arn:aws:s3:::other/*", "arn:aws:s3:::rel/release/*"], KEY_ARN, True),
        ("arn:aws:s3:::rel/release/source.zip.sig", KEY_ARN, False),
    ],
)
def test_resource_wildcards(resources, resource, expected_denied):
    assert (denied(policy(deny(resource=resources)), B, resource=resource) is not None) is expected_denied


def test_not_action_and_not_resource():
    not_action = {"Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*", "Resource": "*"}
    assert denied(policy(not_action), B, action="s3:PutObject") == "statement #1 (no Sid)"
    assert denied(policy(not_action), B, action="s3:GetObject") is None
    not_resource = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::rel/drafts/*"}
    assert denied(policy(not_resource), B) is not None
    assert denied(policy(not_resource), B, resource="arn:aws:s3:::rel/drafts/x") is None


@pytest.mark.parametrize(
    "principal_element, principal, expected_denied",
    [
        ("*", B, True),
        ("*", ANONYMOUS, True),
        ("*", TRAIL, True),
        ({"AWS": "*"}, ANONYMOUS, True),
        ({"AWS": ["*"]}, B, True),
        ({"AWS": ACCOUNT}, B, True),  # an account names every principal of it
        ({"AWS": ROOT}, B, True),
        ({"AWS": ROOT}, ROOT_P, True),
        ({"AWS": OTHER}, B, False),
        ({"AWS": f"arn:aws:iam::{OTHER}:root"}, B, False),
        ({"AWS": ROLE_B}, B, True),
        ({"AWS": ROLE_B}, A, False),
        ({"AWS": [ROLE_A, ROLE_B]}, A, True),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/session"}, B, True),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/other"}, B, False),
        ({"AWS": ROLE_B}, ANONYMOUS, False),
        ({"AWS": ACCOUNT}, TRAIL, False),
        ({"Service": "cloudtrail.amazonaws.com"}, TRAIL, True),
        ({"Service": "cloudtrail.amazonaws.com"}, B, False),
        ({"AWS": "arn:aws:iam::*:role/intruder"}, B, False),  # no partial wildcards in Principal
    ],
)
def test_principal_element(principal_element, principal, expected_denied):
    assert (denied(policy(deny(principal=principal_element)), principal) is not None) is expected_denied


# --- outside the subset: not enforced, with the reason -----------------------------------------


@pytest.mark.parametrize(
    "statement, reason",
    [
        (deny(condition={"Bool": {"aws:SecureTransport": "false"}}), "condition operator Bool"),
        (deny(condition={"StringEquals": {"aws:SecureTransport": "false"}}), "condition key aws:SecureTransport"),
        (deny(condition={"StringEqualsIgnoreCase": {"aws:PrincipalArn": ROLE_B}}), "StringEqualsIgnoreCase"),
        (deny(condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), "condition operator IpAddress"),
        (deny(condition={"ForSomeValues:StringEquals": {"aws:PrincipalArn": ROLE_B}}), "ForSomeValues"),
        (deny(condition={"StringEquals": {"aws:PrincipalArn": "${aws:username}"}}), "policy variable"),
        (deny(resource="arn:aws:s3:::rel/${aws:PrincipalAccount}/*"), "policy variable"),
        ({**deny(), "NotPrincipal": {"AWS": ROLE_A}}, "NotPrincipal"),
        ({k: v for k, v in deny().items() if k != "Principal"}, "no Principal"),
        (deny(principal={"CanonicalUser": "abc"}), "principal type CanonicalUser"),
        (deny(principal={"Federated": "cognito-identity.amazonaws.com"}), "principal type Federated"),
        ({k: v for k, v in deny().items() if k != "Action"}, "Action/NotAction"),
    ],
    ids=[
        "bool-secure-transport",
        "unsupported-key",
        "ignore-case-operator",
        "ip-operator",
        "unknown-qualifier",
        "variable-in-condition",
        "variable-in-resource",
        "not-principal",
        "no-principal",
        "canonical-user",
        "federated",
        "no-action",
    ],
)
def test_statements_outside_the_subset_are_skipped_with_the_reason(statement, reason):
    parsed = parse(policy(statement))
    assert parsed.denies == ()
    (skipped,) = parsed.skipped
    assert reason in skipped.unsupported
    assert parsed.denial(["s3:PutObject"], KEY_ARN, B) is None


def test_a_skipped_statement_does_not_hide_the_enforced_ones():
    tls_only = deny(action="s3:*", resource="*", sid="TlsOnly", condition={"Bool": {"aws:SecureTransport": "false"}})
    parsed = parse(policy(tls_only, json.loads(guard([ROLE_A]))["Statement"][0]))
    assert [s.sid for s in parsed.skipped] == ["TlsOnly"]
    assert [s.sid for s in parsed.denies] == ["ReleaseWriteGuard"]
    assert parsed.denial(["s3:PutObject"], KEY_ARN, B).statement.sid == "ReleaseWriteGuard"


# --- requests: actions and messages -----------------------------------------------------------


@pytest.mark.parametrize(
    "operation, request_params, replica, expected",
    [
        ("PutObject", {}, False, ("s3:PutObject",)),
        ("PutObject", {"ACL": "private"}, False, ("s3:PutObject", "s3:PutObjectAcl")),
        (
            "PutObject",
            {"GrantRead": "id=x", "Tagging": "a=1"},
            False,
            ("s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"),
        ),
        ("PostObject", {"ACL": "private", "Tagging": None}, False, ("s3:PutObject", "s3:PutObjectAcl")),
        ("CopyObject", {"CopySource": "b/k"}, False, ("s3:PutObject",)),
        ("CreateMultipartUpload", {"Tagging": "a=1"}, False, ("s3:PutObject", "s3:PutObjectTagging")),
        ("UploadPart", {}, False, ("s3:PutObject",)),
        ("UploadPartCopy", {}, False, ("s3:PutObject",)),
        ("CompleteMultipartUpload", {}, False, ("s3:PutObject",)),
        ("AbortMultipartUpload", {}, False, ("s3:AbortMultipartUpload",)),
        ("DeleteObject", {}, False, ("s3:DeleteObject",)),
        ("DeleteObject", {"VersionId": "v1"}, False, ("s3:DeleteObjectVersion",)),
        ("PutObjectAcl", {}, False, ("s3:PutObjectAcl",)),
        ("PutObjectAcl", {"VersionId": "v1"}, False, ("s3:PutObjectVersionAcl",)),
        ("PutObjectTagging", {"VersionId": "v1"}, False, ("s3:PutObjectVersionTagging",)),
        ("DeleteObjectTagging", {}, False, ("s3:DeleteObjectTagging",)),
        ("PutObjectRetention", {}, False, ("s3:PutObjectRetention",)),
        ("PutObjectLegalHold", {}, False, ("s3:PutObjectLegalHold",)),
        ("RestoreObject", {}, False, ("s3:RestoreObject",)),
        ("GetObject", {}, False, ()),
        ("PutBucketPolicy", {}, False, ()),
        ("PutObject", {}, True, ("s3:ReplicateObject",)),
        ("PutObject", {"Tagging": "a=1"}, True, ("s3:ReplicateObject", "s3:ReplicateTags")),
        (
            "PutObject",
            {"ACL": "bucket-owner-full-control"},
            True,
            ("s3:ReplicateObject", "s3:ObjectOwnerOverrideToBucketOwner"),
        ),
        ("DeleteObject", {}, True, ("s3:ReplicateDelete",)),
    ],
)
def test_requested_actions(operation, request_params, replica, expected):
    assert requested_actions(operation, request_params, replica=replica) == expected


def test_guarded_operations_are_the_object_writes():
    assert {"PutObject", "CopyObject", "CompleteMultipartUpload", "DeleteObject", "DeleteObjects"} <= GUARDED_OPERATIONS
    assert not {"GetObject", "HeadObject", "ListObjectsV2", "PutBucketPolicy"} & GUARDED_OPERATIONS


def test_principals_their_context_and_the_access_denied_message():
    assert B.arn == ROLE_B and B.account == ACCOUNT
    assert B.session_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/session"
    assert B.context() == {"aws:principalarn": ROLE_B, "aws:principalaccount": ACCOUNT}
    with_path = Principal.role(f"arn:aws:iam::{OTHER}:role/team/deployer", "s")
    assert with_path.session_arn == f"arn:aws:sts::{OTHER}:assumed-role/deployer/s"
    assert with_path.account == OTHER
    assert ROOT_P.context() == {"aws:principalarn": ROOT, "aws:principalaccount": ACCOUNT}
    assert Principal.user(f"arn:aws:iam::{OTHER}:user/ci").account == OTHER
    assert TRAIL.context() == {"aws:sourceaccount": ACCOUNT}
    assert ANONYMOUS.anonymous and not TRAIL.anonymous and ANONYMOUS.context() == {}
    assert access_denied_message(B, "s3:PutObject", KEY_ARN) == (
        f"User: {B.session_arn} is not authorized to perform: s3:PutObject on resource: "
        f'"{KEY_ARN}" with an explicit deny in a resource-based policy'
    )
    assert access_denied_message(ROOT_P, "s3:PutObject", KEY_ARN).startswith(f"User: {ROOT} is not authorized")
    assert access_denied_message(ANONYMOUS, "s3:PutObject", KEY_ARN) == "Access Denied"


def test_arns_and_partitions():
    assert object_arn("b", "a/b c.zip") == "arn:aws:s3:::b/a/b c.zip"
    assert object_arn("b", "k", partition_of("cn-north-1")) == "arn:aws-cn:s3:::b/k"
    assert partition_of("us-gov-west-1") == "aws-us-gov"
    assert partition_of("eu-south-2") == partition_of(None) == "aws"
    assert Principal.root(ACCOUNT, "aws-cn").arn == f"arn:aws-cn:iam::{ACCOUNT}:root"
