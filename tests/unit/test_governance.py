"""Governance per region (modules/governance.py, RelayStack.governance): AWS Config's recorder, delivery channel,
bucket and role when relay creates them, its managed rules (the IAM ones in home only), Security Hub with its
standards and, in home, the aggregation of the target regions' findings.

Each configuration is synthesized once per module in a tiny app of two stacks (home and one target) built like
the app's: a RelayStack with its region key and `governance(key, home=...)`, checked by relay's policy rules at
synthesis.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from config.naming import Names
from config.schema import CONFIG_RULES, SECURITY_HUB_STANDARDS, ConfigRule, SecurityHubStandard
from modules import policy_checks
from modules.cdk_seam import Construct, cdk
from modules.governance import MANAGED_RULES, Governance, GovernanceProps, rules_for, standards_arn
from stacks.base import RelayStack
from tests.conftest import environment_config
from tests.unit.test_stacks import account_id, one, ref, resources

HOME, TARGET = "eu-west-1", "eu-south-2"
ALL_RULES = list(CONFIG_RULES)
ALL_STANDARDS = list(SECURITY_HUB_STANDARDS)
KEY_TYPES = (
    "aws_config_configuration_recorder",
    "aws_config_delivery_channel",
    "aws_config_configuration_recorder_status",
)
GOVERNANCE_TYPES = (
    *KEY_TYPES,
    "aws_config_config_rule",
    "aws_securityhub_account",
    "aws_securityhub_standards_subscription",
    "aws_securityhub_finding_aggregator",
)


class GovernedStack(RelayStack):
    """A region's stack with its key and its governance, as the home and target stacks build them."""

    def __init__(self, scope: Construct, *, config, region: str, home: bool):
        super().__init__(scope, f"governed-{region}", config=config, region=region)
        self.key = self.region_key()
        self.governed = self.governance(self.key, home=home)


def synthesize(outdir: Path, **governance) -> tuple[dict, dict]:
    """The home and target stacks' JSON for the `prod` environment with these `governance` settings (relay's
    policy rules run at synthesis: a violation fails it)."""
    config = environment_config("prod", governance=governance)
    assert config.home_region == HOME and TARGET in config.target_regions
    app = cdk.App(outdir=str(outdir), skip_validation=False)
    stacks = [GovernedStack(app, config=config, region=r, home=r == HOME) for r in (HOME, TARGET)]
    for stack in stacks:
        policy_checks.attach(stack)
    app.synth()
    home, target = (json.loads((outdir / "stacks" / s.node.id / "cdk.tf.json").read_text()) for s in stacks)
    return home, target


@pytest.fixture(scope="module")
def created(tmp_path_factory) -> tuple[dict, dict]:
    """Every rule, every standard, relay's recorder, aggregation on, snapshots every six hours."""
    return synthesize(
        tmp_path_factory.mktemp("created"),
        config={"recorder": "create", "rules": ALL_RULES, "delivery_frequency": "Six_Hours"},
        security_hub={"standards": ALL_STANDARDS},
    )


@pytest.fixture(scope="module")
def existing(tmp_path_factory) -> tuple[dict, dict]:
    """The account's existing recorder, the default rules; Security Hub without aggregation."""
    return synthesize(
        tmp_path_factory.mktemp("existing"),
        config={"recorder": "existing"},
        security_hub={"aggregate_findings": False},
    )


@pytest.fixture(scope="module")
def hub_only(tmp_path_factory) -> tuple[dict, dict]:
    """AWS Config off (run centrally), Security Hub on with its defaults."""
    return synthesize(tmp_path_factory.mktemp("hub-only"), config={"enabled": False})


@pytest.fixture(scope="module")
def disabled(tmp_path_factory) -> tuple[dict, dict]:
    return synthesize(tmp_path_factory.mktemp("disabled"), config={"enabled": False}, security_hub={"enabled": False})


def statements(document: str) -> dict[str, dict]:
    return {s.get("Sid", ""): s for s in json.loads(document)["Statement"]}


def config_bucket(stack: dict) -> dict:
    return one([b for b in resources(stack, "aws_s3_bucket") if b["tags"] == {"relay:role": "config"}])


def config_role(stack: dict) -> dict:
    return one([r for r in resources(stack, "aws_iam_role") if "config.amazonaws.com" in r["assume_role_policy"]])


def rules_by_identifier(stack: dict) -> dict[str, dict]:
    return {r["source"]["source_identifier"]: r for r in resources(stack, "aws_config_config_rule")}


