"""CloudFront decisions without a server: distribution ids, the configuration AWS stores (its
defaults filled in where the request left a field out), AWS's checks of a DistributionConfig
(origins, origin groups and their failover criteria, cache behaviors, policies, certificate,
logging, enumerations), the list summary, ETag / If-Match rules and the managed policies.

Shapes are botocore's (``{"Quantity": n, "Items": [...]}`` lists), as LocalStack's parser gives
them and its serializer answers them. Standard library only (see ``core/__init__.py``);
``relay_emulator.cloudfront`` is the glue.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import string

# AWS's answers: (code, HTTP status)
INVALID_ARGUMENT = ("InvalidArgument", 400)
INCONSISTENT_QUANTITIES = ("InconsistentQuantities", 400)
NO_SUCH_ORIGIN = ("NoSuchOrigin", 404)
NO_SUCH_CACHE_POLICY = ("NoSuchCachePolicy", 404)
NO_SUCH_ORIGIN_REQUEST_POLICY = ("NoSuchOriginRequestPolicy", 404)
NO_SUCH_RESPONSE_HEADERS_POLICY = ("NoSuchResponseHeadersPolicy", 404)
INVALID_VIEWER_CERTIFICATE = ("InvalidViewerCertificate", 400)
INVALID_ORIGIN = ("InvalidOrigin", 400)
INVALID_IF_MATCH = ("InvalidIfMatchVersion", 400)
PRECONDITION_FAILED = ("PreconditionFailed", 412)
NOT_DISABLED = ("DistributionNotDisabled", 409)
ALREADY_EXISTS = ("DistributionAlreadyExists", 409)
ILLEGAL_UPDATE = ("IllegalUpdate", 400)
MISSING_BODY = ("MissingBody", 400)

# AWS: the status codes an origin group may fail over on
FAILOVER_STATUS_CODES = (400, 403, 404, 416, 500, 502, 503, 504)
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All", "None")
HTTP_VERSIONS = ("http1.1", "http2", "http3", "http2and3")
VIEWER_PROTOCOL_POLICIES = ("allow-all", "https-only", "redirect-to-https")
ORIGIN_PROTOCOL_POLICIES = ("http-only", "match-viewer", "https-only")
ORIGIN_SSL_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")
SSL_SUPPORT_METHODS = ("sni-only", "vip", "static-ip")
MINIMUM_PROTOCOL_VERSIONS = (
    "SSLv3",
    "TLSv1",
    "TLSv1_2016",
    "TLSv1.1_2016",
    "TLSv1.2_2018",
    "TLSv1.2_2019",
    "TLSv1.2_2021",
    "TLSv1.2_2025",
    "TLSv1.3_2025",
)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS", "DELETE")
# AWS accepts exactly these sets of allowed methods, and of cached methods
ALLOWED_METHOD_SETS = (
    {"GET", "HEAD"},
    {"GET", "HEAD", "OPTIONS"},
    set(METHODS),
)
CACHED_METHOD_SETS = ({"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"})
# an origin group may only be the target of behaviors that allow these methods
ORIGIN_GROUP_METHODS = {"GET", "HEAD", "OPTIONS"}
# the ACM region CloudFront takes certificates from
CERTIFICATE_REGION = "us-east-1"
# the hosted zone of every distribution's domain name (Route 53 alias records)
HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
MAX_ORIGINS = 100
ORIGIN_GROUP_MEMBERS = 2


class CloudFrontError(Exception):
    """AWS's error answer: ``code``, HTTP ``status`` and ``message``."""

    def __init__(self, kind: tuple[str, int], message: str):
        super().__init__(message)
        self.code, self.status = kind
        self.message = message


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def distribution_id() -> str:
    """A distribution id as AWS makes them: ``E`` and 13 upper-case letters and digits."""
    return "E" + _random(string.ascii_uppercase + string.digits, 13)


def domain_name() -> str:
    """A distribution's domain name: ``d`` and 13 lower-case letters and digits, .cloudfront.net."""
    return "d" + _random(string.ascii_lowercase + string.digits, 13) + ".cloudfront.net"


