"""Security Hub's pure logic (standard library only): the standards catalogue and its ARNs, the
regions a finding aggregator links, finding filters and severity labels.

Used by ``relay_emulator.securityhub`` (the provider); unit-tested without an emulator.
"""

from __future__ import annotations

from collections.abc import Iterable

FSBP = "aws-foundational-security-best-practices/v/1.0.0"


class InvalidInput(ValueError):
    """A request AWS refuses with ``InvalidInputException``; the message is AWS-like."""


# (standards path, name, description, enabled by default, regional standards ARN). CIS 1.2.0 is
# the one standard whose ARN is a global "ruleset" ARN, as in AWS.
_STANDARDS = (
    (FSBP, "AWS Foundational Security Best Practices v1.0.0", "AWS Foundational Security Best Practices", True, True),
    ("cis-aws-foundations-benchmark/v/1.2.0", "CIS AWS Foundations Benchmark v1.2.0", "CIS 1.2.0", True, False),
    ("cis-aws-foundations-benchmark/v/1.4.0", "CIS AWS Foundations Benchmark v1.4.0", "CIS 1.4.0", False, True),
    ("pci-dss/v/3.2.1", "PCI DSS v3.2.1", "PCI DSS 3.2.1", False, True),
    ("nist-800-53/v/5.0.0", "NIST Special Publication 800-53 Revision 5", "NIST SP 800-53 Rev. 5", False, True),
)


def standards_arn(path: str, region: str) -> str:
    """The StandardsArn of a standard (``path`` as in ``FSBP``) in ``region``."""
    for p, _name, _desc, _default, regional in _STANDARDS:
        if p == path:
            return f"arn:aws:securityhub:{region}::standards/{p}" if regional else f"arn:aws:securityhub:::ruleset/{p}"
    raise KeyError(path)


def describe_standards(region: str) -> list[dict]:
    """DescribeStandards' ``Standards`` in ``region``."""
    return [
        {
            "StandardsArn": standards_arn(path, region),
            "Name": name,
            "Description": desc,
            "EnabledByDefault": default,
            "StandardsManagedBy": {"Company": "AWS", "Product": "Security Hub"},
        }
        for path, name, desc, default, _regional in _STANDARDS
    ]


def default_standards(region: str) -> list[str]:
    """The StandardsArns EnableSecurityHub enables unless EnableDefaultStandards is false."""
    return [standards_arn(path, region) for path, _n, _d, default, _r in _STANDARDS if default]


def subscription_arn(standards: str, region: str, account: str) -> str:
    """The StandardsSubscriptionArn for a StandardsArn; InvalidInput naming the valid ARNs if it is
    not one of this region's standards."""
    valid = [standards_arn(path, region) for path, *_ in _STANDARDS]
    if standards not in valid:
        raise InvalidInput(
            f"StandardsArn {standards} is not a valid standard in {region}; valid standards: {', '.join(valid)}"
        )
    path = standards.split("/", 1)[1]
    return f"arn:aws:securityhub:{region}:{account}:subscription/{path}"


def hub_arn(region: str, account: str) -> str:
    return f"arn:aws:securityhub:{region}:{account}:hub/default"


LINKING_MODES = ("ALL_REGIONS", "ALL_REGIONS_EXCEPT_SPECIFIED", "SPECIFIED_REGIONS", "NO_REGIONS")


def check_linking(mode: str | None, regions: list[str] | None) -> list[str]:
    """Validate RegionLinkingMode and Regions as CreateFindingAggregator / UpdateFindingAggregator
    do; return the Regions to keep."""
    if mode not in LINKING_MODES:
        raise InvalidInput(f"RegionLinkingMode must be one of {', '.join(LINKING_MODES)}, not {mode!r}")
    regions = list(regions or [])
    if mode in ("ALL_REGIONS", "NO_REGIONS") and regions:
        raise InvalidInput(f"Regions must be empty when RegionLinkingMode is {mode}")
    if mode in ("ALL_REGIONS_EXCEPT_SPECIFIED", "SPECIFIED_REGIONS") and not regions:
        raise InvalidInput(f"Regions must list at least one Region when RegionLinkingMode is {mode}")
    return regions


def linked(mode: str, regions: Iterable[str], home: str, region: str) -> bool:
    """Whether findings of ``region`` are aggregated into the aggregation Region ``home``."""
    if region == home:
        return True
    if mode == "ALL_REGIONS":
        return True
    if mode == "ALL_REGIONS_EXCEPT_SPECIFIED":
        return region not in set(regions)
    if mode == "SPECIFIED_REGIONS":
        return region in set(regions)
    return False  # NO_REGIONS


def severity_label(normalized: int | None) -> str:
    """Severity.Label from Severity.Normalized, as Security Hub maps it."""
    n = int(normalized or 0)
    if n == 0:
        return "INFORMATIONAL"
    if n < 40:
        return "LOW"
    if n < 70:
        return "MEDIUM"
    if n < 90:
        return "HIGH"
    return "CRITICAL"


