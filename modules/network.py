"""A region's three-tier VPC: public, application and data subnets across two or three Availability Zones."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws, cdk
from modules.policy_checks import suppress

TIERS = ("public", "app", "data")
TIER_BLOCK = {"public": 0, "app": 4, "data": 8}
"""First of the VPC's 16 equal blocks each tier uses (one block per AZ); blocks 12-15 stay spare."""
MAX_AZS = 4
NAT_MODES = ("per_az", "single", "none")
GATEWAY_SERVICES = ("s3", "dynamodb")
"""The two services AWS offers gateway endpoints for (free; no NAT data processing for their traffic)."""
HTTPS = 443
OPEN_PORT_CHECKS = {22: "CKV_AWS_24", 80: "CKV_AWS_260", 3389: "CKV_AWS_25"}
"""checkov's checks of ingress from anywhere to one port. checkov also counts a rule whose source is a security
group (`referenced_security_group_id`) as open to anywhere."""


def subnet_layout(cidr: str, az_count: int) -> dict[str, tuple[str, ...]]:
    """The subnets of a VPC: tiers `public`, `app` and `data` -> one CIDR per AZ, in AZ order.

    The VPC (/16 to /24) is split into 16 equal blocks (prefix + 4): public AZ i is block i, app block
    4 + i, data block 8 + i; blocks 12-15 stay spare for a later tier. Adding an AZ (up to 4) never moves
    a subnet, so a VPC can grow from two AZs to three in place.
    """
    network = ipaddress.ip_network(cidr, strict=True)
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        raise ValueError(f"VPC CIDR {cidr} must be an IPv4 network from /16 to /24")
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"az_count {az_count} must be 1..{MAX_AZS} (each tier has 4 blocks)")
    blocks = list(network.subnets(prefixlen_diff=4))
    return {tier: tuple(str(blocks[TIER_BLOCK[tier] + i]) for i in range(az_count)) for tier in TIERS}


def service_name(service: str, region: str, dns_suffix: str = "amazonaws.com") -> str:
    """VPC endpoint service name, e.g. `com.amazonaws.eu-west-1.s3` (the DNS suffix reversed)."""
    return ".".join([*reversed(dns_suffix.split(".")), region, service])


