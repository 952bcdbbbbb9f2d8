#!/usr/bin/env python3
"""Side-by-side benchmark: relay's emulator and MiniStack on the same S3 replication workload (boto3
only; not a test, nothing is asserted on timings).

The same workload runs against both emulators, running at once, interleaved (latency samples
alternate between them; the sequential PUTs and the bursts run on one, then the other), so that
the machine's noise hits both alike: a versioned source bucket in eu-west-1 replicating (one
whole-bucket rule, role created through IAM) to a versioned destination bucket in eu-south-2.

* Latency at 1 KiB, 1 MiB, 10 MiB and 100 MiB, from the start of PutObject: "replicated" until
  the replica of this put is readable in the destination (HeadObject of the key answers this
  put's ETag; the replica's VersionId is compared with the source's), "direct" (PutObject
  straight into the destination) until the object is readable the same way. Replicated and
  direct samples alternate, so noise hits both alike. p50 / p95 (nearest rank), the
  replicated/direct p95 ratio, and relay/MiniStack ratios of the replicated p95.
* 500 sequential 1 KiB PUTs into the source: seconds for the PUTs and until every replica is
  readable.
* Burst: 1,000 x 1 KiB with 16 client threads into the source, throughput = n / time until every
  replica is readable (version ids compared: none may be lost); the same burst straight into the
  destination; ratio replicated/direct throughput.
* Memory: RSS of the emulator's whole process tree (from /proc, sampled every 50 ms): baseline,
  peak during the 100 MiB runs, peak during the burst.
* relay only (MiniStack has no CodePipeline): "execution started", an EventBridge rule on the
  replica's ``Object Created`` event starting a CodePipeline execution.

relay's emulator is started by the launcher (RELAY_EMULATOR_PORT / RELAY_STATE_DIR) unless it runs
already, with persistence as ``--persist`` says (default off), and stopped after only if this run
started it. MiniStack (``pip install ministack``; ``tox -e bench`` installs it) is started as a
subprocess of this interpreter on a free port with its files in a temporary folder, and stopped and
removed after, also on Ctrl-C and errors. Exit status 1 when relay lost a replica or a replica got
another version id than its source (a correctness failure, not a timing).

    python localstack/bench.py                        # both emulators (MiniStack when installed)
    python localstack/bench.py --quick                # fewer iterations, 200-object burst
    python localstack/bench.py --only relay --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib.metadata
import importlib.util
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
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

from tools.wait import WaitTimeout, wait_for  # noqa: E402

ENDPOINT = launcher.endpoint()
ACCOUNT = "000000000000"
HOME, TARGET = "eu-west-1", "eu-south-2"
KiB, MiB = 1024, 1024 * 1024
CFG = Config(retries={"max_attempts": 3}, s3={"addressing_style": "path"}, max_pool_connections=32, read_timeout=300)
MINISTACK_VERSION = "1.5.33"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def client(service, region, endpoint=None):
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint or ENDPOINT,
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - the emulators' fixed test credentials
        config=CFG,
    )


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100.0 * len(s) + 0.5) - 1))
    return s[k]


READABLE_POLL = 0.001  # seconds between two HeadObject calls while waiting for an object to be readable


def poll(what, fn, timeout=120.0, interval=0.005):
    """(perf_counter(), value) once fn() returns something truthy; exceptions count as "not yet"."""
    value = wait_for(what, fn, timeout=timeout, interval=interval, retry_on=(Exception,), clock=time.perf_counter)
    return time.perf_counter(), value


def human(size):
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def unique(base: bytes) -> bytes:
    """`base` with fresh random leading bytes: every put has its own ETag."""
    return os.urandom(16) + base[16:] if len(base) > 16 else os.urandom(len(base))


# --------------------------------------------------------------------------- memory


def _children() -> dict:
    """ppid -> [pid] for every process (from /proc)."""
    out: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out.setdefault(int(fields[1]), []).append(int(entry))
    return out


def process_tree(pid: int) -> list:
    children, tree, frontier = _children(), [pid], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            tree.append(child)
            frontier.append(child)
    return tree


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss(pids) -> int:
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


class RssSampler(threading.Thread):
    """Samples the RSS of a process tree every `interval` s; peak per phase (see `phase`)."""

    def __init__(self, pid: int | None, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peaks: dict = {}
        self.current: str | None = None
        self.last = 0
        self._halt = threading.Event()

    def run(self):
        if not self.pid or not os.path.isdir("/proc"):
            return
        pids, refreshed = process_tree(self.pid), time.monotonic()
        while not self._halt.is_set():
            if time.monotonic() - refreshed > 1.0:  # children come and go; walking /proc costs, so once a second
                pids, refreshed = process_tree(self.pid), time.monotonic()
            self.last = rss(pids)
            phase = self.current
            if phase:
                self.peaks[phase] = max(self.peaks.get(phase, 0), self.last)
            self.peaks["overall"] = max(self.peaks.get("overall", 0), self.last)
            self._halt.wait(self.interval)

    @contextlib.contextmanager
    def phase(self, name: str):
        self.current = name
        try:
            yield
        finally:
            self.current = None

    def baseline(self, seconds: float = 1.0) -> int | None:
        if not self.pid:
            return None
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(rss(process_tree(self.pid)))
            time.sleep(0.1)
        return max(samples)

    def stop(self):
        self._halt.set()


# --------------------------------------------------------------------------- the emulators


@contextlib.contextmanager
def relay_emulator(persist: str):
    """relay's emulator through the launcher; yields (endpoint, pid, notes)."""
    os.environ["RELAY_EMULATOR_PERSIST"] = "1" if persist == "on" else "0"
    with launcher.running(echo=True) as url:
        pid = launcher.Emulator().pid()
        notes = {"endpoint": url, "pid": pid}
        try:
            with urllib.request.urlopen(url + "/_relay/persistence", timeout=5) as response:  # noqa: S310
                notes["persistence"] = "on" if json.loads(response.read()).get("enabled") else "off"
        except (OSError, ValueError) as e:
            notes["persistence"] = f"unknown ({e})"
        if notes["persistence"] != persist:
            print(
                f"[bench] NOTE: relay's emulator runs with persistence {notes['persistence']} (--persist {persist} "
                "applies only to an emulator this run starts; stop it first to change)",
                flush=True,
            )
        if pid is None:
            print("[bench] NOTE: relay's emulator was not started from this state dir: no memory figures", flush=True)
        yield url, pid, notes


