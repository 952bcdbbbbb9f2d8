"""The deploy role's ceiling: each rejected statement shape gets one message naming the statement, what is at
fault, the rule and the fix; exceptions with a reason cover the three exceptable rules and nothing else;
stale exceptions are errors; placeholders are filled per region and no other `${...}` passes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from config import deploy_policy
from config.deploy_policy import PLACEHOLDERS, can_write, check, load_statements, problems, read_policy, render
from config.schema import PolicyException

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "app/sample/deploy-policy.json"
PARAMETERS = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/app/*"
REASON = "the service supports no resource-level permissions for it"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str | None = "Grant", action=("ssm:PutParameter",), resource=PARAMETERS, **extra) -> dict:
    statement = {"Effect": "Allow", "Action": list(action), "Resource": resource, **extra}
    return {"Sid": sid, **statement} if sid else statement


def exception(sid: str, rule: str) -> PolicyException:
    return PolicyException(sid=sid, rule=rule, reason=REASON)


def hint(sid: str, rule: str) -> str:
    entry = json.dumps({"sid": sid, "rule": rule, "reason": "<why, at least 20 characters>"})
    return f"or add to deploy.policy_exceptions {entry}"


def test_the_shipped_sample_policy_is_within_the_ceiling_without_exceptions():
    document = read_policy(PROJECT_ROOT, SAMPLE)
    assert problems(document) == []
    parameter = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/relay-sample-app/*"
    assert document["Statement"][0]["Resource"] == parameter, "the sample parameter's statement stays first"


REJECTED = [
    pytest.param(
        allow(action=["iam:*"], resource="arn:aws:iam::111122223333:role/app-*"),
        [
            "statement 'Grant' allows 'iam:*', a wildcard that can match write actions (rule service-wildcard); list "
            "the write actions the template needs (a wildcard may cover read actions only, e.g. 'ssm:Get*'), "
            + hint("Grant", "service-wildcard"),
            "statement 'Grant' allows 'iam:*', which passes roles to services, without an iam:PassedToService "
            'condition (rule passrole-unconditioned); add "Condition": {"StringEquals": {"iam:PassedToService": '
            '"<service>.amazonaws.com"}}, ' + hint("Grant", "passrole-unconditioned"),
        ],
        id="service-wide-wildcard",
    ),
    pytest.param(
        allow(action=["ssm:*Parameter"]),
        [
            "statement 'Grant' allows 'ssm:*Parameter', a wildcard that can match write actions (rule "
            "service-wildcard); list the write actions the template needs (a wildcard may cover read actions only, "
            "e.g. 'ssm:Get*'), " + hint("Grant", "service-wildcard")
        ],
        id="wildcard-matching-a-write-action",
    ),
    pytest.param(
        allow(action=["ssm:PutParameter", "ssm:GetParameter"], resource="*"),
        [
            "statement 'Grant' allows the write actions 'ssm:PutParameter' on '*', every resource (rule "
            "resource-wildcard); name the resources, e.g. "
            "'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/my-app/*', "
            + hint("Grant", "resource-wildcard")
        ],
        id="write-on-every-resource",
    ),
    pytest.param(
        allow(action=["s3:PutObject"], resource=["arn:aws:s3:::bucket/*", "arn:${AWS::Partition}:*:*:*:*"]),
        [
            "statement 'Grant' allows the write actions 's3:PutObject' on 'arn:${AWS::Partition}:*:*:*:*', every "
            "resource (rule resource-wildcard); name the resources, e.g. "
            "'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/my-app/*', "
            + hint("Grant", "resource-wildcard")
        ],
        id="arn-of-only-wildcards",
    ),
    pytest.param(
        allow(sid=None, action=["iam:PassRole"], resource="arn:aws:iam::111122223333:role/app-*"),
        [
            "statement Statement[0] (no Sid) allows 'iam:PassRole', which passes roles to services, without an "
            'iam:PassedToService condition (rule passrole-unconditioned); add "Condition": {"StringEquals": '
            '{"iam:PassedToService": "<service>.amazonaws.com"}}, or give the statement a Sid and add to '
            "deploy.policy_exceptions an entry with that sid, rule 'passrole-unconditioned' and a reason"
        ],
        id="passrole-without-condition-and-without-sid",
    ),
    pytest.param(
        allow(
            action=["iam:pass*"],
            resource="arn:aws:iam::111122223333:role/app-*",
            Condition={"StringNotEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        [
            "statement 'Grant' allows 'iam:pass*', a wildcard",
            "statement 'Grant' allows 'iam:pass*', which passes roles to services, without an iam:PassedToService",
        ],
        id="passrole-wildcard-with-a-negated-condition",
    ),
    pytest.param(
        allow(resource="arn:aws:ssm:${AWS::Region}:${aws:username}:parameter/app/*"),
        [
            "statement 'Grant' uses the placeholder '${aws:username}' (rule unknown-placeholder); allowed: "
            "${AWS::Region}, ${AWS::AccountId}, ${AWS::Partition} (Terraform would read any other ${...} as its own "
            "interpolation); replace it with one of them or the literal value"
        ],
        id="unknown-placeholder",
    ),
    pytest.param(
        allow(action=["ssm:GetParameter"], Condition={"StringEquals": {"aws:ResourceTag/owner": "${AWS::Accountid}"}}),
        ["statement 'Grant' uses the placeholder '${AWS::Accountid}' (rule unknown-placeholder)"],
        id="placeholder-in-a-condition-with-the-wrong-case",
    ),
    pytest.param(
        {"Sid": "Grant", "Effect": "Allow", "NotAction": "iam:*", "Resource": PARAMETERS},
        [
            "statement 'Grant' is an Allow with NotAction, which allows every action it does not name (rule "
            "not-action); list the actions the template needs in Action instead"
        ],
        id="not-action",
    ),
    pytest.param(
        {"Sid": "Grant", "Effect": "Allow", "Action": "ssm:GetParameter", "NotResource": PARAMETERS},
        [
            "statement 'Grant' is an Allow with NotResource, which allows every resource it does not name "
            "(rule not-resource); list the resources in Resource instead"
        ],
        id="not-resource",
    ),
    pytest.param(
        {"Sid": "Grant", "Effect": "allow", "Action": "ssm", "Resource": PARAMETERS, "Principal": "*"},
        [
            "statement 'Grant' has Effect 'allow' (rule statement-shape); allowed: 'Allow', 'Deny'",
            "statement 'Grant' names a Principal (rule statement-shape); the deploy policy is attached to the deploy "
            "role, remove the Principal",
            "statement 'Grant' has action 'ssm' (rule statement-shape); allowed: 'service:Action' such as "
            "'ssm:GetParameter' (wildcards * and ? allowed)",
        ],
        id="malformed-statement",
    ),
    pytest.param(
        {"Sid": "Grant", "Effect": "Allow", "Action": [], "Resource": PARAMETERS, "NotResource": "*"},
        [
            "statement 'Grant': Action must be a non-empty string or list of strings (rule statement-shape)",
            "statement 'Grant' must have exactly one of Resource and NotResource (rule statement-shape)",
        ],
        id="empty-action-and-two-resource-elements",
    ),
]


@pytest.mark.parametrize(("statement", "expected"), REJECTED)
def test_each_rejected_shape_gets_a_message_naming_statement_fault_rule_and_fix(statement, expected):
    found = problems(policy(statement))
    assert len(found) == len(expected), found
    for message, fragment in zip(found, expected, strict=True):
        assert message.startswith(fragment), (message, fragment)


ALLOWED = [
    pytest.param(allow(action=["ssm:Get*", "ssm:Describe*", "ssm:ListTagsForResource"]), id="read-wildcards"),
    pytest.param(allow(action=["ssm:get*", "SSM:GETPARAMETER"], resource="*"), id="reads-on-every-resource"),
    pytest.param(allow(action=["s3:PutObject"], resource="arn:aws:s3:::bucket/*"), id="write-on-named-resources"),
    pytest.param(
        allow(
            action=["iam:PassRole"],
            resource="arn:${AWS::Partition}:iam::${AWS::AccountId}:role/app-*",
            Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
        ),
        id="passrole-to-one-service",
    ),
    pytest.param(
        {"Sid": "Guard", "Effect": "Deny", "NotAction": "*", "NotResource": "*"}, id="deny-is-not-held-to-the-ceiling"
    ),
]


@pytest.mark.parametrize("statement", ALLOWED)
def test_statements_within_the_ceiling_pass(statement):
    assert problems(policy(statement)) == []


@pytest.mark.parametrize(
    ("action", "writes"),
    [
        ("ssm:GetParameter", False),
        ("ssm:Get*", False),
        ("dynamodb:batchget*", False),
        ("ssm:PutParameter", True),
        ("ssm:*Parameter", True),
        ("ssm:G*", True),
        ("ssm:Li?t*", True),
        ("*", True),
        ("s3:*", True),
    ],
)
def test_a_write_action_is_any_name_not_starting_with_a_read_verb(action, writes):
    assert can_write(action) is writes


def test_an_exception_with_the_statements_sid_and_rule_covers_exactly_that():
    statement = allow(sid="Tags", action=["iam:*"], resource="*")
    assert [m.split(" (rule ")[1].split(")")[0] for m in problems(policy(statement))] == [
        "service-wildcard",
        "resource-wildcard",
        "passrole-unconditioned",
    ]
    covered = [exception("Tags", "service-wildcard"), exception("Tags", "resource-wildcard")]
    left = problems(policy(statement), covered)
    assert len(left) == 1 and "(rule passrole-unconditioned)" in left[0]
    assert problems(policy(statement), [*covered, exception("Tags", "passrole-unconditioned")]) == []


def test_an_exception_covers_only_its_own_statement():
    broad = allow(sid="A", action=["ssm:*"])
    also_broad = allow(sid="B", action=["sns:*"], resource="arn:aws:sns:eu-west-1:111122223333:topic")
    left = problems(policy(broad, also_broad), [exception("A", "service-wildcard")])
    assert len(left) == 1 and left[0].startswith("statement 'B' allows 'sns:*'")


def test_rules_without_exceptions_stay_reported_whatever_the_exceptions():
    statement = {"Sid": "Grant", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert problems(policy(statement), [exception("Grant", "resource-wildcard")]) == [
        "statement 'Grant' is an Allow with NotAction, which allows every action it does not name (rule not-action); "
        "list the actions the template needs in Action instead",
        "deploy.policy_exceptions[0]: statement 'Grant' breaks no rule 'resource-wildcard', so the exception covers "
        "nothing; remove the entry",
    ]


def test_stale_exceptions_are_errors_each_naming_its_entry():
    statements = policy(allow(sid="Params"), allow(sid="Wide", action=["ssm:*"]))
    exceptions = [
        exception("Wide", "service-wildcard"),
        exception("Gone", "service-wildcard"),
        exception("Params", "resource-wildcard"),
        exception("Wide", "service-wildcard"),
    ]
    assert problems(statements, exceptions) == [
        "deploy.policy_exceptions[1]: names Sid 'Gone', which no statement of the policy file has; Sids in the file: "
        "'Params', 'Wide'; remove the entry (a stale exception would cover the next statement given that Sid)",
        "deploy.policy_exceptions[2]: statement 'Params' breaks no rule 'resource-wildcard', so the exception covers "
        "nothing; remove the entry",
        "deploy.policy_exceptions[3]: repeats the exception for Sid 'Wide' and rule 'service-wildcard' of "
        "deploy.policy_exceptions[0]; remove one",
    ]
    assert [finding.exception for finding in check(statements, exceptions)] == [1, 2, 3]


def test_a_sid_used_twice_is_rejected():
    assert problems(policy(allow(sid="Same"), allow(sid="Same"))) == [
        "statement 'Same' repeats the Sid of Statement[0] (rule statement-shape); give each statement its own Sid"
    ]


def test_placeholders_are_filled_per_region_and_the_statements_read_are_left_as_written():
    statements = load_statements(PROJECT_ROOT, SAMPLE)
    kept = copy.deepcopy(statements)
    rendered = render(statements, region="eu-south-2", account_id="${TfToken[TOKEN.7]}", partition="aws-cn")
    assert rendered[0]["Resource"] == "arn:aws-cn:ssm:eu-south-2:${TfToken[TOKEN.7]}:parameter/relay-sample-app/*"
    assert statements == kept
    assert all(placeholder not in json.dumps(rendered) for placeholder in PLACEHOLDERS)


def test_placeholders_are_filled_in_condition_keys_and_values():
    statement = allow(Condition={"StringEquals": {"aws:ResourceAccount": ["${AWS::AccountId}"]}})
    (rendered,) = render([statement], region="ca-west-1", account_id="111122223333", partition="aws")
    assert rendered["Condition"] == {"StringEquals": {"aws:ResourceAccount": ["111122223333"]}}
    assert rendered["Resource"] == "arn:aws:ssm:ca-west-1:111122223333:parameter/app/*"


def test_loading_without_a_policy_file_gives_no_statements_and_a_single_statement_object_is_a_list(tmp_path):
    assert load_statements(tmp_path, None) == ()
    (tmp_path / "one.json").write_text(json.dumps({"Statement": allow()}))
    assert load_statements(tmp_path, "one.json") == (allow(),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "'policy.json' does not exist (relative to "),
        ("{", "'policy.json' is not JSON ("),
        ('{"Statement": []}', "'policy.json' must be an IAM policy document: an object whose Statement is a non-empty"),
        ("[]", "'policy.json' must be an IAM policy document"),
    ],
)
def test_a_file_that_is_no_policy_document_is_rejected(tmp_path, text, expected):
    if text is not None:
        (tmp_path / "policy.json").write_text(text)
    with pytest.raises(deploy_policy.PolicyFileError) as raised:
        read_policy(tmp_path, "policy.json")
    assert str(raised.value).startswith(expected)
