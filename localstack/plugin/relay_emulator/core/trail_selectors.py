"""Which logging trails record an S3 object-level call (CloudTrail data event selectors).

Advanced event selectors: selectors are ORed, the field selectors of one selector are ANDed, and
each operator given must hold (positive ones ``Equals``/``StartsWith``/``EndsWith`` for any of
their values, negative ones ``NotEquals``/``NotStartsWith``/``NotEndsWith`` for none). Basic
event selectors: an ``AWS::S3::Object`` data resource whose value is ``arn:aws:s3`` (all objects)
or a prefix of the object ARN, with a matching ``ReadWriteType``. A trail with advanced
selectors ignores basic ones; a trail without data selectors records no data events.
"""

from __future__ import annotations

from dataclasses import dataclass

# S3 object-level operations CloudTrail records as data events (resources.type AWS::S3::Object),
# with their readOnly flag.
OBJECT_OPERATIONS = {
    "PutObject": False,
    "CopyObject": False,
    "CompleteMultipartUpload": False,
    "CreateMultipartUpload": False,
    "UploadPart": False,
    "UploadPartCopy": False,
    "AbortMultipartUpload": False,
    "DeleteObject": False,
    "PutObjectAcl": False,
    "PutObjectTagging": False,
    "DeleteObjectTagging": False,
    "PutObjectRetention": False,
    "PutObjectLegalHold": False,
    "RestoreObject": False,
    "GetObject": True,
    "HeadObject": True,
    "GetObjectAcl": True,
    "GetObjectTagging": True,
    "GetObjectAttributes": True,
    "GetObjectRetention": True,
    "GetObjectLegalHold": True,
    "ListParts": True,
}

_OPERATORS = (
    ("Equals", lambda value, x: value == x, True),
    ("StartsWith", str.startswith, True),
    ("EndsWith", str.endswith, True),
    ("NotEquals", lambda value, x: value == x, False),
    ("NotStartsWith", str.startswith, False),
    ("NotEndsWith", str.endswith, False),
)


def field_matches(value: str | None, field_selector: dict) -> bool:
    """One advanced field selector against the event's value of its field."""
    v = value if value is not None else ""
    for op, test, positive in _OPERATORS:
        values = field_selector.get(op)
        if values and any(test(v, x) for x in values) != positive:
            return False
    return True


def advanced_selectors_match(selectors: list, fields: dict) -> bool:
    """A trail's advanced event selectors: any selector whose field selectors all match."""
    for sel in selectors or []:
        field_selectors = sel.get("FieldSelectors") or []
        if field_selectors and all(field_matches(fields.get(fs.get("Field")), fs) for fs in field_selectors):
            return True
    return False


def basic_selectors_match(selectors: list, object_arn: str, read_only: bool) -> bool:
    """Basic event selectors against one object ARN and the call's read/write kind."""
    for sel in selectors or []:
        rw = sel.get("ReadWriteType") or "All"
        if (rw == "ReadOnly" and not read_only) or (rw == "WriteOnly" and read_only):
            continue
        for resource in sel.get("DataResources") or []:
            if resource.get("Type") != "AWS::S3::Object":
                continue
            for value in resource.get("Values") or []:
                if value in ("arn:aws:s3", "arn:aws:s3:::") or object_arn.startswith(value):
                    return True
    return False


def event_fields(operation: str, object_arn: str, read_only: bool) -> dict:
    """The advanced-selector fields of an S3 object-level data event."""
    return {
        "eventCategory": "Data",
        "eventSource": "s3.amazonaws.com",
        "eventType": "AwsApiCall",
        "eventName": operation,
        "readOnly": "true" if read_only else "false",
        "resources.type": "AWS::S3::Object",
        "resources.ARN": object_arn,
    }


@dataclass(frozen=True)
class TrailView:
    """What the recorder needs of a trail: a snapshot, taken again after every CloudTrail write."""

    account_id: str
    region: str
    name: str
    arn: str
    bucket: str
    prefix: str | None = None
    kms_key_id: str | None = None
    multi_region: bool = False
    advanced: tuple = ()
    basic: tuple = ()

    @classmethod
    def of(cls, trail) -> TrailView:
        """Snapshot of a trail object with moto's attribute names (``trail_name``, ``bucket_name``...)."""
        advanced = tuple(trail.advanced_event_selectors or ())
        return cls(
            account_id=trail.account_id,
            region=trail.region_name,
            name=trail.trail_name,
            arn=trail.arn,
            bucket=trail.bucket_name,
            prefix=trail.s3_key_prefix,
            kms_key_id=trail.kms_key_id,
            multi_region=bool(trail.is_multi_region),
            advanced=advanced,
            basic=() if advanced else tuple(trail.event_selectors or ()),
        )

    def matches(self, region: str, accounts: tuple, operation: str, object_arn: str, read_only: bool) -> bool:
        """Whether this trail records the call: a trail of one of ``accounts`` (bucket owner,
        caller) in the call's region or multi-region, whose selectors select it."""
        if self.account_id not in accounts or not (self.multi_region or self.region == region):
            return False
        if self.advanced:
            return advanced_selectors_match(list(self.advanced), event_fields(operation, object_arn, read_only))
        return basic_selectors_match(list(self.basic), object_arn, read_only)