def outputs(stack: dict) -> set[str]:
    return set(stack.get("output", {}))


# The table of managed rules


def test_every_rule_the_schema_accepts_has_its_trigger_in_the_table():
    assert set(get_args(ConfigRule)) == set(CONFIG_RULES) == set(MANAGED_RULES)
    assert set(get_args(SecurityHubStandard)) == set(SECURITY_HUB_STANDARDS)
    for identifier, rule in MANAGED_RULES.items():
        assert rule.periodic != bool(rule.scope), identifier
        assert rule.home_only == identifier.startswith("IAM_"), identifier
        assert all(t.startswith("AWS::") for t in rule.scope), identifier


def test_the_iam_rules_run_in_home_only_and_unknown_rules_are_refused():
    assert rules_for(ALL_RULES, home=True) == ALL_RULES
    assert rules_for(ALL_RULES, home=False) == [r for r in ALL_RULES if not r.startswith("IAM_")]
    with pytest.raises(ValueError, match="unknown AWS Config rules"):
        rules_for(["S3_BUCKET_VERSIONING_ENABLED", "NOT_A_RULE"], home=True)


def test_governance_refuses_iam_rules_and_aggregation_outside_home():
    stack = cdk.TerraformStack(cdk.Testing.app(), "refused")
    iam_rule = {"IAM_NO_INLINE_POLICY_CHECK": "r"}
    cases = [
        (GovernanceProps(region=TARGET, home=False, account_id="1", rules=iam_rule), "home region only"),
        (
            GovernanceProps(region=TARGET, home=False, account_id="1", security_hub=True, aggregated_regions=(HOME,)),
            "only the home region aggregates",
        ),
        (GovernanceProps(region=HOME, home=True, account_id="1", standards=tuple(ALL_STANDARDS[:1])), "Security Hub"),
    ]
    for index, (props, message) in enumerate(cases):
        # refused before any resource is made, so no provider is needed
        with pytest.raises(ValueError, match=message):
            Governance(stack, f"governance-{index}", props=props, provider=None)


def test_names_of_the_recorder_and_rules():
    names = Names("relay", "prod", "example-org")
    assert names.config_recorder() == names.config_delivery_channel() == "relay-prod"
    assert (
        names.config_rule("S3_BUCKET_SSL_REQUESTS_ONLY", TARGET) == "relay-prod-s3-bucket-ssl-requests-only-eu-south-2"
    )
    every = names.all_for(HOME, {TARGET: "bespoke", "ca-west-1": "remote"})
    for region in (HOME, TARGET, "ca-west-1"):
        assert {names.bucket("config", region), names.role("config", region)} <= set(every)
    assert standards_arn("aws-cn", "cn-north-1", ALL_STANDARDS[0]) == (
        "arn:aws-cn:securityhub:cn-north-1::standards/aws-foundational-security-best-practices/v/1.0.0"
    )


# AWS Config: relay's recorder


@pytest.mark.parametrize("index", [0, 1], ids=["home", "target"])
def test_the_recorder_records_every_supported_type_and_global_ones_in_home_only(created, index):
    stack = created[index]
    recorder = one(resources(stack, "aws_config_configuration_recorder"))
    assert recorder["name"] == "relay-prod"
    assert recorder["recording_group"] == {"all_supported": True, "include_global_resource_types": index == 0}
    assert recorder["role_arn"] == ref(stack, "aws_iam_role", "arn", name=config_role(stack)["name"])
    suppressed = [s["rule"] for s in recorder.get("//", {}).get("relay_suppressions", [])]
    assert suppressed == ([] if index == 0 else ["CKV2_AWS_48"])


