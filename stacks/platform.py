"""The regional platform the application runs on: one stack per region, one for what home replicates, one
peering stack per target region.

Static stability, per stack:

* `<app>-<env>-platform-<region>` (home and every platform region) holds the region's network (VPC, subnets,
  NAT, security groups, endpoints, flow logs), its transit gateway with the VPC attached and the VPC routes to
  the peer CIDRs (from configuration, not from another region), its image repositories, its key and the SSM
  parameters the application tier reads. It reads nothing of another region: it plans, deploys and runs with
  home down.
* `<app>-<env>-platform` is created from home: the multi-region key (primary in home, replicas in the
  targets), the secrets with their replicas, the global tables with their replicas, the registry's image
  replication. With home down, what exists in a target keeps working (a replica key decrypts, a replica
  secret is readable, a table replica takes reads and writes, replicated images stay), but nothing
  replicates and this stack cannot be changed: promoting a replica (secret, table) is the way out.
* `<app>-<env>-peering-<region>` joins a target's transit gateway to home's: the attachment requested from
  the target, accepted in home, a static route each way. It finds both gateways by tag, so it follows a
  rebuilt region by being applied again. With home down, traffic to home stops; nothing in the target
  depends on it to deploy.
"""

from __future__ import annotations

from config.naming import PLATFORM_TAG
from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws
from modules.global_table import GlobalTable, GlobalTableProps
from modules.images import ImageReplication, ImageReplicationProps, ImageRepository, ImageRepositoryProps
from modules.kms_key import RegionKey, RegionKeyProps
from modules.multi_region_key import MultiRegionKey, MultiRegionKeyProps
from modules.network import Network, NetworkProps
from modules.policy_checks import suppress
from modules.replicated_secret import ReplicatedSecret, ReplicatedSecretProps
from modules.transit_gateway import (
    TransitGateway,
    TransitGatewayPeering,
    TransitGatewayPeeringProps,
    TransitGatewayProps,
)
from regions import catalog
from stacks.base import RelayStack


def endpoint(service: str, region: str) -> str:
    """A regional service endpoint, e.g. `https://dynamodb.eu-west-1.amazonaws.com`."""
    return f"https://{service}.{region}.{catalog.dns_suffix(region)}"


def application_values(config: RelayConfig, region: str) -> dict[str, tuple[str, str]]:
    """The application tier's settings for one application region, as platform parameters (key: value and
    description): promoting a standby region changes these and the pipeline deploys them."""
    application = config.application
    standby = config.standby(region)
    capacity = application.capacity
    return {
        "app-load-balancer-name": (config.names.load_balancer(), "Name of the application's load balancer"),
        "app-instance-type": (application.instance_type, "Instance type of the application"),
        "app-image-tag": (application.image_tag, "Tag of the image the application runs"),
        "app-standby": ("true" if standby else "false", "Whether this region runs on standby capacity"),
        "app-min-size": (str(capacity.min_size), "Fewest instances when active"),
        "app-max-size": (str(capacity.max_size), "Most instances when active"),
        "app-desired-capacity": (str(capacity.desired), "Instances at start when active"),
        "app-standby-capacity": (str(application.standby_capacity), "Instances when on standby"),
        "app-certificate-arn": (
            application.certificate_arns.get(region, "none"),
            "Certificate of the load balancer's HTTPS listener (none: HTTP only)",
        ),
    }