@dataclass(frozen=True)
class NetworkProps:
    """Props of :class:`Network`."""

    name: str
    """Prefix of every Name tag and resource name, e.g. `relay-local-eu-west-1`. Required."""
    cidr: str
    """VPC IPv4 CIDR, /16 to /24 (split by :func:`subnet_layout`). Required."""
    az_count: int
    """Availability Zones used: 2 or 3, the first of the region's zones that are available and need no
    opt-in (data source `aws_availability_zones`). Required."""
    nat: str
    """NAT for the app subnets: `per_az` (a NAT gateway and app route table per AZ: an AZ outage leaves the
    others' egress up), `single` (one NAT gateway in the first AZ: cheaper, egress depends on that AZ) or
    `none` (no internet egress from the app tier). Required."""
    flow_logs_key_arn: str
    """Customer-managed KMS key encrypting the flow log group; its key policy must let
    `logs.<region>.amazonaws.com` use it for this log group. Required."""
    flow_log_group_name: str
    """CloudWatch Logs group receiving the VPC flow logs (from config.naming). Required."""
    flow_log_role_name: str
    """IAM role VPC Flow Logs assumes to write to the log group (from config.naming). Required."""
    region: str
    """The VPC's region (endpoint service names, the flow-logs trust condition). Required."""
    account_id: str
    """Account owning the VPC (the flow-logs trust condition). Required."""
    zone_ids: tuple[str, ...] = ()
    """Zone IDs to use (AWS's account-independent AZ ids, e.g. `euw1-az1`), exactly `az_count` of them: the
    subnets' zones are then fixed, whatever zones AWS adds or reports impaired. Default none: the first
    `az_count` zones the region lists as available without opt-in (a zone leaving that state would move the
    later subnets; checkov's CKV_AWS_394 fails on that open data source)."""
    gateway_endpoints: tuple[str, ...] = GATEWAY_SERVICES
    """Gateway endpoints (`s3`, `dynamodb`) on the app and data route tables. Default both."""
    interface_endpoints: tuple[str, ...] = ()
    """Interface endpoints (e.g. `secretsmanager`, `ecr.api`, `ecr.dkr`, `logs`, `kms`, `sts`, `ssm`) in the
    app subnets, with private DNS and a security group of their own (HTTPS from the VPC CIDR). Each costs
    per AZ-hour. Default none."""
    ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Sources (IPv4 or IPv6 CIDRs) the load balancer accepts on `listener_ports`. Default anywhere (IPv4)."""
    listener_ports: tuple[int, ...] = (80, 443)
    """Load balancer listener ports. Default 80 and 443."""
    app_port: int = 8080
    """Port the app tier listens on (from the load balancer only). Default 8080."""
    data_port: int = 5432
    """Port the data tier listens on (from the app tier only). Default 5432 (PostgreSQL)."""
    flow_logs_retention_days: int = 365
    """Retention of the flow log group (a CloudWatch Logs allowed value). Default 365."""
    partition: str = "aws"
    """AWS partition of the region. Default `aws`."""
    dns_suffix: str = "amazonaws.com"
    """DNS suffix of the partition, for endpoint service names. Default `amazonaws.com`."""


class Network(Construct):
    """VPC with public, app and data subnets per AZ, NAT, per-tier security groups, endpoints and flow logs.

    - Public subnets (no public IPs on launch) route 0.0.0.0/0 to the internet gateway.
    - App subnets route 0.0.0.0/0 to NAT (`nat`): one route table per AZ with `per_az`, else one.
    - Data subnets share one route table without any internet route.
    - Gateway endpoints sit on the app and data route tables; :meth:`route_to` adds a peer CIDR to them.
    - Security groups `lb`, `app` and `data` (and `endpoints` with interface endpoints) hold no inline
      rules: each rule is its own resource, so groups reference each other without a cycle. The lb
      accepts `listener_ports` from `ingress_cidrs` and reaches only the app group on `app_port`; the app
      group accepts only the lb, and reaches HTTPS anywhere and the data group on `data_port`; the data
      group accepts only the app group and has no egress. The VPC's default group has no rules.
    - Flow logs (ALL traffic) go to a KMS-encrypted log group with retention, written by a role only
      VPC Flow Logs of this account may assume.
    """

    def __init__(self, scope: Construct, id: str, *, props: NetworkProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        _check(props)
        self._provider = provider
        self._name = props.name
        layout = subnet_layout(props.cidr, props.az_count)

        zone_filter = aws.data_aws_availability_zones.DataAwsAvailabilityZonesFilter
        zones = aws.data_aws_availability_zones.DataAwsAvailabilityZones(
            self,
            "zones",
            provider=provider,
            state="available",
            filter=[
                zone_filter(name="zone-id", values=list(props.zone_ids))
                if props.zone_ids
                else zone_filter(name="opt-in-status", values=["opt-in-not-required"])
            ],
        )
        # element() wraps around: without this check a region with fewer zones would get two subnets of a
        # tier in one AZ instead of an error.
        wanted = ", ".join(props.zone_ids) if props.zone_ids else "Availability Zones without opt-in"
        zones.add_override(
            "lifecycle.postcondition",
            [
                {
                    "condition": f"${{length(self.names) >= {props.az_count}}}",
                    "error_message": f"{props.name}: fewer than {props.az_count} available {wanted} in the "
                    "region; lower az_count or name other zones.",
                }
            ],
        )
        self.availability_zones = [cdk.Fn.element(zones.names, i) for i in range(props.az_count)]
        """Names of the AZs used, in order (tokens)."""

        self.vpc = aws.vpc.Vpc(
            self,
            "vpc",
            provider=provider,
            cidr_block=props.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags("vpc"),
        )
        vpc_id = self.vpc.id
        aws.default_security_group.DefaultSecurityGroup(
            self, "default-sg", provider=provider, vpc_id=vpc_id, tags=self._tags("default-no-rules")
        )

        subnets: dict[str, list[aws.subnet.Subnet]] = {}
        for tier in TIERS:
            subnets[tier] = [
                aws.subnet.Subnet(
                    self,
                    f"{tier}-{i + 1}",
                    provider=provider,
                    vpc_id=vpc_id,
                    cidr_block=block,
                    availability_zone=self.availability_zones[i],
                    map_public_ip_on_launch=False,
                    tags={**self._tags(f"{tier}-{i + 1}"), "relay:tier": tier},
                )
                for i, block in enumerate(layout[tier])
            ]
        self.public_subnets = subnets["public"]
        self.app_subnets = subnets["app"]
        self.data_subnets = subnets["data"]

        self.internet_gateway = aws.internet_gateway.InternetGateway(
            self, "igw", provider=provider, vpc_id=vpc_id, tags=self._tags("igw")
        )
        self.public_route_table = self._route_table("public", self.public_subnets)
        aws.route.Route(
            self,
            "public-internet",
            provider=provider,
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
        )

        nat_count = {"per_az": props.az_count, "single": 1, "none": 0}[props.nat]
        self.nat_gateways: list[aws.nat_gateway.NatGateway] = []
        for i in range(nat_count):
            eip = aws.eip.Eip(
                self,
                f"nat-eip-{i + 1}",
                provider=provider,
                domain="vpc",
                tags=self._tags(f"nat-{i + 1}"),
                depends_on=[self.internet_gateway],
            )
            self.nat_gateways.append(
                aws.nat_gateway.NatGateway(
                    self,
                    f"nat-{i + 1}",
                    provider=provider,
                    allocation_id=eip.allocation_id,
                    subnet_id=self.public_subnets[i].id,
                    tags=self._tags(f"nat-{i + 1}"),
                    depends_on=[self.internet_gateway],
                )
            )

        if props.nat == "per_az":
            self.app_route_tables = [
                self._route_table(f"app-{i + 1}", [subnet]) for i, subnet in enumerate(self.app_subnets)
            ]
        else:
            self.app_route_tables = [self._route_table("app", self.app_subnets)]
        for i, (table, nat) in enumerate(zip(self.app_route_tables, self.nat_gateways, strict=False)):
            aws.route.Route(
                self,
                f"app-nat-{i + 1}",
                provider=provider,
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
            )
        self.data_route_tables = [self._route_table("data", self.data_subnets)]

        self.security_groups = {
            tier: aws.security_group.SecurityGroup(
                self,
                f"sg-{tier}",
                provider=provider,
                name=f"{props.name}-{tier}",
                description=description,
                vpc_id=vpc_id,
                tags=self._tags(tier),
            )
            for tier, description in (
                ("lb", "Load balancer: listener ports from the allowed sources, to the app tier only"),
                ("app", "App tier: from the load balancer only, to HTTPS and the data tier"),
                ("data", "Data tier: from the app tier only, no egress"),
            )
        }
        for group in self.security_groups.values():
            suppress(
                group,
                "CKV2_AWS_5",
                "the tier's security group exists before the tier: the application tier's load balancer, "
                "instances and database attach it from their own stack",
            )
        lb, app, data = (self.security_groups[tier] for tier in ("lb", "app", "data"))
        for port in props.listener_ports:
            for n, source in enumerate(props.ingress_cidrs):
                self._rule("ingress", f"lb-in-{port}-{n + 1}", lb, port, f"Listener {port} from {source}", cidr=source)
        self._rule("egress", "lb-out-app", lb, props.app_port, "To the app tier", peer=app)
        self._rule("ingress", "app-in-lb", app, props.app_port, "From the load balancer", peer=lb)
        self._rule("egress", "app-out-https", app, HTTPS, "HTTPS to AWS APIs and the internet", cidr="0.0.0.0/0")
        self._rule("egress", "app-out-data", app, props.data_port, "To the data tier", peer=data)
        self._rule("ingress", "data-in-app", data, props.data_port, "From the app tier", peer=app)

        private_tables = [t.id for t in (*self.app_route_tables, *self.data_route_tables)]
        self.gateway_endpoints = {
            service: aws.vpc_endpoint.VpcEndpoint(
                self,
                f"endpoint-{service}",
                provider=provider,
                vpc_id=vpc_id,
                service_name=service_name(service, props.region, props.dns_suffix),
                vpc_endpoint_type="Gateway",
                route_table_ids=private_tables,
                tags=self._tags(f"endpoint-{service}"),
            )
            for service in props.gateway_endpoints
        }
        self.interface_endpoints: dict[str, aws.vpc_endpoint.VpcEndpoint] = {}
        if props.interface_endpoints:
            endpoints = aws.security_group.SecurityGroup(
                self,
                "sg-endpoints",
                provider=provider,
                name=f"{props.name}-endpoints",
                description="Interface endpoints: HTTPS from the VPC only",
                vpc_id=vpc_id,
                tags=self._tags("endpoints"),
            )
            self.security_groups["endpoints"] = endpoints
            self._rule("ingress", "endpoints-in-vpc", endpoints, HTTPS, "HTTPS from the VPC", cidr=props.cidr)
            for service in props.interface_endpoints:
                key = service.replace(".", "-")
                self.interface_endpoints[service] = aws.vpc_endpoint.VpcEndpoint(
                    self,
                    f"endpoint-{key}",
                    provider=provider,
                    vpc_id=vpc_id,
                    service_name=service_name(service, props.region, props.dns_suffix),
                    vpc_endpoint_type="Interface",
                    subnet_ids=[s.id for s in self.app_subnets],
                    security_group_ids=[endpoints.id],
                    private_dns_enabled=True,
                    tags=self._tags(f"endpoint-{key}"),
                )

        self.flow_log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "flow-logs",
            provider=provider,
            name=props.flow_log_group_name,
            retention_in_days=props.flow_logs_retention_days,
            kms_key_id=props.flow_logs_key_arn,
            tags=self._tags("flow-logs"),
        )
        group_arn = (
            f"arn:{props.partition}:logs:{props.region}:{props.account_id}:log-group:{props.flow_log_group_name}"
        )
        self.flow_log_role = iam.ServiceRole(
            self,
            "flow-logs-role",
            provider=provider,
            name=props.flow_log_role_name,
            service="vpc-flow-logs.amazonaws.com",
            description=f"VPC Flow Logs of {props.name} write to {props.flow_log_group_name}",
            source_account=props.account_id,
            source_arn=f"arn:{props.partition}:ec2:{props.region}:{props.account_id}:vpc-flow-log/*",
            statements=[
                iam.allow(
                    "WriteFlowLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                    [group_arn, f"{group_arn}:*"],
                )
            ],
        )
        self.flow_log_role.role.tags = self._tags("flow-logs")
        self.flow_log = aws.flow_log.FlowLog(
            self,
            "flow-log",
            provider=provider,
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=self.flow_log_role.arn,
            tags=self._tags("flow-log"),
            # The role's permissions must exist before the service first writes.
            depends_on=[self.flow_log_role.policy],
        )

    def route_to(self, id: str, cidr: str, transit_gateway_id: str, depends_on: Sequence[object]) -> None:
        """Route `cidr` to a transit gateway from every app and data route table (construct ids
        `<id>-app-<n>` and `<id>-data-<n>`). `depends_on`: the gateway's VPC attachment, which must exist
        before a VPC route can name the gateway."""
        for tier, tables in (("app", self.app_route_tables), ("data", self.data_route_tables)):
            for i, table in enumerate(tables):
                aws.route.Route(
                    self,
                    f"{id}-{tier}-{i + 1}",
                    provider=self._provider,
                    route_table_id=table.id,
                    destination_cidr_block=cidr,
                    transit_gateway_id=transit_gateway_id,
                    depends_on=list(depends_on),
                )

    def _tags(self, suffix: str) -> dict[str, str]:
        return {"Name": f"{self._name}-{suffix}"}

    def _route_table(self, suffix: str, subnets: Sequence[aws.subnet.Subnet]) -> aws.route_table.RouteTable:
        table = aws.route_table.RouteTable(
            self, f"rt-{suffix}", provider=self._provider, vpc_id=self.vpc.id, tags=self._tags(suffix)
        )
        for subnet in subnets:
            # The subnet's construct id (`<tier>-<n>`) names its association.
            aws.route_table_association.RouteTableAssociation(
                self,
                f"rta-{subnet.node.id}",
                provider=self._provider,
                route_table_id=table.id,
                subnet_id=subnet.id,
            )
        return table

    def _rule(
        self,
        direction: str,
        id: str,
        sg: aws.security_group.SecurityGroup,
        port: int,
        description: str,
        *,
        cidr: str | None = None,
        peer: aws.security_group.SecurityGroup | None = None,
    ) -> None:
        """One TCP `port` rule of `sg` to or from a CIDR or another security group (`peer`)."""
        settings: dict = {
            "security_group_id": sg.id,
            "ip_protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "description": description,
            "tags": self._tags(id),
        }
        if peer is not None:
            settings["referenced_security_group_id"] = peer.id
        elif cidr and ":" in cidr:
            settings["cidr_ipv6"] = cidr
        else:
            settings["cidr_ipv4"] = cidr
        rule = (
            aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule
            if direction == "ingress"
            else aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule
        )
        resource = rule(self, f"rule-{id}", provider=self._provider, **settings)
        check = OPEN_PORT_CHECKS.get(port) if direction == "ingress" else None
        if check and peer is not None:
            suppress(resource, check, "the rule admits one security group only (referenced_security_group_id)")
        elif check and cidr == "0.0.0.0/0":
            suppress(resource, check, "a load balancer listener open to the configured ingress_cidrs on purpose")


def _check(props: NetworkProps) -> None:
    """Reject impossible combinations before anything is built, saying what to do."""
    if props.nat not in NAT_MODES:
        raise ValueError(f"{props.name}: nat {props.nat!r} must be one of {', '.join(NAT_MODES)}")
    if props.az_count not in (2, 3):
        raise ValueError(f"{props.name}: az_count {props.az_count} must be 2 or 3")
    unknown = sorted(set(props.gateway_endpoints) - set(GATEWAY_SERVICES))
    if unknown:
        raise ValueError(
            f"{props.name}: gateway endpoints exist only for {', '.join(GATEWAY_SERVICES)}; "
            f"move {', '.join(unknown)} to interface_endpoints"
        )
    if props.zone_ids and len(props.zone_ids) != props.az_count:
        raise ValueError(f"{props.name}: name exactly az_count ({props.az_count}) zone_ids, not {len(props.zone_ids)}")
    if not props.listener_ports or not props.ingress_cidrs:
        raise ValueError(f"{props.name}: the load balancer needs at least one listener port and ingress CIDR")
