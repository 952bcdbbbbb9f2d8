"""The one factory of AWS providers: one aliased provider per region, configured in one place.

Modules never create providers; stacks ask this factory and pass the result down. Emulator mode
(endpoints, test credentials, skip flags, path-style S3) is applied here and nowhere else.
"""

from __future__ import annotations

from config.schema import RelayConfig
from modules.cdk_seam import Construct, aws

# Every service the stacks call; in emulator mode each is pointed at the emulator endpoint.
EMULATED_SERVICES = (
    "autoscaling",
    "cloudformation",
    "cloudfront",
    "cloudtrail",
    "cloudwatch",
    "cloudwatchlogs",
    "codebuild",
    "codeconnections",
    "codepipeline",
    "codestarconnections",
    "configservice",
    "dynamodb",
    "ec2",
    "ecr",
    "elbv2",
    "events",
    "iam",
    "kms",
    "route53",
    "s3",
    "secretsmanager",
    "securityhub",
    "sns",
    "ssm",
    "sts",
)


def alias_for(region: str) -> str:
    """Provider alias of a region, e.g. `eu_south_2`."""
    return region.replace("-", "_")


class ProviderFactory:
    """Creates each stack's providers from the validated configuration."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config

    def default_tags(self) -> dict[str, str]:
        """Tags the provider puts on every taggable resource."""
        return {"app": self.config.app, "environment": self.config.environment, **self.config.tags}

    def provider(self, scope: Construct, region: str) -> aws.provider.AwsProvider:
        """The aliased provider for `region` in `scope`'s stack."""
        settings: dict = {
            "region": region,
            "alias": alias_for(region),
            "default_tags": [aws.provider.AwsProviderDefaultTags(tags=self.default_tags())],
        }
        emulator = self.config.emulator
        if emulator.enabled:
            url = emulator.endpoint.rstrip("/")
            settings.update(
                access_key="test",
                secret_key="test",  # noqa: S106 - the emulator's fixed, public test credentials
                skip_credentials_validation=True,
                skip_metadata_api_check="true",
                skip_region_validation=True,
                s3_use_path_style=True,
                endpoints=[aws.provider.AwsProviderEndpoints(**{name: url for name in EMULATED_SERVICES})],
            )
        return aws.provider.AwsProvider(scope, f"aws-{region}", **settings)
