"""The replication engine's copy and back-pressure: large objects copied at the storage level keep
ETag, version id, metadata and checksum; a burst larger than the backlog bound replicates completely
while the backlog stays within its bound; the ``/_relay/replication`` control API."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os

import pytest
from emulator_helpers import HOME, NOT_YET, TARGET_A, client, relay_api, replicate_everything

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024


@pytest.fixture
def engine_settings():
    """Restores the engine's backlog bound and write mode after the test."""
    status, before = relay_api("GET", "/_relay/replication")
    assert status == 200, before
    yield before
    relay_api("POST", "/_relay/replication", {"backlog": before["backlog"]["bound"], "write": before["write"]})


def pair(res):
    src = res.bucket(HOME, prefix="src")
    dst = res.bucket(TARGET_A, prefix="dst")
    replicate_everything(src, dst, res.role("s3"))
    return src, dst


def wait_replica(bucket, key, version_id, timeout=60):
    s3t = client("s3", TARGET_A)
    return wait_for(
        f"replica s3://{bucket}/{key} ({version_id})",
        lambda: s3t.head_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED"),
        timeout=timeout,
        interval=0.05,
        retry_on=NOT_YET,
    )


def test_large_object_replica_keeps_etag_version_metadata_and_checksum(res):
    src, dst = pair(res)
    s3, s3t = client("s3", HOME), client("s3", TARGET_A)
    body = os.urandom(64 * MiB)
    put = s3.put_object(
        Bucket=src,
        Key="big/release.bin",
        Body=body,
        ContentType="application/octet-stream",
        Metadata={"build": "64"},
        ChecksumAlgorithm="SHA256",
    )
    replica = wait_replica(dst, "big/release.bin", put["VersionId"])
    source = s3.head_object(Bucket=src, Key="big/release.bin", ChecksumMode="ENABLED")
    assert replica["VersionId"] == put["VersionId"]
    assert replica["ETag"] == source["ETag"] == put["ETag"]
    assert replica["ContentLength"] == 64 * MiB
    assert replica["Metadata"] == {"build": "64"}
    assert replica["ContentType"] == "application/octet-stream"
    assert replica["LastModified"] == source["LastModified"]
    assert replica["ChecksumSHA256"] == source["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert replica["ReplicationStatus"] == "REPLICA"
    # the bytes themselves: the whole body streamed back, hashed (never held twice in this process)
    got = s3t.get_object(Bucket=dst, Key="big/release.bin", VersionId=put["VersionId"])["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: got.read(MiB), b""):
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(body).digest()


def test_multipart_replica_keeps_the_multipart_etag(res):
    src, dst = pair(res)
    s3 = client("s3", HOME)
    part = 5 * MiB
    body = os.urandom(part) + b"tail"
    mpu = s3.create_multipart_upload(Bucket=src, Key="mpu")
    parts = [
        {
            "PartNumber": n,
            "ETag": s3.upload_part(Bucket=src, Key="mpu", UploadId=mpu["UploadId"], PartNumber=n, Body=c)["ETag"],
        }
        for n, c in enumerate((body[:part], body[part:]), start=1)
    ]
    done = s3.complete_multipart_upload(
        Bucket=src, Key="mpu", UploadId=mpu["UploadId"], MultipartUpload={"Parts": parts}
    )
    replica = wait_replica(dst, "mpu", done["VersionId"])
    assert replica["ETag"] == done["ETag"]  # "<md5 of the part md5s>-2", as S3 keeps it
    assert replica["ContentLength"] == len(body)
    tail = client("s3", TARGET_A).get_object(Bucket=dst, Key="mpu", Range=f"bytes={part - 2}-")["Body"].read()
    assert tail == body[part - 2 :]


def test_burst_larger_than_the_backlog_is_replicated_completely(res, engine_settings):
    src, dst = pair(res)
    status, doc = relay_api("POST", "/_relay/replication", {"backlog": 4, "reset": True})
    assert status == 200 and doc["backlog"]["bound"] == 4, doc
    s3, s3t = client("s3", HOME, max_pool_connections=16), client("s3", TARGET_A)
    n = 150

    def put(i):
        key = f"burst/{i:04d}"
        return key, s3.put_object(Bucket=src, Key=key, Body=b"x" * 1024)["VersionId"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        written = dict(pool.map(put, range(n)))

    def replicated():
        got = {}
        for page in s3t.get_paginator("list_object_versions").paginate(Bucket=dst, Prefix="burst/"):
            got.update({v["Key"]: v["VersionId"] for v in page.get("Versions", [])})
        return got if len(got) >= n else None

    got = wait_for("the whole burst replicated", replicated, timeout=60, interval=0.2)
    assert got == written  # every key, with the source's version id, none lost
    _, doc = relay_api("GET", "/_relay/replication")
    backlog = doc["backlog"]
    assert backlog["admitted"] >= n
    assert backlog["high_water"] <= 4, backlog
    assert backlog["overflows"] == 0, backlog
    assert backlog["depth"] == 0, backlog


def test_api_write_mode_still_replicates(res, engine_settings):
    src, dst = pair(res)
    status, doc = relay_api("POST", "/_relay/replication", {"write": "api"})
    assert status == 200 and doc["write"] == "api"
    put = client("s3", HOME).put_object(Bucket=src, Key="k", Body=b"via the API", Metadata={"m": "1"})
    replica = wait_replica(dst, "k", put["VersionId"])
    assert replica["Metadata"] == {"m": "1"} and replica["ReplicationStatus"] == "REPLICA"


def test_control_api_refuses_bad_settings_naming_every_problem(emulator):
    status, doc = relay_api("POST", "/_relay/replication", {"backlog": 0, "write": "carrier-pigeon", "colour": "red"})
    assert status == 400
    for problem in ("backlog", "write", "colour"):
        assert problem in doc["error"], doc
    status, doc = relay_api("POST", "/_relay/replication", b"{not json")
    assert status == 400
    status, doc = relay_api("GET", "/_relay/replication")
    assert status == 200 and doc["workers"] >= 1 and "depth" in doc["backlog"]