@pytest.mark.parametrize("index", [0, 1], ids=["home", "target"])
def test_the_channel_delivers_to_the_config_bucket_with_the_region_key_and_recording_starts_after_it(created, index):
    stack = created[index]
    region = (HOME, TARGET)[index]
    bucket = config_bucket(stack)
    assert bucket["bucket"] == f"example-org-relay-prod-config-{region}"
    key_arn = ref(stack, "aws_kms_key", "arn")
    channel = one(resources(stack, "aws_config_delivery_channel"))
    assert channel["s3_bucket_name"] == ref(stack, "aws_s3_bucket", "bucket", bucket=bucket["bucket"])
    assert channel["s3_kms_key_arn"] == key_arn
    assert channel["snapshot_delivery_properties"] == {"delivery_frequency": "Six_Hours"}
    recorder = "aws_config_configuration_recorder." + one(list(stack["resource"][KEY_TYPES[0]]))
    assert recorder in channel["depends_on"]
    status = one(resources(stack, "aws_config_configuration_recorder_status"))
    assert status["is_enabled"] is True
    assert status["name"] == f"${{{recorder}.name}}"
    assert status["depends_on"] == ["aws_config_delivery_channel." + one(list(stack["resource"][KEY_TYPES[1]]))]
    # relay's recorder exists before any rule
    assert all(rule["depends_on"] == [recorder] for rule in resources(stack, "aws_config_config_rule"))
    encryption = one(
        [
            e
            for e in resources(stack, "aws_s3_bucket_server_side_encryption_configuration")
            if e["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=bucket["bucket"])
        ]
    )
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"]
    assert default == {"kms_master_key_id": key_arn, "sse_algorithm": "aws:kms"}


def test_the_config_bucket_lets_aws_config_check_it_and_deliver_for_this_account_only(created):
    stack = created[1]
    name = config_bucket(stack)["bucket"]
    arn = f"arn:aws:s3:::{name}"
    policy = one(
        [
            p
            for p in resources(stack, "aws_s3_bucket_policy")
            if p["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=name)
        ]
    )
    found = statements(policy["policy"])
    account = account_id(stack)
    assert found["DenyInsecureTransport"]["Effect"] == "Deny"
    for sid, action, resource in (
        ("AWSConfigBucketPermissionsCheck", "s3:GetBucketAcl", arn),
        ("AWSConfigBucketExistenceCheck", "s3:ListBucket", arn),
        ("AWSConfigBucketDelivery", "s3:PutObject", f"{arn}/AWSLogs/{account}/Config/*"),
    ):
        statement = found[sid]
        assert statement["Principal"] == {"Service": "config.amazonaws.com"}
        assert (statement["Action"], statement["Resource"]) == (action, resource)
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == account
    assert found["AWSConfigBucketDelivery"]["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    suppressed = [s["rule"] for s in config_bucket(stack)["//"]["relay_suppressions"]]
    assert suppressed == ["CKV_AWS_18"]


def test_the_recorder_role_is_trusted_by_aws_config_for_this_account_and_writes_exactly_its_bucket_and_key(created):
    stack = created[1]
    role = config_role(stack)
    assert role["name"] == f"relay-prod-config-{TARGET}"
    trust = one(json.loads(role["assume_role_policy"])["Statement"])
    assert trust["Principal"] == {"Service": "config.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account_id(stack)}}
    attachment = one(resources(stack, "aws_iam_role_policy_attachment"))
    assert attachment["policy_arn"] == "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"
    assert attachment["role"] == ref(stack, "aws_iam_role", "name", name=role["name"])
    policy = one(resources(stack, "aws_iam_role_policy"))
    bucket = f"arn:aws:s3:::{config_bucket(stack)['bucket']}"
    found = statements(policy["policy"])
    assert {sid: (s["Action"], s["Resource"]) for sid, s in found.items()} == {
        "DeliverConfiguration": (["s3:PutObject"], [f"{bucket}/AWSLogs/{account_id(stack)}/Config/*"]),
        "CheckBucketAcl": (["s3:GetBucketAcl"], [bucket]),
        "EncryptDeliveries": (["kms:GenerateDataKey"], [ref(stack, "aws_kms_key", "arn")]),
    }


def test_the_region_key_lets_aws_config_encrypt_for_its_bucket_and_this_account_only(created, existing):
    stack = created[1]
    key = one(resources(stack, "aws_kms_key"))
    statement = statements(key["policy"])["AllowConfigDelivery"]
    bucket = f"arn:aws:s3:::{config_bucket(stack)['bucket']}"
    assert statement["Principal"] == {"Service": "config.amazonaws.com"}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account_id(stack)},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]},
    }
    for stack in existing:
        assert "AllowConfigDelivery" not in statements(one(resources(stack, "aws_kms_key"))["policy"])


# AWS Config: the rules


def test_each_region_runs_every_configured_rule_but_the_iam_ones_run_in_home_only(created):
    home, target = (rules_by_identifier(s) for s in created)
    assert set(home) == set(ALL_RULES)
    assert set(target) == {r for r in ALL_RULES if not r.startswith("IAM_")}
    for region, rules in ((HOME, home), (TARGET, target)):
        for identifier, rule in rules.items():
            table = MANAGED_RULES[identifier]
            assert rule["name"] == Names("relay", "prod").config_rule(identifier, region)
            assert rule["source"] == {"owner": "AWS", "source_identifier": identifier}
            if table.periodic:
                assert rule["maximum_execution_frequency"] == "Six_Hours"
                assert "scope" not in rule
            else:
                assert rule["scope"] == {"compliance_resource_types": list(table.scope)}
                assert "maximum_execution_frequency" not in rule


