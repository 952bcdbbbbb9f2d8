"""What turns a new release object in a target bucket into a pipeline execution.

Both modes end the same way: an EventBridge rule on the region's default bus whose target is the
pipeline, called with a role allowed `codepipeline:StartPipelineExecution` on that pipeline only.
They differ in where the event comes from:

- `eventbridge`: the bucket sends its own events to EventBridge (`Object Created`); delivered durably.
- `cloudtrail`: a trail logs the release key's S3 data events, and CloudTrail forwards each as
  `AWS API Call via CloudTrail`; best effort, later, and billed per data event (the original design).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.policy_checks import suppress
from modules.secure_bucket import SecureBucket, SecureBucketProps

# Every way S3 creates an object version: a plain put (also how replicas are written), a server-side
# copy, and the last step of a multipart upload.
OBJECT_WRITE_EVENTS = ["PutObject", "CopyObject", "CompleteMultipartUpload"]


@dataclass(frozen=True)
class TriggerProps:
    """Props of :class:`EventBridgeTrigger`, and what every trigger takes."""

    rule_name: str
    """EventBridge rule name. Required."""
    role_name: str
    """Role EventBridge assumes to start the pipeline. Required."""
    account_id: str
    """Account of the rule, for the role's trust condition. Required."""
    bucket_name: str
    """Target-region release bucket (a plain name, also used in the event pattern). Required."""
    object_key: str
    """Exact key of the release object. Required."""
    pipeline_arn: str
    """ARN of the pipeline to start. Required."""


@dataclass(frozen=True)
class CloudTrailTriggerProps:
    """Props of :class:`CloudTrailTrigger`: the rule's props plus the trail and its log bucket."""

    rule: TriggerProps
    """The rule and the pipeline it starts, as for every trigger. Required."""
    trail_name: str
    """Trail name (from config.naming). Required."""
    trail_arn: str
    """The trail's ARN, computed from its name (the bucket and key policies must name it). Required."""
    log_bucket: SecureBucketProps
    """Props of the log bucket; the CloudTrail statements are added to its policy here. Required."""
    kms_key_arn: str
    """Key the log files are encrypted with (its policy must allow this trail). Required."""
    partition: str = "aws"
    """AWS partition. Default `aws`."""


class _StartPipelineRule(Construct):
    """Rule with the given pattern, targeting the pipeline through a role scoped to that pipeline."""

    def __init__(self, scope: Construct, id: str, *, props: TriggerProps, pattern: dict, description: str, provider):
        super().__init__(scope, id)
        self.event_pattern = pattern
        self.role = iam.ServiceRole(
            self,
            "role",
            name=props.role_name,
            service="events.amazonaws.com",
            source_account=props.account_id,
            description="EventBridge: start the deploy pipeline for a new release",
            statements=[iam.allow("StartPipeline", ["codepipeline:StartPipelineExecution"], [props.pipeline_arn])],
            policy_name="start-pipeline",
            provider=provider,
        )
        self.rule = aws.cloudwatch_event_rule.CloudwatchEventRule(
            self,
            "rule",
            provider=provider,
            name=props.rule_name,
            description=description,
            event_pattern=json.dumps(pattern),
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


class EventBridgeTrigger(Construct):
    """Rule on `Object Created` for the bucket and exact key, any reason (PutObject, CopyObject,
    CompleteMultipartUpload, and the replica writes of S3 replication)."""

    def __init__(self, scope: Construct, id: str, *, props: TriggerProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [props.bucket_name]}, "object": {"key": [props.object_key]}},
        }
        self.start = _StartPipelineRule(
            self,
            "start",
            props=props,
            pattern=pattern,
            description=f"New release object {props.object_key} in {props.bucket_name}",
            provider=provider,
        )


@dataclass(frozen=True)
class ReleaseTrailProps:
    """Props of :func:`release_trail`: a trail of one object's write data events and its log bucket."""

    trail_name: str
    """Trail name (from config.naming). Required."""
    trail_arn: str
    """The trail's ARN, computed from its name (the bucket and key policies must name it). Required."""
    log_bucket: SecureBucketProps
    """Props of the log bucket; the CloudTrail statements are added to its policy here. Required."""
    kms_key_arn: str
    """Key the log files are encrypted with (its policy must allow this trail). Required."""
    account_id: str
    """Account whose logs the bucket receives. Required."""
    bucket_name: str
    """Bucket of the logged object. Required."""
    object_key: str
    """The one object whose writes are logged. Required."""
    partition: str = "aws"
    """AWS partition. Default `aws`."""


