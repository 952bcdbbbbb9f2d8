"""ECR decisions (``relay_emulator.core.ecr``), without an emulator: digests, tag mutability,
PutImage outcomes, the replication configuration's checks and its destinations."""

from __future__ import annotations

import hashlib

import pytest
from relay_emulator.core.ecr import (
    ALREADY_EXISTS,
    IMMUTABLE,
    IMMUTABLE_WITH_EXCLUSION,
    MUTABLE,
    MUTABLE_WITH_EXCLUSION,
    PUT,
    TAG_IMMUTABLE,
    UNCHANGED,
    check_replication_configuration,
    manifest_digest,
    put_image_outcome,
    replica_repository_settings,
    replication_destinations,
    rule_matches,
    tag_is_immutable,
)

HOME, ACCOUNT = "eu-west-1", "000000000000"
A = {"region": "eu-south-2", "registryId": ACCOUNT}
B = {"region": "ap-southeast-4", "registryId": ACCOUNT}


def prefix(*values):
    return [{"filter": v, "filterType": "PREFIX_MATCH"} for v in values]


def test_manifest_digest_is_sha256_of_the_exact_bytes():
    manifest = '{"schemaVersion": 2, "layers": []}'
    assert manifest_digest(manifest) == "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    assert manifest_digest(manifest) != manifest_digest(manifest.replace(" ", ""))


@pytest.mark.parametrize(
    "mutability, filters, tag, expected",
    [
        (MUTABLE, None, "v1", False),
        (None, None, "v1", False),
        (IMMUTABLE, None, "v1", True),
        (IMMUTABLE, None, "latest", True),
        (IMMUTABLE_WITH_EXCLUSION, [{"filter": "latest*", "filterType": "WILDCARD"}], "latest", False),
        (IMMUTABLE_WITH_EXCLUSION, [{"filter": "latest*", "filterType": "WILDCARD"}], "latest-dev", False),
        (IMMUTABLE_WITH_EXCLUSION, [{"filter": "latest*", "filterType": "WILDCARD"}], "v1", True),
        (MUTABLE_WITH_EXCLUSION, [{"filter": "release-*", "filterType": "WILDCARD"}], "release-1", True),
        (MUTABLE_WITH_EXCLUSION, [{"filter": "release-*", "filterType": "WILDCARD"}], "dev", False),
    ],
)
def test_tag_is_immutable(mutability, filters, tag, expected):
    assert tag_is_immutable(mutability, filters, tag) is expected


@pytest.mark.parametrize(
    "images, digest, tag, immutable, expected",
    [
        ({}, "d1", "v1", True, (PUT, None)),
        ({}, "d1", None, False, (PUT, None)),
        ({"d1": ["v1"]}, "d1", "v1", True, (ALREADY_EXISTS, None)),
        ({"d1": ["v1"]}, "d1", "v1", False, (ALREADY_EXISTS, None)),
        ({"d1": ["v1"]}, "d2", "v1", True, (TAG_IMMUTABLE, "d1")),
        ({"d1": ["v1"]}, "d2", "v1", False, (PUT, None)),  # a mutable tag moves
        ({"d1": ["v1"]}, "d1", "v2", True, (PUT, None)),  # another tag on the same image
        ({"d1": ["v1"]}, "d1", None, True, (UNCHANGED, None)),
        ({"d1": []}, "d2", None, True, (PUT, None)),
    ],
)
def test_put_image_outcome(images, digest, tag, immutable, expected):
    assert put_image_outcome(images, digest, tag, immutable) == expected


@pytest.mark.parametrize(
    "config, reason",
    [
        ({"rules": []}, None),
        ({"rules": [{"destinations": [A, B]}]}, None),
        ({"rules": [{"destinations": [A], "repositoryFilters": prefix("app/", "base")}]}, None),
        ({"rules": [{"destinations": [A]}, {"destinations": [B], "repositoryFilters": prefix("x")}]}, None),
        ({"rules": [{"destinations": [A]}] * 11}, "less than or equal to 10"),
        ({"rules": [{"destinations": []}]}, "greater than or equal to 1"),
        ({"rules": [{"destinations": [{"region": HOME, "registryId": ACCOUNT}]}]}, "cannot be the same"),
        ({"rules": [{"destinations": [{"region": HOME, "registryId": "111111111111"}]}]}, None),
        ({"rules": [{"destinations": [{"region": "eu-south-2", "registryId": "12"}]}]}, "registry id"),
        ({"rules": [{"destinations": [A], "repositoryFilters": [{"filter": "a", "filterType": "WILDCARD"}]}]}, "enum"),
        ({"rules": [{"destinations": [A], "repositoryFilters": prefix("App")}]}, "repository filter"),
        ({"rules": [{"destinations": [A], "repositoryFilters": prefix("")}]}, "repository filter"),
        (
            {"rules": [{"destinations": [{"region": f"r-{i}", "registryId": ACCOUNT} for i in range(26)]}]},
            "at most 25",
        ),
    ],
)
def test_check_replication_configuration(config, reason):
    got = check_replication_configuration(config, HOME, ACCOUNT)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


@pytest.mark.parametrize(
    "filters, repository, expected",
    [
        (None, "anything", True),
        ([], "anything", True),
        (prefix("app/"), "app/web", True),
        (prefix("app/"), "apps/web", False),
        (prefix("app"), "apps/web", True),
        (prefix("base", "app/"), "base-image", True),
        (prefix("base", "app/"), "other", False),
    ],
)
def test_rule_matches(filters, repository, expected):
    rule = {"destinations": [A]}
    if filters is not None:
        rule["repositoryFilters"] = filters
    assert rule_matches(rule, repository) is expected


def test_destinations_of_matching_rules_once_each_in_order():
    config = {
        "rules": [
            {"destinations": [A, B], "repositoryFilters": prefix("app/")},
            {"destinations": [B, {"region": "us-east-1", "registryId": "111111111111"}]},
        ]
    }
    assert replication_destinations(config, "app/web", HOME, ACCOUNT) == [
        ("eu-south-2", ACCOUNT),
        ("ap-southeast-4", ACCOUNT),
        ("us-east-1", "111111111111"),
    ]
    assert replication_destinations(config, "other", HOME, ACCOUNT) == [
        ("ap-southeast-4", ACCOUNT),
        ("us-east-1", "111111111111"),
    ]


def test_no_destinations_without_configuration_or_matching_rule():
    assert replication_destinations(None, "app/web", HOME, ACCOUNT) == []
    assert replication_destinations({"rules": []}, "app/web", HOME, ACCOUNT) == []
    config = {"rules": [{"destinations": [A], "repositoryFilters": prefix("app/")}]}
    assert replication_destinations(config, "tools/ci", HOME, ACCOUNT) == []


def test_source_registry_is_never_a_destination():
    config = {"rules": [{"destinations": [A, {"region": HOME, "registryId": ACCOUNT}]}]}
    assert replication_destinations(config, "x", HOME, ACCOUNT) == [("eu-south-2", ACCOUNT)]


def test_replica_repository_settings_are_ecr_defaults():
    assert replica_repository_settings() == {
        "imageTagMutability": MUTABLE,
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"},
    }
    # a fresh dict each time (moto keeps what it is given)
    assert replica_repository_settings() is not replica_repository_settings()