def etag() -> str:
    """A new version tag of a configuration (AWS: 14 upper-case letters and digits)."""
    return _random(string.ascii_uppercase + string.digits, 14)


def distribution_arn(account: str, dist_id: str) -> str:
    return f"arn:aws:cloudfront::{account}:distribution/{dist_id}"


def _items(container: dict | None, name: str) -> list:
    """The ``Items`` of a ``Quantity`` + ``Items`` list, checking that both agree."""
    if not container:
        return []
    items = container.get("Items") or []
    quantity = container.get("Quantity")
    if quantity is None:
        raise CloudFrontError(INVALID_ARGUMENT, f"{name}: Quantity is required.")
    if quantity != len(items):
        raise CloudFrontError(
            INCONSISTENT_QUANTITIES,
            f"The value of Quantity and the size of Items don't match ({name}: Quantity {quantity}, "
            f"{len(items)} Items).",
        )
    return items


def _listed(items: list | None) -> dict:
    """A ``Quantity`` + ``Items`` list (no ``Items`` member when empty, as AWS answers)."""
    items = list(items or [])
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def _relisted(container: dict | None) -> dict:
    return _listed((container or {}).get("Items"))


def _one_of(value, allowed, what: str) -> None:
    if value is not None and value not in allowed:
        raise CloudFrontError(INVALID_ARGUMENT, f"{what} {value!r} is not valid; valid values: {', '.join(allowed)}.")


# ---------------------------------------------------------------------------------------------
# the configuration AWS stores
# ---------------------------------------------------------------------------------------------


def _origin(origin: dict) -> dict:
    out = copy.deepcopy(origin)
    out.setdefault("OriginPath", "")
    out["CustomHeaders"] = _relisted(out.get("CustomHeaders"))
    custom = out.get("CustomOriginConfig")
    if custom is not None:
        custom.setdefault("OriginSslProtocols", {"Quantity": 3, "Items": ["TLSv1", "TLSv1.1", "TLSv1.2"]})
        custom.setdefault("OriginReadTimeout", 30)
        custom.setdefault("OriginKeepaliveTimeout", 5)
    s3 = out.get("S3OriginConfig")
    if s3 is not None:
        s3.setdefault("OriginAccessIdentity", "")
    out.setdefault("ConnectionAttempts", 3)
    out.setdefault("ConnectionTimeout", 10)
    out.setdefault("OriginShield", {"Enabled": False})
    out.setdefault("OriginAccessControlId", "")
    return out


def _behavior(behavior: dict) -> dict:
    out = copy.deepcopy(behavior)
    for signers in ("TrustedSigners", "TrustedKeyGroups"):
        given = out.get(signers) or {}
        out[signers] = {"Enabled": bool(given.get("Enabled", False)), **_relisted(given)}
    allowed = out.get("AllowedMethods") or {"Quantity": 2, "Items": ["HEAD", "GET"]}
    allowed.setdefault("CachedMethods", {"Quantity": 2, "Items": ["HEAD", "GET"]})
    out["AllowedMethods"] = allowed
    out.setdefault("SmoothStreaming", False)
    out.setdefault("Compress", False)
    out["LambdaFunctionAssociations"] = _relisted(out.get("LambdaFunctionAssociations"))
    out["FunctionAssociations"] = _relisted(out.get("FunctionAssociations"))
    out.setdefault("FieldLevelEncryptionId", "")
    return out


