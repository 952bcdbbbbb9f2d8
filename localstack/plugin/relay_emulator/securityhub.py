"""Security Hub (not in LocalStack's community edition; moto's backend has no standards or
finding aggregators): the hub, standards subscriptions, the cross-region finding aggregator,
findings (import, query, workflow updates) and the hub's tags, per account and region in a
LocalStack store. Pure logic (catalogue, ARNs, linking, filters) in ``core/securityhub.py``.

Aggregation is real: GetFindings in the aggregation Region also returns the findings imported in
the Regions the aggregator links. Nothing checks resources or generates findings from controls:
standards are subscriptions only (status ``READY`` at once).
"""

from __future__ import annotations

import base64
import threading
import uuid

from localstack.aws.api import RequestContext, handler
from localstack.services.stores import AccountRegionBundle, BaseStore, CrossRegionAttribute, LocalAttribute

from relay_emulator.common import StoreBacked, err, now
from relay_emulator.core import securityhub as core


class SecurityHubStore(BaseStore):
    """One account and region: the hub (None while disabled), standards subscriptions by their
    ARN, findings by (ProductArn, Id), the hub's tags; the account's aggregator (one per account)."""

    hub: dict | None = LocalAttribute(default=lambda: None)
    subscriptions: dict[str, dict] = LocalAttribute(default=dict)
    findings: dict[tuple[str, str], dict] = LocalAttribute(default=dict)
    tags: dict[str, str] = LocalAttribute(default=dict)
    aggregators: dict[str, dict] = CrossRegionAttribute(default=dict)


securityhub_stores = AccountRegionBundle("securityhub", SecurityHubStore)


def _iso(value=None) -> str:
    return (value or now()).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _linked_regions(request: dict) -> list[str]:
    """The regions a Create/UpdateFindingAggregator request links, checked as AWS does."""
    try:
        return core.check_linking(request.get("RegionLinkingMode"), request.get("Regions"))
    except core.InvalidInput as e:
        raise _invalid_input(e) from None


def _invalid_input(e: core.InvalidInput):
    return err("InvalidInputException", str(e))


