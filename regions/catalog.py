"""Which AWS regions can play which part: botocore's bundled endpoint data (no network), plus the
documented facts that data cannot show, each recorded with its source and date.

The home region needs CodePipeline and CodeBuild, plus CodeConnections (or CodeCommit) for the source.
A target region needs CloudFormation, and CodePipeline unless the home pipeline deploys it remotely
(see :mod:`regions.delivery`). Nothing crosses partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import boto3

# botocore lists CodeConnections under its older service name.
SERVICE_ENDPOINT_NAMES = {
    "codepipeline": "codepipeline",
    "codebuild": "codebuild",
    "connection": "codestar-connections",
    "codecommit": "codecommit",
    "cloudformation": "cloudformation",
}

SERVICE_TITLES = {
    "codepipeline": "CodePipeline",
    "codebuild": "CodeBuild",
    "connection": "CodeConnections",
    "codecommit": "CodeCommit",
    "cloudformation": "CloudFormation",
}
"""How messages name each service of SERVICE_ENDPOINT_NAMES."""


@dataclass(frozen=True)
class Fact:
    """A documented fact about AWS that botocore's endpoint data cannot show."""

    statement: str
    """What the source says (quoted where the wording matters)."""
    source: str
    """Where it is written: a URL, or the document's title."""
    date: str
    """ISO date of the publication; for a page that shows none, the date it was quoted from it."""
    regions: tuple[str, ...] = ()
    """The regions the fact names, when it names some."""


CROSS_REGION_ACTIONS = Fact(
    statement="Cross-region actions are available everywhere CodePipeline is available.",
    source="https://aws.amazon.com/about-aws/whats-new/2018/11/aws-codepipeline-now-supports-cross-region-actions/",
    date="2018-11-07",
)
"""Why `native` needs nothing in the target region but CodePipeline (and its artifact store)."""

NO_CROSS_REGION_SOURCE = Fact(
    statement="You cannot create cross-Region actions for source actions.",
    source="AWS CodePipeline User Guide, 'Add a cross-Region action in CodePipeline' "
    "(https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-create-cross-region.html)",
    date="2026-11-27",
)
"""Why a pipeline's source stage runs in its own region: a region without the source service can never
host the home pipeline."""

ARTIFACT_STORE_NEEDS_CODEPIPELINE = Fact(
    statement='An artifact store in a region without CodePipeline is rejected with "The region af-south-1 specified in '
    "'pipeline.artifactStores' is not a valid AWS Region\" (af-south-1 had no CodePipeline then).",
    source="https://github.com/aws/aws-cdk/issues/15650",
    date="2021-07-19",
)
"""Why `native` and `bespoke` need CodePipeline in the target region."""

CODECONNECTIONS_UNAVAILABLE = Fact(
    statement="CodeConnections is not available in Asia Pacific (Hong Kong), Africa (Cape Town), Middle East "
    "(Bahrain), Europe (Zurich), Asia Pacific (Jakarta), Asia Pacific (Hyderabad), Asia Pacific (Osaka), "
    "Asia Pacific (Melbourne), Israel (Tel Aviv), Europe (Spain), Middle East (UAE) and AWS GovCloud (US-West).",
    source="AWS CodeConnections documentation, 'Supported AWS Regions for connections' "
    "(https://docs.aws.amazon.com/dtconsole/latest/userguide/welcome-connections.html)",
    date="2025-05-18",
    regions=(
        "ap-east-1",
        "af-south-1",
        "me-south-1",
        "eu-central-2",
        "ap-southeast-3",
        "ap-south-2",
        "ap-northeast-3",
        "ap-southeast-4",
        "il-central-1",
        "eu-south-2",
        "me-central-1",
        "us-gov-west-1",
    ),
)
"""The regions AWS lists as lacking CodeConnections; botocore's data agrees (a unit test checks) and adds
the regions launched since."""

GITHUB_APP_PER_REGION = Fact(
    statement="In Europe (Milan) a GitHub connection needs the region-specific GitHub app "
    "(the AWS Connector for GitHub installed for that region).",
    source="AWS CodeConnections documentation, 'Supported AWS Regions for connections' "
    "(https://docs.aws.amazon.com/dtconsole/latest/userguide/welcome-connections.html)",
    date="2025-05-18",
    regions=("eu-south-1",),
)
"""Why a home region in eu-south-1 needs one more manual step for a GitHub source."""

