"""Shapes of the state-change events AWS services put on their region's default event bus, and
the EventBridge rule metrics (``AWS/Events``) the emulator publishes.

* CodePipeline (``source: aws.codepipeline``), as the CodePipeline User Guide documents them
  ("Monitoring CodePipeline events"): ``CodePipeline Pipeline Execution State Change``,
  ``CodePipeline Stage Execution State Change``, ``CodePipeline Action Execution State Change``;
  ``resources`` is the pipeline's ARN, ``version`` in ``detail`` is the pipeline's version (a JSON
  number written ``1.0``, as AWS writes it), the action event's ``region`` is the action's region.
* CloudFormation (``source: aws.cloudformation``): ``CloudFormation Stack Status Change``,
  ``resources`` the stack id, ``detail`` ``stack-id``, ``status-details`` {``status``,
  ``status-reason``} and ``client-request-token``.
* ``RuleMetrics`` counts ``TriggeredRules`` / ``Invocations`` / ``FailedInvocations`` per rule and
  drains them as ``PutMetricData`` batches (dimension ``RuleName``, plus ``EventBusName`` for a
  rule of a custom bus, as AWS publishes them).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading

PIPELINE_SOURCE = "aws.codepipeline"
PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"
STACK_SOURCE = "aws.cloudformation"
STACK_STATUS = "CloudFormation Stack Status Change"

METRICS_NAMESPACE = "AWS/Events"
TRIGGERED_RULES = "TriggeredRules"
INVOCATIONS = "Invocations"
FAILED_INVOCATIONS = "FailedInvocations"
# PutMetricData takes at most 1000 MetricDatum per call
METRIC_BATCH = 1000

# CodePipeline API statuses (GetPipelineExecution / GetPipelineState) -> event states
_STATES = {
    "InProgress": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "Stopped": "STOPPED",
    "Stopping": "STOPPING",
    "Superseded": "SUPERSEDED",
    "Cancelled": "CANCELED",
    "Abandoned": "ABANDONED",
}


def event_state(status: str) -> str:
    """The event ``state`` of a CodePipeline API status (``Succeeded`` -> ``SUCCEEDED``)."""
    return _STATES.get(status) or status.upper()


def iso_millis(when: datetime.datetime) -> str:
    """``2023-10-26T13:49:39.208Z`` (the events' ``start-time``)."""
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclasses.dataclass(frozen=True)
class ExecutionRef:
    """What every CodePipeline event of one execution names."""

    pipeline: str
    arn: str
    execution_id: str
    version: int
    start_time: datetime.datetime
    trigger: dict | None = None  # the API's {"triggerType", "triggerDetail"}

    def common(self) -> dict:
        return {
            "pipeline": self.pipeline,
            "execution-id": self.execution_id,
            "start-time": iso_millis(self.start_time),
        }


def _tail(ref: ExecutionRef) -> dict:
    return {"version": float(ref.version), "pipeline-execution-attempt": 1.0}


def pipeline_detail(ref: ExecutionRef, status: str) -> dict:
    """``detail`` of a Pipeline Execution State Change (``status`` as the API says it)."""
    detail = ref.common()
    if ref.trigger:
        trigger = {"trigger-type": ref.trigger.get("triggerType", "")}
        if ref.trigger.get("triggerDetail") is not None:
            trigger["trigger-detail"] = ref.trigger["triggerDetail"]
        detail["execution-trigger"] = trigger
    detail["state"] = event_state(status)
    detail.update(_tail(ref))
    return detail


def stage_detail(ref: ExecutionRef, stage: str, status: str) -> dict:
    """``detail`` of a Stage Execution State Change."""
    return {**ref.common(), "stage": stage, "state": event_state(status), **_tail(ref)}


def _artifacts(locations: dict | None) -> list:
    return [
        {"name": name, "s3location": {"bucket": loc["bucket"], "key": loc["key"]}}
        for name, loc in (locations or {}).items()
    ]


def action_detail(
    ref: ExecutionRef,
    stage: str,
    action: dict,
    region: str,
    action_execution_id: str,
    status: str,
    *,
    summary: str | None = None,
    external_id: str | None = None,
    error_code: str | None = None,
    outputs: dict | None = None,
) -> dict:
    """``detail`` of an Action Execution State Change: ``region`` is the action's region and
    ``type`` its ``actionTypeId``; a finished action carries ``execution-result`` (and, when it
    succeeded, its ``output-artifacts``)."""
    type_id = action.get("actionTypeId") or {}
    detail = {**ref.common(), "stage": stage}
    state = event_state(status)
    if state in ("SUCCEEDED", "FAILED"):
        result = {}
        if summary is not None:
            result["external-execution-summary"] = summary
        if external_id:
            result["external-execution-id"] = external_id
        if state == "FAILED":
            result["error-code"] = error_code or "JobFailed"
        detail["execution-result"] = result
        if state == "SUCCEEDED" and outputs:
            detail["output-artifacts"] = _artifacts(outputs)
    detail.update(
        {
            "action-execution-id": action_execution_id,
            "action": action.get("name", ""),
            "state": state,
            "region": region,
            "type": {
                "owner": type_id.get("owner", ""),
                "provider": type_id.get("provider", ""),
                "category": type_id.get("category", ""),
                "version": type_id.get("version", ""),
            },
        }
    )
    detail.update(_tail(ref))
    return detail


def stack_detail(stack_id: str, status: str, reason: str | None, token: str | None) -> dict:
    """``detail`` of a CloudFormation Stack Status Change."""
    return {
        "stack-id": stack_id,
        "status-details": {"status": status, "status-reason": reason or ""},
        "client-request-token": token or "",
    }


def entry(source: str, detail_type: str, resources: list, detail: dict, when: datetime.datetime) -> dict:
    """The ``PutEvents`` entry of a service event (the default bus of the caller's region)."""
    return {
        "Source": source,
        "DetailType": detail_type,
        "Resources": list(resources),
        "Detail": json.dumps(detail),
        "Time": when,
    }


def pipeline_entry(ref: ExecutionRef, detail_type: str, detail: dict, when: datetime.datetime) -> dict:
    return entry(PIPELINE_SOURCE, detail_type, [ref.arn], detail, when)


def stack_entry(stack_id: str, detail: dict, when: datetime.datetime) -> dict:
    return entry(STACK_SOURCE, STACK_STATUS, [stack_id], detail, when)


# ---------------------------------------------------------------------- rule metrics


def rule_dimensions(rule_name: str, bus_name: str | None) -> list:
    """``RuleName`` for a rule of the default bus; ``EventBusName`` and ``RuleName`` otherwise."""
    if bus_name and bus_name != "default":
        return [{"Name": "EventBusName", "Value": bus_name}, {"Name": "RuleName", "Value": rule_name}]
    return [{"Name": "RuleName", "Value": rule_name}]


class RuleMetrics:
    """Counts per (account, region, bus, rule, metric), drained into ``PutMetricData`` calls.

    ``add`` is a dict update under a lock (cheap enough for EventBridge's rule threads); ``drain``
    empties the counters and returns ``(account, region, metric_data)`` batches, each datum one
    aggregated ``StatisticSet``-like sample: ``Values [1]`` with ``Counts [n]``, so ``Sum`` and
    ``SampleCount`` are both the number of occurrences, as if each had been put alone.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[tuple, int] = {}

    def add(self, account: str, region: str, bus: str | None, rule: str, metric: str, n: int = 1) -> None:
        key = (account, region, bus or "default", rule, metric)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def pending(self) -> bool:
        return bool(self._counts)

    def drain(self, when: datetime.datetime) -> list[tuple[str, str, list]]:
        with self._lock:
            counts, self._counts = self._counts, {}
        per_place: dict[tuple[str, str], list] = {}
        for (account, region, bus, rule, metric), n in sorted(counts.items()):
            per_place.setdefault((account, region), []).append(
                {
                    "MetricName": metric,
                    "Dimensions": rule_dimensions(rule, bus),
                    "Timestamp": when,
                    "Values": [1.0],
                    "Counts": [float(n)],
                    "Unit": "Count",
                }
            )
        batches = []
        for (account, region), data in per_place.items():
            for i in range(0, len(data), METRIC_BATCH):
                batches.append((account, region, data[i : i + METRIC_BATCH]))
        return batches
