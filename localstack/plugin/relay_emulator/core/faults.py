"""Injected faults of the emulator: regions taken down, replications into a region delayed.

The registry is process state, thread-safe, and all of it is one JSON-able document
(``snapshot()`` / ``restore()``)::

    {"regions_down": ["eu-west-1"],
     "replication_delays": [{"region": "eu-south-2", "seconds": 5.0, "remaining": 1}]}

* A region that is down answers every API call with 503 ``ServiceUnavailable`` (``faults.py``
  in the plugin); the plugin's own work for it waits (``wait_until_up``) or retries with
  ``down_backoff``.
* A replication delay makes the next ``remaining`` replications *into* ``region`` wait
  ``seconds`` before their replica is written; ``replication_delay(region)`` consumes one count
  (delays of one region are consumed in the order they were added).

``validate_*`` check what the control API and the command line accept and name every problem.
No LocalStack import: unit-tested without an emulator.
"""

from __future__ import annotations

import collections
import heapq
import logging
import threading
import time

_LOG = logging.getLogger("relay_emulator.faults")
MAX_DELAY_SECONDS = 3600
# retries of work waiting for a down region: 0.5 s, doubling, at most 5 s (never counted as failures)
DOWN_BACKOFF_START = 0.5
DOWN_BACKOFF_MAX = 5.0


def down_backoff(retry: int) -> float:
    """Seconds before retry number ``retry`` (0-based) of work waiting for a down region."""
    return min(DOWN_BACKOFF_START * (2 ** max(0, retry)), DOWN_BACKOFF_MAX)


def down_message(region: str) -> str:
    """The message of the 503 a down region answers (names the region and how it went down)."""
    return (
        f"Service unavailable in region {region}: the region was taken down with "
        f"`relay emulator region down {region}` (bring it back with `relay emulator region up {region}`)"
    )


class FaultError(ValueError):
    """Bad fault input; ``problems`` lists every problem with what is allowed."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def region_problems(region, known_regions) -> list[str]:
    """Why ``region`` is not a region name that botocore knows (empty when it is)."""
    if not isinstance(region, str) or not region:
        return [f"region must be a region name such as us-east-1, got {region!r}"]
    if known_regions is not None and region not in known_regions:
        return [f"unknown region {region!r}: not a region botocore knows (e.g. us-east-1, eu-west-1, eu-south-2)"]
    return []


def validate_region_state(region, doc, known_regions=None) -> bool:
    """``POST /_relay/faults/regions/<region>`` body ``{"down": true|false}``: the new state."""
    problems = region_problems(region, known_regions)
    if not isinstance(doc, dict):
        problems.append('the body must be a JSON object {"down": true|false}')
    elif not isinstance(doc.get("down"), bool):
        problems.append(f'"down" must be true or false, got {doc.get("down")!r}')
    if problems:
        raise FaultError(problems)
    return doc["down"]


def validate_delay(doc, known_regions=None) -> tuple[str, float, int]:
    """``POST /_relay/faults/replication-delays`` body ``{"region", "seconds", "count"}`` (count
    defaults to 1): ``(region, seconds, count)``."""
    if not isinstance(doc, dict):
        raise FaultError(['the body must be a JSON object {"region": .., "seconds": .., "count": ..}'])
    problems = region_problems(doc.get("region"), known_regions)
    seconds, count = doc.get("seconds"), doc.get("count", 1)
    if not _number(seconds) or not 0 < seconds <= MAX_DELAY_SECONDS:
        problems.append(f'"seconds" must be a number > 0 and <= {MAX_DELAY_SECONDS}, got {seconds!r}')
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        problems.append(f'"count" must be a whole number >= 1, got {count!r}')
    if problems:
        raise FaultError(problems)
    return doc["region"], float(seconds), count


def describe(snapshot: dict) -> list[str]:
    """One line per injected fault (what ``status`` prints); empty when there is none."""
    lines = [
        f"region {r} is down (every API call there answers 503 ServiceUnavailable)"
        for r in snapshot.get("regions_down") or []
    ]
    for d in snapshot.get("replication_delays") or []:
        lines.append(
            f"replication into {d['region']} delayed {d['seconds']:g} s for the next {d['remaining']} replica(s)"
        )
    return lines


class Registry:
    """The faults of one emulator process (all methods are thread-safe)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._down: set[str] = set()
        self._delays: list[dict] = []
        self._listeners: list = []

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict:
        with self._changed:
            return {
                "regions_down": sorted(self._down),
                "replication_delays": [dict(d) for d in self._delays],
            }

    def restore(self, doc: dict) -> None:
        """Replace the state with a ``snapshot()`` document."""
        doc = doc or {}
        down = {r for r in doc.get("regions_down") or [] if isinstance(r, str)}
        delays = [
            {"region": d["region"], "seconds": float(d["seconds"]), "remaining": int(d["remaining"])}
            for d in doc.get("replication_delays") or []
            if int(d.get("remaining", 0)) > 0
        ]
        with self._changed:
            self._down, self._delays = down, delays
            self._changed.notify_all()
        self._notify()

    def clear(self) -> None:
        self.restore({})

    def on_change(self, listener) -> None:
        """Call ``listener()`` (outside the lock) after every change (e.g. to wake waiting work)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ---------------------------------------------------------------- regions

    def set_down(self, region: str, down: bool) -> None:
        with self._changed:
            if down:
                self._down.add(region)
            else:
                self._down.discard(region)
            self._changed.notify_all()
        self._notify()

    def is_down(self, region: str | None) -> bool:
        return region in self._down  # a set lookup: cheap enough for every request

    def any_down(self) -> bool:
        return bool(self._down)

    def wait_until_up(self, region: str, timeout: float | None = None) -> bool:
        """Block until ``region`` is up (at once when it is); False when ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while region in self._down:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # ---------------------------------------------------------------- delays

    def add_delay(self, region: str, seconds: float, count: int = 1) -> None:
        with self._changed:
            self._delays.append({"region": region, "seconds": float(seconds), "remaining": int(count)})
            self._changed.notify_all()
        self._notify()

    def replication_delay(self, region: str) -> float:
        """Seconds the next replication into ``region`` must wait (0: none); consumes one count."""
        seconds = 0.0
        with self._changed:
            for d in self._delays:
                if d["region"] == region:
                    d["remaining"] -= 1
                    if d["remaining"] <= 0:
                        self._delays.remove(d)
                    seconds = d["seconds"]
                    break
        if seconds:
            self._notify()
        return seconds


