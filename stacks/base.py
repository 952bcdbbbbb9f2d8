"""What every stack shares: its state backend, its providers, the account it deploys to."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from config import deploy_policy, paths
from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws, cdk
from modules.deploy_boundary import DeployBoundary, DeployBoundaryProps
from modules.governance import ConfigRecorderProps, Governance, GovernanceProps, rules_for
from modules.kms_key import RegionKey, RegionKeyProps
from modules.pipeline_common import PipelineProps
from modules.policy_checks import suppress
from modules.secure_bucket import SecureBucket, SecureBucketProps, WriteGuard
from modules.trigger import ReleaseAudit, ReleaseTrailProps
from regions import catalog
from regions.providers import ProviderFactory


def state_dir(config: RelayConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Local state of an environment, under `RELAY_STATE_DIR` when set; the emulator's state never
    mixes with a real account's."""
    kind = "emulator" if config.emulator.enabled else "aws"
    return paths.terraform_state_dir(kind, config.environment, environ)


def local_state_path(
    config: RelayConfig,
    stack_name: str,
    environ: Mapping[str, str] | None = None,
    *,
    home_region: str | None = None,
) -> str:
    """The local backend's `path` of one stack, as Terraform reads it from `cdktf.out/stacks/<stack>`.

    Inside the repository the path is relative, so the synthesized stacks name no machine's folders;
    a state root elsewhere (`RELAY_STATE_DIR`) is named absolutely.
    """
    state = state_dir(config, environ) / f"{paths.state_name(stack_name, home_region)}.tfstate"
    if state.is_relative_to(paths.PROJECT_ROOT):
        return os.path.relpath(state, paths.STACKS_DIR / stack_name)
    return str(state)


def state_bucket(config: RelayConfig, region: str) -> tuple[str, str]:
    """Bucket and region of the `s3` backend for a stack in `region`: a bucket named with `{region}` is each
    stack's own region's (static stability: a target's state never lives in home); else `state.region`."""
    state = config.state
    if "{region}" in state.bucket:
        return state.bucket.replace("{region}", region), region
    return state.bucket, state.region or config.home_region


