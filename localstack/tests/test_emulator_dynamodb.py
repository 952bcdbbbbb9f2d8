"""DynamoDB from the plugin (moto-backed, no download): table settings as Terraform's
aws_dynamodb_table round-trips them, and global tables 2019.11.21 with item replication."""

from __future__ import annotations

import threading
import time

import emulator as launcher
import pytest
from botocore.exceptions import ClientError
from emulator_helpers import HOME, TARGET_A, TARGET_B, client

from tools.wait import wait_for

pytestmark = pytest.mark.emulator


def test_launcher_selects_the_plugin_dynamodb(tmp_path):
    """LocalStack's own DynamoDB would download DynamoDB Local and Java: the launcher never selects it."""
    environ = {"RELAY_STATE_DIR": str(tmp_path), "PROVIDER_OVERRIDE_DYNAMODB": "v2"}
    env = launcher.Emulator(4600, environ=environ).launch_environment()
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == env["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] == "relay"


def test_no_download_and_the_plugin_answers(emulator):
    health = launcher.health(emulator)
    assert health["services"]["dynamodb"] in ("available", "running")
    assert client("dynamodb", HOME).list_tables()["TableNames"] is not None
    log = launcher.Emulator().log  # LocalStack's installer names the package it downloads
    if log.exists():
        assert "dynamodb-local" not in log.read_text(errors="replace").lower()


STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def _key(res, region):
    kms = client("kms", region)
    arn = kms.create_key(Description=f"ddb {res.uid}")["KeyMetadata"]["Arn"]
    res.defer(kms.schedule_key_deletion, KeyId=arn, PendingWindowInDays=7)
    return arn


def _drop(region, name):
    ddb = client("dynamodb", region)
    try:
        ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
        ddb.delete_table(TableName=name)
    except ClientError:
        pass


def _table(res, region=HOME, *, key_arn=None, **extra):
    ddb = client("dynamodb", region)
    name = res.name("tbl")
    args = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "StreamSpecification": STREAM,
        **extra,
    }
    if key_arn:
        args["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    ddb.create_table(**args)
    for r in (TARGET_B, TARGET_A, HOME):  # replicas first (as Terraform), then the table
        res.defer(_drop, r, name)
    return name


@pytest.fixture
def global_table(res):
    """A table in HOME with customer keys, replicas in TARGET_A and TARGET_B."""
    keys = {r: _key(res, r) for r in (HOME, TARGET_A, TARGET_B)}
    name = _table(res, key_arn=keys[HOME])
    ddb = client("dynamodb", HOME)
    for region in (TARGET_A, TARGET_B):  # one replica per UpdateTable, as Terraform sends them
        ddb.update_table(
            TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region, "KMSMasterKeyId": keys[region]}}]
        )
    return name, keys


def item(pk, sk=1, **attrs):
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, **{k: {"S": v} for k, v in attrs.items()}}


def key(pk, sk=1):
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def wait_item(region, table, k, want=lambda it: it is not None, timeout=10):
    ddb = client("dynamodb", region)
    return wait_for(
        f"item {k} in {table} ({region})",
        lambda: (lambda it: (it,) if want(it) else None)(
            ddb.get_item(TableName=table, Key=k, ConsistentRead=True).get("Item")
        ),
        timeout=timeout,
        interval=0.02,
    )[0]


def test_table_settings_round_trip(res):
    ddb = client("dynamodb", HOME)
    key_arn = _key(res, HOME)
    name = _table(res, key_arn=key_arn, Tags=[{"Key": "team", "Value": "relay"}], DeletionProtectionEnabled=True)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {"pk": "S", "sk": "N"}
    assert table["SSEDescription"] == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key_arn}
    assert table["DeletionProtectionEnabled"] is True
    assert table["StreamSpecification"] == STREAM and table["LatestStreamArn"].startswith(
        table["TableArn"] + "/stream/"
    )
    assert "Replicas" not in table
    tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "relay"}]

    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 35  # AWS's default
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7}
    )
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7

    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName=name)  # deletion protection holds
    assert e.value.response["Error"]["Code"] in ("ValidationException", "ResourceInUseException")
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    assert ddb.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is False