class SecurityHubProvider(StoreBacked):
    service = "securityhub"
    version = "2018-10-26"
    stores = securityhub_stores

    def __init__(self):
        self._lock = threading.RLock()

    # --- the hub -----------------------------------------------------------------------------

    def _enabled(self, context: RequestContext):
        store = self.store(context)
        if store.hub is None:
            raise err(
                "InvalidAccessException",
                f"Account {context.account_id} is not subscribed to AWS Security Hub in {context.region}",
                401,
            )
        return store

    @handler("EnableSecurityHub", expand=False)
    def enable_security_hub(self, context: RequestContext, request: dict) -> dict:
        generator = request.get("ControlFindingGenerator") or "SECURITY_CONTROL"
        if generator not in ("SECURITY_CONTROL", "STANDARD_CONTROL"):
            raise err("InvalidInputException", f"ControlFindingGenerator {generator} is not valid")
        with self._lock:
            store = self.store(context)
            if store.hub is not None:
                raise err("ResourceConflictException", "Account is already subscribed to Security Hub", 409)
            store.hub = {
                "HubArn": core.hub_arn(context.region, context.account_id),
                "SubscribedAt": _iso(),
                "AutoEnableControls": True,
                "ControlFindingGenerator": generator,
            }
            store.tags = dict(request.get("Tags") or {})
            if request.get("EnableDefaultStandards", True):
                for arn in core.default_standards(context.region):
                    self._subscribe(context, store, arn, {})
        return {}

    @handler("DescribeHub", expand=False)
    def describe_hub(self, context: RequestContext, request: dict) -> dict:
        store = self._enabled(context)
        arn = request.get("HubArn")
        # Terraform without an account id (skip_requesting_account_id) sends arn:...:<region>::hub/default
        if arn and arn not in (store.hub["HubArn"], core.hub_arn(context.region, "")):
            raise err("InvalidInputException", f"HubArn {arn} is not the hub of this account and Region")
        return dict(store.hub)

    @handler("UpdateSecurityHubConfiguration", expand=False)
    def update_security_hub_configuration(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            store = self._enabled(context)
            if request.get("AutoEnableControls") is not None:
                store.hub["AutoEnableControls"] = bool(request["AutoEnableControls"])
            generator = request.get("ControlFindingGenerator")
            if generator is not None:
                if generator not in ("SECURITY_CONTROL", "STANDARD_CONTROL"):
                    raise err("InvalidInputException", f"ControlFindingGenerator {generator} is not valid")
                store.hub["ControlFindingGenerator"] = generator
        return {}

    @handler("DisableSecurityHub", expand=False)
    def disable_security_hub(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            store = self._enabled(context)
            here = [a for a in store.aggregators.values() if a["FindingAggregationRegion"] == context.region]
            if here:
                raise err(
                    "InvalidInputException",
                    f"Security Hub cannot be disabled in {context.region}: it is the aggregation Region of "
                    f"{here[0]['FindingAggregatorArn']}; delete the finding aggregator first",
                )
            store.hub = None
            store.subscriptions.clear()
            store.findings.clear()
            store.tags.clear()
        return {}

    # --- standards -----------------------------------------------------------------------------

    @handler("DescribeStandards", expand=False)
    def describe_standards(self, context: RequestContext, request: dict) -> dict:
        return {"Standards": core.describe_standards(context.region)}

    def _subscribe(self, context, store, standards_arn: str, inputs: dict) -> dict:
        arn = core.subscription_arn(standards_arn, context.region, context.account_id)
        sub = {
            "StandardsSubscriptionArn": arn,
            "StandardsArn": standards_arn,
            "StandardsInput": dict(inputs or {}),
            "StandardsStatus": "READY",
            "StandardsControlsUpdatable": "READY_FOR_UPDATES",
        }
        store.subscriptions[arn] = sub
        return sub

    @handler("BatchEnableStandards", expand=False)
    def batch_enable_standards(self, context: RequestContext, request: dict) -> dict:
        requests = request.get("StandardsSubscriptionRequests") or []
        if not requests:
            raise err("InvalidInputException", "StandardsSubscriptionRequests must name at least one standard")
        with self._lock:
            store = self._enabled(context)
            try:  # all or nothing: check every ARN first
                for r in requests:
                    core.subscription_arn(r.get("StandardsArn", ""), context.region, context.account_id)
            except core.InvalidInput as e:
                raise _invalid_input(e) from None
            subs = [self._subscribe(context, store, r["StandardsArn"], r.get("StandardsInput")) for r in requests]
        return {"StandardsSubscriptions": [dict(s) for s in subs]}

    @handler("BatchDisableStandards", expand=False)
    def batch_disable_standards(self, context: RequestContext, request: dict) -> dict:
        arns = request.get("StandardsSubscriptionArns") or []
        with self._lock:
            store = self._enabled(context)
            unknown = [a for a in arns if a not in store.subscriptions]
            if unknown:
                raise err("InvalidInputException", f"No enabled standards subscription {', '.join(unknown)}")
            result = []
            for arn in arns:
                sub = store.subscriptions.pop(arn)
                result.append({**sub, "StandardsStatus": "DELETING"})
        return {"StandardsSubscriptions": result}

    @handler("GetEnabledStandards", expand=False)
    def get_enabled_standards(self, context: RequestContext, request: dict) -> dict:
        store = self._enabled(context)
        wanted = request.get("StandardsSubscriptionArns")
        subs = [s for a, s in store.subscriptions.items() if not wanted or a in wanted]
        return self._page([dict(s) for s in subs], request, "StandardsSubscriptions")

    # --- finding aggregator -------------------------------------------------------------------

    def _aggregator(self, context: RequestContext, arn: str) -> dict:
        found = self.store(context).aggregators.get(arn)
        if found is None:
            raise err("ResourceNotFoundException", f"Finding aggregator {arn} does not exist", 404)
        return found

    @handler("CreateFindingAggregator", expand=False)
    def create_finding_aggregator(self, context: RequestContext, request: dict) -> dict:
        regions = _linked_regions(request)
        with self._lock:
            store = self._enabled(context)
            if store.aggregators:
                existing = next(iter(store.aggregators.values()))
                raise err(
                    "ResourceConflictException",
                    f"A finding aggregator already exists for account {context.account_id}: "
                    f"{existing['FindingAggregatorArn']} (aggregation Region {existing['FindingAggregationRegion']})",
                    409,
                )
            arn = f"arn:aws:securityhub:{context.region}:{context.account_id}:finding-aggregator/{uuid.uuid4()}"
            aggregator = {
                "FindingAggregatorArn": arn,
                "FindingAggregationRegion": context.region,
                "RegionLinkingMode": request["RegionLinkingMode"],
                "Regions": regions,
            }
            store.aggregators[arn] = aggregator
        return dict(aggregator)

    @handler("GetFindingAggregator", expand=False)
    def get_finding_aggregator(self, context: RequestContext, request: dict) -> dict:
        self._enabled(context)
        return dict(self._aggregator(context, request.get("FindingAggregatorArn", "")))

    @handler("UpdateFindingAggregator", expand=False)
    def update_finding_aggregator(self, context: RequestContext, request: dict) -> dict:
        regions = _linked_regions(request)
        with self._lock:
            self._enabled(context)
            aggregator = self._aggregator(context, request.get("FindingAggregatorArn", ""))
            self._in_aggregation_region(context, aggregator, "updated")
            aggregator["RegionLinkingMode"] = request["RegionLinkingMode"]
            aggregator["Regions"] = regions
        return dict(aggregator)

    @handler("DeleteFindingAggregator", expand=False)
    def delete_finding_aggregator(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            self._enabled(context)
            aggregator = self._aggregator(context, request.get("FindingAggregatorArn", ""))
            self._in_aggregation_region(context, aggregator, "deleted")
            del self.store(context).aggregators[aggregator["FindingAggregatorArn"]]
        return {}

    @staticmethod
    def _in_aggregation_region(context, aggregator: dict, what: str) -> None:
        if context.region != aggregator["FindingAggregationRegion"]:
            raise err(
                "InvalidInputException",
                f"Finding aggregator {aggregator['FindingAggregatorArn']} can only be {what} from its "
                f"aggregation Region {aggregator['FindingAggregationRegion']}",
            )

    @handler("ListFindingAggregators", expand=False)
    def list_finding_aggregators(self, context: RequestContext, request: dict) -> dict:
        self._enabled(context)
        items = [{"FindingAggregatorArn": a} for a in self.store(context).aggregators]
        return self._page(items, request, "FindingAggregators")

    # --- findings ------------------------------------------------------------------------------

    @handler("BatchImportFindings", expand=False)
    def batch_import_findings(self, context: RequestContext, request: dict) -> dict:
        findings = request.get("Findings") or []
        if not findings or len(findings) > 100:
            raise err("InvalidInputException", "Findings must hold 1 to 100 findings")
        failed = []
        with self._lock:
            store = self._enabled(context)
            for finding in findings:
                problem = core.finding_problem(finding, context.region)
                if problem:
                    failed.append({"Id": finding.get("Id", ""), "ErrorCode": "InvalidInput", "ErrorMessage": problem})
                    continue
                key = (finding["ProductArn"], finding["Id"])
                store.findings[key] = core.imported(finding, context.region, store.findings.get(key))
        return {"FailedCount": len(failed), "SuccessCount": len(findings) - len(failed), "FailedFindings": failed}

    def _visible_stores(self, context: RequestContext) -> list[SecurityHubStore]:
        """This Region's store, plus in the aggregation Region those of the Regions it links."""
        home = self.store(context)
        stores = [home]
        for aggregator in home.aggregators.values():
            if aggregator["FindingAggregationRegion"] != context.region:
                continue
            for region, store in self.stores[context.account_id].items():
                if region != context.region and core.linked(
                    aggregator["RegionLinkingMode"], aggregator["Regions"], context.region, region
                ):
                    stores.append(store)
        return stores

    @handler("GetFindings", expand=False)
    def get_findings(self, context: RequestContext, request: dict) -> dict:
        filters = request.get("Filters") or {}
        try:
            core.check_filters(filters)
        except core.InvalidInput as e:
            raise _invalid_input(e) from None
        with self._lock:
            self._enabled(context)
            found = [
                dict(f) for s in self._visible_stores(context) for f in s.findings.values() if core.matches(f, filters)
            ]
        found.sort(key=lambda f: f.get("UpdatedAt") or "", reverse=True)
        return self._page(found, request, "Findings")

    @handler("BatchUpdateFindings", expand=False)
    def batch_update_findings(self, context: RequestContext, request: dict) -> dict:
        processed, unprocessed = [], []
        with self._lock:
            self._enabled(context)
            stores = self._visible_stores(context)
            for ident in request.get("FindingIdentifiers") or []:
                key = (ident.get("ProductArn"), ident.get("Id"))
                finding = next((s.findings[key] for s in stores if key in s.findings), None)
                if finding is None:
                    missing = {"ErrorCode": "FindingNotFound", "ErrorMessage": "Finding Not Found"}
                    unprocessed.append({"FindingIdentifier": ident, **missing})
                    continue
                if request.get("Workflow", {}).get("Status"):
                    finding["Workflow"] = {"Status": request["Workflow"]["Status"]}
                if request.get("Severity", {}).get("Label"):
                    finding["Severity"] = {**finding.get("Severity", {}), **request["Severity"]}
                for name in ("Note", "VerificationState", "Confidence", "Criticality", "Types", "UserDefinedFields"):
                    if request.get(name) is not None:
                        finding[name] = request[name]
                finding["UpdatedAt"] = _iso()
                processed.append(ident)
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}

    # --- tags (the hub) -----------------------------------------------------------------------

    def _tagged(self, context: RequestContext, arn: str) -> SecurityHubStore:
        store = self.store(context)
        if store.hub is None or store.hub["HubArn"] != arn:
            raise err("ResourceNotFoundException", f"Resource {arn} does not exist", 404)
        return store

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            self._tagged(context, request.get("ResourceArn", "")).tags.update(request.get("Tags") or {})
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        with self._lock:
            store = self._tagged(context, request.get("ResourceArn", ""))
            for key in request.get("TagKeys") or []:
                store.tags.pop(key, None)
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        return {"Tags": dict(self._tagged(context, request.get("ResourceArn", "")).tags)}

    # --- paging --------------------------------------------------------------------------------

    @staticmethod
    def _page(items: list, request: dict, member: str) -> dict:
        try:
            start = int(base64.b64decode(request["NextToken"]).decode()) if request.get("NextToken") else 0
        except ValueError:
            raise err("InvalidInputException", "NextToken is not valid") from None
        size = int(request.get("MaxResults") or 100)
        page = items[start : start + size]
        result = {member: page}
        if start + size < len(items):
            result["NextToken"] = base64.b64encode(str(start + size).encode()).decode()
        return result
