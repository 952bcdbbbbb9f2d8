"""What turns a new release object in a target bucket into a pipeline execution.

`build_trigger` is the seam between trigger modes: each mode is a construct taking the same props.
Mode `eventbridge` (S3 -> EventBridge notifications, delivered durably) is implemented here; the
bucket's EventBridge notifications are switched on by the bucket itself (SecureBucket props).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from config.schema import TriggerMode
from modules import iam
from modules._cdktf import Construct, aws


@dataclass(frozen=True)
class TriggerProps:
    """Props shared by every trigger mode."""

    rule_name: str
    """EventBridge rule name. Required."""
    role_name: str
    """Role EventBridge assumes to start the pipeline. Required."""
    account_id: str
    """Account of the rule, for the role's trust condition. Required."""
    bucket_name: str
    """Target-region release bucket. Required."""
    object_key: str
    """Exact key of the release object. Required."""
    pipeline_arn: str
    """ARN of the pipeline to start. Required."""


class EventBridgeTrigger(Construct):
    """Rule on `Object Created` for the bucket and exact key (any reason: PutObject, CopyObject,
    CompleteMultipartUpload, and the replica writes of S3 replication), targeting the pipeline with a
    role allowed to start that one pipeline."""

    def __init__(self, scope: Construct, id: str, *, props: TriggerProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        self.event_pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [props.bucket_name]}, "object": {"key": [props.object_key]}},
        }
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            provider=provider,
            name=props.role_name,
            description="EventBridge: start the deploy pipeline for a new release",
            assume_role_policy=iam.assume_role("events.amazonaws.com", source_account=props.account_id),
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "policy",
            provider=provider,
            role=self.role.id,
            name="start-pipeline",
            policy=iam.document(
                iam.allow("StartPipeline", ["codepipeline:StartPipelineExecution"], [props.pipeline_arn])
            ),
        )
        self.rule = aws.cloudwatch_event_rule.CloudwatchEventRule(
            self,
            "rule",
            provider=provider,
            name=props.rule_name,
            description=f"New release object {props.object_key} in {props.bucket_name}",
            event_pattern=json.dumps(self.event_pattern),
        )
        self.target = aws.cloudwatch_event_target.CloudwatchEventTarget(
            self,
            "target",
            provider=provider,
            rule=self.rule.name,
            target_id="deploy-pipeline",
            arn=props.pipeline_arn,
            role_arn=self.role.arn,
        )


TRIGGERS: dict[TriggerMode, type[Construct]] = {TriggerMode.EVENTBRIDGE: EventBridgeTrigger}


def build_trigger(
    scope: Construct, id: str, *, mode: TriggerMode, props: TriggerProps, provider: aws.provider.AwsProvider
) -> Construct:
    """Create the trigger of `mode`; every mode takes the same props."""
    return TRIGGERS[mode](scope, id, props=props, provider=provider)


def bucket_needs_eventbridge(mode: TriggerMode) -> bool:
    """Whether the target bucket must send its events to EventBridge for this mode."""
    return mode is TriggerMode.EVENTBRIDGE
