#!/usr/bin/env python3
"""Benchmark of relay's emulated delivery path (boto3 only; not a test, nothing is asserted
on timings).

For 1 KiB, 10 MiB and 100 MiB objects it measures, from the start of PutObject:

* replicated: PutObject into the home bucket (eu-west-1) -> replica readable in the target
  bucket (eu-south-2), and -> the target pipeline's execution exists (started by the
  EventBridge rule on the replica's ``Object Created`` event);
* direct: PutObject straight into the target bucket -> readable, and -> execution exists;

and reports p50/p95 and the replicated/direct ratio. Then a burst of N small objects
(default 1,000) into the home bucket: all must be replicated (version ids compared), none
lost; throughput is reported, and the same burst written directly for comparison.

    python localstack/bench.py                # starts the emulator if needed (and stops it after)
    python localstack/bench.py --quick        # fewer iterations, 200-object burst
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import sys
import time
import uuid
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
# the launcher (next to this file) and the repository's stdlib-only tools
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import emulator as launcher  # noqa: E402

from tools.wait import wait_for  # noqa: E402

ENDPOINT = launcher.endpoint()
ACCOUNT = "000000000000"
HOME, TARGET = "eu-west-1", "eu-south-2"
KiB, MiB = 1024, 1024 * 1024
CFG = Config(retries={"max_attempts": 3}, s3={"addressing_style": "path"}, max_pool_connections=32, read_timeout=300)


def client(service, region):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - the emulator's fixed test credentials
        config=CFG,
    )


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100.0 * len(s) + 0.5) - 1))
    return s[k]


def poll(what, fn, timeout=120.0, interval=0.005):
    """perf_counter() once fn() is truthy; any exception counts as "not yet" and the last one
    becomes the cause of the timeout."""
    wait_for(what, fn, timeout=timeout, interval=interval, retry_on=(Exception,), clock=time.perf_counter)
    return time.perf_counter()


class Bench:
    def __init__(self):
        self.uid = uuid.uuid4().hex[:8]
        self.s3h, self.s3t = client("s3", HOME), client("s3", TARGET)
        self.cp, self.events, self.iam = (
            client("codepipeline", TARGET),
            client("events", TARGET),
            client("iam", HOME),
        )
        self.cleanups = []

    def setup(self):
        u = self.uid
        self.home, self.target, self.art = f"bench-home-{u}", f"bench-target-{u}", f"bench-art-{u}"
        self.s3h.create_bucket(Bucket=self.home, CreateBucketConfiguration={"LocationConstraint": HOME})
        for b in (self.target, self.art):
            self.s3t.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": TARGET})
        self.s3h.put_bucket_versioning(Bucket=self.home, VersioningConfiguration={"Status": "Enabled"})
        self.s3t.put_bucket_versioning(Bucket=self.target, VersioningConfiguration={"Status": "Enabled"})
        role = self.iam.create_role(RoleName=f"bench-{u}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.cleanups.append(lambda: self.iam.delete_role(RoleName=f"bench-{u}"))
        self.s3h.put_bucket_replication(
            Bucket=self.home,
            ReplicationConfiguration={
                "Role": role,
                "Rules": [
                    {
                        "ID": "all",
                        "Status": "Enabled",
                        "Priority": 1,
                        "Filter": {},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{self.target}"},
                    }
                ],
            },
        )
        self.s3t.put_bucket_notification_configuration(
            Bucket=self.target, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        self.pipeline = f"bench-{u}"
        self.cp.create_pipeline(
            pipeline={
                "name": self.pipeline,
                "roleArn": role,
                "pipelineType": "V2",
                "executionMode": "PARALLEL",
                "artifactStore": {"type": "S3", "location": self.art},
                "stages": [
                    {
                        "name": "Source",
                        "actions": [
                            {
                                "name": "Source",
                                "actionTypeId": {
                                    "category": "Source",
                                    "owner": "AWS",
                                    "provider": "S3",
                                    "version": "1",
                                },
                                "configuration": {
                                    "S3Bucket": self.target,
                                    "S3ObjectKey": "release.zip",
                                    "PollForSourceChanges": "false",
                                },
                                "outputArtifacts": [{"name": "SourceArtifact"}],
                            }
                        ],
                    },
                    {
                        "name": "Approve",
                        "actions": [
                            {
                                "name": "Approve",
                                "actionTypeId": {
                                    "category": "Approval",
                                    "owner": "AWS",
                                    "provider": "Manual",
                                    "version": "1",
                                },
                            }
                        ],
                    },
                ],
            }
        )
        self.cleanups.append(lambda: self.cp.delete_pipeline(name=self.pipeline))
        rule = f"bench-{u}"
        self.events.put_rule(
            Name=rule,
            EventPattern=json.dumps(
                {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [self.target]}, "object": {"key": ["release.zip"]}},
                }
            ),
        )
        self.events.put_targets(
            Rule=rule,
            Targets=[
                {
                    "Id": "p",
                    "Arn": f"arn:aws:codepipeline:{TARGET}:{ACCOUNT}:{self.pipeline}",
                    "RoleArn": role,
                }
            ],
        )
        self.cleanups.append(lambda: self.events.delete_rule(Name=rule))
        self.cleanups.append(lambda: self.events.remove_targets(Rule=rule, Ids=["p"]))
        for b, c in ((self.home, self.s3h), (self.target, self.s3t), (self.art, self.s3t)):
            self.cleanups.append(lambda b=b, c=c: empty_and_delete(c, b))

    def executions(self) -> int:
        return len(
            self.cp.list_pipeline_executions(pipelineName=self.pipeline, maxResults=1000)["pipelineExecutionSummaries"]
        )

    def one(self, size: int, replicated: bool):
        body = payload(size)
        before = self.executions()
        s3 = self.s3h if replicated else self.s3t
        bucket = self.home if replicated else self.target
        t0 = time.perf_counter()
        vid = s3.put_object(Bucket=bucket, Key="release.zip", Body=body)["VersionId"]
        t_put = time.perf_counter()
        t_read = poll(
            f"version {vid} readable in the target bucket",
            lambda: self.s3t.head_object(Bucket=self.target, Key="release.zip", VersionId=vid),
        )
        t_exec = poll("a new pipeline execution", lambda: self.executions() > before, interval=0.01)
        return t_put - t0, t_read - t0, t_exec - t0

    def latency(self, sizes):
        rows = []
        for size, n in sizes:
            results = {}
            for replicated in (True, False):
                samples = [self.one(size, replicated) for _ in range(n)]
                results[replicated] = samples
            rows.append((size, n, results))
            wait_pipeline_idle(self)
        return rows

    def burst(self, n: int, replicated: bool, workers: int = 16):
        prefix = f"burst-{'r' if replicated else 'd'}-{uuid.uuid4().hex[:6]}/"
        s3 = self.s3h if replicated else self.s3t
        bucket = self.home if replicated else self.target
        body = payload(KiB)
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            versions = dict(
                pool.map(
                    lambda i: (
                        f"{prefix}{i:05d}",
                        s3.put_object(Bucket=bucket, Key=f"{prefix}{i:05d}", Body=body)["VersionId"],
                    ),
                    range(n),
                )
            )
        t_put = time.perf_counter()

        def all_there():
            return count_versions(self.s3t, self.target, prefix) >= n

        t_done = poll(f"{n} objects readable in the target bucket", all_there, timeout=300, interval=0.1)
        got = {v["Key"]: v["VersionId"] for v in list_versions(self.s3t, self.target, prefix)}
        lost = [k for k, v in versions.items() if got.get(k) != v]
        failed = 0
        if replicated:
            failed = sum(
                1
                for k in list(versions)[:: max(1, n // 50)]
                if self.s3h.head_object(Bucket=self.home, Key=k).get("ReplicationStatus") != "COMPLETED"
            )
        return {
            "n": n,
            "put_s": t_put - t0,
            "done_s": t_done - t0,
            "lost": len(lost),
            "failed_sampled": failed,
        }

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                print(f"cleanup: {e}", file=sys.stderr)


def wait_pipeline_idle(b: Bench, timeout=120):
    def idle():
        s = b.cp.list_pipeline_executions(pipelineName=b.pipeline, maxResults=1000)["pipelineExecutionSummaries"]
        return all(x["status"] != "InProgress" for x in s)

    poll("the pipeline to be idle", idle, timeout, 0.2)


def payload(size: int) -> bytes:
    if size < 4 * KiB:
        return os.urandom(size)
    buf = io.BytesIO()  # a real zip, like a release; stored, so the size is exact-ish
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("template.yaml", "Resources: {}\n")
        zf.writestr("blob.bin", os.urandom(max(0, size - 300)))
    return buf.getvalue()


def list_versions(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Versions", []))
    return out


def count_versions(s3, bucket, prefix):
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        n += page.get("KeyCount", 0)
    return n


def empty_and_delete(s3, bucket):
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for i in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[i : i + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def human(size):
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations and a 200-object burst")
    ap.add_argument("--burst", type=int, default=None, help="objects in the burst (default 1000)")
    args = ap.parse_args()
    sizes = [(KiB, 10), (10 * MiB, 5), (100 * MiB, 2)] if args.quick else [(KiB, 30), (10 * MiB, 10), (100 * MiB, 3)]
    burst_n = args.burst or (200 if args.quick else 1000)

    with launcher.running(echo=True):  # starts the emulator if needed, stops it after only then
        b = Bench()
        try:
            b.setup()
            t_start = time.perf_counter()
            rows = b.latency(sizes)
            burst_r = b.burst(burst_n, True)
            burst_d = b.burst(burst_n, False)
            total = time.perf_counter() - t_start
        finally:
            b.cleanup()

    def ms(seconds):
        return f"{seconds * 1000:8.1f}"

    print()
    print("Latency from the start of PutObject (ms; p50 / p95 over n runs)")
    print(
        f"{'size':>8} {'n':>3} | {'replicated: readable':>22} | {'direct: readable':>18} | {'ratio p50':>9} |"
        f" {'replicated: execution':>22} | {'direct: execution':>18} | {'ratio p50':>9}"
    )
    for size, n, res in rows:
        r, d = res[True], res[False]
        rr, dr = [x[1] for x in r], [x[1] for x in d]
        re_, de = [x[2] for x in r], [x[2] for x in d]
        print(
            f"{human(size):>8} {n:>3} | {ms(pct(rr, 50))} / {ms(pct(rr, 95))} | {ms(pct(dr, 50))} / {ms(pct(dr, 95))}"
            f" | {pct(rr, 50) / pct(dr, 50):8.2f}x | {ms(pct(re_, 50))} / {ms(pct(re_, 95))} | "
            f"{ms(pct(de, 50))} / {ms(pct(de, 95))} | {pct(re_, 50) / pct(de, 50):8.2f}x"
        )
    print()
    print(f"Burst of {burst_n} x 1 KiB objects (16 client threads)")
    for label, res in (("replicated", burst_r), ("direct", burst_d)):
        print(
            f"  {label:>10}: all {res['n']} readable in target after {res['done_s']:.2f}s "
            f"({res['n'] / res['done_s']:.0f} objects/s; PUTs took {res['put_s']:.2f}s); "
            f"lost {res['lost']}, FAILED in sample {res['failed_sampled']}"
        )
    print(f"  burst ratio (replicated/direct time to all readable): {burst_r['done_s'] / burst_d['done_s']:.2f}x")
    print(f"\nbenchmark time {total:.0f}s")
    if burst_r["lost"] or burst_r["failed_sampled"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
