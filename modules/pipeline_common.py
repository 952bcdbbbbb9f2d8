"""What the app's pipelines share: the props every pipeline needs, its encrypted artifact stores and the
CloudFormation deploy action every delivery strategy ends with."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modules import iam
from modules.cdk_seam import Construct, aws

cp = aws.codepipeline


@dataclass(frozen=True)
class PipelineProps:
    """What every pipeline of a region shares: the `common` props of the home release pipeline and of
    each regional pipeline."""

    pipeline_name: str
    """CodePipeline name. Required."""
    pipeline_role_name: str
    """IAM role of the pipeline. Required."""
    region: str
    """Region of the pipeline. Required."""
    account_id: str
    """Account id, for exact ARNs. Required."""
    partition: str
    """AWS partition. Required."""
    kms_key_arn: str
    """The region's key: artifacts and release objects. Required."""
    artifact_bucket_name: str
    """The pipeline's own artifact store. Required."""
    artifact_bucket_arn: str
    """ARN of the artifact store. Required."""
    release_bucket_name: str
    """The region's release bucket: where the build publishes (home) or the source (target). Required."""
    release_bucket_arn: str
    """ARN of the release bucket. Required."""
    release_object_key: str
    """Fixed key of the release object. Required."""


# What the pipeline role (or a deploy build's role) may do to the one stack it deploys.
DEPLOY_STACK_ACTIONS = (
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:GetTemplate",
)
USE_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class ArtifactStore:
    """An artifact store of a pipeline: an S3 bucket and the KMS key CodePipeline encrypts it with."""

    bucket_name: str
    """Bucket of the store. Required."""
    kms_key_id: str
    """The key's ARN, or its alias ARN (CodePipeline accepts both; an alias keeps the name deterministic
    when the key lives in another region's stack). Required."""
    region: str | None = None
    """Region of the store; required (for every store) once a pipeline has actions in other regions."""


@dataclass(frozen=True)
class HomeDeployment:
    """One region's deploy action in the home pipeline's Deploy stage, and what it needs of the pipeline:
    the statements its role gets and, for a cross-region action, the artifact store in that region."""

    region: str
    """Region the action deploys into. Required."""
    action: cp.CodepipelineStageAction
    """The action (CloudFormation in that region, or a CodeBuild build in home that deploys there). Required."""
    statements: tuple[dict, ...]
    """Statements the pipeline role needs for this action. Required."""
    artifact_store: ArtifactStore | None = None
    """The artifact store in the action's region, for a cross-region action. Default none."""


def artifact_stores(stores: Sequence[ArtifactStore]) -> list[cp.CodepipelineArtifactStore]:
    """S3 artifact stores whose objects CodePipeline encrypts with each store's customer-managed key."""
    return [
        cp.CodepipelineArtifactStore(
            location=store.bucket_name,
            type="S3",
            region=store.region,
            encryption_key=cp.CodepipelineArtifactStoreEncryptionKey(id=store.kms_key_id, type="KMS"),
        )
        for store in stores
    ]


@dataclass(frozen=True)
class StackDeploy:
    """What a CloudFormation deployment of the release needs, whatever runs it."""

    stack_name: str
    """CloudFormation stack deployed from the release. Required."""
    template_path: str = "template.yaml"
    """Template path inside the release. Default `template.yaml`."""
    capabilities: tuple[str, ...] = ()
    """CloudFormation capabilities. Default none."""
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    """Template parameters. Default none."""

    def action_configuration(
        self, artifact: str, role_arn: str, template_configuration: str | None = None
    ) -> dict[str, str]:
        """Configuration of a CodePipeline CloudFormation action (CREATE_UPDATE) reading `artifact` (and the
        template configuration file `template_configuration` in it, if given)."""
        configuration = {
            "ActionMode": "CREATE_UPDATE",
            "StackName": self.stack_name,
            "TemplatePath": f"{artifact}::{self.template_path}",
            "RoleArn": role_arn,
        }
        if template_configuration:
            configuration["TemplateConfiguration"] = f"{artifact}::{template_configuration}"
        if self.capabilities:
            configuration["Capabilities"] = ",".join(self.capabilities)
        if self.parameter_overrides:
            configuration["ParameterOverrides"] = json.dumps(dict(self.parameter_overrides), sort_keys=True)
        return configuration


def v2_pipeline(
    scope: Construct,
    id: str,
    *,
    props: PipelineProps,
    role_arn: str,
    stages: list[cp.CodepipelineStage],
    provider: aws.provider.AwsProvider,
    triggers: list[cp.CodepipelineTrigger] | None = None,
    remote_stores: Sequence[ArtifactStore] = (),
) -> cp.Codepipeline:
    """A V2 pipeline (queued executions: releases deploy in order, none is superseded) with its store, and
    one store per other region it has actions in (`remote_stores`; every store then names its region)."""
    own = ArtifactStore(props.artifact_bucket_name, props.kms_key_arn, props.region if remote_stores else None)
    return cp.Codepipeline(
        scope,
        id,
        provider=provider,
        name=props.pipeline_name,
        pipeline_type="V2",
        execution_mode="QUEUED",
        role_arn=role_arn,
        artifact_store=artifact_stores([own, *remote_stores]),
        stage=stages,
        trigger=triggers,
    )


