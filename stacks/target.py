"""One target region: everything it needs to receive a release and deploy it, and nothing from home.

The stack reads no state and no resource of the home stack, so it can be planned, deployed and
operated while the home region is down (static stability).
"""

from __future__ import annotations

import json
from pathlib import Path

from config.schema import RelayConfig, TriggerMode
from modules._cdktf import Construct
from modules.kms_key import RegionKey, RegionKeyProps
from modules.regional_pipeline import RegionalPipeline, RegionalPipelineProps
from modules.trigger import TrailProps, TriggerProps, bucket_needs_eventbridge, build_trigger
from stacks.base import PROJECT_ROOT, RelayStack


class TargetStack(RelayStack):
    """Destination bucket, key, deploy pipeline and trigger of one target region."""

    def __init__(self, scope: Construct, *, config: RelayConfig, region: str, root: Path = PROJECT_ROOT):
        names = config.names
        super().__init__(scope, names.target_stack(region), config=config, region=region)
        provider, account = self.provider, self.account_id
        mode = config.trigger_mode(region)
        trail_arn = f"arn:{self.partition}:cloudtrail:{region}:{account}:trail/{names.trail(region)}"
        self.key = RegionKey(
            self,
            "key",
            props=RegionKeyProps(
                alias=names.kms_alias(region),
                account_id=account,
                partition=self.partition,
                cloudtrail_trail_arn=trail_arn if mode is TriggerMode.CLOUDTRAIL else None,
            ),
            provider=provider,
        )
        self.release_bucket = self.bucket(
            "release-bucket", "release", self.key.arn, eventbridge_notifications=bucket_needs_eventbridge(mode)
        )
        self.artifact_bucket = self.bucket("artifact-bucket", "artifacts", self.key.arn)
        deploy = config.deploy
        self.pipeline = RegionalPipeline(
            self,
            "pipeline",
            props=RegionalPipelineProps(
                **self.pipeline_props("deploy", self.key.arn, self.release_bucket, self.artifact_bucket),
                deploy_role_name=names.role("deploy", region),
                stack_name=deploy.stack_name,
                template_path=deploy.template_path,
                capabilities=tuple(deploy.capabilities),
                parameter_overrides=dict(deploy.parameter_overrides),
                deploy_statements=_policy_statements(root, deploy.policy_file),
            ),
            provider=provider,
        )
        trail = None
        if mode is TriggerMode.CLOUDTRAIL:
            trail = TrailProps(
                trail_name=names.trail(region),
                trail_arn=trail_arn,
                log_bucket=self.bucket_props("trail", self.key.arn),
                kms_key_arn=self.key.arn,
                partition=self.partition,
            )
        self.trigger = build_trigger(
            self,
            "trigger",
            mode=mode,
            trail=trail,
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
        self.output("trigger_mode", mode.value, "How a new release object starts the pipeline in this region")


def _policy_statements(root: Path, policy_file: str | None) -> tuple[dict, ...]:
    """Statements of the deploy policy file (validated with the configuration)."""
    if not policy_file:
        return ()
    return tuple(json.loads((root / policy_file).read_text())["Statement"])
