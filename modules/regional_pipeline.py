"""A target region's pipeline: S3 source (the replicated release) -> [Select: the newest release present in the
region, see `modules.release_select`] -> CloudFormation deploy."""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.pipeline_common import (
    DEPLOY_STACK_ACTIONS,
    PipelineProps,
    StackDeploy,
    deploy_role,
    pass_role,
    use_key,
    v2_pipeline,
)
from modules.release_select import RELEASE_ARTIFACT, TEMPLATE_CONFIGURATION, ReleaseSelect, ReleaseSelectProps

cp = aws.codepipeline


@dataclass(frozen=True)
class RegionalPipelineProps:
    """Props of :class:`RegionalPipeline`."""

    common: PipelineProps
    """What every pipeline of the region shares (names, key, buckets). Required."""
    deploy_role_name: str
    """IAM role CloudFormation assumes to deploy the stack. Required."""
    deploy: StackDeploy
    """The stack deployed from the release zip. Required."""
    permissions_boundary_arn: str | None = None
    """Permissions boundary of the deploy role. Default none."""
    deploy_statements: tuple[dict, ...] = ()
    """Statements of the CloudFormation role's policy (what the template creates). Default none: the role
    can only deploy templates of resources that need no permission."""
    select: ReleaseSelectProps | None = None
    """The Select stage (deploy the newest release present in the region, whatever version started the
    execution). Default none: the Deploy action deploys the source action's version."""


class RegionalPipeline(Construct):
    """V2 pipeline whose S3 source does not poll (an EventBridge rule starts it) and that deploys with
    CloudFormation (CREATE_UPDATE) under its own role."""

    def __init__(self, scope: Construct, id: str, *, props: RegionalPipelineProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p, c = props, props.common
        stack = p.deploy.stack_name
        self.stack_arn = f"arn:{c.partition}:cloudformation:{c.region}:{c.account_id}:stack/{stack}/*"
        self.deploy_role = deploy_role(
            self,
            "deploy-role",
            name=p.deploy_role_name,
            stack_name=stack,
            account_id=c.account_id,
            statements=p.deploy_statements,
            provider=provider,
            permissions_boundary=p.permissions_boundary_arn,
        )
        get_bucket = ["s3:GetBucketVersioning", "s3:GetBucketLocation"]
        self.select = ReleaseSelect(self, "select", props=p.select, provider=provider) if p.select else None
        deployed, configuration = ("SourceArtifact", None)
        if self.select:
            deployed, configuration = RELEASE_ARTIFACT, TEMPLATE_CONFIGURATION
        self.pipeline_role = iam.ServiceRole(
            self,
            "pipeline-role",
            name=c.pipeline_role_name,
            service="codepipeline.amazonaws.com",
            source_account=c.account_id,
            description="CodePipeline: read the replicated release and deploy it",
            statements=[
                iam.allow(
                    "ReadRelease",
                    ["s3:GetObject", "s3:GetObjectVersion"],
                    [f"{c.release_bucket_arn}/{c.release_object_key}"],
                ),
                iam.allow("ReleaseBucket", get_bucket, [c.release_bucket_arn]),
                iam.allow(
                    "Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [f"{c.artifact_bucket_arn}/*"]
                ),
                iam.allow("ArtifactBucket", get_bucket, [c.artifact_bucket_arn]),
                use_key("UseKey", [c.kms_key_arn], c.region),
                iam.allow("DeployStack", DEPLOY_STACK_ACTIONS, [self.stack_arn]),
                pass_role("PassDeployRole", self.deploy_role.arn),
                *(self.select.pipeline_statements if self.select else ()),
            ],
            provider=provider,
        )
        self.pipeline = v2_pipeline(
            self,
            "this",
            props=c,
            role_arn=self.pipeline_role.arn,
            provider=provider,
            stages=[
                cp.CodepipelineStage(
                    name="Source",
                    action=[
                        cp.CodepipelineStageAction(
                            name="Release",
                            category="Source",
                            owner="AWS",
                            provider="S3",
                            version="1",
                            output_artifacts=["SourceArtifact"],
                            configuration={
                                "S3Bucket": c.release_bucket_name,
                                "S3ObjectKey": c.release_object_key,
                                # The EventBridge rule starts the pipeline; polling too would start it twice.
                                "PollForSourceChanges": "false",
                            },
                        )
                    ],
                ),
                *([cp.CodepipelineStage(name="Select", action=[self.select.action])] if self.select else []),
                cp.CodepipelineStage(
                    name="Deploy",
                    action=[
                        cp.CodepipelineStageAction(
                            name="CloudFormation",
                            category="Deploy",
                            owner="AWS",
                            provider="CloudFormation",
                            version="1",
                            input_artifacts=[deployed],
                            configuration=p.deploy.action_configuration(deployed, self.deploy_role.arn, configuration),
                        )
                    ],
                ),
            ],
        )

    @property
    def arn(self) -> str:
        """ARN of the pipeline."""
        return self.pipeline.arn
