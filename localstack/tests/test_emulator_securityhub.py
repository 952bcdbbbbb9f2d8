"""Security Hub on the emulator (relay_emulator.securityhub): the hub, the AWS Foundational
Security Best Practices standard, the cross-region finding aggregator (findings imported in a
linked region are returned by GetFindings in the aggregation region, not those of an unlinked
one), filters, AWS's errors. Each test works in an account of its own (a 12-digit access key)."""

from __future__ import annotations

import datetime
import random

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import HOME, TARGET_A, TARGET_B, client

pytestmark = pytest.mark.emulator

FSBP = "aws-foundational-security-best-practices/v/1.0.0"


@pytest.fixture
def account(res):
    """A fresh account; every hub it enables is disabled at teardown (aggregator first)."""
    acct = f"{random.randrange(10**11, 10**12)}"  # noqa: S311 - a test account id

    def cleanup():
        for region in (HOME, TARGET_A, TARGET_B):
            sh = sh_client(acct, region)
            try:
                for a in sh.list_finding_aggregators()["FindingAggregators"]:
                    sh.delete_finding_aggregator(FindingAggregatorArn=a["FindingAggregatorArn"])
            except ClientError:
                pass
        for region in (HOME, TARGET_A, TARGET_B):
            try:
                sh_client(acct, region).disable_security_hub()
            except ClientError:
                pass

    res.defer(cleanup)
    return acct


def sh_client(account: str, region: str):
    return client("securityhub", region, aws_access_key_id=account)


