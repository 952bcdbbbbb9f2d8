"""Route 53 record sets are created and deleted one by one, as AWS does, when several share a name.

moto's ``ChangeResourceRecordSets`` (LocalStack's Route 53 is moto's) gets two things wrong for record sets
that share a name and type and differ by ``SetIdentifier`` (weighted, latency, failover records):

* DELETE with a ``SetIdentifier`` removes every record set of the zone with that identifier, whatever its
  name; without one, every record set of that name and type.
* CREATE of a record set that was created and deleted before answers "already exists" when any record set
  of the zone sorts at or after its name and type (moto's check lists the zone from that point on).

So moving a region from one latency set to another (what promoting a standby region does to the edge) deleted
the other set's record of that region too, and creating it again failed. The patch applies AWS's rule: a record
set is identified by its name, type and set identifier; CREATE fails when that exact one exists, DELETE removes
exactly that one (and fails, as AWS does, when it does not exist).
"""

from __future__ import annotations

from typing import Any

from localstack.utils.patch import Patch

_INSTALLED = False


def identity(name: str, type_: str, set_identifier: str | None) -> tuple[str, str, str | None]:
    """What identifies a record set in its zone: its name (absolute, lower case), type and set identifier."""
    return name.lower().rstrip(".") + ".", type_.upper(), set_identifier or None


def install() -> None:
    """Patch moto's ``Route53Backend.change_resource_record_sets`` (once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.route53.exceptions import ResourceRecordAlreadyExists, Route53ClientError
    from moto.route53.models import Route53Backend

    def change_resource_record_sets(original, self, zoneid: str, change_list: list[dict[str, Any]]) -> None:
        zone = self.get_hosted_zone(zoneid)
        existing = {identity(r.name, r.type_, r.set_identifier) for r in zone.rrsets}
        for change in change_list:
            record = change["ResourceRecordSet"]
            key = identity(record["Name"], record["Type"], record.get("SetIdentifier"))
            if change["Action"] == "CREATE":
                if key in existing:
                    raise ResourceRecordAlreadyExists(name=key[0], _type=key[1])
                existing.add(key)
            elif change["Action"] == "DELETE":
                if key not in existing:
                    raise Route53ClientError(
                        "InvalidChangeBatch",
                        f"Tried to delete resource record set [name='{key[0]}', type='{key[1]}'"
                        + (f", set-identifier='{key[2]}'" if key[2] else "")
                        + "] but it was not found",
                    )
                existing.discard(key)
        for change in change_list:  # in order, one by one, each as AWS applies it
            if change["Action"] == "DELETE":
                delete(zone, change)
                continue
            # moto's own CREATE check refuses a record set created and deleted before (checked above instead):
            # hide that earlier CREATE from its journal for this change
            journal = zone.rr_changes
            hidden = change["Action"] == "CREATE" and change in journal
            if hidden:
                journal.remove(change)
            try:
                original(self, zoneid, [change])
            finally:
                if hidden:
                    journal.insert(0, change)

    def delete(zone, change: dict[str, Any]) -> None:
        record = change["ResourceRecordSet"]
        if not zone.rr_changes.has_insert_or_update(record):
            raise Route53ClientError(
                "InvalidInput",
                "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
                f"TrafficPolicyInstanceId], but found none in Change with [Action=DELETE, Name={record['Name']}, "
                f"Type={record['Type']}, SetIdentifier={record.get('SetIdentifier', 'null')}]",
            )
        key = identity(record["Name"], record["Type"], record.get("SetIdentifier"))
        zone.rrsets = [r for r in zone.rrsets if identity(r.name, r.type_, r.set_identifier) != key]
        zone.rr_changes.append(change)

    Patch.function(Route53Backend.change_resource_record_sets, change_resource_record_sets).apply()
    _INSTALLED = True
