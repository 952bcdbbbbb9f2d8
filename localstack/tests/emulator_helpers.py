"""Helpers shared by the emulator plugin tests (boto3 clients, polling, cleanup).

A uniquely named module (not conftest) so that `from emulator_helpers import ...` cannot
collide with other test folders of the repository.
"""

from __future__ import annotations

import json
import os
import time

import boto3
from botocore.config import Config

PORT = int(os.environ.get("RELAY_EMULATOR_PORT", "4566"))
ENDPOINT = f"http://127.0.0.1:{PORT}"
ACCOUNT = "000000000000"
HOME = "eu-west-1"
TARGET_A = "eu-south-2"
TARGET_B = "ap-southeast-4"

_CONFIG = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}, read_timeout=120)


def client(service: str, region: str = HOME, aws_access_key_id: str = "test", **config):
    """boto3 client for the emulator; a 12-digit access key id selects that account."""
    cfg = _CONFIG.merge(Config(**config)) if config else _CONFIG
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=ENDPOINT,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key="test",  # noqa: S106 - the emulator's fixed test credentials
        config=cfg,
    )


def wait_for(fn, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll fn until it returns a truthy value (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as e:
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")


def replicate_everything(source: str, destination: str, role: str, region: str = HOME) -> None:
    """One rule replicating every new object of `source` (in `region`) to `destination`."""
    rule = {
        "ID": "all",
        "Status": "Enabled",
        "Priority": 1,
        "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
    }
    client("s3", region).put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": role, "Rules": [rule]})


def empty_and_delete(s3, bucket: str) -> None:
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            items = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if items:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": items, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass


class Resources:
    """Creates uniquely named resources and removes them at teardown, even after failures."""

    def __init__(self, uid: str):
        self.uid = uid
        self.n = 0
        self._cleanups: list = []

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.uid}-{self.n}"

    def defer(self, fn, *args, **kwargs):
        self._cleanups.append((fn, args, kwargs))

    def bucket(self, region: str, versioned: bool = True, prefix: str = "b") -> str:
        s3 = client("s3", region)
        name = self.name(prefix)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        self.defer(empty_and_delete, s3, name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def role(self, service: str = "s3") -> str:
        iam = client("iam", HOME)
        name = self.name("role")
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
        self.defer(iam.delete_role, RoleName=name)
        return arn

    def cleanup(self):
        for fn, args, kwargs in reversed(self._cleanups):
            try:
                fn(*args, **kwargs)
            except Exception:  # noqa: S110 - best effort; one failure must not stop the rest
                pass