def stored_config(config: dict) -> dict:
    """The DistributionConfig AWS keeps and returns for a request's: every member the request
    gave, as given, and AWS's defaults for the optional ones it left out."""
    out = copy.deepcopy(config)
    out["Aliases"] = _relisted(out.get("Aliases"))
    out.setdefault("DefaultRootObject", "")
    out["Origins"] = _listed([_origin(o) for o in (out.get("Origins") or {}).get("Items") or []])
    groups = (out.get("OriginGroups") or {}).get("Items") or []
    out["OriginGroups"] = _listed(copy.deepcopy(groups))
    out["DefaultCacheBehavior"] = _behavior(out["DefaultCacheBehavior"])
    out["CacheBehaviors"] = _listed([_behavior(b) for b in (out.get("CacheBehaviors") or {}).get("Items") or []])
    out["CustomErrorResponses"] = _relisted(out.get("CustomErrorResponses"))
    logging = out.get("Logging") or {}
    out["Logging"] = {
        "Enabled": bool(logging.get("Enabled", False)),
        "IncludeCookies": bool(logging.get("IncludeCookies", False)),
        "Bucket": logging.get("Bucket", ""),
        "Prefix": logging.get("Prefix", ""),
    }
    out.setdefault("PriceClass", "PriceClass_All")
    out["ViewerCertificate"] = _viewer_certificate(out.get("ViewerCertificate") or {})
    restrictions = out.get("Restrictions") or {}
    geo = restrictions.get("GeoRestriction") or {"RestrictionType": "none"}
    out["Restrictions"] = {"GeoRestriction": {"RestrictionType": geo.get("RestrictionType", "none"), **_relisted(geo)}}
    out.setdefault("WebACLId", "")
    out.setdefault("HttpVersion", "http2")
    out.setdefault("IsIPV6Enabled", False)
    out.setdefault("ContinuousDeploymentPolicyId", "")
    out.setdefault("Staging", False)
    return out


def _viewer_certificate(given: dict) -> dict:
    out = dict(given)
    if out.get("ACMCertificateArn"):
        out["CloudFrontDefaultCertificate"] = False
        out["Certificate"] = out["ACMCertificateArn"]
        out["CertificateSource"] = "acm"
        out.setdefault("MinimumProtocolVersion", "TLSv1")
    elif out.get("IAMCertificateId"):
        out["CloudFrontDefaultCertificate"] = False
        out["Certificate"] = out["IAMCertificateId"]
        out["CertificateSource"] = "iam"
        out.setdefault("MinimumProtocolVersion", "TLSv1")
    else:
        out["CloudFrontDefaultCertificate"] = True
        out["SSLSupportMethod"] = "vip"
        out.setdefault("MinimumProtocolVersion", "TLSv1")
        out["CertificateSource"] = "cloudfront"
    return out


# ---------------------------------------------------------------------------------------------
# AWS's checks
# ---------------------------------------------------------------------------------------------


def check_config(config: dict, policies: Policies | None = None) -> None:
    """Raise AWS's error for a DistributionConfig AWS would refuse (the checks that need no
    other service: certificates and log buckets are checked by the caller)."""
    if config is None:
        raise CloudFrontError(MISSING_BODY, "The request body is missing.")
    for required in ("CallerReference", "Origins", "DefaultCacheBehavior", "Comment", "Enabled"):
        if config.get(required) is None:
            raise CloudFrontError(INVALID_ARGUMENT, f"The parameter {required} is required.")
    if len(config["Comment"]) > 128:
        raise CloudFrontError(INVALID_ARGUMENT, "The parameter Comment is too long (at most 128 characters).")
    _one_of(config.get("PriceClass"), PRICE_CLASSES, "PriceClass")
    _one_of(config.get("HttpVersion"), HTTP_VERSIONS, "HttpVersion")
    _items(config.get("Aliases"), "Aliases")
    origin_ids = _check_origins(_items(config["Origins"], "Origins"))
    group_ids = _check_origin_groups(_items(config.get("OriginGroups"), "OriginGroups"), origin_ids)
    behaviors = [("DefaultCacheBehavior", config["DefaultCacheBehavior"])]
    behaviors += [
        (f"CacheBehavior {b.get('PathPattern')!r}", b) for b in _items(config.get("CacheBehaviors"), "CacheBehaviors")
    ]
    for what, behavior in behaviors:
        _check_behavior(what, behavior, origin_ids, group_ids, policies or Policies())
    _items(config.get("CustomErrorResponses"), "CustomErrorResponses")
    _check_viewer_certificate(config.get("ViewerCertificate") or {}, _items(config.get("Aliases"), "Aliases"))
    logging = config.get("Logging") or {}
    if logging.get("Enabled"):
        bucket = logging.get("Bucket") or ""
        if not bucket_of_logging(bucket):
            raise CloudFrontError(
                INVALID_ARGUMENT,
                f"The parameter Logging Bucket {bucket!r} is not valid: name the bucket as <bucket>.s3.amazonaws.com.",
            )
    geo = (config.get("Restrictions") or {}).get("GeoRestriction") or {}
    _one_of(geo.get("RestrictionType"), ("none", "whitelist", "blacklist"), "GeoRestriction RestrictionType")
    locations = _items(geo, "GeoRestriction") if geo else []
    if geo.get("RestrictionType") == "none" and locations:
        raise CloudFrontError(INVALID_ARGUMENT, "GeoRestriction of type none takes no locations.")


