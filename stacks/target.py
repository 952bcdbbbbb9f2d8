"""One target region: everything it needs to receive a release and deploy it, and nothing from home.

The stack reads no state and no resource of the home stack, so it can be planned, deployed and
operated while the home region is down (static stability).
"""

from __future__ import annotations

from pathlib import Path

from config.schema import RelayConfig
from modules._cdktf import Construct
from modules.kms_key import RegionKey, RegionKeyProps
from modules.regional_pipeline import RegionalPipeline, RegionalPipelineProps
from modules.secure_bucket import SecureBucket, SecureBucketProps
from modules.trigger import TriggerProps, bucket_needs_eventbridge, build_trigger
from stacks.base import PROJECT_ROOT, RelayStack


class TargetStack(RelayStack):
    """Destination bucket, key, deploy pipeline and trigger of one target region."""

    def __init__(self, scope: Construct, *, config: RelayConfig, region: str, root: Path = PROJECT_ROOT):
        names = config.names
        super().__init__(scope, names.target_stack(region), config=config, region=region)
        provider, account = self.provider, self.account_id
        self.key = RegionKey(
            self,
            "key",
            props=RegionKeyProps(alias=names.kms_alias(region), account_id=account, partition=self.partition),
            provider=provider,
        )
        bucket_settings = {
            "kms_key_arn": self.key.arn,
            "partition": self.partition,
            "noncurrent_version_expiration_days": config.buckets.noncurrent_version_expiration_days,
            "force_destroy": config.buckets.force_destroy,
        }
        self.release_bucket = SecureBucket(
            self,
            "release-bucket",
            props=SecureBucketProps(
                name=names.bucket("release", region),
                eventbridge_notifications=bucket_needs_eventbridge(config.trigger.mode),
                **bucket_settings,
            ),
            provider=provider,
        )
        self.artifact_bucket = SecureBucket(
            self,
            "artifact-bucket",
            props=SecureBucketProps(name=names.bucket("artifacts", region), **bucket_settings),
            provider=provider,
        )
        deploy = config.deploy
        self.pipeline = RegionalPipeline(
            self,
            "pipeline",
            props=RegionalPipelineProps(
                pipeline_name=names.pipeline("deploy", region),
                pipeline_role_name=names.role("pipeline", region),
                deploy_role_name=names.role("deploy", region),
                region=region,
                account_id=account,
                partition=self.partition,
                kms_key_arn=self.key.arn,
                release_bucket_name=self.release_bucket.bucket.bucket,
                release_bucket_arn=self.release_bucket.arn,
                release_object_key=config.release.object_key,
                artifact_bucket_name=self.artifact_bucket.bucket.bucket,
                artifact_bucket_arn=self.artifact_bucket.arn,
                stack_name=deploy.stack_name,
                template_path=deploy.template_path,
                capabilities=tuple(deploy.capabilities),
                parameter_overrides=dict(deploy.parameter_overrides),
                deploy_policy=(root / deploy.policy_file).read_text() if deploy.policy_file else None,
            ),
            provider=provider,
        )
        self.trigger = build_trigger(
            self,
            "trigger",
            mode=config.trigger.mode,
            props=TriggerProps(
                rule_name=names.event_rule("release", region),
                role_name=names.role("trigger", region),
                account_id=account,
                bucket_name=self.release_bucket.bucket.bucket,
                object_key=config.release.object_key,
                pipeline_arn=self.pipeline.arn,
            ),
            provider=provider,
        )
        self.output("release_bucket", self.release_bucket.bucket.bucket, "Bucket that receives the replicated release")
        self.output("kms_key_arn", self.key.arn, "Key of this region's buckets and artifacts")
        self.output("pipeline_name", self.pipeline.pipeline.name, "Pipeline that deploys each release in this region")
        self.output("deploy_stack_name", deploy.stack_name, "CloudFormation stack the pipeline deploys")
