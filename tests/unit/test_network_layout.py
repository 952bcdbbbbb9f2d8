"""The regional network: the subnet layout (pure), and the Network, TransitGateway and TransitGatewayPeering
modules synthesized once into a small stack of their own (three regions' worth of settings) and read as JSON."""

from __future__ import annotations

import ipaddress
import json

import pytest

from modules import policy_checks
from modules.cdk_seam import aws, cdk
from modules.network import Network, NetworkProps, service_name, subnet_layout
from modules.transit_gateway import (
    TransitGateway,
    TransitGatewayPeering,
    TransitGatewayPeeringProps,
    TransitGatewayProps,
)

ACCOUNT = "111122223333"
REGION = "eu-west-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/network-test"
PEER_CIDRS = ("10.20.0.0/16", "10.30.0.0/16")

# --- subnet_layout -------------------------------------------------------------------------------------


def test_a_16_splits_into_20s_public_app_and_data_blocks_per_az():
    assert subnet_layout("10.10.0.0/16", 3) == {
        "public": ("10.10.0.0/20", "10.10.16.0/20", "10.10.32.0/20"),
        "app": ("10.10.64.0/20", "10.10.80.0/20", "10.10.96.0/20"),
        "data": ("10.10.128.0/20", "10.10.144.0/20", "10.10.160.0/20"),
    }


def test_a_24_splits_into_28s():
    assert subnet_layout("192.168.7.0/24", 2) == {
        "public": ("192.168.7.0/28", "192.168.7.16/28"),
        "app": ("192.168.7.64/28", "192.168.7.80/28"),
        "data": ("192.168.7.128/28", "192.168.7.144/28"),
    }


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "100.64.0.0/20", "10.1.2.0/24"])
@pytest.mark.parametrize("az_count", [1, 2, 3, 4])
def test_subnets_lie_inside_the_vpc_never_overlap_and_leave_the_last_quarter_spare(cidr, az_count):
    vpc = ipaddress.ip_network(cidr)
    subnets = [ipaddress.ip_network(s) for tier in subnet_layout(cidr, az_count).values() for s in tier]
    assert len(subnets) == 3 * az_count
    assert all(s.subnet_of(vpc) and s.prefixlen == vpc.prefixlen + 4 for s in subnets)
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])
    spare = list(vpc.subnets(prefixlen_diff=2))[3]
    assert not any(s.overlaps(spare) for s in subnets)


def test_adding_an_az_keeps_every_existing_subnet():
    two, three = subnet_layout("10.10.0.0/16", 2), subnet_layout("10.10.0.0/16", 3)
    assert all(three[tier][:2] == two[tier] for tier in two)


@pytest.mark.parametrize(
    ("cidr", "az_count", "message"),
    [
        ("10.0.0.0/15", 2, "from /16 to /24"),
        ("10.0.0.0/25", 2, "from /16 to /24"),
        ("fd00::/56", 2, "IPv4"),
        ("10.0.0.1/16", 2, "host bits"),
        ("10.0.0.0/16", 0, "az_count 0"),
        ("10.0.0.0/16", 5, "az_count 5"),
    ],
)
def test_a_layout_outside_the_rules_is_refused(cidr, az_count, message):
    with pytest.raises(ValueError, match=message):
        subnet_layout(cidr, az_count)


@pytest.mark.parametrize(
    ("service", "suffix", "expected"),
    [
        ("s3", "amazonaws.com", "com.amazonaws.eu-west-1.s3"),
        ("ecr.dkr", "amazonaws.com", "com.amazonaws.eu-west-1.ecr.dkr"),
        ("s3", "amazonaws.com.cn", "cn.com.amazonaws.eu-west-1.s3"),
    ],
)
def test_endpoint_service_names_reverse_the_dns_suffix(service, suffix, expected):
    assert service_name(service, REGION, suffix) == expected


# --- the modules, synthesized once -----------------------------------------------------------------------


def network_props(name: str, **changes) -> NetworkProps:
    settings = {
        "name": name,
        "cidr": "10.10.0.0/16",
        "az_count": 3,
        "nat": "per_az",
        "flow_logs_key_arn": KEY,
        "flow_log_group_name": f"/relay/test/flow-logs/{name}",
        "flow_log_role_name": f"relay-test-flow-logs-{name}",
        "region": REGION,
        "account_id": ACCOUNT,
        **changes,
    }
    return NetworkProps(**settings)


