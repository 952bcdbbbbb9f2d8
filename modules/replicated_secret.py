"""A Secrets Manager secret in home with a replica in every platform target, each encrypted with its
region's key; Terraform holds the secret, never its value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modules.cdk_seam import Construct, aws
from modules.policy_checks import suppress

sm = aws.secretsmanager_secret


@dataclass(frozen=True)
class ReplicatedSecretProps:
    """Props of :class:`ReplicatedSecret`."""

    name: str
    """Secret name (from config.naming), the same in every region. Required."""
    description: str
    """Description of the secret (replicas show the primary's). Required; may be empty."""
    kms_key_arn: str
    """Key of the home region encrypting the primary (the multi-Region key's primary). Required."""
    replicas: Mapping[str, str]
    """Replica region -> the key of that region encrypting its replica (the multi-Region key's replica there).
    Required; empty: no replica."""
    rotation_lambda_arn: str | None = None
    """Lambda function (in home) that rotates the secret. Default none: no rotation."""
    rotation_days: int = 30
    """Days between rotations (1..1000), with `rotation_lambda_arn`. Default 30."""
    recovery_window_in_days: int = 7
    """Days a deleted secret stays recoverable: 0 (delete at once) or 7..30. Default 7."""


class ReplicatedSecret(Construct):
    """A secret, KMS-encrypted with the home key, replicated to each region in `replicas` with that region's key.

    There is no value in Terraform: no `aws_secretsmanager_secret_version` and no `secret_string` anywhere,
    so a value never reaches the code, the plan, the state or an output. The value is put outside Terraform
    (PutSecretValue in home, or the rotation function) and Secrets Manager copies every version to the
    replicas. `force_overwrite_replica_secret` is off: a secret of the same name already in a replica region
    fails the replication instead of being overwritten.

    Static stability: the replicas are created and kept in sync from home. While home is down each replica
    stays readable in its region with the last value replicated (the application reads its regional
    replica by name), but cannot be changed or rotated; if home stays down, StopReplicationToReplica in the
    target promotes its replica to a standalone secret. Rotation runs in home only.
    """

    def __init__(self, scope: Construct, id: str, *, props: ReplicatedSecretProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        if props.recovery_window_in_days != 0 and not 7 <= props.recovery_window_in_days <= 30:
            raise ValueError(
                f"{props.name}: recovery_window_in_days is {props.recovery_window_in_days}; use 0 (delete at once) "
                "or 7..30"
            )
        if props.rotation_lambda_arn and not 1 <= props.rotation_days <= 1000:
            raise ValueError(f"{props.name}: rotation_days is {props.rotation_days}; use 1..1000")
        self.name = props.name
        self.secret = sm.SecretsmanagerSecret(
            self,
            "this",
            provider=provider,
            name=props.name,
            description=props.description,
            kms_key_id=props.kms_key_arn,
            recovery_window_in_days=props.recovery_window_in_days,
            force_overwrite_replica_secret=False,
            replica=[
                sm.SecretsmanagerSecretReplica(region=region, kms_key_id=props.replicas[region])
                for region in sorted(props.replicas)
            ],
        )
        self.rotation: aws.secretsmanager_secret_rotation.SecretsmanagerSecretRotation | None = None
        if props.rotation_lambda_arn:
            rotation = aws.secretsmanager_secret_rotation
            self.rotation = rotation.SecretsmanagerSecretRotation(
                self,
                "rotation",
                provider=provider,
                secret_id=self.secret.id,
                rotation_lambda_arn=props.rotation_lambda_arn,
                rotation_rules=rotation.SecretsmanagerSecretRotationRotationRules(
                    automatically_after_days=props.rotation_days
                ),
                # The first value is put outside Terraform: rotating at creation would rotate nothing.
                rotate_immediately=False,
            )
        else:
            suppress(
                self.secret,
                "CKV2_AWS_57",
                "no rotation is configured for this secret (platform.secrets[].rotation.lambda_arn names the "
                "function that would rotate it); its value is put outside Terraform",
            )

    @property
    def arn(self) -> str:
        """ARN of the primary secret (in home)."""
        return self.secret.arn
