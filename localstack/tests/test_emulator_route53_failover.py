"""Route 53 that fails over, on the emulator (relay_emulator.route53_health, elb_frontend).

A local HTTP server on 127.0.0.1 is a health check's endpoint: healthy while it serves, unhealthy
FailureThreshold probes after it stops (the launcher probes every second), and a failover record
answers the SECONDARY until it serves again. Also: status strings, Inverted / Disabled /
CALCULATED / TCP checks, weighted and latency (ResolverIP inside a VPC's CIDR) routing, and alias
records to load balancers with EvaluateTargetHealth following their targets (register /
deregister), the load balancer's own HTTP answer through the gateway, and a health check on a
load balancer's DNS name. ``test_failover_time`` prints the p50 of endpoint-down -> answer changed.
"""

from __future__ import annotations

import http.server
import json
import random
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from emulator_helpers import ENDPOINT, HOME, TARGET_A, client

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

PROBE_WAIT = 12  # seconds: generous for FailureThreshold x 1 s probes
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


class Endpoint:
    """A health-check endpoint on 127.0.0.1 that can stop and serve again on the same port."""

    def __init__(self, body: bytes = b"ok: ready"):
        self.body = body
        self.status = 200
        self.server = None
        self.port = 0
        self.start()

    def start(self):
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(endpoint.status)
                self.send_header("Content-Length", str(len(endpoint.body)))
                self.end_headers()
                self.wfile.write(endpoint.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def endpoint():
    e = Endpoint()
    yield e
    e.stop()


@pytest.fixture
def r53(emulator):
    return client("route53", HOME)


def _health_check(res, r53, **config) -> str:
    config.setdefault("RequestInterval", 10)
    config.setdefault("FailureThreshold", 1)
    check_id = r53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig=config)["HealthCheck"]["Id"]
    res.defer(r53.delete_health_check, HealthCheckId=check_id)
    return check_id


def _http_check(res, r53, endpoint, **config) -> str:
    return _health_check(
        res, r53, IPAddress="127.0.0.1", Port=endpoint.port, Type="HTTP", ResourcePath="/health", **config
    )


def _zone(res, r53) -> str:
    name = f"{res.uid}.relay.test"
    zone_id = r53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"].split("/")[-1]

    def delete():
        records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records if r["Type"] not in ("NS", "SOA")]
        if changes:
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
        r53.delete_hosted_zone(Id=zone_id)

    res.defer(delete)
    return zone_id


def _records(r53, zone_id: str, *records: dict) -> None:
    changes = [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})


def _a(name, value, **extra) -> dict:
    return {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}], **extra}


def _answer(r53, zone_id, name, rtype="A", **kwargs) -> list[str]:
    return r53.test_dns_answer(HostedZoneId=zone_id, RecordName=name, RecordType=rtype, **kwargs)["RecordData"]


def _wait_answer(r53, zone_id, name, expected, timeout=PROBE_WAIT, **kwargs):
    return wait_for(
        f"{name} answers {expected}",
        lambda: _answer(r53, zone_id, name, **kwargs) == expected,
        timeout=timeout,
        interval=0.1,
    )


def _status(r53, check_id) -> list[dict]:
    return r53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]


def _failover_zone(res, r53, check_id):
    zone_id = _zone(res, r53)
    name = f"www.{res.uid}.relay.test"
    _records(
        r53,
        zone_id,
        _a(name, "10.0.0.1", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=check_id),
        _a(name, "10.0.0.2", SetIdentifier="secondary", Failover="SECONDARY"),
    )
    return zone_id, name


# ---------------------------------------------------------------------------------- health checks


def test_health_check_probes_its_endpoint_and_failover_follows(res, r53, endpoint):
    check_id = _http_check(res, r53, endpoint, FailureThreshold=2)
    zone_id, name = _failover_zone(res, r53, check_id)
    assert _answer(r53, zone_id, name) == ["10.0.0.1"]  # a new check is healthy
    observations = wait_for("first probe", lambda: _status(r53, check_id), timeout=5, interval=0.1)
    assert {o["Region"] for o in observations} == {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    }
    assert observations[0]["StatusReport"]["Status"] == "Success: HTTP Status Code 200, OK"
    assert observations[0]["IPAddress"] == "127.0.0.1"

    endpoint.stop()
    _wait_answer(r53, zone_id, name, ["10.0.0.2"])
    status = _status(r53, check_id)[0]["StatusReport"]["Status"]
    assert status.startswith("Failure: Connection failed"), status
    reason = r53.get_health_check_last_failure_reason(HealthCheckId=check_id)["HealthCheckObservations"]
    assert reason and reason[0]["StatusReport"]["Status"].startswith("Failure")

    endpoint.start()  # same port
    _wait_answer(r53, zone_id, name, ["10.0.0.1"])


