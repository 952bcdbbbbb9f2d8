"""A customer-managed KMS key for one region's buckets, artifacts and logs."""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws


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
    """`logs.<region>.amazonaws.com` to let CloudWatch Logs encrypt log groups of this account. Default none."""
    cloudtrail_trail_arn: str | None = None
    """ARN of the one trail allowed to encrypt its log files with this key. Default none."""
    deletion_window_in_days: int = 30
    """Waiting period before a scheduled deletion. Default 30 (the maximum: keys guard every release)."""


class RegionKey(Construct):
    """A symmetric KMS key with rotation on, an alias, and a key policy that delegates to IAM.

    The key policy only enables IAM policies of the owning account (AWS's default statement) and,
    when asked, CloudWatch Logs for log groups of this account; every role that uses the key gets
    an IAM statement naming this key's ARN.
    """

    def __init__(self, scope: Construct, id: str, *, props: RegionKeyProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        root = f"arn:{props.partition}:iam::{props.account_id}:root"
        statements = [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
        if props.logs_service:
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
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:{props.partition}:logs:*:{props.account_id}:*"
                        }
                    },
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
        self.key = aws.kms_key.KmsKey(
            self,
            "this",
            provider=provider,
            description=f"Release pipeline key ({props.alias})",
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
