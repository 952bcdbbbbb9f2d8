"""The application's global edge: Route 53 health checks and records that route by latency and fail over from
the active regions to the standby regions, and a CloudFront distribution whose origin group fails over from the
primary region's load balancer to the secondary's."""

from __future__ import annotations

from dataclasses import dataclass

from modules.cdk_seam import Construct, aws
from modules.policy_checks import suppress

cf = aws.cloudfront_distribution
r53 = aws.route53_record

FAILOVER_STATUS_CODES = (500, 502, 503, 504)
"""Origin responses that make CloudFront retry the request on the secondary origin."""
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
"""CloudFront's managed cache policy `Managed-CachingDisabled`: the application's answers are dynamic."""
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""CloudFront's managed origin request policy `Managed-AllViewerExceptHostHeader` (the load balancer keeps its
own host name)."""
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
"""CloudFront's managed response headers policy `Managed-SecurityHeadersPolicy` (HSTS, nosniff, frame
options, XSS protection, referrer policy)."""


@dataclass(frozen=True)
class RegionEndpoint:
    """One application region's load balancer, as the edge reaches it."""

    region: str
    """The region. Required."""
    dns_name: str
    """The load balancer's DNS name. Required."""
    zone_id: str
    """The load balancer's canonical hosted zone id (for alias records). Required."""
    https: bool = False
    """The load balancer listens on HTTPS (it has a certificate). Default false: HTTP."""

    @property
    def port(self) -> int:
        return 443 if self.https else 80


@dataclass(frozen=True)
class DnsFailoverProps:
    """Props of :class:`DnsFailover`."""

    zone_id: str
    """The hosted zone. Required."""
    domain: str
    """The zone's domain name. Required."""
    record: str
    """The application's name under the domain. Required."""
    active: tuple[RegionEndpoint, ...]
    """The active regions (latency records, the failover's PRIMARY). Required, at least one."""
    standby: tuple[RegionEndpoint, ...] = ()
    """The standby regions (latency records, the failover's SECONDARY). Default none: no failover record."""
    health_check_path: str = "/healthz"
    """Path each health check probes. Default `/healthz`."""
    request_interval: int = 10
    """Seconds between probes (10 or 30). Default 10."""
    failure_threshold: int = 3
    """Consecutive probes that change a check's status. Default 3."""
    name_prefix: str = ""
    """Prefix of the health checks' Name tags. Default none."""


