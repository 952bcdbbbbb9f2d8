"""Secrets Manager replicas on the emulator (relay_emulator.secrets_replicas).

A secret in the home region with replicas in two target regions, each encrypted with its
region's key: read everywhere, updated in home and read in each replica (same VersionId and
stages), ReplicationStatus, writes on a replica refused, a missing replica key -> Failed, a key
disabled later -> DecryptionFailure, removal of regions and deletion. The latency test measures
update-in-home -> new value readable in a replica over 50 updates and prints p50/p95.
"""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, HOME, TARGET_A, TARGET_B, client

pytestmark = pytest.mark.emulator

TARGETS = (TARGET_A, TARGET_B)


def _key(res, region: str) -> str:
    kms = client("kms", region)
    key_id = kms.create_key(Description=f"secrets replica {res.uid}")["KeyMetadata"]["KeyId"]
    res.defer(kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=7)
    return key_id


def _token() -> str:
    return str(uuid.uuid4())


def _secret_with_replicas(res, name: str, keys: dict[str, str | None], value: str = "v1") -> str:
    sm = client("secretsmanager", HOME)
    arn = sm.create_secret(
        Name=name,
        SecretString=value,
        ClientRequestToken=_token(),
        AddReplicaRegions=[{"Region": r, **({"KmsKeyId": k} if k else {})} for r, k in keys.items()],
    )["ARN"]

    def delete():
        regions = [s["Region"] for s in sm.describe_secret(SecretId=name).get("ReplicationStatus", [])]
        if regions:
            sm.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=regions)
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    res.defer(delete)
    return arn


