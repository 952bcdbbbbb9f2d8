"""S3 replication decisions (``relay_emulator.core.replication``), without an emulator."""

from __future__ import annotations

import threading

import pytest
from relay_emulator.core.replication import (
    DELETE_MARKER,
    OBJECT,
    Backlog,
    destination_bucket,
    replica_request,
    rule_matches,
    select_rules,
    settings_update,
)

from tools.wait import wait_for

DEST_A, DEST_B = "arn:aws:s3:::dest-a", "arn:aws:s3:::dest-b"


def rule(id_="r", dest=DEST_A, priority=1, status="Enabled", delete_markers=None, kms=None, **fields):
    """A V2 rule (with ``Filter``) unless ``Prefix=`` is given without ``Filter=`` (legacy)."""
    r = {"ID": id_, "Status": status, "Priority": priority, "Destination": {"Bucket": dest}}
    if delete_markers is not None:
        r["DeleteMarkerReplication"] = {"Status": "Enabled" if delete_markers else "Disabled"}
    if kms is not None:
        r["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled" if kms else "Disabled"}}
    r.update(fields)
    return r


def ids(rules):
    return sorted(r["ID"] for r in rules)


@pytest.mark.parametrize(
    "filter_rule, key, tags, expected",
    [
        ({"Filter": {}}, "any/key", {}, True),
        ({"Filter": {"Prefix": "release/"}}, "release/app.zip", {}, True),
        ({"Filter": {"Prefix": "release/"}}, "other/app.zip", {}, False),
        ({"Filter": {"Prefix": ""}}, "anything", {}, True),
        ({"Filter": {"Tag": {"Key": "ship", "Value": "yes"}}}, "k", {"ship": "yes"}, True),
        ({"Filter": {"Tag": {"Key": "ship", "Value": "yes"}}}, "k", {"ship": "no"}, False),
        ({"Filter": {"Tag": {"Key": "ship", "Value": "yes"}}}, "k", {}, False),
        (
            {"Filter": {"And": {"Prefix": "rel/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}},
            "rel/x",
            {"a": "1", "b": "2", "c": "3"},
            True,
        ),
        (
            {"Filter": {"And": {"Prefix": "rel/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}},
            "rel/x",
            {"a": "1"},
            False,
        ),
        ({"Filter": {"And": {"Prefix": "rel/", "Tags": [{"Key": "a", "Value": "1"}]}}}, "other/x", {"a": "1"}, False),
        ({"Prefix": "legacy/"}, "legacy/x", {}, True),
        ({"Prefix": "legacy/"}, "new/x", {}, False),
        ({}, "no/filter/at/all", {}, True),
    ],
    ids=[
        "empty-filter",
        "prefix-hit",
        "prefix-miss",
        "empty-prefix",
        "tag-hit",
        "tag-other-value",
        "tag-missing",
        "and-all",
        "and-missing-tag",
        "and-prefix-miss",
        "legacy-prefix-hit",
        "legacy-prefix-miss",
        "legacy-no-prefix",
    ],
)
def test_rule_filters(filter_rule, key, tags, expected):
    assert rule_matches(rule(**filter_rule), key, tags) is expected


@pytest.mark.parametrize(
    "rules, key, tags, kind, encryption, expected",
    [
        ([rule("on"), rule("off", dest=DEST_B, status="Disabled")], "k", {}, OBJECT, None, ["on"]),
        # same destination: the highest priority wins, whatever the order
        ([rule("low", priority=1), rule("high", priority=5)], "k", {}, OBJECT, None, ["high"]),
        ([rule("high", priority=5), rule("low", priority=1)], "k", {}, OBJECT, None, ["high"]),
        # a higher priority that does not match does not hide a lower one that does
        ([rule("low", priority=1), rule("high", priority=5, Filter={"Prefix": "x/"})], "k", {}, OBJECT, None, ["low"]),
        # different destinations: every matching rule applies
        ([rule("a", dest=DEST_A), rule("b", dest=DEST_B, priority=2)], "k", {}, OBJECT, None, ["a", "b"]),
        # delete markers: V2 rules only when asked, never tag-based ones; legacy rules always
        ([rule("v2", delete_markers=True, Filter={})], "k", {}, DELETE_MARKER, None, ["v2"]),
        ([rule("v2", delete_markers=False, Filter={})], "k", {}, DELETE_MARKER, None, []),
        ([rule("v2", Filter={})], "k", {}, DELETE_MARKER, None, []),
        (
            [rule("tags", delete_markers=True, Filter={"Tag": {"Key": "a", "Value": "1"}})],
            "k",
            {"a": "1"},
            DELETE_MARKER,
            None,
            [],
        ),
        (
            [
                rule(
                    "and-tags",
                    delete_markers=True,
                    Filter={"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "1"}]}},
                )
            ],
            "k",
            {"a": "1"},
            DELETE_MARKER,
            None,
            [],
        ),
        ([rule("legacy", Prefix="")], "k", {}, DELETE_MARKER, None, ["legacy"]),
        # SSE-KMS objects only for rules that opt in; other encryption does not matter
        ([rule("plain", Filter={})], "k", {}, OBJECT, "aws:kms", []),
        ([rule("opted-out", kms=False, Filter={})], "k", {}, OBJECT, "aws:kms", []),
        ([rule("opted-in", kms=True, Filter={})], "k", {}, OBJECT, "aws:kms", ["opted-in"]),
        ([rule("sse-s3", Filter={})], "k", {}, OBJECT, "AES256", ["sse-s3"]),
        # the criteria do not apply to delete markers
        ([rule("dm", delete_markers=True, Filter={})], "k", {}, DELETE_MARKER, "aws:kms", ["dm"]),
        ([], "k", {}, OBJECT, None, []),
    ],
    ids=[
        "disabled-skipped",
        "priority-ascending",
        "priority-descending",
        "priority-needs-match",
        "several-destinations",
        "dm-enabled",
        "dm-disabled",
        "dm-unset",
        "dm-tag-filter",
        "dm-and-tags",
        "dm-legacy",
        "kms-no-criteria",
        "kms-opted-out",
        "kms-opted-in",
        "sse-s3",
        "dm-ignores-kms",
        "no-rules",
    ],
)
def test_rule_selection(rules, key, tags, kind, encryption, expected):
    assert ids(select_rules({"Rules": rules}, key, tags, kind, encryption)) == expected


def test_a_rule_without_filter_key_is_legacy_and_matches_its_prefix():
    legacy = {"ID": "l", "Status": "Enabled", "Prefix": "a/", "Destination": {"Bucket": DEST_A}}
    assert ids(select_rules({"Rules": [legacy]}, "a/x", {}, OBJECT, None)) == ["l"]
    assert select_rules({"Rules": [legacy]}, "b/x", {}, OBJECT, None) == []


def test_destination_bucket_is_the_name_in_the_arn():
    assert destination_bucket(rule(dest="arn:aws:s3:::my-bucket")) == "my-bucket"


SOURCE = {
    "ContentType": "application/zip",
    "CacheControl": "no-cache",
    "ContentDisposition": "",
    "Metadata": {"build": "42"},
    "StorageClass": "STANDARD",
    "ServerSideEncryption": None,
}


@pytest.mark.parametrize(
    "destination, source, tags, expected",
    [
        ({}, SOURCE, {}, {"Metadata": {"build": "42"}, "ContentType": "application/zip", "CacheControl": "no-cache"}),
        (
            {"StorageClass": "STANDARD_IA"},
            SOURCE,
            {"team": "relay", "a b": "c&d"},
            {
                "Metadata": {"build": "42"},
                "ContentType": "application/zip",
                "CacheControl": "no-cache",
                "StorageClass": "STANDARD_IA",
                "Tagging": "team=relay&a+b=c%26d",
            },
        ),
        ({}, {"StorageClass": "GLACIER"}, {}, {"Metadata": {}, "StorageClass": "GLACIER"}),
        (
            {"EncryptionConfiguration": {"ReplicaKmsKeyID": "arn:aws:kms:eu-south-2:1:key/k"}},
            {"ServerSideEncryption": "aws:kms"},
            {},
            {"Metadata": {}, "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:eu-south-2:1:key/k"},
        ),
        ({}, {"ServerSideEncryption": "AES256"}, {}, {"Metadata": {}, "ServerSideEncryption": "AES256"}),
        (
            {"AccessControlTranslation": {"Owner": "Destination"}, "Account": "111111111111"},
            {},
            {},
            {"Metadata": {}, "ACL": "bucket-owner-full-control"},
        ),
    ],
    ids=["metadata", "storage-class-and-tags", "source-class", "kms-reencrypted", "sse-s3", "owner-translation"],
)
def test_replica_request(destination, source, tags, expected):
    r = rule()
    r["Destination"].update(destination)
    assert replica_request(r, source, tags) == expected


# ---------------------------------------------------------------------- backlog and settings


def test_backlog_admits_up_to_its_bound_then_waits_for_a_release():
    backlog = Backlog(bound=2, wait=5)
    assert backlog.acquire() is False and backlog.acquire() is False
    assert backlog.snapshot()["depth"] == 2

    def release_once_waiting():
        wait_for("a waiting writer", lambda: backlog.snapshot()["waits"] == 1, timeout=5, interval=0.001)
        backlog.release()

    t = threading.Thread(target=release_once_waiting)
    t.start()
    assert backlog.acquire() is True  # had to wait for the release
    t.join()
    snap = backlog.snapshot()
    assert snap["depth"] == 2 and snap["high_water"] == 2 and snap["waits"] == 1 and snap["overflows"] == 0


def test_backlog_admits_after_its_wait_without_dropping():
    backlog = Backlog(bound=1, wait=0)
    backlog.acquire()
    assert backlog.acquire() is True  # no slot within the wait: admitted anyway, counted
    snap = backlog.snapshot()
    assert snap["depth"] == 2 and snap["overflows"] == 1 and snap["admitted"] == 2


def test_backlog_configure_and_reset():
    backlog = Backlog(bound=3, wait=1)
    backlog.acquire()
    backlog.release()
    backlog.configure(bound=5, wait=0.5, reset=True)
    snap = backlog.snapshot()
    assert snap == {
        "depth": 0,
        "bound": 5,
        "wait_seconds": 0.5,
        "high_water": 0,
        "admitted": 0,
        "waits": 0,
        "overflows": 0,
    }
    with pytest.raises(ValueError):
        backlog.configure(bound=0)
    with pytest.raises(ValueError):
        Backlog(bound=0, wait=1)


def test_settings_update_accepts_and_refuses():
    assert settings_update({"backlog": 8, "backlog_wait": 2, "write": "api", "reset": True}) == {
        "backlog": 8,
        "backlog_wait": 2.0,
        "write": "api",
        "reset": True,
    }
    assert settings_update({}) == {}
    with pytest.raises(ValueError) as e:
        settings_update({"backlog": True, "backlog_wait": -1, "write": "x", "reset": "yes", "other": 1})
    for problem in ("backlog must", "backlog_wait", "write", "reset", "other"):
        assert problem in str(e.value)
    with pytest.raises(ValueError):
        settings_update([1])
