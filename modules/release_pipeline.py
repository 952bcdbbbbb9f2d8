"""The home-region pipeline: git source on one branch -> CodeBuild zips and publishes the release -> the
home pipeline's own deploy actions, one per region delivered `native` or `remote`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.pipeline_common import (
    HomeDeployment,
    PipelineProps,
    build_arns,
    pipeline_build_project,
    use_key,
    v2_pipeline,
    write_logs,
)

cp = aws.codepipeline

RELEASE_ARTIFACT = "ReleaseArtifact"
"""The build's output artifact: the release's files, read by the Deploy stage's actions."""


@dataclass(frozen=True)
class ReleasePipelineProps:
    """Props of :class:`ReleasePipeline`."""

    common: PipelineProps
    """What every pipeline of the region shares (names, key, buckets). Required."""
    project_name: str
    """CodeBuild project name. Required."""
    log_group_name: str
    """CloudWatch Logs group of the build. Required."""
    build_role_name: str
    """IAM role of the build. Required."""
    branch: str
    """Branch whose pushes and merges start the pipeline. Required."""
    repository: str
    """`owner/name` (connection) or CodeCommit repository name. Required."""
    buildspec: str
    """Buildspec YAML text of the build. Required."""
    connection_arn: str | None = None
    """CodeConnections ARN; None selects CodeCommit as the source. Default None."""
    source_trigger_role_name: str | None = None
    """With CodeCommit: role EventBridge uses to start the pipeline. Required with CodeCommit."""
    source_trigger_rule_name: str | None = None
    """With CodeCommit: EventBridge rule on pushes to the branch. Required with CodeCommit."""
    build_image: str = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
    """CodeBuild image. Default the managed Amazon Linux 2 standard 5.0 image (has zip and the AWS CLI)."""
    log_retention_days: int = 90
    """Retention of build logs. Default 90."""
    deployments: tuple[HomeDeployment, ...] = ()
    """Deploy actions of the pipeline's Deploy stage (they run side by side after the build, reading the
    build's `ReleaseArtifact`). Default none: the pipeline ends with the build."""


