"""Container images: an ECR repository per image and region, and the home registry's replication to the
platform targets."""

from __future__ import annotations

import json
from dataclasses import dataclass

from modules.cdk_seam import Construct, aws

ecr_rep = aws.ecr_replication_configuration

MAX_REPLICATION_DESTINATIONS = 25
"""ECR's limit on the unique destinations of one registry's replication configuration."""


@dataclass(frozen=True)
class ImageRepositoryProps:
    """Props of :class:`ImageRepository`."""

    name: str
    """Repository name (from config.naming), the same in every region so replication finds it. Required."""
    kms_key_arn: str
    """Key of the repository's region encrypting its images. Required."""
    scan_on_push: bool = True
    """Scan every image for vulnerabilities when it is pushed (basic scanning). Default true."""
    keep_tagged: int = 30
    """Tagged images kept: older ones beyond this count expire. Default 30."""
    expire_untagged_days: int = 7
    """Days after its push an untagged image expires. Default 7."""
    force_delete: bool = False
    """Let Terraform delete the repository while it holds images. Default false."""


def lifecycle_policy(*, keep_tagged: int, expire_untagged_days: int) -> str:
    """The lifecycle policy document: untagged images expire `expire_untagged_days` after their push, and only
    the `keep_tagged` most recent tagged images are kept."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Expire untagged images {expire_untagged_days} days after their push",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": expire_untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"Keep the {keep_tagged} most recent tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_tagged,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
    )


class ImageRepository(Construct):
    """A private ECR repository: immutable tags, KMS encryption with the region's key, scan on push, and a
    lifecycle policy (untagged images expire, the last `keep_tagged` tagged images are kept).

    Static stability: each region has its own repository, created by that region's stack, and serves its
    images (pulls) with home down. Create it before the home registry's :class:`ImageReplication` names
    the region: an image replicated into a region without the repository makes ECR create one with its own
    defaults (mutable tags, AES-256), which this construct then cannot create.
    """

    def __init__(self, scope: Construct, id: str, *, props: ImageRepositoryProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        if props.keep_tagged < 1:
            raise ValueError(f"{props.name}: keep_tagged is {props.keep_tagged}; keep at least 1 tagged image")
        if props.expire_untagged_days < 1:
            raise ValueError(f"{props.name}: expire_untagged_days is {props.expire_untagged_days}; use 1 or more")
        ecr = aws.ecr_repository
        self.repository = ecr.EcrRepository(
            self,
            "this",
            provider=provider,
            name=props.name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=ecr.EcrRepositoryImageScanningConfiguration(scan_on_push=props.scan_on_push),
            encryption_configuration=[
                ecr.EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=props.kms_key_arn)
            ],
            force_delete=props.force_delete,
        )
        self.lifecycle_policy = aws.ecr_lifecycle_policy.EcrLifecyclePolicy(
            self,
            "lifecycle",
            provider=provider,
            repository=self.repository.name,
            policy=lifecycle_policy(keep_tagged=props.keep_tagged, expire_untagged_days=props.expire_untagged_days),
        )

    @property
    def arn(self) -> str:
        """ARN of the repository."""
        return self.repository.arn

    @property
    def url(self) -> str:
        """URL of the repository (`<registry>.dkr.ecr.<region>.<suffix>/<name>`), what images are pushed to and
        pulled from."""
        return self.repository.repository_url


@dataclass(frozen=True)
class ImageReplicationProps:
    """Props of :class:`ImageReplication`."""

    account_id: str
    """Account of the destination registries (this account: cross-region, not cross-account). Required."""
    destination_regions: tuple[str, ...]
    """Regions images are replicated to, not the registry's own (1..25). Required."""
    repository_prefix: str
    """Only repositories whose names start with it replicate (from config.naming, e.g. `relay-local/`).
    Required, not empty."""


class ImageReplication(Construct):
    """The replication configuration of the registry of `provider`'s region: every image pushed to a repository
    whose name starts with `repository_prefix` is copied (same digest and tags) to the repository of the same
    name in each destination region.

    A registry has exactly one replication configuration and this resource owns all of it: create one
    ImageReplication per registry (account and region), and none where another tool manages replication.

    Static stability: replication runs from home and only when an image is pushed there. With home down,
    each region keeps pulling the images already replicated; new images wait for home (or are pushed to
    the region's repository directly). ECR replicates images pushed after the configuration exists, not
    earlier ones.
    """

    def __init__(self, scope: Construct, id: str, *, props: ImageReplicationProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        regions = props.destination_regions
        if not regions:
            raise ValueError("ImageReplication needs at least one destination region")
        if len(set(regions)) != len(regions):
            raise ValueError(f"ImageReplication: destination regions repeat ({', '.join(regions)}); name each once")
        if len(regions) > MAX_REPLICATION_DESTINATIONS:
            raise ValueError(
                f"ImageReplication: {len(regions)} destination regions; ECR replicates to at most "
                f"{MAX_REPLICATION_DESTINATIONS}"
            )
        if provider.region in regions:
            raise ValueError(
                f"ImageReplication: {provider.region} is the registry's own region; ECR does not replicate a "
                "registry into itself, remove it from destination_regions"
            )
        if not props.repository_prefix:
            raise ValueError("ImageReplication: name the repository prefix to replicate (an empty one would match all)")
        self.configuration = ecr_rep.EcrReplicationConfiguration(
            self,
            "this",
            provider=provider,
            replication_configuration=ecr_rep.EcrReplicationConfigurationReplicationConfiguration(
                rule=[
                    ecr_rep.EcrReplicationConfigurationReplicationConfigurationRule(
                        destination=[
                            ecr_rep.EcrReplicationConfigurationReplicationConfigurationRuleDestination(
                                region=region, registry_id=props.account_id
                            )
                            for region in regions
                        ],
                        repository_filter=[
                            ecr_rep.EcrReplicationConfigurationReplicationConfigurationRuleRepositoryFilter(
                                filter=props.repository_prefix, filter_type="PREFIX_MATCH"
                            )
                        ],
                    )
                ]
            ),
        )