class Scheduler:
    """Runs callables after a delay on one background thread (work waiting for a down region or
    delayed by a fault is re-scheduled here instead of sleeping on a worker)."""

    def __init__(self, name: str = "relay-fault-scheduler"):
        self._name = name
        self._heap: list = []
        self._seq = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, fn) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), self._seq, fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _due, _seq, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:  # a scheduled callable must not stop the others
                _LOG.exception("scheduled work failed")


class Holder:
    """Work for a region that must not reach it while it is down: run at once when the region is
    up and nothing is held for it, else queued and run, in order, when it is up again."""

    def __init__(self, registry: Registry):
        self._registry = registry
        self._held: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def run_or_hold(self, region: str | None, fn, what: str) -> bool:
        """Run ``fn()`` now (its exceptions propagate) or hold it; True when it ran now."""
        if region is None or (not self._held and not self._registry.is_down(region)):
            fn()
            return True
        with self._lock:
            queue = self._held.get(region)
            if queue is None and not self._registry.is_down(region):
                queue = None
            else:
                if queue is None:
                    queue = self._held[region] = collections.deque()
                    threading.Thread(
                        target=self._drain, args=(region, queue), name=f"relay-held-{region}", daemon=True
                    ).start()
                queue.append((fn, what))
                _LOG.info(
                    "%s held for region %s (down, or earlier deliveries pending: %d held)", what, region, len(queue)
                )
                return False
        fn()
        return True

    def held(self) -> dict:
        """Number of held deliveries per region."""
        with self._lock:
            return {region: len(q) for region, q in self._held.items() if q}

    def _drain(self, region: str, queue: collections.deque) -> None:
        while True:
            self._registry.wait_until_up(region)
            with self._lock:
                if not queue:
                    del self._held[region]
                    return
                fn, what = queue[0]
            try:
                fn()
            except Exception:
                if self._registry.is_down(region):  # down again meanwhile: keep it, retry when up
                    continue
                _LOG.exception("held %s for %s failed", what, region)
            with self._lock:
                queue.popleft()
            _LOG.info("held %s delivered to %s", what, region)
