"""CloudFront decisions (``relay_emulator.core.cloudfront``), without an emulator: the stored
configuration and AWS's defaults, AWS's checks of origins, origin groups, behaviors, policies
and certificates, If-Match and deletion rules, list pages and managed policies."""

from __future__ import annotations

import copy
import datetime

import pytest
from emulator_helpers import ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED, SECURITY_HEADERS, default_cache_behavior
from relay_emulator.core import cloudfront as core


def origin(origin_id: str, region: str) -> dict:
    return {
        "Id": origin_id,
        "DomainName": f"relay-local-app-123.{region}.elb.amazonaws.com",
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "https-only",
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
        },
    }


def group(members=("primary-eu-west-1", "secondary-eu-south-2"), codes=(500, 502, 503, 504)) -> dict:
    return {
        "Id": "app",
        "FailoverCriteria": {"StatusCodes": {"Quantity": len(codes), "Items": list(codes)}},
        "Members": {"Quantity": len(members), "Items": [{"OriginId": m} for m in members]},
    }


def config(**overrides) -> dict:
    base = {
        "CallerReference": "ref-1",
        "Comment": "edge",
        "Enabled": True,
        "HttpVersion": "http2and3",
        "Origins": {
            "Quantity": 2,
            "Items": [origin("primary-eu-west-1", "eu-west-1"), origin("secondary-eu-south-2", "eu-south-2")],
        },
        "OriginGroups": {"Quantity": 1, "Items": [group()]},
        "DefaultCacheBehavior": default_cache_behavior(),
    }
    base.update(overrides)
    return base


def refused(cfg: dict) -> core.CloudFrontError:
    with pytest.raises(core.CloudFrontError) as caught:
        core.check_config(cfg)
    return caught.value


def test_a_valid_configuration_passes():
    core.check_config(config())


