"""An S3 bucket with the secure defaults every bucket of the app shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modules import iam
from modules.cdk_seam import Construct, aws

# What a write guard denies: every way to create, replace or remove an object version, including the
# replication of one into the bucket.
GUARDED_ACTIONS = (
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
)


@dataclass(frozen=True)
class WriteGuard:
    """A Deny statement in the bucket policy: only `writers` may write or delete `key_pattern`."""

    sid: str
    """Statement id, e.g. `ReleaseWriteGuard`. Required."""
    key_pattern: str
    """Object key (or `prefix/*`) guarded. Required."""
    writers: tuple[str, ...]
    """IAM principal ARNs (roles, or an account's root) that may still write. Required, not empty."""


@dataclass(frozen=True)
class SecureBucketProps:
    """Props of :class:`SecureBucket`."""

    name: str
    """Bucket name (from config.naming). Required."""
    kms_key_arn: str | None
    """Customer-managed key of the bucket's region used for default encryption. Required; None only for a
    bucket S3 itself delivers to (server access logs), which S3 allows only with SSE-S3."""
    role: str = "data"
    """What the bucket is for, as its `relay:role` tag (`release`, `artifacts`, `trail`, `logs`). Default `data`."""
    write_guards: tuple[WriteGuard, ...] = ()
    """Deny statements guarding objects to their writers. Default none."""
    access_log_bucket: str | None = None
    """Bucket receiving this bucket's server access logs (under `<this bucket>/`). Default none."""
    partition: str = "aws"
    """AWS partition, for the bucket ARN. Default `aws`."""
    noncurrent_version_expiration_days: int = 90
    """Days before a superseded version is deleted. Default 90."""
    expiration_days: int | None = None
    """Days before every object expires (logs kept for a retention period). Default none: objects stay."""
    force_destroy: bool = False
    """Let Terraform delete the bucket while it holds objects. Default false."""
    eventbridge_notifications: bool = False
    """Send every object event of the bucket to the region's default EventBridge bus. Default false."""
    object_ownership: Literal["BucketOwnerEnforced", "BucketOwnerPreferred"] = "BucketOwnerEnforced"
    """`BucketOwnerEnforced` (ACLs disabled) or, for a service that delivers logs through ACLs only
    (CloudFront's standard logs), `BucketOwnerPreferred` (the bucket owner owns what is delivered). Default
    `BucketOwnerEnforced`."""
    extra_policy_statements: tuple[dict, ...] = field(default_factory=tuple)
    """Statements added to the bucket policy after the TLS-only deny (e.g. for a log-delivering service).
    Default none."""


class SecureBucket(Construct):
    """Versioned, KMS-encrypted (bucket key on), private, TLS-only bucket with noncurrent-version expiry.

    Object ownership is enforced (ACLs disabled) unless a log-delivering service needs ACLs, and all four Block
    Public Access settings are on.
    """

    def __init__(self, scope: Construct, id: str, *, props: SecureBucketProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        self.name = props.name
        self.arn = f"arn:{props.partition}:s3:::{props.name}"
        self.bucket = aws.s3_bucket.S3Bucket(
            self,
            "this",
            provider=provider,
            bucket=props.name,
            force_destroy=props.force_destroy,
            tags={"relay:role": props.role},
        )
        bucket_id = self.bucket.id
        self.public_access_block = aws.s3_bucket_public_access_block.S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            provider=provider,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        self.ownership = aws.s3_bucket_ownership_controls.S3BucketOwnershipControls(
            self,
            "ownership",
            provider=provider,
            bucket=bucket_id,
            rule=aws.s3_bucket_ownership_controls.S3BucketOwnershipControlsRule(
                object_ownership=props.object_ownership
            ),
        )
        self.versioning = aws.s3_bucket_versioning.S3BucketVersioningA(
            self,
            "versioning",
            provider=provider,
            bucket=bucket_id,
            versioning_configuration=aws.s3_bucket_versioning.S3BucketVersioningVersioningConfiguration(
                status="Enabled"
            ),
        )
        sse = aws.s3_bucket_server_side_encryption_configuration
        by_default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA
        self.encryption = sse.S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            provider=provider,
            bucket=bucket_id,
            rule=[
                sse.S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        by_default(sse_algorithm="aws:kms", kms_master_key_id=props.kms_key_arn)
                        if props.kms_key_arn
                        else by_default(sse_algorithm="AES256")
                    ),
                    bucket_key_enabled=True if props.kms_key_arn else None,
                )
            ],
        )
        lifecycle = aws.s3_bucket_lifecycle_configuration
        lifecycle.S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            provider=provider,
            bucket=bucket_id,
            depends_on=[self.versioning],
            rule=[
                lifecycle.S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=[lifecycle.S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        lifecycle.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=props.noncurrent_version_expiration_days
                        )
                    ],
                    expiration=(
                        [lifecycle.S3BucketLifecycleConfigurationRuleExpiration(days=props.expiration_days)]
                        if props.expiration_days
                        else None
                    ),
                    abort_incomplete_multipart_upload=[
                        lifecycle.S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=7
                        )
                    ],
                )
            ],
        )
        tls_only = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [self.arn, f"{self.arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        guards = [
            {
                "Sid": guard.sid,
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(GUARDED_ACTIONS),
                "Resource": f"{self.arn}/{guard.key_pattern}",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": list(guard.writers)}},
            }
            for guard in props.write_guards
        ]
        self.policy = aws.s3_bucket_policy.S3BucketPolicy(
            self,
            "policy",
            provider=provider,
            bucket=bucket_id,
            policy=iam.document(tls_only, *guards, *props.extra_policy_statements),
            # A policy put before Block Public Access is in place could be judged public.
            depends_on=[self.public_access_block],
        )
        if props.access_log_bucket:
            aws.s3_bucket_logging.S3BucketLoggingA(
                self,
                "access-logs",
                provider=provider,
                bucket=bucket_id,
                target_bucket=props.access_log_bucket,
                target_prefix=f"{props.name}/",
            )
        if props.eventbridge_notifications:
            aws.s3_bucket_notification.S3BucketNotification(
                self, "notifications", provider=provider, bucket=bucket_id, eventbridge=True
            )
