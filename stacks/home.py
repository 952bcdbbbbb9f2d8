"""The home region: source-and-build pipeline and the release bucket, and what deploys the regions the home
pipeline delivers itself (`native`: a cross-region CloudFormation action; `remote`: a CodeBuild build).

It reads nothing of the target regions: what it names of a native region's stack (artifact bucket, key
alias, deploy role) is named deterministically, and the replication stack (stacks/replication.py)
joins home and the bespoke regions afterwards.
"""

from __future__ import annotations

from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import DeliveryStrategy, RelayConfig, SourceProvider
from modules.cdk_seam import Construct, aws
from modules.native_deploy import NativeDeploymentProps, native_deployment
from modules.observability import HomeObservability, HomeObservabilityProps, RegionWatch
from modules.pipeline_common import HomeDeployment
from modules.release_pipeline import RELEASE_ARTIFACT, ReleasePipeline, ReleasePipelineProps
from modules.remote_deploy import RemoteDeploy, RemoteDeployProps
from modules.replication import rule_id
from regions.delivery import decisions
from regions.providers import alias_for
from stacks.base import RelayStack
from stacks.target import stack_deploy

BUILDSPEC = Path("buildspec") / "release.yml"
REMOTE_BUILDSPEC = Path("buildspec") / "remote-deploy.yml"


class HomeStack(RelayStack):
    """Key, release and artifact buckets and the release pipeline of the home region."""

    def __init__(self, scope: Construct, *, config: RelayConfig, root: Path = PROJECT_ROOT):
        names = config.names
        region = config.home_region
        super().__init__(scope, names.home_stack(), config=config, region=region, follows_home=True)
        provider = self.provider
        # CloudWatch Logs may encrypt the home region's build log groups with the key, and nothing else.
        log_groups = [names.log_group(region)] + [
            names.remote_deploy_log_group(d.region) for d in decisions(config) if d.strategy is DeliveryStrategy.REMOTE
        ]
        audited = config.audit_mode == "cloudtrail"
        self.key = self.region_key(
            log_group_arns=tuple(
                f"arn:{self.partition}:logs:{region}:{self.account_id}:log-group:{g}" for g in log_groups
            ),
            cloudtrail_trail_arn=self.trail_arn() if audited else None,
            notifications=config.observability.enabled,
        )
        build_role, pipeline_role = self.role_arn("build", region), self.role_arn("pipeline", region)
        self.release_bucket = self.guarded_release_bucket("release-bucket", self.key.arn, writer=build_role)
        self.artifact_bucket = self.guarded_artifact_bucket(
            "artifact-bucket", self.key.arn, names.pipeline("release", region), writers=(pipeline_role, build_role)
        )
        self.audit = self.audit_trail(self.key) if audited else None
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
        self.remote: dict[str, RemoteDeploy] = {}
        deployments = tuple(self._deployment(d.region, d.strategy, root) for d in decisions(config))
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
                deployments=tuple(d for d in deployments if d is not None),
            ),
            provider=provider,
        )
        self.observability = self._observability() if config.observability.enabled else None
        self.governed = self.governance(self.key, home=True)
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

    def _observability(self) -> HomeObservability:
        """The notification topic, a succeeded and a failed rule per region (home's own pipeline, each target's
        deploying executions), the alarms and the dashboard."""
        config, names, home = self.config, self.config.names, self.config.home_region
        observability = config.observability
        release = names.pipeline("release", home)
        watches = [RegionWatch(home, alias_for(home), release, None, *self._outcome_rules(home))]
        for decision in decisions(config):
            region, bespoke = decision.region, decision.strategy is DeliveryStrategy.BESPOKE
            replication = (
                (names.bucket("release", home), names.bucket("release", region), rule_id(region))
                if bespoke and observability.replication_metrics
                else None
            )
            watches.append(
                RegionWatch(
                    region,
                    alias_for(region),
                    names.pipeline("deploy", region) if bespoke else release,
                    None if bespoke else names.deploy_action(region),
                    *self._outcome_rules(region),
                    replication=replication,
                    failed_alarm=names.alarm("failed", region) if observability.alarms else None,
                    replication_alarm=names.alarm("replication-failed", region)
                    if observability.alarms and replication
                    else None,
                )
            )
        observed = HomeObservability(
            self,
            "observability",
            props=HomeObservabilityProps(
                region=home,
                account_id=self.account_id,
                partition=self.partition,
                application=names.application_name(),
                topic_name=names.notification_topic(),
                kms_key_arn=self.key.arn,
                regions=tuple(watches),
                subscriptions=tuple((s.protocol, s.endpoint) for s in observability.subscriptions),
                dashboard_name=names.dashboard() if observability.dashboard else None,
                alarms=observability.alarms,
            ),
            provider=self.provider,
        )
        self.output("notification_topic_arn", observed.topic.arn, "Topic receiving failed deployments and alarms")
        if observed.dashboard is not None:
            self.output("dashboard_name", observed.dashboard.dashboard_name, "CloudWatch dashboard of the releases")
        return observed

    def _outcome_rules(self, region: str) -> tuple[str, str]:
        names = self.config.names
        return names.event_rule("succeeded", region), names.event_rule("failed", region)

    def _deployment(self, region: str, strategy: DeliveryStrategy, root: Path) -> HomeDeployment | None:
        """The home pipeline's deploy action for a region it delivers itself; None for a bespoke region."""
        config, names = self.config, self.config.names
        if strategy is DeliveryStrategy.NATIVE:
            return native_deployment(
                NativeDeploymentProps(
                    region=region,
                    account_id=self.account_id,
                    partition=self.partition,
                    artifact_bucket_name=names.bucket("artifacts", region),
                    kms_alias=names.kms_alias(region),
                    deploy_role_name=names.role("deploy", region),
                    deploy=stack_deploy(config, region, self.deploy_boundary_arn(region)),
                    action_name=names.deploy_action(region),
                    input_artifact=RELEASE_ARTIFACT,
                )
            )
        if strategy is DeliveryStrategy.REMOTE:
            home = config.home_region
            remote = RemoteDeploy(
                self,
                f"remote-{alias_for(region)}",
                props=RemoteDeployProps(
                    region=region,
                    home_region=home,
                    account_id=self.account_id,
                    partition=self.partition,
                    project_name=names.remote_deploy_project(region),
                    log_group_name=names.remote_deploy_log_group(region),
                    build_role_name=names.role("remote-deploy", region),
                    deploy_role_name=names.role("deploy", region),
                    deploy=stack_deploy(config, region, self.deploy_boundary_arn(region)),
                    deploy_statements=self.deploy_statements(region, root),
                    permissions_boundary_arn=self.deploy_boundary(region),
                    kms_key_arn=self.key.arn,
                    artifact_bucket_arn=self.artifact_bucket.arn,
                    buildspec=(root / REMOTE_BUILDSPEC).read_text(),
                    action_name=names.deploy_action(region),
                    input_artifact=RELEASE_ARTIFACT,
                ),
                provider=self.provider,
            )
            self.remote[region] = remote
            return remote.deployment
        return None
