"""Which AWS regions can play which part, from botocore's bundled endpoint data (no network).

The home region needs CodePipeline and CodeBuild, plus CodeConnections (or CodeCommit) for the source;
a target region needs CodePipeline. Replication never crosses partitions.
"""

from __future__ import annotations

from functools import cache

import boto3

# botocore lists CodeConnections under its older service name.
SERVICE_ENDPOINT_NAMES = {
    "codepipeline": "codepipeline",
    "codebuild": "codebuild",
    "connection": "codestar-connections",
    "codecommit": "codecommit",
}


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


def partition_of(region: str) -> str:
    """The partition of a known region; raises KeyError for an unknown one."""
    return partitions()[region]


def dns_suffix(region: str) -> str:
    """DNS suffix of the region's partition, for service principals such as logs.<region>.<suffix>."""
    return "amazonaws.com.cn" if partition_of(region) == "aws-cn" else "amazonaws.com"
