"""What every stack shares: its state backend, its providers, the account it deploys to."""

from __future__ import annotations

from pathlib import Path

from config.schema import RelayConfig
from modules._cdktf import Construct, aws, cdk
from modules.secure_bucket import SecureBucket, SecureBucketProps
from regions import catalog
from regions.providers import ProviderFactory

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_dir(config: RelayConfig) -> Path:
    """Local state of an environment; the emulator's state never mixes with a real account's."""
    kind = "emulator" if config.emulator.enabled else "aws"
    return PROJECT_ROOT / ".relay" / "state" / kind / config.environment


class RelayStack(cdk.TerraformStack):
    """A stack with the configured backend and helpers for its region's provider and account."""

    def __init__(self, scope: Construct, name: str, *, config: RelayConfig, region: str):
        super().__init__(scope, name)
        self.config = config
        self.region = region
        self.partition = catalog.partition_of(region)
        self.factory = ProviderFactory(config)
        self._providers: dict[str, aws.provider.AwsProvider] = {}
        state = config.state
        if state.backend == "s3":
            cdk.S3Backend(
                self,
                bucket=state.bucket,
                key=f"{state.key_prefix}/{config.environment}/{name}.tfstate",
                region=state.region or config.home_region,
                encrypt=True,
            )
            # S3-native state locking (Terraform >= 1.10); cdktf 0.21's S3Backend predates the option.
            self.add_override("terraform.backend.s3.use_lockfile", True)
        else:
            # Relative to the stack's directory (cdktf.out/stacks/<name>), where Terraform runs.
            state_path = Path("..", "..", "..") / state_dir(config).relative_to(PROJECT_ROOT) / f"{name}.tfstate"
            cdk.LocalBackend(self, path=str(state_path))
        self.provider = self.provider_for(region)
        self.account_id = aws.data_aws_caller_identity.DataAwsCallerIdentity(
            self, "account", provider=self.provider
        ).account_id

    def provider_for(self, region: str) -> aws.provider.AwsProvider:
        """This stack's provider for `region`, created once."""
        if region not in self._providers:
            self._providers[region] = self.factory.provider(self, region)
        return self._providers[region]

    def bucket_props(self, purpose: str, kms_key_arn: str, **extra) -> SecureBucketProps:
        """Props of one of this region's buckets, with the configured shared bucket settings."""
        buckets = self.config.buckets
        return SecureBucketProps(
            name=self.config.names.bucket(purpose, self.region),
            kms_key_arn=kms_key_arn,
            partition=self.partition,
            noncurrent_version_expiration_days=buckets.noncurrent_version_expiration_days,
            force_destroy=buckets.force_destroy,
            **extra,
        )

    def bucket(self, id: str, purpose: str, kms_key_arn: str, **extra) -> SecureBucket:
        """One of this region's buckets (versioned, encrypted with `kms_key_arn`, private, TLS-only)."""
        return SecureBucket(self, id, props=self.bucket_props(purpose, kms_key_arn, **extra), provider=self.provider)

    def pipeline_props(self, purpose: str, key: str, release: SecureBucket, artifacts: SecureBucket) -> dict:
        """The props every pipeline of this region shares (see modules.pipeline_common.PipelineProps)."""
        names = self.config.names
        return {
            "pipeline_name": names.pipeline(purpose, self.region),
            "pipeline_role_name": names.role("pipeline", self.region),
            "region": self.region,
            "account_id": self.account_id,
            "partition": self.partition,
            "kms_key_arn": key,
            "artifact_bucket_name": artifacts.bucket.bucket,
            "artifact_bucket_arn": artifacts.arn,
            "release_bucket_name": release.bucket.bucket,
            "release_bucket_arn": release.arn,
            "release_object_key": self.config.release.object_key,
        }

    def output(self, id: str, value: str, description: str) -> None:
        """A stack output with a description."""
        cdk.TerraformOutput(self, id, value=value, description=description)