def ministack_available() -> bool:
    return importlib.util.find_spec("ministack") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ministack_emulator():
    """MiniStack as a subprocess of this interpreter, on a free port, its files in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="bench-ministack-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_", "PERSIST", "S3_", "SERVICES"))
    }
    env.update(
        {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            "TMPDIR": str(folder),  # its pid file and temporary files
            "S3_DATA_DIR": str(folder / "s3"),
            "STATE_DIR": str(folder / "state"),
            "PERSIST_STATE": "0",
            "S3_PERSIST": "0",
        }
    )
    log = folder / "ministack.log"
    proc = None
    try:
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ministack"],
                cwd=str(folder),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        began = time.monotonic()

        def healthy():
            if proc.poll() is not None:
                raise RuntimeError(f"MiniStack exited (exit {proc.returncode}):\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/_ministack/health", timeout=2) as response:  # noqa: S310
                    return response.status == 200
            except OSError:
                return False

        wait_for("MiniStack to answer", healthy, timeout=60, interval=0.2)
        version = importlib.metadata.version("ministack")
        print(f"[bench] MiniStack {version} ready at {url} in {time.monotonic() - began:.1f} s (pid {proc.pid})")
        yield url, proc.pid, {"endpoint": url, "pid": proc.pid, "version": version, "persistence": "off"}
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            print("[bench] MiniStack stopped", flush=True)
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- the workload


class Workload:
    """The side-by-side workload against one emulator."""

    def __init__(self, name: str, endpoint: str, keeps_versions_required: bool):
        self.name, self.endpoint = name, endpoint
        self.required = keeps_versions_required  # relay: a replica with another version id is a failure
        self.uid = uuid.uuid4().hex[:8]
        self.s3h, self.s3t = client("s3", HOME, endpoint), client("s3", TARGET, endpoint)
        self.iam = client("iam", HOME, endpoint)
        self.cleanups: list = []
        self.failures: list = []

    def setup(self):
        u = self.uid
        self.src, self.dst = f"bench-src-{u}", f"bench-dst-{u}"
        self.s3h.create_bucket(Bucket=self.src, CreateBucketConfiguration={"LocationConstraint": HOME})
        self.cleanups.append(lambda: empty_and_delete(self.s3h, self.src))
        self.s3t.create_bucket(Bucket=self.dst, CreateBucketConfiguration={"LocationConstraint": TARGET})
        self.cleanups.append(lambda: empty_and_delete(self.s3t, self.dst))
        self.s3h.put_bucket_versioning(Bucket=self.src, VersioningConfiguration={"Status": "Enabled"})
        self.s3t.put_bucket_versioning(Bucket=self.dst, VersioningConfiguration={"Status": "Enabled"})
        self.role = self.iam.create_role(RoleName=f"bench-{u}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        self.cleanups.append(lambda: self.iam.delete_role(RoleName=f"bench-{u}"))
        put_replication(self.s3h, self.src, self.dst, self.role)

    def fail(self, message: str):
        self.failures.append(message)
        print(f"[bench] {self.name}: {message}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- latency

    def _readable(self, key: str, etag: str, what: str):
        def probe():
            head = self.s3t.head_object(Bucket=self.dst, Key=key)
            return head if head["ETag"] == etag else None

        # HeadObject back to back (1 ms apart): a coarser poll would add up to its interval to an asynchronous
        # replica (relay's) and nothing to one written inside the PUT (MiniStack's)
        return poll(what, probe, interval=READABLE_POLL)

    def replicated(self, key: str, body: bytes):
        t0 = time.perf_counter()
        put = self.s3h.put_object(Bucket=self.src, Key=key, Body=body)
        t_put = time.perf_counter()
        t_read, head = self._readable(key, put["ETag"], f"the replica of {key} ({put.get('VersionId')})")
        return {"put": t_put - t0, "readable": t_read - t0, "kept": head.get("VersionId") == put.get("VersionId")}

    def direct(self, key: str, body: bytes):
        t0 = time.perf_counter()
        put = self.s3t.put_object(Bucket=self.dst, Key=key, Body=body)
        t_put = time.perf_counter()
        t_read, _ = self._readable(key, put["ETag"], f"{key} in the destination")
        return {"put": t_put - t0, "readable": t_read - t0}

    @staticmethod
    def keys(size: int):
        tag = human(size).replace(" ", "")
        return f"lat/{tag}", f"direct/{tag}"

    def pair(self, size: int, base: bytes, samples: dict) -> None:
        """One replicated and one direct sample at `size` (see `summary`)."""
        rkey, dkey = self.keys(size)
        samples.setdefault("replicated", []).append(self.replicated(rkey, unique(base)))
        samples.setdefault("direct", []).append(self.direct(dkey, unique(base)))

    def summary(self, size: int, samples: dict) -> dict:
        """Percentiles of `pair`'s samples; checks version ids and statuses, then empties the keys."""
        rep, dire = samples["replicated"], samples["direct"]
        n, kept = len(rep), sum(1 for r in rep if r["kept"])
        if self.required and kept != n:
            self.fail(f"{n - kept} of {n} replicas at {human(size)} have another version id than their source")
        rkey, dkey = self.keys(size)
        self.settle(rkey)
        for key, s3, bucket in ((rkey, self.s3h, self.src), (rkey, self.s3t, self.dst), (dkey, self.s3t, self.dst)):
            delete_versions(s3, bucket, key)  # bounded storage: the next size starts from empty buckets
        out = {"size": size, "n": n, "versions_kept": kept}
        for label, values in (("replicated", rep), ("direct", dire)):
            for field in ("put", "readable"):
                out[f"{label}_{field}_p50_ms"] = pct([v[field] for v in values], 50) * 1000
                out[f"{label}_{field}_p95_ms"] = pct([v[field] for v in values], 95) * 1000
        out["ratio_p95"] = out["replicated_readable_p95_ms"] / out["direct_readable_p95_ms"]
        return out

    def settle(self, key: str, timeout: float = 60):
        """Wait until the source's latest version of `key` left PENDING (relay replicates asynchronously)."""

        def done():
            status = self.s3h.head_object(Bucket=self.src, Key=key).get("ReplicationStatus")
            return status if status != "PENDING" else None

        try:
            _, status = poll(f"replication status of {key}", done, timeout=timeout, interval=0.02)
        except WaitTimeout:
            status = "PENDING"
        if status != "COMPLETED":
            self.fail(f"replication status of {key} is {status}, not COMPLETED")

    # ---------------------------------------------------------------- many objects

    def check_all(self, prefix: str, versions: dict, t0: float, timeout: float) -> dict:
        """Time until every key of `versions` is in the destination; then compare version ids."""
        n = len(versions)
        try:
            t_done, _ = poll(
                f"{n} replicas under {prefix}",
                lambda: count_keys(self.s3t, self.dst, prefix) >= n,
                timeout=timeout,
                interval=0.05,
            )
            done = t_done - t0
        except WaitTimeout:
            done = None
        got: dict = {}
        for v in list_versions(self.s3t, self.dst, prefix):
            got.setdefault(v["Key"], set()).add(v["VersionId"])
        lost = sum(1 for k in versions if k not in got)
        other = sum(1 for k, vid in versions.items() if k in got and vid not in got[k])
        return {"done_s": done, "lost": lost, "other_version_id": other}

    def sequential(self, n: int) -> dict:
        prefix = f"seq-{uuid.uuid4().hex[:6]}/"
        base = os.urandom(KiB)
        versions = {}
        t0 = time.perf_counter()
        for i in range(n):
            key = f"{prefix}{i:05d}"
            versions[key] = self.s3h.put_object(Bucket=self.src, Key=key, Body=unique(base)).get("VersionId")
        put_s = time.perf_counter() - t0
        res = {"n": n, "put_s": put_s, **self.check_all(prefix, versions, t0, timeout=120)}
        self.judge("sequential", res)
        return res

    def burst(self, n: int, replicated: bool, workers: int = 16) -> dict:
        prefix = f"burst-{'r' if replicated else 'd'}-{uuid.uuid4().hex[:6]}/"
        s3, bucket = (self.s3h, self.src) if replicated else (self.s3t, self.dst)
        base = os.urandom(KiB)
        retries, lock = [0], threading.Lock()

        def put(i):
            key = f"{prefix}{i:05d}"
            r = s3.put_object(Bucket=bucket, Key=key, Body=unique(base))
            with lock:
                retries[0] += r["ResponseMetadata"].get("RetryAttempts", 0)
            return key, r.get("VersionId")

        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            versions = dict(pool.map(put, range(n)))
        put_s = time.perf_counter() - t0
        res = {"n": n, "put_s": put_s, "client_retries": retries[0], **self.check_all(prefix, versions, t0, 300)}
        res["objects_per_s"] = n / res["done_s"] if res["done_s"] else None
        if replicated:
            sample = list(versions)[:: max(1, n // 50)]
            statuses = [self.s3h.head_object(Bucket=self.src, Key=k).get("ReplicationStatus") for k in sample]
            res["status_sampled"] = len(sample)
            res["status_not_completed"] = sum(1 for s in statuses if s != "COMPLETED")
            self.judge("burst", res)
        return res

    def judge(self, what: str, res: dict):
        if res["lost"] or res["done_s"] is None:
            self.fail(f"{what}: {res['lost']} replicas lost (not readable in time)")
        if self.required and res["other_version_id"]:
            self.fail(f"{what}: {res['other_version_id']} replicas with another version id than their source")
        if self.required and res.get("status_not_completed"):
            self.fail(f"{what}: {res['status_not_completed']} sampled sources not COMPLETED")

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning
                print(f"[bench] {self.name} cleanup: {e}", file=sys.stderr)


class PipelineWorkload:
    """relay only: a replica's Object Created event -> EventBridge rule -> CodePipeline execution."""

    def __init__(self, w: Workload):
        self.w = w
        self.cp, self.events = client("codepipeline", TARGET, w.endpoint), client("events", TARGET, w.endpoint)
        self.cleanups = w.cleanups

    def setup(self):
        w, u = self.w, self.w.uid
        self.src, self.dst, self.art = f"bench-psrc-{u}", f"bench-pdst-{u}", f"bench-art-{u}"
        w.s3h.create_bucket(Bucket=self.src, CreateBucketConfiguration={"LocationConstraint": HOME})
        self.cleanups.append(lambda: empty_and_delete(w.s3h, self.src))
        for b in (self.dst, self.art):
            w.s3t.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": TARGET})
            self.cleanups.append(lambda b=b: empty_and_delete(w.s3t, b))
        w.s3h.put_bucket_versioning(Bucket=self.src, VersioningConfiguration={"Status": "Enabled"})
        w.s3t.put_bucket_versioning(Bucket=self.dst, VersioningConfiguration={"Status": "Enabled"})
        put_replication(w.s3h, self.src, self.dst, w.role)
        w.s3t.put_bucket_notification_configuration(
            Bucket=self.dst, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        self.pipeline = f"bench-{u}"
        self.cp.create_pipeline(pipeline=pipeline_document(self.pipeline, w.role, self.art, self.dst))
        self.cleanups.append(lambda: self.cp.delete_pipeline(name=self.pipeline))
        rule = f"bench-{u}"
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [self.dst]}, "object": {"key": ["release.zip"]}},
        }
        self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        self.cleanups.append(lambda: self.events.delete_rule(Name=rule))
        target = {"Id": "p", "Arn": f"arn:aws:codepipeline:{TARGET}:{ACCOUNT}:{self.pipeline}", "RoleArn": w.role}
        self.events.put_targets(Rule=rule, Targets=[target])
        self.cleanups.append(lambda: self.events.remove_targets(Rule=rule, Ids=["p"]))

    def executions(self) -> int:
        page = self.cp.list_pipeline_executions(pipelineName=self.pipeline, maxResults=1000)
        return len(page["pipelineExecutionSummaries"])

    def one(self, size: int, replicated: bool):
        body = release_zip(size)
        before = self.executions()
        s3, bucket = (self.w.s3h, self.src) if replicated else (self.w.s3t, self.dst)
        t0 = time.perf_counter()
        vid = s3.put_object(Bucket=bucket, Key="release.zip", Body=body)["VersionId"]
        t_read, _ = poll(
            f"version {vid} readable in the destination",
            lambda: self.w.s3t.head_object(Bucket=self.dst, Key="release.zip", VersionId=vid),
        )
        t_exec, _ = poll("a new pipeline execution", lambda: self.executions() > before, interval=0.01)
        return t_read - t0, t_exec - t0

    def run(self, sizes) -> list:
        rows = []
        for size, n in sizes:
            samples = {True: [], False: []}
            for _ in range(n):
                for replicated in (True, False):
                    samples[replicated].append(self.one(size, replicated))
            row = {"size": size, "n": n}
            for replicated, label in ((True, "replicated"), (False, "direct")):
                for i, field in enumerate(("readable", "execution")):
                    values = [s[i] for s in samples[replicated]]
                    row[f"{label}_{field}_p50_ms"] = pct(values, 50) * 1000
                    row[f"{label}_{field}_p95_ms"] = pct(values, 95) * 1000
            rows.append(row)
        return rows


