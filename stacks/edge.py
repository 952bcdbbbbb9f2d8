"""The application's global edge, `<app>-<env>-edge`: the hosted zone (or an existing one), a Route 53 health
check per application region, latency records over the active and over the standby regions, a failover record
from the active to the standby regions, and a CloudFront distribution whose origin group fails over from the
primary region's load balancer to the secondary's, logging into a bucket of the home region.

The load balancers are the application tier's, created by the release in each region: the stack finds them by
name, so it deploys after the first release reached the application regions (a missing one fails the plan,
naming it). Route 53 and CloudFront are global services: the stack's provider is the home region's.

The access log bucket and its key are a stack of their own, `<app>-<env>-edge-logs`, deployed with the other
stacks before the first release: the edge finds the bucket by name, and the edge, which waits for that release,
does not also wait for the bucket's key and lifecycle configuration (over a minute of the provider's waits).
"""

from __future__ import annotations

from dataclasses import replace

from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws, cdk
from modules.edge import Cdn, CdnProps, DnsFailover, DnsFailoverProps, RegionEndpoint
from modules.kms_key import RegionKey, RegionKeyProps
from modules.policy_checks import suppress
from modules.secure_bucket import SecureBucket
from stacks.base import RelayStack


class EdgeStack(RelayStack):
    """Route 53 failover and CloudFront over the application regions' load balancers."""

    def __init__(self, scope: Construct, *, config: RelayConfig):
        names = config.names
        super().__init__(scope, names.edge_stack(), config=config, region=config.home_region)
        edge = config.edge
        assert edge.domain is not None  # the loader requires it for an enabled edge
        self.endpoints = {region: self._endpoint(region) for region in config.application_regions}
        active = tuple(self.endpoints[region] for region in config.active_regions)
        standby = tuple(self.endpoints[region] for region in config.standby_regions)
        zone_id = edge.zone_id or self._zone(edge.domain)
        self.dns = DnsFailover(
            self,
            "dns",
            props=DnsFailoverProps(
                zone_id=zone_id,
                domain=edge.domain,
                record=edge.record,
                active=active,
                standby=standby,
                health_check_path=edge.health_check.path,
                request_interval=edge.health_check.request_interval,
                failure_threshold=edge.health_check.failure_threshold,
                name_prefix=names.resource_prefix(),
            ),
            provider=self.provider,
        )
        self.output("zone_id", zone_id, "Hosted zone of the application's records")
        self.output("record_name", self.dns.name, "The application's name: active regions first, standby after")
        for region, check in self.dns.health_checks.items():
            self.output(f"health_check_{region.replace('-', '_')}", check.id, f"Health check of {region}")
        self.cdn = None
        if edge.cloudfront.enabled:
            cloudfront = edge.cloudfront
            ordered = (*active, *standby)
            # the bucket of the edge-logs stack (EdgeLogsStack), which deploys before this one
            logs = aws.data_aws_s3_bucket.DataAwsS3Bucket(
                self, "log-bucket", provider=self.provider, bucket=edge_log_bucket(config)
            )
            self.cdn = Cdn(
                self,
                "cdn",
                props=CdnProps(
                    comment=f"{names.resource_prefix()}app",
                    primary=ordered[0],
                    secondary=ordered[1] if len(ordered) > 1 else None,
                    log_bucket_domain=logs.bucket_domain_name,
                    price_class=cloudfront.price_class,
                    certificate_arn=cloudfront.certificate_arn,
                    minimum_protocol_version=cloudfront.minimum_protocol_version,
                    aliases=tuple(cloudfront.aliases),
                    web_acl_id=cloudfront.web_acl_id,
                ),
                provider=self.provider,
            )
            distribution = self.cdn.distribution
            reason_waf = "a WAF web ACL is the organisation's choice: edge.cloudfront.web_acl_id attaches one"
            for rule in ("CKV_AWS_68", "CKV2_AWS_47"):
                suppress(distribution, rule, reason_waf)
            if not cloudfront.certificate_arn:
                reason = (
                    "without edge.cloudfront.certificate_arn the distribution uses CloudFront's own certificate, "
                    "whose security policy CloudFront fixes; with one, minimum_protocol_version applies"
                )
                for rule in ("CKV_AWS_174", "CKV2_AWS_42"):
                    suppress(distribution, rule, reason)
            if len(ordered) < 2:
                suppress(distribution, "CKV_AWS_310", "a single application region has no secondary origin")
            suppress(distribution, "CKV_AWS_305", "the origin is an application, not a bucket: no root object")
            self.output("distribution_id", distribution.id, "CloudFront distribution")
            self.output("distribution_domain_name", distribution.domain_name, "CloudFront's name of the application")
            self.output("log_bucket", logs.bucket, "CloudFront access logs")

    def _endpoint(self, region: str) -> RegionEndpoint:
        """The application tier's load balancer in `region`, found by name (the release created it)."""
        balancer = aws.data_aws_lb.DataAwsLb(
            self,
            f"load-balancer-{region}",
            provider=self.provider_for(region),
            name=self.config.names.load_balancer(),
        )
        return RegionEndpoint(
            region=region,
            dns_name=balancer.dns_name,
            zone_id=balancer.zone_id,
            https=region in self.config.application.certificate_arns,
        )

    def _zone(self, domain: str) -> str:
        """A public hosted zone for the domain (delegate to its name servers from the parent domain)."""
        zone = aws.route53_zone.Route53Zone(
            self,
            "zone",
            provider=self.provider,
            name=domain,
            comment=f"{self.config.names.resource_prefix()}edge",
            force_destroy=self.config.buckets.force_destroy,
        )
        reason = (
            "DNSSEC signing and query logging need a key and a log group in us-east-1 that organisations run "
            "centrally; bring such a zone with edge.zone_id"
        )
        for rule in ("CKV2_AWS_38", "CKV2_AWS_39"):
            suppress(zone, rule, reason)
        self.output("name_servers", cdk.Fn.join(",", zone.name_servers), "Delegate the domain to these name servers")
        return zone.zone_id


