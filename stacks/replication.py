"""Replication of the release object from the home region to every target region delivered `bespoke`.

The only part of the system that couples home to the targets, so it is a stack of its own: the home
stack and the target stacks stand alone and deploy side by side, and this one follows them. It finds
the home bucket and key and each target's bucket and key by their deterministic names, through data
sources read with each region's aliased provider. A rebuilt target region has a new key: applying
this stack again (seconds, no buckets) makes replication re-encrypt with it.
"""

from __future__ import annotations

from config.schema import DeliveryStrategy, RelayConfig
from modules.cdk_seam import Construct, aws
from modules.replication import ReleaseReplication, ReleaseReplicationProps, ReplicaDestination
from regions import catalog
from regions.delivery import decisions
from regions.providers import alias_for
from stacks.base import RelayStack


class ReplicationStack(RelayStack):
    """Replication role and rules of the home release bucket, one rule per target region."""

    def __init__(self, scope: Construct, *, config: RelayConfig):
        names = config.names
        region = config.home_region
        super().__init__(scope, names.replication_stack(), config=config, region=region, follows_home=True)
        source_name = names.bucket("release", region)
        # Read, so that a missing home stack fails the plan with the bucket's name; the ARN in the policy
        # is computed, so that it reads as the exact bucket in a plan review.
        source_bucket = aws.data_aws_s3_bucket.DataAwsS3Bucket(
            self, "release-bucket", provider=self.provider, bucket=source_name
        )
        source_key = aws.data_aws_kms_alias.DataAwsKmsAlias(
            self, "release-key", provider=self.provider, name=names.kms_alias(region)
        )
        self.destinations = tuple(
            self._destination(d.region) for d in decisions(config) if d.strategy is DeliveryStrategy.BESPOKE
        )
        self.replication = ReleaseReplication(
            self,
            "replication",
            props=ReleaseReplicationProps(
                role_name=names.role("replication", region),
                source_bucket_id=source_bucket.id,
                source_bucket_arn=f"arn:{self.partition}:s3:::{source_name}",
                source_kms_key_arn=source_key.target_key_arn,
                source_region=region,
                object_key=config.release.object_key,
                destinations=self.destinations,
                delete_marker_replication=config.replication.delete_marker_replication,
                storage_class=config.replication.storage_class,
                dns_suffix=catalog.dns_suffix(region),
                account_id=self.account_id,
                metrics=config.observability.enabled and config.observability.replication_metrics,
                time_control=config.observability.enabled and config.observability.replication_time_control,
            ),
            provider=self.provider,
        )
        self.output("replication_role_arn", self.replication.role.arn, "Role S3 replicates the release object as")

    def _destination(self, target: str) -> ReplicaDestination:
        """The target's bucket and key, looked up by name with the target region's provider."""
        names = self.config.names
        provider = self.provider_for(target)
        alias_id = alias_for(target)
        bucket = aws.data_aws_s3_bucket.DataAwsS3Bucket(
            self, f"replica-bucket-{alias_id}", provider=provider, bucket=names.bucket("release", target)
        )
        key = aws.data_aws_kms_alias.DataAwsKmsAlias(
            self, f"replica-key-{alias_id}", provider=provider, name=names.kms_alias(target)
        )
        return ReplicaDestination(region=target, bucket_arn=bucket.arn, kms_key_arn=key.target_key_arn)