def test_http_status_and_search_string(res, r53, endpoint):
    plain = _http_check(res, r53, endpoint)
    match = _health_check(
        res,
        r53,
        IPAddress="127.0.0.1",
        Port=endpoint.port,
        Type="HTTP_STR_MATCH",
        ResourcePath="/",
        SearchString="ready",
    )
    endpoint.status = 503
    wait_for(
        "503 observed",
        lambda: (
            (_status(r53, plain) or [{}])[0]
            .get("StatusReport", {})
            .get("Status", "")
            .startswith("Failure: HTTP Status Code 503")
        ),
        timeout=PROBE_WAIT,
        interval=0.1,
    )
    endpoint.status, endpoint.body = 200, b"starting"
    wait_for(
        "no match observed",
        lambda: "search string" in (_status(r53, match) or [{}])[0].get("StatusReport", {}).get("Status", ""),
        timeout=PROBE_WAIT,
        interval=0.1,
    )


def test_tcp_inverted_disabled_and_calculated(res, r53, endpoint):
    tcp = _health_check(
        res,
        r53,
        IPAddress="127.0.0.1",
        Port=endpoint.port,
        Type="TCP",
        Regions=["eu-west-1", "us-east-1", "ap-southeast-1"],
    )
    inverted = _http_check(res, r53, endpoint, Inverted=True)
    disabled = _http_check(res, r53, endpoint, Disabled=True)
    calculated = _health_check(
        res, r53, Type="CALCULATED", HealthThreshold=2, ChildHealthChecks=[tcp, inverted, disabled]
    )
    zone_id = _zone(res, r53)
    names = {}
    for label, check_id in (("tcp", tcp), ("inv", inverted), ("dis", disabled), ("calc", calculated)):
        names[label] = f"{label}.{res.uid}.relay.test"
        _records(
            r53,
            zone_id,
            _a(names[label], "10.0.0.1", SetIdentifier="p", Failover="PRIMARY", HealthCheckId=check_id),
            _a(names[label], "10.0.0.2", SetIdentifier="s", Failover="SECONDARY"),
        )

    observed = wait_for("tcp probe", lambda: _status(r53, tcp), timeout=5, interval=0.1)
    assert sorted(o["Region"] for o in observed) == ["ap-southeast-1", "eu-west-1", "us-east-1"]
    assert observed[0]["StatusReport"]["Status"] == "Success: TCP connection established"
    _wait_answer(r53, zone_id, names["inv"], ["10.0.0.2"])  # serving -> inverted unhealthy
    assert _answer(r53, zone_id, names["tcp"]) == ["10.0.0.1"]
    assert _answer(r53, zone_id, names["dis"]) == ["10.0.0.1"]
    assert _answer(r53, zone_id, names["calc"]) == ["10.0.0.1"]  # tcp + disabled healthy: 2 of 3
    assert _status(r53, calculated)[0]["StatusReport"]["Status"].startswith("Success: 2 of 3")

    endpoint.stop()
    _wait_answer(r53, zone_id, names["tcp"], ["10.0.0.2"])
    _wait_answer(r53, zone_id, names["inv"], ["10.0.0.1"])
    assert _answer(r53, zone_id, names["dis"]) == ["10.0.0.1"]  # disabled: always healthy
    assert _answer(r53, zone_id, names["calc"]) == ["10.0.0.1"]  # inverted + disabled: still 2 of 3


def test_unknown_health_check_and_zone(r53):
    with pytest.raises(r53.exceptions.NoSuchHealthCheck):
        r53.get_health_check_status(HealthCheckId=str(uuid.uuid4()))
    with pytest.raises(r53.exceptions.NoSuchHostedZone):
        r53.test_dns_answer(HostedZoneId="ZNOTTHERE", RecordName="x.example.com", RecordType="A")


