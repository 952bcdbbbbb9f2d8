"""Route 53 health checks that probe, and TestDNSAnswer (decisions in ``core/route53_routing.py``).

LocalStack 4.14 keeps Route 53 in moto: health checks are stored, ``GetHealthCheckStatus`` always
answers success (moto's fixed template) and ``TestDNSAnswer`` answers "not implemented". This
module patches three handlers of LocalStack's ``Route53Provider`` (before the provider is
instantiated, so its dispatch table picks them up; every other operation is unchanged) and moto's
``Route53Backend.create_health_check`` (to start probing at once):

* **Evaluator.** One scheduler thread (``relay-route53-health``), started when a health check is
  created (or its status asked), stopped when no health check is left, with a small probe pool.
  Every probed check (HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP; not Disabled) is probed
  every ``RELAY_HEALTH_CHECK_INTERVAL_SECONDS`` seconds when set (the launcher sets 1), else every
  ``RequestInterval`` (10 or 30) seconds. A probe is real: HTTP(S) GET of ``ResourcePath`` on
  ``IPAddress`` (else ``FullyQualifiedDomainName``) and ``Port``, 4 s to connect, 2 s to answer,
  2xx/3xx = success (``*_STR_MATCH``: ``SearchString`` in the first 5,120 bytes), HTTPS without
  certificate verification (as Route 53), ``Host`` = the FQDN when given; TCP = a connection.
  A FQDN that is a load balancer's DNS name (``*.elb.amazonaws.com``) is probed through the
  emulator's own gateway with that ``Host`` (``elb_frontend.py``: 200 with a healthy target, 503
  without), over HTTP whatever the type says. Loopback addresses are accepted (AWS refuses them).
* **Status.** ``core.CheckState``: FailureThreshold consecutive failures -> unhealthy, as many
  successes -> healthy; a new check is healthy. Disabled: healthy, not probed. Inverted: flipped.
  CALCULATED: its children's statuses against HealthThreshold, when asked.
* **GetHealthCheckStatus**: the last probe's observation, once per checker region of the check
  (its ``Regions``, else AWS's eight defaults: one probe from this host stands for all of them),
  ``IPAddress`` 127.0.0.1, AWS's status strings; none before the first probe. CALCULATED: one
  observation summing its children. **GetHealthCheckLastFailureReason**: the last failed probe.
* **TestDNSAnswer**: ``core.Resolver`` over the zone's record sets in moto; the resolver's region
  is the region of the emulator's (non-default) VPC whose CIDR contains ``ResolverIP``, else
  us-east-1.

Probe state is process state (like a checker's memory), keyed by account and health check id;
checks deleted (or gone after a state reset) are dropped at the next scheduler pass.
"""

from __future__ import annotations

import http
import http.client
import logging
import os
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from relay_emulator.core import route53_routing as core

LOG = logging.getLogger("relay_emulator.route53_health")

INTERVAL_ENV = "RELAY_HEALTH_CHECK_INTERVAL_SECONDS"
CONNECT_TIMEOUT = 4.0
READ_TIMEOUT = 2.0
PROBE_WORKERS = 8
TICK = 0.1
PROBE_SOURCE_IP = "127.0.0.1"


@dataclass
class Tracked:
    """What the emulated checkers know of one health check."""

    state: core.CheckState = field(default_factory=core.CheckState)
    next_due: float = 0.0
    in_flight: bool = False
    last_status: str | None = None
    last_checked: datetime | None = None
    last_failure: str | None = None
    last_failure_time: datetime | None = None


def _checks():
    """Every health check of moto's Route 53: ``((account_id, id), check)``."""
    from moto.route53.models import route53_backends

    for account_id, partitions in list(dict.items(route53_backends)):
        for _partition, backend in list(dict.items(partitions)):
            for check_id, check in list(backend.health_checks.items()):
                yield (account_id, check_id), check


