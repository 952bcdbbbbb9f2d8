"""Explicit ``Deny`` statements of S3 bucket policies, enforced on object writes.

LocalStack's community edition evaluates neither IAM nor bucket policies. This module enforces
the ``Deny`` statements of bucket policies that ``core.bucket_policy`` can evaluate (its
docstring states the subset), for the principals the emulator can identify, on the object-level
write operations (``core.bucket_policy.requested_actions``):

* **Seam.** A handler appended to LocalStack's ``serve_custom_service_request_handlers`` runs
  after the request is parsed and before the S3 provider: a denied write answers S3's
  ``AccessDenied`` (403, XML) and never reaches the provider, so nothing is written, no
  notification (EventBridge ``Object Created``) fires and no replication starts.
  ``DeleteObjects`` is decided per key in the provider (denied keys are reported as ``Errors``,
  the others deleted), as S3 does.
* **Cost.** Parsed policies are cached per bucket (``PutBucketPolicy`` parses, and
  ``DeleteBucketPolicy`` / ``DeleteBucket`` drop); only policies with an enforced ``Deny``
  are kept. A write to any other bucket costs one dict lookup. The principal is identified
  only when a statement's actions and resources select the request.
* **Principals.** The access key of the request (``Authorization`` header, or a presigned URL's
  ``X-Amz-Credential`` / ``AWSAccessKeyId``): temporary credentials of LocalStack's STS
  ``AssumeRole`` are that role's session (found in the STS backend that ``GetCallerIdentity``
  answers from; ``aws:PrincipalArn`` is the role's ARN), IAM users' keys are the user, any other
  key (``test``, a 12-digit account id) is the root of the account LocalStack maps it to;
  unsigned requests are anonymous. Internal writes carry who they act for: replicas (a
  replication ticket) are the replication configuration's role, CloudTrail log deliveries (a
  per-process token) are the service principal ``cloudtrail.amazonaws.com`` acting for the
  trail's account; CodeBuild builds and CodePipeline artifact writes use credentials of their
  roles from LocalStack's STS (``common.role_credentials``).

Statements outside the subset are not enforced; each is logged once, at DEBUG, when its policy
is put. Allow statements are not evaluated.
"""

from __future__ import annotations

import functools
import logging
import threading

from localstack.utils.patch import Patches

from relay_emulator.common import bucket_location
from relay_emulator.core.bucket_policy import (
    GUARDED_OPERATIONS,
    Denial,
    Policy,
    Principal,
    object_arn,
    parse,
    partition_of,
    requested_actions,
)

LOG = logging.getLogger("relay_emulator.write_guard")

# What LocalStack puts in the Authorization header of unsigned requests (MissingAuthHeaderInjector).
INJECTED_ACCESS_KEY = "injectedaccesskey"
# The session name replicas are written under (also what CloudTrail records name).
REPLICATION_SESSION = "s3-replication"
_PRINCIPAL_CACHE_MAX = 10_000


