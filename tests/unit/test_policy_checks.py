"""Policy as code (modules/policy_checks.py): each rule fails synthesis, a suppression with a reason passes it.

A tiny stack of plain resources passes every rule; each case weakens one thing of it and synthesizes it
(jsii is loaded once per session; a tiny stack synthesizes in well under a second). Finer points of the
rules are checked on Terraform JSON directly, without synthesis.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import deploy_policy
from modules import policy_checks
from modules.cdk_seam import aws, cdk

STACK = "tiny"
RELEASE_ROLE = "arn:aws:iam::111111111111:role/tiny-build"
REASON = "the test stack needs exactly this weakness"
TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::tiny-release", "arn:aws:s3:::tiny-release/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
GUARD = {
    "Sid": "ReleaseWriteGuard",
    "Effect": "Deny",
    "Principal": "*",
    "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
    "Resource": "arn:aws:s3:::tiny-release/release/source.zip",
    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [RELEASE_ROLE]}},
}
READ_ANYWHERE = {"Sid": "Describe", "Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": "*"}
WRITE_ANYWHERE = {
    "Sid": "WriteAnywhere",
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": "*",
}
TRUST = {
    "Effect": "Allow",
    "Principal": {"Service": "codebuild.amazonaws.com"},
    "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
}


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def without(statement: dict, key: str) -> dict:
    return {k: v for k, v in statement.items() if k != key}


def tiny_stack(outdir: Path, weak: str | None = None) -> tuple[cdk.App, dict]:
    """An app with one stack that passes every rule, except the one thing `weak` names; and its resources
    by construct id (a direct child of the stack: its Terraform name is its id)."""
    app = cdk.App(outdir=str(outdir), skip_validation=False)
    stack = cdk.TerraformStack(app, STACK)
    aws.provider.AwsProvider(stack, "aws", region="eu-west-1")
    key = aws.kms_key.KmsKey(stack, "key", description="tiny", enable_key_rotation=True)
    bucket = aws.s3_bucket.S3Bucket(stack, "release", bucket="tiny-release", tags={"relay:role": "release"})
    sse = aws.s3_bucket_server_side_encryption_configuration
    default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA
    encryption = (
        default(sse_algorithm="AES256")
        if weak == "bucket-key"
        else default(sse_algorithm="aws:kms", kms_master_key_id=key.arn)
    )
    sse.S3BucketServerSideEncryptionConfigurationA(
        stack,
        "encryption",
        bucket=bucket.id,
        rule=[sse.S3BucketServerSideEncryptionConfigurationRuleA(apply_server_side_encryption_by_default=encryption)],
    )
    versioning = aws.s3_bucket_versioning
    versioning.S3BucketVersioningA(
        stack,
        "versioning",
        bucket=bucket.id,
        versioning_configuration=versioning.S3BucketVersioningVersioningConfiguration(
            status="Suspended" if weak == "versioning" else "Enabled"
        ),
    )
    aws.s3_bucket_public_access_block.S3BucketPublicAccessBlock(
        stack,
        "public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=weak != "public-access-block",
    )
    guard = {"release-write-guard": [], "release-write-guard-condition": [without(GUARD, "Condition")]}.get(
        weak, [GUARD]
    )
    bucket_statements = [*([] if weak == "tls-only" else [TLS_ONLY]), *guard]
    aws.s3_bucket_policy.S3BucketPolicy(stack, "bucket-policy", bucket=bucket.id, policy=document(*bucket_statements))
    role = aws.iam_role.IamRole(
        stack,
        "role",
        name="tiny-build",
        assume_role_policy=document(without(TRUST, "Condition") if weak == "trust-condition" else TRUST),
    )
    role_statements = [READ_ANYWHERE, *([WRITE_ANYWHERE] if weak == "wildcard-resource-write" else [])]
    aws.iam_role_policy.IamRolePolicy(
        stack, "role-policy", role=role.id, name="access", policy=document(*role_statements)
    )
    logs = aws.cloudwatch_log_group.CloudwatchLogGroup(
        stack,
        "logs",
        name="/aws/codebuild/tiny",
        kms_key_id=None if weak == "log-group-key" else key.arn,
        retention_in_days=None if weak == "log-retention" else 30,
    )
    codebuild = aws.codebuild_project
    build = codebuild.CodebuildProject(
        stack,
        "build",
        name="tiny",
        service_role=role.arn,
        encryption_key=None if weak == "build-key" else key.arn,
        artifacts=codebuild.CodebuildProjectArtifacts(type="NO_ARTIFACTS"),
        environment=codebuild.CodebuildProjectEnvironment(
            compute_type="BUILD_GENERAL1_SMALL", image="aws/codebuild/standard:7.0", type="LINUX_CONTAINER"
        ),
        source=codebuild.CodebuildProjectSource(type="NO_SOURCE", buildspec="version: 0.2"),
    )
    policy_checks.attach(stack)
    resources = {"release": bucket, "role": role, "logs": logs, "build": build}
    resources |= {c.node.id: c for c in stack.node.children if cdk.TerraformResource.is_terraform_resource(c)}
    return app, resources


def synthesized(outdir: Path) -> dict:
    return json.loads((outdir / "stacks" / STACK / "cdk.tf.json").read_text())


# weakness -> (rule, construct id of the resource the message names, Terraform type of that resource)
CASES = {
    "bucket-key": ("customer-key", "release", "aws_s3_bucket"),
    "log-group-key": ("customer-key", "logs", "aws_cloudwatch_log_group"),
    "build-key": ("customer-key", "build", "aws_codebuild_project"),
    "versioning": ("versioning", "release", "aws_s3_bucket"),
    "public-access-block": ("public-access-block", "release", "aws_s3_bucket"),
    "tls-only": ("tls-only", "release", "aws_s3_bucket"),
    "wildcard-resource-write": ("wildcard-resource-write", "role-policy", "aws_iam_role_policy"),
    "trust-condition": ("trust-condition", "role", "aws_iam_role"),
    "release-write-guard": ("release-write-guard", "release", "aws_s3_bucket"),
    "release-write-guard-condition": ("release-write-guard", "release", "aws_s3_bucket"),
    "log-retention": ("log-retention", "logs", "aws_cloudwatch_log_group"),
}


def test_every_rule_has_a_case_that_breaks_it():
    assert {rule for rule, _, _ in CASES.values()} == set(policy_checks.RULES)


def test_the_tiny_stack_passes_every_rule(tmp_path):
    app, _ = tiny_stack(tmp_path)
    app.synth()
    assert policy_checks.check(STACK, synthesized(tmp_path)) == []


@pytest.mark.parametrize("weak", CASES)
def test_a_weakened_stack_fails_synthesis_naming_the_rule_and_resource(tmp_path, weak):
    rule, construct_id, rtype = CASES[weak]
    app, _ = tiny_stack(tmp_path, weak)
    with pytest.raises(Exception, match="Validation failed") as failure:
        app.synth()
    message = str(failure.value)
    expected = f"{STACK}: {rtype}.{construct_id} ({construct_id}): {rule}: "
    lines = [line for line in message.splitlines() if "tiny: " in line]
    # exactly one violation: the weakness, named with its rule and resource and how to suppress it
    assert len(lines) == 1, message
    assert expected in lines[0], message
    assert f'policy_checks.suppress(resource, "{rule}", reason)' in lines[0]
    assert not (tmp_path / "stacks" / STACK / "cdk.tf.json").exists()


@pytest.mark.parametrize("weak", CASES)
def test_a_suppression_with_a_reason_passes_the_rule_and_shows_in_the_json(tmp_path, weak):
    rule, construct_id, rtype = CASES[weak]
    app, resources = tiny_stack(tmp_path, weak)
    policy_checks.suppress(resources[construct_id], rule, REASON)
    app.synth()
    stack = synthesized(tmp_path)
    comment = stack["resource"][rtype][construct_id]["//"]
    assert comment["relay_suppressions"] == [{"rule": rule, "reason": REASON}]
    assert comment["metadata"]["path"] == f"{STACK}/{construct_id}"
    assert policy_checks.suppressions(stack) == [
        policy_checks.Suppression(f"{rtype}.{construct_id}", construct_id, rule, REASON)
    ]


def test_every_violation_is_reported_at_once(tmp_path):
    app, _ = tiny_stack(tmp_path)
    aws.s3_bucket.S3Bucket(app.node.find_child(STACK), "bare", bucket="tiny-bare")
    with pytest.raises(Exception, match="Validation failed") as failure:
        app.synth()
    rules = {"customer-key", "versioning", "public-access-block", "tls-only"}
    assert {r for r in rules if f"aws_s3_bucket.bare (bare): {r}: " in str(failure.value)} == rules


def test_suppressions_of_one_resource_add_up(tmp_path):
    app, resources = tiny_stack(tmp_path, "log-retention")
    policy_checks.suppress(resources["logs"], "log-retention", REASON)
    policy_checks.suppress(resources["logs"], "customer-key", "a second reason, long enough")
    app.synth()
    comment = synthesized(tmp_path)["resource"]["aws_cloudwatch_log_group"]["logs"]["//"]
    assert [s["rule"] for s in comment["relay_suppressions"]] == ["log-retention", "customer-key"]


@pytest.mark.parametrize(
    ("rule", "reason", "expected"),
    [
        ("log-retention", "", "too short"),
        ("log-retention", "   because   ", "too short"),
        ("log-retention", None, "too short"),
        ("retention", REASON, "unknown rule 'retention'; rules: customer-key, versioning"),
    ],
)
def test_a_suppression_without_a_reason_or_of_an_unknown_rule_is_an_error(tmp_path, rule, reason, expected):
    _, resources = tiny_stack(tmp_path)
    with pytest.raises(ValueError, match=expected):
        policy_checks.suppress(resources["logs"], rule, reason)


def test_a_checkov_check_is_suppressed_like_a_rule_and_listed_with_the_rules(tmp_path):
    app, resources = tiny_stack(tmp_path)
    policy_checks.suppress(resources["release"], "CKV_AWS_18", REASON)
    app.synth()
    assert policy_checks.suppressions(synthesized(tmp_path)) == [
        policy_checks.Suppression("aws_s3_bucket.release", "release", "CKV_AWS_18", REASON)
    ]
    with pytest.raises(ValueError, match="unknown rule 'CKV_AWS'"):
        policy_checks.suppress(resources["release"], "CKV_AWS", REASON)


def test_only_resources_can_be_suppressed(tmp_path):
    app, _ = tiny_stack(tmp_path)
    with pytest.raises(ValueError, match=r"not a Terraform resource.*too short"):
        policy_checks.suppress(app.node.find_child(STACK), "versioning", "short")


def test_a_suppression_written_without_a_reason_fails_synthesis(tmp_path):
    app, resources = tiny_stack(tmp_path, "log-retention")
    resources["logs"].add_override("//.relay_suppressions", [{"rule": "log-retention", "reason": "ok"}])
    with pytest.raises(Exception, match="Validation failed") as failure:
        app.synth()
    message = str(failure.value)
    assert (
        "aws_cloudwatch_log_group.logs (logs): suppression: suppression of rule log-retention has no reason" in message
    )
    # a malformed suppression suppresses nothing
    assert "aws_cloudwatch_log_group.logs (logs): log-retention: " in message


# Finer points, on Terraform JSON directly.


def stack_of(resources: dict) -> dict:
    return {"resource": resources}


def messages(resources: dict) -> list[str]:
    return [v.message for v in policy_checks.check(STACK, stack_of(resources))]


def role_policy(*statements: dict, suppressions: list | None = None) -> dict:
    policy = {"role": "r", "name": "access", "policy": document(*statements)}
    if suppressions is not None:
        policy["//"] = {"relay_suppressions": suppressions}
    return {"aws_iam_role_policy": {"p": policy}}


@pytest.mark.parametrize(
    ("action", "write"),
    [
        ("s3:GetObject", False),
        ("s3:Get*", False),
        ("s3:ListBucket", False),
        ("dynamodb:BatchGetItem", False),
        ("dynamodb:Query", False),
        ("s3:SelectObjectContent", False),
        ("ec2:DescribeInstances", False),
        ("s3:PutObject", True),
        ("s3:*", True),
        ("*", True),
        ("s3:*Object", True),
        ("s3:G*", True),
        ("iam:PassRole", True),
        ("s3:getobject", False),
        ("s3:Get?bject", False),
    ],
)
def test_an_action_is_a_read_only_when_its_name_starts_with_a_read_verb(action, write):
    assert policy_checks.is_write(action) is write


def test_read_actions_are_those_of_the_configuration_loader():
    assert policy_checks.READ_VERBS == deploy_policy.READ_VERBS
    for action in ("s3:Get*", "s3:G*", "s3:getobject", "s3:PutObject", "*", "iam:PassRole", "s3:*Object"):
        assert policy_checks.is_write(action) is deploy_policy.can_write(action), action


def test_wildcard_writes_are_found_in_every_kind_of_policy():
    wild = document(WRITE_ANYWHERE)
    found = messages(
        {
            "aws_iam_policy": {"managed": {"policy": wild}},
            "aws_iam_role": {"r": {"assume_role_policy": document(TRUST), "inline_policy": [{"policy": wild}]}},
            "aws_s3_bucket_policy": {"bp": {"bucket": "elsewhere", "policy": wild}},
            "aws_iam_role_policy": {"p": {"policy": document({**WRITE_ANYWHERE, "Resource": ["arn:aws:s3:::x", "*"]})}},
        }
    )
    assert sorted(m.split(": ")[1] for m in found) == [
        "aws_iam_policy.managed",
        "aws_iam_role.r",
        "aws_iam_role_policy.p",
        "aws_s3_bucket_policy.bp",
    ]
    assert all("statement WriteAnywhere allows write actions (s3:PutObject) on Resource" in m for m in found)


def test_not_action_and_not_resource_count_as_wildcards_and_deny_and_kms_key_policies_do_not():
    found = messages(
        role_policy(
            {"Sid": "AllBut", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            {"Sid": "Elsewhere", "Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::x/*"},
            {"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"},
        )
        | {"aws_kms_key": {"k": {"policy": document({**WRITE_ANYWHERE, "Action": "kms:*"})}}}
    )
    assert len(found) == 2, found
    assert "statement AllBut allows write actions (every action but iam:*)" in found[0]
    assert "statement Elsewhere allows write actions (s3:PutObject) on NotResource" in found[1]


def test_a_suppression_limited_to_statements_suppresses_only_those():
    other = {**WRITE_ANYWHERE, "Sid": "Other"}
    entry = {"rule": "wildcard-resource-write", "reason": REASON, "statements": ["WriteAnywhere"]}
    found = messages(role_policy(WRITE_ANYWHERE, other, suppressions=[entry]))
    assert len(found) == 1 and "statement Other allows" in found[0], found
    assert messages(role_policy(WRITE_ANYWHERE, suppressions=[entry])) == []


def test_a_policy_that_is_not_literal_json_cannot_be_checked():
    found = messages({"aws_iam_role_policy": {"p": {"policy": "${data.aws_iam_policy_document.x.json}"}}})
    assert found == [
        f"{STACK}: aws_iam_role_policy.p: wildcard-resource-write: the policy is not literal JSON, so the checks "
        "cannot read it; write the document as JSON (modules.iam.document), or suppress the rule next to the "
        'construct with policy_checks.suppress(resource, "wildcard-resource-write", reason)'
    ]


def test_a_service_trust_without_condition_is_named_by_its_sid():
    trust = {**without(TRUST, "Condition"), "Sid": "Replication", "Principal": {"Service": ["s3.amazonaws.com"]}}
    account_trust = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "sts:AssumeRole",
    }
    found = messages({"aws_iam_role": {"r": {"assume_role_policy": document(account_trust, trust)}}})
    assert len(found) == 1
    assert (
        "aws_iam_role.r: trust-condition: statement Replication trusts s3.amazonaws.com without a Condition" in found[0]
    )


def compliant_bucket(**attributes) -> dict:
    """A bucket configured the legacy way (inline blocks, policy on the bucket), plus `attributes`."""
    bucket = {
        "bucket": "legacy",
        "versioning": {"enabled": True},
        "server_side_encryption_configuration": {
            "rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": "k"}}
        },
        "policy": document({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": False}}}),
    }
    public_access_block = {
        flag: True
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    }
    return {
        "aws_s3_bucket": {"b": bucket | attributes},
        "aws_s3_bucket_public_access_block": {"pab": {"bucket": "legacy", **public_access_block}},
    }


def test_inline_bucket_settings_and_a_bucket_named_literally_count():
    assert messages(compliant_bucket()) == []


def test_a_tls_statement_must_deny_everyone_everything():
    found = messages(compliant_bucket(policy=document({**TLS_ONLY, "Principal": {"AWS": RELEASE_ROLE}})))
    assert len(found) == 1 and ": tls-only: " in found[0], found


@pytest.mark.parametrize(
    ("guard", "lacks"),
    [
        ({**GUARD, "Effect": "Allow"}, "Effect Deny"),
        ({**GUARD, "Principal": {"AWS": RELEASE_ROLE}}, 'Principal "*"'),
        ({**GUARD, "Action": ["s3:DeleteObject"]}, "s3:PutObject among its actions"),
        ({**GUARD, "Condition": {"StringNotEquals": {"aws:PrincipalArn": [RELEASE_ROLE]}}}, "ArnNotEquals"),
    ],
)
def test_the_release_write_guard_must_be_complete(guard, lacks):
    tagged = compliant_bucket(tags={"relay:role": "release"}, policy=document(TLS_ONLY, guard))
    found = messages(tagged)
    assert len(found) == 1, found
    assert ": release-write-guard: the release bucket's policy statement ReleaseWriteGuard lacks " in found[0]
    assert lacks in found[0]
    assert messages(compliant_bucket(tags={"relay:role": "artifacts"}, policy=document(TLS_ONLY, guard))) == []


@pytest.mark.parametrize("entry", [{"rule": "tls-only"}, "tls-only", {"rule": "no-such-rule", "reason": REASON}])
def test_malformed_suppressions_in_the_json_are_errors(entry):
    found = messages({"aws_s3_bucket": {"b": {"//": {"relay_suppressions": [entry]}}}})
    assert any(": suppression: " in m for m in found), found
    assert ": tls-only: " in " ".join(found)


def test_the_shipped_environments_break_no_rule(local, prod):
    found = [
        v.message
        for synth in (local, prod)
        for name in synth.stacks
        for v in policy_checks.check(name, synth.stack(name))
    ]
    assert found == []