class ReleasePipeline(Construct):
    """Pipeline (V2, triggered by pushes to one branch) with a source stage and a build stage.

    With a connection, the V2 pipeline's git trigger filters on the branch; with CodeCommit, an
    EventBridge rule on the branch's reference updates starts it (the action does not poll).
    """

    def __init__(self, scope: Construct, id: str, *, props: ReleasePipelineProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p, c = props, props.common
        arn = f"arn:{c.partition}"
        self.pipeline_arn = f"{arn}:codepipeline:{c.region}:{c.account_id}:{c.pipeline_name}"
        self.project_arn, log_group_arn = build_arns(c, p.project_name, p.log_group_name)
        repository_arn = f"{arn}:codecommit:{c.region}:{c.account_id}:{p.repository}"
        artifacts = f"{c.artifact_bucket_arn}/*"

        self.build_role = iam.ServiceRole(
            self,
            "build-role",
            name=p.build_role_name,
            service="codebuild.amazonaws.com",
            source_account=c.account_id,
            description="CodeBuild: zip the source and publish the release object",
            statements=[
                write_logs(log_group_arn),
                iam.allow("ReadSourceArtifact", ["s3:GetObject", "s3:GetObjectVersion"], [artifacts]),
                iam.allow("PublishRelease", ["s3:PutObject"], [f"{c.release_bucket_arn}/{c.release_object_key}"]),
                use_key("UseKey", [c.kms_key_arn], c.region, "s3", "codebuild"),
            ],
            provider=provider,
        )
        self.log_group, self.project = pipeline_build_project(
            self,
            "build",
            name=p.project_name,
            description="Zips the source and copies it to the release bucket",
            role_arn=self.build_role.arn,
            kms_key_arn=c.kms_key_arn,
            buildspec=p.buildspec,
            variables={
                "RELEASE_BUCKET": c.release_bucket_name,
                "RELEASE_KEY": c.release_object_key,
                "RELEASE_KMS_KEY_ARN": c.kms_key_arn,
            },
            log_group_name=p.log_group_name,
            log_retention_days=p.log_retention_days,
            image=p.build_image,
            timeout_minutes=15,
            provider=provider,
        )

        if p.connection_arn:
            source_statement = iam.allow(
                "UseConnection",
                ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                [p.connection_arn],
            )
            source_action = cp.CodepipelineStageAction(
                name="Source",
                category="Source",
                owner="AWS",
                provider="CodeStarSourceConnection",
                version="1",
                output_artifacts=["SourceArtifact"],
                configuration={
                    "ConnectionArn": p.connection_arn,
                    "FullRepositoryId": p.repository,
                    "BranchName": p.branch,
                    "OutputArtifactFormat": "CODE_ZIP",
                    "DetectChanges": "true",
                },
            )
            triggers = [
                cp.CodepipelineTrigger(
                    provider_type="CodeStarSourceConnection",
                    git_configuration=cp.CodepipelineTriggerGitConfiguration(
                        source_action_name="Source",
                        push=[
                            cp.CodepipelineTriggerGitConfigurationPush(
                                branches=cp.CodepipelineTriggerGitConfigurationPushBranches(includes=[p.branch])
                            )
                        ],
                    ),
                )
            ]
        else:
            source_statement = iam.allow(
                "ReadRepository",
                [
                    "codecommit:GetBranch",
                    "codecommit:GetCommit",
                    "codecommit:UploadArchive",
                    "codecommit:GetUploadArchiveStatus",
                    "codecommit:CancelUploadArchive",
                ],
                [repository_arn],
            )
            source_action = cp.CodepipelineStageAction(
                name="Source",
                category="Source",
                owner="AWS",
                provider="CodeCommit",
                version="1",
                output_artifacts=["SourceArtifact"],
                configuration={"RepositoryName": p.repository, "BranchName": p.branch, "PollForSourceChanges": "false"},
            )
            triggers = None

        self.pipeline_role = iam.ServiceRole(
            self,
            "pipeline-role",
            name=c.pipeline_role_name,
            service="codepipeline.amazonaws.com",
            source_account=c.account_id,
            description="CodePipeline: source and build of the release",
            statements=[
                source_statement,
                iam.allow("Artifacts", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [artifacts]),
                iam.allow(
                    "ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [c.artifact_bucket_arn]
                ),
                iam.allow(
                    "Build",
                    ["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
                    [self.project_arn],
                ),
                use_key("UseKey", [c.kms_key_arn], c.region),
                *(statement for deployment in p.deployments for statement in deployment.statements),
            ],
            provider=provider,
        )
        stages = [
            cp.CodepipelineStage(name="Source", action=[source_action]),
            cp.CodepipelineStage(
                name="Package",
                action=[
                    cp.CodepipelineStageAction(
                        name="ZipAndPublish",
                        category="Build",
                        owner="AWS",
                        provider="CodeBuild",
                        version="1",
                        input_artifacts=["SourceArtifact"],
                        output_artifacts=[RELEASE_ARTIFACT] if p.deployments else None,
                        configuration={"ProjectName": self.project.name},
                    )
                ],
            ),
        ]
        if p.deployments:
            stages.append(cp.CodepipelineStage(name="Deploy", action=[d.action for d in p.deployments]))
        self.pipeline = v2_pipeline(
            self,
            "this",
            props=c,
            role_arn=self.pipeline_role.arn,
            provider=provider,
            stages=stages,
            remote_stores=[d.artifact_store for d in p.deployments if d.artifact_store],
            triggers=triggers,
        )
        if not p.connection_arn:
            self._codecommit_trigger(p, provider, repository_arn)

    def _codecommit_trigger(
        self, p: ReleasePipelineProps, provider: aws.provider.AwsProvider, repository_arn: str
    ) -> None:
        """CodeCommit pushes reach the pipeline through EventBridge (the source action does not poll)."""
        c = p.common
        role = iam.ServiceRole(
            self,
            "source-trigger-role",
            name=p.source_trigger_role_name,
            service="events.amazonaws.com",
            source_account=c.account_id,
            description="EventBridge: start the release pipeline on a push to the branch",
            statements=[iam.allow("StartPipeline", ["codepipeline:StartPipelineExecution"], [self.pipeline_arn])],
            provider=provider,
        )
        rule = aws.cloudwatch_event_rule.CloudwatchEventRule(
            self,
            "source-trigger",
            provider=provider,
            name=p.source_trigger_rule_name,
            description=f"Push to {p.branch} of {p.repository}",
            event_pattern=json.dumps(
                {
                    "source": ["aws.codecommit"],
                    "detail-type": ["CodeCommit Repository State Change"],
                    "resources": [repository_arn],
                    "detail": {
                        "event": ["referenceCreated", "referenceUpdated"],
                        "referenceType": ["branch"],
                        "referenceName": [p.branch],
                    },
                }
            ),
        )
        aws.cloudwatch_event_target.CloudwatchEventTarget(
            self, "source-trigger-target", provider=provider, rule=rule.name, arn=self.pipeline.arn, role_arn=role.arn
        )