def _check_origins(origins: list) -> set:
    if not origins:
        raise CloudFrontError(INVALID_ARGUMENT, "The parameter Origins must contain at least one origin.")
    if len(origins) > MAX_ORIGINS:
        raise CloudFrontError(INVALID_ARGUMENT, f"A distribution has at most {MAX_ORIGINS} origins.")
    ids: set = set()
    for origin in origins:
        origin_id, domain = origin.get("Id"), origin.get("DomainName")
        if not origin_id or not domain:
            raise CloudFrontError(INVALID_ARGUMENT, "Every origin needs an Id and a DomainName.")
        if origin_id in ids:
            raise CloudFrontError(INVALID_ARGUMENT, f"The origin id {origin_id!r} is used by more than one origin.")
        ids.add(origin_id)
        kinds = [k for k in ("S3OriginConfig", "CustomOriginConfig", "VpcOriginConfig") if origin.get(k) is not None]
        if len(kinds) != 1:
            raise CloudFrontError(
                INVALID_ORIGIN,
                f"Origin {origin_id!r}: exactly one of S3OriginConfig, CustomOriginConfig or VpcOriginConfig "
                "must be specified.",
            )
        custom = origin.get("CustomOriginConfig")
        if custom is not None:
            _one_of(custom.get("OriginProtocolPolicy"), ORIGIN_PROTOCOL_POLICIES, "OriginProtocolPolicy")
            for port in ("HTTPPort", "HTTPSPort"):
                value = custom.get(port)
                if value is None or not (value in (80, 443) or 1024 <= value <= 65535):
                    raise CloudFrontError(
                        INVALID_ARGUMENT, f"Origin {origin_id!r}: {port} {value} is not valid (80, 443 or 1024-65535)."
                    )
            for protocol in _items(custom.get("OriginSslProtocols"), "OriginSslProtocols"):
                _one_of(protocol, ORIGIN_SSL_PROTOCOLS, "OriginSslProtocols")
            _in_range(origin_id, custom, "OriginReadTimeout", 1, 180)
            _in_range(origin_id, custom, "OriginKeepaliveTimeout", 1, 180)
        _in_range(origin_id, origin, "ConnectionAttempts", 1, 3)
        _in_range(origin_id, origin, "ConnectionTimeout", 1, 10)
        _items(origin.get("CustomHeaders"), f"Origin {origin_id} CustomHeaders")
        shield = origin.get("OriginShield") or {}
        if shield.get("Enabled") and not shield.get("OriginShieldRegion"):
            raise CloudFrontError(
                INVALID_ARGUMENT, f"Origin {origin_id!r}: OriginShieldRegion is required when Origin Shield is enabled."
            )
    return ids


def _in_range(origin_id: str, settings: dict, key: str, low: int, high: int) -> None:
    """An origin's optional number setting ``key``, when set, must lie in low-high."""
    value = settings.get(key)
    if value is not None and not low <= value <= high:
        raise CloudFrontError(INVALID_ARGUMENT, f"Origin {origin_id!r}: {key} must be {low}-{high}.")


