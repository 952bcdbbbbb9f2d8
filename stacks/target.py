"""One target region's own stack: what it needs to receive a release and deploy it, and nothing from home.

A region delivered `bespoke` gets its release bucket, key, deploy pipeline and trigger; one delivered
`native` gets the artifact store the home pipeline's cross-region action writes to (key and bucket)
and its deploy role. (What deploys a `remote` region is in the home stack.) Every target region's
stack also forwards its deployment events to the home region's default bus and holds the region's
governance (AWS Config, Security Hub); a `remote` region's stack holds only those, and with both off it
has no stack. The stack reads no state and no resource of the home stack, so it can be planned,
deployed and operated while the home region is down (static stability).
"""

from __future__ import annotations

from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import DeliveryStrategy, RelayConfig, TriggerMode
from modules.cdk_seam import Construct
from modules.observability import EventForwarding, ForwardingProps, home_bus_arn
from modules.pipeline_common import StackDeploy, deploy_role
from modules.regional_pipeline import RegionalPipeline, RegionalPipelineProps
from modules.release_select import ReleaseSelectProps
from modules.trigger import CloudTrailTrigger, CloudTrailTriggerProps, EventBridgeTrigger, TriggerProps
from stacks.base import RelayStack

APPLICATION_PARAMETERS = {
    "VpcId": "vpc-id",
    "PublicSubnetIds": "public-subnet-ids",
    "AppSubnetIds": "app-subnet-ids",
    "LoadBalancerSecurityGroupId": "lb-security-group-id",
    "AppSecurityGroupId": "app-security-group-id",
    "LoadBalancerName": "app-load-balancer-name",
    "InstanceType": "app-instance-type",
    "ImageTag": "app-image-tag",
    "Standby": "app-standby",
    "MinSize": "app-min-size",
    "MaxSize": "app-max-size",
    "DesiredCapacity": "app-desired-capacity",
    "StandbyCapacity": "app-standby-capacity",
    "CertificateArn": "app-certificate-arn",
}
"""Parameters of the application tier's template and the platform parameter (under the platform prefix) each
reads: CloudFormation resolves them in the region at deploy time, so the pipeline holds names only."""

SELECT_BUILDSPEC = Path("buildspec") / "select-release.yml"
"""Buildspec of a bespoke region's Select stage (deploy the newest release present in the region)."""


def application_parameters(config: RelayConfig) -> dict[str, str]:
    """The application tier's template parameters, each the name of the region's platform parameter it reads."""
    application, platform = config.application, config.platform
    secret = application.secret or platform.secrets[0].name
    table = application.table or platform.data.tables[0].name
    image = application.image or platform.images.repositories[0]
    keys = {
        **APPLICATION_PARAMETERS,
        "SecretName": f"secret-{secret}",
        "TableName": f"table-{table}",
        "ImageRepositoryUrl": f"image-{image}",
    }
    prefix = config.names.parameter_prefix()
    return {parameter: f"{prefix}/{key}" for parameter, key in keys.items()}


def stack_deploy(config: RelayConfig, region: str, boundary_arn: str | None = None) -> StackDeploy:
    """The configured CloudFormation deployment of the release in one region: the application tier where it
    runs (its template, the platform's parameters, CAPABILITY_IAM for its instance role, which gets the deploy
    role's permissions boundary `boundary_arn`: the deploy role may only create roles that carry it), else the
    release's template."""
    deploy = config.deploy
    if region not in config.application_regions:
        return StackDeploy(
            stack_name=deploy.stack_name,
            template_path=deploy.template_path,
            capabilities=tuple(deploy.capabilities),
            parameter_overrides=dict(deploy.parameter_overrides),
        )
    capabilities = list(deploy.capabilities)
    if "CAPABILITY_IAM" not in capabilities and "CAPABILITY_NAMED_IAM" not in capabilities:
        capabilities.append("CAPABILITY_IAM")
    return StackDeploy(
        stack_name=deploy.stack_name,
        template_path=config.application.template_path,
        capabilities=tuple(capabilities),
        parameter_overrides={
            **deploy.parameter_overrides,
            **application_parameters(config),
            **({"PermissionsBoundaryArn": boundary_arn} if boundary_arn else {}),
        },
    )


