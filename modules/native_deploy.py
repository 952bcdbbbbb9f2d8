"""Delivery strategy `native`: AWS's own cross-region CloudFormation action in the home pipeline.

CodePipeline copies the action's input artifact into the artifact store of the action's region (a
bucket and a key there, owned by that region's stack) and runs CloudFormation in that region under
the region's deploy role. Nothing is created in the home region; what the home pipeline needs is the
action, the store and the statements its role gets, all named deterministically, so the home stack
reads nothing of the region's stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import aws
from modules.pipeline_common import (
    DEPLOY_STACK_ACTIONS,
    ArtifactStore,
    HomeDeployment,
    StackDeploy,
    pass_role,
    use_key,
)

cp = aws.codepipeline


@dataclass(frozen=True)
class NativeDeploymentProps:
    """Props of :func:`native_deployment`."""

    region: str
    """Region the action deploys into (it needs CodePipeline). Required."""
    account_id: str
    """Account of the pipeline, the store and the stack. Required."""
    partition: str
    """AWS partition. Required."""
    artifact_bucket_name: str
    """The region's artifact store bucket (its stack creates it). Required."""
    kms_alias: str
    """Alias (`alias/...`) of the region's key (its stack creates it). Required."""
    deploy_role_name: str
    """The region's CloudFormation deploy role (its stack creates it). Required."""
    deploy: StackDeploy
    """The stack deployed from the release. Required."""
    action_name: str
    """Name of the action in the Deploy stage. Required."""
    input_artifact: str = "ReleaseArtifact"
    """The pipeline artifact holding the release. Default `ReleaseArtifact`."""


def native_deployment(props: NativeDeploymentProps) -> HomeDeployment:
    """The cross-region CloudFormation action for one region, its artifact store and its role statements."""
    p = props
    arn = f"arn:{p.partition}"
    suffix = p.region.replace("-", "")
    bucket_arn = f"{arn}:s3:::{p.artifact_bucket_name}"
    deploy_role_arn = f"{arn}:iam::{p.account_id}:role/{p.deploy_role_name}"
    stack_arn = f"{arn}:cloudformation:{p.region}:{p.account_id}:stack/{p.deploy.stack_name}/*"
    action = cp.CodepipelineStageAction(
        name=p.action_name,
        category="Deploy",
        owner="AWS",
        provider="CloudFormation",
        version="1",
        region=p.region,
        input_artifacts=[p.input_artifact],
        configuration=p.deploy.action_configuration(p.input_artifact, deploy_role_arn),
    )
    statements = (
        iam.allow(f"Artifacts{suffix}", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [f"{bucket_arn}/*"]),
        iam.allow(f"ArtifactBucket{suffix}", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [bucket_arn]),
        # The key is another stack's: it is found by its alias, so the grant names the region's keys and
        # holds only for the one behind that alias.
        use_key(
            f"UseKey{suffix}",
            [f"{arn}:kms:{p.region}:{p.account_id}:key/*"],
            p.region,
            **{"ForAnyValue:StringEquals": {"kms:ResourceAliases": p.kms_alias}},
        ),
        iam.allow(f"DeployStack{suffix}", DEPLOY_STACK_ACTIONS, [stack_arn]),
        pass_role(f"PassDeployRole{suffix}", deploy_role_arn),
    )
    store = ArtifactStore(
        bucket_name=p.artifact_bucket_name,
        kms_key_id=f"{arn}:kms:{p.region}:{p.account_id}:{p.kms_alias}",
        region=p.region,
    )
    return HomeDeployment(region=p.region, action=action, statements=statements, artifact_store=store)