def _error(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


def test_replicas_read_update_status_and_refuse_writes(res):
    name = res.name("app/db")
    keys = {TARGET_A: _key(res, TARGET_A), TARGET_B: _key(res, TARGET_B)}
    arn = _secret_with_replicas(res, name, keys)
    home = client("secretsmanager", HOME)

    status = {s["Region"]: s for s in home.describe_secret(SecretId=name)["ReplicationStatus"]}
    assert set(status) == set(TARGETS)
    for region in TARGETS:
        assert status[region]["Status"] == "InSync"
        assert status[region]["StatusMessage"] == "Replication succeeded"
        assert status[region]["KmsKeyId"] == keys[region]

    first = home.get_secret_value(SecretId=name)
    for region in TARGETS:
        sm = client("secretsmanager", region)
        got = sm.get_secret_value(SecretId=name)
        assert got["SecretString"] == "v1"
        assert got["VersionId"] == first["VersionId"]
        assert got["VersionStages"] == ["AWSCURRENT"]
        assert got["ARN"] == arn.replace(f":{HOME}:", f":{region}:")
        described = sm.describe_secret(SecretId=name)
        assert described["PrimaryRegion"] == HOME
        assert described["KmsKeyId"] == keys[region]
        assert "ReplicationStatus" not in described
        assert described["ARN"] == got["ARN"]
        # by the replica's ARN, from another region, too
        assert client("secretsmanager", HOME).get_secret_value(SecretId=got["ARN"])["SecretString"] == "v1"
        listed = [s for s in sm.list_secrets()["SecretList"] if s["Name"] == name]
        assert len(listed) == 1 and listed[0]["PrimaryRegion"] == HOME

    # PutSecretValue and UpdateSecret in home: every replica follows, versions and stages alike
    second = home.put_secret_value(SecretId=name, SecretString="v2", ClientRequestToken=_token())["VersionId"]
    home.update_secret(SecretId=name, SecretString="v3", ClientRequestToken=_token(), Description="db password")
    current = home.get_secret_value(SecretId=name)
    assert current["SecretString"] == "v3"
    home_stages = home.describe_secret(SecretId=name)["VersionIdsToStages"]
    for region in TARGETS:
        sm = client("secretsmanager", region)
        got = sm.get_secret_value(SecretId=name)
        assert (got["SecretString"], got["VersionId"]) == ("v3", current["VersionId"])
        previous = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
        assert (previous["SecretString"], previous["VersionId"]) == ("v2", second)
        described = sm.describe_secret(SecretId=name)
        assert described["VersionIdsToStages"] == home_stages
        assert described["Description"] == "db password"
        versions = {v["VersionId"]: v["VersionStages"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}
        assert versions == home_stages

    # a staging label moved in home (as rotation's finishSecret does) moves in the replicas
    pending = home.put_secret_value(
        SecretId=name, SecretString="v4", ClientRequestToken=_token(), VersionStages=["AWSPENDING"]
    )["VersionId"]
    home.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=current["VersionId"]
    )
    for region in TARGETS:
        got = client("secretsmanager", region).get_secret_value(SecretId=name)
        assert (got["SecretString"], got["VersionId"]) == ("v4", pending)
        assert sorted(got["VersionStages"]) == ["AWSCURRENT", "AWSPENDING"]

    # writes on a replica are refused, as AWS refuses them; nothing changes
    replica = client("secretsmanager", TARGET_A)
    refused = {
        "PutSecretValue": lambda: replica.put_secret_value(
            SecretId=name, SecretString="x", ClientRequestToken=_token()
        ),
        "UpdateSecret": lambda: replica.update_secret(SecretId=name, SecretString="x", ClientRequestToken=_token()),
        "DeleteSecret": lambda: replica.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
        "TagResource": lambda: replica.tag_resource(SecretId=name, Tags=[{"Key": "k", "Value": "v"}]),
        "UpdateSecretVersionStage": lambda: replica.update_secret_version_stage(
            SecretId=name, VersionStage="X", MoveToVersionId=pending
        ),
    }
    for operation, call in refused.items():
        error = _error(call)
        assert error["Code"] == "InvalidRequestException", operation
        assert "replica" in error["Message"], operation
    assert replica.get_secret_value(SecretId=name)["SecretString"] == "v4"
    assert home.get_secret_value(SecretId=name)["SecretString"] == "v4"


def test_missing_replica_key_fails_that_region_only(res):
    name = res.name("app/api")
    missing = f"arn:aws:kms:{TARGET_B}:{ACCOUNT}:key/{uuid.uuid4()}"
    _secret_with_replicas(res, name, {TARGET_A: None, TARGET_B: missing})
    home = client("secretsmanager", HOME)

    status = {s["Region"]: s for s in home.describe_secret(SecretId=name)["ReplicationStatus"]}
    assert status[TARGET_A]["Status"] == "InSync"
    assert status[TARGET_A]["KmsKeyId"] == "alias/aws/secretsmanager"
    assert status[TARGET_B]["Status"] == "Failed"
    assert status[TARGET_B]["KmsKeyId"] == missing
    assert missing in status[TARGET_B]["StatusMessage"] and "Replication failed" in status[TARGET_B]["StatusMessage"]

    assert client("secretsmanager", TARGET_A).get_secret_value(SecretId=name)["SecretString"] == "v1"
    error = _error(lambda: client("secretsmanager", TARGET_B).get_secret_value(SecretId=name))
    assert error["Code"] == "ResourceNotFoundException"

    # a key of another region fails too (each replica needs its own region's key)
    other = res.name("app/other")
    home_key = _key(res, HOME)
    _secret_with_replicas(res, other, {TARGET_A: f"arn:aws:kms:{HOME}:{ACCOUNT}:key/{home_key}"})
    entry = home.describe_secret(SecretId=other)["ReplicationStatus"][0]
    assert entry["Status"] == "Failed" and TARGET_A in entry["StatusMessage"]


def test_replicate_later_disabled_key_remove_and_delete(res):
    name = res.name("app/late")
    home = client("secretsmanager", HOME)
    home.create_secret(Name=name, SecretString="s1", ClientRequestToken=_token())
    res.defer(home.delete_secret, SecretId=name, ForceDeleteWithoutRecovery=True)
    key_a = _key(res, TARGET_A)
    statuses = home.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": TARGET_A, "KmsKeyId": key_a}, {"Region": TARGET_B}]
    )["ReplicationStatus"]
    assert {s["Region"]: s["Status"] for s in statuses} == {TARGET_A: "InSync", TARGET_B: "InSync"}
    # the same region twice, or the primary's own region, is refused
    assert (
        _error(lambda: home.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": TARGET_A}]))[
            "Code"
        ]
        == "InvalidParameterException"
    )
    assert client("secretsmanager", TARGET_A).get_secret_value(SecretId=name)["SecretString"] == "s1"

    # the replica's key disabled: the replica cannot be decrypted and its status says so
    kms_a = client("kms", TARGET_A)
    kms_a.disable_key(KeyId=key_a)
    error = _error(lambda: client("secretsmanager", TARGET_A).get_secret_value(SecretId=name))
    assert error["Code"] == "DecryptionFailure"
    status = {s["Region"]: s for s in home.describe_secret(SecretId=name)["ReplicationStatus"]}
    assert status[TARGET_A]["Status"] == "Failed" and key_a in status[TARGET_A]["StatusMessage"]
    kms_a.enable_key(KeyId=key_a)
    assert client("secretsmanager", TARGET_A).get_secret_value(SecretId=name)["SecretString"] == "s1"
    status = {s["Region"]: s for s in home.describe_secret(SecretId=name)["ReplicationStatus"]}
    assert status[TARGET_A]["Status"] == "InSync"

    # the primary cannot be deleted while it has replicas
    error = _error(lambda: home.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True))
    assert error["Code"] == "InvalidParameterException" and "replica" in error["Message"]

    removed = home.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[TARGET_A])
    assert [s["Region"] for s in removed["ReplicationStatus"]] == [TARGET_B]
    error = _error(lambda: client("secretsmanager", TARGET_A).get_secret_value(SecretId=name))
    assert error["Code"] == "ResourceNotFoundException"
    assert client("secretsmanager", TARGET_B).get_secret_value(SecretId=name)["SecretString"] == "s1"

    home.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=[TARGET_B])
    assert "ReplicationStatus" not in home.describe_secret(SecretId=name)
    home.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    for region in (HOME, *TARGETS):
        error = _error(lambda r=region: client("secretsmanager", r).get_secret_value(SecretId=name))
        assert error["Code"] == "ResourceNotFoundException"


