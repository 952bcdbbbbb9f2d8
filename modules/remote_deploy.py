"""Delivery strategy `remote`: a CodeBuild build in the home region deploys the release into a region that
has CloudFormation but no CodePipeline.

One project per such region, with its own role: it may read the release artifact, write its own log
group and change only the one stack in that region (through change sets of its own prefix), passing
only that region's deploy role to CloudFormation. Such a region depends on the
home region for every deployment: there is no pipeline of its own to re-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.pipeline_common import (
    HomeDeployment,
    StackDeploy,
    deploy_role,
    pass_role,
    pipeline_build_project,
    use_key,
    write_logs,
)

cp = aws.codepipeline

# The deploy build names its change sets `relay-deploy-<epoch seconds>`; its role may touch no other.
CHANGE_SET_PREFIX = "relay-deploy-"
CHANGE_SET_ACTIONS = (
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
)
# DeleteStack: a stack whose creation failed (ROLLBACK_COMPLETE) holds nothing and must be deleted before
# it can be created again, as the CloudFormation action's REPLACE_ON_FAILURE does.
STACK_ACTIONS = ("cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DeleteStack")


@dataclass(frozen=True)
class RemoteDeployProps:
    """Props of :class:`RemoteDeploy`."""

    region: str
    """Region deployed into (it needs CloudFormation). Required."""
    home_region: str
    """Region of the pipeline and of this build. Required."""
    account_id: str
    """Account id, for exact ARNs. Required."""
    partition: str
    """AWS partition. Required."""
    project_name: str
    """CodeBuild project name. Required."""
    log_group_name: str
    """CloudWatch Logs group of the project. Required."""
    build_role_name: str
    """IAM role of the build. Required."""
    deploy_role_name: str
    """IAM role CloudFormation assumes in that region. Required."""
    deploy: StackDeploy
    """The stack deployed from the release. Required."""
    deploy_statements: tuple[dict, ...]
    """Statements of the deploy role (what the template creates). Required (may be empty)."""
    permissions_boundary_arn: str | None
    """Permissions boundary of the deploy role (None: none). Required."""
    kms_key_arn: str
    """The home region's key: artifacts and logs. Required."""
    artifact_bucket_arn: str
    """The home pipeline's artifact store. Required."""
    buildspec: str
    """Buildspec YAML of the deploy build. Required."""
    action_name: str
    """Name of the home pipeline's action that runs the build. Required."""
    input_artifact: str = "ReleaseArtifact"
    """The pipeline artifact holding the release. Default `ReleaseArtifact`."""
    build_image: str = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    """CodeBuild image (has bash, the AWS CLI and python3). Default the managed Amazon Linux 2 standard 5.0 image."""
    log_retention_days: int = 90
    """Retention of build logs. Default 90."""


class RemoteDeploy(Construct):
    """Deploy role, build role, log group and CodeBuild project of one `remote` region; `deployment` is
    the home pipeline's CodeBuild action that runs it."""

    def __init__(self, scope: Construct, id: str, *, props: RemoteDeployProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p = props
        arn = f"arn:{p.partition}"
        home, target, account = p.home_region, p.region, p.account_id
        stack = p.deploy.stack_name
        project_arn = f"{arn}:codebuild:{home}:{account}:project/{p.project_name}"
        log_group_arn = f"{arn}:logs:{home}:{account}:log-group:{p.log_group_name}"
        stack_arn = f"{arn}:cloudformation:{target}:{account}:stack/{stack}/*"
        change_set_arn = f"{arn}:cloudformation:{target}:{account}:changeSet/{CHANGE_SET_PREFIX}*/*"

        self.deploy_role = deploy_role(
            self,
            "deploy-role",
            name=p.deploy_role_name,
            stack_name=stack,
            account_id=account,
            statements=p.deploy_statements,
            provider=provider,
            permissions_boundary=p.permissions_boundary_arn,
        )
        self.build_role = iam.ServiceRole(
            self,
            "build-role",
            name=p.build_role_name,
            service="codebuild.amazonaws.com",
            source_account=account,
            description=f"CodeBuild: deploy the release to stack {stack} in {target}",
            statements=[
                write_logs(log_group_arn),
                iam.allow("ReadRelease", ["s3:GetObject", "s3:GetObjectVersion"], [f"{p.artifact_bucket_arn}/*"]),
                use_key("UseKey", [p.kms_key_arn], home, "s3", "codebuild"),
                iam.allow("DeployStack", [*CHANGE_SET_ACTIONS, *STACK_ACTIONS], [stack_arn]),
                iam.allow("ChangeSets", CHANGE_SET_ACTIONS, [change_set_arn]),
                pass_role("PassDeployRole", self.deploy_role.arn),
            ],
            provider=provider,
        )
        variables = {
            "DEPLOY_REGION": target,
            "STACK_NAME": stack,
            "TEMPLATE_PATH": p.deploy.template_path,
            "DEPLOY_ROLE_ARN": self.deploy_role.arn,
            "CHANGE_SET_PREFIX": CHANGE_SET_PREFIX,
            "PARAMETER_OVERRIDES": json.dumps(dict(p.deploy.parameter_overrides), sort_keys=True),
        }
        if p.deploy.capabilities:
            variables["CAPABILITIES"] = " ".join(p.deploy.capabilities)
        self.log_group, self.project = pipeline_build_project(
            self,
            "build",
            name=p.project_name,
            description=f"Deploys the release to CloudFormation stack {stack} in {target}",
            role_arn=self.build_role.arn,
            kms_key_arn=p.kms_key_arn,
            buildspec=p.buildspec,
            variables=variables,
            log_group_name=p.log_group_name,
            log_retention_days=p.log_retention_days,
            image=p.build_image,
            timeout_minutes=60,
            provider=provider,
        )
        self.deployment = HomeDeployment(
            region=target,
            action=cp.CodepipelineStageAction(
                name=p.action_name,
                category="Build",
                owner="AWS",
                provider="CodeBuild",
                version="1",
                input_artifacts=[p.input_artifact],
                configuration={"ProjectName": self.project.name},
            ),
            statements=(
                iam.allow(
                    f"DeployBuild{target.replace('-', '')}",
                    ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
                    [project_arn],
                ),
            ),
        )
