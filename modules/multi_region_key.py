"""A KMS multi-Region key: the primary in home and a replica in every platform target, for data that must
decrypt in any of them (replicated secrets, the global tables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.kms_key import key_policy_statements


@dataclass(frozen=True)
class MultiRegionKeyProps:
    """Props of :class:`MultiRegionKey`."""

    alias: str
    """Alias name including the `alias/` prefix (from config.naming), the same in every region. Required."""
    account_id: str
    """Account that owns the keys; its IAM policies grant use of them. Required."""
    partition: str = "aws"
    """AWS partition of the regions. Default `aws`."""
    administrators: tuple[str, ...] = ()
    """IAM principals that administer the keys (and only administer them, replication included); with them,
    the account's IAM policies may only use the keys. Default none: the account's IAM policies govern the
    keys entirely (AWS's default key policy)."""
    deletion_window_in_days: int = 30
    """Waiting period before a scheduled deletion, of the primary and of each replica. Default 30 (the
    maximum: the keys guard every replicated secret and table)."""
    description: str = "Multi-Region key of the platform's replicated secrets and tables"
    """Description of the primary and of every replica. Default `Multi-Region key of the platform's
    replicated secrets and tables`."""


class MultiRegionKey(Construct):
    """A symmetric multi-Region primary key with rotation on, one replica key per region, the alias in each.

    The primary (`multi_region`, in the region of `provider`) and its replicas share key id, key material
    and rotation; each has its own key policy (the same one here: relay's key policy, the one of
    :class:`modules.kms_key.RegionKey`) and its own alias of the same name. Ciphertext made in one region
    decrypts in every other without a cross-region call.

    Static stability: the replicas are created from home (ReplicateKey is a call on the primary). Once
    created, a replica is a key of its own region: encrypt, decrypt and its key policy need nothing from
    home, so a target keeps reading its secrets and tables while home is down; only adding a replica (a
    new platform region) and rotation's shared schedule depend on the primary. Destroying the primary
    while replicas exist is refused by KMS: Terraform deletes the replicas first.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        props: MultiRegionKeyProps,
        provider: aws.provider.AwsProvider,
        replica_providers: Mapping[str, aws.provider.AwsProvider],
    ):
        super().__init__(scope, id)
        self.home_region: str | None = provider.region
        if self.home_region and self.home_region in replica_providers:
            raise ValueError(
                f"{props.alias}: the primary is in {self.home_region}; replica_providers lists the replica regions "
                "only, remove it from them"
            )
        policy = iam.document(
            *key_policy_statements(
                account_id=props.account_id,
                partition=props.partition,
                administrators=props.administrators,
                multi_region=True,
            )
        )
        self.primary = aws.kms_key.KmsKey(
            self,
            "this",
            provider=provider,
            description=props.description,
            multi_region=True,
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_in_days,
            policy=policy,
        )
        self.alias = aws.kms_alias.KmsAlias(
            self, "alias", provider=provider, name=props.alias, target_key_id=self.primary.key_id
        )
        self.replicas: dict[str, aws.kms_replica_key.KmsReplicaKey] = {}
        self.replica_aliases: dict[str, aws.kms_alias.KmsAlias] = {}
        for region in sorted(replica_providers):
            replica_provider = replica_providers[region]
            self.replicas[region] = aws.kms_replica_key.KmsReplicaKey(
                self,
                f"replica-{region}",
                provider=replica_provider,
                primary_key_arn=self.primary.arn,
                description=props.description,
                deletion_window_in_days=props.deletion_window_in_days,
                policy=policy,
            )
            self.replica_aliases[region] = aws.kms_alias.KmsAlias(
                self,
                f"alias-{region}",
                provider=replica_provider,
                name=props.alias,
                target_key_id=self.replicas[region].key_id,
            )

    @property
    def arn(self) -> str:
        """ARN of the primary key."""
        return self.primary.arn

    def arn_in(self, region: str) -> str:
        """ARN of the key in `region`: the primary's in home, that region's replica's elsewhere (a reference
        to the replica, so whatever uses it waits for the replica to exist)."""
        if region in self.replicas:
            return self.replicas[region].arn
        if region == self.home_region:
            return self.primary.arn
        known = ", ".join(sorted({*self.replicas, *([self.home_region] if self.home_region else [])}))
        raise KeyError(f"the multi-Region key has no key in {region} (it has: {known}); add a replica provider for it")