class Guard:
    """Cached bucket policies, identified access keys, and the decisions built on them."""

    def __init__(self):
        self.policies: dict[str, Policy] = {}  # only buckets whose policy has an enforced Deny
        self._principals: dict[str, Principal] = {}  # access key id -> principal
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- policies

    def set_policy(self, bucket: str, text: str | None) -> None:
        """Parse a bucket's new policy (None: it has none)."""
        policy = parse(text) if text else Policy()
        if policy.problem:
            LOG.warning("bucket %s: policy not enforced: %s", bucket, policy.problem)
        for statement in policy.skipped:
            LOG.debug(
                "bucket %s: Deny statement %s is not enforced by the emulator: %s",
                bucket,
                statement.name,
                statement.unsupported,
            )
        with self._lock:
            if policy.denies:
                self.policies[bucket] = policy
            else:
                self.policies.pop(bucket, None)
        if policy.denies:
            LOG.debug("bucket %s: %d Deny statement(s) enforced", bucket, len(policy.denies))

    def drop(self, bucket: str) -> None:
        with self._lock:
            self.policies.pop(bucket, None)

    def rebuild(self) -> None:
        """Re-read every bucket's policy from LocalStack's S3 store (after a state reset or load)."""
        from localstack.services.s3.models import s3_stores

        with self._lock:
            self.policies.clear()
        seen = set()
        for regions in list(dict.values(s3_stores)):
            for store in list(dict.values(regions)):
                for name, bucket in list(store.buckets.items()):
                    if name not in seen and bucket.policy:
                        seen.add(name)
                        self.set_policy(name, bucket.policy)

    # ---------------------------------------------------------------- principals

    def identify(self, context, ticket=None) -> Principal:
        """Who makes this S3 request (``ticket``: the replication ticket it carries, if any)."""
        from relay_emulator import trail_events

        if ticket is not None:
            return replication_principal(ticket.role_arn, ticket.source_account)
        if trail_events.is_delivery(context):
            return Principal.for_service("cloudtrail.amazonaws.com", context.account_id)
        post_object = context.operation is not None and context.operation.name == "PostObject"
        key = _access_key(context.request, post_object)
        return self.principal_of_key(key) if key else Principal()

    def principal_of_key(self, access_key: str) -> Principal:
        """The principal an access key id belongs to (cached: keys are never reused)."""
        principal = self._principals.get(access_key)
        if principal is None:
            principal = _lookup(access_key)
            with self._lock:
                if len(self._principals) >= _PRINCIPAL_CACHE_MAX:
                    self._principals.clear()
                self._principals[access_key] = principal
        return principal

    # ---------------------------------------------------------------- decisions

    def check(self, bucket: str, key: str, actions, principal: Principal) -> Denial | None:
        """The statement of ``bucket``'s policy that denies ``principal`` any of ``actions`` on
        the object ``key``; None when the write is not denied."""
        policy = self.policies.get(bucket)
        if policy is None:
            return None
        _owner, region = bucket_location(bucket)
        return policy.denial(actions, object_arn(bucket, key, partition_of(region)), principal)

    def on_request(self, context) -> None:
        """Refuse an object write that an enforced Deny statement denies (S3's AccessDenied)."""
        from localstack.aws.api.s3 import AccessDenied

        from relay_emulator import replication

        request = context.service_request or {}
        bucket = request.get("Bucket")
        policy = self.policies.get(bucket)
        operation = context.operation.name
        if policy is None or operation == "DeleteObjects":  # per key, in the provider
            return
        if operation == "PostObject":
            request = _post_object_request(context.request)
        ticket = replication.ENGINE.ticket_of(context) if replication.ENGINE else None
        actions = requested_actions(operation, request, replica=ticket is not None)
        resource = object_arn(bucket, request.get("Key") or "", context.partition or "aws")
        denial = policy.denial(actions, resource, lambda: self.identify(context, ticket))
        if denial is not None:
            _log(bucket, denial)
            raise AccessDenied(denial.message)

    def split_delete(self, context, bucket: str, delete: dict) -> tuple[list, list]:
        """DeleteObjects: (objects that may be deleted, S3 ``Errors`` entries for denied ones)."""
        objects = list((delete or {}).get("Objects") or [])
        policy = self.policies.get(bucket)
        if policy is None:
            return objects, []
        principal = functools.cache(lambda: self.identify(context))
        allowed, errors = [], []
        for obj in objects:
            resource = object_arn(bucket, obj.get("Key") or "", context.partition or "aws")
            denial = policy.denial(requested_actions("DeleteObject", obj), resource, principal)
            if denial is None:
                allowed.append(obj)
                continue
            _log(bucket, denial)
            error = {"Key": obj.get("Key"), "Code": "AccessDenied", "Message": denial.message}
            if obj.get("VersionId"):
                error["VersionId"] = obj["VersionId"]
            errors.append(error)
        return allowed, errors


def replication_principal(role_arn: str | None, source_account: str) -> Principal:
    """Who writes a replica: a session of the replication configuration's role (S3 itself, acting
    for the source account, if a configuration had no role)."""
    if role_arn:
        return Principal.role(role_arn, REPLICATION_SESSION)
    return Principal.for_service("s3.amazonaws.com", source_account)


def _log(bucket: str, denial: Denial) -> None:
    LOG.info(
        "S3 AccessDenied: %s %s on %s denied by %s of the policy of bucket %s",
        denial.principal.identity,
        denial.action,
        denial.resource,
        denial.statement.name,
        bucket,
    )


