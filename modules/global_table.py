"""A DynamoDB global table (version 2019.11.21): the table in home and a replica in every platform target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modules.cdk_seam import Construct, aws

ddb = aws.dynamodb_table

KEY_TYPES = ("S", "N", "B")
"""DynamoDB's scalar types a key attribute may have: string, number, binary."""


@dataclass(frozen=True)
class GlobalTableProps:
    """Props of :class:`GlobalTable`."""

    name: str
    """Table name (from config.naming), the same in every region. Required."""
    hash_key: str
    """Partition key attribute. Required."""
    kms_key_arn: str
    """Key of the home region encrypting the table (the multi-Region key's primary). Required."""
    replicas: Mapping[str, str]
    """Replica region -> the key of that region encrypting its replica (the multi-Region key's replica there).
    Required; empty: a table in home only."""
    hash_key_type: str = "S"
    """Type of the partition key: `S`, `N` or `B`. Default `S`."""
    range_key: str | None = None
    """Sort key attribute. Default none."""
    range_key_type: str = "S"
    """Type of the sort key: `S`, `N` or `B`. Default `S`."""
    point_in_time_recovery: bool = True
    """Continuous backups (point-in-time recovery) on the table and on every replica. Default true."""
    deletion_protection: bool = True
    """Refuse DeleteTable on the home table until it is turned off. Default true."""
    ttl_attribute: str | None = None
    """Attribute holding each item's expiry (epoch seconds); items past it are deleted by DynamoDB. Default
    none: items never expire."""


class GlobalTable(Construct):
    """An on-demand (PAY_PER_REQUEST) table with streams (NEW_AND_OLD_IMAGES, which replication needs),
    server-side encryption with the customer key, point-in-time recovery, and one replica block per region
    (its own region's key, point-in-time recovery, tags propagated).

    Every replica takes reads and writes; DynamoDB replicates each write to the others, asynchronously,
    and resolves concurrent writes to one item by last writer wins.

    Static stability: replicas are created, changed and deleted from home (UpdateTable on the home table).
    With home down, each replica keeps serving reads and writes in its region and replicates to the
    other live replicas; writes made in home before it went down and not yet replicated arrive when it
    is back. Deletion protection applies to the home table; the provider (5.100) sets none on replicas.
    """

    def __init__(self, scope: Construct, id: str, *, props: GlobalTableProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        keys = [(props.hash_key, props.hash_key_type)]
        if props.range_key is not None:
            if props.range_key == props.hash_key:
                raise ValueError(f"{props.name}: the sort key {props.range_key} is the partition key; name another")
            keys.append((props.range_key, props.range_key_type))
        for attribute, type_ in keys:
            if type_ not in KEY_TYPES:
                raise ValueError(f"{props.name}: key {attribute} has type {type_}; use one of {', '.join(KEY_TYPES)}")
        if provider.region in props.replicas:
            raise ValueError(
                f"{props.name}: {provider.region} is the table's own region; list only the replica regions"
            )
        self.name = props.name
        self.table = ddb.DynamodbTable(
            self,
            "this",
            provider=provider,
            name=props.name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=props.hash_key,
            range_key=props.range_key,
            attribute=[ddb.DynamodbTableAttribute(name=attribute, type=type_) for attribute, type_ in keys],
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            server_side_encryption=ddb.DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=props.kms_key_arn),
            point_in_time_recovery=ddb.DynamodbTablePointInTimeRecovery(enabled=props.point_in_time_recovery),
            deletion_protection_enabled=props.deletion_protection,
            ttl=(
                ddb.DynamodbTableTtl(attribute_name=props.ttl_attribute, enabled=True) if props.ttl_attribute else None
            ),
            replica=[
                ddb.DynamodbTableReplica(
                    region_name=region,
                    kms_key_arn=props.replicas[region],
                    point_in_time_recovery=props.point_in_time_recovery,
                    propagate_tags=True,
                )
                for region in sorted(props.replicas)
            ],
        )

    @property
    def arn(self) -> str:
        """ARN of the home table (a replica's differs only in its region)."""
        return self.table.arn

    @property
    def stream_arn(self) -> str:
        """ARN of the home table's stream."""
        return self.table.stream_arn
