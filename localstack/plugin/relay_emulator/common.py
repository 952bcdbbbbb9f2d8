"""What every LocalStack-facing module of the plugin shares: AWS-shaped errors, the clock, error
descriptions, LocalStack's internal clients (as an account's root or as a role), tags in AWS's
list shapes, bucket lookups and the one bounded wait of the plugin."""

from __future__ import annotations

import datetime
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from localstack.aws.api import CommonServiceException
from localstack.services.stores import AccountRegionBundle

LOG = logging.getLogger("relay_emulator")
T = TypeVar("T")

# LocalStack's default account; its S3 store's global bucket map is shared by all accounts.
DEFAULT_ACCOUNT = "000000000000"


def err(code: str, message: str, status: int = 400) -> CommonServiceException:
    """An error in AWS's shape (``code`` and ``message`` as AWS answers them); 4xx statuses are
    the sender's fault, 5xx the service's."""
    return CommonServiceException(code=code, message=message, status_code=status, sender_fault=status < 500)


def now() -> datetime.datetime:
    """The current time in UTC (what the APIs return as timestamps)."""
    return datetime.datetime.now(tz=datetime.UTC)


def describe(e: BaseException) -> str:
    """``Code: message`` of a botocore ClientError, ``Type: message`` of anything else."""
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(e).__name__}: {e}"


def error_code(e: BaseException) -> str | None:
    """AWS error code of a botocore ClientError (None for anything else)."""
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def internal_client(service: str, region: str, account: str, config=None, credentials: dict | None = None):
    """LocalStack's internal boto client for ``service`` acting as ``account`` in ``region``
    (its root: the access key is the account id), or with ``credentials`` (STS's
    ``AccessKeyId``/``SecretAccessKey``/``SessionToken``, e.g. ``role_credentials``).

    ``connect_to`` caches clients per argument set: a caller that modifies its client (event
    hooks, in-memory transport) passes a ``botocore.config.Config`` of its own so that no other
    caller gets the modified client.
    """
    from localstack.aws.connect import connect_to

    if credentials is not None:
        factory = connect_to(
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=config,
        )
    else:
        factory = connect_to(
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="test",  # noqa: S106 - LocalStack ignores secrets
            config=config,
        )
    return factory.get_client(service)


# Temporary credentials of roles the plugin acts as, by (role ARN, session name): process state,
# like the clients connect_to caches. LocalStack never expires them; they are renewed well
# within STS's default hour anyway.
_ROLE_SESSIONS: dict[tuple[str, str], tuple[float, dict]] = {}
_ROLE_SESSIONS_LOCK = threading.Lock()
ROLE_SESSION_SECONDS = 1800


def role_credentials(role_arn: str, session_name: str, region: str) -> dict:
    """Temporary credentials of ``role_arn`` from LocalStack's STS ``AssumeRole`` (asked as the
    role's account), so that the requests made with them are that role's session: bucket
    policies (``write_guard``) and ``GetCallerIdentity`` see the assumed role. Cached per role
    and session name. Raises what STS raises (e.g. ``ValidationError`` for a malformed ARN)."""
    key = (role_arn, session_name)
    with _ROLE_SESSIONS_LOCK:
        cached = _ROLE_SESSIONS.get(key)
    if cached is not None and time.monotonic() - cached[0] < ROLE_SESSION_SECONDS:
        return cached[1]
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 5 and parts[4] else DEFAULT_ACCOUNT
    credentials = internal_client("sts", region, account).assume_role(RoleArn=role_arn, RoleSessionName=session_name)[
        "Credentials"
    ]
    now_ = time.monotonic()
    with _ROLE_SESSIONS_LOCK:
        for stale in [k for k, (created, _) in _ROLE_SESSIONS.items() if now_ - created >= ROLE_SESSION_SECONDS]:
            del _ROLE_SESSIONS[stale]
        _ROLE_SESSIONS[key] = (now_, credentials)
    return credentials


def session_name(*parts: str) -> str:
    """An STS role session name from ``parts`` (only the characters and length STS accepts)."""
    name = re.sub(r"[^\w+=,.@-]", "-", "-".join(p for p in parts if p))
    return name[:64] if len(name) >= 2 else f"{name}--"[:2]


def in_memory(client) -> None:
    """Send this client's requests straight into LocalStack's gateway, in the calling thread.

    The request still passes the whole handler chain (parsing, provider, notifications); only
    the loopback HTTP hop is skipped. This is LocalStack's own IN_MEMORY_CLIENT mechanism,
    applied to the plugin's background clients only. ``RELAY_REPLICATION_HTTP=1`` keeps HTTP.
    """
    if os.environ.get("RELAY_REPLICATION_HTTP") == "1":
        return
    try:
        from localstack.aws.client import GatewayShortCircuit, botocore_in_memory_endpoint_patch
        from localstack.runtime import get_current_runtime

        # the short circuit needs botocore requests to carry their parsed parameters
        botocore_in_memory_endpoint_patch.apply()  # idempotent
        GatewayShortCircuit.modify_client(client, get_current_runtime().components.gateway)
    except Exception:  # loopback HTTP behaves the same, only slower
        LOG.warning("in-memory client unavailable; using loopback HTTP", exc_info=True)


def bucket_location(bucket: str) -> tuple[str | None, str | None]:
    """(owner account, region) of a bucket, from LocalStack's S3 store; (None, None) if missing."""
    from localstack.services.s3.models import s3_stores

    owner = s3_stores[DEFAULT_ACCOUNT]["us-east-1"].global_bucket_map.get(bucket)
    if owner is None:
        return None, None
    found = s3_stores[owner]["us-east-1"].buckets.get(bucket)  # buckets are shared by all regions
    return (owner, found.bucket_region) if found is not None else (None, None)


class StoreBacked:
    """Base of a provider whose state is one LocalStack store bundle (``stores``): LocalStack's
    state visitors (reset, persistence) see it, and each request works on its account and region."""

    stores: AccountRegionBundle

    def accept_state_visitor(self, visitor) -> None:
        visitor.visit(self.stores)

    def store(self, context):
        """The store of the request's account and region."""
        return self.stores[context.account_id][context.region]


def tag_map(tags: list | None, key: str = "Key", value: str = "Value") -> dict:
    """AWS's tag list (``[{key: k, value: v}]`` under the service's member names) as a map."""
    return {t[key]: t.get(value, "") for t in tags or []}


def tag_list(tags: dict, key: str = "Key", value: str = "Value") -> list:
    """A tag map in AWS's list shape with the service's member names."""
    return [{key: k, value: v} for k, v in tags.items()]


def wait_until(what: str, probe: Callable[[], T], *, timeout: float, interval: float) -> T:
    """Call ``probe`` until it returns something truthy and return it; TimeoutError naming
    ``what`` when ``timeout`` seconds pass (the probe runs once more after the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() >= deadline
        value = probe()
        if value:
            return value
        if expired:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
