#!/usr/bin/env python3
"""Where the time of a replicated S3 PutObject goes inside the emulator (boto3 + launcher + HTTP;
not a test, nothing is asserted on timings).

The emulator must run with ``RELAY_EMULATOR_TIMING=1`` (its stage timers, ``GET /_relay/timings``,
see the plugin's ``timing.py``); this script sets it before it starts one, and refuses an
emulator already running without it. Workload: two versioned buckets in two regions, one
whole-bucket replication rule, EventBridge notifications on the destination with a rule that
sends the replica's ``Object Created`` event to a CloudWatch Logs log group. Phases:

* ``--n`` sequential replicated PutObjects of 1 KiB, then of 10 MiB (each waits until the
  replica's version is readable), then a burst of ``--burst`` 1 KiB objects from 16 threads;
* before each phase the timers are reset (``DELETE /_relay/timings``), after it they are printed:
  stage | count | per call p50 / mean / p95 | per PUT (total / PUTs) | share of the client's
  mean replica-visible time.

    RELAY_EMULATOR_PORT=4670 python localstack/profile_s3.py            # starts an emulator if needed
    python localstack/profile_s3.py --n 50 --burst 200 --json out.json  # raw documents too
    python localstack/profile_s3.py --summary                           # client-side figures only

``--summary`` needs no timers (works against any emulator): it prints the client-side figures
(PUT p50 / mean, replica visible p50 / p95, burst throughput, and the emulator's CPU time per PUT
from ``/proc``, all threads: on a busy machine the steadiest figure) used to compare settings.
``RELAY_EMULATOR_CPROFILE=<file>`` in the emulator's environment adds a cProfile of the whole
process; this script asks the emulator to write it at the end (``POST /_relay/timings/cprofile``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import emulator as launcher  # noqa: E402
from bench import client, put_replication  # noqa: E402 - the benchmark's client and replication rule

HOME, TARGET = "eu-west-1", "eu-south-2"
KiB, MiB = 1024, 1024 * 1024


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100.0 * len(s) + 0.5) - 1))
    return s[k]


def timings(endpoint, method="GET"):
    """The emulator's timings document; None when the timers are off (404)."""
    request = urllib.request.Request(endpoint + "/_relay/timings", method=method)  # noqa: S310 - local emulator
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local emulator
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def cpu_seconds(pid):
    """CPU time (user + system, every thread) the emulator process used so far; None if unknown.
    Less sensitive than wall time to other processes on a busy machine: compare settings with it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def dump_cprofile(endpoint):
    request = urllib.request.Request(endpoint + "/_relay/timings/cprofile", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local emulator
            return json.loads(response.read())
    except (urllib.error.HTTPError, ValueError):  # no profiler in that emulator
        return None


class Workload:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.uid = uuid.uuid4().hex[:8]
        self.s3h, self.s3t = client("s3", HOME, endpoint), client("s3", TARGET, endpoint)
        self.events, self.logs, self.iam = (
            client("events", TARGET, endpoint),
            client("logs", TARGET, endpoint),
            client("iam", HOME, endpoint),
        )

    def setup(self):
        u = self.uid
        self.home, self.target = f"prof-home-{u}", f"prof-target-{u}"
        self.s3h.create_bucket(Bucket=self.home, CreateBucketConfiguration={"LocationConstraint": HOME})
        self.s3t.create_bucket(Bucket=self.target, CreateBucketConfiguration={"LocationConstraint": TARGET})
        for s3, bucket in ((self.s3h, self.home), (self.s3t, self.target)):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        self.role = f"prof-{u}"
        role = self.iam.create_role(RoleName=self.role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        put_replication(self.s3h, self.home, self.target, role)
        self.s3t.put_bucket_notification_configuration(
            Bucket=self.target, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        # the replica's Object Created event goes to a CloudWatch Logs log group (a cheap target that
        # publishes nothing else; an SQS target adds LocalStack's AWS/SQS metrics, 2 PutMetricData per message)
        self.log_group = f"/relay/profile/{u}"
        self.logs.create_log_group(logGroupName=self.log_group)
        group_arn = f"arn:aws:logs:{TARGET}:000000000000:log-group:{self.log_group}"
        self.rule = f"prof-{u}"
        self.events.put_rule(
            Name=self.rule,
            EventPattern=json.dumps(
                {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [self.target]}}}
            ),
        )
        self.events.put_targets(Rule=self.rule, Targets=[{"Id": "log", "Arn": group_arn}])

    def cleanup(self):
        steps = [
            lambda: self.events.remove_targets(Rule=self.rule, Ids=["log"]),
            lambda: self.events.delete_rule(Name=self.rule),
            lambda: self.logs.delete_log_group(logGroupName=self.log_group),
            lambda: self.iam.delete_role(RoleName=self.role),
            lambda: empty_and_delete(self.s3h, self.home),
            lambda: empty_and_delete(self.s3t, self.target),
        ]
        for step in steps:
            try:
                step()
            except Exception as e:  # best effort, but say so
                print(f"cleanup step failed: {e}", file=sys.stderr)

    def replica_visible(self, key, version, timeout=120.0):
        deadline = time.perf_counter() + timeout
        while True:
            try:
                self.s3t.head_object(Bucket=self.target, Key=key, VersionId=version)
                return time.perf_counter()
            except Exception:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"replica of {key} ({version}) not readable after {timeout} s") from None
                time.sleep(0.002)

    def sequential(self, size, n):
        body = os.urandom(size)
        puts, visible = [], []
        for i in range(n):
            key = f"seq/{size}/{i}"
            began = time.perf_counter()
            version = self.s3h.put_object(Bucket=self.home, Key=key, Body=body)["VersionId"]
            acked = time.perf_counter()
            done = self.replica_visible(key, version)
            puts.append(acked - began)
            visible.append(done - began)
        return {"n": n, "size": size, "put": puts, "visible": visible}

    def burst(self, n, threads=16):
        body = os.urandom(KiB)
        began = time.perf_counter()

        def put(i):
            key = f"burst/{self.uid}/{i}"
            return key, self.s3h.put_object(Bucket=self.home, Key=key, Body=body)["VersionId"]

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            written = list(pool.map(put, range(n)))
        put_s = time.perf_counter() - began
        for key, version in written:
            self.replica_visible(key, version)
        return {"n": n, "put_s": put_s, "done_s": time.perf_counter() - began}


def empty_and_delete(s3, bucket):
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        items += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("DeleteMarkers", [])]
        for i in range(0, len(items), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items[i : i + 1000], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def stage_table(doc, puts, client_mean_s, top=None):
    """Rows: stage, count, p50, mean, p95 (ms per call), ms per PUT, share of the client's mean;
    the ``top`` stages by total time (all when None)."""
    lines = [
        f"{'stage':<92} {'count':>6} {'p50':>8} {'mean':>8} {'p95':>8} {'per PUT':>8} {'share':>6}",
    ]
    for name, s in sorted(doc["stages"].items(), key=lambda kv: -kv[1]["total_ms"])[:top]:
        per_put = s["total_ms"] / puts if puts else 0.0
        share = per_put / (client_mean_s * 1000) * 100 if client_mean_s else 0.0
        lines.append(
            f"{name[:92]:<92} {s['count']:>6} {s['p50_ms']:>8.3f} {s['mean_ms']:>8.3f} {s['p95_ms']:>8.3f} "
            f"{per_put:>8.3f} {share:>5.1f}%"
        )
    return "\n".join(lines)


def summary_line(label, res):
    put, vis = res["put"], res["visible"]
    return (
        f"{label}: n={res['n']} PUT p50 {pct(put, 50) * 1000:.2f} ms mean {statistics.mean(put) * 1000:.2f} ms | "
        f"replica visible p50 {pct(vis, 50) * 1000:.2f} ms p95 {pct(vis, 95) * 1000:.2f} ms "
        f"mean {statistics.mean(vis) * 1000:.2f} ms"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30, help="sequential PUTs per size (default 30)")
    ap.add_argument("--big", type=int, default=5, help="sequential 10 MiB PUTs (default 5; 0: skip)")
    ap.add_argument("--burst", type=int, default=200, help="objects in the burst (default 200; 0: skip)")
    ap.add_argument("--warmup", type=int, default=10, help="PUTs before measuring (default 10)")
    ap.add_argument("--top", type=int, default=40, help="stages printed per phase, by total time (0: all)")
    ap.add_argument("--summary", action="store_true", help="client-side figures only (no timers needed)")
    ap.add_argument("--json", help="write the raw results and timings documents to this file")
    args = ap.parse_args()
    if not args.summary:
        os.environ.setdefault("RELAY_EMULATOR_TIMING", "1")  # for an emulator this run starts

    out = {"phases": []}
    with launcher.running(echo=True) as endpoint:
        if not args.summary and timings(endpoint) is None:
            sys.exit(
                f"the emulator at {endpoint} runs without its stage timers: restart it with RELAY_EMULATOR_TIMING=1 "
                "(or pass --summary)"
            )
        w = Workload(endpoint)
        pid = launcher.Emulator(echo=False).pid()
        try:
            w.setup()
            w.sequential(KiB, args.warmup)
            phases = [("1 KiB sequential", lambda: w.sequential(KiB, args.n))]
            if args.big:
                phases.append(("10 MiB sequential", lambda: w.sequential(10 * MiB, args.big)))
            if args.burst:
                phases.append((f"burst {args.burst} x 1 KiB (16 threads)", lambda: w.burst(args.burst)))
            for label, run in phases:
                if not args.summary:
                    timings(endpoint, "DELETE")
                cpu_before = cpu_seconds(pid)
                res = run()
                cpu_after = cpu_seconds(pid)
                if cpu_before is not None and cpu_after is not None:
                    res["cpu_s"] = cpu_after - cpu_before
                doc = None if args.summary else timings(endpoint)
                out["phases"].append({"phase": label, "result": res, "timings": doc})
                print()
                if "visible" in res:
                    print(summary_line(label, res))
                    client_mean = statistics.mean(res["visible"])
                else:
                    print(
                        f"{label}: all {res['n']} replicas readable after {res['done_s']:.2f} s "
                        f"({res['n'] / res['done_s']:.0f} objects/s; the PUTs took {res['put_s']:.2f} s, "
                        f"{res['n'] / res['put_s']:.0f} PUT/s)"
                    )
                    client_mean = res["done_s"] / res["n"]
                if "cpu_s" in res:
                    print(f"  emulator CPU (all threads): {res['cpu_s'] * 1000 / res['n']:.2f} ms per PUT")
                if doc is not None:
                    print(stage_table(doc, res["n"], client_mean, args.top or None))
                    if doc.get("missing"):
                        print(f"(not timed, not found: {', '.join(doc['missing'])})")
        finally:
            w.cleanup()
        if not args.summary:
            written = dump_cprofile(endpoint)
            if written:
                print(f"\ncProfile written to {written['written']} (top functions: {written['text']})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