class TargetStack(RelayStack):
    """One target region: for `bespoke`, destination bucket, key, deploy pipeline and trigger; for `native`,
    the artifact store (key and bucket) and deploy role of the home pipeline's action in this region."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: RelayConfig,
        region: str,
        strategy: DeliveryStrategy = DeliveryStrategy.BESPOKE,
        root: Path = PROJECT_ROOT,
    ):
        names = config.names
        super().__init__(scope, names.target_stack(region), config=config, region=region)
        self.strategy = strategy
        if strategy is DeliveryStrategy.NATIVE:
            self._native(root)
        elif strategy is DeliveryStrategy.BESPOKE:
            self._bespoke(root)
        elif config.every_target_has_stack:
            self.key = self.region_key()
            self.output("delivery", self.strategy.value, "How releases reach this region")
        else:
            raise ValueError(
                f"{region}: a region delivered {strategy.value!r} has no stack of its own when event forwarding and "
                "governance are both off"
            )
        self.forwarding = self._forwarding() if config.forwards_events else None
        self.governed = self.governance(self.key, home=False)

    def _forwarding(self) -> EventForwarding:
        """The rules forwarding this region's deployment events to the home region's default bus."""
        config, region, names = self.config, self.region, self.config.names
        own_pipeline = self.strategy is DeliveryStrategy.BESPOKE
        return EventForwarding(
            self,
            "forwarding",
            props=ForwardingProps(
                region=region,
                home_bus_arn=home_bus_arn(self.partition, config.home_region, self.account_id),
                account_id=self.account_id,
                partition=self.partition,
                role_name=names.role("forward", region),
                stack_rule_name=names.event_rule("forward-stack", region),
                stack_name=config.deploy.stack_name,
                pipeline_rule_name=names.event_rule("forward-pipeline", region) if own_pipeline else None,
                pipeline_name=names.pipeline("deploy", region) if own_pipeline else None,
            ),
            provider=self.provider,
        )

    def _native(self, root: Path) -> None:
        """The store CodePipeline copies the release into, and the role CloudFormation deploys it with."""
        config, region = self.config, self.region
        self.key = self.region_key()
        # CodePipeline writes the home pipeline's artifacts here with the home pipeline's role.
        home = config.home_region
        self.artifact_bucket = self.guarded_artifact_bucket(
            "artifact-bucket",
            self.key.arn,
            config.names.pipeline("release", home),
            writers=(self.role_arn("pipeline", home),),
        )
        self.deploy_role = deploy_role(
            self,
            "deploy-role",
            name=config.names.role("deploy", region),
            stack_name=config.deploy.stack_name,
            account_id=self.account_id,
            statements=self.deploy_statements(region, root),
            provider=self.provider,
            permissions_boundary=self.deploy_boundary(region),
        )
        self.output("kms_key_arn", self.key.arn, "Key of this region's artifact store")
        self.output("artifact_bucket", self.artifact_bucket.bucket.bucket, "Artifact store of the home pipeline here")
        self.output("deploy_role_arn", self.deploy_role.arn, "Role CloudFormation deploys the release with")
        self.output("deploy_stack_name", config.deploy.stack_name, "CloudFormation stack the home pipeline deploys")
        self.output("delivery", self.strategy.value, "How releases reach this region")

    def _bespoke(self, root: Path) -> None:
        config, region = self.config, self.region
        names = config.names
        provider, account = self.provider, self.account_id
        mode = config.trigger_mode(region)
        trail_arn = self.trail_arn()
        # The trigger's trail logs the release writes in `cloudtrail` mode; elsewhere an audit trail may.
        audited = mode is not TriggerMode.CLOUDTRAIL and config.audit_mode == "cloudtrail"
        # CloudWatch Logs may encrypt the Select project's log group with the key.
        select_logs = f"arn:{self.partition}:logs:{region}:{account}:log-group:{names.select_log_group(region)}"
        self.key = self.region_key(
            log_group_arns=(select_logs,),
            cloudtrail_trail_arn=trail_arn if mode is TriggerMode.CLOUDTRAIL or audited else None,
        )
        self.audit = self.audit_trail(self.key) if audited else None
        # In `eventbridge` mode the bucket's own notifications are the event source; a trail needs none.
        # Only replication (as the home region's replication role) writes the release here.
        self.release_bucket = self.guarded_release_bucket(
            "release-bucket",
            self.key.arn,
            writer=self.role_arn("replication", config.home_region),
            eventbridge_notifications=mode is TriggerMode.EVENTBRIDGE,
        )
        self.artifact_bucket = self.guarded_artifact_bucket(
            "artifact-bucket",
            self.key.arn,
            names.pipeline("deploy", region),
            # the Select build's role uploads its output artifact (the newest release)
            writers=(self.role_arn("pipeline", region), self.role_arn("select", region)),
        )
        deploy = config.deploy
        common = self.pipeline_props("deploy", self.key.arn, self.release_bucket, self.artifact_bucket)
        self.pipeline = RegionalPipeline(
            self,
            "pipeline",
            props=RegionalPipelineProps(
                common=common,
                deploy_role_name=names.role("deploy", region),
                deploy=stack_deploy(config, region, self.deploy_boundary_arn(region)),
                deploy_statements=self.deploy_statements(region, root),
                permissions_boundary_arn=self.deploy_boundary(region),
                select=ReleaseSelectProps(
                    common=common,
                    project_name=names.select_project(region),
                    log_group_name=names.select_log_group(region),
                    role_name=names.role("select", region),
                    stack_name=deploy.stack_name,
                    buildspec=(root / SELECT_BUILDSPEC).read_text(),
                ),
            ),
            provider=provider,
        )
        trigger = TriggerProps(
            rule_name=names.event_rule("release", region),
            role_name=names.role("trigger", region),
            account_id=account,
            bucket_name=self.release_bucket.bucket.bucket,
            object_key=config.release.object_key,
            pipeline_arn=self.pipeline.arn,
        )
        self.trigger: EventBridgeTrigger | CloudTrailTrigger
        if mode is TriggerMode.CLOUDTRAIL:
            self.trigger = CloudTrailTrigger(
                self,
                "trigger",
                props=CloudTrailTriggerProps(
                    rule=trigger,
                    trail_name=names.trail(region),
                    trail_arn=trail_arn,
                    log_bucket=self.bucket_props("trail", self.key.arn),
                    kms_key_arn=self.key.arn,
                    partition=self.partition,
                ),
                provider=provider,
            )
        else:
            self.trigger = EventBridgeTrigger(self, "trigger", props=trigger, provider=provider)
        self.output("release_bucket", self.release_bucket.bucket.bucket, "Bucket that receives the replicated release")
        self.output("kms_key_arn", self.key.arn, "Key of this region's buckets and artifacts")
        self.output("pipeline_name", self.pipeline.pipeline.name, "Pipeline that deploys each release in this region")
        self.output("deploy_stack_name", deploy.stack_name, "CloudFormation stack the pipeline deploys")
        self.output("trigger_mode", mode.value, "How a new release object starts the pipeline in this region")
        self.output("delivery", self.strategy.value, "How releases reach this region")
