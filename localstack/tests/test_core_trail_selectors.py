"""CloudTrail data event selectors (``relay_emulator.core.trail_selectors``), without an emulator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from relay_emulator.core.trail_selectors import (
    OBJECT_OPERATIONS,
    TrailView,
    advanced_selectors_match,
    basic_selectors_match,
    event_fields,
)

ARN = "arn:aws:s3:::rel/release/source.zip"
FIELDS = event_fields("PutObject", ARN, read_only=False)


def sel(*field_selectors):
    return [{"Name": "s", "FieldSelectors": list(field_selectors)}]


def basic(values, rw="All", type_="AWS::S3::Object"):
    return [{"ReadWriteType": rw, "DataResources": [{"Type": type_, "Values": values}]}]


def test_selector_operators():
    assert advanced_selectors_match(sel({"Field": "resources.ARN", "Equals": [ARN, "x"]}), FIELDS)
    assert advanced_selectors_match(sel({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::rel/"]}), FIELDS)
    assert advanced_selectors_match(sel({"Field": "resources.ARN", "EndsWith": [".zip"]}), FIELDS)
    assert not advanced_selectors_match(sel({"Field": "resources.ARN", "NotEquals": [ARN]}), FIELDS)
    assert not advanced_selectors_match(sel({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::rel"]}), FIELDS)
    assert advanced_selectors_match(sel({"Field": "resources.ARN", "NotEndsWith": [".txt"]}), FIELDS)
    assert not advanced_selectors_match(sel({"Field": "readOnly", "Equals": ["true"]}), FIELDS)
    assert not advanced_selectors_match(sel({"Field": "eventCategory", "Equals": ["Management"]}), FIELDS)
    assert not advanced_selectors_match(
        sel({"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "eventName", "Equals": ["CopyObject"]}), FIELDS
    )
    # selectors are ORed
    assert advanced_selectors_match(
        sel({"Field": "eventName", "Equals": ["CopyObject"]}) + sel({"Field": "eventName", "Equals": ["PutObject"]}),
        FIELDS,
    )

    assert basic_selectors_match(basic(["arn:aws:s3"]), ARN, False)
    assert basic_selectors_match(basic(["arn:aws:s3:::rel/"]), ARN, False)
    assert basic_selectors_match(basic(["arn:aws:s3:::rel/release/"]), ARN, True)
    assert not basic_selectors_match(basic(["arn:aws:s3:::other/"]), ARN, False)
    assert not basic_selectors_match(basic(["arn:aws:s3:::rel/"], "ReadOnly"), ARN, False)
    assert not basic_selectors_match(basic(["arn:aws:s3:::rel/"], "WriteOnly"), ARN, True)


@pytest.mark.parametrize(
    "selectors, expected",
    [
        ([], False),
        ([{"Name": "no field selectors", "FieldSelectors": []}], False),
        (sel({"Field": "resources.ARN", "Equals": [ARN], "NotEndsWith": [".zip"]}), False),
        (sel({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::rel/"], "NotEquals": ["x"]}), True),
        (sel({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::a", "arn:aws:s3:::b"]}), True),
        (sel({"Field": "unknownField", "Equals": [""]}), True),
        (sel({"Field": "unknownField", "Equals": ["x"]}), False),
    ],
    ids=[
        "none",
        "empty-selector",
        "operators-are-anded",
        "positive-and-negative",
        "negative-none-match",
        "missing-field-is-empty",
        "missing-field-no-value",
    ],
)
def test_advanced_selector_edges(selectors, expected):
    assert advanced_selectors_match(selectors, FIELDS) is expected


@pytest.mark.parametrize(
    "selectors, read_only, expected",
    [
        (basic(["arn:aws:s3:::"]), False, True),
        (basic(["arn:aws:s3:::rel/"], type_="AWS::Lambda::Function"), False, False),
        (basic(["arn:aws:s3:::rel/"], rw="All"), True, True),
        ([{"ReadWriteType": "All", "IncludeManagementEvents": True}], False, False),
    ],
    ids=["all-objects-arn", "other-resource-type", "all-reads", "management-only"],
)
def test_basic_selector_edges(selectors, read_only, expected):
    assert basic_selectors_match(selectors, ARN, read_only) is expected


def test_event_fields_name_the_call():
    assert event_fields("GetObject", ARN, read_only=True) == {
        "eventCategory": "Data",
        "eventSource": "s3.amazonaws.com",
        "eventType": "AwsApiCall",
        "eventName": "GetObject",
        "readOnly": "true",
        "resources.type": "AWS::S3::Object",
        "resources.ARN": ARN,
    }
    assert OBJECT_OPERATIONS["PutObject"] is False and OBJECT_OPERATIONS["HeadObject"] is True


def moto_trail(**overrides):
    """An object with moto's trail attribute names."""
    values = {
        "account_id": "000000000000",
        "region_name": "eu-south-2",
        "trail_name": "t",
        "arn": "arn:aws:cloudtrail:eu-south-2:000000000000:trail/t",
        "bucket_name": "logs",
        "s3_key_prefix": None,
        "kms_key_id": None,
        "is_multi_region": False,
        "advanced_event_selectors": sel({"Field": "eventName", "Equals": ["PutObject"]}),
        "event_selectors": basic(["arn:aws:s3"], rw="ReadOnly"),
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    "trail, region, accounts, operation, read_only, expected",
    [
        (moto_trail(), "eu-south-2", ("000000000000",), "PutObject", False, True),
        (moto_trail(), "eu-west-1", ("000000000000",), "PutObject", False, False),
        (moto_trail(is_multi_region=True), "eu-west-1", ("000000000000",), "PutObject", False, True),
        (moto_trail(), "eu-south-2", ("111111111111",), "PutObject", False, False),
        (moto_trail(), "eu-south-2", ("111111111111", "000000000000"), "PutObject", False, True),
        (moto_trail(), "eu-south-2", ("000000000000",), "GetObject", True, False),
        # without advanced selectors the basic ones apply (here: reads of every object)
        (moto_trail(advanced_event_selectors=[]), "eu-south-2", ("000000000000",), "GetObject", True, True),
        (moto_trail(advanced_event_selectors=[]), "eu-south-2", ("000000000000",), "PutObject", False, False),
        (
            moto_trail(advanced_event_selectors=[], event_selectors=[]),
            "eu-south-2",
            ("000000000000",),
            "GetObject",
            True,
            False,
        ),
    ],
    ids=[
        "same-region",
        "other-region",
        "multi-region",
        "other-account",
        "caller-account",
        "advanced-excludes",
        "basic-when-no-advanced",
        "basic-excludes",
        "no-data-selectors",
    ],
)
def test_which_trails_record_a_call(trail, region, accounts, operation, read_only, expected):
    view = TrailView.of(trail)
    assert view.matches(region, accounts, operation, ARN, read_only) is expected


def test_advanced_selectors_hide_basic_ones():
    view = TrailView.of(moto_trail())
    assert view.advanced and view.basic == ()
