"""DynamoDB backed by moto, with global tables (version 2019.11.21) and their item replication.

LocalStack's community DynamoDB runs DynamoDB Local, which it downloads (with a Java runtime) at
first use: offline, CreateTable answers 500. This provider (entry point ``dynamodb:relay``,
selected by the launcher with ``PROVIDER_OVERRIDE_DYNAMODB=relay``) answers every operation with
moto's in-process DynamoDB and adds what moto lacks:

* ``UpdateTable`` ``ReplicaUpdates`` (Create / Update / Delete): a replica is a table of the same
  name in the replica region (same keys, attributes, indexes, billing mode and stream settings,
  encrypted with the replica's own ``KMSMasterKeyId``, which must be a key of that region), filled
  with the table's items; ``DescribeTable`` in any member region lists the other members as
  ``Replicas`` (``ACTIVE``, with their key) and ``GlobalTableVersion`` 2019.11.21.
* item replication: every successful PutItem / UpdateItem / DeleteItem / BatchWriteItem /
  TransactWriteItems on a member is stamped with a version (write time in ns, region) and the
  item's new image (or its absence) is applied to every other member by a background worker,
  last writer wins (``core.dynamodb_global``). A failed apply is retried and logged, never dropped
  silently.
* ``DeleteTable`` on a member removes it from the global table.

Writes to members of a global table and replicated applies are serialised by one lock, so the
version a write gets and the image replicated with it belong together.
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time

from localstack.services.stores import AccountRegionBundle, BaseStore, CrossRegionAttribute

from relay_emulator.common import LOG, describe, err, internal_client
from relay_emulator.core import dynamodb_global as core

GLOBAL_TABLE_VERSION = "2019.11.21"
_ATTEMPTS = int(os.environ.get("RELAY_DYNAMODB_REPLICATION_ATTEMPTS", "5"))
_BACKOFF = float(os.environ.get("RELAY_DYNAMODB_REPLICATION_BACKOFF", "0.2"))

_LOCK = threading.RLock()
_CLOCK = core.VersionClock()


class GlobalTable:
    """One table name across member regions: each member's replica settings and, per member, the
    version of the last write it holds for each item (canonical key -> Version)."""

    def __init__(self, name: str, region: str):
        self.name = name
        self.members: dict[str, dict] = {region: {}}
        self.versions: dict[str, dict[str, core.Version]] = {region: {}}


class DynamoDBRelayStore(BaseStore):
    # table name -> GlobalTable; a global table spans the regions of one account
    global_tables: dict = CrossRegionAttribute(default=dict)


dynamodb_relay_stores = AccountRegionBundle("dynamodb", DynamoDBRelayStore, validate=False)


def _backend(account: str, region: str):
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


def _group(account: str, region: str, table: str) -> GlobalTable | None:
    group = dynamodb_relay_stores[account][region].global_tables.get(_name(table))
    return group if group is not None and region in group.members else None


def _name(table: str) -> str:
    """A table name from a name or an ARN."""
    return table.rsplit("/", 1)[-1] if table.startswith("arn:") else table


# ---------------------------------------------------------------- replication worker


class _Replicator:
    def __init__(self):
        self.queue: collections.deque = collections.deque()
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None

    def submit(self, job: tuple) -> None:
        with self.cond:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="relay-ddb-repl", daemon=True)
                self.thread.start()
            self.queue.append(job)
            self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                job = self.queue.popleft()
            self._apply_with_retries(job)

    def _apply_with_retries(self, job: tuple) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                _apply(*job)
                return
            except Exception as e:  # logged, retried, then reported
                if attempt == _ATTEMPTS:
                    LOG.error(
                        "DynamoDB replication of %s in table %s FAILED after %d attempts: %s",
                        job[3],
                        job[1],
                        attempt,
                        describe(e),
                    )
                    return
                time.sleep(_BACKOFF * 2 ** (attempt - 1))


_REPLICATOR = _Replicator()


def _apply(account: str, table: str, origin: str, key_json: str, key: dict, image: dict | None, version) -> None:
    """Apply one write's image to every other current member of the global table (last writer wins)."""
    with _LOCK:
        group = dynamodb_relay_stores[account][origin].global_tables.get(table)
        if group is None:
            return  # the global table is gone (every replica removed): nothing to replicate to
        for target in core.replica_targets(group.members, origin):
            held = group.versions.setdefault(target, {})
            if not core.newer(version, held.get(key_json)):
                continue
            moto_table = _backend(account, target).get_table(table)
            if image is None:
                hash_key, range_key = _backend(account, target).get_keys_value(moto_table, key)
                moto_table.delete_item(hash_key, range_key)
            else:
                moto_table.put_item(image)
            held[key_json] = version