NETWORKS = {
    "per-az": {"interface_endpoints": ("secretsmanager", "ecr.api"), "ingress_cidrs": ("0.0.0.0/0", "::/0")},
    "single": {"az_count": 2, "nat": "single", "zone_ids": ("euw1-az1", "euw1-az2")},
    "none": {"az_count": 2, "nat": "none", "gateway_endpoints": ("s3",), "ingress_cidrs": ("10.0.0.0/8",)},
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict:
    """The stack's Terraform JSON as `cdktf synth` writes it (with the `"//"` suppressions checkov's tests read)."""
    outdir = tmp_path_factory.mktemp("network")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.TerraformStack(app, "network-test")
    home = aws.provider.AwsProvider(stack, "home", region=REGION, alias="home")
    peer = aws.provider.AwsProvider(stack, "peer", region="eu-south-2", alias="peer")
    networks = {
        name: Network(stack, name, props=network_props(name, **c), provider=home) for name, c in NETWORKS.items()
    }
    gateway = TransitGateway(
        stack,
        "tgw",
        provider=home,
        props=TransitGatewayProps(
            name="relay-test",
            asn=64512,
            vpc_id=networks["per-az"].vpc.id,
            subnet_ids=[s.id for s in networks["per-az"].app_subnets],
            tags={"relay:platform": "relay-test"},
        ),
    )
    for i, cidr in enumerate(PEER_CIDRS):
        networks["per-az"].route_to(f"peer-{i + 1}", cidr, gateway.id, [gateway.vpc_attachment])
    TransitGatewayPeering(
        stack,
        "peering",
        requester_provider=peer,
        accepter_provider=home,
        props=TransitGatewayPeeringProps(
            name="relay-test-peering",
            requester_gateway_id="tgw-requester",
            requester_route_table_id="tgw-rtb-requester",
            requester_cidr="10.20.0.0/16",
            accepter_gateway_id=gateway.id,
            accepter_route_table_id=gateway.route_table_id,
            accepter_cidr="10.10.0.0/16",
            accepter_region=REGION,
            accepter_account_id=ACCOUNT,
        ),
    )
    app.synth()
    return json.loads((outdir / "stacks" / "network-test" / "cdk.tf.json").read_text())


def blocks(stack: dict, kind: str, network: str | None = None, *, data: bool = False) -> dict[str, dict]:
    """Blocks of `kind` by logical id; with `network`, only that construct's (a logical id starts with the
    construct path: `<network>_<id>_<hash>`)."""
    found = stack.get("data" if data else "resource", {}).get(kind, {})
    return {i: b for i, b in found.items() if network is None or i.startswith(f"{network}_")}


def ref(logical_id: str, kind: str, attribute: str = "id") -> str:
    return "${" + f"{kind}.{logical_id}.{attribute}" + "}"


def named(stack: dict, kind: str, network: str, suffix: str) -> tuple[str, dict]:
    """The one block of `kind` in `network` whose Name tag ends with `-<suffix>`."""
    found = [(i, b) for i, b in blocks(stack, kind, network).items() if b["tags"]["Name"].endswith(f"-{suffix}")]
    assert len(found) == 1, (kind, suffix, found)
    return found[0]


def routes(stack: dict, network: str, table_id: str) -> list[dict]:
    return [
        r
        for r in blocks(stack, "aws_route", network).values()
        if r["route_table_id"] == ref(table_id, "aws_route_table")
    ]


def test_the_vpc_has_dns_and_every_subnet_is_private_by_default_in_its_az(synthesized):
    (vpc,) = blocks(synthesized, "aws_vpc", "per-az").values()
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True
    subnets = blocks(synthesized, "aws_subnet", "per-az").values()
    layout = subnet_layout("10.10.0.0/16", 3)
    assert sorted(s["cidr_block"] for s in subnets) == sorted(c for tier in layout.values() for c in tier)
    assert all(s["map_public_ip_on_launch"] is False for s in subnets)
    for s in subnets:
        tier, n = s["tags"]["Name"].rsplit("-", 2)[-2:]
        assert s["tags"]["relay:tier"] == tier and s["cidr_block"] == layout[tier][int(n) - 1]
        assert (
            s["availability_zone"].startswith("${element(data.aws_availability_zones.")
            and f", {int(n) - 1})" in (s["availability_zone"])
        )


def test_zones_are_the_available_ones_without_opt_in_or_the_pinned_zone_ids(synthesized):
    (open_zones,) = blocks(synthesized, "aws_availability_zones", "per-az", data=True).values()
    assert open_zones["state"] == "available"
    assert open_zones["filter"] == [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]
    assert open_zones["lifecycle"]["postcondition"][0]["condition"] == "${length(self.names) >= 3}"
    (pinned,) = blocks(synthesized, "aws_availability_zones", "single", data=True).values()
    assert pinned["filter"] == [{"name": "zone-id", "values": ["euw1-az1", "euw1-az2"]}]


def test_public_subnets_route_to_the_internet_gateway_only(synthesized):
    table_id, _ = named(synthesized, "aws_route_table", "per-az", "public")
    (igw_id,) = blocks(synthesized, "aws_internet_gateway", "per-az")
    assert [(r["destination_cidr_block"], r.get("gateway_id")) for r in routes(synthesized, "per-az", table_id)] == [
        ("0.0.0.0/0", ref(igw_id, "aws_internet_gateway"))
    ]
    associations = blocks(synthesized, "aws_route_table_association", "per-az").values()
    public = [a for a in associations if a["route_table_id"] == ref(table_id, "aws_route_table")]
    assert len(public) == 3


@pytest.mark.parametrize(("network", "nats", "app_tables"), [("per-az", 3, 3), ("single", 1, 1), ("none", 0, 1)])
def test_nat_per_az_gives_each_az_its_own_nat_and_app_route_table(synthesized, network, nats, app_tables):
    nat_gateways = blocks(synthesized, "aws_nat_gateway", network)
    assert len(nat_gateways) == nats and len(blocks(synthesized, "aws_eip", network)) == nats
    public_subnets = {
        ref(i, "aws_subnet")
        for i, s in blocks(synthesized, "aws_subnet", network).items()
        if "-public-" in s["tags"]["Name"]
    }
    assert all(n["subnet_id"] in public_subnets for n in nat_gateways.values())
    tables = {i: t for i, t in blocks(synthesized, "aws_route_table", network).items() if "-app" in t["tags"]["Name"]}
    assert len(tables) == app_tables
    defaults = [
        r["nat_gateway_id"]
        for i in tables
        for r in routes(synthesized, network, i)
        if r["destination_cidr_block"] == "0.0.0.0/0"
    ]
    assert sorted(defaults) == sorted(ref(i, "aws_nat_gateway") for i in nat_gateways)


def test_data_subnets_have_no_internet_route(synthesized):
    for network in NETWORKS:
        table_id, _ = named(synthesized, "aws_route_table", network, "data")
        assert not [r for r in routes(synthesized, network, table_id) if r["destination_cidr_block"] == "0.0.0.0/0"]


def test_peer_cidrs_route_to_the_transit_gateway_from_every_app_and_data_table_after_the_attachment(synthesized):
    (tgw_id,) = blocks(synthesized, "aws_ec2_transit_gateway")
    (attachment_id,) = blocks(synthesized, "aws_ec2_transit_gateway_vpc_attachment")
    private = [
        i
        for i, t in blocks(synthesized, "aws_route_table", "per-az").items()
        if not t["tags"]["Name"].endswith("-public")
    ]
    assert len(private) == 4
    for table_id in private:
        to_peers = {
            r["destination_cidr_block"]: r for r in routes(synthesized, "per-az", table_id) if "transit_gateway_id" in r
        }
        assert set(to_peers) == set(PEER_CIDRS)
        assert all(r["transit_gateway_id"] == ref(tgw_id, "aws_ec2_transit_gateway") for r in to_peers.values())
        assert all(
            r["depends_on"] == [f"aws_ec2_transit_gateway_vpc_attachment.{attachment_id}"] for r in to_peers.values()
        )


def rules(stack: dict, network: str) -> dict[str, list[tuple]]:
    """Security group rules of a network by group name suffix: (direction, port, source or destination)."""
    groups = {
        ref(i, "aws_security_group"): g["name"].rsplit("-", 1)[-1]
        for i, g in blocks(stack, "aws_security_group", network).items()
    }
    found: dict[str, list[tuple]] = {}
    for kind, direction in (
        ("aws_vpc_security_group_ingress_rule", "in"),
        ("aws_vpc_security_group_egress_rule", "out"),
    ):
        for r in blocks(stack, kind, network).values():
            assert r["ip_protocol"] == "tcp" and r["from_port"] == r["to_port"]
            peer = groups.get(r.get("referenced_security_group_id")) or r.get("cidr_ipv4") or r.get("cidr_ipv6")
            found.setdefault(groups[r["security_group_id"]], []).append((direction, r["from_port"], peer))
    return {group: sorted(entries, key=str) for group, entries in found.items()}


def test_each_tier_talks_only_to_its_neighbours(synthesized):
    assert rules(synthesized, "per-az") == {
        "lb": sorted(
            [("in", port, cidr) for port in (80, 443) for cidr in ("0.0.0.0/0", "::/0")] + [("out", 8080, "app")],
            key=str,
        ),
        "app": sorted([("in", 8080, "lb"), ("out", 443, "0.0.0.0/0"), ("out", 5432, "data")], key=str),
        "data": [("in", 5432, "app")],
        "endpoints": [("in", 443, "10.10.0.0/16")],
    }
    groups = blocks(synthesized, "aws_security_group", "per-az").values()
    assert all("ingress" not in g and "egress" not in g for g in groups)
    (default,) = blocks(synthesized, "aws_default_security_group", "per-az").values()
    assert "ingress" not in default and "egress" not in default


def test_checkov_findings_that_do_not_apply_are_suppressed_for_that_resource_only(synthesized):
    def suppressed(kind: str, network: str) -> dict[str, list[str]]:
        return {
            b["tags"]["Name"].removeprefix(f"{network}-"): [
                s["rule"] for s in b.get("//", {}).get("relay_suppressions", [])
            ]
            for b in blocks(synthesized, kind, network).values()
        }

    ingress = suppressed("aws_vpc_security_group_ingress_rule", "per-az")
    assert ingress["lb-in-80-1"] == ["CKV_AWS_260"]
    assert ingress["lb-in-80-2"] == [] and ingress["lb-in-443-1"] == []
    assert suppressed("aws_vpc_security_group_ingress_rule", "none")["lb-in-80-1"] == []
    assert suppressed("aws_security_group", "per-az") == {
        "lb": ["CKV2_AWS_5"],
        "app": ["CKV2_AWS_5"],
        "data": ["CKV2_AWS_5"],
        "endpoints": [],
    }


def test_the_stack_passes_every_policy_rule(synthesized):
    assert policy_checks.check("network-test", synthesized) == []


def test_gateway_endpoints_serve_the_app_and_data_tables_and_interface_endpoints_the_app_subnets(synthesized):
    endpoints = {e["service_name"]: e for e in blocks(synthesized, "aws_vpc_endpoint", "per-az").values()}
    assert set(endpoints) == {f"com.amazonaws.{REGION}.{s}" for s in ("s3", "dynamodb", "secretsmanager", "ecr.api")}
    private_tables = sorted(
        ref(i, "aws_route_table")
        for i, t in blocks(synthesized, "aws_route_table", "per-az").items()
        if not t["tags"]["Name"].endswith("-public")
    )
    for service in ("s3", "dynamodb"):
        gateway = endpoints[f"com.amazonaws.{REGION}.{service}"]
        assert gateway["vpc_endpoint_type"] == "Gateway" and sorted(gateway["route_table_ids"]) == private_tables
    app_subnets = sorted(
        ref(i, "aws_subnet")
        for i, s in blocks(synthesized, "aws_subnet", "per-az").items()
        if "-app-" in s["tags"]["Name"]
    )
    (endpoint_group,) = [
        i for i, g in blocks(synthesized, "aws_security_group", "per-az").items() if g["name"].endswith("-endpoints")
    ]
    for service in ("secretsmanager", "ecr.api"):
        interface = endpoints[f"com.amazonaws.{REGION}.{service}"]
        assert interface["vpc_endpoint_type"] == "Interface" and interface["private_dns_enabled"] is True
        assert sorted(interface["subnet_ids"]) == app_subnets
        assert interface["security_group_ids"] == [ref(endpoint_group, "aws_security_group")]
    assert [e["service_name"] for e in blocks(synthesized, "aws_vpc_endpoint", "none").values()] == [
        f"com.amazonaws.{REGION}.s3"
    ]
    assert "endpoints" not in {
        g["name"].rsplit("-", 1)[-1] for g in blocks(synthesized, "aws_security_group", "none").values()
    }


def test_flow_logs_capture_all_traffic_into_an_encrypted_group_written_by_a_confined_role(synthesized):
    (flow_log,) = blocks(synthesized, "aws_flow_log", "per-az").values()
    ((group_id, group),) = blocks(synthesized, "aws_cloudwatch_log_group", "per-az").items()
    ((role_id, role),) = blocks(synthesized, "aws_iam_role", "per-az").items()
    assert flow_log["traffic_type"] == "ALL" and flow_log["log_destination_type"] == "cloud-watch-logs"
    assert flow_log["log_destination"] == ref(group_id, "aws_cloudwatch_log_group", "arn")
    assert flow_log["iam_role_arn"] == ref(role_id, "aws_iam_role", "arn")
    assert group == group | {"name": "/relay/test/flow-logs/per-az", "retention_in_days": 365, "kms_key_id": KEY}
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"},
    }
    (policy,) = blocks(synthesized, "aws_iam_role_policy", "per-az").values()
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/relay/test/flow-logs/per-az"
    (statement,) = json.loads(policy["policy"])["Statement"]
    assert statement["Resource"] == [group_arn, f"{group_arn}:*"]
    assert "logs:PutLogEvents" in statement["Action"] and "logs:CreateLogGroup" not in statement["Action"]


