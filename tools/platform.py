"""Read and exercise one environment's regional platform through the AWS APIs (the emulator's or AWS's):
peering, routes, and the replication of secrets, images and items. Used by the integration tests, the
platform benchmark and `relay platform-check`."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from config.naming import PLATFORM_TAG
from config.schema import RelayConfig
from tools.release import Clients

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def image_manifest(seed: str) -> str:
    """A Docker v2 image manifest naming one layer whose digest derives from `seed` (what the registry
    stores and replicates; the layer itself is not uploaded)."""
    digest = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": digest}],
        }
    )


@dataclass(frozen=True)
class Peering:
    """One target's transit gateway peering with home, as each side sees it."""

    region: str
    requester_state: str | None
    accepter_state: str | None
    requester_route: bool
    """The target's gateway routes home's CIDR to the peering attachment."""
    accepter_route: bool
    """Home's gateway routes the target's CIDR to the peering attachment."""

    @property
    def ready(self) -> bool:
        return (
            self.requester_state == self.accepter_state == "available" and self.requester_route and self.accepter_route
        )


class Platform:
    """One environment's platform, with its physical names from the configuration."""

    def __init__(self, config: RelayConfig, clients: Clients | None = None):
        if not config.platform.enabled:
            raise ValueError(f"{config.environment}: the platform is off (platform.enabled)")
        self.config = config
        self.names = config.names
        self.clients = clients or Clients(config)
        self.home = config.home_region
        self.regions = list(config.platform_regions)
        self.targets = self.regions[1:]

    # network

    def transit_gateway(self, region: str) -> dict | None:
        """This environment's transit gateway in `region`, if it exists."""
        gateways = self.clients("ec2", region).describe_transit_gateways(
            Filters=[
                {"Name": f"tag:{PLATFORM_TAG}", "Values": [self.names.platform_tag()]},
                {"Name": "state", "Values": ["available", "pending"]},
            ]
        )["TransitGateways"]
        return gateways[0] if gateways else None

    def vpc(self, region: str) -> dict | None:
        """This environment's VPC in `region` (its configured CIDR and the provider's default tags)."""
        vpcs = self.clients("ec2", region).describe_vpcs(
            Filters=[
                {"Name": "cidr", "Values": [self.config.platform.network_for(region).cidr]},
                {"Name": "tag:app", "Values": [self.config.app]},
                {"Name": "tag:environment", "Values": [self.config.environment]},
            ]
        )["Vpcs"]
        return vpcs[0] if vpcs else None

    def _attachment(self, region: str, gateway: dict, peer_gateway: dict) -> dict | None:
        attachments = self.clients("ec2", region).describe_transit_gateway_peering_attachments(
            Filters=[{"Name": "transit-gateway-id", "Values": [gateway["TransitGatewayId"]]}]
        )["TransitGatewayPeeringAttachments"]
        for attachment in attachments:
            # (the emulator also lists the gateway's VPC attachment here, without the peering's two sides)
            sides = (attachment.get("RequesterTgwInfo") or {}, attachment.get("AccepterTgwInfo") or {})
            ids = {side.get("TransitGatewayId") for side in sides}
            if ids == {gateway["TransitGatewayId"], peer_gateway["TransitGatewayId"]} and attachment["State"] not in (
                "deleted",
                "deleting",
            ):
                return attachment
        return None

    def _routes_to(self, region: str, gateway: dict, cidr: str, attachment_id: str | None) -> bool:
        table = gateway["Options"].get("AssociationDefaultRouteTableId")
        if not table or not attachment_id:
            return False
        routes = self.clients("ec2", region).search_transit_gateway_routes(
            TransitGatewayRouteTableId=table, Filters=[{"Name": "route-search.exact-match", "Values": [cidr]}]
        )["Routes"]
        return any(
            route.get("State") == "active"
            and any(
                a.get("TransitGatewayAttachmentId") == attachment_id for a in route.get("TransitGatewayAttachments", [])
            )
            for route in routes
        )

    def peering(self, region: str) -> Peering:
        """The peering of target `region` with home, from both sides."""
        here, home = self.transit_gateway(region), self.transit_gateway(self.home)
        if not here or not home:
            return Peering(region, None, None, False, False)
        requester = self._attachment(region, here, home)
        accepter = self._attachment(self.home, home, here)
        attachment_id = requester["TransitGatewayAttachmentId"] if requester else None
        network = self.config.platform.network_for
        return Peering(
            region,
            requester["State"] if requester else None,
            accepter["State"] if accepter else None,
            self._routes_to(region, here, network(self.home).cidr, attachment_id),
            self._routes_to(self.home, home, network(region).cidr, attachment_id),
        )

    def vpc_routes_to(self, region: str, cidr: str) -> list[str]:
        """IDs of the route tables of `region`'s VPC that send `cidr` to its transit gateway."""
        vpc, gateway = self.vpc(region), self.transit_gateway(region)
        if not vpc or not gateway:
            return []
        tables = self.clients("ec2", region).describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        )["RouteTables"]
        return [
            table["RouteTableId"]
            for table in tables
            if any(
                route.get("DestinationCidrBlock") == cidr
                and route.get("TransitGatewayId") == gateway["TransitGatewayId"]
                for route in table["Routes"]
            )
        ]

    # secrets

    def secret_name(self, name: str | None = None) -> str:
        return self.names.secret(name or self.config.platform.secrets[0].name)

    def put_secret(self, value: str, name: str | None = None) -> str:
        """A new value of a secret in home; its version id."""
        return self.clients("secretsmanager", self.home).put_secret_value(
            SecretId=self.secret_name(name), SecretString=value
        )["VersionId"]

    def read_secret(self, region: str, name: str | None = None) -> str | None:
        """The secret's current value as `region` answers it (its replica outside home)."""
        client = self.clients("secretsmanager", region)
        try:
            return client.get_secret_value(SecretId=self.secret_name(name))["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            return None

    # images

    def repository_name(self, image: str | None = None) -> str:
        return self.names.repository(image or self.config.platform.images.repositories[0])

    def put_image(self, tag: str, seed: str, image: str | None = None) -> str:
        """An image manifest pushed to home's repository under `tag`; its digest."""
        return self.clients("ecr", self.home).put_image(
            repositoryName=self.repository_name(image), imageManifest=image_manifest(seed), imageTag=tag
        )["image"]["imageId"]["imageDigest"]

    def image_digest(self, region: str, tag: str, image: str | None = None) -> str | None:
        """The digest `region`'s repository has under `tag`, if any."""
        client = self.clients("ecr", region)
        try:
            images = client.describe_images(repositoryName=self.repository_name(image), imageIds=[{"imageTag": tag}])[
                "imageDetails"
            ]
        except (client.exceptions.ImageNotFoundException, client.exceptions.RepositoryNotFoundException):
            return None
        return images[0]["imageDigest"] if images else None

    # items

    def table_name(self, name: str | None = None) -> str:
        return self.names.table(name or self.config.platform.data.tables[0].name)

    def _key(self, value: str, name: str | None = None) -> dict[str, Any]:
        tables = {t.name: t for t in self.config.platform.data.tables}
        table = tables[name] if name else self.config.platform.data.tables[0]
        key: dict[str, Any] = {table.hash_key: {table.hash_key_type: value}}
        if table.range_key:
            key[table.range_key] = {table.range_key_type: value if table.range_key_type == "S" else "0"}
        return key

    def put_item(self, region: str, key: str, payload: str, name: str | None = None) -> None:
        """An item written in `region`'s replica of the table."""
        item = {**self._key(key, name), "payload": {"S": payload}, "written_at": {"N": str(time.time())}}
        self.clients("dynamodb", region).put_item(TableName=self.table_name(name), Item=item)

    def read_item(self, region: str, key: str, name: str | None = None) -> str | None:
        """The item's payload as `region`'s replica answers it (strongly consistent in that region)."""
        item = (
            self.clients("dynamodb", region)
            .get_item(TableName=self.table_name(name), Key=self._key(key, name), ConsistentRead=True)
            .get("Item")
        )
        return item["payload"]["S"] if item else None

    def delete_item(self, region: str, key: str, name: str | None = None) -> None:
        self.clients("dynamodb", region).delete_item(TableName=self.table_name(name), Key=self._key(key, name))
