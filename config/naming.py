"""Every physical name the app creates, computed in one place and checked against AWS limits.

Names are deterministic (no random suffixes) and region-qualified, so each region's resources can be
found, imported or referenced by another stack without a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# (limit, pattern) per kind of name; from the AWS service quotas and API references.
LIMITS: dict[str, tuple[int, str]] = {
    "bucket": (63, r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
    "connection": (32, r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    "iam_role": (64, r"^[\w+=,.@-]+$"),
    "iam_policy": (128, r"^[\w+=,.@-]+$"),
    "pipeline": (100, r"^[A-Za-z0-9.@_-]+$"),
    "codebuild_project": (150, r"^[A-Za-z0-9][A-Za-z0-9_-]+$"),
    "event_rule": (64, r"^[.\-_A-Za-z0-9]+$"),
    "kms_alias": (256, r"^alias/[A-Za-z0-9/_-]+$"),
    "log_group": (512, r"^[.\-_/#A-Za-z0-9]+$"),
    "stack": (128, r"^[A-Za-z][A-Za-z0-9-]*$"),
    "trail": (128, r"^[A-Za-z0-9][A-Za-z0-9._-]{2,127}$"),
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

    def all_for(
        self, home_region: str, targets: Mapping[str, str] | Sequence[str], *, connection: bool = False
    ) -> list[str]:
        """Compute every name of a deployment, so a bad one fails before anything is built (the
        connection's only when the home stack creates it). `targets` maps each target region to its
        delivery strategy (`native`, `bespoke` or `remote`); a plain list means every region is bespoke."""
        strategies = dict(targets) if isinstance(targets, Mapping) else dict.fromkeys(targets, "bespoke")
        names = [self.home_stack(), *([self.connection()] if connection else [])]
        names += [self.codebuild_project(home_region), self.log_group(home_region)]
        names += [self.pipeline("release", home_region), self.kms_alias(home_region)]
        names += [self.bucket(p, home_region) for p in ("release", "artifacts")]
        names += [self.role(p, home_region) for p in ("pipeline", "build", "source-trigger")]
        names += [self.event_rule("source-push", home_region)]
        if "bespoke" in strategies.values():
            names += [self.replication_stack(), self.role("replication", home_region)]
        names += [self.bucket(p, home_region) for p in ("logs", "trail")] + [self.trail(home_region)]
        for region, strategy in strategies.items():
            names += [self.role("deploy", region), self.policy("deploy-boundary", region)]
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
        return names
