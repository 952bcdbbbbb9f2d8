"""The home region: source-and-build pipeline, release bucket and its replication to every target.

It finds each target's bucket and key by their deterministic names through data sources read with
that region's aliased provider, so it needs the target stacks deployed first, and they never need it.
"""

from __future__ import annotations

from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws
from modules.release_pipeline import ReleasePipeline, ReleasePipelineProps
from modules.replication import ReleaseReplication, ReleaseReplicationProps, ReplicaDestination
from regions import catalog
from regions.providers import alias_for
from stacks.base import RelayStack

BUILDSPEC = Path("buildspec") / "release.yml"


class HomeStack(RelayStack):
    """Key, release and artifact buckets, release pipeline and replication of the home region."""

    def __init__(self, scope: Construct, *, config: RelayConfig, root: Path = PROJECT_ROOT):
        names = config.names
        region = config.home_region
        super().__init__(scope, names.home_stack(), config=config, region=region)
        provider = self.provider
        self.key = self.region_key(logs_service=f"logs.{region}.{catalog.dns_suffix(region)}")
        self.release_bucket = self.bucket("release-bucket", "release", self.key.arn)
        self.artifact_bucket = self.bucket("artifact-bucket", "artifacts", self.key.arn)
        source = config.source
        self.pipeline = ReleasePipeline(
            self,
            "pipeline",
            props=ReleasePipelineProps(
                common=self.pipeline_props("release", self.key.arn, self.release_bucket, self.artifact_bucket),
                project_name=names.codebuild_project(region),
                log_group_name=names.log_group(region),
                build_role_name=names.role("build", region),
                branch=source.branch,
                repository=source.repository,
                connection_arn=source.connection_arn,
                source_trigger_role_name=names.role("source-trigger", region),
                source_trigger_rule_name=names.event_rule("source-push", region),
                buildspec=(root / BUILDSPEC).read_text(),
            ),
            provider=provider,
        )
        self.destinations = tuple(self._destination(target) for target in config.target_regions)
        self.replication = ReleaseReplication(
            self,
            "replication",
            props=ReleaseReplicationProps(
                role_name=names.role("replication", region),
                source_bucket_id=self.release_bucket.bucket.id,
                source_bucket_arn=self.release_bucket.arn,
                source_kms_key_arn=self.key.arn,
                source_region=region,
                object_key=config.release.object_key,
                destinations=self.destinations,
                delete_marker_replication=config.replication.delete_marker_replication,
                storage_class=config.replication.storage_class,
                dns_suffix=catalog.dns_suffix(region),
            ),
            provider=provider,
            # S3 rejects a replication configuration on a bucket whose versioning is not yet enabled.
            depends_on=[self.release_bucket.versioning],
        )
        self.output("release_bucket", self.release_bucket.bucket.bucket, "Bucket the build publishes releases to")
        self.output("release_object_key", config.release.object_key, "Key of the release object")
        self.output("kms_key_arn", self.key.arn, "Key of the home region's buckets, artifacts and logs")
        self.output("pipeline_name", self.pipeline.pipeline.name, "Pipeline started by pushes to the branch")
        self.output("codebuild_project", self.pipeline.project.name, "Build that zips and publishes the release")

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
