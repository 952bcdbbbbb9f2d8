"""CloudFront (not in LocalStack's community edition; moto drops origin groups, policies, HTTP
version, logging and more): distributions as AWS keeps them.

* **Distributions** live in our store (global per account, as CloudFront is), each with the
  DistributionConfig as the request gave it plus AWS's defaults (``core/cloudfront.py``), an
  ETag per configuration version, ``InProgress`` for ``RELAY_CLOUDFRONT_DEPLOY_SECONDS``
  (default 1 s) after each change, then ``Deployed``. Create (with tags), Get, GetConfig, List,
  Update (If-Match), Delete (If-Match; only a disabled, deployed distribution) answer AWS's
  shapes and errors. Nothing is served: the distribution's domain name does not resolve.
* **Checks** as AWS makes them: origins, origin groups (two members that are origins of the
  distribution, failover status codes AWS accepts), behavior targets, policy ids, the viewer
  certificate (an ISSUED ACM certificate in us-east-1 of the emulator), the log bucket (must
  exist in the emulator's S3).
* **Policies**: AWS's managed cache, origin request and response headers policies (Get,
  GetConfig, List); custom policies are not emulated (their Create answers moto's not
  implemented).
* **Tags** of distributions (TagResource, UntagResource, ListTagsForResource) and
  **invalidations** (Create, Get, List; Completed once the deploy delay passes).

Other operations (origin access controls, public keys, key groups) go to moto.

``install`` (start-up hook) fixes LocalStack's REST operation router: it keeps the required query
values of a request URI (``?Operation=Tag`` / ``?Operation=Untag``) as one-shot iterators, so after the
first match every later request matched any value and UntagResource was parsed as TagResource.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from dataclasses import dataclass

from localstack.aws.api import RequestContext, handler
from localstack.services.stores import AccountRegionBundle, BaseStore, CrossRegionAttribute
from localstack.utils.patch import Patch
from localstack.utils.tagging import Tags

from relay_emulator.common import bucket_location, err, error_code, internal_client, now
from relay_emulator.core import cloudfront as core

_INSTALLED = False


def install() -> None:
    """Keep the required query values of REST operations as lists (class level, once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from localstack.aws.protocol.op_router import _HttpOperation

    def from_operation(original, op):
        http_op = original(op)
        return http_op._replace(query_args={k: list(v) for k, v in http_op.query_args.items()})

    Patch.function(_HttpOperation.from_operation, from_operation).apply()
    _INSTALLED = True


class CloudFrontStore(BaseStore):
    """Distributions of an account (CloudFront is global: one store for every region), by id:
    records with ``Id``, ``ARN``, ``DomainName``, ``Config``, ``ETag``, ``LastModifiedTime``,
    ``DeployedAt`` (epoch seconds), ``Invalidations``."""

    distributions: dict[str, dict] = CrossRegionAttribute(default=dict)
    tags: Tags = CrossRegionAttribute(default=Tags)


cloudfront_stores = AccountRegionBundle("cloudfront", CloudFrontStore, validate=False)


def _deploy_seconds() -> float:
    return float(os.environ.get("RELAY_CLOUDFRONT_DEPLOY_SECONDS", "1.0"))


def _status(record: dict) -> str:
    return "Deployed" if time.time() >= record["DeployedAt"] else "InProgress"


def _aws(e: core.CloudFrontError):
    return err(e.code, e.message, e.status)


def _no_such_distribution(dist_id: str):
    return err("NoSuchDistribution", f"The specified distribution does not exist: {dist_id}", 404)


class CloudFrontProvider:
    """Distribution, tag, invalidation and managed policy handlers; the rest goes to moto."""

    service = "cloudfront"
    version = "2020-05-31"
    stores = cloudfront_stores

    def __init__(self):
        self._lock = threading.RLock()

    def accept_state_visitor(self, visitor) -> None:
        visitor.visit(self.stores)

    def _store(self, context: RequestContext) -> CloudFrontStore:
        return self.stores[context.account_id][core.CERTIFICATE_REGION]

    def _record(self, context: RequestContext, dist_id: str) -> dict:
        record = self._store(context).distributions.get(dist_id)
        if record is None:
            raise _no_such_distribution(dist_id)
        return record

    # -- checks that need other services -------------------------------------------------

    def _check(self, context: RequestContext, config: dict) -> None:
        try:
            core.check_config(config, core.Policies())
        except core.CloudFrontError as e:
            raise _aws(e) from None
        arn = (config.get("ViewerCertificate") or {}).get("ACMCertificateArn")
        if arn:
            self._check_certificate(context, arn)
        logging = config.get("Logging") or {}
        if logging.get("Enabled"):
            name = core.bucket_of_logging(logging.get("Bucket") or "")
            if bucket_location(name)[0] is None:
                raise err(
                    "InvalidArgument",
                    f"The S3 bucket that you specified for CloudFront logs doesn't exist: {logging.get('Bucket')}",
                )

    def _check_certificate(self, context: RequestContext, arn: str) -> None:
        account = arn.split(":")[4] or context.account_id
        acm = internal_client("acm", core.CERTIFICATE_REGION, account)
        try:
            status = acm.describe_certificate(CertificateArn=arn)["Certificate"].get("Status")
        except Exception as e:
            if error_code(e) in ("ResourceNotFoundException", "ValidationException", "InvalidArnException"):
                status = None
            else:
                raise
        if status != "ISSUED":
            raise err(
                "InvalidViewerCertificate",
                f"The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or doesn't "
                f"include a valid certificate chain: {arn} ({'not found' if status is None else status}).",
            )

    # -- distributions -------------------------------------------------------------------

    def _create(self, context: RequestContext, config: dict, tags: list | None) -> dict:
        self._check(context, config)
        store = self._store(context)
        with self._lock:
            for record in store.distributions.values():
                if record["Config"]["CallerReference"] == config["CallerReference"]:
                    if core.same_request(record["Config"], config):
                        return self._answer(record, created=True)
                    raise err(
                        "DistributionAlreadyExists",
                        "The caller reference that you are using to create a distribution is associated with "
                        f"another distribution: {record['Id']}",
                        409,
                    )
            dist_id = core.distribution_id()
            record = {
                "Id": dist_id,
                "ARN": core.distribution_arn(context.account_id, dist_id),
                "DomainName": core.domain_name(),
                "Config": core.stored_config(config),
                "ETag": core.etag(),
                "LastModifiedTime": now(),
                "DeployedAt": time.time() + _deploy_seconds(),
                "Invalidations": {},
            }
            store.distributions[dist_id] = record
            if tags:
                store.tags.update_tags(record["ARN"], {t["Key"]: t.get("Value", "") for t in tags})
            return self._answer(record, created=True)

    @staticmethod
    def _answer(record: dict, created: bool = False) -> dict:
        invalidating = sum(1 for i in record.get("Invalidations", {}).values() if time.time() < i["DoneAt"])
        out = {"Distribution": core.distribution(record, _status(record), invalidating), "ETag": record["ETag"]}
        if created:
            out["Location"] = f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{record['Id']}"
        return out

    @handler("CreateDistribution", expand=False)
    def create_distribution(self, context: RequestContext, request: dict) -> dict:
        return self._create(context, request.get("DistributionConfig"), None)

    @handler("CreateDistributionWithTags", expand=False)
    def create_distribution_with_tags(self, context: RequestContext, request: dict) -> dict:
        given = request.get("DistributionConfigWithTags") or {}
        tags = (given.get("Tags") or {}).get("Items") or []
        _check_tags(tags)
        return self._create(context, given.get("DistributionConfig"), tags)

    @handler("GetDistribution", expand=False)
    def get_distribution(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            return self._answer(self._record(context, request["Id"]))

    @handler("GetDistributionConfig", expand=False)
    def get_distribution_config(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            record = self._record(context, request["Id"])
            return {"DistributionConfig": copy.deepcopy(record["Config"]), "ETag": record["ETag"]}

    @handler("ListDistributions", expand=False)
    def list_distributions(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            records = sorted(self._store(context).distributions.values(), key=lambda r: r["LastModifiedTime"])
            summaries = [core.summary(r, _status(r)) for r in records]
        items, meta = core.page(summaries, request.get("Marker"), request.get("MaxItems"))
        if items:
            meta["Items"] = items
        return {"DistributionList": meta}

    @handler("UpdateDistribution", expand=False)
    def update_distribution(self, context: RequestContext, request: dict) -> dict:
        config = request.get("DistributionConfig")
        with self._lock:
            record = self._record(context, request["Id"])
            try:
                core.check_if_match(request.get("IfMatch"), record["ETag"])
            except core.CloudFrontError as e:
                raise _aws(e) from None
        self._check(context, config)
        with self._lock:
            record = self._record(context, request["Id"])
            try:
                core.check_if_match(request.get("IfMatch"), record["ETag"])  # not changed meanwhile
                core.check_update(record["Config"], config)
            except core.CloudFrontError as e:
                raise _aws(e) from None
            stored = core.stored_config(config)
            if stored != record["Config"]:
                record["Config"] = stored
                record["LastModifiedTime"] = now()
                record["DeployedAt"] = time.time() + _deploy_seconds()
            record["ETag"] = core.etag()  # AWS gives every update a new version
            return self._answer(record)

    @handler("DeleteDistribution", expand=False)
    def delete_distribution(self, context: RequestContext, request: dict) -> dict:
        store = self._store(context)
        with self._lock:
            record = self._record(context, request["Id"])
            try:
                core.check_if_match(request.get("IfMatch"), record["ETag"])
                core.check_deletable(record["Config"], _status(record) == "Deployed")
            except core.CloudFrontError as e:
                raise _aws(e) from None
            del store.distributions[record["Id"]]
            store.tags.delete_all_tags(record["ARN"])
        return {}

    # -- tags ------------------------------------------------------------------------------

    def _tagged(self, context: RequestContext, arn: str) -> dict:
        dist_id = arn.rsplit(":distribution/", 1)[-1] if ":distribution/" in arn else None
        record = self._store(context).distributions.get(dist_id) if dist_id else None
        if record is None or record["ARN"] != arn:
            raise err("NoSuchResource", f"The specified resource does not exist: {arn}", 404)
        return record

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        tags = (request.get("Tags") or {}).get("Items") or []
        _check_tags(tags)
        with self._lock:
            record = self._tagged(context, request["Resource"])
            self._store(context).tags.update_tags(record["ARN"], {t["Key"]: t.get("Value", "") for t in tags})
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        keys = (request.get("TagKeys") or {}).get("Items") or []
        with self._lock:
            record = self._tagged(context, request["Resource"])
            self._store(context).tags.delete_tags(record["ARN"], keys)
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            record = self._tagged(context, request["Resource"])
            tags = self._store(context).tags.get_tags(record["ARN"])
        items = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {"Tags": {"Items": items}}

    # -- invalidations ---------------------------------------------------------------------

    @handler("CreateInvalidation", expand=False)
    def create_invalidation(self, context: RequestContext, request: dict) -> dict:
        batch = request.get("InvalidationBatch") or {}
        try:
            core._items(batch.get("Paths"), "Paths")
        except core.CloudFrontError as e:
            raise _aws(e) from None
        with self._lock:
            record = self._record(context, request["DistributionId"])
            invalidations = record.setdefault("Invalidations", {})
            for existing in invalidations.values():
                if existing["InvalidationBatch"]["CallerReference"] == batch.get("CallerReference"):
                    if existing["InvalidationBatch"] != batch:
                        raise err(
                            "InvalidationBatchAlreadyExists", "An invalidation with this CallerReference exists.", 409
                        )
                    return self._invalidation_answer(record, existing)
            invalidation = {
                "Id": "I" + core.etag()[:13],
                "CreateTime": now(),
                "InvalidationBatch": copy.deepcopy(batch),
                "DoneAt": time.time() + _deploy_seconds(),
            }
            invalidations[invalidation["Id"]] = invalidation
            return self._invalidation_answer(record, invalidation)

    @staticmethod
    def _invalidation(invalidation: dict) -> dict:
        return {
            "Id": invalidation["Id"],
            "Status": "Completed" if time.time() >= invalidation["DoneAt"] else "InProgress",
            "CreateTime": invalidation["CreateTime"],
            "InvalidationBatch": copy.deepcopy(invalidation["InvalidationBatch"]),
        }

    def _invalidation_answer(self, record: dict, invalidation: dict) -> dict:
        return {
            "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{record['Id']}/invalidation/"
            f"{invalidation['Id']}",
            "Invalidation": self._invalidation(invalidation),
        }

    @handler("GetInvalidation", expand=False)
    def get_invalidation(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            record = self._record(context, request["DistributionId"])
            invalidation = record.get("Invalidations", {}).get(request["Id"])
            if invalidation is None:
                raise err("NoSuchInvalidation", f"The specified invalidation does not exist: {request['Id']}", 404)
            return {"Invalidation": self._invalidation(invalidation)}

    @handler("ListInvalidations", expand=False)
    def list_invalidations(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            record = self._record(context, request["DistributionId"])
            found = sorted(record.get("Invalidations", {}).values(), key=lambda i: i["CreateTime"], reverse=True)
            summaries = [
                {"Id": i["Id"], "CreateTime": i["CreateTime"], "Status": self._invalidation(i)["Status"]} for i in found
            ]
        items, meta = core.page(summaries, request.get("Marker"), request.get("MaxItems"))
        if items:
            meta["Items"] = items
        return {"InvalidationList": meta}

    # -- managed policies ------------------------------------------------------------------

    @handler("GetCachePolicy", expand=False)
    def get_cache_policy(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(CACHE, request)

    @handler("GetCachePolicyConfig", expand=False)
    def get_cache_policy_config(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(CACHE, request, "Config")

    @handler("ListCachePolicies", expand=False)
    def list_cache_policies(self, context: RequestContext, request: dict) -> dict:
        return _list_policies(CACHE, request)

    @handler("GetOriginRequestPolicy", expand=False)
    def get_origin_request_policy(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(ORIGIN_REQUEST, request)

    @handler("GetOriginRequestPolicyConfig", expand=False)
    def get_origin_request_policy_config(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(ORIGIN_REQUEST, request, "Config")

    @handler("ListOriginRequestPolicies", expand=False)
    def list_origin_request_policies(self, context: RequestContext, request: dict) -> dict:
        return _list_policies(ORIGIN_REQUEST, request)

    @handler("GetResponseHeadersPolicy", expand=False)
    def get_response_headers_policy(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(RESPONSE_HEADERS, request)

    @handler("GetResponseHeadersPolicyConfig", expand=False)
    def get_response_headers_policy_config(self, context: RequestContext, request: dict) -> dict:
        return _get_policy(RESPONSE_HEADERS, request, "Config")

    @handler("ListResponseHeadersPolicies", expand=False)
    def list_response_headers_policies(self, context: RequestContext, request: dict) -> dict:
        return _list_policies(RESPONSE_HEADERS, request)


@dataclass(frozen=True)
class _PolicyKind:
    """One kind of managed policy: its API name (``CachePolicy``: NoSuchCachePolicy, CachePolicyConfig,
    CachePolicyList), how the error names it, its lookup in ``core.Policies`` and AWS's managed list."""

    name: str
    words: str
    find: str
    managed: list


CACHE = _PolicyKind("CachePolicy", "cache policy", "cache", core.MANAGED_CACHE_POLICIES)
ORIGIN_REQUEST = _PolicyKind(
    "OriginRequestPolicy", "origin request policy", "origin_request", core.MANAGED_ORIGIN_REQUEST_POLICIES
)
RESPONSE_HEADERS = _PolicyKind(
    "ResponseHeadersPolicy", "response headers policy", "response_headers", core.MANAGED_RESPONSE_HEADERS_POLICIES
)


def _get_policy(kind: _PolicyKind, request: dict, part: str = "") -> dict:
    """Get<Kind>Policy (``part`` "") or Get<Kind>PolicyConfig (``part`` "Config")."""
    policy = getattr(core.Policies(), kind.find)(request["Id"])
    if policy is None:
        raise err(f"NoSuch{kind.name}", f"The {kind.words} does not exist: {request['Id']}", 404)
    key = kind.name + part
    return {key: policy[key] if part else policy, "ETag": core.MANAGED_ETAG}


def _list_policies(kind: _PolicyKind, request: dict) -> dict:
    return {
        f"{kind.name}List": core.policy_list(
            kind.managed, request.get("Type"), request.get("Marker"), request.get("MaxItems"), kind.name
        )
    }


def _check_tags(tags: list) -> None:
    for tag in tags:
        key, value = tag.get("Key") or "", tag.get("Value") or ""
        if not 1 <= len(key) <= 128 or len(value) > 256 or key.startswith("aws:"):
            raise err("InvalidTagging", f"The tag {key!r} is not valid (keys 1-128 characters, not aws:; values 256).")