class RelayStack(cdk.TerraformStack):
    """A stack with the configured backend and helpers for its region's provider and account."""

    def __init__(self, scope: Construct, name: str, *, config: RelayConfig, region: str, follows_home: bool = False):
        """`follows_home`: the stack lives in the home region, whichever that is (its state is per home region)."""
        super().__init__(scope, name)
        self.config = config
        self.region = region
        self.partition = catalog.partition_of(region)
        self.factory = ProviderFactory(config)
        self._providers: dict[str, aws.provider.AwsProvider] = {}
        self._log_bucket: SecureBucket | None = None
        state = config.state
        home_region = region if follows_home else None
        if state.backend == "s3":
            bucket, bucket_region = state_bucket(config, region)
            cdk.S3Backend(
                self,
                bucket=bucket,
                key=f"{state.key_prefix}/{config.environment}/{paths.state_name(name, home_region)}.tfstate",
                region=bucket_region,
                encrypt=True,
            )
            # S3-native state locking (Terraform >= 1.10); cdktf 0.21's S3Backend predates the option.
            self.add_override("terraform.backend.s3.use_lockfile", True)
            if state.kms_key_id:
                self.add_override("terraform.backend.s3.kms_key_id", state.kms_key_id)
        else:
            cdk.LocalBackend(self, path=local_state_path(config, name, home_region=home_region))
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
        self,
        purpose: str,
        kms_key_arn: str | None,
        *,
        eventbridge_notifications: bool = False,
        write_guards: tuple[WriteGuard, ...] = (),
        access_log_bucket: str | None = None,
        extra_policy_statements: tuple[dict, ...] = (),
    ) -> SecureBucketProps:
        """Props of one of this region's buckets, with the configured shared bucket settings; `purpose` is
        also its `relay:role` tag."""
        buckets = self.config.buckets
        return SecureBucketProps(
            name=self.config.names.bucket(purpose, self.region),
            kms_key_arn=kms_key_arn,
            role=purpose,
            write_guards=write_guards,
            access_log_bucket=access_log_bucket,
            extra_policy_statements=extra_policy_statements,
            partition=self.partition,
            noncurrent_version_expiration_days=buckets.noncurrent_version_expiration_days,
            force_destroy=buckets.force_destroy,
            eventbridge_notifications=eventbridge_notifications,
        )

    def bucket(self, id: str, purpose: str, kms_key_arn: str | None, **settings) -> SecureBucket:
        """One of this region's buckets (versioned, encrypted with `kms_key_arn`, private, TLS-only); the
        keyword settings are :meth:`bucket_props`'."""
        props = self.bucket_props(purpose, kms_key_arn, **settings)
        return SecureBucket(self, id, props=props, provider=self.provider)

    def role_arn(self, purpose: str, region: str) -> str:
        """ARN of one of the app's roles, from its deterministic name (no lookup)."""
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.config.names.role(purpose, region)}"

    def guarded_release_bucket(self, id: str, kms_key_arn: str, writer: str, **settings) -> SecureBucket:
        """This region's release bucket: only `writer` (the role that publishes or replicates the release)
        and the configured publishers may write or delete the release object; its writes are audited as
        configured (server access logs into this region's log bucket)."""
        guard = WriteGuard(
            sid="ReleaseWriteGuard",
            key_pattern=self.config.release.object_key,
            writers=(writer, *self.config.release.publishers),
        )
        audit = self.config.audit_mode
        logs = self.access_log_bucket() if audit == "access_logs" else None
        bucket = self.bucket(
            id,
            "release",
            kms_key_arn,
            write_guards=(guard,),
            access_log_bucket=logs.name if logs else None,
            **settings,
        )
        if audit != "access_logs":
            reason = {
                "cloudtrail": "its writes are audited by CloudTrail data events of the release object "
                "(audit.release_writes = cloudtrail)",
                "off": "audit.release_writes is off (the emulator environment's default): nothing to deliver logs to",
            }[audit]
            suppress(bucket.bucket, "CKV_AWS_18", reason)
        return bucket

    def guarded_artifact_bucket(
        self, id: str, kms_key_arn: str, pipeline_name: str, writers: tuple[str, ...]
    ) -> SecureBucket:
        """An artifact store: only `writers` may write the pipeline's artifacts (CodePipeline keeps them under
        the first 20 characters of the pipeline's name)."""
        guard = WriteGuard(sid="ArtifactWriteGuard", key_pattern=f"{pipeline_name[:20]}/*", writers=writers)
        bucket = self.bucket(id, "artifacts", kms_key_arn, write_guards=(guard,))
        suppress(
            bucket.bucket,
            "CKV_AWS_18",
            "an artifact store holds only what its pipeline writes under the write guard, and the pipeline's "
            "executions record every artifact they wrote and read; the audited object is the release",
        )
        return bucket

    def access_log_bucket(self) -> SecureBucket:
        """This region's bucket of S3 server access logs (construct id `log-bucket`), created once. S3 delivers
        logs only to a bucket encrypted with SSE-S3, and only for this account's release bucket."""
        if self._log_bucket is None:
            names = self.config.names
            release_arn = f"arn:{self.partition}:s3:::{names.bucket('release', self.region)}"
            logs_arn = f"arn:{self.partition}:s3:::{names.bucket('logs', self.region)}"
            delivery = {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{logs_arn}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": self.account_id},
                    "ArnLike": {"aws:SourceArn": release_arn},
                },
            }
            self._log_bucket = self.bucket("log-bucket", "logs", None, extra_policy_statements=(delivery,))
            sse_s3 = (
                "S3 delivers server access logs only to a bucket whose default encryption is SSE-S3 (S3 User Guide, "
                "'Enabling Amazon S3 server access logging'); it holds access logs, never releases"
            )
            for rule in ("customer-key", "CKV_AWS_145"):
                suppress(self._log_bucket.bucket, rule, sse_s3)
            suppress(
                self._log_bucket.bucket,
                "CKV_AWS_18",
                "the access-log bucket itself: a bucket may not deliver its own access logs into itself",
            )
        return self._log_bucket

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

    def region_key(
        self,
        *,
        log_group_arns: tuple[str, ...] = (),
        cloudtrail_trail_arn: str | None = None,
        notifications: bool = False,
    ) -> RegionKey:
        """This region's customer-managed key (construct id `key`), named by its alias; CloudWatch Logs may
        encrypt the `log_group_arns` with it, and the configured key administrators administer it."""
        return RegionKey(
            self,
            "key",
            props=RegionKeyProps(
                alias=self.config.names.kms_alias(self.region),
                account_id=self.account_id,
                partition=self.partition,
                logs_service=f"logs.{self.region}.{catalog.dns_suffix(self.region)}" if log_group_arns else None,
                log_group_arns=log_group_arns,
                cloudtrail_trail_arn=cloudtrail_trail_arn,
                administrators=tuple(self.config.keys.administrators),
                notifications=notifications,
                config_delivery_bucket_arn=self._config_bucket_arn(),
            ),
            provider=self.provider,
        )

    def _config_bucket_arn(self) -> str | None:
        """ARN of this region's AWS Config delivery bucket when relay creates the recorder, else None."""
        recording = self.config.governance.config
        if not (recording.enabled and recording.recorder == "create"):
            return None
        return f"arn:{self.partition}:s3:::{self.config.names.bucket('config', self.region)}"

    def governance(self, key: RegionKey, *, home: bool) -> Governance | None:
        """This region's governance as configured (construct id `governance`): AWS Config's rules (the IAM ones
        in home only) and, with `recorder` = `create`, its recorder, role, delivery channel and bucket (encrypted
        with `key`, this stack's :meth:`region_key`); Security Hub and its standards, and in home the aggregation
        of the target regions' findings. Adds its outputs; None when governance is off."""
        config, names, region = self.config, self.config.names, self.region
        if not config.governed:
            return None
        recording, hub = config.governance.config, config.governance.security_hub
        identifiers = rules_for(recording.rules, home=home) if recording.enabled else []
        rules = {identifier: names.config_rule(identifier, region) for identifier in identifiers}
        recorder = None
        if recording.enabled and recording.recorder == "create":
            recorder = ConfigRecorderProps(
                recorder_name=names.config_recorder(),
                channel_name=names.config_delivery_channel(),
                role_name=names.role("config", region),
                bucket=self.bucket_props("config", key.arn),
                kms_key_arn=key.arn,
            )
        aggregate = home and hub.enabled and hub.aggregate_findings
        governance = Governance(
            self,
            "governance",
            props=GovernanceProps(
                region=region,
                home=home,
                account_id=self.account_id,
                partition=self.partition,
                rules=rules,
                delivery_frequency=recording.delivery_frequency,
                recorder=recorder,
                security_hub=hub.enabled,
                standards=tuple(hub.standards) if hub.enabled else (),
                aggregated_regions=tuple(config.target_regions) if aggregate else (),
            ),
            provider=self.provider,
        )
        if governance.recorder is not None and governance.bucket is not None:
            self.output("config_recorder", governance.recorder.name, "AWS Config recorder relay created here")
            self.output("config_bucket", governance.bucket.name, "Bucket AWS Config delivers this region's history to")
        if rules:
            self.output("config_rules", ",".join(rules.values()), "AWS Config rules relay manages in this region")
        if governance.hub is not None:
            self.output("security_hub", governance.hub.arn, "Security Hub of this region")
        if governance.aggregator is not None:
            self.output(
                "security_hub_aggregator",
                governance.aggregator.id,
                "Security Hub finding aggregator: the target regions' findings, here",
            )
        return governance

    def trail_arn(self) -> str:
        """ARN of this region's trail of release writes (the trigger's, or the audit's), from its name."""
        name = self.config.names.trail(self.region)
        return f"arn:{self.partition}:cloudtrail:{self.region}:{self.account_id}:trail/{name}"

    def audit_trail(self, key: RegionKey) -> ReleaseAudit:
        """A trail of the release object's write data events (construct id `audit`), for
        `audit.release_writes` = `cloudtrail` where no trigger trail logs them already."""
        names = self.config.names
        return ReleaseAudit(
            self,
            "audit",
            props=ReleaseTrailProps(
                trail_name=names.trail(self.region),
                trail_arn=self.trail_arn(),
                log_bucket=self.bucket_props("trail", key.arn),
                kms_key_arn=key.arn,
                account_id=self.account_id,
                bucket_name=names.bucket("release", self.region),
                object_key=self.config.release.object_key,
                partition=self.partition,
            ),
            provider=self.provider,
        )

    def deploy_statements(self, region: str, root: Path) -> tuple[dict, ...]:
        """The deploy policy's statements for the deploy role of `region` (placeholders filled for it)."""
        statements = deploy_policy.load_statements(root, self.config.deploy.policy_file)
        return deploy_policy.render(statements, region=region, account_id=self.account_id, partition=self.partition)

    def deploy_boundary(self, region: str) -> str:
        """The permissions boundary of `region`'s deploy role: the configured one, else relay's default, created
        in this stack (construct id `deploy-boundary-<region>`)."""
        if self.config.deploy.permissions_boundary_arn:
            return self.config.deploy.permissions_boundary_arn
        names = self.config.names
        boundary = DeployBoundary(
            self,
            f"deploy-boundary-{region}",
            props=DeployBoundaryProps(
                name=names.policy("deploy-boundary", region),
                account_id=self.account_id,
                partition=self.partition,
                resource_prefix=names.resource_prefix(),
                bucket_prefix=names.bucket_prefix(),
            ),
            provider=self.provider,
        )
        return boundary.policy.arn

    def deploy_boundary_arn(self, region: str) -> str:
        """The ARN of `region`'s deploy role's permissions boundary, from its name (no lookup): the configured
        one, else relay's default (created by the stack that holds the region's deploy role)."""
        if self.config.deploy.permissions_boundary_arn:
            return self.config.deploy.permissions_boundary_arn
        name = self.config.names.policy("deploy-boundary", region)
        return f"arn:{self.partition}:iam::{self.account_id}:policy/{name}"

    def output(self, id: str, value: str, description: str) -> None:
        """A stack output with a description."""
        cdk.TerraformOutput(self, id, value=value, description=description)
