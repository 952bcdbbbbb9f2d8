"""A customer-managed KMS key for one region's buckets, artifacts and logs."""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws

# Key administration without key use (AWS's "key administrators" of the default key policy), and key use.
ADMINISTRATION_ACTIONS = (
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
)
USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:ListGrants",
    "kms:RevokeGrant",
)
# What administering a multi-Region primary key adds: creating its replicas (kms:ReplicateKey is a key
# policy permission of the primary; kms:UpdatePrimaryRegion is already in kms:Update*).
MULTI_REGION_ADMINISTRATION_ACTIONS = ("kms:ReplicateKey",)


def key_policy_statements(
    *, account_id: str, partition: str = "aws", administrators: tuple[str, ...] = (), multi_region: bool = False
) -> list[iam.Statement]:
    """The statements every relay key policy starts with, shared by the per-region and the multi-Region keys.

    Without `administrators`: AWS's default statement, the account's IAM policies govern the key. With
    them: they administer the key (and only administer it; with `multi_region`, replicating it too) and
    the account's IAM policies may only use it.
    """
    root = f"arn:{partition}:iam::{account_id}:root"
    if not administrators:
        return [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    administration = ADMINISTRATION_ACTIONS + (MULTI_REGION_ADMINISTRATION_ACTIONS if multi_region else ())
    return [
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": list(administrators)},
            "Action": list(administration),
            "Resource": "*",
        },
        {
            "Sid": "EnableIamPoliciesForKeyUse",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": list(USE_ACTIONS),
            "Resource": "*",
        },
    ]


@dataclass(frozen=True)
class RegionKeyProps:
    """Props of :class:`RegionKey`."""

    alias: str
    """Alias name including the `alias/` prefix (from config.naming). Required."""
    account_id: str
    """Account that owns the key; its IAM policies grant use of it. Required."""
    partition: str = "aws"
    """AWS partition of the region. Default `aws`."""
    logs_service: str | None = None
    """`logs.<region>.amazonaws.com` to let CloudWatch Logs encrypt `log_group_arns`. Default none."""
    log_group_arns: tuple[str, ...] = ()
    """The exact log groups CloudWatch Logs may encrypt with this key. Required with `logs_service`."""
    administrators: tuple[str, ...] = ()
    """IAM principals that administer the key (and only administer it); with them, the account's IAM
    policies may only use it. Default none: the account's IAM policies govern the key entirely (AWS's
    default key policy)."""
    cloudtrail_trail_arn: str | None = None
    """ARN of the one trail allowed to encrypt its log files with this key. Default none."""
    deletion_window_in_days: int = 30
    """Waiting period before a scheduled deletion. Default 30 (the maximum: keys guard every release)."""
    description: str | None = None
    """The key's description. Default `Release pipeline key (<alias>)`."""
    log_delivery: bool = False
    """Let the log delivery service (CloudFront's standard logs) encrypt with the key, for this account's
    resources only. Default false."""
    notifications: bool = False
    """Let EventBridge and CloudWatch alarms publish to an SNS topic encrypted with the key, for this account's
    rules and alarms only. Default false."""
    config_delivery_bucket_arn: str | None = None
    """ARN of this region's AWS Config delivery bucket: AWS Config may encrypt what it delivers there with the
    key, for this account and that bucket only. Default none."""


class RegionKey(Construct):
    """A symmetric KMS key with rotation on, an alias, and a key policy that delegates to IAM.

    The key policy only enables IAM policies of the owning account (AWS's default statement) and,
    when asked, CloudWatch Logs for log groups of this account; every role that uses the key gets
    an IAM statement naming this key's ARN.
    """

    def __init__(self, scope: Construct, id: str, *, props: RegionKeyProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        statements = key_policy_statements(
            account_id=props.account_id, partition=props.partition, administrators=props.administrators
        )
        if props.logs_service:
            if not props.log_group_arns:
                raise ValueError(f"{props.alias}: name the log groups CloudWatch Logs may encrypt with the key")
            statements.append(
                {
                    "Sid": "AllowCloudWatchLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": props.logs_service},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": list(props.log_group_arns)}},
                }
            )
        if props.cloudtrail_trail_arn:
            trail_context = f"arn:{props.partition}:cloudtrail:*:{props.account_id}:trail/*"
            statements.append(
                {
                    "Sid": "AllowCloudTrailLogEncryption",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:GenerateDataKey*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceArn": props.cloudtrail_trail_arn},
                        "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail_context},
                    },
                }
            )
            statements.append(
                {
                    "Sid": "AllowCloudTrailDescribeKey",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:DescribeKey",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceArn": props.cloudtrail_trail_arn}},
                }
            )
        if props.log_delivery:
            statements.append(
                {
                    "Sid": "AllowLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "delivery.logs.amazonaws.com"},
                    "Action": "kms:GenerateDataKey*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
                }
            )
        if props.notifications:
            statements.append(
                {
                    "Sid": "AllowNotificationPublishers",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": props.account_id}},
                }
            )
        if props.config_delivery_bucket_arn:
            bucket = props.config_delivery_bucket_arn
            statements.append(
                {
                    "Sid": "AllowConfigDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "config.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": props.account_id},
                        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]},
                    },
                }
            )
        self.key = aws.kms_key.KmsKey(
            self,
            "this",
            provider=provider,
            description=props.description or f"Release pipeline key ({props.alias})",
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_in_days,
            policy=iam.document(*statements),
        )
        self.alias = aws.kms_alias.KmsAlias(
            self, "alias", provider=provider, name=props.alias, target_key_id=self.key.key_id
        )

    @property
    def arn(self) -> str:
        """ARN of the key."""
        return self.key.arn
