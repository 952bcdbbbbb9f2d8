"""Security Hub's pure logic (``relay_emulator.core.securityhub``), without an emulator: the
standards catalogue and ARNs, aggregator linking, finding filters, severity labels, imports."""

from __future__ import annotations

import pytest
from relay_emulator.core import securityhub as core

FSBP_ARN = "arn:aws:securityhub:eu-west-1::standards/aws-foundational-security-best-practices/v/1.0.0"


def test_standards_arns_and_subscriptions():
    assert core.standards_arn(core.FSBP, "eu-west-1") == FSBP_ARN
    assert core.subscription_arn(FSBP_ARN, "eu-west-1", "123456789012") == (
        "arn:aws:securityhub:eu-west-1:123456789012:subscription/aws-foundational-security-best-practices/v/1.0.0"
    )
    cis = "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"
    assert core.subscription_arn(cis, "eu-west-1", "1").endswith(
        ":1:subscription/cis-aws-foundations-benchmark/v/1.2.0"
    )
    assert core.default_standards("eu-west-1") == [FSBP_ARN, cis]
    assert FSBP_ARN in [s["StandardsArn"] for s in core.describe_standards("eu-west-1")]


def test_unknown_or_other_region_standard_names_the_valid_ones():
    with pytest.raises(core.InvalidInput, match=r"valid standards: .*aws-foundational") as info:
        core.subscription_arn("arn:aws:securityhub:eu-west-1::standards/nope/v/1", "eu-west-1", "1")
    assert FSBP_ARN in str(info.value)
    with pytest.raises(core.InvalidInput):  # another region's ARN
        core.subscription_arn(FSBP_ARN, "us-east-1", "1")


@pytest.mark.parametrize(
    ("mode", "regions", "ok"),
    [
        ("ALL_REGIONS", [], True),
        ("ALL_REGIONS", ["eu-west-1"], False),
        ("NO_REGIONS", None, True),
        ("SPECIFIED_REGIONS", ["eu-south-2"], True),
        ("SPECIFIED_REGIONS", [], False),
        ("ALL_REGIONS_EXCEPT_SPECIFIED", ["eu-south-2"], True),
        ("ALL_REGIONS_EXCEPT_SPECIFIED", None, False),
        ("SOME", [], False),
        (None, [], False),
    ],
)
def test_check_linking(mode, regions, ok):
    if ok:
        assert core.check_linking(mode, regions) == list(regions or [])
    else:
        with pytest.raises(core.InvalidInput):
            core.check_linking(mode, regions)


def test_linked_regions():
    home = "eu-west-1"
    assert core.linked("NO_REGIONS", [], home, home)
    assert not core.linked("NO_REGIONS", [], home, "eu-south-2")
    assert core.linked("ALL_REGIONS", [], home, "ap-southeast-4")
    assert core.linked("SPECIFIED_REGIONS", ["eu-south-2"], home, "eu-south-2")
    assert not core.linked("SPECIFIED_REGIONS", ["eu-south-2"], home, "ap-southeast-4")
    assert not core.linked("ALL_REGIONS_EXCEPT_SPECIFIED", ["eu-south-2"], home, "eu-south-2")
    assert core.linked("ALL_REGIONS_EXCEPT_SPECIFIED", ["eu-south-2"], home, "ap-southeast-4")


@pytest.mark.parametrize(
    ("n", "label"),
    [
        (0, "INFORMATIONAL"),
        (1, "LOW"),
        (39, "LOW"),
        (40, "MEDIUM"),
        (69, "MEDIUM"),
        (70, "HIGH"),
        (89, "HIGH"),
        (90, "CRITICAL"),
        (None, "INFORMATIONAL"),
    ],
)
def test_severity_label(n, label):
    assert core.severity_label(n) == label


def _finding(**over) -> dict:
    f = {
        "SchemaVersion": "2018-10-08",
        "Id": "f1",
        "ProductArn": "arn:aws:securityhub:eu-west-1:1:product/1/default",
        "GeneratorId": "g",
        "AwsAccountId": "1",
        "CreatedAt": "2026-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z",
        "Severity": {"Normalized": 75},
        "Title": "t",
        "Description": "d",
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b"}],
    }
    f.update(over)
    return f


def test_import_checks_and_defaults():
    assert core.finding_problem(_finding(), "eu-west-1") is None
    assert "Title" in core.finding_problem(_finding(Title=""), "eu-west-1")
    assert "not a Security Hub product ARN of eu-south-2" in core.finding_problem(_finding(), "eu-south-2")
    stored = core.imported(_finding(Region="elsewhere"), "eu-west-1", None)
    assert stored["Region"] == "eu-west-1"
    assert stored["Severity"] == {"Normalized": 75, "Label": "HIGH"}
    assert stored["RecordState"] == "ACTIVE" and stored["Workflow"] == {"Status": "NEW"}
    assert (stored["CompanyName"], stored["ProductName"]) == ("1", "default")
    prev = {**stored, "Workflow": {"Status": "RESOLVED"}, "FirstObservedAt": "2025-01-01T00:00:00Z"}
    again = core.imported(_finding(), "eu-west-1", prev)
    assert again["Workflow"] == {"Status": "RESOLVED"} and again["FirstObservedAt"] == "2025-01-01T00:00:00Z"


def _f(value, comparison="EQUALS"):
    return [{"Value": value, "Comparison": comparison}]


def test_filters():
    f = core.imported(_finding(), "eu-west-1", None)
    assert core.matches(f, {})
    assert core.matches(f, {"Region": _f("eu-west-1"), "SeverityLabel": _f("HIGH")})
    assert not core.matches(f, {"Region": _f("eu-south-2")})
    # positives on one field are ORed
    assert core.matches(f, {"SeverityLabel": _f("LOW") + _f("HIGH")})
    # negatives are ANDed, and AND with positives
    assert not core.matches(f, {"WorkflowStatus": _f("NEW", "NOT_EQUALS")})
    assert not core.matches(f, {"SeverityLabel": _f("HIGH") + _f("HI", "PREFIX_NOT_EQUALS")})
    assert core.matches(f, {"ProductArn": _f("arn:aws:securityhub:eu-west-1", "PREFIX")})
    assert core.matches(f, {"ResourceType": _f("S3", "CONTAINS")})
    assert not core.matches(f, {"ResourceType": _f("S3", "NOT_CONTAINS")})
    assert core.matches(f, {"Id": _f("f1"), "RecordState": _f("ACTIVE")})
    assert core.matches(f, {"Id": []})  # an empty list filters nothing


def test_unsupported_filters_fail_loudly():
    with pytest.raises(core.InvalidInput, match="does not evaluate the GetFindings filter CreatedAt"):
        core.check_filters({"CreatedAt": [{"DateRange": {"Value": 1, "Unit": "DAYS"}}]})
    with pytest.raises(core.InvalidInput, match="Comparison"):
        core.check_filters({"Id": [{"Value": "x", "Comparison": "LIKE"}]})
    core.check_filters({"Id": _f("x"), "Region": []})