def test_replicas_in_two_regions(global_table):
    name, keys = global_table
    home = client("dynamodb", HOME).describe_table(TableName=name)["Table"]
    assert home["GlobalTableVersion"] == "2019.11.21"
    assert home["Replicas"] == [
        {"RegionName": TARGET_B, "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": keys[TARGET_B]},
        {"RegionName": TARGET_A, "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": keys[TARGET_A]},
    ]
    for region in (TARGET_A, TARGET_B):
        replica = client("dynamodb", region).describe_table(TableName=name)["Table"]
        assert replica["TableArn"] == f"arn:aws:dynamodb:{region}:000000000000:table/{name}"
        assert (
            replica["KeySchema"] == home["KeySchema"]
            and replica["AttributeDefinitions"] == home["AttributeDefinitions"]
        )
        assert replica["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert replica["SSEDescription"]["KMSMasterKeyArn"] == keys[region]
        assert replica["StreamSpecification"] == STREAM
        others = {r["RegionName"] for r in replica["Replicas"]}
        assert others == {HOME, TARGET_A, TARGET_B} - {region}
        # PITR is per replica, set in the replica's region (Terraform's replica.point_in_time_recovery)
        ddb = client("dynamodb", region)
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        status = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert status["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_replica_errors(res, global_table):
    name, keys = global_table
    ddb = client("dynamodb", HOME)
    cases = [
        ([{"Create": {"RegionName": TARGET_A, "KMSMasterKeyId": keys[TARGET_A]}}], "already existed"),
        ([{"Create": {"RegionName": "us-east-2"}}], "KMSMasterKeyId must be specified"),
        (
            [{"Create": {"RegionName": "us-east-2", "KMSMasterKeyId": keys[HOME]}}],
            "not a usable key in region us-east-2",
        ),
        ([{"Delete": {"RegionName": "us-east-2"}}], "does not exist"),
    ]
    for updates, message in cases:
        with pytest.raises(ClientError) as e:
            ddb.update_table(TableName=name, ReplicaUpdates=updates)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert message in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        client("dynamodb", "us-east-2").describe_table(TableName=name)  # nothing half-created
    plain = _table(res, StreamSpecification={"StreamEnabled": False})
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=plain, ReplicaUpdates=[{"Create": {"RegionName": TARGET_A}}])
    assert "NEW_AND_OLD_IMAGES" in e.value.response["Error"]["Message"]


def test_item_written_in_a_target_is_readable_in_home_and_the_other_target(global_table):
    name, _ = global_table
    client("dynamodb", TARGET_A).put_item(TableName=name, Item=item("a", v="from-a"))
    for region in (HOME, TARGET_B):
        assert wait_item(region, name, key("a")) == item("a", v="from-a")
    client("dynamodb", HOME).update_item(
        TableName=name,
        Key=key("a"),
        UpdateExpression="SET v = :v, n = :n",
        ExpressionAttributeValues={":v": {"S": "updated"}, ":n": {"S": "home"}},
    )
    for region in (TARGET_A, TARGET_B):
        wait_item(region, name, key("a"), lambda it: it and it["v"] == {"S": "updated"} and it["n"] == {"S": "home"})
    # batch and transaction writes replicate too
    client("dynamodb", TARGET_B).batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": item(f"b{i}", v="batch")}} for i in range(5)]}
    )
    client("dynamodb", TARGET_A).transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": item("t1", v="tx")}},
            {"Delete": {"TableName": name, "Key": key("b0")}},
        ]
    )
    for region in (HOME, TARGET_A, TARGET_B):
        for i in range(1, 5):
            wait_item(region, name, key(f"b{i}"))
        wait_item(region, name, key("t1"))
        wait_item(region, name, key("b0"), lambda it: it is None)


def test_items_before_the_replica_are_copied(res):
    key_arn, key_a = _key(res, HOME), _key(res, TARGET_A)
    name = _table(res, key_arn=key_arn)
    client("dynamodb", HOME).put_item(TableName=name, Item=item("old", v="1"))
    client("dynamodb", HOME).update_table(
        TableName=name, ReplicaUpdates=[{"Create": {"RegionName": TARGET_A, "KMSMasterKeyId": key_a}}]
    )
    got = client("dynamodb", TARGET_A).get_item(TableName=name, Key=key("old"))["Item"]
    assert got == item("old", v="1")


