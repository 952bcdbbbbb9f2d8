"""AWS Config on the emulator (moto's backend + relay_emulator.config_service): recorder, delivery
channel (its bucket must exist: NoSuchBucketException), recorder status, managed rules, in two
regions. Rules are stored, not evaluated."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import HOME, TARGET_A, client

pytestmark = pytest.mark.emulator

RULES = {
    "S3_BUCKET_VERSIONING_ENABLED": ["AWS::S3::Bucket"],
    "S3_BUCKET_SSL_REQUESTS_ONLY": ["AWS::S3::Bucket"],
    "S3_DEFAULT_ENCRYPTION_KMS": ["AWS::S3::Bucket"],
    "CLOUD_TRAIL_ENABLED": None,
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS": ["AWS::IAM::Policy"],
}


def _in_region(res, region: str, role: str, account: str) -> None:
    cfg = client("config", region, aws_access_key_id=account)
    name = res.name("relay")
    cfg.put_configuration_recorder(
        ConfigurationRecorder={
            "name": name,
            "roleARN": role,
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": region == HOME},
        }
    )
    res.defer(cfg.delete_configuration_recorder, ConfigurationRecorderName=name)

    missing = res.name("no-such-bucket")
    with pytest.raises(ClientError) as info:
        cfg.put_delivery_channel(DeliveryChannel={"name": name, "s3BucketName": missing})
    assert info.value.response["Error"]["Code"] == "NoSuchBucketException"
    assert missing in info.value.response["Error"]["Message"]
    assert cfg.describe_delivery_channels()["DeliveryChannels"] == []

    bucket = res.bucket(region, versioned=False)
    key = client("kms", region, aws_access_key_id=account).create_key()["KeyMetadata"]["Arn"]
    cfg.put_delivery_channel(
        DeliveryChannel={
            "name": name,
            "s3BucketName": bucket,
            "s3KeyPrefix": "config",
            "s3KmsKeyArn": key,
            "configSnapshotDeliveryProperties": {"deliveryFrequency": "TwentyFour_Hours"},
        }
    )
    res.defer(cfg.delete_delivery_channel, DeliveryChannelName=name)
    (channel,) = cfg.describe_delivery_channels()["DeliveryChannels"]
    assert (channel["s3BucketName"], channel["s3KeyPrefix"], channel["s3KmsKeyArn"]) == (bucket, "config", key)
    cfg.start_configuration_recorder(ConfigurationRecorderName=name)
    res.defer(cfg.stop_configuration_recorder, ConfigurationRecorderName=name)
    (status,) = cfg.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    assert status["recording"] is True

    for identifier, types in RULES.items():
        rule_name = res.name(identifier.lower().replace("_", "-"))
        rule = {"ConfigRuleName": rule_name, "Source": {"Owner": "AWS", "SourceIdentifier": identifier}}
        if types:
            rule["Scope"] = {"ComplianceResourceTypes": types}
        else:
            rule["MaximumExecutionFrequency"] = "TwentyFour_Hours"
        cfg.put_config_rule(ConfigRule=rule)
        res.defer(cfg.delete_config_rule, ConfigRuleName=rule_name)
        (got,) = cfg.describe_config_rules(ConfigRuleNames=[rule_name])["ConfigRules"]
        assert got["Source"]["SourceIdentifier"] == identifier
        assert got["ConfigRuleArn"].startswith(f"arn:aws:config:{region}:")
        if types:
            assert got["Scope"]["ComplianceResourceTypes"] == types
        else:
            assert got["MaximumExecutionFrequency"] == "TwentyFour_Hours"


def test_recorder_channel_and_rules_in_two_regions(res):
    role = res.role("config")
    # an account of its own: AWS Config allows one recorder per account and region
    account = f"{random.randrange(10**11, 10**12)}"  # noqa: S311 - a test account id
    for region in (HOME, TARGET_A):
        _in_region(res, region, role, account)
