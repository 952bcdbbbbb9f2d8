"""Stage timers inside the emulator: where the time of an S3 call (and its replication) goes.

Off unless the emulator runs with ``RELAY_EMULATOR_TIMING=1`` (the launcher passes the caller's
environment through): then, and only then, :func:`install` wraps existing functions with
``localstack.utils.patch`` and times them with ``time.perf_counter``; off, nothing is patched
and nothing is registered (``/_relay/timings`` answers LocalStack's 404), so there is no cost.

``GET /_relay/timings`` answers ``{"enabled": true, "stages": {name: {count, total_ms, mean_ms,
p50_ms, p95_ms, max_ms}}, "installed": [...], "missing": [...]}`` (percentiles over the last
``SAMPLES`` calls of a stage); ``DELETE`` resets the counters. Stage names:

* ``request <service>.<Operation>``: the whole gateway handler chain of one request (request
  parsed from the HTTP server -> response ready), ``[replica]`` for the replication engine's own
  writes (in-memory, no HTTP hop), ``[internal]`` for other requests of LocalStack's internal
  clients (e.g. S3's EventBridge notifier);
* ``handler <service>.<Operation> <handler>``: each handler of that chain (request, response and
  finalizer handlers; the handlers inside LocalStack's composite handlers, e.g. the plugin's
  fault check, write guard and CloudTrail recorder, are timed one by one as
  ``<composite>/<handler>``);
* ``s3 provider <method>``: LocalStack's S3 provider method itself (innermost: without the
  plugin's wrappers), ``s3 _notify`` (notification dispatch, innermost);
* ``replication ...``: ``on_write`` (request side: rule selection and PENDING), ``select_rules``,
  ``set_status [request|worker]``, the worker's ``queue wait``, ``task`` (all rules of a version),
  ``copy_to`` (one rule: checks, source read, replica write), ``copy_object``,
  ``check_destination``, ``check_policy``, and the in-process replica write (``replica_write.py``)
  ``write_replica`` (model, body, notification, journal) and ``copy_body``;
* ``persistence journal_version`` / ``journal_status`` / ``journal_key`` (S3 journal records: a new
  version, a replication status, a key's whole state), ``persistence mark_written`` (dirty tracking),
  ``trail recorder on_response``, ``write_guard on_request``;
* ``eventbridge ...``: ``s3 notifier notify`` (S3's EventBridge notifier: PutEvents round trip),
  ``put_events`` (the provider), ``process_rules`` (one rule: match + its targets),
  ``matches_event``, ``target process_event``.

``RELAY_EMULATOR_CPROFILE=<file>`` (independent of the timers) runs one ``cProfile`` profiler for
the whole process (Python >= 3.12 profiles every thread) and dumps it at stop (pstats to
``<file>``, the top functions as text to ``<file>.txt``), or on ``POST /_relay/timings/cprofile``.
"""

from __future__ import annotations

import collections
import inspect
import logging
import os
import threading
import time

LOG = logging.getLogger("relay_emulator.timing")

TIMINGS_PATH = "/_relay/timings"
SAMPLES = 20_000  # per stage: the window percentiles are computed over
_TRUE = ("1", "true", "yes", "on")
_perf = time.perf_counter


def enabled(environ=None) -> bool:
    return (environ if environ is not None else os.environ).get("RELAY_EMULATOR_TIMING", "").strip().lower() in _TRUE


def cprofile_file(environ=None) -> str | None:
    return (environ if environ is not None else os.environ).get("RELAY_EMULATOR_CPROFILE", "").strip() or None


# ---------------------------------------------------------------------- the counters (pure)


class Stage:
    __slots__ = ("count", "max", "samples", "total")

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.samples = collections.deque(maxlen=SAMPLES)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


