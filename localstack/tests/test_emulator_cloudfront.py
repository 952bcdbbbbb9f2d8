"""CloudFront from the plugin (relay_emulator.cloudfront): a distribution with an origin group
and what Terraform sends (policies, HTTP version, logging, Origin Shield) round-trips through
Create / Get / GetConfig / List / Update exactly; ETag / If-Match, disable before delete, tags,
invalidations, AWS's managed policies and AWS's refusals."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ALL_VIEWER_EXCEPT_HOST, CACHING_DISABLED, SECURITY_HEADERS, client, default_cache_behavior

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

PRIMARY, SECONDARY = "primary-eu-west-1", "secondary-eu-south-2"


def cloudfront():
    return client("cloudfront", "us-east-1")


def origin(origin_id: str, region: str) -> dict:
    return {
        "Id": origin_id,
        "DomainName": f"relay-local-app-123.{region}.elb.amazonaws.com",
        "OriginPath": "",
        "CustomHeaders": {"Quantity": 1, "Items": [{"HeaderName": "X-Relay-Origin", "HeaderValue": origin_id}]},
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": "http-only",
            "OriginSslProtocols": {"Quantity": 1, "Items": ["TLSv1.2"]},
            "OriginReadTimeout": 30,
            "OriginKeepaliveTimeout": 5,
        },
        "ConnectionAttempts": 3,
        "ConnectionTimeout": 10,
        "OriginShield": {"Enabled": False},
        "OriginAccessControlId": "",
    }


def edge_config(reference: str, bucket: str, **overrides) -> dict:
    config = {
        "CallerReference": reference,
        "Aliases": {"Quantity": 0},
        "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 2, "Items": [origin(PRIMARY, "eu-west-1"), origin(SECONDARY, "eu-south-2")]},
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "app",
                    "FailoverCriteria": {"StatusCodes": {"Quantity": 4, "Items": [500, 502, 503, 504]}},
                    "Members": {"Quantity": 2, "Items": [{"OriginId": PRIMARY}, {"OriginId": SECONDARY}]},
                }
            ],
        },
        "DefaultCacheBehavior": default_cache_behavior(),
        "Comment": "relay edge",
        "Logging": {
            "Enabled": True,
            "IncludeCookies": False,
            "Bucket": f"{bucket}.s3.amazonaws.com",
            "Prefix": "edge/",
        },
        "PriceClass": "PriceClass_100",
        "Enabled": True,
        "ViewerCertificate": {"CloudFrontDefaultCertificate": True, "MinimumProtocolVersion": "TLSv1"},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
    }
    config.update(overrides)
    return config


def deployed(cf, dist_id: str) -> dict:
    return wait_for(
        f"distribution {dist_id} Deployed",
        lambda: (d := cf.get_distribution(Id=dist_id))["Distribution"]["Status"] == "Deployed" and d,
        timeout=15,
        interval=0.2,
    )


def remove(cf, dist_id: str) -> None:
    """Disable (if needed) and delete, as Terraform does; nothing if it is gone."""
    try:
        current = cf.get_distribution_config(Id=dist_id)
    except ClientError:
        return
    etag = current["ETag"]
    if current["DistributionConfig"]["Enabled"]:
        config = current["DistributionConfig"]
        config["Enabled"] = False
        etag = cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=config)["ETag"]
    deployed(cf, dist_id)
    cf.delete_distribution(Id=dist_id, IfMatch=etag)


def create(res, cf, config: dict, tags: dict | None = None) -> dict:
    if tags is None:
        answer = cf.create_distribution(DistributionConfig=config)
    else:
        items = [{"Key": k, "Value": v} for k, v in tags.items()]
        answer = cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": items}}
        )
    res.defer(remove, cf, answer["Distribution"]["Id"])
    return answer


def code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def test_distribution_with_origin_group_round_trips(res):
    cf = cloudfront()
    bucket = res.bucket("us-east-1", versioned=False, prefix="cf-logs")
    config = edge_config(res.name("edge"), bucket)
    created = create(res, cf, config, tags={"Project": "relay"})
    dist = created["Distribution"]
    dist_id, etag = dist["Id"], created["ETag"]
    assert dist["Status"] == "InProgress"
    assert created["Location"].endswith(f"/2020-05-31/distribution/{dist_id}")
    assert dist["DomainName"].endswith(".cloudfront.net")
    assert dist["ARN"] == f"arn:aws:cloudfront::000000000000:distribution/{dist_id}"
    for answered in (dist["DistributionConfig"], cf.get_distribution_config(Id=dist_id)["DistributionConfig"]):
        assert answered["OriginGroups"] == config["OriginGroups"]
        assert answered["Origins"] == config["Origins"]
        behavior = answered["DefaultCacheBehavior"]
        for key in ("CachePolicyId", "OriginRequestPolicyId", "ResponseHeadersPolicyId", "AllowedMethods", "Compress"):
            assert behavior[key] == config["DefaultCacheBehavior"][key]
        assert answered["HttpVersion"] == "http2and3"
        assert answered["Logging"] == config["Logging"]
        assert answered["IsIPV6Enabled"] is True and answered["PriceClass"] == "PriceClass_100"
        assert answered["ViewerCertificate"]["CloudFrontDefaultCertificate"] is True
    assert cf.get_distribution_config(Id=dist_id)["ETag"] == etag
    assert deployed(cf, dist_id)["ETag"] == etag

    listed = [s for s in cf.list_distributions()["DistributionList"]["Items"] if s["Id"] == dist_id]
    assert listed[0]["OriginGroups"] == config["OriginGroups"] and listed[0]["Status"] == "Deployed"
    assert listed[0]["DefaultCacheBehavior"]["CachePolicyId"] == CACHING_DISABLED

    # update: If-Match required and current; the answer is the new configuration, a new ETag
    changed = cf.get_distribution_config(Id=dist_id)["DistributionConfig"]
    changed["Comment"] = "relay edge v2"
    changed["Origins"]["Items"][0]["OriginShield"] = {"Enabled": True, "OriginShieldRegion": "eu-west-1"}
    changed["OriginGroups"]["Items"][0]["Members"]["Items"].reverse()
    with pytest.raises(ClientError) as missing:
        cf.update_distribution(Id=dist_id, IfMatch="", DistributionConfig=changed)
    assert code(missing) == "InvalidIfMatchVersion"
    with pytest.raises(ClientError) as stale:
        cf.update_distribution(Id=dist_id, IfMatch="STALE", DistributionConfig=changed)
    assert code(stale) == "PreconditionFailed"
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    updated = cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=changed)
    assert updated["ETag"] != etag and updated["Distribution"]["Status"] == "InProgress"
    again = cf.get_distribution(Id=dist_id)["Distribution"]["DistributionConfig"]
    assert again["Comment"] == "relay edge v2"
    assert again["Origins"]["Items"][0]["OriginShield"] == {"Enabled": True, "OriginShieldRegion": "eu-west-1"}
    assert [m["OriginId"] for m in again["OriginGroups"]["Items"][0]["Members"]["Items"]] == [SECONDARY, PRIMARY]

    # tags round-trip
    arn = dist["ARN"]
    assert cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == [{"Key": "Project", "Value": "relay"}]
    cf.tag_resource(Resource=arn, Tags={"Items": [{"Key": "Tier", "Value": "edge"}]})
    cf.untag_resource(Resource=arn, TagKeys={"Items": ["Project"]})
    assert cf.list_tags_for_resource(Resource=arn)["Tags"]["Items"] == [{"Key": "Tier", "Value": "edge"}]

    # delete: only disabled and deployed, with the current ETag
    etag = updated["ETag"]
    with pytest.raises(ClientError) as enabled:
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
    assert code(enabled) == "DistributionNotDisabled"
    changed = cf.get_distribution_config(Id=dist_id)["DistributionConfig"]
    changed["Enabled"] = False
    etag = cf.update_distribution(Id=dist_id, IfMatch=etag, DistributionConfig=changed)["ETag"]
    with pytest.raises(ClientError) as in_progress:
        cf.delete_distribution(Id=dist_id, IfMatch=etag)
    assert code(in_progress) == "DistributionNotDisabled"
    deployed(cf, dist_id)
    with pytest.raises(ClientError) as no_etag:
        cf.delete_distribution(Id=dist_id, IfMatch="")
    assert code(no_etag) == "InvalidIfMatchVersion"
    cf.delete_distribution(Id=dist_id, IfMatch=etag)
    with pytest.raises(ClientError) as gone:
        cf.get_distribution(Id=dist_id)
    assert code(gone) == "NoSuchDistribution"
    with pytest.raises(ClientError) as untaggable:
        cf.list_tags_for_resource(Resource=arn)
    assert code(untaggable) == "NoSuchResource"


def test_configurations_aws_refuses(res):
    cf = cloudfront()
    bucket = res.bucket("us-east-1", versioned=False, prefix="cf-logs")

    def refused(**overrides) -> str:
        with pytest.raises(ClientError) as caught:
            cf.create_distribution(DistributionConfig=edge_config(res.name("bad"), bucket, **overrides))
        return code(caught)

    groups = edge_config("x", bucket)["OriginGroups"]
    groups["Items"][0]["Members"]["Items"][1] = {"OriginId": "nowhere"}
    assert refused(OriginGroups=groups) == "InvalidArgument"
    groups = edge_config("x", bucket)["OriginGroups"]
    groups["Items"][0]["FailoverCriteria"]["StatusCodes"] = {"Quantity": 1, "Items": [302]}
    assert refused(OriginGroups=groups) == "InvalidArgument"
    behavior = edge_config("x", bucket)["DefaultCacheBehavior"]
    behavior["TargetOriginId"] = "nowhere"
    assert refused(DefaultCacheBehavior=behavior) == "NoSuchOrigin"
    behavior = edge_config("x", bucket)["DefaultCacheBehavior"]
    behavior["CachePolicyId"] = "00000000-0000-0000-0000-000000000000"
    assert refused(DefaultCacheBehavior=behavior) == "NoSuchCachePolicy"
    missing_bucket = {
        "Enabled": True,
        "IncludeCookies": False,
        "Bucket": "no-such-bucket-h3.s3.amazonaws.com",
        "Prefix": "",
    }
    assert refused(Logging=missing_bucket) == "InvalidArgument"
    certificate = {
        "ACMCertificateArn": "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000",
        "SSLSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    assert refused(ViewerCertificate=certificate) == "InvalidViewerCertificate"
    assert refused(Aliases={"Quantity": 1, "Items": ["app.relay.example"]}) == "InvalidViewerCertificate"

    # the same CallerReference: the same request answers the same distribution, another is refused
    reference = res.name("ref")
    first = create(res, cf, edge_config(reference, bucket))["Distribution"]["Id"]
    assert cf.create_distribution(DistributionConfig=edge_config(reference, bucket))["Distribution"]["Id"] == first
    with pytest.raises(ClientError) as exists:
        cf.create_distribution(DistributionConfig=edge_config(reference, bucket, Comment="other"))
    assert code(exists) == "DistributionAlreadyExists"
    with pytest.raises(ClientError) as unknown:
        cf.get_distribution(Id="E0000000000000")
    assert code(unknown) == "NoSuchDistribution"


def test_managed_policies_answer_by_id_and_name():
    cf = cloudfront()
    cache = cf.get_cache_policy(Id=CACHING_DISABLED)
    assert cache["CachePolicy"]["CachePolicyConfig"]["Name"] == "Managed-CachingDisabled" and cache["ETag"]
    assert cf.get_cache_policy_config(Id=CACHING_DISABLED)["CachePolicyConfig"]["MaxTTL"] == 0
    names = [
        p["CachePolicy"]["CachePolicyConfig"]["Name"] for p in cf.list_cache_policies()["CachePolicyList"]["Items"]
    ]
    assert "Managed-CachingDisabled" in names
    assert cf.list_cache_policies(Type="custom")["CachePolicyList"]["Quantity"] == 0
    request = cf.get_origin_request_policy(Id=ALL_VIEWER_EXCEPT_HOST)["OriginRequestPolicy"]
    assert request["OriginRequestPolicyConfig"]["Name"] == "Managed-AllViewerExceptHostHeader"
    listed = cf.list_origin_request_policies(Type="managed")["OriginRequestPolicyList"]["Items"]
    assert ALL_VIEWER_EXCEPT_HOST in [p["OriginRequestPolicy"]["Id"] for p in listed]
    headers = cf.get_response_headers_policy(Id=SECURITY_HEADERS)["ResponseHeadersPolicy"]
    assert headers["ResponseHeadersPolicyConfig"]["Name"] == "Managed-SecurityHeadersPolicy"
    listed = cf.list_response_headers_policies()["ResponseHeadersPolicyList"]["Items"]
    assert [p["Type"] for p in listed] == ["managed"]
    with pytest.raises(ClientError) as unknown:
        cf.get_cache_policy(Id="00000000-0000-0000-0000-000000000000")
    assert code(unknown) == "NoSuchCachePolicy"


def test_invalidations(res):
    cf = cloudfront()
    bucket = res.bucket("us-east-1", versioned=False, prefix="cf-logs")
    dist_id = create(res, cf, edge_config(res.name("inv"), bucket))["Distribution"]["Id"]
    batch = {"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": res.name("inv")}
    invalidation = cf.create_invalidation(DistributionId=dist_id, InvalidationBatch=batch)["Invalidation"]
    assert invalidation["InvalidationBatch"] == batch and invalidation["Status"] == "InProgress"
    assert cf.get_distribution(Id=dist_id)["Distribution"]["InProgressInvalidationBatches"] == 1
    wait_for(
        "invalidation Completed",
        lambda: (
            cf.get_invalidation(DistributionId=dist_id, Id=invalidation["Id"])["Invalidation"]["Status"] == "Completed"
        ),
        timeout=15,
        interval=0.2,
    )
    listed = cf.list_invalidations(DistributionId=dist_id)["InvalidationList"]["Items"]
    assert [i["Id"] for i in listed] == [invalidation["Id"]]
    assert cf.get_distribution(Id=dist_id)["Distribution"]["InProgressInvalidationBatches"] == 0
