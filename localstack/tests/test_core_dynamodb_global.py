"""Global tables decisions: last writer wins, replica updates, replica descriptions, item keys."""

from __future__ import annotations

import pytest
from relay_emulator.core import dynamodb_global as core

H, A, B = "eu-west-1", "eu-south-2", "ap-southeast-4"


@pytest.mark.parametrize(
    ("incoming", "current", "applies"),
    [
        ((5, A), None, True),  # never seen: apply
        ((5, A), (4, H), True),  # later write wins
        ((4, A), (5, H), False),  # an older replicated write never overwrites a newer one
        ((5, A), (5, A), False),  # the same write twice is applied once
        ((5, A), (5, B), True),  # equal timestamps: the region name decides, the same way everywhere
        ((5, B), (5, A), False),
    ],
)
def test_last_writer_wins(incoming, current, applies):
    assert core.newer(incoming, current) is applies


def test_concurrent_writes_converge_whatever_the_delivery_order():
    # two regions write the same item; each region applies the other's write only if newer
    writes = {H: ((10, H), "home"), A: ((11, A), "target")}
    for first in (H, A):
        state = {r: writes[r] for r in writes}  # each region holds its own write
        order = [first] + [r for r in writes if r != first]
        for origin in order:
            for target in core.replica_targets(writes, origin):
                if core.newer(writes[origin][0], state[target][0]):
                    state[target] = writes[origin]
        assert state[H] == state[A] == ((11, A), "target")


def test_version_clock_is_strictly_increasing_even_if_the_wall_clock_stalls():
    ticks = iter([100, 100, 99, 200, 300])
    clock = core.VersionClock(now=lambda: next(ticks))
    assert [clock.next() for _ in range(4)] == [100, 101, 102, 200]
    clock.observe(500)
    assert clock.next() > 500


def test_replica_targets_are_the_other_members():
    assert core.replica_targets({H: {}, A: {}, B: {}}, A) == [B, H]
    assert core.replica_targets({H: {}}, H) == []


def test_item_key_is_canonical_and_ignores_other_attributes():
    names = core.key_names([{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}])
    assert names == ["pk", "sk"]
    one = core.item_key({"sk": {"N": "1"}, "pk": {"S": "a"}, "v": {"S": "x"}}, names)
    two = core.item_key({"pk": {"S": "a"}, "sk": {"N": "1"}}, names)
    assert one == two


def test_plan_create_update_delete():
    members = {H: {}, A: {"KMSMasterKeyId": "k-a"}}
    actions = core.plan_replica_updates(
        "t",
        H,
        members,
        [
            {"Create": {"RegionName": B, "KMSMasterKeyId": "k-b"}},
            {"Update": {"RegionName": A, "KMSMasterKeyId": "k-a2"}},
        ],
        customer_key=True,
    )
    assert actions == [("create", B, {"KMSMasterKeyId": "k-b"}), ("update", A, {"KMSMasterKeyId": "k-a2"})]
    assert core.plan_replica_updates("t", H, members, [{"Delete": {"RegionName": A}}], False) == [("delete", A, {})]


@pytest.mark.parametrize(
    ("updates", "customer_key", "message"),
    [
        ([{"Create": {"RegionName": A}}], False, "already existed as tables"),
        ([{"Create": {"RegionName": B}}], True, "KMSMasterKeyId must be specified"),
        ([{"Delete": {"RegionName": B}}], False, "does not exist"),
        ([{"Update": {"RegionName": B}}], False, "does not exist"),
        ([{"Create": {"RegionName": B}}, {"Create": {"RegionName": B}}], False, "more than once"),
        ([{"Create": {}}], False, "must not be null"),
        ([{"Create": {"RegionName": B}, "Delete": {"RegionName": A}}], False, "exactly one"),
        ([{"Delete": {"RegionName": H}}], False, "send it to another replica region"),
    ],
)
def test_plan_rejects(updates, customer_key, message):
    with pytest.raises(ValueError, match=message):
        core.plan_replica_updates("t", H, {H: {}, A: {}}, updates, customer_key)


def test_replica_descriptions_list_the_other_members_with_their_keys():
    members = {H: {"KMSMasterKeyId": "k-h"}, A: {"KMSMasterKeyId": "k-a"}, B: {}}
    assert core.replica_descriptions(members, H) == [
        {"RegionName": B, "ReplicaStatus": "ACTIVE"},
        {"RegionName": A, "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": "k-a"},
    ]
    assert [r["RegionName"] for r in core.replica_descriptions(members, A)] == [B, H]


def test_batch_and_transact_keys():
    names = {"t": ["pk"], "u": ["pk", "sk"]}.__getitem__
    batch = core.batch_keys(
        {
            "t": [
                {"PutRequest": {"Item": {"pk": {"S": "1"}, "v": {"S": "x"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "2"}}}},
            ],
            "u": [{"PutRequest": {"Item": {"pk": {"S": "1"}, "sk": {"N": "3"}}}}],
        },
        names,
    )
    assert [(t, key) for t, _, key in batch] == [
        ("t", {"pk": {"S": "1"}}),
        ("t", {"pk": {"S": "2"}}),
        ("u", {"pk": {"S": "1"}, "sk": {"N": "3"}}),
    ]
    transact = core.transact_keys(
        [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "1"}, "v": {"S": "x"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "9"}}}},
            {"Update": {"TableName": "u", "Key": {"pk": {"S": "1"}, "sk": {"N": "3"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "2"}}}},
        ],
        names,
    )
    assert [(t, key) for t, _, key in transact] == [
        ("t", {"pk": {"S": "1"}}),
        ("u", {"pk": {"S": "1"}, "sk": {"N": "3"}}),
        ("t", {"pk": {"S": "2"}}),
    ]