# ---------------------------------------------------------------------------------- routing


def test_answers_nxdomain_noerror_and_weighted(res, r53, endpoint):
    check_id = _http_check(res, r53, endpoint)
    zone_id = _zone(res, r53)
    name = f"w.{res.uid}.relay.test"
    _records(
        r53,
        zone_id,
        _a(name, "10.0.1.1", SetIdentifier="heavy", Weight=3, HealthCheckId=check_id),
        _a(name, "10.0.1.2", SetIdentifier="light", Weight=1, HealthCheckId=check_id),
        _a(name, "10.0.1.9", SetIdentifier="zero", Weight=0),
    )
    response = r53.test_dns_answer(HostedZoneId=zone_id, RecordName=name, RecordType="A")
    assert (response["ResponseCode"], response["Protocol"], response["RecordName"], response["RecordType"]) == (
        "NOERROR",
        "UDP",
        name,
        "A",
    )
    assert response["Nameserver"]
    seen = {_answer(r53, zone_id, name)[0] for _ in range(40)}
    assert seen == {"10.0.1.1", "10.0.1.2"}  # weight 0 only when every weighted record is unhealthy
    assert (
        r53.test_dns_answer(HostedZoneId=zone_id, RecordName=f"nope.{res.uid}.relay.test", RecordType="A")[
            "ResponseCode"
        ]
        == "NXDOMAIN"
    )
    empty = r53.test_dns_answer(HostedZoneId=zone_id, RecordName=name, RecordType="AAAA")
    assert (empty["ResponseCode"], empty["RecordData"]) == ("NOERROR", [])
    endpoint.stop()
    _wait_answer(r53, zone_id, name, ["10.0.1.9"])


def _vpc(res, region, cidr) -> str:
    ec2 = client("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    res.defer(ec2.delete_vpc, VpcId=vpc_id)
    return vpc_id


def test_latency_by_resolver_ip_in_a_vpc(res, r53, endpoint):
    second = random.randint(100, 250)  # noqa: S311 - a CIDR octet, not a secret
    _vpc(res, HOME, f"10.{second}.0.0/16")
    _vpc(res, TARGET_A, f"172.{16 + second % 16}.{second}.0/24")
    check_id = _http_check(res, r53, endpoint)
    zone_id = _zone(res, r53)
    name = f"api.{res.uid}.relay.test"
    _records(
        r53,
        zone_id,
        _a(name, "10.9.0.1", SetIdentifier=HOME, Region=HOME, HealthCheckId=check_id),
        _a(name, "10.9.0.2", SetIdentifier=TARGET_A, Region=TARGET_A),
        _a(name, "10.9.0.3", SetIdentifier="us-east-1", Region="us-east-1"),
    )
    assert _answer(r53, zone_id, name, ResolverIP=f"10.{second}.3.4") == ["10.9.0.1"]
    assert _answer(r53, zone_id, name, ResolverIP=f"172.{16 + second % 16}.{second}.9") == ["10.9.0.2"]
    assert _answer(r53, zone_id, name, ResolverIP="192.0.2.1") == ["10.9.0.3"]  # no VPC: us-east-1
    assert _answer(r53, zone_id, name) == ["10.9.0.3"]
    endpoint.stop()
    _wait_answer(r53, zone_id, name, ["10.9.0.2"], ResolverIP=f"10.{second}.3.4")  # next closest: eu-south-2


# ---------------------------------------------------------------------------------- load balancers


def _alb(res, region: str, second: int):
    """An ALB with an HTTP listener forwarding to a target group of two running instances."""
    ec2, elb = client("ec2", region), client("elbv2", region)
    vpc_id = _vpc(res, region, f"10.{second}.0.0/16")
    subnets = []
    for i, az in enumerate(("a", "b")):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{second}.{i}.0/24", AvailabilityZone=region + az)
        subnets.append(subnet["Subnet"]["SubnetId"])
        res.defer(ec2.delete_subnet, SubnetId=subnets[-1])
    name = f"r53-{res.uid}-{region.split('-')[1]}"[:32]
    lb = elb.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]
    res.defer(elb.delete_load_balancer, LoadBalancerArn=lb["LoadBalancerArn"])
    tg = elb.create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="instance", HealthCheckPath="/healthz"
    )["TargetGroups"][0]
    res.defer(elb.delete_target_group, TargetGroupArn=tg["TargetGroupArn"])
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Listeners"][0]
    res.defer(elb.delete_listener, ListenerArn=listener["ListenerArn"])
    image = client("ssm", region).get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instances = ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=subnets[0])["Instances"]
    ids = [i["InstanceId"] for i in instances]
    res.defer(ec2.terminate_instances, InstanceIds=ids)
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": i} for i in ids])
    return {
        "elb": elb,
        "dns": lb["DNSName"],
        "zone": lb["CanonicalHostedZoneId"],
        "tg": tg["TargetGroupArn"],
        "ids": ids,
    }


