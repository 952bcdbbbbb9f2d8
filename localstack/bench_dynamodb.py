#!/usr/bin/env python3
"""DynamoDB global table replication latency on the emulator (boto3 only; not a test).

A table in eu-west-1 with replicas in eu-south-2 and ap-southeast-4 (customer KMS keys, as the
platform's data module). For N items (default 100): PutItem in one region (alternating home and
eu-south-2), then GetItem in another region until the item is there; latency from the start of
PutItem, nearest-rank p50/p95. "direct" is the same PutItem -> GetItem in the region written to.

    python localstack/bench_dynamodb.py [-n 100]   # starts the emulator if needed (and stops it after)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import emulator as launcher  # noqa: E402
from bench import client, pct  # noqa: E402

HOME, TARGET_A, TARGET_B = "eu-west-1", "eu-south-2", "ap-southeast-4"


def wait_item(ddb, table, key, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Item" in ddb.get_item(TableName=table, Key=key, ConsistentRead=True):
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError(f"item {key} not in {table} after {timeout}s")


def run(n: int) -> None:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    regions = (HOME, TARGET_A, TARGET_B)
    ddb = {r: client("dynamodb", r) for r in regions}
    keys = {r: client("kms", r).create_key(Description="bench")["KeyMetadata"]["Arn"] for r in regions}
    ddb[HOME].create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": keys[HOME]},
    )
    try:
        for r in (TARGET_A, TARGET_B):
            ddb[HOME].update_table(
                TableName=name, ReplicaUpdates=[{"Create": {"RegionName": r, "KMSMasterKeyId": keys[r]}}]
            )
        replicated, direct = [], []
        for i in range(n):
            src, dst = (HOME, TARGET_A) if i % 2 == 0 else (TARGET_A, TARGET_B)
            key = {"pk": {"S": f"r{i}"}}
            start = time.monotonic()
            ddb[src].put_item(TableName=name, Item={**key, "v": {"S": "x" * 100}})
            replicated.append((wait_item(ddb[dst], name, key) - start) * 1000)
            key = {"pk": {"S": f"d{i}"}}
            start = time.monotonic()
            ddb[src].put_item(TableName=name, Item={**key, "v": {"S": "x" * 100}})
            direct.append((wait_item(ddb[src], name, key) - start) * 1000)
        print(f"DynamoDB global table, {n} items (PutItem start -> GetItem finds it; ms, nearest-rank)")
        for label, values in (("replicated (other region)", replicated), ("direct (same region)", direct)):
            print(f"  {label:26} p50 {pct(values, 50):6.1f}  p95 {pct(values, 95):6.1f}  max {max(values):6.1f}")
    finally:
        for r in (TARGET_B, TARGET_A):
            try:
                ddb[HOME].update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": r}}])
            except Exception:  # noqa: S110 - best effort clean-up
                pass
        ddb[HOME].delete_table(TableName=name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="items (default 100)")
    args = parser.parse_args()
    with launcher.running(echo=True):
        run(args.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
