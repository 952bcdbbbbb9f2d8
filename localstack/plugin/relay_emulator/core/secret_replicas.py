"""Secrets Manager replicas: the decisions that need no server (standard library only).

AWS's model (Secrets Manager user guide, "Replicate secrets across Regions"): a primary secret
in one region has replicas in others; each replica answers ``GetSecretValue`` /
``DescribeSecret`` / ``ListSecrets`` in its region with the primary's versions (same
``VersionId`` and staging labels), encrypted with the replica's own KMS key (``KmsKeyId`` of the
``AddReplicaRegions`` entry, ``alias/aws/secretsmanager`` by default). Writes go to the primary;
a replica refuses them (``InvalidRequestException``), except ``StopReplicationToReplica``. The
primary's ``ReplicationStatus`` lists every region with ``Status`` (``InSync`` / ``InProgress``
/ ``Failed``) and ``StatusMessage``.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_KMS_KEY = "alias/aws/secretsmanager"

IN_SYNC = "InSync"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
SUCCEEDED_MESSAGE = "Replication succeeded"

REFUSED_ON_REPLICA_MESSAGE = (
    "Operation not permitted on a replica secret. Call must be made in primary secret's region."
)

# Operations a replica answers; everything else that names a secret is a write to the primary.
REPLICA_READ_OPERATIONS = frozenset(
    {
        "GetSecretValue",
        "BatchGetSecretValue",
        "DescribeSecret",
        "ListSecrets",
        "ListSecretVersionIds",
        "GetResourcePolicy",
        "ValidateResourcePolicy",
        "StopReplicationToReplica",
    }
)
# Operations that name one secret (``SecretId``) and change it: refused on a replica.
REPLICA_REFUSED_OPERATIONS = frozenset(
    {
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "RotateSecret",
        "CancelRotateSecret",
        "DeleteSecret",
        "RestoreSecret",
        "TagResource",
        "UntagResource",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
        "ReplicateSecretToRegions",
        "RemoveRegionsFromReplication",
    }
)


def refused_on_replica(operation: str) -> bool:
    """True when a replica refuses ``operation`` (it must be made in the primary's region)."""
    return operation in REPLICA_REFUSED_OPERATIONS


def replica_arn(primary_arn: str, region: str) -> str:
    """The replica's ARN: the primary's with only the region field replaced (a secret whose name
    contains the primary's region keeps its name)."""
    parts = primary_arn.split(":", 6)
    if len(parts) < 7 or parts[0] != "arn":
        raise ValueError(f"not a secret ARN: {primary_arn!r}")
    parts[3] = region
    return ":".join(parts)


def check_replica_regions(primary_region: str, existing: Iterable[str], requested: list[dict]) -> str | None:
    """Why ``requested`` (``AddReplicaRegions`` entries) cannot be added to a primary in
    ``primary_region`` that already replicates to ``existing``; None when they can."""
    seen: set[str] = set()
    existing = set(existing)
    for entry in requested:
        region = (entry or {}).get("Region")
        if not region:
            return "Invalid replica region."
        if region == primary_region:
            return "Invalid replica region."
        if region in seen:
            return f"Duplicate replica region {region}."
        if region in existing:
            return f"Secret is already replicated to region {region}."
        seen.add(region)
    return None


def kms_key_problem(key_ref: str | None, region: str, found: bool, state: str | None) -> str | None:
    """Why a replica in ``region`` cannot be encrypted with ``key_ref`` (None: the default
    ``aws/secretsmanager`` key, always usable); ``found`` / ``state`` are what KMS answers for
    the key in that region. None when it can."""
    if key_ref is None or key_ref == DEFAULT_KMS_KEY:
        return None
    if key_ref.startswith("arn:"):
        parts = key_ref.split(":")
        if len(parts) > 3 and parts[3] and parts[3] != region:
            return f"Replication failed: The KMS key {key_ref} is not in the replica region {region}."
    if not found:
        return f"Replication failed: The KMS key {key_ref} does not exist or is not accessible in region {region}."
    if state != "Enabled":
        return f"Replication failed: The KMS key {key_ref} is {state or 'not enabled'} in region {region}."
    return None


def name_taken_message(name: str, region: str) -> str:
    """Status message of a replica whose region already has a secret with the primary's name."""
    return f"Replication failed: Secret name {name} already exists in region {region}."


def status_entry(region: str, kms_key_id: str | None, status: str, message: str | None = None) -> dict:
    """One ``ReplicationStatus`` entry in AWS's shape."""
    return {
        "Region": region,
        "KmsKeyId": kms_key_id or DEFAULT_KMS_KEY,
        "Status": status,
        "StatusMessage": message or (SUCCEEDED_MESSAGE if status == IN_SYNC else ""),
    }


def replica_description(primary: dict, arn: str, primary_region: str, kms_key_id: str | None) -> dict:
    """``DescribeSecret`` / ``ListSecrets`` entry of a replica from the primary's: the replica's
    ARN and key, ``PrimaryRegion``, no ``ReplicationStatus`` (only the primary lists regions)."""
    out = {k: v for k, v in primary.items() if k not in ("ReplicationStatus", "KmsKeyId")}
    out["ARN"] = arn
    out["PrimaryRegion"] = primary_region
    if kms_key_id and kms_key_id != DEFAULT_KMS_KEY:
        out["KmsKeyId"] = kms_key_id
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q`` (0..100) percentile of ``values`` by nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]