def test_delete_replicates(global_table):
    name, _ = global_table
    client("dynamodb", HOME).put_item(TableName=name, Item=item("d", v="x"))
    wait_item(TARGET_B, name, key("d"))
    client("dynamodb", TARGET_B).delete_item(TableName=name, Key=key("d"))
    for region in (HOME, TARGET_A):
        wait_item(region, name, key("d"), lambda it: it is None)


def test_concurrent_writes_resolve_to_the_later_one(global_table):
    """Writes to the same items in two regions at the same time: every region ends with the same
    value, and when one write finished before the other started, the later one is that value."""
    name, _ = global_table
    spans: dict = {}
    barrier = threading.Barrier(2)

    def writer(region):
        ddb = client("dynamodb", region)
        barrier.wait()
        for i in range(30):
            start = time.monotonic()
            ddb.put_item(TableName=name, Item=item(f"c{i}", v=region))
            spans[(region, i)] = (start, time.monotonic())

    threads = [threading.Thread(target=writer, args=(r,)) for r in (TARGET_A, TARGET_B)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(30):
        finals = {r: wait_item(r, name, key(f"c{i}"))["v"]["S"] for r in (HOME, TARGET_A, TARGET_B)}

        def converged(i=i):
            values = {
                client("dynamodb", r).get_item(TableName=name, Key=key(f"c{i}"))["Item"]["v"]["S"]
                for r in (HOME, TARGET_A, TARGET_B)
            }
            return values if len(values) == 1 else None

        (winner,) = wait_for(f"item c{i} converged", converged, timeout=10, interval=0.02)
        a, b = spans[(TARGET_A, i)], spans[(TARGET_B, i)]
        if a[1] < b[0]:
            assert winner == TARGET_B, (i, finals)
        elif b[1] < a[0]:
            assert winner == TARGET_A, (i, finals)
    # a sequential pair: the second write wins everywhere, whatever region it went to
    client("dynamodb", TARGET_B).put_item(TableName=name, Item=item("seq", v="first"))
    client("dynamodb", TARGET_A).put_item(TableName=name, Item=item("seq", v="second"))
    for region in (HOME, TARGET_A, TARGET_B):
        wait_item(region, name, key("seq"), lambda it: it and it["v"] == {"S": "second"})
    time.sleep(0.3)
    for region in (HOME, TARGET_A, TARGET_B):
        assert client("dynamodb", region).get_item(TableName=name, Key=key("seq"))["Item"]["v"] == {"S": "second"}


def test_removing_a_replica(global_table):
    name, keys = global_table
    ddb = client("dynamodb", HOME)
    ddb.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": TARGET_B}}])
    assert [r["RegionName"] for r in ddb.describe_table(TableName=name)["Table"]["Replicas"]] == [TARGET_A]
    with pytest.raises(ClientError) as e:
        client("dynamodb", TARGET_B).describe_table(TableName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # replication goes on between the remaining members
    ddb.put_item(TableName=name, Item=item("after", v="1"))
    wait_item(TARGET_A, name, key("after"))
    # and the removed region can be added back
    ddb.update_table(
        TableName=name, ReplicaUpdates=[{"Create": {"RegionName": TARGET_B, "KMSMasterKeyId": keys[TARGET_B]}}]
    )
    assert client("dynamodb", TARGET_B).get_item(TableName=name, Key=key("after"))["Item"] == item("after", v="1")


def test_partiql_write_to_a_global_table_fails_loudly(global_table):
    name, _ = global_table
    ddb = client("dynamodb", HOME)
    with pytest.raises(ClientError) as e:
        ddb.execute_statement(Statement=f"INSERT INTO \"{name}\" VALUE {{'pk': 'p', 'sk': 1}}")
    assert "not replicated" in e.value.response["Error"]["Message"]


def test_streams_of_home_and_replica(global_table):
    """DynamoDB Streams (moto's) reads the table's stream; a replicated write is in the replica's stream."""
    name, _ = global_table
    client("dynamodb", HOME).put_item(TableName=name, Item=item("s", v="streamed"))
    wait_item(TARGET_A, name, key("s"))
    for region in (HOME, TARGET_A):
        arn = client("dynamodb", region).describe_table(TableName=name)["Table"]["LatestStreamArn"]
        streams = client("dynamodbstreams", region)
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = streams.get_records(ShardIterator=it)["Records"]
        images = [r["dynamodb"].get("NewImage") for r in records]
        assert item("s", v="streamed") in images, (region, images)