def deploy_role(
    scope: Construct,
    id: str,
    *,
    name: str,
    stack_name: str,
    account_id: str,
    statements: Sequence[dict],
    provider: aws.provider.AwsProvider,
    permissions_boundary: str | None = None,
) -> iam.ServiceRole:
    """The role CloudFormation assumes to deploy the release's stack, on behalf of this account only: the
    deploy policy's statements (what the template creates) and nothing else, within `permissions_boundary`."""
    return iam.ServiceRole(
        scope,
        id,
        name=name,
        service="cloudformation.amazonaws.com",
        source_account=account_id,
        description=f"CloudFormation: deploy stack {stack_name}",
        statements=statements,
        provider=provider,
        permissions_boundary=permissions_boundary,
    )


def write_logs(log_group_arn: str) -> dict:
    """A build role's statement: write the streams of exactly its log group."""
    return iam.allow("WriteLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"])


def build_arns(common: PipelineProps, project_name: str, log_group_name: str) -> tuple[str, str]:
    """ARNs of a CodeBuild project of the pipeline's region and account, and of its log group."""
    prefix = f"arn:{common.partition}"
    return (
        f"{prefix}:codebuild:{common.region}:{common.account_id}:project/{project_name}",
        f"{prefix}:logs:{common.region}:{common.account_id}:log-group:{log_group_name}",
    )


def use_key(sid: str, key_arns: Sequence[str], region: str, *services: str, **conditions: dict) -> dict:
    """Use of a region's key (encrypt, decrypt, data keys) only through the named services of that region
    (`kms:ViaService`, default S3: the objects the key protects), with any further conditions."""
    via = [f"{service}.{region}.amazonaws.com" for service in (services or ("s3",))]
    condition = {"StringEquals": {"kms:ViaService": via if len(via) > 1 else via[0]}, **conditions}
    return iam.allow(sid, USE_KEY_ACTIONS, key_arns, Condition=condition)


def pass_role(sid: str, role_arn: str, service: str = "cloudformation.amazonaws.com") -> dict:
    """iam:PassRole of one role, to one service only."""
    return iam.allow(sid, ["iam:PassRole"], [role_arn], Condition={"StringEquals": {"iam:PassedToService": service}})


def pipeline_build_project(
    scope: Construct,
    id: str,
    *,
    name: str,
    description: str,
    role_arn: str,
    kms_key_arn: str,
    buildspec: str,
    variables: Mapping[str, str],
    log_group_name: str,
    log_retention_days: int,
    image: str,
    timeout_minutes: int,
    provider: aws.provider.AwsProvider,
) -> tuple[aws.cloudwatch_log_group.CloudwatchLogGroup, aws.codebuild_project.CodebuildProject]:
    """A CodeBuild project run by a pipeline's CodeBuild action (construct id `id`) and its log group (id
    `logs`, encrypted with the region's key): its source and artifacts are the pipeline's, it runs
    `buildspec` (YAML text) on a small Linux image with `variables` and encrypts with the region's key."""
    log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
        scope,
        "logs",
        provider=provider,
        name=log_group_name,
        retention_in_days=log_retention_days,
        kms_key_id=kms_key_arn,
    )
    cb = aws.codebuild_project
    project = cb.CodebuildProject(
        scope,
        id,
        provider=provider,
        name=name,
        description=description,
        service_role=role_arn,
        encryption_key=kms_key_arn,
        build_timeout=timeout_minutes,
        artifacts=cb.CodebuildProjectArtifacts(type="CODEPIPELINE"),
        # Terraform would read the shell's ${VAR} as its own interpolation; $${ is a literal ${.
        source=cb.CodebuildProjectSource(type="CODEPIPELINE", buildspec=buildspec.replace("${", "$${")),
        environment=cb.CodebuildProjectEnvironment(
            compute_type="BUILD_GENERAL1_SMALL",
            image=image,
            type="LINUX_CONTAINER",
            image_pull_credentials_type="CODEBUILD",
            environment_variable=[
                cb.CodebuildProjectEnvironmentEnvironmentVariable(name=key, value=value)
                for key, value in variables.items()
            ],
        ),
        logs_config=cb.CodebuildProjectLogsConfig(
            cloudwatch_logs=cb.CodebuildProjectLogsConfigCloudwatchLogs(group_name=log_group_name, status="ENABLED")
        ),
        depends_on=[log_group],
    )
    return log_group, project