def _stamp_and_replicate(account: str, region: str, writes: list[tuple[str, str, dict]]) -> None:
    """After a successful local write (under _LOCK): stamp each written item of a global table and queue it."""
    version = (_CLOCK.next(), region)  # one write, one version (a batch or a transaction too)
    for table, key_json, key in writes:
        group = _group(account, region, table)
        if group is None:
            continue
        if len(group.members) < 2:
            group.versions.setdefault(region, {})[key_json] = version
            continue
        backend = _backend(account, region)
        moto_table = backend.get_table(table)
        item = backend.get_item(table, key)
        image = item.to_json()["Attributes"] if item is not None else None
        group.versions.setdefault(region, {})[key_json] = version
        _REPLICATOR.submit((account, moto_table.name, region, key_json, key, image, version))


# ---------------------------------------------------------------- handlers


def _call_moto(context, request=None):
    from localstack.services.moto import call_moto, call_moto_with_request

    return call_moto(context) if request is None else call_moto_with_request(context, request)


def _key_names(account: str, region: str):
    def names_of(table: str) -> list[str]:
        return list(_backend(account, region).get_table(_name(table)).table_key_attrs)

    return names_of


def _is_global(account: str, region: str, tables) -> bool:
    store = dynamodb_relay_stores[account][region].global_tables
    return any(_name(t) in store and region in store[_name(t)].members for t in tables)


def _write(keys_of):
    """A write operation: moto's; for members of a global table the write, its version and its
    replication happen under the lock."""

    def handle(context, request):
        account, region = context.account_id, context.region
        tables = _tables_of(request)
        with _LOCK:  # also for other tables: one becoming global meanwhile must not miss this write
            response = _call_moto(context)
            if not _is_global(account, region, tables):
                return response
            writes = keys_of(request, _key_names(account, region))
            _stamp_and_replicate(account, region, [(_name(t), k, key) for t, k, key in writes])
        return response

    return handle


def _tables_of(request) -> list[str]:
    if "TableName" in request:
        return [request["TableName"]]
    if "RequestItems" in request:
        return list(request["RequestItems"])
    return [
        body["TableName"]
        for entry in request.get("TransactItems") or []
        for body in entry.values()
        if "TableName" in body
    ]


def _single_key(field: str):
    def keys_of(request, names_of):
        names = names_of(request["TableName"])
        key = {k: request[field][k] for k in names if k in request[field]}
        return [(request["TableName"], core.item_key(key, names), key)]

    return keys_of


def _batch_keys(request, names_of):
    return core.batch_keys(request.get("RequestItems"), names_of)


def _transact_keys(request, names_of):
    return core.transact_keys(request.get("TransactItems"), names_of)


def describe_table(context, request):
    response = _call_moto(context)
    _add_replicas(context.account_id, context.region, response.get("Table"))
    return response


def _add_replicas(account: str, region: str, description: dict | None) -> None:
    if not description:
        return
    group = _group(account, region, description["TableName"])
    if group is None or len(group.members) < 2:
        return
    description["Replicas"] = core.replica_descriptions(group.members, region)
    description["GlobalTableVersion"] = GLOBAL_TABLE_VERSION


def update_table(context, request):
    updates = request.get("ReplicaUpdates")
    if not updates:
        response = _call_moto(context)
        _add_replicas(context.account_id, context.region, response.get("TableDescription"))
        return response
    account, region = context.account_id, context.region
    rest = {k: v for k, v in request.items() if k != "ReplicaUpdates"}
    with _LOCK:
        backend = _backend(account, region)
        name = _name(request["TableName"])
        try:
            table = backend.get_table(name)
        except Exception:
            raise err("ResourceNotFoundException", f"Requested resource not found: Table: {name} not found") from None
        store = dynamodb_relay_stores[account][region].global_tables
        group = store.get(table.name)
        if group is None or region not in group.members:
            group = GlobalTable(table.name, region)
            if _customer_key(account, region, table):  # listed as a replica of the others, with its key
                group.members[region] = {"KMSMasterKeyId": table.sse_specification["KMSMasterKeyId"]}
        try:
            stream = table.stream_specification or {}
            if not stream.get("StreamEnabled") or stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
                if any("Create" in u for u in updates):
                    raise ValueError(
                        "One or more parameter values were invalid: Table must have DynamoDB Streams enabled with "
                        "StreamViewType NEW_AND_OLD_IMAGES to add replicas (global tables version 2019.11.21)"
                    )
            actions = core.plan_replica_updates(
                table.name, region, group.members, updates, _customer_key(account, region, table)
            )
        except ValueError as e:
            raise err("ValidationException", str(e)) from None
        for _kind, target, settings in actions:  # every key is checked before anything changes
            if settings.get("KMSMasterKeyId"):
                settings["KMSMasterKeyId"] = _replica_key_arn(account, target, settings["KMSMasterKeyId"])
        store[table.name] = group
        for kind, target, settings in actions:
            if kind == "create":
                _create_replica(account, region, table, target, settings, group)
            elif kind == "delete":
                _delete_replica(account, table.name, target, group)
            else:
                group.members[target] = settings
                replica = _backend(account, target).get_table(table.name)
                if settings.get("KMSMasterKeyId"):
                    replica.sse_specification = {"Enabled": True, "SSEType": "KMS", **settings}
        if len(rest) > 1:
            response = _call_moto(context, rest)
        else:
            response = {"TableDescription": backend.get_table(table.name).describe()["TableDescription"]}
        _add_replicas(account, region, response.get("TableDescription"))
        return response