def _check_origin_groups(groups: list, origin_ids: set) -> set:
    ids: set = set()
    for group in groups:
        group_id = group.get("Id")
        if not group_id:
            raise CloudFrontError(INVALID_ARGUMENT, "Every origin group needs an Id.")
        if group_id in ids or group_id in origin_ids:
            raise CloudFrontError(
                INVALID_ARGUMENT, f"The origin group id {group_id!r} is already the id of an origin or origin group."
            )
        ids.add(group_id)
        criteria = (group.get("FailoverCriteria") or {}).get("StatusCodes")
        codes = _items(criteria, f"OriginGroup {group_id} StatusCodes")
        if not codes:
            raise CloudFrontError(
                INVALID_ARGUMENT, f"Origin group {group_id!r}: FailoverCriteria needs at least one status code."
            )
        for code in codes:
            if code not in FAILOVER_STATUS_CODES:
                raise CloudFrontError(
                    INVALID_ARGUMENT,
                    f"Origin group {group_id!r}: failover status code {code} is not valid; valid codes: "
                    f"{', '.join(str(c) for c in FAILOVER_STATUS_CODES)}.",
                )
        if len(set(codes)) != len(codes):
            raise CloudFrontError(INVALID_ARGUMENT, f"Origin group {group_id!r}: a failover status code is repeated.")
        members = _items(group.get("Members"), f"OriginGroup {group_id} Members")
        if len(members) != ORIGIN_GROUP_MEMBERS:
            raise CloudFrontError(
                INVALID_ARGUMENT,
                f"Origin group {group_id!r} has {len(members)} members; an origin group has exactly "
                f"{ORIGIN_GROUP_MEMBERS} (primary, secondary).",
            )
        names = [m.get("OriginId") for m in members]
        for name in names:
            if name not in origin_ids:
                raise CloudFrontError(
                    INVALID_ARGUMENT,
                    f"Origin group {group_id!r}: member {name!r} is not an origin of the distribution.",
                )
        if len(set(names)) != len(names):
            raise CloudFrontError(INVALID_ARGUMENT, f"Origin group {group_id!r}: its members must be two origins.")
        _one_of(group.get("SelectionCriteria"), ("default", "media-quality-based"), "SelectionCriteria")
    return ids


def _check_behavior(what: str, behavior: dict, origin_ids: set, group_ids: set, policies: Policies) -> None:
    target = behavior.get("TargetOriginId")
    if target not in origin_ids and target not in group_ids:
        raise CloudFrontError(NO_SUCH_ORIGIN, f"{what}: no origin or origin group has the id {target!r}.")
    _one_of(behavior.get("ViewerProtocolPolicy"), VIEWER_PROTOCOL_POLICIES, "ViewerProtocolPolicy")
    allowed = behavior.get("AllowedMethods")
    methods = {"GET", "HEAD"}
    if allowed is not None:
        methods = set(_items(allowed, "AllowedMethods"))
        if methods not in ALLOWED_METHOD_SETS:
            raise CloudFrontError(
                INVALID_ARGUMENT,
                f"{what}: AllowedMethods must be GET, HEAD; or GET, HEAD, OPTIONS; or all seven methods.",
            )
        cached = allowed.get("CachedMethods")
        if cached is not None and set(_items(cached, "CachedMethods")) not in CACHED_METHOD_SETS:
            raise CloudFrontError(INVALID_ARGUMENT, f"{what}: CachedMethods must be GET, HEAD; or GET, HEAD, OPTIONS.")
    if target in group_ids and not methods <= ORIGIN_GROUP_METHODS:
        raise CloudFrontError(
            INVALID_ARGUMENT,
            f"{what}: a cache behavior whose target is an origin group may only allow GET, HEAD and OPTIONS.",
        )
    cache_policy = behavior.get("CachePolicyId")
    if cache_policy:
        if behavior.get("ForwardedValues") is not None:
            raise CloudFrontError(INVALID_ARGUMENT, f"{what}: ForwardedValues cannot be combined with a CachePolicyId.")
        if policies.cache(cache_policy) is None:
            raise CloudFrontError(NO_SUCH_CACHE_POLICY, f"The cache policy {cache_policy!r} does not exist.")
    elif behavior.get("ForwardedValues") is None:
        raise CloudFrontError(
            INVALID_ARGUMENT, f"{what}: the parameter ForwardedValues is required when there is no CachePolicyId."
        )
    request_policy = behavior.get("OriginRequestPolicyId")
    if request_policy and policies.origin_request(request_policy) is None:
        raise CloudFrontError(
            NO_SUCH_ORIGIN_REQUEST_POLICY, f"The origin request policy {request_policy!r} does not exist."
        )
    headers_policy = behavior.get("ResponseHeadersPolicyId")
    if headers_policy and policies.response_headers(headers_policy) is None:
        raise CloudFrontError(
            NO_SUCH_RESPONSE_HEADERS_POLICY, f"The response headers policy {headers_policy!r} does not exist."
        )
    for signers in ("TrustedSigners", "TrustedKeyGroups", "LambdaFunctionAssociations", "FunctionAssociations"):
        _items(behavior.get(signers), f"{what} {signers}")


