"""Route 53 decisions without a server: health-check thresholds and statuses, and DNS answers.

Standard library only. ``route53_health.py`` feeds it moto's health checks and record sets and
the probes' results; everything here is deterministic given its inputs (a ``random.Random`` picks
among weighted records).

* **Thresholds** (``CheckState``): a new check is healthy; it turns unhealthy after
  ``FailureThreshold`` consecutive failed probes and healthy again after ``FailureThreshold``
  consecutive successes (AWS's rule, the same threshold both ways).
* **Status** (``effective_status``): ``Disabled`` is always healthy (AWS: "Route 53 considers the
  status of the health check to always be healthy"), otherwise the measured status, ``Inverted``
  flipping it; ``CALCULATED`` is healthy when at least ``HealthThreshold`` children are.
* **Answers** (``Resolver``): TestDNSAnswer over one zone's record sets: simple, weighted,
  latency, failover and multivalue routing, aliases to records of the zone (recursively, depth
  limited) and to load balancers, AWS's "if every record of a group is unhealthy, consider them
  all healthy" rule, NXDOMAIN / NOERROR-without-data.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

HEALTHY, UNHEALTHY = True, False

PROBED_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP")
STR_MATCH_BYTES = 5120  # AWS searches the first 5,120 bytes of the body
DEFAULT_CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
MAX_ALIAS_DEPTH = 8
MAX_MULTIVALUE = 8
DEFAULT_RESOLVER_REGION = "us-east-1"

# --------------------------------------------------------------------------- values from moto


def as_bool(value, default: bool = False) -> bool:
    """moto keeps request values as they came in XML: "true"/"false" strings, or bools."""
    if value is None or value == []:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def as_int(value, default: int | None = None) -> int | None:
    if value is None or value == [] or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------- thresholds


@dataclass
class CheckState:
    """The measured status of one probed health check (before Inverted / Disabled)."""

    healthy: bool = True
    successes: int = 0  # consecutive, while unhealthy
    failures: int = 0  # consecutive, while healthy
    probes: int = 0

    def observe(self, success: bool, failure_threshold: int) -> bool:
        """Record one probe; returns the (possibly changed) measured status."""
        threshold = max(1, failure_threshold)
        self.probes += 1
        if success:
            self.failures = 0
            if not self.healthy:
                self.successes += 1
                if self.successes >= threshold:
                    self.healthy, self.successes = True, 0
        else:
            self.successes = 0
            if self.healthy:
                self.failures += 1
                if self.failures >= threshold:
                    self.healthy, self.failures = False, 0
        return self.healthy


def effective_status(measured: bool, inverted: bool, disabled: bool) -> bool:
    """What Route 53 routes by: Disabled -> healthy; Inverted flips the measured status."""
    if disabled:
        return True
    return (not measured) if inverted else measured


def calculated_status(children: list[bool], health_threshold: int | None) -> bool:
    """A CALCULATED check: healthy when at least HealthThreshold children are (0: always)."""
    threshold = health_threshold if health_threshold is not None else len(children)
    return sum(1 for c in children if c) >= threshold


# --------------------------------------------------------------------------- probe outcome


def http_success(status: int) -> bool:
    return 200 <= status < 400


def string_match(body: bytes, search: str) -> bool:
    return search.encode() in body[:STR_MATCH_BYTES]


def http_status_text(status: int, reason: str, search: str | None = None, matched: bool | None = None) -> str:
    """AWS's observation wording: ``Success: HTTP Status Code 200, OK`` / ``Failure: ...``."""
    reason = reason or ""
    if not http_success(status):
        return f"Failure: HTTP Status Code {status}, {reason}".rstrip(", ")
    if search is not None and not matched:
        return f"Failure: Response body does not contain the search string: {search}"
    return f"Success: HTTP Status Code {status}, {reason}".rstrip(", ")


def connect_failure_text(error: str) -> str:
    return (
        f"Failure: Connection failed ({error}). The endpoint or the internet connection is down, "
        "or requests are being blocked by your firewall."
    )


def timeout_text() -> str:
    return (
        "Failure: Connection timed out. The endpoint or the internet connection is down, "
        "or requests are being blocked by your firewall."
    )


TCP_SUCCESS = "Success: TCP connection established"


def probe_success(status_text: str) -> bool:
    return status_text.startswith("Success")


def probe_interval(request_interval, override: str | None) -> float:
    """Seconds between probes: the override (RELAY_HEALTH_CHECK_INTERVAL_SECONDS) or RequestInterval."""
    if override:
        try:
            value = float(override)
            if value > 0:
                return value
        except ValueError:
            pass
    return float(as_int(request_interval, 30) or 30)


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback if address else False
    except ValueError:
        return False


# --------------------------------------------------------------------------- regions

