"""S3 replication metrics: what the replication engine (``replication.py``) reports for rules
with ``Destination.Metrics.Status: Enabled``, published to CloudWatch in the source bucket's
account and region (namespace ``AWS/S3``, dimensions SourceBucket, DestinationBucket, RuleId):
ReplicationLatency (seconds), OperationsPendingReplication / BytesPendingReplication (after each
change), OperationsFailedReplication (1 per failed replica). Data points are queued in memory and
sent by one background thread in batches (``RELAY_REPLICATION_METRICS_FLUSH`` seconds between
sends, default 1.0): the copy path never calls CloudWatch nor waits for it. A send that fails is
logged at WARNING and its data points are dropped (metrics, unlike replicas, are not retried).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections import defaultdict

from relay_emulator.common import describe, in_memory, internal_client, now
from relay_emulator.core import replication_metrics as core

LOG = logging.getLogger("relay_emulator.replication")

FLUSH_SECONDS = float(os.environ.get("RELAY_REPLICATION_METRICS_FLUSH", "1.0"))


class ReplicationMetrics:
    def __init__(self, flush_seconds: float = FLUSH_SECONDS):
        self._lock = threading.Lock()
        self._pending: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # key -> [operations, bytes]
        self._queue: dict[tuple[str, str], list[dict]] = defaultdict(list)  # (account, region) -> data
        self._flush_seconds = flush_seconds
        self._clients: dict[tuple[str, str], object] = {}
        self._thread = threading.Thread(target=self._run, name="relay-s3-repl-metrics", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ engine side (never blocks)

    @staticmethod
    def _key(account: str, region: str, source: str, destination: str, rule: dict) -> tuple:
        return (account, region, source, destination, rule.get("ID") or "")

    def _record(self, key: tuple, data: list[dict]) -> None:
        self._queue[(key[0], key[1])].extend(data)  # under self._lock

    def _pending_change(self, key: tuple, operations: int, size: int) -> None:
        counters = self._pending[key]
        counters[0] = max(0, counters[0] + operations)
        counters[1] = max(0, counters[1] + size)
        dims = core.dimensions(key[2], key[3], key[4])
        self._record(key, core.pending_data(counters[0], counters[1], dims, now()))

    def scheduled(self, account: str, region: str, source: str, destination: str, rule: dict, size: int) -> None:
        """A replica of ``size`` bytes is now pending for this rule."""
        if not core.metrics_enabled(rule):
            return
        with self._lock:
            self._pending_change(self._key(account, region, source, destination, rule), 1, size)

    def finished(
        self,
        account: str,
        region: str,
        source: str,
        destination: str,
        rule: dict,
        size: int,
        last_modified: datetime.datetime | None,
        failed: bool,
    ) -> None:
        """The replica is written (or failed): latency or failure, and the pending counters."""
        if not core.metrics_enabled(rule):
            return
        key = self._key(account, region, source, destination, rule)
        at = now()
        dims = core.dimensions(source, destination, key[4])
        with self._lock:
            if failed:
                self._record(key, [core.datum("OperationsFailedReplication", 1, "Count", dims, at)])
            else:
                latency = core.latency_seconds(last_modified, at)
                if latency is not None:
                    self._record(key, [core.datum("ReplicationLatency", latency, "Seconds", dims, at)])
            self._pending_change(key, -1, -size)

    # ------------------------------------------------------------------ publisher thread

    def flush(self) -> None:
        """Send every queued data point (the background thread calls this; tests may too)."""
        with self._lock:
            queued, self._queue = self._queue, defaultdict(list)
        for (account, region), data in queued.items():
            for batch in core.batches(data):
                try:
                    self._client(account, region).put_metric_data(Namespace=core.NAMESPACE, MetricData=batch)
                except Exception as e:  # never retried, never raised into the engine
                    LOG.warning(
                        "S3 replication metrics: %d data points for account %s in %s not published: %s",
                        len(batch),
                        account,
                        region,
                        describe(e),
                    )

    def _client(self, account: str, region: str):
        client = self._clients.get((account, region))
        if client is None:
            from botocore.config import Config

            client = internal_client(
                "cloudwatch", region, account, config=Config(retries={"max_attempts": 1}, read_timeout=30)
            )
            in_memory(client)
            self._clients[(account, region)] = client
        return client

    def _run(self) -> None:
        while True:  # at most one send per interval: data points accumulate meanwhile
            time.sleep(self._flush_seconds)
            try:
                self.flush()
            except Exception:
                LOG.exception("S3 replication metrics publisher error")
