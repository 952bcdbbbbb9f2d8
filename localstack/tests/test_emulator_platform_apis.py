"""What Terraform reads back of the platform's network and keys on the emulator (relay_emulator.ec2_rules,
relay_emulator.kms_replicas): a security group rule that references another group keeps its description,
and a Multi-Region replica key keeps the policy and tags its ReplicateKey request gave it (and decrypts
what the primary encrypted)."""

from __future__ import annotations

import json

import pytest
from emulator_helpers import ACCOUNT, HOME, TARGET_A, client

pytestmark = pytest.mark.emulator


def test_a_rule_referencing_a_group_keeps_its_description(res):
    ec2 = client("ec2", HOME)
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    res.defer(ec2.delete_vpc, VpcId=vpc)
    groups = []
    for name in ("front", "back"):
        group = ec2.create_security_group(GroupName=res.name(name), Description=name, VpcId=vpc)["GroupId"]
        res.defer(ec2.delete_security_group, GroupId=group)
        groups.append(group)
    front, back = groups
    ec2.authorize_security_group_ingress(
        GroupId=back,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupId": front, "Description": "From the load balancer"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ops"}],
            },
        ],
    )
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [back]}])["SecurityGroupRules"]
    ingress = {r["FromPort"]: r for r in rules if not r["IsEgress"]}
    assert ingress[8080]["ReferencedGroupInfo"]["GroupId"] == front
    assert ingress[8080]["Description"] == "From the load balancer"
    assert ingress[22]["Description"] == "ops"


def test_a_replica_key_keeps_its_requested_policy_and_tags_and_decrypts_the_primarys_ciphertext(res):
    kms = client("kms", HOME)
    primary = kms.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    res.defer(kms.schedule_key_deletion, KeyId=primary["KeyId"], PendingWindowInDays=7)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Replica",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    replica = kms.replicate_key(
        KeyId=primary["KeyId"],
        ReplicaRegion=TARGET_A,
        Policy=policy,
        Description="replica",
        Tags=[{"TagKey": "app", "TagValue": "relay"}],
    )["ReplicaKeyMetadata"]
    there = client("kms", TARGET_A)
    res.defer(there.schedule_key_deletion, KeyId=replica["KeyId"], PendingWindowInDays=7)
    assert replica["Arn"].split(":")[3] == TARGET_A
    assert json.loads(there.get_key_policy(KeyId=replica["KeyId"], PolicyName="default")["Policy"]) == json.loads(
        policy
    )
    assert there.list_resource_tags(KeyId=replica["KeyId"])["Tags"] == [{"TagKey": "app", "TagValue": "relay"}]
    # the primary keeps its own (default) policy and no tags
    assert json.loads(kms.get_key_policy(KeyId=primary["KeyId"], PolicyName="default")["Policy"]) != json.loads(policy)
    assert kms.list_resource_tags(KeyId=primary["KeyId"])["Tags"] == []
    blob = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"anywhere")["CiphertextBlob"]
    assert there.decrypt(CiphertextBlob=blob, KeyId=replica["Arn"])["Plaintext"] == b"anywhere"