def put_replication(s3, src, dst, role):
    rule = {
        "ID": "all",
        "Status": "Enabled",
        "Priority": 1,
        "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{dst}"},
    }
    s3.put_bucket_replication(Bucket=src, ReplicationConfiguration={"Role": role, "Rules": [rule]})


def pipeline_document(name, role, artifacts, bucket):
    def action(name, category, provider, **extra):
        return {
            "name": name,
            "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
            **extra,
        }

    source = action(
        "Source",
        "Source",
        "S3",
        configuration={"S3Bucket": bucket, "S3ObjectKey": "release.zip", "PollForSourceChanges": "false"},
        outputArtifacts=[{"name": "SourceArtifact"}],
    )
    return {
        "name": name,
        "roleArn": role,
        "pipelineType": "V2",
        "executionMode": "PARALLEL",
        "artifactStore": {"type": "S3", "location": artifacts},
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Approve", "actions": [action("Approve", "Approval", "Manual")]},
        ],
    }


def release_zip(size: int) -> bytes:
    buf = io.BytesIO()  # a real zip, like a release; stored, so the size is exact-ish
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("template.yaml", "Resources: {}\n")
        zf.writestr("blob.bin", os.urandom(max(0, size - 300)))
    return buf.getvalue()


def list_versions(s3, bucket, prefix=""):
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Versions", []))
    return out


