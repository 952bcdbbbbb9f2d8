"""DynamoDB global tables (version 2019.11.21) decisions: replica updates, replica descriptions,
item keys, and last-writer-wins conflict resolution.

A global table is one table name in several regions of an account. Every write in a replica
region is stamped with a version ``(timestamp_ns, region)``; a replicated write is applied in
another region only when its version is newer than the one that region holds for the item
(DynamoDB global tables resolve concurrent writes the same way: the later write wins, and every
replica converges to it). Ties on the timestamp are broken by region name, so every replica picks
the same winner. Deletes carry a version too (a tombstone), so a late replicated put cannot
resurrect an item deleted after it.
"""

from __future__ import annotations

import json
import threading
import time

Version = tuple[int, str]  # (write timestamp in ns, region written in)


def newer(incoming: Version, current: Version | None) -> bool:
    """Whether a replicated write with version ``incoming`` replaces the item whose last write has
    version ``current`` (None: the region has never seen the item)."""
    return current is None or incoming > current


class VersionClock:
    """Strictly increasing write timestamps (ns since the epoch), even when the wall clock stalls
    or steps back: a later local write always gets a later version."""

    def __init__(self, now=time.time_ns):
        self._now = now
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._now(), self._last + 1)
            return self._last

    def observe(self, ts: int) -> None:
        """A version seen from another region: later local writes are stamped after it."""
        with self._lock:
            self._last = max(self._last, ts)


def replica_targets(members, origin: str) -> list[str]:
    """The regions a write in ``origin`` is replicated to: every other member, sorted."""
    return sorted(r for r in members if r != origin)


def item_key(item: dict, key_names: list[str]) -> str:
    """A canonical key of an item (its key attributes in AttributeValue shape), usable as a dict key."""
    return json.dumps({k: item[k] for k in key_names if k in item}, sort_keys=True, separators=(",", ":"))


def key_names(key_schema: list[dict]) -> list[str]:
    """The table's key attribute names, hash key first."""
    ordered = sorted(key_schema, key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
    return [k["AttributeName"] for k in ordered]


def plan_replica_updates(
    table: str, region: str, members: dict, updates: list[dict], customer_key: bool
) -> list[tuple[str, str, dict]]:
    """Validate an UpdateTable ``ReplicaUpdates`` list against the global table's ``members``
    (region -> replica settings, the region the request is sent to included) and return the
    actions ``(kind, region, settings)`` with kind ``create`` / ``update`` / ``delete``.

    Raises ValueError with DynamoDB's ValidationException message for a request AWS rejects.
    ``customer_key``: the table is encrypted with a customer managed key, so each new replica
    must name its own region's key.
    """
    actions: list[tuple[str, str, dict]] = []
    seen: set[str] = set()
    for update in updates:
        kinds = [k for k in ("Create", "Update", "Delete") if k in update]
        if len(kinds) != 1:
            raise ValueError(
                "One or more parameter values were invalid: exactly one of Create, Update or Delete per ReplicaUpdate"
            )
        body = update[kinds[0]] or {}
        target = body.get("RegionName")
        if not target:
            raise ValueError(
                "1 validation error detected: Value null at 'replicaUpdates.regionName' failed to satisfy "
                "constraint: Member must not be null"
            )
        if target in seen:
            raise ValueError(
                f"One or more parameter values were invalid: region {target} appears more than once in ReplicaUpdates"
            )
        seen.add(target)
        kind = kinds[0].lower()
        if kind == "create":
            if target in members:
                raise ValueError(
                    f"Failed to create a the new replica of table with name: '{table}' because one or more "
                    "replicas already existed as tables."
                )
            if customer_key and not body.get("KMSMasterKeyId"):
                raise ValueError(
                    "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica "
                    f"region ({target}) of a table encrypted with a customer managed key"
                )
            settings = {"KMSMasterKeyId": body.get("KMSMasterKeyId")} if body.get("KMSMasterKeyId") else {}
            actions.append(("create", target, settings))
        elif target not in members:
            raise ValueError(
                f"Update global table operation failed because the replica in region {target} does not exist "
                f"for table {table}"
            )
        elif kind == "delete":
            if target == region and len(members) > 1:
                # AWS deletes a replica from another member; the table itself is deleted with DeleteTable
                raise ValueError(
                    f"Cannot delete the replica in region {region} from a request to that region; "
                    "send it to another replica region"
                )
            actions.append(("delete", target, {}))
        else:
            settings = {"KMSMasterKeyId": body["KMSMasterKeyId"]} if body.get("KMSMasterKeyId") else {}
            actions.append(("update", target, settings))
    return actions


def replica_descriptions(members: dict, described_region: str) -> list[dict]:
    """DescribeTable's ``Replicas`` in ``described_region``: every other member region, ACTIVE, with its
    customer managed key when it has one."""
    out = []
    for name in sorted(members):
        if name == described_region:
            continue
        desc = {"RegionName": name, "ReplicaStatus": "ACTIVE"}
        key = (members[name] or {}).get("KMSMasterKeyId")
        if key:
            desc["KMSMasterKeyId"] = key
        out.append(desc)
    return out


def batch_keys(request_items: dict, names_of) -> list[tuple[str, str, dict]]:
    """The items a BatchWriteItem request writes: ``(table, canonical key, key attributes)``.
    ``names_of(table)`` gives the table's key attribute names."""
    out = []
    for table, writes in (request_items or {}).items():
        names = names_of(table)
        for write in writes:
            item = (write.get("PutRequest") or {}).get("Item") or (write.get("DeleteRequest") or {}).get("Key") or {}
            key = {k: item[k] for k in names if k in item}
            out.append((table, item_key(key, names), key))
    return out


def transact_keys(transact_items: list[dict], names_of) -> list[tuple[str, str, dict]]:
    """The items a TransactWriteItems request writes (ConditionCheck writes nothing)."""
    out = []
    for entry in transact_items or []:
        for kind, field in (("Put", "Item"), ("Update", "Key"), ("Delete", "Key")):
            if kind in entry:
                body = entry[kind]
                names = names_of(body["TableName"])
                key = {k: body[field][k] for k in names if k in body[field]}
                out.append((body["TableName"], item_key(key, names), key))
    return out