def test_with_an_existing_recorder_only_the_rules_are_managed(existing):
    home, target = existing
    defaults = [
        "S3_BUCKET_VERSIONING_ENABLED",
        "S3_BUCKET_SSL_REQUESTS_ONLY",
        "S3_DEFAULT_ENCRYPTION_KMS",
        "CLOUD_TRAIL_ENABLED",
        "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
    ]
    assert set(rules_by_identifier(home)) == set(defaults)
    assert set(rules_by_identifier(target)) == set(defaults) - {"IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS"}
    assert rules_by_identifier(home)["CLOUD_TRAIL_ENABLED"]["maximum_execution_frequency"] == "TwentyFour_Hours"
    for stack in existing:
        for kind in KEY_TYPES:
            assert not resources(stack, kind)
        assert not [b for b in resources(stack, "aws_s3_bucket") if b["tags"] == {"relay:role": "config"}]
        assert not resources(stack, "aws_iam_role")
        assert all("depends_on" not in rule for rule in resources(stack, "aws_config_config_rule"))
        assert "config_recorder" not in outputs(stack) and "config_rules" in outputs(stack)


# Security Hub


@pytest.mark.parametrize("index", [0, 1], ids=["home", "target"])
def test_security_hub_is_enabled_without_default_standards_and_subscribes_each_configured_one(created, index):
    stack, region = created[index], (HOME, TARGET)[index]
    hub = one(resources(stack, "aws_securityhub_account"))
    assert hub["enable_default_standards"] is False
    assert hub["control_finding_generator"] == "SECURITY_CONTROL"
    assert hub["auto_enable_controls"] is True
    hub_address = "aws_securityhub_account." + one(list(stack["resource"]["aws_securityhub_account"]))
    subscriptions = resources(stack, "aws_securityhub_standards_subscription")
    assert sorted(s["standards_arn"] for s in subscriptions) == sorted(
        f"arn:aws:securityhub:{region}::standards/{standard}" for standard in ALL_STANDARDS
    )
    assert all(s["depends_on"] == [hub_address] for s in subscriptions)


def test_home_aggregates_the_target_regions_findings_and_targets_do_not(created):
    home, target = created
    aggregator = one(resources(home, "aws_securityhub_finding_aggregator"))
    config = environment_config("prod")
    assert aggregator["linking_mode"] == "SPECIFIED_REGIONS"
    assert aggregator["specified_regions"] == config.target_regions
    assert aggregator["depends_on"] == [
        "aws_securityhub_account." + one(list(home["resource"]["aws_securityhub_account"]))
    ]
    assert not resources(target, "aws_securityhub_finding_aggregator")
    assert {"config_recorder", "config_bucket", "config_rules", "security_hub", "security_hub_aggregator"} <= outputs(
        home
    )
    assert "security_hub_aggregator" not in outputs(target)


def test_without_aggregation_home_has_no_aggregator(existing):
    home, _ = existing
    assert one(resources(home, "aws_securityhub_account"))
    assert not resources(home, "aws_securityhub_finding_aggregator")


def test_security_hub_alone_with_its_default_standard_when_config_is_off(hub_only):
    for index, stack in enumerate(hub_only):
        region = (HOME, TARGET)[index]
        for kind in (*KEY_TYPES, "aws_config_config_rule"):
            assert not resources(stack, kind)
        subscription = one(resources(stack, "aws_securityhub_standards_subscription"))
        expected = f"arn:aws:securityhub:{region}::standards/aws-foundational-security-best-practices/v/1.0.0"
        assert subscription["standards_arn"] == expected
        assert "AllowConfigDelivery" not in statements(one(resources(stack, "aws_kms_key"))["policy"])
    assert len(resources(hub_only[0], "aws_securityhub_finding_aggregator")) == 1


def test_nothing_when_both_are_off(disabled):
    for stack in disabled:
        for kind in GOVERNANCE_TYPES:
            assert not resources(stack, kind)
        assert not outputs(stack) & {"config_recorder", "config_rules", "security_hub", "security_hub_aggregator"}
        assert not resources(stack, "aws_s3_bucket")