def _find_check(account_id: str, check_id: str):
    from moto.route53.models import route53_backends

    for _partition, backend in list(dict.items(route53_backends[account_id])):
        check = backend.health_checks.get(check_id)
        if check is not None:
            return check
    return None


class Evaluator:
    def __init__(self):
        self.lock = threading.RLock()
        self.tracked: dict[tuple[str, str], Tracked] = {}
        self.wake_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.stopping = False

    # -- lifecycle

    def ensure_running(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                self.wake_event.set()
                return
            self.stopping = False
            pool = ThreadPoolExecutor(max_workers=PROBE_WORKERS, thread_name_prefix="relay-route53-probe")
            self.thread = threading.Thread(target=self._run, args=(pool,), name="relay-route53-health", daemon=True)
            self.thread.start()

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.wake_event.set()
            thread = self.thread
        if thread is not None:
            thread.join(timeout=5)

    def _run(self, pool: ThreadPoolExecutor) -> None:
        """The scheduler; it owns its probe pool and ends when no health check is left."""
        LOG.info("Route 53 health-check evaluator started")
        try:
            while not self.stopping:
                if not self._pass(pool):
                    break
                self.wake_event.wait(TICK)
                self.wake_event.clear()
        except Exception:
            LOG.exception("Route 53 health-check evaluator failed")
        finally:
            with self.lock:
                if self.thread is threading.current_thread():
                    self.thread = None
            pool.shutdown(wait=False, cancel_futures=True)
            LOG.info("Route 53 health-check evaluator stopped (no health check left)")

    def _pass(self, pool: ThreadPoolExecutor) -> bool:
        """One scheduling pass; False when no health check exists any more (the thread ends)."""
        now = time.monotonic()
        override = os.environ.get(INTERVAL_ENV)
        seen = set()
        for key, check in _checks():
            seen.add(key)
            with self.lock:
                tracked = self.tracked.setdefault(key, Tracked())
                if (
                    check.type_ not in core.PROBED_TYPES
                    or core.as_bool(check.disabled)
                    or tracked.in_flight
                    or now < tracked.next_due
                ):
                    continue
                tracked.in_flight = True
                tracked.next_due = now + core.probe_interval(check.request_interval, override)
            pool.submit(self._probe_and_record, key, _probe_spec(check))
        with self.lock:
            for key in [k for k in self.tracked if k not in seen]:
                del self.tracked[key]
            # a check created since the scan called ensure_running() while this thread still ran:
            # look again under the lock before ending
            if not seen and next(_checks(), None) is None:
                if self.thread is threading.current_thread():
                    self.thread = None
                return False
        return True

    def _probe_and_record(self, key, spec: dict) -> None:
        try:
            status = probe(spec)
        except Exception as e:  # a probe that breaks is a failed probe, named
            status = f"Failure: {type(e).__name__}: {e}"
        now = datetime.now(UTC)
        with self.lock:
            tracked = self.tracked.get(key)
            if tracked is None:
                return
            tracked.in_flight = False
            before = tracked.state.healthy
            after = tracked.state.observe(core.probe_success(status), spec["failure_threshold"])
            tracked.last_status, tracked.last_checked = status, now
            if not core.probe_success(status):
                tracked.last_failure, tracked.last_failure_time = status, now
        if before != after:
            LOG.info("Route 53 health check %s is now %s (%s)", key[1], "healthy" if after else "unhealthy", status)

    # -- status

    def measured(self, account_id: str, check_id: str) -> Tracked | None:
        with self.lock:
            return self.tracked.get((account_id, check_id))

    def healthy(self, account_id: str, check_id: str, depth: int = 0) -> bool:
        """The status Route 53 routes by (an unknown check counts as unhealthy)."""
        check = _find_check(account_id, check_id)
        if check is None:
            return False
        disabled, inverted = core.as_bool(check.disabled), core.as_bool(check.inverted)
        if check.type_ == "CALCULATED":
            if depth > core.MAX_ALIAS_DEPTH:
                return False
            children = [self.healthy(account_id, child, depth + 1) for child in _as_list(check.children)]
            measured = core.calculated_status(children, core.as_int(check.health_threshold))
        elif check.type_ in core.PROBED_TYPES:
            self.ensure_running()
            tracked = self.measured(account_id, check_id)
            measured = tracked.state.healthy if tracked else True
        else:
            # CLOUDWATCH_METRIC / RECOVERY_CONTROL are not evaluated: AWS's "insufficient data"
            # default (LastKnownStatus, initially healthy)
            measured = True
        return core.effective_status(measured, inverted, disabled)


EVALUATOR = Evaluator()


# --------------------------------------------------------------------------- probes


def _probe_spec(check) -> dict:
    return {
        "type": check.type_,
        "ip": check.ip_address or None,
        "fqdn": (check.fqdn or None) if check.fqdn != [] else None,
        "port": core.as_int(check.port),
        "path": check.resource_path or "/",
        "search": check.search_string or None,
        "sni": core.as_bool(check.enable_sni, True),
        "failure_threshold": core.as_int(check.failure_threshold, 3) or 3,
    }


def _gateway_port() -> int:
    from localstack import config

    return config.GATEWAY_LISTEN[0].port


def _reason(response) -> str:
    """The status's standard phrase (AWS reports "Service Unavailable" whatever the server wrote)."""
    try:
        return http.HTTPStatus(response.status).phrase
    except ValueError:
        return response.reason or ""


def probe(spec: dict) -> str:
    """One probe of an endpoint; the observation's status text (``Success: ...`` / ``Failure: ...``)."""
    kind = spec["type"]
    https = kind.startswith("HTTPS")
    port = spec["port"] or (443 if https else 80)
    host, host_header = spec["ip"], spec["fqdn"] or spec["ip"]
    if host is None and spec["fqdn"] and core.lb_dns_name(spec["fqdn"]):
        host, port, https = "127.0.0.1", _gateway_port(), False  # the load balancer's front end
    elif host is None:
        host = spec["fqdn"]
    if not host:
        return "Failure: the health check has neither IPAddress nor FullyQualifiedDomainName"
    if kind == "TCP":
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
                return core.TCP_SUCCESS
        except TimeoutError:
            return core.timeout_text()
        except OSError as e:
            return core.connect_failure_text(e.strerror or str(e))
    path = spec["path"] if spec["path"].startswith("/") else "/" + spec["path"]
    conn = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
    try:
        try:
            conn.connect()
            if https:  # Route 53 does not validate certificates; SNI = the FQDN when EnableSNI
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                server_name = spec["fqdn"] if spec["sni"] and spec["fqdn"] else None
                conn.sock = context.wrap_socket(conn.sock, server_hostname=server_name)
        except TimeoutError:
            return core.timeout_text()
        except ssl.SSLError as e:
            return f"Failure: SSL handshake failed ({e.reason or e})"
        except OSError as e:
            return core.connect_failure_text(e.strerror or str(e))
        conn.sock.settimeout(READ_TIMEOUT)
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host_header if port in (80, 443) else f"{host_header}:{port}")
            conn.putheader("User-Agent", "Amazon-Route53-Health-Check-Service (ref relay-emulator)")
            conn.endheaders()
            response = conn.getresponse()
            body = response.read(core.STR_MATCH_BYTES) if spec["search"] is not None else b""
        except TimeoutError:
            return "Failure: The endpoint did not respond within 2 seconds after the connection was established."
        except (OSError, http.client.HTTPException) as e:
            return core.connect_failure_text(str(e) or type(e).__name__)
        matched = core.string_match(body, spec["search"]) if spec["search"] is not None else None
        return core.http_status_text(response.status, _reason(response), spec["search"], matched)
    finally:
        conn.close()