# approximate location (latitude, longitude) of each region: "closest" = great-circle distance
REGION_LOCATIONS: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4),
    "us-east-2": (40.0, -83.0),
    "us-west-1": (37.4, -122.0),
    "us-west-2": (45.8, -119.7),
    "ca-central-1": (45.5, -73.6),
    "ca-west-1": (51.0, -114.1),
    "mx-central-1": (20.6, -100.4),
    "sa-east-1": (-23.5, -46.6),
    "eu-west-1": (53.3, -6.3),
    "eu-west-2": (51.5, -0.1),
    "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7),
    "eu-central-2": (47.4, 8.5),
    "eu-north-1": (59.3, 18.1),
    "eu-south-1": (45.5, 9.2),
    "eu-south-2": (41.6, -0.9),
    "il-central-1": (32.1, 34.8),
    "me-central-1": (25.2, 55.3),
    "me-south-1": (26.1, 50.6),
    "af-south-1": (-33.9, 18.4),
    "ap-south-1": (19.1, 72.9),
    "ap-south-2": (17.4, 78.5),
    "ap-east-1": (22.3, 114.2),
    "ap-northeast-1": (35.7, 139.7),
    "ap-northeast-2": (37.6, 127.0),
    "ap-northeast-3": (34.7, 135.5),
    "ap-southeast-1": (1.3, 103.8),
    "ap-southeast-2": (-33.9, 151.2),
    "ap-southeast-3": (-6.2, 106.8),
    "ap-southeast-4": (-37.8, 145.0),
    "ap-southeast-5": (3.1, 101.7),
    "ap-southeast-7": (13.8, 100.5),
}


def region_distance(a: str, b: str) -> float:
    """Great-circle distance in km between two regions; unknown regions are infinitely far
    (except from themselves)."""
    if a == b:
        return 0.0
    if a not in REGION_LOCATIONS or b not in REGION_LOCATIONS:
        return math.inf
    (lat1, lon1), (lat2, lon2) = REGION_LOCATIONS[a], REGION_LOCATIONS[b]
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, c)))


def resolver_region(resolver_ip: str | None, vpcs: list[tuple[str, str]]) -> str:
    """The region of the VPC whose CIDR contains ``resolver_ip`` (``vpcs``: (region, cidr) of
    non-default VPCs); the most specific CIDR wins, ties by list order; else us-east-1."""
    if not resolver_ip:
        return DEFAULT_RESOLVER_REGION
    try:
        ip = ipaddress.ip_address(resolver_ip)
    except ValueError:
        return DEFAULT_RESOLVER_REGION
    best: tuple[int, str] | None = None
    for region, cidr in vpcs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if ip.version == net.version and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, region)
    return best[1] if best else DEFAULT_RESOLVER_REGION


# --------------------------------------------------------------------------- records and answers


def normalize_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def lb_dns_name(dns_name: str) -> str | None:
    """The load balancer DNS name an alias points at (``dualstack.`` dropped), None if it is not one."""
    name = normalize_name(dns_name)
    if not name.endswith(".elb.amazonaws.com"):
        return None
    return name[len("dualstack.") :] if name.startswith("dualstack.") else name


@dataclass
class Alias:
    dns_name: str
    hosted_zone_id: str = ""
    evaluate_target_health: bool = False


@dataclass
class Record:
    name: str
    type: str
    values: list[str] = field(default_factory=list)
    set_identifier: str | None = None
    weight: int | None = None
    region: str | None = None
    failover: str | None = None
    multivalue: bool = False
    geo: bool = False
    health_check_id: str | None = None
    alias: Alias | None = None

    @property
    def policy(self) -> str:
        if self.failover:
            return "failover"
        if self.region:
            return "latency"
        if self.weight is not None:
            return "weighted"
        if self.multivalue:
            return "multivalue"
        if self.geo:
            return "geolocation"
        return "simple"


@dataclass
class Answer:
    rcode: str
    data: list[str]
    healthy: bool = True  # the answer comes from healthy records (False: the all-unhealthy fallback)


class RoutingNotEmulated(Exception):
    """A routing policy the emulator does not evaluate (the caller answers an error)."""


