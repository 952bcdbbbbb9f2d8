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


class RegionKey(Construct):
    """A symmetric KMS key with rotation on, an alias, and a key policy that delegates to IAM.

    The key policy only enables IAM policies of the owning account (AWS's default statement) and,
    when asked, CloudWatch Logs for log groups of this account; every role that uses the key gets
    an IAM statement naming this key's ARN.
    """

    def __init__(self, scope: Construct, id: str, *, props: RegionKeyProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        root = f"arn:{props.partition}:iam::{props.account_id}:root"
        if props.administrators:
            statements = [
                {
                    "Sid": "KeyAdministration",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(props.administrators)},
                    "Action": list(ADMINISTRATION_ACTIONS),
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
        else:
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
