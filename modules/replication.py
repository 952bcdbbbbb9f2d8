"""S3 cross-region replication of the release object to one bucket in each target region."""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws

rep = aws.s3_bucket_replication_configuration


@dataclass(frozen=True)
class ReplicaDestination:
    """One target region's destination."""

    region: str
    """Target region."""
    bucket_arn: str
    """ARN of the (versioned) destination bucket."""
    kms_key_arn: str
    """Key of the destination region that replicas are re-encrypted with."""


@dataclass(frozen=True)
class ReleaseReplicationProps:
    """Props of :class:`ReleaseReplication`."""

    role_name: str
    """Name of the replication role (from config.naming). Required."""
    source_bucket_id: str
    """Name of the source (release) bucket; a token, so the rule waits for the bucket. Required."""
    source_bucket_arn: str
    """ARN of the source bucket. Required."""
    source_kms_key_arn: str
    """Key encrypting the source objects. Required."""
    source_region: str
    """Region of the source bucket, for the kms:ViaService condition. Required."""
    object_key: str
    """The release object key: the only key replicated. Required."""
    destinations: tuple[ReplicaDestination, ...]
    """One destination per target region, in priority order. Required (at least one)."""
    delete_marker_replication: bool = False
    """Replicate delete markers. Default false."""
    storage_class: str = "STANDARD"
    """Storage class of replicas. Default `STANDARD`."""
    dns_suffix: str = "amazonaws.com"
    """DNS suffix of the partition, for service principals. Default `amazonaws.com`."""
    account_id: str | None = None
    """Account of the source bucket: S3 may assume the role only on its behalf. Default none (no condition)."""
    metrics: bool = False
    """S3 replication metrics per rule (latency, pending and failed operations, in the source region's
    CloudWatch, namespace AWS/S3). Default false."""
    time_control: bool = False
    """S3 Replication Time Control (replicas within 15 minutes, billed per GB); needs `metrics`. Default false."""


def rule_id(region: str) -> str:
    """Id of the replication rule to one target region (the RuleId dimension of its metrics)."""
    return f"release-to-{region}"


class ReleaseReplication(Construct):
    """The replication role (least privilege) and one replication rule per destination.

    Each rule filters on the exact release key, replicates only KMS-encrypted objects (every object of
    the release bucket is) and re-encrypts the replica with the destination region's key.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: ReleaseReplicationProps,
        provider: aws.provider.AwsProvider,
        depends_on: list | None = None,
    ):
        super().__init__(scope, id)
        if not props.destinations:
            raise ValueError("ReleaseReplication needs at least one destination")
        if props.time_control and not props.metrics:
            raise ValueError("Replication Time Control needs replication metrics")
        source_objects = f"{props.source_bucket_arn}/{props.object_key}"
        replica_objects = [f"{d.bucket_arn}/{props.object_key}" for d in props.destinations]
        statements = [
            iam.allow(
                "ReadReplicationConfiguration",
                ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                [props.source_bucket_arn],
            ),
            iam.allow(
                "ReadSourceVersions",
                ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                [source_objects],
            ),
            # ReplicateDelete only when delete markers replicate: otherwise there is nothing to delete.
            iam.allow(
                "WriteReplicas",
                ["s3:ReplicateObject", "s3:ReplicateTags"]
                + (["s3:ReplicateDelete"] if props.delete_marker_replication else []),
                replica_objects,
            ),
            iam.allow(
                "DecryptSource",
                ["kms:Decrypt"],
                [props.source_kms_key_arn],
                Condition={"StringEquals": {"kms:ViaService": f"s3.{props.source_region}.{props.dns_suffix}"}},
            ),
        ]
        for destination in props.destinations:
            statements.append(
                iam.allow(
                    f"EncryptReplicas{destination.region.replace('-', '').title()}",
                    ["kms:Encrypt", "kms:GenerateDataKey"],
                    [destination.kms_key_arn],
                    Condition={"StringEquals": {"kms:ViaService": f"s3.{destination.region}.{props.dns_suffix}"}},
                )
            )
        self.role = iam.ServiceRole(
            self,
            "role",
            name=props.role_name,
            service=f"s3.{props.dns_suffix}",
            source_account=props.account_id,
            source_arn=props.source_bucket_arn,
            description="S3 replication of the release object to the target regions",
            statements=statements,
            policy_name="replication",
            provider=provider,
        )
        rules = [
            rep.S3BucketReplicationConfigurationRule(
                id=rule_id(destination.region),
                priority=priority,
                status="Enabled",
                filter=rep.S3BucketReplicationConfigurationRuleFilter(prefix=props.object_key),
                delete_marker_replication=rep.S3BucketReplicationConfigurationRuleDeleteMarkerReplication(
                    status="Enabled" if props.delete_marker_replication else "Disabled"
                ),
                source_selection_criteria=rep.S3BucketReplicationConfigurationRuleSourceSelectionCriteria(
                    sse_kms_encrypted_objects=rep.S3BucketReplicationConfigurationRuleSourceSelectionCriteriaSseKmsEncryptedObjects(
                        status="Enabled"
                    )
                ),
                destination=rep.S3BucketReplicationConfigurationRuleDestination(
                    bucket=destination.bucket_arn,
                    storage_class=props.storage_class,
                    encryption_configuration=rep.S3BucketReplicationConfigurationRuleDestinationEncryptionConfiguration(
                        replica_kms_key_id=destination.kms_key_arn
                    ),
                    **_monitoring(props),
                ),
            )
            for priority, destination in enumerate(props.destinations, start=1)
        ]
        self.configuration = rep.S3BucketReplicationConfigurationA(
            self,
            "this",
            provider=provider,
            bucket=props.source_bucket_id,
            role=self.role.arn,
            rule=rules,
            depends_on=[self.role.policy, *(depends_on or [])],
        )


def _monitoring(props: ReleaseReplicationProps) -> dict:
    """The destination's metrics and Replication Time Control blocks, as configured (15 minutes: S3's only
    threshold)."""
    if not props.metrics:
        return {}
    fifteen = {"minutes": 15}
    blocks: dict = {
        "metrics": rep.S3BucketReplicationConfigurationRuleDestinationMetrics(
            status="Enabled",
            event_threshold=rep.S3BucketReplicationConfigurationRuleDestinationMetricsEventThreshold(**fifteen)
            if props.time_control
            else None,
        )
    }
    if props.time_control:
        blocks["replication_time"] = rep.S3BucketReplicationConfigurationRuleDestinationReplicationTime(
            status="Enabled", time=rep.S3BucketReplicationConfigurationRuleDestinationReplicationTimeTime(**fifteen)
        )
    return blocks