# --------------------------------------------------------------------------- API handlers


def _checker_regions(check) -> list[str]:
    return _as_list(check.regions) or list(core.DEFAULT_CHECKER_REGIONS)


def _no_such_check(check_id: str):
    from localstack.aws.api.route53 import NoSuchHealthCheck

    return NoSuchHealthCheck(f"No health check exists with the specified ID {check_id}")


def get_health_check_status(self, context, health_check_id, **kwargs):
    check = _find_check(context.account_id, health_check_id)
    if check is None:
        raise _no_such_check(health_check_id)
    if check.type_ == "CALCULATED":
        children = _as_list(check.children)
        healthy = [c for c in children if EVALUATOR.healthy(context.account_id, c)]
        status = EVALUATOR.healthy(context.account_id, health_check_id)
        threshold = core.as_int(check.health_threshold, len(children))
        text = (
            f"{'Success' if status else 'Failure'}: {len(healthy)} of {len(children)} child health checks "
            f"are healthy (HealthThreshold {threshold})"
        )
        return {
            "HealthCheckObservations": [
                {"StatusReport": {"Status": text, "CheckedTime": datetime.now(UTC)}},
            ]
        }
    EVALUATOR.ensure_running()
    tracked = EVALUATOR.measured(context.account_id, health_check_id)
    if tracked is None or tracked.last_status is None:
        return {"HealthCheckObservations": []}
    return _observations(check, tracked.last_status, tracked.last_checked)