def count_keys(s3, bucket, prefix):
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        n += page.get("KeyCount", 0)
    return n


def delete_versions(s3, bucket, prefix=""):
    items = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        items += [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
    for i in range(0, len(items), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": items[i : i + 1000], "Quiet": True})


def empty_and_delete(s3, bucket):
    delete_versions(s3, bucket)
    s3.delete_bucket(Bucket=bucket)


# --------------------------------------------------------------------------- one emulator's run


@contextlib.contextmanager
def phase(samplers, name: str):
    with contextlib.ExitStack() as stack:
        for sampler in samplers:
            stack.enter_context(sampler.phase(name))
        yield


def run_all(names: list, plan: dict, persist: str, aborted: dict) -> dict:
    """Start the emulators, then run each part of the workload against one after the other, interleaved
    (latency samples alternate between the emulators), so that the machine's noise hits them alike."""
    results: dict = {}
    with contextlib.ExitStack() as stack:
        runs = {}
        for name in names:
            cm = relay_emulator(persist) if name == "relay" else ministack_emulator()
            try:
                url, pid, notes = stack.enter_context(cm)
            except Exception as e:  # an emulator that does not start: the others still run
                if isinstance(e, launcher.LauncherError) or name == "ministack":
                    print(f"[bench] {name} did not start: {e}", file=sys.stderr, flush=True)
                    aborted[name] = f"did not start: {e}"
                    continue
                raise
            w = Workload(name, url, keeps_versions_required=(name == "relay"))
            stack.callback(w.cleanup)
            sampler = RssSampler(pid)
            stack.callback(sampler.stop)
            runs[name] = (w, sampler)
            results[name] = {"emulator": name, **notes, "latency": [], "failures": w.failures}
        if not runs:
            return results
        samplers = [sampler for _, sampler in runs.values()]
        pipe = None
        for name, (w, sampler) in runs.items():
            w.setup()
            if name == "relay" and plan["pipeline"]:
                pipe = PipelineWorkload(w)
                pipe.setup()
            results[name]["rss_baseline_bytes"] = sampler.baseline()
            sampler.start()
        began = time.perf_counter()
        for size, n in plan["sizes"]:
            print(f"[bench] latency at {human(size)}, n {n}, {' / '.join(runs)} alternating", flush=True)
            base = os.urandom(size)
            samples: dict = {name: {} for name in runs}
            with phase(samplers, human(size)):
                for _ in range(n):
                    for name, (w, _) in runs.items():
                        w.pair(size, base, samples[name])
            for name, (w, _) in runs.items():
                results[name]["latency"].append(w.summary(size, samples[name]))
        for name, (w, _) in runs.items():
            print(f"[bench] {name}: {plan['sequential']} sequential PUTs", flush=True)
            results[name]["sequential"] = w.sequential(plan["sequential"])
        for replicated, label in ((True, "burst"), (False, "burst direct")):
            for name, (w, _) in runs.items():
                print(f"[bench] {name}: {label} of {plan['burst']}", flush=True)
                with phase(samplers, label):
                    results[name]["burst_replicated" if replicated else "burst_direct"] = w.burst(
                        plan["burst"], replicated
                    )
        if pipe is not None:
            print("[bench] relay: pipeline executions", flush=True)
            with phase(samplers, "pipeline"):
                results["relay"]["pipeline"] = pipe.run(plan["pipeline"])
        for name, (_, sampler) in runs.items():
            res = results[name]
            sampler.stop()
            res["rss_peak_bytes"] = dict(sampler.peaks)
            r, d = res["burst_replicated"], res["burst_direct"]
            res["burst_ratio"] = (
                r["objects_per_s"] / d["objects_per_s"] if r["objects_per_s"] and d["objects_per_s"] else None
            )
            res["versions_kept"] = all(row["versions_kept"] == row["n"] for row in res["latency"]) and not (
                r["other_version_id"] or res["sequential"]["other_version_id"]
            )
        seconds = time.perf_counter() - began
        for name in runs:
            results[name]["seconds"] = seconds
    return results


# --------------------------------------------------------------------------- printing


def ms(v):
    return f"{v:7.1f}" if v is not None else "    n/a"


def mib(v):
    return f"{v / MiB:7.0f} MiB" if v else "        n/a"


def ratio(a, b):
    return f"{a / b:5.2f}x" if a and b else "  n/a"


def report(results: dict) -> None:
    names = list(results)
    line = "-" * 100
    print()
    print("Replication latency, ms from the start of PutObject (p50 / p95, nearest rank); replicated: until the")
    print("replica answers HeadObject with this put's ETag; direct: PutObject into the destination, then the same")
    print(line)
    head = f"{'size':>7} {'n':>3}"
    for name in names:
        head += f" | {name + ' replicated':>19} {'direct':>17} {'r/d p95':>7}"
    if len(names) == 2:
        head += f" | {names[0] + '/' + names[1] + ' repl.':>16}"
    print(head)
    for i, row in enumerate(results[names[0]]["latency"]):
        text = f"{human(row['size']):>7} {row['n']:>3}"
        for name in names:
            r = results[name]["latency"][i]
            text += (
                f" | {ms(r['replicated_readable_p50_ms'])} / {ms(r['replicated_readable_p95_ms'])}"
                f"   {ms(r['direct_readable_p50_ms'])} / {ms(r['direct_readable_p95_ms'])}  {ratio(r['ratio_p95'], 1)}"
            )
        if len(names) == 2:
            a, b = (results[n]["latency"][i]["replicated_readable_p95_ms"] for n in names)
            text += f" | {'p95 ' + ratio(a, b):>16}"
        print(text)
    print("source PutObject alone (p50 / p95 ms):")
    for name in names:
        cells = [
            f"{human(r['size'])} {ms(r['replicated_put_p50_ms']).strip()} / {ms(r['replicated_put_p95_ms']).strip()}"
            for r in results[name]["latency"]
        ]
        print(f"  {name:>9}: " + ";  ".join(cells))
    print("replicas keep the source's version id:")
    for name in names:
        rows = results[name]["latency"]
        kept, n = sum(r["versions_kept"] for r in rows), sum(r["n"] for r in rows)
        print(f"  {name:>9}: {kept} of {n} {'(yes)' if kept == n else '(no: replicas get a new version id)'}")

    print()
    print("Sequential 1 KiB PUTs into the source, one client thread")
    print(line)
    for name in names:
        s = results[name]["sequential"]
        done = f"{s['done_s']:.2f} s" if s["done_s"] else "NOT ALL"
        print(
            f"  {name:>9}: {s['n']} PUTs in {s['put_s']:.2f} s ({s['put_s'] / s['n'] * 1000:.1f} ms each); "
            f"all replicas readable after {done}; lost {s['lost']}, other version id {s['other_version_id']}"
        )
    if len(names) == 2:
        a, b = (results[n]["sequential"]["put_s"] for n in names)
        print(f"  {names[0]}/{names[1]} PUT time: {ratio(a, b).strip()}")

    print()
    n_burst = results[names[0]]["burst_replicated"]["n"]
    print(f"Burst of {n_burst} x 1 KiB, 16 client threads: objects/s until every object is readable in the destination")
    print(line)
    for name in names:
        r, d = results[name]["burst_replicated"], results[name]["burst_direct"]
        print(
            f"  {name:>9}: replicated {r['objects_per_s'] or 0:6.0f}/s (PUTs {r['put_s']:.2f} s, all readable "
            f"{r['done_s'] or float('nan'):.2f} s), direct {d['objects_per_s'] or 0:6.0f}/s "
            f"({d['done_s'] or 0:.2f} s); "
            f"replicated/direct {ratio(results[name]['burst_ratio'], 1).strip()}; lost {r['lost']}, other version id "
            f"{r['other_version_id']}, sources not COMPLETED {r.get('status_not_completed')} of "
            f"{r.get('status_sampled')} sampled, client retries {r['client_retries']}"
        )
    if len(names) == 2:
        a, b = (results[n]["burst_replicated"]["objects_per_s"] for n in names)
        print(f"  {names[0]}/{names[1]} replicated throughput: {ratio(a, b).strip()}")

    print()
    print("Memory: RSS of the emulator's process tree (/proc, every 50 ms; overall includes relay's pipeline part)")
    print(line)
    print(f"  {'':>9}  {'baseline':>11} {'100 MiB peak':>13} {'burst peak':>11} {'overall peak':>13}")
    for name in names:
        res = results[name]
        peaks = res.get("rss_peak_bytes") or {}
        print(
            f"  {name:>9}  {mib(res.get('rss_baseline_bytes'))} {mib(peaks.get('100 MiB')):>13}"
            f" {mib(peaks.get('burst')):>11} {mib(peaks.get('overall')):>13}"
        )

    if "relay" in results and results["relay"].get("pipeline"):
        print()
        print("relay only: the replica's Object Created event -> EventBridge rule -> CodePipeline execution exists")
        print("(ms from the start of PutObject, p50 / p95)")
        print(line)
        cols = f"{'replicated readable':>19} | {'execution':>17} | {'direct readable':>17} | execution"
        print(f"{'size':>7} {'n':>3} | {cols}")
        for r in results["relay"]["pipeline"]:
            print(
                f"{human(r['size']):>7} {r['n']:>3} | {ms(r['replicated_readable_p50_ms'])} / "
                f"{ms(r['replicated_readable_p95_ms'])} | {ms(r['replicated_execution_p50_ms'])} / "
                f"{ms(r['replicated_execution_p95_ms'])} | {ms(r['direct_readable_p50_ms'])} / "
                f"{ms(r['direct_readable_p95_ms'])} | {ms(r['direct_execution_p50_ms'])} / "
                f"{ms(r['direct_execution_p95_ms'])}"
            )
    print()
    for name in names:
        res = results[name]
        extra = f" {res['version']}" if res.get("version") else ""
        print(
            f"{name}{extra}: {res['endpoint']}, persistence {res['persistence']}, workload {res['seconds']:.0f} s, "
            f"failures: {'; '.join(res['failures']) or 'none'}"
        )


# --------------------------------------------------------------------------- main


def plan_for(args) -> dict:
    if args.quick:
        sizes = [(KiB, 10), (MiB, 5), (10 * MiB, 3), (100 * MiB, 2)]
        plan = {"sizes": sizes, "sequential": 100, "burst": 200, "pipeline": [(KiB, 3), (10 * MiB, 2)]}
    else:
        sizes = [(KiB, 50), (MiB, 30), (10 * MiB, 10), (100 * MiB, 3)]
        plan = {"sizes": sizes, "sequential": 500, "burst": 1000, "pipeline": [(KiB, 10), (10 * MiB, 5)]}
    if args.burst:
        plan["burst"] = args.burst
    return plan


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations, 100 sequential PUTs, a 200-object burst")
    ap.add_argument("--only", default="relay,ministack", help="comma-separated: relay, ministack (default both)")
    ap.add_argument("--persist", choices=("off", "on"), default="off", help="relay's persistence (default off)")
    ap.add_argument("--burst", type=int, default=None, help="objects in the burst (default 1000, --quick 200)")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    args = ap.parse_args(argv)
    wanted = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(wanted) - {"relay", "ministack"}
    if unknown or not wanted:
        ap.error(f"--only takes relay and/or ministack, not {', '.join(sorted(unknown)) or 'nothing'}")
    if "ministack" in wanted and not ministack_available():
        print(
            f"[bench] MiniStack is not installed: relay only (pip install ministack=={MINISTACK_VERSION}, "
            "or run `tox -e bench`, whose environment has it)"
        )
        wanted.remove("ministack")
        if not wanted:
            return 1
    plan = plan_for(args)
    signal.signal(signal.SIGTERM, _interrupted)
    aborted: dict = {}
    names = [name for name in ("relay", "ministack") if name in wanted]
    print(f"[bench] {'quick' if args.quick else 'full'} run: {', '.join(names)}", flush=True)
    try:
        results = run_all(names, plan, args.persist, aborted)
    except KeyboardInterrupt:
        print("[bench] interrupted (emulators stopped, buckets removed as far as possible)")
        return 130
    except Exception as e:  # e.g. a replica never readable: no figures
        print(f"[bench] FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    if aborted:
        print(f"[bench] no figures for: {', '.join(aborted)}", file=sys.stderr)
    if not results:
        return 1
    report(results)
    if args.json:
        doc = {"plan": plan, "results": results, "aborted": aborted}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"figures written to {args.json}")
    failed = results.get("relay", {}).get("failures")
    if failed:
        print(f"relay FAILED: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 1 if "relay" in aborted else 0


if __name__ == "__main__":
    sys.exit(main())