def _customer_key(account: str, region: str, table) -> bool:
    sse = table.sse_specification or {}
    if not sse.get("Enabled") or not sse.get("KMSMasterKeyId"):
        return False
    from moto.kms import kms_backends

    kms = kms_backends[account][region]
    if kms.alias_exists("alias/aws/dynamodb"):
        return kms.describe_key("alias/aws/dynamodb").arn != sse["KMSMasterKeyId"]
    return True


def _replica_key_arn(account: str, region: str, key_id: str) -> str:
    """The ARN of a replica's KMS key; it must exist, be enabled and live in the replica's region."""
    try:
        meta = internal_client("kms", region, account).describe_key(KeyId=key_id)["KeyMetadata"]
    except Exception as e:
        raise err(
            "ValidationException", f"KMSMasterKeyId {key_id} is not a usable key in region {region}: {describe(e)}"
        ) from None
    if meta.get("KeyState") != "Enabled":
        raise err("ValidationException", f"KMS key {meta['Arn']} for the replica in {region} is {meta.get('KeyState')}")
    return meta["Arn"]


def _index_specs(indexes) -> list[dict]:
    keep = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
    return [{k: v for k, v in index.describe().items() if k in keep} for index in indexes]


def _create_replica(account: str, region: str, table, target: str, settings: dict, group: GlobalTable) -> None:
    backend = _backend(account, target)
    if table.name in backend.tables:
        raise err(
            "ValidationException",
            f"Failed to create a the new replica of table with name: '{table.name}' because one or more "
            "replicas already existed as tables.",
        )
    source_sse = table.sse_specification or {}
    if settings.get("KMSMasterKeyId"):
        sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": settings["KMSMasterKeyId"]}
    elif source_sse.get("Enabled"):
        sse = {"Enabled": True, "SSEType": "KMS"}  # the replica region's AWS managed key
    else:
        sse = None
    throughput = {k: v for k, v in (table.throughput or {}).items() if k in ("ReadCapacityUnits", "WriteCapacityUnits")}
    replica = backend.create_table(
        table.name,
        schema=table.schema,
        attr=table.attr,
        throughput=throughput if table.billing_mode != "PAY_PER_REQUEST" else None,
        billing_mode=table.billing_mode,
        indexes=_index_specs(table.indexes),
        global_indexes=_index_specs(table.global_indexes),
        streams=dict(table.stream_specification or {}),
        sse_specification=sse,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    # existing items, with the versions the source holds for them
    versions = group.versions.setdefault(region, {})
    names = list(table.table_key_attrs)
    copied = {}
    for item in table.all_items():
        image = item.to_json()["Attributes"]
        replica.put_item(image)
        key_json = core.item_key(image, names)
        copied[key_json] = versions.setdefault(key_json, (_CLOCK.next(), region))
    group.members[target] = settings
    group.versions[target] = copied
    LOG.info("DynamoDB table %s: replica created in %s (%d items copied)", table.name, target, len(copied))


def _delete_replica(account: str, name: str, target: str, group: GlobalTable) -> None:
    backend = _backend(account, target)
    if name in backend.tables:
        backend.delete_table(name)
    group.members.pop(target, None)
    group.versions.pop(target, None)
    LOG.info("DynamoDB table %s: replica in %s deleted", name, target)


def delete_table(context, request):
    account, region = context.account_id, context.region
    with _LOCK:
        response = _call_moto(context)
        store = dynamodb_relay_stores[account][region].global_tables
        name = _name(request["TableName"])
        group = store.get(name)
        if group is not None and region in group.members:
            group.members.pop(region, None)
            group.versions.pop(region, None)
            if not group.members:
                store.pop(name, None)
    return response


def update_continuous_backups(context, request):
    """moto's, plus PITR's recovery period (``RecoveryPeriodInDays``, 1-35, AWS's default 35)."""
    response = _call_moto(context)
    spec = request.get("PointInTimeRecoverySpecification") or {}
    description = response["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    if description.get("PointInTimeRecoveryStatus") == "ENABLED":
        table = _backend(context.account_id, context.region).get_table(_name(request["TableName"]))
        stored = table.continuous_backups["PointInTimeRecoveryDescription"]
        stored["RecoveryPeriodInDays"] = spec.get("RecoveryPeriodInDays") or stored.get("RecoveryPeriodInDays") or 35
        description["RecoveryPeriodInDays"] = stored["RecoveryPeriodInDays"]
    return response


def partiql(context, request):
    """PartiQL reads go to moto; a PartiQL write to a global table is refused (it would not be replicated)."""
    account, region = context.account_id, context.region
    statements = [request["Statement"]] if "Statement" in request else []
    statements += [s.get("Statement", "") for s in request.get("Statements") or request.get("TransactStatements") or []]
    store = dynamodb_relay_stores[account][region].global_tables
    for statement in statements:
        words = statement.split(None, 1)
        if not words or words[0].upper() not in ("INSERT", "UPDATE", "DELETE"):
            continue
        for name, group in list(store.items()):
            if (
                region in group.members
                and len(group.members) > 1
                and re.search(rf"(^|[\s\"']){re.escape(name)}($|[\s\"'])", statement)
            ):
                raise err(
                    "ValidationException",
                    f"relay emulator: PartiQL writes to the global table {name} are not replicated; "
                    "use PutItem, UpdateItem, DeleteItem, BatchWriteItem or TransactWriteItems",
                )
    return _call_moto(context)


def dispatch_table(provider) -> dict:
    from localstack.aws.spec import load_service

    def forward(context, request):
        return _call_moto(context)

    table = {op: forward for op in load_service("dynamodb").operation_names}
    table.update(
        {
            "DescribeTable": describe_table,
            "UpdateTable": update_table,
            "DeleteTable": delete_table,
            "PutItem": _write(_single_key("Item")),
            "UpdateItem": _write(_single_key("Key")),
            "DeleteItem": _write(_single_key("Key")),
            "BatchWriteItem": _write(_batch_keys),
            "TransactWriteItems": _write(_transact_keys),
            "UpdateContinuousBackups": update_continuous_backups,
            "ExecuteStatement": partiql,
            "BatchExecuteStatement": partiql,
            "ExecuteTransaction": partiql,
        }
    )
    return table


class DynamoDBProvider:
    """The service's provider object: LocalStack's lifecycle and state visitors see moto's
    DynamoDB backend and the global tables store."""

    service = "dynamodb"
    version = "2012-08-10"

    def accept_state_visitor(self, visitor) -> None:
        from moto.dynamodb.models import dynamodb_backends

        visitor.visit(dynamodb_backends)
        visitor.visit(dynamodb_relay_stores)


# ---------------------------------------------------------------- DynamoDB Streams


def _streams(context):
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    return dynamodbstreams_backends[context.account_id][context.region]


def _stream_call(fn):
    def handle(context, request):
        try:
            return fn(_streams(context), request)
        except KeyError as e:
            raise err("ExpiredIteratorException", f"Shard iterator not found: {e}") from None
        except Exception as e:
            if getattr(e, "code", None) is not None or isinstance(e, AssertionError):
                raise err("ResourceNotFoundException", f"Requested resource not found: {describe(e)}") from None
            raise

    return handle


def streams_dispatch_table(provider) -> dict:
    """moto's DynamoDB Streams over the tables above (LocalStack's moto route for it answers nothing)."""
    from localstack.aws.spec import load_service

    def not_emulated(context, request):
        raise err("UnknownOperationException", f"{context.operation.name} is not emulated", 501)

    table = {op: not_emulated for op in load_service("dynamodbstreams").operation_names}
    table.update(
        {
            "DescribeStream": _stream_call(lambda b, r: {"StreamDescription": b.describe_stream(r["StreamArn"])}),
            "ListStreams": _stream_call(lambda b, r: {"Streams": b.list_streams(r.get("TableName"))}),
            "GetShardIterator": _stream_call(
                lambda b, r: {
                    "ShardIterator": b.get_shard_iterator(
                        r["StreamArn"],
                        r["ShardId"],
                        r["ShardIteratorType"],
                        int(r["SequenceNumber"]) if r.get("SequenceNumber") else None,
                    ).arn
                }
            ),
            "GetRecords": _stream_call(lambda b, r: b.get_records(r["ShardIterator"], r.get("Limit") or 1000)),
        }
    )
    return table