class DnsFailover(Construct):
    """Per region a health check of its load balancer and `<region>.<record>` (alias, target health);
    `active.<record>` and `standby.<record>` route by latency among their regions, each record checked;
    `<record>` fails over from `active.<record>` (PRIMARY) to `standby.<record>` (SECONDARY), or is an alias of
    `active.<record>` when no region is on standby."""

    def __init__(self, scope: Construct, id: str, *, props: DnsFailoverProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        if not props.active:
            raise ValueError("DnsFailover needs at least one active region")
        p = props
        self.zone_id = p.zone_id
        self.name = f"{p.record}.{p.domain}"
        self.active_name = f"active.{self.name}"
        self.standby_name = f"standby.{self.name}"
        self.health_checks: dict[str, aws.route53_health_check.Route53HealthCheck] = {}
        self.region_names: dict[str, str] = {}
        for endpoint in (*p.active, *p.standby):
            region = endpoint.region
            check = aws.route53_health_check.Route53HealthCheck(
                self,
                f"health-{region}",
                provider=provider,
                type="HTTPS" if endpoint.https else "HTTP",
                fqdn=endpoint.dns_name,
                port=endpoint.port,
                resource_path=p.health_check_path,
                request_interval=p.request_interval,
                failure_threshold=p.failure_threshold,
                enable_sni=endpoint.https or None,
                tags={"Name": f"{p.name_prefix}{region}"},
            )
            self.health_checks[region] = check
            name = f"{region}.{self.name}"
            self.region_names[region] = name
            self._alias(f"region-{region}", name, endpoint, provider)
        for group, name, endpoints in (
            ("active", self.active_name, p.active),
            ("standby", self.standby_name, p.standby),
        ):
            for endpoint in endpoints:
                self._alias(
                    f"{group}-{endpoint.region}",
                    name,
                    endpoint,
                    provider,
                    set_identifier=endpoint.region,
                    latency_routing_policy=r53.Route53RecordLatencyRoutingPolicy(region=endpoint.region),
                    health_check_id=self.health_checks[endpoint.region].id,
                )
        in_zone = "an alias of another record set of the same zone (the failover over the latency sets)"
        if p.standby:
            for role, target in (("PRIMARY", self.active_name), ("SECONDARY", self.standby_name)):
                record = r53.Route53Record(
                    self,
                    role.lower(),
                    provider=provider,
                    zone_id=p.zone_id,
                    name=self.name,
                    type="A",
                    set_identifier=role.lower(),
                    failover_routing_policy=r53.Route53RecordFailoverRoutingPolicy(type=role),
                    alias=r53.Route53RecordAlias(name=target, zone_id=p.zone_id, evaluate_target_health=True),
                )
                suppress(record, "CKV2_AWS_23", in_zone)
        else:
            record = r53.Route53Record(
                self,
                "application",
                provider=provider,
                zone_id=p.zone_id,
                name=self.name,
                type="A",
                alias=r53.Route53RecordAlias(name=self.active_name, zone_id=p.zone_id, evaluate_target_health=True),
            )
            suppress(record, "CKV2_AWS_23", in_zone)

    def _alias(
        self, id: str, name: str, endpoint: RegionEndpoint, provider: aws.provider.AwsProvider, **routing
    ) -> r53.Route53Record:
        """An A alias of `name` to one region's load balancer, evaluating its targets' health."""
        return r53.Route53Record(
            self,
            id,
            provider=provider,
            zone_id=self.zone_id,
            name=name,
            type="A",
            alias=r53.Route53RecordAlias(name=endpoint.dns_name, zone_id=endpoint.zone_id, evaluate_target_health=True),
            **routing,
        )


@dataclass(frozen=True)
class CdnProps:
    """Props of :class:`Cdn`."""

    comment: str
    """The distribution's comment (its name in the console). Required."""
    primary: RegionEndpoint
    """The origin requests go to first. Required."""
    secondary: RegionEndpoint | None = None
    """The origin CloudFront retries on when the primary answers 5xx or cannot be reached. Default none."""
    log_bucket_domain: str | None = None
    """`<bucket>.s3.amazonaws.com` of the access log bucket. Default none: no access logs."""
    log_prefix: str = "cloudfront/"
    """Prefix of the access logs in the bucket. Default `cloudfront/`."""
    price_class: str = "PriceClass_100"
    """Edge locations used. Default `PriceClass_100`."""
    certificate_arn: str | None = None
    """ACM certificate (us-east-1) for `aliases`. Default none: CloudFront's own certificate."""
    minimum_protocol_version: str = "TLSv1.2_2021"
    """Viewer security policy with `certificate_arn`. Default `TLSv1.2_2021`."""
    aliases: tuple[str, ...] = ()
    """Domain names the distribution answers for. Default none."""
    web_acl_id: str | None = None
    """WAFv2 web ACL to attach. Default none."""


class Cdn(Construct):
    """A CloudFront distribution over the load balancers: HTTPS to viewers (HTTP redirects), no caching of the
    dynamic answers, security headers, access logs, and an origin group failing over to the secondary."""

    def __init__(self, scope: Construct, id: str, *, props: CdnProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p = props
        origins = [("primary", p.primary), *([("secondary", p.secondary)] if p.secondary else [])]
        origin_ids = {role: f"{role}-{endpoint.region}" for role, endpoint in origins}
        target = "app" if p.secondary else origin_ids["primary"]
        if p.certificate_arn:
            certificate = cf.CloudfrontDistributionViewerCertificate(
                acm_certificate_arn=p.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version=p.minimum_protocol_version,
            )
        else:
            certificate = cf.CloudfrontDistributionViewerCertificate(cloudfront_default_certificate=True)
        self.distribution = cf.CloudfrontDistribution(
            self,
            "this",
            provider=provider,
            enabled=True,
            is_ipv6_enabled=True,
            comment=p.comment,
            price_class=p.price_class,
            http_version="http2and3",
            aliases=list(p.aliases) or None,
            web_acl_id=p.web_acl_id,
            origin=[
                cf.CloudfrontDistributionOrigin(
                    origin_id=origin_ids[role],
                    domain_name=endpoint.dns_name,
                    custom_origin_config=cf.CloudfrontDistributionOriginCustomOriginConfig(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only" if endpoint.https else "http-only",
                        origin_ssl_protocols=["TLSv1.2"],
                    ),
                )
                for role, endpoint in origins
            ],
            origin_group=(
                [
                    cf.CloudfrontDistributionOriginGroup(
                        origin_id="app",
                        failover_criteria=cf.CloudfrontDistributionOriginGroupFailoverCriteria(
                            status_codes=list(FAILOVER_STATUS_CODES)
                        ),
                        member=[
                            cf.CloudfrontDistributionOriginGroupMember(origin_id=origin_ids["primary"]),
                            cf.CloudfrontDistributionOriginGroupMember(origin_id=origin_ids["secondary"]),
                        ],
                    )
                ]
                if p.secondary
                else None
            ),
            default_cache_behavior=cf.CloudfrontDistributionDefaultCacheBehavior(
                target_origin_id=target,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_DISABLED,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy_id=SECURITY_HEADERS,
                compress=True,
            ),
            logging_config=(
                cf.CloudfrontDistributionLoggingConfig(
                    bucket=p.log_bucket_domain, prefix=p.log_prefix, include_cookies=False
                )
                if p.log_bucket_domain
                else None
            ),
            restrictions=cf.CloudfrontDistributionRestrictions(
                geo_restriction=cf.CloudfrontDistributionRestrictionsGeoRestriction(restriction_type="none")
            ),
            viewer_certificate=certificate,
        )
        suppress(
            self.distribution,
            "CKV2_AWS_32",
            "AWS's managed response headers policy Managed-SecurityHeadersPolicy is attached by its id",
        )
        suppress(
            self.distribution,
            "CKV_AWS_374",
            "the application serves every country; restrict countries with a WAF web ACL (web_acl_id)",
        )
