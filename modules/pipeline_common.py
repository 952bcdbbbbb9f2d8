"""What both pipelines of the app share: the props every pipeline needs and its encrypted artifact store."""

from __future__ import annotations

from dataclasses import dataclass

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


def encrypted_artifact_store(bucket_name: str, kms_key_arn: str) -> list[cp.CodepipelineArtifactStore]:
    """An S3 artifact store whose objects CodePipeline encrypts with the given customer-managed key."""
    return [
        cp.CodepipelineArtifactStore(
            location=bucket_name,
            type="S3",
            encryption_key=cp.CodepipelineArtifactStoreEncryptionKey(id=kms_key_arn, type="KMS"),
        )
    ]


def v2_pipeline(
    scope: Construct,
    id: str,
    *,
    props: PipelineProps,
    role_arn: str,
    stages: list[cp.CodepipelineStage],
    provider: aws.provider.AwsProvider,
    triggers: list[cp.CodepipelineTrigger] | None = None,
) -> cp.Codepipeline:
    """A V2 pipeline (queued executions: releases deploy in order, none is superseded) with its store."""
    return cp.Codepipeline(
        scope,
        id,
        provider=provider,
        name=props.pipeline_name,
        pipeline_type="V2",
        execution_mode="QUEUED",
        role_arn=role_arn,
        artifact_store=encrypted_artifact_store(props.artifact_bucket_name, props.kms_key_arn),
        stage=stages,
        trigger=triggers,
    )
