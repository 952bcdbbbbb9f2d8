"""Fault injection: regions taken down and up again, replications into a region delayed.

State: ``core.faults.Registry`` (``REGISTRY``), one JSON-able document (``snapshot()`` /
``restore()``). What a fault does, path by path:

* **API calls.** A handler at the front of LocalStack's ``serve_custom_service_request_handlers``
  (after the request is parsed: region, service, operation known) answers every AWS API call to a
  down region with 503 ``ServiceUnavailable`` in the service's protocol (S3's XML ``<Error>``,
  ``{"__type": ...}`` for JSON services, ``<ErrorResponse>`` for query services); the message
  names the region. The region of a call is the one it is signed for (SigV4 credential scope), so
  global services signed for us-east-1 (IAM, Route 53, CloudFront, STS) fail only when us-east-1
  is down; an S3 call also fails when the bucket it names lives in a down region. The plugin's own
  internal calls pass the same handler: nothing reaches a down region silently. Internal
  endpoints (``/_localstack/*``, ``/_relay/*``) are never faulted.
* **Replication** (``replication.py``): into or out of a down region, the source stays
  ``PENDING`` and the rule is retried with ``core.faults.down_backoff`` (0.5 s doubling, at most
  5 s) for as long as the region is down, never counted as a failed attempt, keeping per-key
  order; a delay fault re-schedules the replica (later versions of the key may overtake it).
* **Deliveries held for a region** (``run_or_hold``): EventBridge target deliveries whose target
  is in a down region (cross-region buses, CodePipeline targets), and the service events the
  plugin puts on a down region's bus, are held in order and delivered when it is up.
* **CodePipeline** (``codepipeline/engine.py``): executions of a down region's pipeline wait
  before each action; a cross-region action into a down region fails with ``ServiceUnavailable``.
* **CloudTrail** (``trail_events.py``): log files for a trail bucket in a down region stay
  buffered until it is up.

Control: ``GET /_relay/faults``, ``POST /_relay/faults/regions/<region>`` ``{"down": bool}``,
``POST /_relay/faults/replication-delays`` ``{"region", "seconds", "count"}``, ``DELETE
/_relay/faults`` (clears everything). Bad input answers 400 ``{"error": ...}`` naming every problem.

Not kept across a restart by this module: deliveries held for a down region (callables) are
lost when the process ends; the registry itself is one document another module may persist.
"""

from __future__ import annotations

import functools
import json
import logging

from relay_emulator.core.faults import (
    FaultError,
    Holder,
    Registry,
    down_message,
    validate_delay,
    validate_region_state,
)

LOG = logging.getLogger("relay_emulator.faults")

FAULTS_PATH = "/_relay/faults"
REGISTRY = Registry()


# ---------------------------------------------------------------------- the API other modules call


def is_down(region: str | None) -> bool:
    """Whether ``region`` was taken down."""
    return REGISTRY.is_down(region)


def wait_until_up(region: str, timeout: float | None = None) -> bool:
    """Block until ``region`` is up; False when ``timeout`` seconds passed first."""
    return REGISTRY.wait_until_up(region, timeout)


def replication_delay(region: str) -> float:
    """Seconds the next replication into ``region`` waits (0: none); consumes one count."""
    return REGISTRY.replication_delay(region)


def snapshot() -> dict:
    """The registry as one JSON-able document (see ``core.faults``)."""
    return REGISTRY.snapshot()


def restore(doc: dict) -> None:
    """Replace the registry's state with a ``snapshot()`` document."""
    REGISTRY.restore(doc)


def set_down(region: str, down: bool) -> None:
    REGISTRY.set_down(region, down)
    LOG.warning("region %s is %s", region, "DOWN (injected fault)" if down else "up again")


def add_delay(region: str, seconds: float, count: int = 1) -> None:
    REGISTRY.add_delay(region, seconds, count)
    LOG.warning("the next %d replication(s) into %s are delayed %g s (injected fault)", count, region, seconds)


def clear() -> None:
    REGISTRY.clear()
    LOG.warning("all injected faults cleared")


def service_unavailable(region: str):
    """The 503 error a down region answers (a LocalStack service exception)."""
    from relay_emulator.common import err

    return err("ServiceUnavailable", down_message(region), 503)


