"""S3 replication decisions: which rules apply to an object version, and what its replica's
write looks like.

Rule selection follows S3's documented semantics: only ``Enabled`` rules; V2 ``Filter`` (``Prefix``, ``Tag``,
``And``; empty = every object) or the legacy rule-level ``Prefix``; delete markers only for V2
rules with ``DeleteMarkerReplication`` enabled and never for tag-based filters (legacy rules
always replicate them); SSE-KMS objects only for rules that opt in with
``SourceSelectionCriteria.SseKmsEncryptedObjects``; per destination bucket the matching rule
with the highest ``Priority`` wins, rules with different destinations all apply.
"""

from __future__ import annotations

import urllib.parse

OBJECT = "object"
DELETE_MARKER = "delete_marker"


def rule_matches(rule: dict, key: str, tags: dict) -> bool:
    """Filter semantics of a replication rule (V2 ``Filter`` or legacy rule-level ``Prefix``)."""
    if "Filter" not in rule:
        return key.startswith(rule.get("Prefix") or "")
    flt = rule.get("Filter") or {}
    if "Prefix" in flt:
        return key.startswith(flt["Prefix"] or "")
    if "Tag" in flt:
        return tags.get(flt["Tag"]["Key"]) == flt["Tag"]["Value"]
    if "And" in flt:
        cond = flt["And"] or {}
        if not key.startswith(cond.get("Prefix") or ""):
            return False
        return all(tags.get(t["Key"]) == t["Value"] for t in cond.get("Tags") or [])
    return True


def is_tag_based(rule: dict) -> bool:
    """Whether the rule's filter looks at object tags (such rules never replicate delete markers)."""
    flt = rule.get("Filter") or {}
    return "Tag" in flt or bool((flt.get("And") or {}).get("Tags"))


def _applies_to_kind(rule: dict, kind: str, encryption: str | None) -> bool:
    if kind == DELETE_MARKER:
        if "Filter" not in rule:
            return True
        enabled = (rule.get("DeleteMarkerReplication") or {}).get("Status") == "Enabled"
        return enabled and not is_tag_based(rule)
    if encryption == "aws:kms":
        criteria = (rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects") or {}
        return criteria.get("Status") == "Enabled"
    return True


def select_rules(config: dict, key: str, tags: dict, kind: str, encryption: str | None) -> list[dict]:
    """The rules that apply to one object version (``kind`` OBJECT or DELETE_MARKER): at most
    one per destination bucket, in the configuration's order of first appearance."""
    best: dict[str, dict] = {}
    for rule in config.get("Rules") or []:
        if rule.get("Status") != "Enabled" or not rule_matches(rule, key, tags):
            continue
        if not _applies_to_kind(rule, kind, encryption):
            continue
        dest = rule["Destination"]["Bucket"]
        current = best.get(dest)
        if current is None or int(rule.get("Priority") or 0) > int(current.get("Priority") or 0):
            best[dest] = rule
    return list(best.values())


def destination_bucket(rule: dict) -> str:
    """Bucket name of a rule's destination (given as an ARN ``arn:aws:s3:::name``)."""
    return rule["Destination"]["Bucket"].split(":::", 1)[-1]


# System metadata that a replica carries over as the same PutObject parameter.
_COPIED_HEADERS = (
    "ContentType",
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "Expires",
    "WebsiteRedirectLocation",
)


def replica_request(rule: dict, source: dict, tags: dict) -> dict:
    """PutObject parameters (without Bucket, Key and Body) of the replica that ``rule`` writes.

    ``source`` describes the source version: its system metadata fields (``ContentType``, ...),
    ``Metadata`` (user metadata), ``StorageClass`` and ``ServerSideEncryption``. The replica keeps
    all of them, except that the destination's ``StorageClass`` overrides the source's, SSE-KMS
    objects are re-encrypted with the rule's ``ReplicaKmsKeyID``, and owner translation grants the
    destination bucket's owner full control.
    """
    dest = rule["Destination"]
    params: dict = {"Metadata": dict(source.get("Metadata") or {})}
    for field in _COPIED_HEADERS:
        if source.get(field):
            params[field] = source[field]
    storage_class = dest.get("StorageClass") or source.get("StorageClass")
    if storage_class and storage_class != "STANDARD":
        params["StorageClass"] = storage_class
    if tags:
        params["Tagging"] = urllib.parse.urlencode(list(tags.items()))
    encryption = source.get("ServerSideEncryption")
    replica_kms = (dest.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
    if encryption == "aws:kms" and replica_kms:
        params["ServerSideEncryption"] = "aws:kms"
        params["SSEKMSKeyId"] = replica_kms
    elif encryption == "AES256":
        params["ServerSideEncryption"] = "AES256"
    if owner_translated(rule):
        params["ACL"] = "bucket-owner-full-control"
    return params


def owner_translated(rule: dict) -> bool:
    """Whether the rule hands the replica's ownership to the destination account."""
    return (rule["Destination"].get("AccessControlTranslation") or {}).get("Owner") == "Destination"