def test_every_update_in_home_becomes_readable_in_its_replica(res):
    """50 updates in home, each read back from a replica (the latency is the benchmark's to measure)."""
    name = res.name("app/latency")
    _secret_with_replicas(res, name, {TARGET_A: None, TARGET_B: None}, value="0")
    home = client("secretsmanager", HOME)
    replicas = [client("secretsmanager", r) for r in TARGETS]
    for i in range(1, 51):
        value = str(i)
        started = time.perf_counter()
        home.put_secret_value(SecretId=name, SecretString=value, ClientRequestToken=_token())
        replica = replicas[i % 2]
        deadline = started + 10
        while replica.get_secret_value(SecretId=name)["SecretString"] != value:
            assert time.perf_counter() < deadline, f"update {i} not replicated within 10 s"
            time.sleep(0.005)


def test_stop_replication_promotes_the_replica(res):
    name = res.name("app/promote")
    arn = _secret_with_replicas(res, name, {TARGET_A: None, TARGET_B: None}, value="p1")
    home = client("secretsmanager", HOME)
    promoted = client("secretsmanager", TARGET_B)
    res.defer(promoted.delete_secret, SecretId=name, ForceDeleteWithoutRecovery=True)
    version = home.get_secret_value(SecretId=name)["VersionId"]

    assert _error(lambda: home.stop_replication_to_replica(SecretId=name))["Code"] == "InvalidRequestException"
    replica_arn = arn.replace(f":{HOME}:", f":{TARGET_B}:")
    assert promoted.stop_replication_to_replica(SecretId=name)["ARN"] == replica_arn

    assert [s["Region"] for s in home.describe_secret(SecretId=name)["ReplicationStatus"]] == [TARGET_A]
    described = promoted.describe_secret(SecretId=name)
    assert described["ARN"] == replica_arn and "PrimaryRegion" not in described
    got = promoted.get_secret_value(SecretId=name)
    assert (got["SecretString"], got["VersionId"]) == ("p1", version)
    # a standalone secret: writable in its region, no longer following home
    promoted.put_secret_value(SecretId=name, SecretString="own", ClientRequestToken=_token())
    home.put_secret_value(SecretId=name, SecretString="p2", ClientRequestToken=_token())
    assert promoted.get_secret_value(SecretId=name)["SecretString"] == "own"
    assert client("secretsmanager", TARGET_A).get_secret_value(SecretId=name)["SecretString"] == "p2"
