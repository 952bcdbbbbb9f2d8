"""ECR decisions without a server: image digests, tag mutability, the registry replication
configuration's checks and which destinations an image put in a repository replicates to.

Standard library only (see ``core/__init__.py``); ``relay_emulator.ecr`` is the glue.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re

MUTABLE = "MUTABLE"
IMMUTABLE = "IMMUTABLE"
MUTABLE_WITH_EXCLUSION = "MUTABLE_WITH_EXCLUSION"
IMMUTABLE_WITH_EXCLUSION = "IMMUTABLE_WITH_EXCLUSION"

# AWS's quotas for a registry's replication configuration
MAX_RULES = 10
MAX_DESTINATIONS = 25
MAX_FILTERS = 100
FILTER_TYPES = ("PREFIX_MATCH",)
# ECR's constraint on a repository filter (a repository name prefix)
_FILTER_PATTERN = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]*)*/)*[a-z0-9]*(?:[._-][a-z0-9]*)*$")
_REGION_PATTERN = re.compile(r"^[0-9a-z-]{2,25}$")
_ACCOUNT_PATTERN = re.compile(r"^[0-9]{12}$")

# PutImage outcomes
PUT = "put"  # a new image, or a new tag on an existing one
ALREADY_EXISTS = "already-exists"  # this digest already carries this tag: ImageAlreadyExistsException
TAG_IMMUTABLE = "tag-immutable"  # the tag is on another digest and may not move: ImageTagAlreadyExistsException
UNCHANGED = "unchanged"  # an untagged put of a digest already present (nothing to do)


def manifest_digest(manifest: str) -> str:
    """The image digest ECR gives a manifest: sha256 of its exact bytes (UTF-8)."""
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def tag_is_immutable(mutability: str | None, exclusion_filters: list[dict] | None, tag: str) -> bool:
    """Whether ``tag`` may not be moved to another image in a repository with this
    ``imageTagMutability`` and ``imageTagMutabilityExclusionFilters`` (wildcard ``*`` filters)."""
    matches = any(fnmatch.fnmatchcase(tag, f.get("filter", "")) for f in exclusion_filters or [])
    if mutability == IMMUTABLE:
        return True
    if mutability == IMMUTABLE_WITH_EXCLUSION:
        return not matches
    if mutability == MUTABLE_WITH_EXCLUSION:
        return matches
    return False


def put_image_outcome(
    images: dict[str, list[str]], digest: str, tag: str | None, immutable: bool
) -> tuple[str, str | None]:
    """What PutImage of ``digest`` with ``tag`` does in a repository whose images are
    ``images`` (digest -> tags); ``immutable`` is ``tag_is_immutable`` for that tag. Returns the
    outcome and, for ``TAG_IMMUTABLE``, the digest the tag is on."""
    if tag is None:
        return (UNCHANGED, None) if digest in images else (PUT, None)
    if tag in images.get(digest, []):
        return ALREADY_EXISTS, None
    holder = next((d for d, tags in images.items() if tag in tags and d != digest), None)
    if holder is not None and immutable:
        return TAG_IMMUTABLE, holder
    return PUT, None


def _invalid(member: str, constraint: str) -> str:
    return f"Invalid parameter at '{member}' failed to satisfy constraint: '{constraint}'"


def check_replication_configuration(config: dict, region: str, account: str) -> str | None:
    """The reason ECR refuses this ``replicationConfiguration`` of the registry ``account`` in
    ``region`` (None when it is valid)."""
    rules = config.get("rules")
    if not isinstance(rules, list):
        return _invalid("replicationConfiguration", "rules must be a list")
    if len(rules) > MAX_RULES:
        return _invalid("rules", f"Member must have length less than or equal to {MAX_RULES}")
    destinations = set()
    for rule in rules:
        dests = rule.get("destinations") or []
        if not dests:
            return _invalid("destinations", "Member must have length greater than or equal to 1")
        for dest in dests:
            dest_region, registry = dest.get("region", ""), dest.get("registryId", "")
            if not _REGION_PATTERN.match(dest_region):
                return _invalid("region", f"Invalid region {dest_region!r}")
            if not _ACCOUNT_PATTERN.match(registry):
                return _invalid("registryId", f"Invalid registry id {registry!r}")
            if dest_region == region and registry == account:
                return _invalid(
                    "replicationConfiguration", "Replication destination cannot be the same as the source registry"
                )
            destinations.add((dest_region, registry))
        filters = rule.get("repositoryFilters") or []
        if len(filters) > MAX_FILTERS:
            return _invalid("repositoryFilters", f"Member must have length less than or equal to {MAX_FILTERS}")
        for f in filters:
            if f.get("filterType") not in FILTER_TYPES:
                return _invalid("filterType", f"Member must satisfy enum value set: {list(FILTER_TYPES)}")
            value = f.get("filter", "")
            if not value or len(value) > 256 or not _FILTER_PATTERN.match(value):
                return _invalid("filter", f"Invalid repository filter {value!r}")
    if len(destinations) > MAX_DESTINATIONS:
        return _invalid("destinations", f"at most {MAX_DESTINATIONS} unique destinations")
    return None


def rule_matches(rule: dict, repository: str) -> bool:
    """A rule without filters replicates every repository; with filters, a repository whose
    name starts with one of their prefixes (``PREFIX_MATCH``)."""
    filters = rule.get("repositoryFilters") or []
    if not filters:
        return True
    return any(f.get("filterType") == "PREFIX_MATCH" and repository.startswith(f.get("filter", "")) for f in filters)


def replication_destinations(config: dict | None, repository: str, region: str, account: str) -> list[tuple[str, str]]:
    """(region, registry id) pairs an image put in ``repository`` of the registry ``account`` in
    ``region`` replicates to, each once, in the configuration's order (never the source)."""
    out: list[tuple[str, str]] = []
    for rule in (config or {}).get("rules") or []:
        if not rule_matches(rule, repository):
            continue
        for dest in rule.get("destinations") or []:
            pair = (dest["region"], dest["registryId"])
            if pair != (region, account) and pair not in out:
                out.append(pair)
    return out


def replica_repository_settings() -> dict:
    """The settings ECR gives a repository that replication creates (no creation template):
    mutable tags, no scan on push, AES256."""
    return {
        "imageTagMutability": MUTABLE,
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"},
    }