@functools.cache
def known_regions() -> frozenset:
    """Every region botocore knows, in every partition."""
    import botocore.session

    data = botocore.session.get_session().get_data("endpoints")
    regions = set()
    for partition in data.get("partitions") or []:
        regions.update((partition.get("regions") or {}).keys())
    return frozenset(regions)


# ---------------------------------------------------------------------- held deliveries


HOLDER = Holder(REGISTRY)


def run_or_hold(region: str | None, fn, what: str) -> bool:
    """Run ``fn()`` for ``region`` now, or hold it (in order) until the region is up."""
    return HOLDER.run_or_hold(region, fn, what)


# ---------------------------------------------------------------------- request handler


# Global services: one endpoint, in us-east-1, whatever region a client signs for.
GLOBAL_SERVICES = frozenset({"iam", "route53", "cloudfront", "organizations", "route53domains", "shield", "waf"})


def request_region(context) -> str | None:
    """The down region an AWS API call reaches, if any: the region it is signed for (us-east-1
    for global services), or, for S3, the region of the bucket it names."""
    service = context.service
    region = "us-east-1" if service is not None and service.service_name in GLOBAL_SERVICES else context.region
    if REGISTRY.is_down(region):
        return region
    if service is not None and service.service_name == "s3":
        bucket = (context.service_request or {}).get("Bucket")
        if bucket:
            from relay_emulator.common import bucket_location

            _owner, bucket_region = bucket_location(bucket)
            if REGISTRY.is_down(bucket_region):
                return bucket_region
    return None


def fault_handler(chain, context, response) -> None:
    """Answer 503 ServiceUnavailable to a call into a down region."""
    if not REGISTRY.any_down() or context.service is None:
        return
    region = request_region(context)
    if region is not None:
        raise service_unavailable(region)


# ---------------------------------------------------------------------- control API


def _json(doc: dict, status: int = 200):
    from localstack.http import Response

    return Response.for_json(doc, status=status)


def _body(request):
    """The request's JSON document; FaultError when it is not JSON."""
    raw = request.get_data(as_text=True)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise FaultError([f"the body is not valid JSON: {e}"]) from None


def document() -> dict:
    doc = snapshot()
    doc["held_deliveries"] = HOLDER.held()
    return doc


class FaultsResource:
    def on_get(self, request):
        return _json(document())

    def on_delete(self, request):
        clear()
        return _json(document())


class RegionResource:
    def on_post(self, request, region: str):
        try:
            down = validate_region_state(region, _body(request), known_regions())
        except FaultError as e:
            return _json({"error": str(e), "problems": e.problems}, 400)
        set_down(region, down)
        return _json(document())


class DelaysResource:
    def on_post(self, request):
        try:
            region, seconds, count = validate_delay(_body(request), known_regions())
        except FaultError as e:
            return _json({"error": str(e), "problems": e.problems}, 400)
        add_delay(region, seconds, count)
        return _json(document())


# ---------------------------------------------------------------------- installation

PATCHES = None


def install() -> None:
    """Put the fault handler at the front of the service request handlers, add the control API,
    and hold EventBridge target deliveries for down regions."""
    global PATCHES
    if PATCHES is not None:
        return
    from localstack.aws.handlers import serve_custom_service_request_handlers
    from localstack.http import Resource
    from localstack.services.events.target import TargetSender
    from localstack.services.internal import get_internal_apis
    from localstack.utils.patch import Patches

    serve_custom_service_request_handlers.handlers.insert(0, fault_handler)
    apis = get_internal_apis()
    apis.add(Resource(FAULTS_PATH, FaultsResource()))
    apis.add(Resource(FAULTS_PATH + "/regions/<region>", RegionResource()))
    apis.add(Resource(FAULTS_PATH + "/replication-delays", DelaysResource()))

    def process_event(original, self, event, trace_header):
        region = getattr(self, "target_region", None) or self.region
        run_or_hold(
            region,
            lambda: original(self, event, trace_header),
            f"EventBridge delivery to {self.target.get('Arn')} (rule {self.rule_arn})",
        )

    PATCHES = Patches()
    PATCHES.function(TargetSender.process_event, process_event)
    PATCHES.apply()
    LOG.info("relay fault injection installed (%s)", FAULTS_PATH)
