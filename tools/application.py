"""Read and exercise one environment's application tier and edge through the AWS APIs (the emulator's or AWS's):
what each region runs (release, capacity, healthy targets), the DNS answer Route 53 gives for the application's
name, the CloudFront distribution, and scaling a region's group (the failover drill). Used by the integration
tests, the demo and `relay app-bench`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.schema import RelayConfig
from tools.release import Clients


class ApplicationError(RuntimeError):
    """The application tier or the edge is not what the configuration describes (not deployed, not found)."""


@dataclass(frozen=True)
class RegionState:
    """What one application region runs."""

    region: str
    standby: bool
    release: str | None
    """The release label the region's stack reports."""
    stack_status: str | None
    desired: int
    minimum: int
    maximum: int
    instances: int
    """Instances of the group in service (running)."""
    healthy_targets: int
    """Targets the load balancer reports healthy."""
    load_balancer: str | None
    """The load balancer's DNS name."""
    protocol: str | None
    """The listener the load balancer serves the application on (HTTPS or HTTP)."""


class Application:
    """One environment's application tier and edge, with its physical names from the configuration."""

    def __init__(self, config: RelayConfig, clients: Clients | None = None):
        if not config.has_application:
            raise ValueError(
                f"{config.environment}: the application tier is off (application.enabled, platform.enabled)"
            )
        self.config = config
        self.clients = clients or Clients(config)
        self.regions = config.application_regions
        self.stack_name = config.deploy.stack_name

    # ------------------------------------------------------------------ regions
    def outputs(self, region: str) -> dict[str, str]:
        """The outputs of the region's application stack; empty when it does not exist (yet)."""
        cfn = self.clients("cloudformation", region)
        try:
            stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except cfn.exceptions.ClientError:
            return {}
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        outputs["StackStatus"] = stack["StackStatus"]
        return outputs

    def group(self, region: str) -> dict[str, Any] | None:
        """The region's Auto Scaling group (from the stack's output), None before the stack exists."""
        name = self.outputs(region).get("AutoScalingGroupName")
        if not name:
            return None
        groups = self.clients("autoscaling", region).describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return (groups.get("AutoScalingGroups") or [None])[0]

    def healthy_targets(self, region: str) -> list[str]:
        """Ids of the targets the region's load balancer reports healthy."""
        arn = self.outputs(region).get("TargetGroupArn")
        if not arn:
            return []
        health = self.clients("elbv2", region).describe_target_health(TargetGroupArn=arn)
        return [
            d["Target"]["Id"] for d in health["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"
        ]

    def state(self, region: str) -> RegionState:
        """What the region runs now."""
        outputs = self.outputs(region)
        group = self.group(region) or {}
        running = [i for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"]
        return RegionState(
            region=region,
            standby=self.config.standby(region),
            release=outputs.get("ReleaseLabel"),
            stack_status=outputs.get("StackStatus"),
            desired=group.get("DesiredCapacity", 0),
            minimum=group.get("MinSize", 0),
            maximum=group.get("MaxSize", 0),
            instances=len(running),
            healthy_targets=len(self.healthy_targets(region)),
            load_balancer=outputs.get("LoadBalancerDnsName"),
            protocol=outputs.get("ListenerProtocol"),
        )

    def serving(self, region: str, label: str) -> bool:
        """The region's stack is deployed with release `label` and its load balancer has the region's capacity of
        healthy targets."""
        state = self.state(region)
        deployed = state.stack_status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
        return deployed and state.release == label and state.healthy_targets == self.expected_capacity(region)[1]

    def expected_capacity(self, region: str) -> tuple[int, int, int]:
        """(min, desired, max) the configuration gives the region: the standby capacity on standby."""
        application = self.config.application
        if self.config.standby(region):
            n = application.standby_capacity
            return n, n, n
        capacity = application.capacity
        return capacity.min_size, capacity.desired, capacity.max_size

    def scale(self, region: str, size: int | None = None) -> None:
        """Set the region's group to `size` instances (min and desired; 0 takes every target out of service),
        or back to the configured capacity when `size` is None."""
        group = self.group(region)
        if group is None:
            raise ApplicationError(f"{region}: the application stack {self.stack_name} has no group yet")
        minimum, desired, maximum = self.expected_capacity(region)
        if size is not None:
            minimum = desired = size
            maximum = max(size, maximum)
        self.clients("autoscaling", region).update_auto_scaling_group(
            AutoScalingGroupName=group["AutoScalingGroupName"],
            MinSize=minimum,
            MaxSize=maximum,
            DesiredCapacity=desired,
        )

    def region_of(self, dns_name: str | None) -> str | None:
        """The application region whose load balancer has this DNS name."""
        if not dns_name:
            return None
        wanted = dns_name.lower().rstrip(".").removeprefix("dualstack.")
        for region in self.regions:
            balancer = (self.outputs(region).get("LoadBalancerDnsName") or "").lower().rstrip(".")
            if balancer and balancer == wanted:
                return region
        return None

    # ------------------------------------------------------------------ edge
    @property
    def record_name(self) -> str:
        edge = self.config.edge
        return f"{edge.record}.{edge.domain}"

    def zone_id(self) -> str:
        """The hosted zone of the edge: the configured one, else the zone relay created for the domain."""
        edge = self.config.edge
        if edge.zone_id:
            return edge.zone_id
        route53 = self.clients("route53", self.config.home_region)
        zones = route53.list_hosted_zones_by_name(DNSName=f"{edge.domain}.")["HostedZones"]
        for zone in zones:
            if zone["Name"].rstrip(".") == edge.domain:
                return zone["Id"].split("/")[-1]
        raise ApplicationError(
            f"no hosted zone for {edge.domain}: deploy the edge stack ({self.config.names.edge_stack()})"
        )

    def dns_answer(self, name: str | None = None, resolver_ip: str | None = None) -> list[str]:
        """What Route 53 answers for `name` (default: the application's name) now: TestDNSAnswer's record data."""
        request: dict[str, Any] = {
            "HostedZoneId": self.zone_id(),
            "RecordName": name or self.record_name,
            "RecordType": "A",
        }
        if resolver_ip:
            request["ResolverIP"] = resolver_ip
        answer = self.clients("route53", self.config.home_region).test_dns_answer(**request)
        return list(answer.get("RecordData", []))

    def answering_region(self, name: str | None = None, resolver_ip: str | None = None) -> str | None:
        """The application region whose load balancer Route 53 answers for `name` now."""
        answer = self.dns_answer(name, resolver_ip)
        return self.region_of(answer[0]) if answer else None

    def health_checks(self) -> dict[str, str]:
        """Each application region's health check status (`healthy` or `unhealthy`), from the checkers' reports."""
        route53 = self.clients("route53", self.config.home_region)
        prefix = self.config.names.resource_prefix()
        found: dict[str, str] = {}
        for check in route53.list_health_checks()["HealthChecks"]:
            tags = route53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check["Id"])
            name = {t["Key"]: t["Value"] for t in tags["ResourceTagSet"].get("Tags", [])}.get("Name", "")
            region = name.removeprefix(prefix)
            if name.startswith(prefix) and region in self.regions:
                observations = route53.get_health_check_status(HealthCheckId=check["Id"])["HealthCheckObservations"]
                reports = [o["StatusReport"]["Status"] for o in observations]
                # Route 53's rule: healthy when more than 18% of the checkers report it healthy
                healthy = sum(report.startswith("Success") for report in reports) > 0.18 * len(reports)
                found[region] = "healthy" if healthy else "unhealthy"
        return found

    def distribution(self) -> dict[str, Any] | None:
        """The edge's CloudFront distribution (its full description), found by its comment."""
        cloudfront = self.clients("cloudfront", self.config.home_region)
        comment = f"{self.config.names.resource_prefix()}app"
        items = cloudfront.list_distributions().get("DistributionList", {}).get("Items", [])
        for item in items:
            if item.get("Comment") == comment:
                return cloudfront.get_distribution(Id=item["Id"])["Distribution"]
        return None
