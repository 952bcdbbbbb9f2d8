"""A bespoke target pipeline's Select stage: a CodeBuild build in the target region that deploys only the
newest release present there.

S3 replication keeps no order: when an older release's replica lands after a newer one's, it becomes the
key's latest version and its event starts an execution whose S3 source reads it. The build (buildspec
`select-release.yml`) reads the versions of the release key in the region's bucket, picks the highest
`relay-release-seq` (the home build's publish time) and outputs that release as `ReleaseArtifact`, with a
template configuration whose stack tags record it; the Deploy action deploys that artifact. An execution
started by a late, older replica redeploys the newest release (no change).

Its role may list the versions of the one release key and read them, read its own log group and the
pipeline's artifacts (input and output), describe the one deployed stack and use the region's key through
S3 and CodeBuild; it is assumable by CodeBuild for this project of this account only. Nothing reads home.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.pipeline_common import PipelineProps, build_arns, pipeline_build_project, use_key, write_logs

cp = aws.codepipeline

RELEASE_ARTIFACT = "ReleaseArtifact"
"""The Select action's output: the newest release's files and its template configuration."""
TEMPLATE_CONFIGURATION = "relay-release.json"
"""The template configuration file the build writes into the release artifact (stack tags of the release)."""
RELEASE_TAGS = ("relay:release-seq", "relay:release-version", "relay:release-revision")
"""Stack tags recording the deployed release: its seq (publish time, epoch ms), S3 version id and commit."""
SEQ_METADATA = "relay-release-seq"
"""User metadata of a release object (`x-amz-meta-relay-release-seq`): its publish time in epoch ms."""


@dataclass(frozen=True)
class ReleaseSelectProps:
    """Props of :class:`ReleaseSelect`."""

    common: PipelineProps
    """The regional pipeline's props (names, key, buckets). Required."""
    project_name: str
    """CodeBuild project name. Required."""
    log_group_name: str
    """CloudWatch Logs group of the project. Required."""
    role_name: str
    """IAM role of the build. Required."""
    stack_name: str
    """The stack the pipeline deploys (its release tags are read). Required."""
    buildspec: str
    """Buildspec YAML (`buildspec/select-release.yml`). Required."""
    build_image: str = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    """CodeBuild image (bash, python3, the AWS CLI). Default the managed Amazon Linux 2 standard 5.0 image."""
    log_retention_days: int = 90
    """Retention of build logs. Default 90."""


class ReleaseSelect(Construct):
    """Role, log group and CodeBuild project of the Select stage; `action` is the pipeline's action and
    `pipeline_statements` what the pipeline role needs to run it."""

    def __init__(self, scope: Construct, id: str, *, props: ReleaseSelectProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p, c = props, props.common
        self.project_arn, log_group_arn = build_arns(c, p.project_name, p.log_group_name)
        stack_arn = f"arn:{c.partition}:cloudformation:{c.region}:{c.account_id}:stack/{p.stack_name}/*"
        self.role = iam.ServiceRole(
            self,
            "role",
            name=p.role_name,
            service="codebuild.amazonaws.com",
            source_account=c.account_id,
            source_arn=self.project_arn,
            description="CodeBuild: pick the newest release in this region's release bucket",
            statements=[
                write_logs(log_group_arn),
                iam.allow(
                    "Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [f"{c.artifact_bucket_arn}/*"]
                ),
                iam.allow(
                    "ListReleaseVersions",
                    ["s3:ListBucketVersions"],
                    [c.release_bucket_arn],
                    Condition={"StringEquals": {"s3:prefix": c.release_object_key}},
                ),
                iam.allow(
                    "ReadReleaseVersions", ["s3:GetObjectVersion"], [f"{c.release_bucket_arn}/{c.release_object_key}"]
                ),
                iam.allow("ReadDeployedRelease", ["cloudformation:DescribeStacks"], [stack_arn]),
                use_key("UseKey", [c.kms_key_arn], c.region, "s3", "codebuild"),
            ],
            provider=provider,
        )
        self.log_group, self.project = pipeline_build_project(
            self,
            "build",
            name=p.project_name,
            description="Picks the newest release in the region's release bucket for the Deploy stage",
            role_arn=self.role.arn,
            kms_key_arn=c.kms_key_arn,
            buildspec=p.buildspec,
            variables={
                "RELEASE_BUCKET": c.release_bucket_name,
                "RELEASE_KEY": c.release_object_key,
                "STACK_NAME": p.stack_name,
            },
            log_group_name=p.log_group_name,
            log_retention_days=p.log_retention_days,
            image=p.build_image,
            timeout_minutes=10,
            provider=provider,
        )
        self.action = cp.CodepipelineStageAction(
            name="NewestRelease",
            category="Build",
            owner="AWS",
            provider="CodeBuild",
            version="1",
            input_artifacts=["SourceArtifact"],
            output_artifacts=[RELEASE_ARTIFACT],
            configuration={"ProjectName": self.project.name},
        )
        self.pipeline_statements = (
            iam.allow(
                "SelectRelease",
                ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
                [self.project_arn],
            ),
            # the Deploy action creates / updates the stack with the release's tags (template configuration)
            iam.allow("TagStack", ["cloudformation:TagResource"], [stack_arn]),
        )

    @property
    def role_arn(self) -> str:
        """ARN of the build's role (it writes the pipeline's output artifact)."""
        return self.role.arn