# GetFindings filters the emulator evaluates: filter name -> the finding's value(s)
def _resources(attr: str):
    return lambda f: [r.get(attr) for r in f.get("Resources") or []]


_STRING_FIELDS = {
    "Id": lambda f: f.get("Id"),
    "ProductArn": lambda f: f.get("ProductArn"),
    "Region": lambda f: f.get("Region"),
    "AwsAccountId": lambda f: f.get("AwsAccountId"),
    "GeneratorId": lambda f: f.get("GeneratorId"),
    "Title": lambda f: f.get("Title"),
    "ProductName": lambda f: f.get("ProductName"),
    "CompanyName": lambda f: f.get("CompanyName"),
    "SeverityLabel": lambda f: (f.get("Severity") or {}).get("Label"),
    "WorkflowStatus": lambda f: (f.get("Workflow") or {}).get("Status"),
    "WorkflowState": lambda f: f.get("WorkflowState"),
    "RecordState": lambda f: f.get("RecordState"),
    "ComplianceStatus": lambda f: (f.get("Compliance") or {}).get("Status"),
    "Type": lambda f: f.get("Types") or [],
    "ResourceType": _resources("Type"),
    "ResourceId": _resources("Id"),
    "ResourceRegion": _resources("Region"),
}
_POSITIVE = {"EQUALS", "PREFIX", "CONTAINS"}
_NEGATIVE = {"NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS"}


def supported_filters() -> list[str]:
    return sorted(_STRING_FIELDS)


def check_filters(filters: dict | None) -> None:
    """InvalidInput for a filter the emulator does not evaluate (never a silent match-all)."""
    for name, conditions in (filters or {}).items():
        if not conditions:
            continue
        if name not in _STRING_FIELDS:
            raise InvalidInput(
                f"the emulator does not evaluate the GetFindings filter {name}; "
                f"supported: {', '.join(supported_filters())}"
            )
        for c in conditions:
            if c.get("Comparison") not in _POSITIVE | _NEGATIVE:
                raise InvalidInput(f"filter {name}: Comparison must be one of {sorted(_POSITIVE | _NEGATIVE)}")


def _compare(value: str, comparison: str, wanted: str) -> bool:
    if comparison in ("EQUALS", "NOT_EQUALS"):
        return value == wanted
    if comparison in ("PREFIX", "PREFIX_NOT_EQUALS"):
        return value.startswith(wanted)
    return wanted in value  # CONTAINS / NOT_CONTAINS


def matches(finding: dict, filters: dict | None) -> bool:
    """Security Hub's rules: filters on different fields are ANDed; on one field, the positive
    comparisons (EQUALS, PREFIX, CONTAINS) are ORed, the negative ones ANDed, and both groups must
    hold. A list-valued field matches if any of its values does (negatives: none of them)."""
    for name, conditions in (filters or {}).items():
        if not conditions:
            continue
        raw = _STRING_FIELDS[name](finding)
        values = [v for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
        positive = [c for c in conditions if c["Comparison"] in _POSITIVE]
        negative = [c for c in conditions if c["Comparison"] in _NEGATIVE]
        if positive and not any(_compare(v, c["Comparison"], c["Value"]) for c in positive for v in values):
            return False
        if any(_compare(v, c["Comparison"], c["Value"]) for c in negative for v in values):
            return False
    return True


_REQUIRED = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
)


def finding_problem(finding: dict, region: str) -> str | None:
    """Why BatchImportFindings refuses this finding (None if it is accepted)."""
    missing = [k for k in _REQUIRED if not finding.get(k)]
    if missing:
        return f"missing required attributes: {', '.join(missing)}"
    parts = str(finding["ProductArn"]).split(":")
    if len(parts) < 6 or parts[2] != "securityhub" or parts[3] != region:
        return f"ProductArn {finding['ProductArn']} is not a Security Hub product ARN of {region}"
    return None


def imported(finding: dict, region: str, previous: dict | None) -> dict:
    """The stored finding: Region set to the import Region, severity label, record and workflow
    state defaults; an update keeps the workflow and first-observed values of the previous one."""
    stored = dict(finding)
    stored["Region"] = region
    severity = dict(stored.get("Severity") or {})
    if not severity.get("Label"):
        severity["Label"] = severity_label(severity.get("Normalized"))
    stored["Severity"] = severity
    stored.setdefault("RecordState", "ACTIVE")
    base = previous or {}
    stored.setdefault("Workflow", base.get("Workflow") or {"Status": "NEW"})
    stored.setdefault("WorkflowState", base.get("WorkflowState") or "NEW")
    if base.get("FirstObservedAt"):
        stored.setdefault("FirstObservedAt", base["FirstObservedAt"])
    name = stored["ProductArn"].rsplit("/", 2)
    stored.setdefault("CompanyName", name[-2] if len(name) == 3 else "Personal")
    stored.setdefault("ProductName", name[-1] if len(name) == 3 else "Default")
    return stored