class PlatformStack(RelayStack):
    """One region's platform: key, network, transit gateway, image repositories, parameters."""

    def __init__(self, scope: Construct, *, config: RelayConfig, region: str):
        names = config.names
        super().__init__(scope, names.platform_stack(region), config=config, region=region)
        platform = config.platform
        network = platform.network
        here = platform.network_for(region)
        flow_log_group = names.flow_log_group(region)
        flow_log_group_arn = f"arn:{self.partition}:logs:{region}:{self.account_id}:log-group:{flow_log_group}"
        self.key = RegionKey(
            self,
            "key",
            props=RegionKeyProps(
                alias=names.platform_kms_alias(region),
                description=f"Platform key of {names.network(region)}: flow logs, images",
                account_id=self.account_id,
                partition=self.partition,
                logs_service=f"logs.{region}.{catalog.dns_suffix(region)}",
                log_group_arns=(flow_log_group_arn,),
                administrators=tuple(config.keys.administrators),
            ),
            provider=self.provider,
        )
        self.network = Network(
            self,
            "network",
            props=NetworkProps(
                name=names.network(region),
                cidr=here.cidr,
                az_count=here.az_count,
                zone_ids=here.zone_ids,
                nat=network.nat,
                gateway_endpoints=tuple(network.gateway_endpoints),
                interface_endpoints=tuple(network.interface_endpoints),
                ingress_cidrs=tuple(network.ingress_cidrs),
                listener_ports=tuple(network.listener_ports),
                app_port=network.app_port,
                data_port=network.data_port,
                flow_logs_key_arn=self.key.arn,
                flow_logs_retention_days=network.flow_logs_retention_days,
                flow_log_group_name=flow_log_group,
                flow_log_role_name=names.role("flow-logs", region),
                region=region,
                account_id=self.account_id,
                partition=self.partition,
                dns_suffix=catalog.dns_suffix(region),
            ),
            provider=self.provider,
        )
        self.transit_gateway = TransitGateway(
            self,
            "transit-gateway",
            props=TransitGatewayProps(
                name=names.network(region),
                asn=here.asn,
                vpc_id=self.network.vpc.id,
                subnet_ids=[subnet.id for subnet in self.network.app_subnets],
                tags={PLATFORM_TAG: names.platform_tag()},
            ),
            provider=self.provider,
        )
        # Home reaches every platform target, a target reaches home; the CIDRs come from configuration.
        home = config.home_region
        peers = config.platform_regions[1:] if region == home else [home]
        for peer in peers:
            self.network.route_to(
                f"to-{peer}",
                platform.network_for(peer).cidr,
                self.transit_gateway.gateway.id,
                depends_on=[self.transit_gateway.vpc_attachment],
            )
        images = platform.images
        self.repositories = {
            image: ImageRepository(
                self,
                f"image-{image}",
                props=ImageRepositoryProps(
                    name=names.repository(image),
                    kms_key_arn=self.key.arn,
                    scan_on_push=images.scan_on_push,
                    keep_tagged=images.keep_tagged,
                    expire_untagged_days=images.expire_untagged_days,
                    force_delete=config.buckets.force_destroy,
                ),
                provider=self.provider,
            )
            for image in images.repositories
        }
        self._parameters()

    def _parameters(self) -> None:
        """What the application tier reads in this region, as SSM parameters (plain strings: identifiers and
        names, no secret) under the configured prefix; also stack outputs."""
        config, names, net = self.config, self.config.names, self.network
        values: dict[str, tuple[str, str]] = {
            "vpc-id": (net.vpc.id, "VPC of the application"),
            "public-subnet-ids": (",".join(s.id for s in net.public_subnets), "Public subnets (load balancer)"),
            "app-subnet-ids": (",".join(s.id for s in net.app_subnets), "Application subnets (instances)"),
            "data-subnet-ids": (",".join(s.id for s in net.data_subnets), "Data subnets"),
            "lb-security-group-id": (net.security_groups["lb"].id, "Security group of the load balancer"),
            "app-security-group-id": (net.security_groups["app"].id, "Security group of the application tier"),
            "data-security-group-id": (net.security_groups["data"].id, "Security group of the data tier"),
            "dynamodb-endpoint": (endpoint("dynamodb", self.region), "DynamoDB endpoint of this region"),
        }
        for secret in config.platform.secrets:
            values[f"secret-{secret.name}"] = (names.secret(secret.name), f"Name of the secret {secret.name}")
        for table in config.platform.data.tables:
            values[f"table-{table.name}"] = (names.table(table.name), f"Name of the table {table.name}")
        for image, repository in self.repositories.items():
            values[f"image-{image}"] = (repository.repository.repository_url, f"Repository of the image {image}")
        if self.region in config.application_regions:
            values.update(application_values(config, self.region))
        prefix = names.parameter_prefix()
        for key, (value, description) in values.items():
            parameter = aws.ssm_parameter.SsmParameter(
                self,
                f"parameter-{key}",
                provider=self.provider,
                name=f"{prefix}/{key}",
                type="String",
                value=value,
                description=description,
            )
            suppress(
                parameter,
                "CKV2_AWS_34",
                "a plain String parameter holding an identifier or a name (VPC, subnet or security group ids, an "
                "endpoint, a secret's or table's name, a repository URL), no secret: only a SecureString is encrypted",
            )
            self.output(key.replace("-", "_"), value, description)
        self.output("transit_gateway_id", self.transit_gateway.gateway.id, "Transit gateway of this region")


