"""What every LocalStack-facing module of the plugin shares: AWS-shaped errors, the clock, error
descriptions, LocalStack's internal clients, tags in AWS's list shapes, bucket lookups and the
one bounded wait of the plugin."""

from __future__ import annotations

import datetime
import logging
import os
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


def internal_client(service: str, region: str, account: str, config=None):
    """LocalStack's internal boto client for ``service`` acting as ``account`` in ``region``.

    ``connect_to`` caches clients per argument set: a caller that modifies its client (event
    hooks, in-memory transport) passes a ``botocore.config.Config`` of its own so that no other
    caller gets the modified client.
    """
    from localstack.aws.connect import connect_to

    factory = connect_to(
        region_name=region,
        aws_access_key_id=account,
        aws_secret_access_key="test",  # noqa: S106 - LocalStack ignores secrets
        config=config,
    )
    return factory.get_client(service)


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