def _access_key(request, post_object: bool = False) -> str | None:
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

    key = extract_access_key_id_from_auth_header(request.headers)
    if key and key != INJECTED_ACCESS_KEY:
        return key
    # LocalStack injects a stand-in header into unsigned requests; presigned URLs sign in the
    # query, browser-based uploads (PostObject) in their form
    for source in (request.args, request.form if post_object else {}):
        credential = source.get("X-Amz-Credential") or source.get("x-amz-credential")
        if credential:
            return credential.split("/", 1)[0]
        if source.get("AWSAccessKeyId"):
            return source["AWSAccessKeyId"]
    return None


def _post_object_request(request) -> dict:
    """The parameters of a browser-based upload that decide its actions (from its form)."""
    form = request.form
    key = form.get("key") or ""
    upload = request.files.get("file")
    if "${filename}" in key and upload is not None:
        key = key.replace("${filename}", upload.filename or "")
    return {"Key": key, "ACL": form.get("acl"), "Tagging": form.get("tagging")}


def _lookup(access_key: str) -> Principal:
    from localstack.aws.accounts import get_account_id_from_access_key_id
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    # the STS backend of the account that called AssumeRole holds the session
    for per_account in list(dict.values(sts_backends)):
        for backend in list(dict.values(per_account)):
            assumed = backend.get_assumed_role_from_access_key(access_key)
            if assumed is not None:
                return Principal.role(assumed.role_arn, assumed.session_name)
    account = get_account_id_from_access_key_id(access_key)
    per_account = dict.get(iam_backends, account)
    for backend in list(dict.values(per_account or {})):
        user = backend.get_user_from_access_key_id(access_key)
        if user is not None:
            return Principal.user(user.arn)
    return Principal.root(account)


# ---------------------------------------------------------------------- installation

GUARD: Guard | None = None
PATCHES = Patches()


def check(bucket: str, key: str, actions, principal: Principal) -> Denial | None:
    """For the plugin's own writes: the Deny statement that refuses them (None: not denied)."""
    return GUARD.check(bucket, key, actions, principal) if GUARD is not None else None


def install() -> Guard:
    """Add the request handler and the policy cache's patches to LocalStack's S3."""
    global GUARD
    if GUARD is not None:
        return GUARD
    from localstack.aws.handlers import serve_custom_service_request_handlers
    from localstack.services.s3.provider import S3Provider

    guard = GUARD = Guard()

    def s3_write_guard(chain, context, response):
        if not guard.policies:
            return
        operation = context.operation
        if operation is None or operation.name not in GUARDED_OPERATIONS:
            return
        service = context.service
        if service is None or service.service_name != "s3":
            return
        guard.on_request(context)

    def put_bucket_policy(original, self, context, bucket, policy, *args, **kwargs):
        result = original(self, context, bucket, policy, *args, **kwargs)
        guard.set_policy(bucket, policy)
        return result

    def delete_bucket_policy(original, self, context, bucket, *args, **kwargs):
        result = original(self, context, bucket, *args, **kwargs)
        guard.drop(bucket)
        return result

    def delete_bucket(original, self, context, bucket, *args, **kwargs):
        result = original(self, context, bucket, *args, **kwargs)
        guard.drop(bucket)
        return result

    def delete_objects(original, self, context, bucket, delete, *args, **kwargs):
        allowed, errors = guard.split_delete(context, bucket, delete)
        if not errors:
            return original(self, context, bucket, delete, *args, **kwargs)
        result = original(self, context, bucket, {**delete, "Objects": allowed}, *args, **kwargs) if allowed else {}
        result["Errors"] = [*(result.get("Errors") or []), *errors]
        return result

    def after_state_change(original, self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        guard.rebuild()
        return result

    serve_custom_service_request_handlers.append(s3_write_guard)
    PATCHES.function(S3Provider.put_bucket_policy, put_bucket_policy)
    PATCHES.function(S3Provider.delete_bucket_policy, delete_bucket_policy)
    PATCHES.function(S3Provider.delete_bucket, delete_bucket)
    PATCHES.function(S3Provider.delete_objects, delete_objects)
    PATCHES.function(S3Provider.on_after_state_reset, after_state_change)
    PATCHES.function(S3Provider.on_after_state_load, after_state_change)
    PATCHES.apply()
    LOG.info("relay S3 write guard installed (explicit Deny statements of bucket policies)")
    return guard