def test_stored_config_keeps_what_was_sent_and_fills_aws_defaults():
    sent = config()
    stored = core.stored_config(sent)
    assert stored["OriginGroups"] == sent["OriginGroups"]
    assert stored["HttpVersion"] == "http2and3"
    behavior = stored["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert behavior["ResponseHeadersPolicyId"] == SECURITY_HEADERS
    assert behavior["TrustedSigners"] == {"Enabled": False, "Quantity": 0}
    assert behavior["LambdaFunctionAssociations"] == {"Quantity": 0}
    first = stored["Origins"]["Items"][0]
    assert first["ConnectionAttempts"] == 3 and first["ConnectionTimeout"] == 10
    assert first["OriginShield"] == {"Enabled": False}
    assert first["CustomHeaders"] == {"Quantity": 0}
    assert first["CustomOriginConfig"]["OriginReadTimeout"] == 30
    assert first["CustomOriginConfig"]["OriginSslProtocols"] == {"Quantity": 1, "Items": ["TLSv1.2"]}
    assert stored["Aliases"] == {"Quantity": 0}
    assert stored["Logging"] == {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""}
    assert stored["PriceClass"] == "PriceClass_All"
    assert stored["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    assert stored["ViewerCertificate"]["CertificateSource"] == "cloudfront"
    assert stored["Restrictions"] == {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}}
    assert sent == config()  # the request is not modified


def test_acm_certificate_is_answered_with_its_source():
    cert = "arn:aws:acm:us-east-1:000000000000:certificate/abc"
    stored = core.stored_config(
        config(
            ViewerCertificate={
                "ACMCertificateArn": cert,
                "SSLSupportMethod": "sni-only",
                "MinimumProtocolVersion": "TLSv1.2_2021",
            }
        )
    )
    assert stored["ViewerCertificate"] == {
        "ACMCertificateArn": cert,
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
        "CloudFrontDefaultCertificate": False,
        "Certificate": cert,
        "CertificateSource": "acm",
    }


def test_same_request_repeats_only_an_identical_configuration():
    stored = core.stored_config(config())
    assert core.same_request(stored, config())
    assert not core.same_request(stored, config(Comment="other"))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            lambda c: c["OriginGroups"]["Items"][0].update(group(members=("primary-eu-west-1", "nowhere"))),
            "InvalidArgument",
        ),
        (lambda c: c["OriginGroups"]["Items"][0].update(group(codes=(500, 418))), "InvalidArgument"),
        (lambda c: c["OriginGroups"]["Items"][0].update(group(codes=(600,))), "InvalidArgument"),
        (lambda c: c["OriginGroups"]["Items"][0].update(group(codes=())), "InvalidArgument"),
        (lambda c: c["OriginGroups"]["Items"][0].update(group(members=("primary-eu-west-1",))), "InvalidArgument"),
        (lambda c: c["OriginGroups"]["Items"][0].update(group(members=("primary-eu-west-1",) * 2)), "InvalidArgument"),
        (lambda c: c["OriginGroups"]["Items"][0].update(Id="primary-eu-west-1"), "InvalidArgument"),
        (lambda c: c["Origins"]["Items"][1].update(Id="primary-eu-west-1"), "InvalidArgument"),
        (lambda c: c["Origins"].update(Quantity=3), "InconsistentQuantities"),
        (lambda c: c["Origins"]["Items"][0].pop("CustomOriginConfig"), "InvalidOrigin"),
        (
            lambda c: c["Origins"]["Items"][0]["CustomOriginConfig"].update(OriginProtocolPolicy="ftp"),
            "InvalidArgument",
        ),
        (lambda c: c["Origins"]["Items"][0]["CustomOriginConfig"].update(HTTPPort=81), "InvalidArgument"),
        (lambda c: c["Origins"]["Items"][0].update(OriginShield={"Enabled": True}), "InvalidArgument"),
        (lambda c: c["DefaultCacheBehavior"].update(TargetOriginId="nowhere"), "NoSuchOrigin"),
        (
            lambda c: c["DefaultCacheBehavior"].update(
                AllowedMethods={
                    "Quantity": 7,
                    "Items": list(core.METHODS),
                    "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
                }
            ),
            "InvalidArgument",
        ),
        (lambda c: c["DefaultCacheBehavior"].update(CachePolicyId="nope"), "NoSuchCachePolicy"),
        (lambda c: c["DefaultCacheBehavior"].update(OriginRequestPolicyId="nope"), "NoSuchOriginRequestPolicy"),
        (lambda c: c["DefaultCacheBehavior"].update(ResponseHeadersPolicyId="nope"), "NoSuchResponseHeadersPolicy"),
        (lambda c: c["DefaultCacheBehavior"].pop("CachePolicyId"), "InvalidArgument"),
        (lambda c: c.update(PriceClass="PriceClass_1"), "InvalidArgument"),
        (lambda c: c.update(HttpVersion="http4"), "InvalidArgument"),
        (lambda c: c.pop("Comment"), "InvalidArgument"),
        (lambda c: c.update(Aliases={"Quantity": 1, "Items": ["app.example.com"]}), "InvalidViewerCertificate"),
        (
            lambda c: c.update(
                ViewerCertificate={
                    "ACMCertificateArn": "arn:aws:acm:eu-west-1:000000000000:certificate/x",
                    "SSLSupportMethod": "sni-only",
                }
            ),
            "InvalidViewerCertificate",
        ),
        (
            lambda c: c.update(
                ViewerCertificate={"ACMCertificateArn": "arn:aws:acm:us-east-1:000000000000:certificate/x"}
            ),
            "InvalidViewerCertificate",
        ),
        (
            lambda c: c.update(Logging={"Enabled": True, "Bucket": "logs", "Prefix": "", "IncludeCookies": False}),
            "InvalidArgument",
        ),
    ],
)
def test_configurations_aws_refuses(change, code):
    cfg = copy.deepcopy(config())
    change(cfg)
    assert refused(cfg).code == code