def release_trail(
    scope: Construct, props: ReleaseTrailProps, provider: aws.provider.AwsProvider
) -> tuple[SecureBucket, aws.cloudtrail.Cloudtrail]:
    """In `scope` (construct ids `log-bucket` and `trail`): a trail logging only the write data events of one
    object, and its encrypted log bucket whose policy lets only that trail write."""
    log_bucket_arn = f"arn:{props.partition}:s3:::{props.log_bucket.name}"
    source_is_trail = {"StringEquals": {"aws:SourceArn": props.trail_arn}}
    cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
    statements = (
        {
            "Sid": "AWSCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": cloudtrail,
            "Action": "s3:GetBucketAcl",
            "Resource": log_bucket_arn,
            "Condition": source_is_trail,
        },
        {
            "Sid": "AWSCloudTrailWrite",
            "Effect": "Allow",
            "Principal": cloudtrail,
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/AWSLogs/{props.account_id}/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": props.trail_arn,
                }
            },
        },
    )
    log_props = replace(props.log_bucket, extra_policy_statements=statements, eventbridge_notifications=False)
    log_bucket = SecureBucket(scope, "log-bucket", props=log_props, provider=provider)
    suppress(
        log_bucket.bucket,
        "CKV_AWS_18",
        "the trail's own log bucket: CloudTrail alone writes it (its policy names this trail); logging access to "
        "the log would need another log bucket for that log",
    )
    object_arn = f"arn:{props.partition}:s3:::{props.bucket_name}/{props.object_key}"
    selector = aws.cloudtrail.CloudtrailAdvancedEventSelectorFieldSelector
    trail = aws.cloudtrail.Cloudtrail(
        scope,
        "trail",
        provider=provider,
        name=props.trail_name,
        s3_bucket_name=log_bucket.bucket.bucket,
        kms_key_id=props.kms_key_arn,
        enable_logging=True,
        enable_log_file_validation=True,
        include_global_service_events=False,
        is_multi_region_trail=False,
        advanced_event_selector=[
            aws.cloudtrail.CloudtrailAdvancedEventSelector(
                name="release-object-writes",
                field_selector=[
                    selector(field="eventCategory", equal_to=["Data"]),
                    selector(field="resources.type", equal_to=["AWS::S3::Object"]),
                    selector(field="resources.ARN", equal_to=[object_arn]),
                    selector(field="readOnly", equal_to=["false"]),
                ],
            )
        ],
        # CloudTrail checks at creation that it may write to the bucket.
        depends_on=[log_bucket.policy],
    )
    return log_bucket, trail


class ReleaseAudit(Construct):
    """Audit of the release object's writes with CloudTrail data events (`audit.release_writes` =
    `cloudtrail`) where no trigger trail logs them already."""

    def __init__(self, scope: Construct, id: str, *, props: ReleaseTrailProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        self.log_bucket, self.trail = release_trail(self, props, provider)


class CloudTrailTrigger(Construct):
    """A trail logging only write data events of the release object, its encrypted log bucket, and a
    rule on `AWS API Call via CloudTrail` for object writes of that bucket and key."""

    def __init__(self, scope: Construct, id: str, *, props: CloudTrailTriggerProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        rule = props.rule
        self.log_bucket, self.trail = release_trail(
            self,
            ReleaseTrailProps(
                trail_name=props.trail_name,
                trail_arn=props.trail_arn,
                log_bucket=props.log_bucket,
                kms_key_arn=props.kms_key_arn,
                account_id=rule.account_id,
                bucket_name=rule.bucket_name,
                object_key=rule.object_key,
                partition=props.partition,
            ),
            provider,
        )
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["s3.amazonaws.com"],
                "eventName": OBJECT_WRITE_EVENTS,
                "requestParameters": {"bucketName": [rule.bucket_name], "key": [rule.object_key]},
            },
        }
        self.start = _StartPipelineRule(
            self,
            "start",
            props=rule,
            pattern=pattern,
            description=f"CloudTrail: release object {rule.object_key} written in {rule.bucket_name}",
            provider=provider,
        )