def _check_viewer_certificate(certificate: dict, aliases: list) -> None:
    sources = [k for k in ("ACMCertificateArn", "IAMCertificateId") if certificate.get(k)]
    if certificate.get("CloudFrontDefaultCertificate") and sources:
        raise CloudFrontError(
            INVALID_VIEWER_CERTIFICATE,
            "CloudFrontDefaultCertificate cannot be combined with ACMCertificateArn or IAMCertificateId.",
        )
    if len(sources) > 1:
        raise CloudFrontError(INVALID_VIEWER_CERTIFICATE, "Specify only one of ACMCertificateArn and IAMCertificateId.")
    _one_of(certificate.get("MinimumProtocolVersion"), MINIMUM_PROTOCOL_VERSIONS, "MinimumProtocolVersion")
    _one_of(certificate.get("SSLSupportMethod"), SSL_SUPPORT_METHODS, "SSLSupportMethod")
    arn = certificate.get("ACMCertificateArn")
    if arn:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "acm" or parts[3] != CERTIFICATE_REGION:
            raise CloudFrontError(
                INVALID_VIEWER_CERTIFICATE,
                f"The certificate {arn} is not an ACM certificate in {CERTIFICATE_REGION}: CloudFront uses "
                f"certificates from ACM in {CERTIFICATE_REGION} only.",
            )
    if sources and not certificate.get("SSLSupportMethod"):
        raise CloudFrontError(
            INVALID_VIEWER_CERTIFICATE, "SSLSupportMethod is required with ACMCertificateArn or IAMCertificateId."
        )
    if aliases and not sources:
        raise CloudFrontError(
            INVALID_VIEWER_CERTIFICATE,
            "To add an alternate domain name (CNAME) to a CloudFront distribution, you must attach a trusted "
            "certificate that validates your authorization to use the domain name.",
        )


def bucket_of_logging(bucket: str) -> str | None:
    """The S3 bucket name of a logging ``Bucket`` (``<name>.s3.amazonaws.com``), None if malformed."""
    suffix = ".s3.amazonaws.com"
    if not bucket.endswith(suffix) or len(bucket) == len(suffix):
        return None
    return bucket[: -len(suffix)]


def check_update(current: dict, new: dict) -> None:
    """AWS's checks of an UpdateDistribution beyond those of a new configuration."""
    if new.get("CallerReference") != current.get("CallerReference"):
        raise CloudFrontError(ILLEGAL_UPDATE, "The CallerReference of a distribution cannot be changed.")


def check_if_match(if_match: str | None, current_etag: str) -> None:
    """An update or delete names the current version of the configuration (``If-Match``)."""
    if not if_match:
        raise CloudFrontError(INVALID_IF_MATCH, "The If-Match version is missing or not valid for the resource.")
    if if_match != current_etag:
        raise CloudFrontError(PRECONDITION_FAILED, "The If-Match version is missing or not valid for the resource.")


def check_deletable(config: dict, deployed: bool) -> None:
    """AWS deletes only a distribution that is disabled and whose disabling is deployed."""
    if config.get("Enabled") or not deployed:
        raise CloudFrontError(NOT_DISABLED, "The distribution you are trying to delete has not been disabled.")


