"""Every physical name the app creates, computed in one place and checked against AWS limits.

Names are deterministic (no random suffixes) and region-qualified, so each region's resources can be
found, imported or referenced by another stack without a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# (limit, pattern) per kind of name; from the AWS service quotas and API references.
PLATFORM_TAG = "relay:platform"
"""Tag on each region's transit gateway (value :meth:`Names.platform_tag`): how the peering stacks find them."""

LIMITS: dict[str, tuple[int, str]] = {
    "bucket": (63, r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
    "connection": (32, r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "iam_role": (64, r"^[\w+=,.@-]+$"),
    "iam_policy": (128, r"^[\w+=,.@-]+$"),
    "pipeline": (100, r"^[A-Za-z0-9.@_-]+$"),
    "codebuild_project": (150, r"^[A-Za-z0-9][A-Za-z0-9_-]+$"),
    "event_rule": (64, r"^[.\-_A-Za-z0-9]+$"),
    "ecr_repository": (256, r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"),
    "dynamodb_table": (255, r"^[A-Za-z0-9_.-]{3,255}$"),
    "kms_alias": (256, r"^alias/[A-Za-z0-9/_-]+$"),
    "log_group": (512, r"^[.\-_/#A-Za-z0-9]+$"),
    "secret": (512, r"^[A-Za-z0-9/_+=.@-]+$"),
    "ssm_parameter": (1011, r"^/[A-Za-z0-9_.\-/]+$"),
    "name_tag": (256, r"^[\w .:/=+@-]+$"),
    "stack": (128, r"^[A-Za-z][A-Za-z0-9-]*$"),
    "load_balancer": (32, r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"),
    "trail": (128, r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$"),
    "config_recorder": (256, r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "config_rule": (128, r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "sns_topic": (256, r"^[A-Za-z0-9_-]+$"),
    "dashboard": (255, r"^[A-Za-z0-9_-]+$"),
    "alarm": (255, r"^[A-Za-z0-9._-]+$"),
}


class InvalidName(ValueError):
    """A computed name breaks an AWS limit; the message names the resource, the value and the limit."""


@dataclass(frozen=True)
class Names:
    """Physical names for one app and environment.

    `namespace` prefixes globally unique names (S3 buckets) only; IAM, pipeline and rule names are
    unique per account, and the region in them keeps the per-region stacks apart.
    """

    app: str
    environment: str
    namespace: str | None = None

    @property
    def _base(self) -> str:
        return f"{self.app}-{self.environment}"

    def _check(self, kind: str, value: str) -> str:
        limit, pattern = LIMITS[kind]
        if len(value) > limit:
            raise InvalidName(
                f"the {kind.replace('_', ' ')} name {value!r} has {len(value)} characters; AWS allows at most "
                f"{limit}: shorten app, environment or namespace"
            )
        if not re.match(pattern, value):
            raise InvalidName(f"the {kind.replace('_', ' ')} name {value!r} does not match {pattern}")
        return value

    def bucket(self, purpose: str, region: str) -> str:
        """S3 bucket `<namespace>-<app>-<env>-<purpose>-<region>`."""
        prefix = f"{self.namespace}-" if self.namespace else ""
        return self._check("bucket", f"{prefix}{self._base}-{purpose}-{region}")

    def role(self, purpose: str, region: str) -> str:
        """IAM role `<app>-<env>-<purpose>-<region>` (IAM is global: the region keeps stacks apart)."""
        return self._check("iam_role", f"{self._base}-{purpose}-{region}")

    def policy(self, purpose: str, region: str) -> str:
        """IAM managed policy `<app>-<env>-<purpose>-<region>` (IAM is global: the region keeps stacks apart)."""
        return self._check("iam_policy", f"{self._base}-{purpose}-{region}")

    def resource_prefix(self) -> str:
        """The prefix of every account-unique name of this app and environment: `<app>-<env>-`."""
        return f"{self._base}-"

    def bucket_prefix(self) -> str:
        """The prefix of every bucket name of this app and environment."""
        return f"{self.namespace}-{self._base}-" if self.namespace else f"{self._base}-"

    def pipeline(self, purpose: str, region: str) -> str:
        """CodePipeline `<app>-<env>-<purpose>-<region>`."""
        return self._check("pipeline", f"{self._base}-{purpose}-{region}")

    def codebuild_project(self, region: str) -> str:
        """CodeBuild project that zips and publishes the release."""
        return self._check("codebuild_project", f"{self._base}-package-{region}")

    def log_group(self, region: str) -> str:
        """CloudWatch Logs group of the CodeBuild project."""
        return self._check("log_group", f"/aws/codebuild/{self.codebuild_project(region)}")

    @staticmethod
    def deploy_action(region: str) -> str:
        """The home pipeline's deploy action for a region it delivers itself (`native` or `remote`)."""
        return f"Deploy-{region}"

    def select_project(self, region: str) -> str:
        """CodeBuild project of a bespoke region's Select stage (deploy the newest release present there)."""
        return self._check("codebuild_project", f"{self._base}-select-{region}")

    def select_log_group(self, region: str) -> str:
        """CloudWatch Logs group of a bespoke region's Select project."""
        return self._check("log_group", f"/aws/codebuild/{self.select_project(region)}")

    def remote_deploy_project(self, region: str) -> str:
        """CodeBuild project in the home region that deploys the release into one `remote` region."""
        return self._check("codebuild_project", f"{self._base}-deploy-{region}")

    def remote_deploy_log_group(self, region: str) -> str:
        """CloudWatch Logs group of a `remote` region's deploy project."""
        return self._check("log_group", f"/aws/codebuild/{self.remote_deploy_project(region)}")

    def event_rule(self, purpose: str, region: str) -> str:
        """EventBridge rule `<app>-<env>-<purpose>-<region>`."""
        return self._check("event_rule", f"{self._base}-{purpose}-{region}")

    def trail(self, region: str) -> str:
        """CloudTrail trail logging the release object's data events (trigger mode `cloudtrail`)."""
        return self._check("trail", f"{self._base}-release-{region}")

    def config_recorder(self) -> str:
        """AWS Config configuration recorder `<app>-<env>` relay creates (one per account and region)."""
        return self._check("config_recorder", self._base)

    def config_delivery_channel(self) -> str:
        """AWS Config delivery channel `<app>-<env>` relay creates (one per account and region)."""
        return self._check("config_recorder", self._base)

    def config_rule(self, identifier: str, region: str) -> str:
        """AWS Config rule `<app>-<env>-<managed rule identifier, lower case with dashes>-<region>`."""
        return self._check("config_rule", f"{self._base}-{identifier.lower().replace('_', '-')}-{region}")

    def kms_alias(self, region: str) -> str:
        """Alias of the region's customer-managed key."""
        return self._check("kms_alias", f"alias/{self._base}-{region}")

    def home_stack(self) -> str:
        """Terraform stack of the home region."""
        return self._check("stack", f"{self._base}-home")

    def target_stack(self, region: str) -> str:
        """Terraform stack of one target region."""
        return self._check("stack", f"{self._base}-target-{region}")

    def connection(self) -> str:
        """CodeConnections connection `<app>-<env>-source` the home stack creates when none is given."""
        return self._check("connection", f"{self._base}-source")

    def replication_stack(self) -> str:
        """Terraform stack of the replication from the home region to the targets (in the home region)."""
        return self._check("stack", f"{self._base}-replication")

    def platform_stack(self, region: str) -> str:
        """Terraform stack of one region's platform (network, transit gateway, images, parameters)."""
        return self._check("stack", f"{self._base}-platform-{region}")

    def platform_global_stack(self) -> str:
        """Terraform stack, created from the home region, of what spans regions (multi-Region key, replicated
        secrets, global tables, image replication)."""
        return self._check("stack", f"{self._base}-platform")

    def peering_stack(self, region: str) -> str:
        """Terraform stack of the transit gateway peering between one platform target region and home."""
        return self._check("stack", f"{self._base}-peering-{region}")

    def network(self, region: str) -> str:
        """Name tag prefix of one region's network resources, `<app>-<env>-<region>`."""
        return self._check("name_tag", f"{self._base}-{region}")

    def platform_tag(self) -> str:
        """Value of the `relay:platform` tag that finds the transit gateways by tag, `<app>-<env>`."""
        return self._check("name_tag", self._base)

    def platform_kms_alias(self, region: str) -> str:
        """Alias of one region's platform key (network flow logs, image repositories, parameters)."""
        return self._check("kms_alias", f"alias/{self._base}-platform-{region}")

    def data_kms_alias(self) -> str:
        """Alias of the multi-Region key (primary in home, replicas in the targets) of secrets and tables."""
        return self._check("kms_alias", f"alias/{self._base}-data")

    def secret(self, name: str) -> str:
        """Secrets Manager secret `<app>/<env>/<name>` (the same name in every replica region)."""
        return self._check("secret", f"{self.app}/{self.environment}/{name}")

    def repository(self, name: str) -> str:
        """ECR repository `<app>-<env>/<name>` (the same name in every region it replicates to)."""
        return self._check("ecr_repository", f"{self._base}/{name}")

    def repository_prefix(self) -> str:
        """The prefix of every ECR repository of this app and environment (the replication rule's filter)."""
        return f"{self._base}/"

    def table(self, name: str) -> str:
        """DynamoDB global table `<app>-<env>-<name>` (the same name in every replica region)."""
        return self._check("dynamodb_table", f"{self._base}-{name}")

    def flow_log_group(self, region: str) -> str:
        """CloudWatch Logs group of one region's VPC flow logs."""
        return self._check("log_group", f"/{self.app}/{self.environment}/flow-logs/{region}")

    def parameter_prefix(self) -> str:
        """SSM parameter path under which each platform stack publishes what the application tier reads."""
        return self._check("ssm_parameter", f"/{self.app}/{self.environment}/platform")

    def load_balancer(self) -> str:
        """The application tier's load balancer in every application region, `<app>-<env>-app` (the edge finds it
        by this name)."""
        return self._check("load_balancer", f"{self._base}-app")

    def edge_kms_alias(self) -> str:
        """Alias of the edge's key (the CloudFront access log bucket, in the home region)."""
        return self._check("kms_alias", f"alias/{self._base}-edge")

    def application_name(self) -> str:
        """`<app>-<env>`: the Application dimension of relay's own metrics."""
        return self._base

    def notification_topic(self) -> str:
        """SNS topic in the home region that receives failed deployments and alarms."""
        return self._check("sns_topic", f"{self._base}-notifications")

    def dashboard(self) -> str:
        """CloudWatch dashboard in the home region, a row per region."""
        return self._check("dashboard", f"{self._base}-releases")

    def alarm(self, purpose: str, region: str) -> str:
        """CloudWatch alarm `<app>-<env>-<purpose>-<region>` (in the home region, about `region`)."""
        return self._check("alarm", f"{self._base}-{purpose}-{region}")

    def edge_stack(self) -> str:
        """Terraform stack of the global edge (Route 53 records and health checks, CloudFront)."""
        return self._check("stack", f"{self._base}-edge")

    def edge_logs_stack(self) -> str:
        """Terraform stack of the edge's access log bucket and its key, in the home region (deployed before the
        first release, so that the edge, which waits for that release, does not wait for its bucket too)."""
        return self._check("stack", f"{self._base}-edge-logs")

    def platform_all(
        self,
        regions: Sequence[str],
        *,
        secrets: Sequence[str] = (),
        repositories: Sequence[str] = (),
        tables: Sequence[str] = (),
    ) -> list[str]:
        """Every name of the regional platform: `regions` is home first, then the platform targets."""
        if not regions:
            return []
        names = [self.platform_global_stack(), self.data_kms_alias(), self.parameter_prefix(), self.platform_tag()]
        for index, region in enumerate(regions):
            names += [self.platform_stack(region), self.platform_kms_alias(region), self.network(region)]
            names += [self.flow_log_group(region), self.role("flow-logs", region)]
            if index:
                names += [self.peering_stack(region)]
        names += [self.secret(name) for name in secrets]
        names += [self.repository(name) for name in repositories]
        names += [self.table(name) for name in tables]
        return names

    def all_for(
        self,
        home_region: str,
        targets: Mapping[str, str] | Sequence[str],
        *,
        connection: bool = False,
        platform: Mapping[str, Sequence[str]] | None = None,
    ) -> list[str]:
        """Compute every name of a deployment, so a bad one fails before anything is built (the
        connection's only when the home stack creates it). `targets` maps each target region to its
        delivery strategy (`native`, `bespoke` or `remote`); a plain list means every region is bespoke.
        `platform`, when the regional platform is enabled, holds the keyword arguments of
        :meth:`platform_all` (`regions`, `secrets`, `repositories`, `tables`)."""
        strategies = dict(targets) if isinstance(targets, Mapping) else dict.fromkeys(targets, "bespoke")
        names = [self.home_stack(), *([self.connection()] if connection else [])]
        names += [self.codebuild_project(home_region), self.log_group(home_region)]
        names += [self.pipeline("release", home_region), self.kms_alias(home_region)]
        names += [self.bucket(p, home_region) for p in ("release", "artifacts")]
        names += [self.role(p, home_region) for p in ("pipeline", "build", "source-trigger")]
        names += [self.event_rule("source-push", home_region)]
        names += [self.notification_topic(), self.dashboard()]
        if "bespoke" in strategies.values():
            names += [self.replication_stack(), self.role("replication", home_region)]
        names += [self.bucket(p, home_region) for p in ("logs", "trail")] + [self.trail(home_region)]
        for region, strategy in strategies.items():
            names += [self.role("deploy", region), self.policy("deploy-boundary", region)]
            names += [self.role("forward", region), self.alarm("replication-failed", region)]
            names += [self.event_rule(p, region) for p in ("forward-stack", "forward-pipeline", "succeeded", "failed")]
            if strategy == "remote":
                names += [self.remote_deploy_project(region), self.remote_deploy_log_group(region)]
                names += [self.role("remote-deploy", region)]
                continue
            names += [self.target_stack(region), self.kms_alias(region), self.bucket("artifacts", region)]
            if strategy == "bespoke":
                names += [self.pipeline("deploy", region), self.event_rule("release", region)]
                names += [self.bucket(p, region) for p in ("release", "trail", "logs")]
                names += [self.role(p, region) for p in ("pipeline", "trigger")]
                names += [self.trail(region)]
        # Governance, in every region: AWS Config's bucket and recorder role, and its longest rule name.
        names += [self.config_recorder()]
        for region in (home_region, *strategies):
            names += [self.bucket("config", region), self.role("config", region)]
            names += [self.config_rule("IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", region)]
        if platform:
            names += self.platform_all(**platform)
        return names