def test_failover_codes_aws_accepts():
    for code in core.FAILOVER_STATUS_CODES:
        cfg = config()
        cfg["OriginGroups"]["Items"][0] = group(codes=(code,))
        core.check_config(cfg)


def test_forwarded_values_without_policy_is_accepted():
    cfg = config()
    behavior = cfg["DefaultCacheBehavior"]
    for key in ("CachePolicyId", "OriginRequestPolicyId", "ResponseHeadersPolicyId"):
        behavior.pop(key)
    behavior["ForwardedValues"] = {"QueryString": False, "Cookies": {"Forward": "none"}}
    behavior["MinTTL"] = 0
    core.check_config(cfg)


def test_if_match_and_delete_rules():
    with pytest.raises(core.CloudFrontError) as missing:
        core.check_if_match(None, "E1")
    assert (missing.value.code, missing.value.status) == ("InvalidIfMatchVersion", 400)
    with pytest.raises(core.CloudFrontError) as stale:
        core.check_if_match("E0", "E1")
    assert (stale.value.code, stale.value.status) == ("PreconditionFailed", 412)
    core.check_if_match("E1", "E1")
    for enabled, deployed in ((True, True), (False, False)):
        with pytest.raises(core.CloudFrontError) as enabled_error:
            core.check_deletable({"Enabled": enabled}, deployed)
        assert (enabled_error.value.code, enabled_error.value.status) == ("DistributionNotDisabled", 409)
    core.check_deletable({"Enabled": False}, True)
    with pytest.raises(core.CloudFrontError) as ref:
        core.check_update({"CallerReference": "a"}, {"CallerReference": "b"})
    assert ref.value.code == "IllegalUpdate"


def test_ids_and_names():
    assert core.distribution_id().startswith("E") and len(core.distribution_id()) == 14
    assert core.domain_name().endswith(".cloudfront.net")
    assert core.distribution_arn("000000000000", "E1") == "arn:aws:cloudfront::000000000000:distribution/E1"
    assert core.bucket_of_logging("logs.s3.amazonaws.com") == "logs"
    assert core.bucket_of_logging("logs") is None


def test_distribution_and_summary_shapes():
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    record = {
        "Id": "E1",
        "ARN": "arn:aws:cloudfront::000000000000:distribution/E1",
        "DomainName": "d1.cloudfront.net",
        "Config": core.stored_config(config()),
        "ETag": "TAG",
        "LastModifiedTime": when,
    }
    answer = core.distribution(record, "Deployed")
    assert answer["DistributionConfig"]["OriginGroups"]["Quantity"] == 1
    assert answer["Status"] == "Deployed" and answer["InProgressInvalidationBatches"] == 0
    summary = core.summary(record, "InProgress")
    assert summary["OriginGroups"] == record["Config"]["OriginGroups"]
    assert summary["ETag"] == "TAG" and "CallerReference" not in summary


def test_pages_and_managed_policy_lists():
    items, meta = core.page(list(range(5)), None, 2)
    assert items == [0, 1] and meta["IsTruncated"] and meta["NextMarker"] == "2"
    items, meta = core.page(list(range(5)), "4", 2)
    assert items == [4] and not meta["IsTruncated"] and "NextMarker" not in meta
    managed = core.policy_list(core.MANAGED_CACHE_POLICIES, "managed", None, None, "CachePolicy")
    names = [i["CachePolicy"]["CachePolicyConfig"]["Name"] for i in managed["Items"]]
    assert "Managed-CachingDisabled" in names
    assert core.policy_list(core.MANAGED_CACHE_POLICIES, "custom", None, None, "CachePolicy") == {
        "MaxItems": 100,
        "Quantity": 0,
    }
    assert core.Policies().origin_request(ALL_VIEWER_EXCEPT_HOST)["OriginRequestPolicyConfig"]["Name"] == (
        "Managed-AllViewerExceptHostHeader"
    )
    assert core.Policies().response_headers(SECURITY_HEADERS) is not None
    assert core.Policies().cache("nope") is None