class Timings:
    """Thread-safe per-stage counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._stages: dict[str, Stage] = {}

    def record(self, name: str, seconds: float) -> None:
        with self._lock:
            stage = self._stages.get(name)
            if stage is None:
                stage = self._stages[name] = Stage()
            stage.count += 1
            stage.total += seconds
            if seconds > stage.max:
                stage.max = seconds
            stage.samples.append(seconds)

    def reset(self) -> None:
        with self._lock:
            self._stages.clear()

    def snapshot(self) -> dict:
        with self._lock:
            items = [(n, s.count, s.total, s.max, list(s.samples)) for n, s in self._stages.items()]
        out = {}
        for name, count, total, peak, samples in sorted(items):
            out[name] = {
                "count": count,
                "total_ms": round(total * 1000, 3),
                "mean_ms": round(total * 1000 / count, 4) if count else 0.0,
                "p50_ms": round(percentile(samples, 50) * 1000, 4),
                "p95_ms": round(percentile(samples, 95) * 1000, 4),
                "max_ms": round(peak * 1000, 3),
            }
        return out


TIMINGS = Timings()
INSTALLED: list[str] = []
MISSING: list[str] = []


def timed(name: str):
    """A ``Patch.function`` wrapper that times the original under ``name``."""

    def wrapper(original, *args, **kwargs):
        began = _perf()
        try:
            return original(*args, **kwargs)
        finally:
            TIMINGS.record(name, _perf() - began)

    return wrapper


def _patch(owner, attribute: str, name: str, wrapper=None) -> None:
    """Time ``owner.attribute`` (a class's method or a module's function) as stage ``name``."""
    from localstack.utils.patch import Patch

    target = getattr(owner, attribute, None)
    label = f"{getattr(owner, '__name__', owner)}.{attribute}"
    if target is None or not callable(target):
        MISSING.append(label)
        return
    try:
        if isinstance(owner, type) and isinstance(inspect.getattr_static(owner, attribute, None), staticmethod):
            Patch(owner, attribute, staticmethod(_bind(target, wrapper or timed(name)))).apply()
        elif isinstance(owner, type):
            Patch.function(target, wrapper or timed(name)).apply()
        else:  # a module attribute (looked up by name at call time)
            Patch(owner, attribute, _bind(target, wrapper or timed(name))).apply()
        INSTALLED.append(label)
    except Exception as e:  # a timer must never keep the emulator from starting
        LOG.warning("timing: could not wrap %s: %s", label, e)
        MISSING.append(label)


def _bind(original, wrapper):
    def bound(*args, **kwargs):
        return wrapper(original, *args, **kwargs)

    return bound


# ---------------------------------------------------------------------- the handler chain


_CONTEXT_ATTRIBUTE = "_relay_timings"
_names: dict[int, tuple] = {}  # id(handler) -> (handler, name): keeps the handler alive with its id


def _handler_name(handler) -> str:
    entry = _names.get(id(handler))
    if entry is not None and entry[0] is handler:
        return entry[1]
    name = _known_composites().get(id(handler))
    if name is None:
        func = getattr(handler, "__func__", handler)
        name = getattr(func, "__name__", None) or type(handler).__name__
        owner = getattr(handler, "__self__", None)
        if owner is not None:
            name = f"{type(owner).__name__}.{name}"
    _names[id(handler)] = (handler, name)
    return name


_composites: dict[int, str] = {}


def _known_composites() -> dict[int, str]:
    if not _composites:
        from localstack.aws import handlers

        for attr, value in vars(handlers).items():
            if type(value).__name__.startswith("Composite"):
                _composites[id(value)] = attr
    return _composites


def _note(context, name: str, seconds: float) -> None:
    try:
        notes = context.__dict__.get(_CONTEXT_ATTRIBUTE)
        if notes is None:
            notes = []
            context.__dict__[_CONTEXT_ATTRIBUTE] = notes
        notes.append((name, seconds))
    except AttributeError:
        pass


def _timed_handler(handler):
    name = _handler_name(handler)

    def run(chain, context, response):
        began = _perf()
        try:
            return handler(chain, context, response)
        finally:
            _note(context, name, _perf() - began)

    run.relay_timed = handler
    return run


_wrapped: dict[int, tuple] = {}


def _timed_list(handlers: list) -> list:
    out = []
    for handler in handlers:
        entry = _wrapped.get(id(handler))
        if entry is None or entry[0] is not handler:
            entry = _wrapped[id(handler)] = (handler, _timed_handler(handler))
        out.append(entry[1])
    return out


def _request_label(context) -> str:
    service = getattr(context, "service", None)
    operation = getattr(context, "operation", None)
    label = f"{service.service_name if service else '-'}.{operation.name if operation else '-'}"
    headers = getattr(getattr(context, "request", None), "headers", None) or {}
    if headers.get("x-relay-replica-ticket"):
        label += " [replica]"
    elif "x-localstack-data" in headers:  # LocalStack's internal clients (connect_to)
        label += " [internal]"
    return label


def _flush(context, seconds: float) -> None:
    label = _request_label(context)
    TIMINGS.record(f"request {label}", seconds)
    for name, spent in context.__dict__.pop(_CONTEXT_ATTRIBUTE, None) or ():
        TIMINGS.record(f"handler {label} {name}", spent)


def _install_chain() -> None:
    from localstack.aws.app import LocalstackAwsGateway
    from localstack.utils.patch import Patch
    from rolo.gateway import CompositeHandler, HandlerChain

    def new_chain(original, self):
        chain = original(self)
        chain.request_handlers = _timed_list(chain.request_handlers)
        chain.response_handlers = _timed_list(chain.response_handlers)
        chain.finalizers = _timed_list(chain.finalizers)
        return chain

    def handle(original, self, context, response):
        began = _perf()
        try:
            return original(self, context, response)
        finally:
            _flush(context, _perf() - began)

    def composite(original, self, chain, context, response):
        prefix = _handler_name(self)
        for handler in self.handlers:
            began = _perf()
            try:
                handler(chain, context, response)
            finally:
                _note(context, f"{prefix}/{_handler_name(handler)}", _perf() - began)
            if chain.terminated:
                return
            if chain.stopped and self.return_on_stop:
                return

    Patch.function(LocalstackAwsGateway.new_chain, new_chain).apply()
    Patch.function(HandlerChain.handle, handle).apply()
    Patch.function(CompositeHandler.__call__, composite).apply()
    INSTALLED.extend(["LocalstackAwsGateway.new_chain", "HandlerChain.handle", "CompositeHandler.__call__"])


# ---------------------------------------------------------------------- services and the plugin's hooks


def _install_s3() -> None:
    from localstack.services.s3.provider import S3Provider

    for method in ("put_object", "get_object", "head_object", "copy_object", "delete_object"):
        _patch(S3Provider, method, f"s3 provider {method}")
    _patch(S3Provider, "_notify", "s3 _notify")


def _install_replication() -> None:
    from relay_emulator import replication

    engine_class = replication.ReplicationEngine
    _patch(engine_class, "on_write", "replication on_write")
    _patch(replication, "select_rules", "replication select_rules")

    def set_status(original, self, *args, **kwargs):
        where = "worker" if threading.current_thread().name.startswith("relay-s3-repl") else "request"
        began = _perf()
        try:
            return original(self, *args, **kwargs)
        finally:
            TIMINGS.record(f"replication set_status [{where}]", _perf() - began)

    _patch(engine_class, "set_status", "", set_status)

    def replicate(original, self, task, *args, **kwargs):
        enqueued = getattr(task, "enqueued", None)
        if enqueued is not None:
            TIMINGS.record("replication queue wait", max(0.0, time.monotonic() - enqueued))
        began = _perf()
        try:
            return original(self, task, *args, **kwargs)
        finally:
            TIMINGS.record("replication task", _perf() - began)

    _patch(engine_class, "_replicate", "", replicate)
    for method, name in (
        ("_copy_to", "replication copy_to"),
        ("_copy_object", "replication copy_object"),
        ("check_destination", "replication check_destination"),
        ("check_policy", "replication check_policy"),
    ):
        _patch(engine_class, method, name)
    try:  # the engine's in-process replica write (replica_write.py), when it has one
        from relay_emulator import replica_write
    except ImportError:
        return
    for function, name in (
        ("write_replica", "replication write_replica"),
        ("copy_body", "replication copy_body"),
    ):
        _patch(replica_write, function, name)


def _install_relay_hooks() -> None:
    from relay_emulator import persistence, trail_events, write_guard

    _patch(persistence, "journal_version", "persistence journal_version")
    _patch(persistence, "journal_status", "persistence journal_status")
    _patch(persistence, "journal_key", "persistence journal_key")
    _patch(persistence, "mark_written", "persistence mark_written")
    _patch(trail_events.Recorder, "on_response", "trail recorder on_response")
    _patch(write_guard.Guard, "on_request", "write_guard on_request")


def _install_events() -> None:
    from localstack.services.events import provider as events_provider
    from localstack.services.events.provider import EventsProvider
    from localstack.services.events.target import TargetSender
    from localstack.services.s3.notifications import EventBridgeNotifier

    _patch(EventBridgeNotifier, "notify", "eventbridge s3 notifier notify")
    _patch(EventsProvider, "put_events", "eventbridge put_events")
    _patch(EventsProvider, "_process_rules", "eventbridge process_rules")
    _patch(events_provider, "matches_event", "eventbridge matches_event")
    _patch(TargetSender, "process_event", "eventbridge target process_event")


# ---------------------------------------------------------------------- cProfile


_PROFILER = None


def dump_profile() -> str | None:
    """Write the process profile (pstats + top functions as text); the file written, or None."""
    import io
    import pstats

    path = cprofile_file()
    if _PROFILER is None or not path:
        return None
    _PROFILER.disable()
    try:
        _PROFILER.dump_stats(path)
        text = io.StringIO()
        stats = pstats.Stats(path, stream=text)
        stats.sort_stats("tottime").print_stats(60)
        stats.sort_stats("cumulative").print_stats(60)
        with open(path + ".txt", "w") as fh:
            fh.write(text.getvalue())
    finally:
        _PROFILER.enable()
    LOG.info("timing: cProfile written to %s (%s.txt)", path, path)
    return path


def _install_cprofile() -> None:
    global _PROFILER
    import cProfile

    from localstack.runtime.shutdown import SHUTDOWN_HANDLERS

    _PROFILER = cProfile.Profile()
    _PROFILER.enable()
    SHUTDOWN_HANDLERS.register(dump_profile)
    LOG.info("timing: cProfile of the whole process, dumped at stop to %s", cprofile_file())


# ---------------------------------------------------------------------- the control API


class TimingsResource:
    def on_get(self, request):
        from localstack.http import Response

        return Response.for_json(
            {
                "enabled": True,
                "stages": TIMINGS.snapshot(),
                "installed": INSTALLED,
                "missing": MISSING,
                "cprofile": cprofile_file() if _PROFILER is not None else None,
            }
        )

    def on_delete(self, request):
        from localstack.http import Response

        TIMINGS.reset()
        return Response.for_json({"enabled": True, "stages": {}})


class ProfileResource:
    def on_post(self, request):
        from localstack.http import Response

        path = dump_profile()
        if path is None:
            return Response.for_json({"error": "cProfile is off (RELAY_EMULATOR_CPROFILE unset)"}, status=409)
        return Response.for_json({"written": path, "text": path + ".txt"})


_INSTALLED = False


def install() -> bool:
    """Install the timers (``RELAY_EMULATOR_TIMING=1``) and the profiler (``RELAY_EMULATOR_CPROFILE``);
    nothing at all otherwise. Must run before the plugin's other patches (innermost wrappers,
    captured by persistence's replication journal). True when anything was installed."""
    global _INSTALLED
    timers, profile = enabled(), cprofile_file() is not None
    if _INSTALLED or not (timers or profile):
        return False
    _INSTALLED = True
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    apis = get_internal_apis()
    if profile:
        _install_cprofile()
        apis.add(Resource(TIMINGS_PATH + "/cprofile", ProfileResource()))
    if timers:
        for part in (_install_chain, _install_s3, _install_replication, _install_relay_hooks, _install_events):
            try:
                part()
            except Exception:
                LOG.exception("timing: %s failed", part.__name__)
                MISSING.append(part.__name__)
        apis.add(Resource(TIMINGS_PATH, TimingsResource()))
        LOG.info("timing: stage timers on (%d wrapped, missing: %s), GET %s", len(INSTALLED), MISSING, TIMINGS_PATH)
    return True