OPT_IN_REGIONS = Fact(
    statement="Regions launched after 2019-03-20 are disabled by default; an account must enable (opt in to) "
    "each before anything can be created there, and S3 replication into or out of one needs both regions "
    "enabled.",
    source="AWS Account Management Reference Guide, 'Enable or disable AWS Regions in your account' "
    "(https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html)",
    date="2026-11-27",
    regions=(
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
    ),
)
"""Opt-in regions of partition aws (a reason names it, as the first deploy there fails otherwise)."""

CLI_DEPLOY_TEMPLATE_LIMIT = Fact(
    statement="`aws cloudformation deploy` needs --s3-bucket for templates larger than 51,200 bytes.",
    source="AWS CLI Command Reference, 'aws cloudformation deploy' "
    "(https://awscli.amazonaws.com/v2/documentation/api/latest/reference/cloudformation/deploy.html)",
    date="2026-11-27",
)
"""The `remote` strategy deploys without an S3 bucket in the target region, so its templates are limited."""

REMOTE_TEMPLATE_MAX_BYTES = 51_200
"""Largest template the `remote` strategy deploys (CLI_DEPLOY_TEMPLATE_LIMIT)."""

THREE_AVAILABILITY_ZONES = Fact(
    statement="Each Region has at least three Availability Zones.",
    source="AWS Regions and Availability Zones, 'AWS Availability Zones' "
    "(https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html)",
    date="2026-11-28",
)
"""Why relay assumes three Availability Zones in a region unless a fact says fewer."""

TWO_AVAILABILITY_ZONES = Fact(
    statement="US West (N. California) has three AZ IDs, but describe-availability-zones lists only two zones to "
    "most accounts (e.g. us-west-1a and us-west-1c), so a template that selects a third zone fails there.",
    source="https://gist.github.com/beeradmoore/fab5dc3775d0695d78761c420e5a334d (every account-visible zone per "
    "region) and https://github.com/stelligent/mu/issues/195 (a third us-west-1 zone rejected)",
    date="2017-11-01",
    regions=("us-west-1",),
)
"""The regions where a new account has only two Availability Zones, so a network spans at most two."""

FACTS = (
    CROSS_REGION_ACTIONS,
    NO_CROSS_REGION_SOURCE,
    ARTIFACT_STORE_NEEDS_CODEPIPELINE,
    CODECONNECTIONS_UNAVAILABLE,
    GITHUB_APP_PER_REGION,
    OPT_IN_REGIONS,
    CLI_DEPLOY_TEMPLATE_LIMIT,
    THREE_AVAILABILITY_ZONES,
    TWO_AVAILABILITY_ZONES,
)
"""Every documented fact the catalog records."""


@cache
def _session() -> boto3.Session:
    return boto3.Session()


@cache
def partitions() -> dict[str, str]:
    """Map every known region to its partition (aws, aws-cn, aws-us-gov, ...)."""
    session = _session()
    result: dict[str, str] = {}
    for partition in session.get_available_partitions():
        for region in session.get_available_regions("s3", partition_name=partition):
            result[region] = partition
    return result


@cache
def regions_with(service: str, partition: str = "aws") -> tuple[str, ...]:
    """Regions of `partition` where `service` (a key of SERVICE_ENDPOINT_NAMES) has an endpoint."""
    name = SERVICE_ENDPOINT_NAMES[service]
    return tuple(sorted(_session().get_available_regions(name, partition_name=partition)))


def has(service: str, region: str) -> bool:
    """Whether `service` (a key of SERVICE_ENDPOINT_NAMES) has an endpoint in `region`; false for an
    unknown region."""
    partition = partitions().get(region)
    return partition is not None and region in regions_with(service, partition)


def is_opt_in(region: str) -> bool:
    """Whether an account must enable `region` before using it (OPT_IN_REGIONS)."""
    return region in OPT_IN_REGIONS.regions


def partition_of(region: str) -> str:
    """The partition of a known region; raises KeyError for an unknown one."""
    return partitions()[region]


def dns_suffix(region: str) -> str:
    """DNS suffix of the region's partition, for service principals such as logs.<region>.<suffix>."""
    return "amazonaws.com.cn" if partition_of(region) == "aws-cn" else "amazonaws.com"


def availability_zones(region: str) -> int:
    """How many Availability Zones a new account can use in `region`, as far as relay needs to know: 2 where
    TWO_AVAILABILITY_ZONES says so, else 3 (THREE_AVAILABILITY_ZONES; some regions have more, which a network
    of at most three AZs does not use)."""
    return 2 if region in TWO_AVAILABILITY_ZONES.regions else 3
