"""A region's Transit Gateway with its VPC attached, and the inter-region peering of two gateways."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modules.cdk_seam import Construct, aws

PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
"""Private ASN ranges a Transit Gateway's Amazon side may use (16-bit, 32-bit)."""


@dataclass(frozen=True)
class TransitGatewayProps:
    """Props of :class:`TransitGateway`."""

    name: str
    """Name tag of the gateway (`<name>`) and of its VPC attachment (`<name>-vpc`). Required."""
    asn: int
    """Private ASN of the gateway's Amazon side; unique among peered gateways. Required."""
    vpc_id: str
    """VPC attached to the gateway. Required."""
    subnet_ids: Sequence[str]
    """Subnets of the attachment, one per AZ (the app subnets): the gateway reaches only those AZs. Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags of the gateway and its attachment (e.g. `relay:platform` to find the gateway by tag from
    another stack). Default none."""
    description: str = "relay regional platform"
    """Description of the gateway. Default `relay regional platform`."""


class TransitGateway(Construct):
    """A Transit Gateway and its VPC attachment.

    Shared attachments are never accepted automatically; attachments associate with and propagate to the
    default route table (the VPC's CIDR appears there on its own; peer CIDRs are static routes, see
    :class:`TransitGatewayPeering`); DNS support on.
    """

    def __init__(self, scope: Construct, id: str, *, props: TransitGatewayProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        if not any(low <= props.asn <= high for low, high in PRIVATE_ASNS):
            ranges = " or ".join(f"{low}..{high}" for low, high in PRIVATE_ASNS)
            raise ValueError(f"{props.name}: ASN {props.asn} is not a private ASN ({ranges})")
        if not props.subnet_ids:
            raise ValueError(f"{props.name}: attach the VPC through one subnet per AZ")
        self.gateway = aws.ec2_transit_gateway.Ec2TransitGateway(
            self,
            "this",
            provider=provider,
            description=props.description,
            amazon_side_asn=props.asn,
            auto_accept_shared_attachments="disable",
            default_route_table_association="enable",
            default_route_table_propagation="enable",
            dns_support="enable",
            tags={**props.tags, "Name": props.name},
        )
        self.vpc_attachment = aws.ec2_transit_gateway_vpc_attachment.Ec2TransitGatewayVpcAttachment(
            self,
            "vpc",
            provider=provider,
            transit_gateway_id=self.gateway.id,
            vpc_id=props.vpc_id,
            subnet_ids=list(props.subnet_ids),
            dns_support="enable",
            tags={**props.tags, "Name": f"{props.name}-vpc"},
        )

    @property
    def id(self) -> str:
        """ID of the gateway."""
        return self.gateway.id

    @property
    def route_table_id(self) -> str:
        """ID of the gateway's default (association) route table."""
        return self.gateway.association_default_route_table_id


@dataclass(frozen=True)
class TransitGatewayPeeringProps:
    """Props of :class:`TransitGatewayPeering`: the requester is the target region, the accepter home."""

    name: str
    """Name tag of the peering attachment (both sides). Required."""
    requester_gateway_id: str
    """Gateway that requests the peering (target region). Required."""
    requester_route_table_id: str
    """Route table of the requester gateway that gets the accepter's CIDR. Required."""
    requester_cidr: str
    """CIDR behind the requester gateway, routed from the accepter. Required."""
    accepter_gateway_id: str
    """Gateway that accepts the peering (home region). Required."""
    accepter_route_table_id: str
    """Route table of the accepter gateway that gets the requester's CIDR. Required."""
    accepter_cidr: str
    """CIDR behind the accepter gateway, routed from the requester. Required."""
    accepter_region: str
    """Region of the accepter gateway. Required."""
    accepter_account_id: str
    """Account owning the accepter gateway. Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags of the attachment on both sides. Default none."""


class TransitGatewayPeering(Construct):
    """A peering attachment requested by one gateway, accepted by the other, with a static route each way.

    The requester's route table sends `accepter_cidr` to the attachment and the accepter's sends
    `requester_cidr`; both routes are created only once the attachment is accepted (before that, AWS
    rejects a route to it). Transit Gateway peering carries no route propagation: these static routes
    are the only routes across it.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: TransitGatewayPeeringProps,
        requester_provider: aws.provider.AwsProvider,
        accepter_provider: aws.provider.AwsProvider,
    ):
        super().__init__(scope, id)
        tags = {**props.tags, "Name": props.name}
        self.attachment = aws.ec2_transit_gateway_peering_attachment.Ec2TransitGatewayPeeringAttachment(
            self,
            "attachment",
            provider=requester_provider,
            transit_gateway_id=props.requester_gateway_id,
            peer_transit_gateway_id=props.accepter_gateway_id,
            peer_region=props.accepter_region,
            peer_account_id=props.accepter_account_id,
            tags=tags,
        )
        accepter = aws.ec2_transit_gateway_peering_attachment_accepter
        self.accepter = accepter.Ec2TransitGatewayPeeringAttachmentAccepter(
            self,
            "accepter",
            provider=accepter_provider,
            transit_gateway_attachment_id=self.attachment.id,
            tags=tags,
        )
        route = aws.ec2_transit_gateway_route.Ec2TransitGatewayRoute
        self.routes = [
            route(
                self,
                "requester-route",
                provider=requester_provider,
                transit_gateway_route_table_id=props.requester_route_table_id,
                destination_cidr_block=props.accepter_cidr,
                transit_gateway_attachment_id=self.attachment.id,
                depends_on=[self.accepter],
            ),
            route(
                self,
                "accepter-route",
                provider=accepter_provider,
                transit_gateway_route_table_id=props.accepter_route_table_id,
                destination_cidr_block=props.requester_cidr,
                transit_gateway_attachment_id=self.accepter.transit_gateway_attachment_id,
                depends_on=[self.accepter],
            ),
        ]
        """Static routes: [requester side, accepter side]."""