class PlatformGlobalStack(RelayStack):
    """Created from home: the multi-region key, the replicated secrets and tables, image replication."""

    def __init__(self, scope: Construct, *, config: RelayConfig):
        names = config.names
        home = config.home_region
        super().__init__(scope, names.platform_global_stack(), config=config, region=home)
        platform = config.platform
        targets = config.platform_regions[1:]
        self.key = MultiRegionKey(
            self,
            "data-key",
            props=MultiRegionKeyProps(
                alias=names.data_kms_alias(),
                account_id=self.account_id,
                partition=self.partition,
                administrators=tuple(config.keys.administrators),
            ),
            provider=self.provider,
            replica_providers={region: self.provider_for(region) for region in targets},
        )
        replica_keys = {region: self.key.arn_in(region) for region in targets}
        self.secrets = {
            secret.name: ReplicatedSecret(
                self,
                f"secret-{secret.name}",
                props=ReplicatedSecretProps(
                    name=names.secret(secret.name),
                    description=secret.description or f"{secret.name} of {names.resource_prefix().rstrip('-')}",
                    kms_key_arn=self.key.arn_in(home),
                    replicas=replica_keys,
                    rotation_lambda_arn=secret.rotation.lambda_arn if secret.rotation else None,
                    rotation_days=secret.rotation.days if secret.rotation else 30,
                    recovery_window_in_days=secret.recovery_window_days,
                ),
                provider=self.provider,
            )
            for secret in platform.secrets
        }
        data = platform.data
        self.tables = {
            table.name: GlobalTable(
                self,
                f"table-{table.name}",
                props=GlobalTableProps(
                    name=names.table(table.name),
                    hash_key=table.hash_key,
                    hash_key_type=table.hash_key_type,
                    range_key=table.range_key,
                    range_key_type=table.range_key_type,
                    kms_key_arn=self.key.arn_in(home),
                    replicas=replica_keys,
                    point_in_time_recovery=data.point_in_time_recovery,
                    deletion_protection=data.deletion_protection,
                    ttl_attribute=table.ttl_attribute,
                ),
                provider=self.provider,
            )
            for table in data.tables
        }
        self.image_replication = None
        if platform.images.repositories and targets:
            self.image_replication = ImageReplication(
                self,
                "image-replication",
                props=ImageReplicationProps(
                    account_id=self.account_id,
                    destination_regions=tuple(targets),
                    repository_prefix=names.repository_prefix(),
                ),
                provider=self.provider,
            )
        self.output("data_key_arn", self.key.arn_in(home), "Multi-region primary key of the replicated data")
        for name, secret in self.secrets.items():
            self.output(f"secret_{name}_arn", secret.secret.arn, f"Secret {name} (replicated to every target)")
        for name, table in self.tables.items():
            self.output(f"table_{name}", table.table.name, f"Global table {name}")


class PeeringStack(RelayStack):
    """The transit gateway peering of one target region with home, and the static routes both ways."""

    def __init__(self, scope: Construct, *, config: RelayConfig, region: str):
        names = config.names
        super().__init__(scope, names.peering_stack(region), config=config, region=region)
        home = config.home_region
        home_provider = self.provider_for(home)
        here = self._gateway("gateway", self.provider)
        there = self._gateway("home-gateway", home_provider)
        self.peering = TransitGatewayPeering(
            self,
            "peering",
            props=TransitGatewayPeeringProps(
                name=f"{names.resource_prefix()}{region}-{home}",
                requester_gateway_id=here.id,
                requester_route_table_id=here.association_default_route_table_id,
                requester_cidr=config.platform.network_for(region).cidr,
                accepter_gateway_id=there.id,
                accepter_route_table_id=there.association_default_route_table_id,
                accepter_cidr=config.platform.network_for(home).cidr,
                accepter_region=home,
                accepter_account_id=self.account_id,
            ),
            requester_provider=self.provider,
            accepter_provider=home_provider,
        )
        self.output("peering_attachment_id", self.peering.attachment.id, f"Peering attachment {region} - {home}")

    def _gateway(self, id: str, provider: aws.provider.AwsProvider):
        """This app's transit gateway in the provider's region, found by its tag (a missing platform stack
        fails the plan here, naming the tag)."""
        gateway = aws.data_aws_ec2_transit_gateway
        return gateway.DataAwsEc2TransitGateway(
            self,
            id,
            provider=provider,
            filter=[
                gateway.DataAwsEc2TransitGatewayFilter(
                    name=f"tag:{PLATFORM_TAG}", values=[self.config.names.platform_tag()]
                ),
                gateway.DataAwsEc2TransitGatewayFilter(name="state", values=["available"]),
            ],
        )