def test_everything_taggable_has_a_name_tag(synthesized):
    untaggable = {"aws_route", "aws_route_table_association", "aws_iam_role_policy", "aws_ec2_transit_gateway_route"}
    for kind, found in synthesized["resource"].items():
        if kind not in untaggable:
            assert all(b.get("tags", {}).get("Name") for b in found.values()), kind


def test_the_transit_gateway_accepts_nothing_shared_and_uses_its_default_route_table(synthesized):
    ((tgw_id, tgw),) = blocks(synthesized, "aws_ec2_transit_gateway").items()
    assert tgw == tgw | {
        "amazon_side_asn": 64512,
        "auto_accept_shared_attachments": "disable",
        "default_route_table_association": "enable",
        "default_route_table_propagation": "enable",
        "dns_support": "enable",
        "tags": {"relay:platform": "relay-test", "Name": "relay-test"},
    }
    (attachment,) = blocks(synthesized, "aws_ec2_transit_gateway_vpc_attachment").values()
    assert attachment["transit_gateway_id"] == ref(tgw_id, "aws_ec2_transit_gateway")
    assert len(attachment["subnet_ids"]) == 3 and all("-app-" in s or "app-" in s for s in attachment["subnet_ids"])


def test_peering_routes_each_cidr_both_ways_only_after_the_accepter(synthesized):
    ((attachment_id, attachment),) = blocks(synthesized, "aws_ec2_transit_gateway_peering_attachment").items()
    ((accepter_id, accepter),) = blocks(synthesized, "aws_ec2_transit_gateway_peering_attachment_accepter").items()
    (tgw_id,) = blocks(synthesized, "aws_ec2_transit_gateway")
    assert attachment["provider"] == "aws.peer" and accepter["provider"] == "aws.home"
    assert attachment == attachment | {
        "transit_gateway_id": "tgw-requester",
        "peer_transit_gateway_id": ref(tgw_id, "aws_ec2_transit_gateway"),
        "peer_region": REGION,
        "peer_account_id": ACCOUNT,
    }
    assert accepter["transit_gateway_attachment_id"] == ref(attachment_id, "aws_ec2_transit_gateway_peering_attachment")
    found = {
        r["provider"]: (r["transit_gateway_route_table_id"], r["destination_cidr_block"], r["depends_on"])
        for r in blocks(synthesized, "aws_ec2_transit_gateway_route").values()
    }
    after = [f"aws_ec2_transit_gateway_peering_attachment_accepter.{accepter_id}"]
    assert found == {
        "aws.peer": ("tgw-rtb-requester", "10.10.0.0/16", after),
        "aws.home": (
            ref(tgw_id, "aws_ec2_transit_gateway", "association_default_route_table_id"),
            "10.20.0.0/16",
            after,
        ),
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nat": "per-az"}, "nat 'per-az' must be one of per_az, single, none"),
        ({"az_count": 4}, "az_count 4 must be 2 or 3"),
        ({"gateway_endpoints": ("s3", "sts")}, "move sts to interface_endpoints"),
        ({"zone_ids": ("euw1-az1",)}, "name exactly az_count \\(3\\) zone_ids, not 1"),
        ({"listener_ports": ()}, "at least one listener port"),
    ],
)
def test_impossible_networks_are_refused_before_anything_is_built(changes, message):
    stack = cdk.TerraformStack(cdk.Testing.app(), "refused")
    provider = aws.provider.AwsProvider(stack, "aws", region=REGION)
    with pytest.raises(ValueError, match=message):
        Network(stack, "net", props=network_props("bad", **changes), provider=provider)


@pytest.mark.parametrize(
    ("asn", "refused"), [(64512, False), (65534, False), (4200000000, False), (65535, True), (16509, True)]
)
def test_a_transit_gateway_needs_a_private_asn(asn, refused):
    stack = cdk.TerraformStack(cdk.Testing.app(), "asn")
    provider = aws.provider.AwsProvider(stack, "aws", region=REGION)
    props = TransitGatewayProps(name="t", asn=asn, vpc_id="vpc-1", subnet_ids=["subnet-1"])
    if refused:
        with pytest.raises(ValueError, match=f"ASN {asn} is not a private ASN"):
            TransitGateway(stack, "tgw", props=props, provider=provider)
    else:
        TransitGateway(stack, "tgw", props=props, provider=provider)
