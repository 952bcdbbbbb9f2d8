"""Puts AWS service events on a region's default event bus, off the caller's thread.

CodePipeline (``pipeline_events``) and CloudFormation (``stack_events``) hand their events to
``EMITTER.put``, which only enqueues them: one background thread puts them, in order, with
LocalStack's internal EventBridge client of the resource's account and region (in-memory, the
whole handler chain runs, so rules, targets, cross-region bus targets and the rule metrics work
exactly as for a client's ``PutEvents``). A failure to put is logged, never raised: an event
must never break or slow what emitted it. Events are best effort, as in AWS.
"""

from __future__ import annotations

import logging
import queue
import threading

from relay_emulator import faults
from relay_emulator.common import in_memory, internal_client

LOG = logging.getLogger("relay_emulator.service_events")


class Emitter:
    def __init__(self):
        self._work: queue.Queue = queue.Queue()
        self._clients: dict[tuple[str, str], object] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def put(self, account: str, region: str, entry: dict) -> None:
        """Queue one ``PutEvents`` entry for the default bus of ``account`` in ``region``."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._worker, name="relay-service-events", daemon=True)
                    self._thread.start()
        self._idle.clear()
        self._work.put((account, region, entry))

    def _client(self, account: str, region: str):
        client = self._clients.get((account, region))
        if client is None:
            from botocore.config import Config

            # own Config: connect_to caches clients per argument set, and this one is made in-memory
            client = internal_client("events", region, account, config=Config(retries={"max_attempts": 2}))
            in_memory(client)
            self._clients[(account, region)] = client
        return client

    def _worker(self) -> None:
        while True:
            account, region, entry = self._work.get()
            try:
                # a region taken down (faults.py) gets its events, in order, when it is up again
                faults.run_or_hold(
                    region,
                    lambda a=account, r=region, e=entry: self._put(a, r, e),
                    f"{entry.get('DetailType')} event",
                )
            except Exception:
                LOG.exception("could not put %s event in %s/%s", entry.get("DetailType"), account, region)
            finally:
                if self._work.empty():
                    self._idle.set()

    def _put(self, account: str, region: str, entry: dict) -> None:
        result = self._client(account, region).put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            LOG.error(
                "EventBridge refused %s event in %s/%s: %s",
                entry.get("DetailType"),
                account,
                region,
                result.get("Entries"),
            )

    def wait_idle(self, timeout: float) -> bool:
        """Whether every queued event was put within ``timeout`` seconds (diagnostics)."""
        return self._idle.wait(timeout)


EMITTER = Emitter()
