"""S3 replication decisions: which rules apply to an object version, and what its replica's
write looks like.

Rule selection follows S3's documented semantics: only ``Enabled`` rules; V2 ``Filter`` (``Prefix``, ``Tag``,
``And``; empty = every object) or the legacy rule-level ``Prefix``; delete markers only for V2
rules with ``DeleteMarkerReplication`` enabled and never for tag-based filters (legacy rules
always replicate them); SSE-KMS objects only for rules that opt in with
``SourceSelectionCriteria.SseKmsEncryptedObjects``; per destination bucket the matching rule
with the highest ``Priority`` wins, rules with different destinations all apply.

Also the engine's bounded backlog (``Backlog``: back-pressure on writers, nothing dropped) and the
input rules of ``POST /_relay/replication`` (``settings_update``).
"""

from __future__ import annotations

import threading
import time
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


class Backlog:
    """The bounded backlog of replication tasks waiting for a worker (back-pressure on writers).

    ``acquire`` takes a slot for a new task: while ``bound`` tasks are waiting it blocks, at most
    ``wait`` seconds; after that the task is admitted anyway (nothing is dropped) and counted in
    ``overflows``. A worker ``release``s the slot when it takes the task. ``high_water`` is the
    largest depth seen since the last ``reset``.
    """

    def __init__(self, bound: int, wait: float):
        if bound < 1:
            raise ValueError("the replication backlog bound must be at least 1")
        self.bound = bound
        self.wait = wait
        self.depth = 0
        self.high_water = 0
        self.waits = 0  # admissions that had to wait
        self.overflows = 0  # admissions after ``wait`` seconds over the bound
        self.admitted = 0
        self._cond = threading.Condition()

    def acquire(self) -> bool:
        """Admit one task; True when it had to wait for a slot."""
        with self._cond:
            waited = False
            if self.depth >= self.bound:
                waited = True
                self.waits += 1
                deadline = time.monotonic() + self.wait
                while self.depth >= self.bound:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self.overflows += 1
                        break
                    self._cond.wait(remaining)
            self.depth += 1
            self.admitted += 1
            self.high_water = max(self.high_water, self.depth)
            return waited

    def release(self) -> None:
        with self._cond:
            self.depth = max(0, self.depth - 1)
            self._cond.notify()

    def configure(self, bound: int | None = None, wait: float | None = None, reset: bool = False) -> None:
        with self._cond:
            if bound is not None:
                if bound < 1:
                    raise ValueError("the replication backlog bound must be at least 1")
                self.bound = bound
            if wait is not None:
                if wait < 0:
                    raise ValueError("the replication backlog wait must not be negative")
                self.wait = wait
            if reset:
                self.high_water = self.depth
                self.waits = self.overflows = self.admitted = 0
            self._cond.notify_all()

    def snapshot(self) -> dict:
        with self._cond:
            return {
                "depth": self.depth,
                "bound": self.bound,
                "wait_seconds": self.wait,
                "high_water": self.high_water,
                "admitted": self.admitted,
                "waits": self.waits,
                "overflows": self.overflows,
            }


def settings_update(body) -> dict:
    """Validate a ``POST /_relay/replication`` document: ``backlog`` (int >= 1), ``backlog_wait``
    (seconds >= 0), ``write`` (``direct`` | ``api``), ``reset`` (bool). Raises ValueError naming every
    problem; returns the accepted settings."""
    problems, out = [], {}
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(body) - {"backlog", "backlog_wait", "write", "reset"})
    if unknown:
        problems.append(f"unknown settings: {', '.join(unknown)}")
    if "backlog" in body:
        v = body["backlog"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append("backlog must be an integer >= 1")
        else:
            out["backlog"] = v
    if "backlog_wait" in body:
        v = body["backlog_wait"]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            problems.append("backlog_wait must be a number of seconds >= 0")
        else:
            out["backlog_wait"] = float(v)
    if "write" in body:
        if body["write"] not in ("direct", "api"):
            problems.append("write must be 'direct' or 'api'")
        else:
            out["write"] = body["write"]
    if "reset" in body:
        if not isinstance(body["reset"], bool):
            problems.append("reset must be true or false")
        else:
            out["reset"] = body["reset"]
    if problems:
        raise ValueError("; ".join(problems))
    return out
