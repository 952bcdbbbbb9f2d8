"""A target region's pipeline: S3 source (the replicated release) -> CloudFormation deploy."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from modules import iam
from modules._cdktf import Construct, aws

cp = aws.codepipeline


@dataclass(frozen=True)
class RegionalPipelineProps:
    """Props of :class:`RegionalPipeline`."""

    pipeline_name: str
    """CodePipeline name. Required."""
    pipeline_role_name: str
    """IAM role of the pipeline. Required."""
    deploy_role_name: str
    """IAM role CloudFormation assumes to deploy the stack. Required."""
    region: str
    """Target region. Required."""
    account_id: str
    """Account id, for the exact stack ARN. Required."""
    partition: str
    """AWS partition. Required."""
    kms_key_arn: str
    """Region key of the release and artifact buckets. Required."""
    release_bucket_name: str
    """Bucket holding the replicated release (the source). Required."""
    release_bucket_arn: str
    """ARN of that bucket. Required."""
    release_object_key: str
    """Key of the release object. Required."""
    artifact_bucket_name: str
    """The pipeline's own artifact store in this region. Required."""
    artifact_bucket_arn: str
    """ARN of the artifact store. Required."""
    stack_name: str
    """CloudFormation stack deployed by the pipeline. Required."""
    template_path: str = "template.yaml"
    """Template path inside the release zip. Default `template.yaml`."""
    capabilities: tuple[str, ...] = ()
    """CloudFormation capabilities. Default none."""
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    """Template parameters. Default none."""
    deploy_policy: str | None = None
    """JSON policy for the CloudFormation role (what the template creates). Default none."""


class RegionalPipeline(Construct):
    """V2 pipeline whose S3 source does not poll (an EventBridge rule starts it) and that deploys with
    CloudFormation (CREATE_UPDATE) under its own role."""

    def __init__(self, scope: Construct, id: str, *, props: RegionalPipelineProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p = props
        self.stack_arn = f"arn:{p.partition}:cloudformation:{p.region}:{p.account_id}:stack/{p.stack_name}/*"
        self.deploy_role = aws.iam_role.IamRole(
            self,
            "deploy-role",
            provider=provider,
            name=p.deploy_role_name,
            description=f"CloudFormation: deploy stack {p.stack_name}",
            assume_role_policy=iam.assume_role("cloudformation.amazonaws.com", source_account=p.account_id),
        )
        if p.deploy_policy:
            aws.iam_role_policy.IamRolePolicy(
                self,
                "deploy-policy",
                provider=provider,
                role=self.deploy_role.id,
                name="deploy",
                policy=p.deploy_policy,
            )
        self.pipeline_role = aws.iam_role.IamRole(
            self,
            "pipeline-role",
            provider=provider,
            name=p.pipeline_role_name,
            description="CodePipeline: read the replicated release and deploy it",
            assume_role_policy=iam.assume_role("codepipeline.amazonaws.com", source_account=p.account_id),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "pipeline-policy",
            provider=provider,
            role=self.pipeline_role.id,
            name="pipeline",
            policy=iam.document(
                iam.allow(
                    "ReadRelease",
                    ["s3:GetObject", "s3:GetObjectVersion"],
                    [f"{p.release_bucket_arn}/{p.release_object_key}"],
                ),
                iam.allow("ReleaseBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [p.release_bucket_arn]),
                iam.allow(
                    "Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [f"{p.artifact_bucket_arn}/*"]
                ),
                iam.allow(
                    "ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [p.artifact_bucket_arn]
                ),
                iam.allow("UseKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [p.kms_key_arn]),
                iam.allow(
                    "DeployStack",
                    [
                        "cloudformation:CreateStack",
                        "cloudformation:UpdateStack",
                        "cloudformation:DescribeStacks",
                        "cloudformation:DescribeStackEvents",
                        "cloudformation:GetTemplate",
                    ],
                    [self.stack_arn],
                ),
                iam.allow(
                    "PassDeployRole",
                    ["iam:PassRole"],
                    [self.deploy_role.arn],
                    Condition={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
                ),
            ),
        )
        deploy_configuration = {
            "ActionMode": "CREATE_UPDATE",
            "StackName": p.stack_name,
            "TemplatePath": f"SourceArtifact::{p.template_path}",
            "RoleArn": self.deploy_role.arn,
        }
        if p.capabilities:
            deploy_configuration["Capabilities"] = ",".join(p.capabilities)
        if p.parameter_overrides:
            deploy_configuration["ParameterOverrides"] = json.dumps(p.parameter_overrides, sort_keys=True)
        self.pipeline = cp.Codepipeline(
            self,
            "this",
            provider=provider,
            name=p.pipeline_name,
            pipeline_type="V2",
            execution_mode="QUEUED",
            role_arn=self.pipeline_role.arn,
            artifact_store=[
                cp.CodepipelineArtifactStore(
                    location=p.artifact_bucket_name,
                    type="S3",
                    encryption_key=cp.CodepipelineArtifactStoreEncryptionKey(id=p.kms_key_arn, type="KMS"),
                )
            ],
            stage=[
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
                                "S3Bucket": p.release_bucket_name,
                                "S3ObjectKey": p.release_object_key,
                                # The EventBridge rule starts the pipeline; polling too would start it twice.
                                "PollForSourceChanges": "false",
                            },
                        )
                    ],
                ),
                cp.CodepipelineStage(
                    name="Deploy",
                    action=[
                        cp.CodepipelineStageAction(
                            name="CloudFormation",
                            category="Deploy",
                            owner="AWS",
                            provider="CloudFormation",
                            version="1",
                            input_artifacts=["SourceArtifact"],
                            configuration=deploy_configuration,
                        )
                    ],
                ),
            ],
        )

    @property
    def arn(self) -> str:
        """ARN of the pipeline."""
        return self.pipeline.arn
