"""What every stack shares: its state backend, its providers, the account it deploys to."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from config import paths
from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws, cdk
from modules.kms_key import RegionKey, RegionKeyProps
from modules.pipeline_common import PipelineProps
from modules.secure_bucket import SecureBucket, SecureBucketProps
from regions import catalog
from regions.providers import ProviderFactory


def state_dir(config: RelayConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Local state of an environment, under `RELAY_STATE_DIR` when set; the emulator's state never
    mixes with a real account's."""
    kind = "emulator" if config.emulator.enabled else "aws"
    return paths.terraform_state_dir(kind, config.environment, environ)


def local_state_path(config: RelayConfig, stack_name: str, environ: Mapping[str, str] | None = None) -> str:
    """The local backend's `path` of one stack, as Terraform reads it from `cdktf.out/stacks/<stack>`.

    Inside the repository the path is relative, so the synthesized stacks name no machine's folders;
    a state root elsewhere (`RELAY_STATE_DIR`) is named absolutely.
    """
    state = state_dir(config, environ) / f"{stack_name}.tfstate"
    if state.is_relative_to(paths.PROJECT_ROOT):
        return os.path.relpath(state, paths.STACKS_DIR / stack_name)
    return str(state)


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
            cdk.LocalBackend(self, path=local_state_path(config, name))
        self.provider = self.provider_for(region)
        self.account_id = aws.data_aws_caller_identity.DataAwsCallerIdentity(
            self, "account", provider=self.provider
        ).account_id

    def provider_for(self, region: str) -> aws.provider.AwsProvider:
        """This stack's provider for `region`, created once."""
        if region not in self._providers:
            self._providers[region] = self.factory.provider(self, region)
        return self._providers[region]

    def bucket_props(
        self, purpose: str, kms_key_arn: str, *, eventbridge_notifications: bool = False
    ) -> SecureBucketProps:
        """Props of one of this region's buckets, with the configured shared bucket settings."""
        buckets = self.config.buckets
        return SecureBucketProps(
            name=self.config.names.bucket(purpose, self.region),
            kms_key_arn=kms_key_arn,
            partition=self.partition,
            noncurrent_version_expiration_days=buckets.noncurrent_version_expiration_days,
            force_destroy=buckets.force_destroy,
            eventbridge_notifications=eventbridge_notifications,
        )

    def bucket(
        self, id: str, purpose: str, kms_key_arn: str, *, eventbridge_notifications: bool = False
    ) -> SecureBucket:
        """One of this region's buckets (versioned, encrypted with `kms_key_arn`, private, TLS-only)."""
        props = self.bucket_props(purpose, kms_key_arn, eventbridge_notifications=eventbridge_notifications)
        return SecureBucket(self, id, props=props, provider=self.provider)

    def pipeline_props(
        self, purpose: str, kms_key_arn: str, release: SecureBucket, artifacts: SecureBucket
    ) -> PipelineProps:
        """The props every pipeline of this region shares."""
        names = self.config.names
        return PipelineProps(
            pipeline_name=names.pipeline(purpose, self.region),
            pipeline_role_name=names.role("pipeline", self.region),
            region=self.region,
            account_id=self.account_id,
            partition=self.partition,
            kms_key_arn=kms_key_arn,
            artifact_bucket_name=artifacts.bucket.bucket,
            artifact_bucket_arn=artifacts.arn,
            release_bucket_name=release.bucket.bucket,
            release_bucket_arn=release.arn,
            release_object_key=self.config.release.object_key,
        )

    def region_key(self, *, logs_service: str | None = None, cloudtrail_trail_arn: str | None = None) -> RegionKey:
        """This region's customer-managed key (construct id `key`), named by its alias."""
        return RegionKey(
            self,
            "key",
            props=RegionKeyProps(
                alias=self.config.names.kms_alias(self.region),
                account_id=self.account_id,
                partition=self.partition,
                logs_service=logs_service,
                cloudtrail_trail_arn=cloudtrail_trail_arn,
            ),
            provider=self.provider,
        )

    def output(self, id: str, value: str, description: str) -> None:
        """A stack output with a description."""
        cdk.TerraformOutput(self, id, value=value, description=description)