def _front_end(dns: str, path: str = "/healthz"):
    request = urllib.request.Request(ENDPOINT + path, headers={"Host": dns})  # noqa: S310 - http endpoint
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http endpoint
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_alias_to_load_balancers_follows_target_health(res, r53):
    second = random.randint(100, 250)  # noqa: S311 - a CIDR octet, not a secret
    primary, secondary = _alb(res, HOME, second), _alb(res, TARGET_A, second)
    status, body = _front_end(primary["dns"])
    assert status == 200 and b'"healthyTargets"' in body and HOME.encode() in body

    # a health check on the load balancer's name probes its front end through the gateway
    lb_check = _health_check(
        res, r53, FullyQualifiedDomainName=primary["dns"], Port=80, Type="HTTP", ResourcePath="/healthz"
    )
    zone_id = _zone(res, r53)
    name, checked = f"app.{res.uid}.relay.test", f"checked.{res.uid}.relay.test"

    def alias(lb, **extra):
        target = {"DNSName": lb["dns"], "HostedZoneId": lb["zone"], "EvaluateTargetHealth": True}
        return {"Name": name, "Type": "A", "AliasTarget": target, **extra}

    _records(
        r53,
        zone_id,
        alias(primary, SetIdentifier="primary", Failover="PRIMARY"),
        alias(secondary, SetIdentifier="secondary", Failover="SECONDARY"),
        _a(checked, "10.0.0.1", SetIdentifier="p", Failover="PRIMARY", HealthCheckId=lb_check),
        _a(checked, "10.0.0.2", SetIdentifier="s", Failover="SECONDARY"),
    )
    assert _answer(r53, zone_id, name) == [primary["dns"].lower()]
    wait_for("probe of the load balancer", lambda: _status(r53, lb_check), timeout=5, interval=0.1)
    assert _status(r53, lb_check)[0]["StatusReport"]["Status"] == "Success: HTTP Status Code 200, OK"

    primary["elb"].deregister_targets(TargetGroupArn=primary["tg"], Targets=[{"Id": i} for i in primary["ids"]])
    assert _answer(r53, zone_id, name) == [secondary["dns"].lower()]  # evaluated when asked
    assert _front_end(primary["dns"])[0] == 503
    _wait_answer(r53, zone_id, checked, ["10.0.0.2"])
    assert _status(r53, lb_check)[0]["StatusReport"]["Status"].startswith("Failure: HTTP Status Code 503")

    primary["elb"].register_targets(TargetGroupArn=primary["tg"], Targets=[{"Id": i} for i in primary["ids"]])
    assert _answer(r53, zone_id, name) == [primary["dns"].lower()]
    _wait_answer(r53, zone_id, checked, ["10.0.0.1"])
    assert _front_end("nothing-1.eu-west-1.elb.amazonaws.com")[0] == 404


# ---------------------------------------------------------------------------------- measure


def test_every_failover_record_answers_its_secondary_once_its_endpoint_stops(res, r53):
    """Endpoints stopped together, FailureThreshold 1: each zone's answer moves to SECONDARY (each check probes
    at its own phase). How long that takes is measured by `relay app-bench`, not asserted here."""
    endpoints = [Endpoint() for _ in range(5)]
    try:
        zones = [_failover_zone(res, r53, _http_check(res, r53, e)) for e in endpoints]
        for zone_id, name in zones:
            wait_for("primary", lambda z=zone_id, n=name: _answer(r53, z, n) == ["10.0.0.1"], timeout=5)
        for e in endpoints:
            e.stop()
        for zone_id, name in zones:
            wait_for("secondary", lambda z=zone_id, n=name: _answer(r53, z, n) == ["10.0.0.2"], timeout=PROBE_WAIT)
    finally:
        for e in endpoints:
            e.stop()


