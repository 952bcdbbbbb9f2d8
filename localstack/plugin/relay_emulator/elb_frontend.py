"""The load balancers' own HTTP answer: a gateway route for ``Host: <load balancer DNS name>``.

Load balancers of the emulator (moto's ELBv2, served by ``elbv2.py``) have DNS names such as
``relay-app-1.eu-west-1.elb.amazonaws.com`` that resolve nowhere. A request to the emulator's
gateway with such a ``Host`` header (any path, any method) is answered like an ALB's front end
would answer a client, from the load balancer's target health:

* no load balancer with that DNS name: ``404`` (text);
* no healthy target (no target group, none registered, all unhealthy): ``503`` with a short text
  body, as an ALB answers when no target can serve;
* otherwise ``200`` with JSON ``{"loadBalancer", "loadBalancerArn", "region", "path",
  "healthyTargets": [{"TargetGroupArn", "Id", "Port"}]}``.

Nothing is forwarded to the targets (there is no instance process to forward to). So
``curl -H 'Host: <lb dns>' http://127.0.0.1:4566/healthz`` works, and Route 53 health checks on a
load balancer's name follow its targets (``route53_health.py`` probes through this route).
"""

from __future__ import annotations

import json
import logging

from relay_emulator import faults
from relay_emulator.core.route53_routing import lb_dns_name

LOG = logging.getLogger("relay_emulator.elb_frontend")

HOST_PATTERN = "<regex('[A-Za-z0-9.-]+'):lb_host>.elb.amazonaws.com<regex('(:[0-9]+)?'):port>"
_RULES: list = []


def find_load_balancer(dns_name: str):
    """``(account_id, region, load_balancer)`` of moto's ELBv2 for a DNS name, or None."""
    from moto.elbv2.models import elbv2_backends

    name = lb_dns_name(dns_name)
    if name is None:
        return None
    labels = name.split(".")
    region = labels[-4] if len(labels) >= 5 else None
    for account_id, regions in list(dict.items(elbv2_backends)):
        for region_name, backend in list(dict.items(regions)):
            if region is not None and region_name != region:
                continue
            for lb in list(backend.load_balancers.values()):
                if (lb.dns_name or "").lower().rstrip(".") == name:
                    return account_id, region_name, lb
    return None


def healthy_targets(account_id: str, region: str, arn: str) -> list[dict]:
    from relay_emulator import elbv2

    return elbv2.healthy_targets(account_id, region, arn)


def lb_has_healthy_target(dns_name: str) -> bool:
    """Route 53's alias target health for a load balancer: at least one healthy target."""
    found = find_load_balancer(dns_name)
    if found is None:
        return False
    account_id, region, lb = found
    if faults.is_down(region):  # a region taken down (faults.py) serves nothing
        return False
    return bool(healthy_targets(account_id, region, lb.arn))


def answer(host: str, path: str):
    """The front end's answer for a request to ``host`` (status, content type, body)."""
    host = host.split(":", 1)[0]
    found = find_load_balancer(host)
    if found is None:
        return 404, "text/plain", f"no load balancer named {host} in the emulator\n"
    account_id, region, lb = found
    if faults.is_down(region):
        return 503, "text/plain", f"503 Service Unavailable: {lb.name}'s region {region} is down (injected fault)\n"
    targets = healthy_targets(account_id, region, lb.arn)
    if not targets:
        return 503, "text/plain", f"503 Service Temporarily Unavailable: {lb.name} has no healthy target\n"
    body = {
        "loadBalancer": lb.name,
        "loadBalancerArn": lb.arn,
        "region": region,
        "path": path,
        "healthyTargets": targets,
    }
    return 200, "application/json", json.dumps(body)


def _endpoint(request, **kwargs):
    from localstack.http import Response

    try:
        status, content_type, body = answer(request.host, request.path)
    except Exception as e:  # answer as a broken front end would, and say why
        LOG.exception("load balancer front end failed for %s", request.host)
        status, content_type, body = 502, "text/plain", f"502 Bad Gateway: {e}\n"
    return Response(body, status=status, mimetype=content_type)


def register() -> None:
    """Add the routes to LocalStack's edge router (before any AWS service parsing)."""
    if _RULES:
        return
    from localstack.services.edge import ROUTER

    _RULES.append(ROUTER.add("/", endpoint=_endpoint, host=HOST_PATTERN))
    _RULES.append(ROUTER.add("/<greedy_path:path>", endpoint=_endpoint, host=HOST_PATTERN))
    LOG.info("load balancer front ends answer on Host: *.elb.amazonaws.com")