def _error(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


def _finding(account: str, region: str, fid: str, normalized: int = 75) -> dict:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {
        "SchemaVersion": "2018-10-08",
        "Id": fid,
        "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": "relay-test",
        "AwsAccountId": account,
        "Types": ["Software and Configuration Checks"],
        "CreatedAt": now,
        "UpdatedAt": now,
        "Severity": {"Normalized": normalized},
        "Title": f"finding {fid}",
        "Description": "test",
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::relay-release"}],
    }


def test_hub_standards_and_errors(account):
    sh = sh_client(account, HOME)
    # not enabled: InvalidAccessException, as AWS
    assert _error(sh.describe_hub)["Code"] == "InvalidAccessException"
    assert _error(sh.get_enabled_standards)["Code"] == "InvalidAccessException"

    sh.enable_security_hub(EnableDefaultStandards=False, Tags={"app": "relay"})
    hub = sh.describe_hub()
    assert hub["HubArn"] == f"arn:aws:securityhub:{HOME}:{account}:hub/default"
    assert hub["ControlFindingGenerator"] == "SECURITY_CONTROL" and hub["AutoEnableControls"] is True
    assert sh.list_tags_for_resource(ResourceArn=hub["HubArn"])["Tags"] == {"app": "relay"}
    assert sh.get_enabled_standards()["StandardsSubscriptions"] == []
    assert _error(sh.enable_security_hub)["Code"] == "ResourceConflictException"

    sh.update_security_hub_configuration(AutoEnableControls=False, ControlFindingGenerator="STANDARD_CONTROL")
    hub = sh.describe_hub()
    assert (hub["AutoEnableControls"], hub["ControlFindingGenerator"]) == (False, "STANDARD_CONTROL")

    standards_arn = f"arn:aws:securityhub:{HOME}::standards/{FSBP}"
    assert standards_arn in [s["StandardsArn"] for s in sh.describe_standards()["Standards"]]
    sub = sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": standards_arn}])
    (enabled,) = sub["StandardsSubscriptions"]
    sub_arn = f"arn:aws:securityhub:{HOME}:{account}:subscription/{FSBP}"
    assert enabled["StandardsSubscriptionArn"] == sub_arn and enabled["StandardsStatus"] == "READY"
    got = sh.get_enabled_standards(StandardsSubscriptionArns=[sub_arn])["StandardsSubscriptions"]
    assert [s["StandardsArn"] for s in got] == [standards_arn]

    bad = _error(lambda: sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": "arn:x"}]))
    assert bad["Code"] == "InvalidInputException" and standards_arn in bad["Message"]

    disabled = sh.batch_disable_standards(StandardsSubscriptionArns=[sub_arn])["StandardsSubscriptions"]
    assert disabled[0]["StandardsStatus"] == "DELETING"
    assert sh.get_enabled_standards()["StandardsSubscriptions"] == []

    sh.disable_security_hub()
    assert _error(sh.describe_hub)["Code"] == "InvalidAccessException"
    # enabled with the default standards: FSBP and CIS 1.2.0
    sh.enable_security_hub()
    arns = {s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]}
    assert arns == {standards_arn, "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"}


def test_finding_aggregation_into_home(account):
    hubs = {r: sh_client(account, r) for r in (HOME, TARGET_A, TARGET_B)}
    home = hubs[HOME]
    # the aggregator needs the hub in its region
    assert _error(lambda: home.create_finding_aggregator(RegionLinkingMode="ALL_REGIONS"))["Code"] == (
        "InvalidAccessException"
    )
    for sh in hubs.values():
        sh.enable_security_hub(EnableDefaultStandards=False)
    bad = _error(lambda: home.create_finding_aggregator(RegionLinkingMode="SPECIFIED_REGIONS"))
    assert bad["Code"] == "InvalidInputException"
    agg = home.create_finding_aggregator(RegionLinkingMode="SPECIFIED_REGIONS", Regions=[TARGET_A])
    arn = agg["FindingAggregatorArn"]
    assert arn.startswith(f"arn:aws:securityhub:{HOME}:{account}:finding-aggregator/")
    assert (agg["FindingAggregationRegion"], agg["Regions"]) == (HOME, [TARGET_A])
    # one per account, in any region
    dup = _error(lambda: hubs[TARGET_B].create_finding_aggregator(RegionLinkingMode="ALL_REGIONS"))
    assert dup["Code"] == "ResourceConflictException"
    assert home.list_finding_aggregators()["FindingAggregators"] == [{"FindingAggregatorArn": arn}]
    assert home.get_finding_aggregator(FindingAggregatorArn=arn)["RegionLinkingMode"] == "SPECIFIED_REGIONS"
    # the aggregation region's hub cannot be disabled while the aggregator exists
    assert _error(home.disable_security_hub)["Code"] == "InvalidInputException"

    for region, sh in hubs.items():
        out = sh.batch_import_findings(Findings=[_finding(account, region, f"f-{region}")])
        assert (out["SuccessCount"], out["FailedCount"]) == (1, 0)
    # a product ARN of another region is refused per finding
    out = home.batch_import_findings(Findings=[_finding(account, TARGET_A, "wrong-region")])
    assert out["FailedCount"] == 1 and out["FailedFindings"][0]["Id"] == "wrong-region"

    def ids(sh, **filters):
        return sorted(f["Id"] for f in sh.get_findings(Filters=filters)["Findings"])

    assert ids(home) == sorted([f"f-{HOME}", f"f-{TARGET_A}"])  # TARGET_B is not linked
    assert ids(hubs[TARGET_A]) == [f"f-{TARGET_A}"]  # only the aggregation region aggregates
    eq = [{"Value": TARGET_A, "Comparison": "EQUALS"}]
    assert ids(home, Region=eq) == [f"f-{TARGET_A}"]
    assert ids(
        home,
        SeverityLabel=[{"Value": "HIGH", "Comparison": "EQUALS"}],
        RecordState=[{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    ) == ids(home)
    product = f"arn:aws:securityhub:{TARGET_A}:{account}:product/{account}/default"
    assert ids(home, ProductArn=[{"Value": product, "Comparison": "EQUALS"}]) == [f"f-{TARGET_A}"]

    # workflow updates of a linked region's finding from the aggregation region
    done = home.batch_update_findings(
        FindingIdentifiers=[{"Id": f"f-{TARGET_A}", "ProductArn": product}], Workflow={"Status": "RESOLVED"}
    )
    assert done["UnprocessedFindings"] == []
    assert ids(home, WorkflowStatus=[{"Value": "RESOLVED", "Comparison": "EQUALS"}]) == [f"f-{TARGET_A}"]
    assert ids(hubs[TARGET_A], WorkflowStatus=[{"Value": "NEW", "Comparison": "EQUALS"}]) == []

    # relinked: all regions except TARGET_A
    home.update_finding_aggregator(
        FindingAggregatorArn=arn, RegionLinkingMode="ALL_REGIONS_EXCEPT_SPECIFIED", Regions=[TARGET_A]
    )
    assert ids(home) == sorted([f"f-{HOME}", f"f-{TARGET_B}"])
    unsupported = _error(
        lambda: home.get_findings(Filters={"CreatedAt": [{"DateRange": {"Value": 1, "Unit": "DAYS"}}]})
    )
    assert unsupported["Code"] == "InvalidInputException" and "CreatedAt" in unsupported["Message"]

    home.delete_finding_aggregator(FindingAggregatorArn=arn)
    assert ids(home) == [f"f-{HOME}"]
    assert home.list_finding_aggregators()["FindingAggregators"] == []
    home.disable_security_hub()