def get_health_check_last_failure_reason(self, context, health_check_id, **kwargs):
    check = _find_check(context.account_id, health_check_id)
    if check is None:
        raise _no_such_check(health_check_id)
    tracked = EVALUATOR.measured(context.account_id, health_check_id)
    if tracked is None or tracked.last_failure is None:
        return {"HealthCheckObservations": []}
    return _observations(check, tracked.last_failure, tracked.last_failure_time)


def _observations(check, status: str, checked) -> dict:
    """The last probe's (or failure's) status as every checker region of the check observed it."""
    return {
        "HealthCheckObservations": [
            {
                "Region": region,
                "IPAddress": PROBE_SOURCE_IP,
                "StatusReport": {"Status": status, "CheckedTime": checked},
            }
            for region in _checker_regions(check)
        ]
    }


def _as_list(value) -> list:
    if not value:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def health_check_config(check) -> dict:
    """The HealthCheckConfig AWS's GetHealthCheck answers (LocalStack's own drops SearchString,
    Regions and ChildHealthChecks, and gives a CALCULATED check a port and an interval)."""
    config = {
        "Type": check.type_,
        "Inverted": core.as_bool(check.inverted),
        "Disabled": core.as_bool(check.disabled),
        "EnableSNI": core.as_bool(check.enable_sni, True),
    }
    if check.type_ == "CALCULATED":
        config["HealthThreshold"] = core.as_int(check.health_threshold, 0)
        config["ChildHealthChecks"] = _as_list(check.children)
        return config
    optional = {
        "IPAddress": check.ip_address or None,
        "Port": core.as_int(check.port),
        "ResourcePath": check.resource_path or None,
        "FullyQualifiedDomainName": check.fqdn or None,
        "SearchString": check.search_string or None,
        "RequestInterval": core.as_int(check.request_interval, 30),
        "FailureThreshold": core.as_int(check.failure_threshold, 3),
        "MeasureLatency": core.as_bool(check.measure_latency),
        "Regions": _as_list(check.regions) or None,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    return config


def get_health_check(self, context, health_check_id, **kwargs):
    check = _find_check(context.account_id, health_check_id)
    if check is None:
        raise _no_such_check(health_check_id)
    return {
        "HealthCheck": {
            "Id": check.id,
            "CallerReference": check.caller_reference,
            "HealthCheckConfig": health_check_config(check),
            "HealthCheckVersion": 1,
        }
    }


def _records(zone) -> list[core.Record]:
    out = []
    for rrset in list(zone.rrsets):
        alias = rrset.alias_target or None
        weight = rrset.weight
        out.append(
            core.Record(
                name=rrset.name,
                type=rrset.type_ or "",
                values=[str(v) for v in (rrset.records or [])],
                set_identifier=rrset.set_identifier or None,
                weight=core.as_int(weight) if rrset.set_identifier and weight not in (None, 0, []) else None,
                region=rrset.region or None,
                failover=rrset.failover or None,
                multivalue=core.as_bool(rrset.multi_value),
                geo=bool(rrset.geo_location),
                health_check_id=rrset.health_check or None,
                alias=core.Alias(
                    dns_name=alias.get("DNSName", ""),
                    hosted_zone_id=alias.get("HostedZoneId", ""),
                    evaluate_target_health=core.as_bool(alias.get("EvaluateTargetHealth")),
                )
                if isinstance(alias, dict)
                else None,
            )
        )
    return out


def _vpc_cidrs(account_id: str) -> list[tuple[str, str]]:
    """(region, cidr) of every non-default VPC of the account in moto's EC2 (regions in use only)."""
    from moto.ec2.models import ec2_backends

    out = []
    for region, backend in list(dict.items(ec2_backends[account_id])):
        for vpc in list(backend.vpcs.values()):
            if getattr(vpc, "is_default", False):
                continue
            cidrs = [vpc.cidr_block] + [
                a.get("cidr_block")
                for a in vpc.cidr_block_association_set or []
                if (a.get("cidr_block_state") or {}).get("state", "associated") == "associated"
            ]
            for cidr in dict.fromkeys(cidrs):
                if cidr:
                    out.append((region, cidr))
    return out


def _nameserver(zone) -> str:
    for rrset in zone.rrsets:
        if rrset.type_ == "NS" and rrset.records:
            return str(rrset.records[0]).rstrip(".")
    return "ns-2048.awsdns-64.com"


def test_dns_answer(self, context, hosted_zone_id, record_name, record_type, resolver_ip=None, **kwargs):
    from localstack.aws.api.route53 import InvalidInput, NoSuchHostedZone
    from moto.route53.models import route53_backends

    from relay_emulator import elb_frontend

    backend = route53_backends[context.account_id][context.partition]
    zone = backend.zones.get(hosted_zone_id.rsplit("/", 1)[-1])
    if zone is None:
        raise NoSuchHostedZone(f"No hosted zone found with ID: {hosted_zone_id}")
    resolver = core.Resolver(
        zone.name,
        zone.id,
        _records(zone),
        check_healthy=lambda check_id: EVALUATOR.healthy(context.account_id, check_id),
        lb_healthy=elb_frontend.lb_has_healthy_target,
        region=core.resolver_region(resolver_ip, _vpc_cidrs(context.account_id))
        if resolver_ip
        else core.DEFAULT_RESOLVER_REGION,
    )
    try:
        answer = resolver.answer(record_name, record_type)
    except core.RoutingNotEmulated as e:
        raise InvalidInput(f"TestDNSAnswer: {e}") from e
    return {
        "Nameserver": _nameserver(zone),
        "RecordName": record_name,
        "RecordType": record_type,
        "RecordData": answer.data,
        "ResponseCode": answer.rcode,
        "Protocol": "UDP",
    }


# --------------------------------------------------------------------------- install

_INSTALLED = False


def install() -> None:
    """Patch LocalStack's Route 53 provider class and moto's backend (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from localstack.services.route53.provider import Route53Provider
    from localstack.utils.patch import Patch, Patches
    from moto.route53.models import Route53Backend

    def create_health_check(original, self, *args, **kwargs):
        check = original(self, *args, **kwargs)
        EVALUATOR.ensure_running()
        return check

    patches = Patches(
        [
            Patch(Route53Provider, "get_health_check", get_health_check),
            Patch(Route53Provider, "get_health_check_status", get_health_check_status),
            Patch(Route53Provider, "get_health_check_last_failure_reason", get_health_check_last_failure_reason),
            Patch(Route53Provider, "test_dns_answer", test_dns_answer),
        ]
    )
    patches.function(Route53Backend.create_health_check, create_health_check)
    patches.apply()
    _INSTALLED = True
    LOG.info("relay Route 53 health checks and TestDNSAnswer installed")