# ---------------------------------------------------------------------------------- CloudFormation


def test_cloudformation_zone_health_check_and_failover_records(res, endpoint):
    """AWS::Route53::HostedZone (the plugin's provider) with LocalStack's HealthCheck and RecordSet."""
    zone = {"Ref": "Zone"}
    name = f"www.{res.uid}.cfn.test"

    def record(value, role, **extra):
        return {
            "Type": "AWS::Route53::RecordSet",
            "Properties": {"HostedZoneId": zone, "Name": name, "Type": "A", "TTL": "60", "ResourceRecords": [value]}
            | {"SetIdentifier": role, "Failover": role.upper()}
            | extra,
        }

    config = {
        "IPAddress": "127.0.0.1",
        "Port": endpoint.port,
        "Type": "HTTP",
        "ResourcePath": "/",
        "FailureThreshold": 1,
    }
    template = {
        "Resources": {
            "Zone": {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": f"{res.uid}.cfn.test"}},
            "Check": {"Type": "AWS::Route53::HealthCheck", "Properties": {"HealthCheckConfig": config}},
            "Primary": record("10.0.0.1", "primary", HealthCheckId={"Ref": "Check"}),
            "Secondary": record("10.0.0.2", "secondary"),
        },
        "Outputs": {
            "ZoneId": {"Value": zone},
            "NameServers": {"Value": {"Fn::Join": [",", {"Fn::GetAtt": ["Zone", "NameServers"]}]}},
        },
    }
    cfn, r53 = client("cloudformation", HOME), client("route53", HOME)
    stack = res.name("r53")
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    res.defer(cfn.delete_stack, StackName=stack)
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    zone_id = outputs["ZoneId"]
    assert r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == f"{res.uid}.cfn.test."
    assert outputs["NameServers"].startswith("ns-")
    assert _answer(r53, zone_id, name) == ["10.0.0.1"]
    endpoint.stop()
    _wait_answer(r53, zone_id, name, ["10.0.0.2"])
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    with pytest.raises(r53.exceptions.NoSuchHostedZone):
        r53.get_hosted_zone(Id=zone_id)


# ---------------------------------------------------------------------------------- record sets sharing a name


def test_latency_records_of_one_name_are_deleted_and_created_again_one_by_one(res, r53):
    """Moving a region from one latency set to another and back (what promoting a standby region does): deleting
    one record set of a name deletes that one only, and it can be created again; an exact duplicate is refused."""
    zone_id = _zone(res, r53)
    zone = r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]

    def record(name: str, region: str) -> dict:
        return {
            "Name": f"{name}.{zone}",
            "Type": "A",
            "SetIdentifier": region,
            "Region": region,
            "AliasTarget": {
                "HostedZoneId": "Z2P70J7EXAMPLE",
                "DNSName": f"app-1.{region}.elb.amazonaws.com",
                "EvaluateTargetHealth": True,
            },
        }

    def change(action: str, rrset: dict) -> None:
        r53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]}
        )

    def latency_sets() -> set[tuple[str, str]]:
        sets = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return {(s["Name"].split(".")[0], s["SetIdentifier"]) for s in sets if "SetIdentifier" in s}

    for name, region in (("active", "eu-central-1"), ("active", "eu-south-2"), ("standby", "eu-central-1")):
        change("CREATE", record(name, region))
    change("DELETE", record("active", "eu-central-1"))
    assert latency_sets() == {("active", "eu-south-2"), ("standby", "eu-central-1")}
    change("CREATE", record("active", "eu-central-1"))
    assert latency_sets() == {("active", "eu-central-1"), ("active", "eu-south-2"), ("standby", "eu-central-1")}
    with pytest.raises(r53.exceptions.InvalidChangeBatch, match="already exists"):
        change("CREATE", record("active", "eu-south-2"))
    with pytest.raises(r53.exceptions.InvalidChangeBatch, match="not found"):
        change("DELETE", record("standby", "eu-south-2"))