def same_request(stored: dict, requested: dict) -> bool:
    """Whether a CreateDistribution with an existing CallerReference repeats that request
    (AWS then answers the existing distribution; otherwise DistributionAlreadyExists)."""
    return stored_config(requested) == stored


# ---------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------

_SUMMARY_MEMBERS = (
    "Aliases",
    "Origins",
    "OriginGroups",
    "DefaultCacheBehavior",
    "CacheBehaviors",
    "CustomErrorResponses",
    "Comment",
    "PriceClass",
    "Enabled",
    "ViewerCertificate",
    "Restrictions",
    "WebACLId",
    "HttpVersion",
    "IsIPV6Enabled",
    "Staging",
)


def distribution(record: dict, status: str, invalidating: int = 0) -> dict:
    """GetDistribution's ``Distribution`` of a stored record (``Id``, ``ARN``, ``DomainName``,
    ``LastModifiedTime``, ``Config``); ``invalidating``: its invalidations in progress."""
    out = {
        "Id": record["Id"],
        "ARN": record["ARN"],
        "Status": status,
        "LastModifiedTime": record["LastModifiedTime"],
        "InProgressInvalidationBatches": invalidating,
        "DomainName": record["DomainName"],
        "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
        "ActiveTrustedKeyGroups": {"Enabled": False, "Quantity": 0},
        "DistributionConfig": copy.deepcopy(record["Config"]),
    }
    aliases = record["Config"]["Aliases"].get("Items") or []
    if aliases:
        out["AliasICPRecordals"] = [{"CNAME": a, "ICPRecordalStatus": "APPROVED"} for a in aliases]
    return out


def summary(record: dict, status: str) -> dict:
    """ListDistributions' ``DistributionSummary`` of a stored record."""
    config = record["Config"]
    out = {
        "Id": record["Id"],
        "ARN": record["ARN"],
        "ETag": record["ETag"],
        "Status": status,
        "LastModifiedTime": record["LastModifiedTime"],
        "DomainName": record["DomainName"],
    }
    for member in _SUMMARY_MEMBERS:
        if member in config:
            out[member] = copy.deepcopy(config[member])
    aliases = config["Aliases"].get("Items") or []
    if aliases:
        out["AliasICPRecordals"] = [{"CNAME": a, "ICPRecordalStatus": "APPROVED"} for a in aliases]
    return out


def page(items: list, marker: str | None, max_items: int | None) -> tuple[list, dict]:
    """One page of a CloudFront list: (items, the list's ``Marker`` / ``MaxItems`` /
    ``IsTruncated`` / ``NextMarker`` / ``Quantity`` members)."""
    start = int(marker) if marker and marker.isdigit() else 0
    size = int(max_items) if max_items else 100
    chosen = items[start : start + size]
    meta = {"Marker": marker or "", "MaxItems": size, "IsTruncated": start + size < len(items), "Quantity": len(chosen)}
    if meta["IsTruncated"]:
        meta["NextMarker"] = str(start + size)
    return chosen, meta


# ---------------------------------------------------------------------------------------------
# managed policies (AWS's, identical in every account)
# ---------------------------------------------------------------------------------------------

_MANAGED_TIME = datetime.datetime(2021, 6, 1, tzinfo=datetime.UTC)
_NONE = {"Quantity": 0}


def _cache_policy(policy_id: str, name: str, comment: str, ttl: tuple, compress: bool) -> dict:
    return {
        "Id": policy_id,
        "LastModifiedTime": _MANAGED_TIME,
        "CachePolicyConfig": {
            "Comment": comment,
            "Name": name,
            "DefaultTTL": ttl[1],
            "MaxTTL": ttl[2],
            "MinTTL": ttl[0],
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": compress,
                "EnableAcceptEncodingBrotli": compress,
                "HeadersConfig": {"HeaderBehavior": "none"},
                "CookiesConfig": {"CookieBehavior": "none"},
                "QueryStringsConfig": {"QueryStringBehavior": "none"},
            },
        },
    }