EDGE_LOGS = "edge-logs"
"""The access log bucket's purpose (its name and `relay:role` tag)."""


def edge_log_bucket(config: RelayConfig) -> str:
    """Name of the edge's access log bucket (in the home region)."""
    return config.names.bucket(EDGE_LOGS, config.home_region)


class EdgeLogsStack(RelayStack):
    """The access log bucket of the edge's distribution and its key, in the home region. The edge stack reads
    the bucket by name; CloudFront enables its logs through the bucket's ACL, so the bucket and its ownership
    exist before the distribution (this stack deploys first)."""

    def __init__(self, scope: Construct, *, config: RelayConfig):
        super().__init__(scope, config.names.edge_logs_stack(), config=config, region=config.home_region)
        logs = self._cdn_log_bucket(config.edge.cloudfront.log_retention_days)
        self.bucket = logs
        self.output("log_bucket", logs.name, "CloudFront access logs")

    def _cdn_log_bucket(self, retention_days: int) -> SecureBucket:
        """The access log bucket of the distribution: encrypted with the edge's key (which the log delivery
        service may use for this account only), ACLs enabled as CloudFront's standard logs need, owner preferred,
        objects expiring after the retention."""
        key = RegionKey(
            self,
            "key",
            props=RegionKeyProps(
                alias=self.config.names.edge_kms_alias(),
                account_id=self.account_id,
                partition=self.partition,
                administrators=tuple(self.config.keys.administrators),
                log_delivery=True,
                description=f"Edge access logs ({self.config.names.edge_kms_alias()})",
            ),
            provider=self.provider,
        )
        props = self.bucket_props(EDGE_LOGS, key.arn)
        props = replace(props, object_ownership="BucketOwnerPreferred", expiration_days=retention_days)
        bucket = SecureBucket(self, "log-bucket", props=props, provider=self.provider)
        suppress(bucket.bucket, "CKV_AWS_18", "the bucket holds access logs itself (CloudFront's)")
        suppress(
            bucket.ownership,
            "CKV2_AWS_65",
            "CloudFront's standard logs are delivered through the bucket's ACL, which needs ACLs enabled",
        )
        return bucket
