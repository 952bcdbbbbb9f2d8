"""The home region: source-and-build pipeline and the release bucket.

It reads nothing of the target regions: their stacks and this one deploy side by side, and the
replication stack (stacks/replication.py) joins them afterwards.
"""

from __future__ import annotations

from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import RelayConfig, SourceProvider
from modules.cdk_seam import Construct, aws
from modules.release_pipeline import ReleasePipeline, ReleasePipelineProps
from regions import catalog
from stacks.base import RelayStack

BUILDSPEC = Path("buildspec") / "release.yml"


class HomeStack(RelayStack):
    """Key, release and artifact buckets and the release pipeline of the home region."""

    def __init__(self, scope: Construct, *, config: RelayConfig, root: Path = PROJECT_ROOT):
        names = config.names
        region = config.home_region
        super().__init__(scope, names.home_stack(), config=config, region=region)
        provider = self.provider
        self.key = self.region_key(logs_service=f"logs.{region}.{catalog.dns_suffix(region)}")
        self.release_bucket = self.bucket("release-bucket", "release", self.key.arn)
        self.artifact_bucket = self.bucket("artifact-bucket", "artifacts", self.key.arn)
        source = config.source
        self.connection = None
        connection_arn = source.connection_arn
        if source.provider is SourceProvider.CONNECTION and connection_arn is None:
            # No existing connection named: create one (on AWS it waits PENDING for a person to authorise
            # it in the console; the emulator backs it with a local git repository).
            self.connection = aws.codestarconnections_connection.CodestarconnectionsConnection(
                self,
                "connection",
                provider=provider,
                name=names.connection(),
                provider_type=source.connection_provider_type.value,
            )
            connection_arn = self.connection.arn
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
                connection_arn=connection_arn,
                source_trigger_role_name=names.role("source-trigger", region),
                source_trigger_rule_name=names.event_rule("source-push", region),
                buildspec=(root / BUILDSPEC).read_text(),
            ),
            provider=provider,
        )
        self.output("release_bucket", self.release_bucket.bucket.bucket, "Bucket the build publishes releases to")
        self.output("release_object_key", config.release.object_key, "Key of the release object")
        self.output("kms_key_arn", self.key.arn, "Key of the home region's buckets, artifacts and logs")
        self.output("pipeline_name", self.pipeline.pipeline.name, "Pipeline started by pushes to the branch")
        self.output("codebuild_project", self.pipeline.project.name, "Build that zips and publishes the release")
        if self.connection is not None:
            self.output(
                "connection_arn",
                self.connection.arn,
                "Connection the pipeline reads the repository through (authorise it once: it starts PENDING)",
            )