class Resolver:
    """Answers like Route 53's authoritative servers for one hosted zone.

    ``check_healthy(id)`` is a health check's status, ``lb_healthy(dns_name)`` whether a load
    balancer has a healthy target (evaluated when asked), ``region`` the resolver's region.
    """

    def __init__(
        self,
        zone_name: str,
        zone_id: str,
        records: list[Record],
        check_healthy: Callable[[str], bool],
        lb_healthy: Callable[[str], bool],
        region: str = DEFAULT_RESOLVER_REGION,
        rng: random.Random | None = None,
    ):
        self.zone = normalize_name(zone_name)
        self.zone_id = zone_id.rsplit("/", 1)[-1]
        self.records = records
        self.check_healthy = check_healthy
        self.lb_healthy = lb_healthy
        self.region = region
        self.rng = rng or random.Random()  # noqa: S311 - weighted routing choice, not a secret

    # -- lookups

    def _named(self, name: str) -> list[Record]:
        exact = [r for r in self.records if normalize_name(r.name) == name]
        if exact:
            return exact
        # wildcard: the closest enclosing *.<suffix> inside the zone
        labels = name.split(".")
        for i in range(1, len(labels)):
            suffix = ".".join(labels[i:])
            if not (suffix == self.zone or suffix.endswith("." + self.zone)):
                break
            wild = [r for r in self.records if normalize_name(r.name) == "*." + suffix]
            if wild:
                return wild
        return []

    def in_zone(self, name: str) -> bool:
        name = normalize_name(name)
        return name == self.zone or name.endswith("." + self.zone)

    # -- health of one record

    def record_healthy(self, record: Record, depth: int = 0) -> bool:
        if record.health_check_id and not self.check_healthy(record.health_check_id):
            return False
        if record.alias and record.alias.evaluate_target_health:
            return self.alias_target_healthy(record.alias, record.type, depth)
        return True

    def alias_target_healthy(self, alias: Alias, rtype: str, depth: int = 0) -> bool:
        lb = lb_dns_name(alias.dns_name)
        if lb is not None:
            return self.lb_healthy(lb)
        if self._same_zone(alias):
            if depth >= MAX_ALIAS_DEPTH:
                return False
            answer = self.answer(alias.dns_name, rtype, depth + 1)
            return answer.healthy and bool(answer.data)
        return True  # CloudFront, S3 websites, API Gateway...: Route 53 does not evaluate them

    def _same_zone(self, alias: Alias) -> bool:
        zone_id = (alias.hosted_zone_id or "").rsplit("/", 1)[-1]
        return (not zone_id or zone_id == self.zone_id) and self.in_zone(alias.dns_name)

    # -- data of one record

    def record_data(self, record: Record, depth: int) -> list[str]:
        if record.alias is None:
            return list(record.values)
        lb = lb_dns_name(record.alias.dns_name)
        if lb is not None:
            return [lb]  # the emulator has no addresses for load balancers: their DNS name
        if self._same_zone(record.alias):
            if depth >= MAX_ALIAS_DEPTH:
                return []
            return self.answer(record.alias.dns_name, record.type, depth + 1).data
        return [normalize_name(record.alias.dns_name)]

    # -- the answer

    def answer(self, name: str, rtype: str, depth: int = 0) -> Answer:
        name, rtype = normalize_name(name), rtype.upper()
        named = self._named(name)
        if not named:
            return Answer("NXDOMAIN", [])
        typed = [r for r in named if r.type.upper() == rtype]
        if not typed:
            cname = [r for r in named if r.type.upper() == "CNAME"]
            if cname and rtype != "CNAME":
                typed = cname
            else:
                return Answer("NOERROR", [])
        chosen, healthy = self.select(typed, depth)
        data: list[str] = []
        for record in chosen:
            for value in self.record_data(record, depth):
                if value not in data:
                    data.append(value)
        return Answer("NOERROR", data, healthy)

    def select(self, records: list[Record], depth: int) -> tuple[list[Record], bool]:
        """The records answered and whether they are healthy ones."""
        policies = {r.policy for r in records}
        if len(policies) > 1:
            raise RoutingNotEmulated(f"records of mixed routing policies {sorted(policies)} for one name and type")
        policy = policies.pop()
        if policy == "simple":
            # simple routing: no health checks; with several (invalid in AWS) answer them all
            healthy = all(self.record_healthy(r, depth) for r in records) if depth else True
            return records, healthy
        if policy == "geolocation":
            raise RoutingNotEmulated("geolocation routing is not evaluated by the emulator")
        status = [(r, self.record_healthy(r, depth)) for r in records]
        good = [r for r, ok in status if ok]
        all_healthy_fallback = not good
        pool = good or records  # AWS: if no record of the group is healthy, consider all healthy
        if policy == "failover":
            return self._failover(pool, status, all_healthy_fallback)
        if policy == "weighted":
            return [self._weighted(pool, records, status)], not all_healthy_fallback
        if policy == "latency":
            return [self._latency(pool)], not all_healthy_fallback
        return pool[:MAX_MULTIVALUE], not all_healthy_fallback  # multivalue

    def _failover(self, pool, status, fallback):
        by_role = {r.failover.upper(): (r, ok) for r, ok in status}
        primary, secondary = by_role.get("PRIMARY"), by_role.get("SECONDARY")
        if primary and primary[1]:
            return [primary[0]], True
        if secondary and secondary[1]:
            return [secondary[0]], True
        # both unhealthy: Route 53 answers the primary
        chosen = primary or secondary
        return [chosen[0]], False

    def _weighted(self, pool: list[Record], records, status) -> Record:
        # nonzero weights first; zero-weighted records only when every nonzero one is unhealthy
        nonzero = [r for r in pool if (r.weight or 0) > 0]
        if nonzero:
            total = sum(r.weight for r in nonzero)
            pick = self.rng.uniform(0, total)
            for r in nonzero:
                pick -= r.weight
                if pick <= 0:
                    return r
            return nonzero[-1]
        return self.rng.choice(pool)

    def _latency(self, pool: list[Record]) -> Record:
        return min(pool, key=lambda r: (region_distance(self.region, r.region or ""), r.region or ""))