def _request_policy(policy_id: str, name: str, comment: str, headers: dict, cookies: str, queries: str) -> dict:
    return {
        "Id": policy_id,
        "LastModifiedTime": _MANAGED_TIME,
        "OriginRequestPolicyConfig": {
            "Comment": comment,
            "Name": name,
            "HeadersConfig": headers,
            "CookiesConfig": {"CookieBehavior": cookies},
            "QueryStringsConfig": {"QueryStringBehavior": queries},
        },
    }


MANAGED_CACHE_POLICIES = [
    _cache_policy(
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "Managed-CachingDisabled",
        "Policy with caching disabled",
        (0, 0, 0),
        False,
    ),
    _cache_policy(
        "658327ea-f89d-4fab-a63d-7e88639e58f6",
        "Managed-CachingOptimized",
        "Policy with caching enabled. Supports Gzip and Brotli compression.",
        (1, 86400, 31536000),
        True,
    ),
]

MANAGED_ORIGIN_REQUEST_POLICIES = [
    _request_policy(
        "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "Managed-AllViewerExceptHostHeader",
        "Policy to forward all parameters in viewer requests except for the Host header",
        {"HeaderBehavior": "allExcept", "Headers": {"Quantity": 1, "Items": ["host"]}},
        "all",
        "all",
    ),
    _request_policy(
        "216adef6-5c7f-47e4-b989-5492eafa07d3",
        "Managed-AllViewer",
        "Policy to forward all parameters in viewer requests",
        {"HeaderBehavior": "allViewer"},
        "all",
        "all",
    ),
]

MANAGED_RESPONSE_HEADERS_POLICIES = [
    {
        "Id": "67f7725c-6f97-4210-82d7-5512b31e9d03",
        "LastModifiedTime": _MANAGED_TIME,
        "ResponseHeadersPolicyConfig": {
            "Comment": "Adds a set of security headers to every response",
            "Name": "Managed-SecurityHeadersPolicy",
            "SecurityHeadersConfig": {
                "XSSProtection": {"Override": False, "Protection": True, "ModeBlock": True},
                "FrameOptions": {"Override": False, "FrameOption": "SAMEORIGIN"},
                "ReferrerPolicy": {"Override": False, "ReferrerPolicy": "strict-origin-when-cross-origin"},
                "ContentTypeOptions": {"Override": True},
                "StrictTransportSecurity": {
                    "Override": False,
                    "IncludeSubdomains": False,
                    "Preload": False,
                    "AccessControlMaxAgeSec": 31536000,
                },
            },
        },
    },
]

# a managed policy's ETag never changes
MANAGED_ETAG = "E23ZP02F085DFQ"


class Policies:
    """The policies a distribution may name: AWS's managed ones (custom policies are not emulated)."""

    def cache(self, policy_id: str) -> dict | None:
        return _find(MANAGED_CACHE_POLICIES, policy_id)

    def origin_request(self, policy_id: str) -> dict | None:
        return _find(MANAGED_ORIGIN_REQUEST_POLICIES, policy_id)

    def response_headers(self, policy_id: str) -> dict | None:
        return _find(MANAGED_RESPONSE_HEADERS_POLICIES, policy_id)


def _find(policies: list, policy_id: str) -> dict | None:
    for policy in policies:
        if policy["Id"] == policy_id:
            return copy.deepcopy(policy)
    return None


def policy_list(policies: list, kind: str | None, marker: str | None, max_items: int | None, type_key: str) -> dict:
    """List*Policies' answer: managed policies for ``Type`` managed or none, none for custom."""
    chosen = [] if kind == "custom" else policies
    items, meta = page([{"Type": "managed", type_key: copy.deepcopy(p)} for p in chosen], marker, max_items)
    meta.pop("IsTruncated")
    out = {"MaxItems": meta["MaxItems"], "Quantity": meta["Quantity"]}
    if "NextMarker" in meta:
        out["NextMarker"] = meta["NextMarker"]
    if items:
        out["Items"] = items
    return out
