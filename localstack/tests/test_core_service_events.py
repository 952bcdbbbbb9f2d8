"""Shapes of the service events (CodePipeline, CloudFormation) and the EventBridge rule metrics
(core/service_events.py): no emulator needed."""

from __future__ import annotations

import datetime
import json

from relay_emulator.core import service_events as se

START = datetime.datetime(2026, 11, 28, 7, 20, 13, 208000, tzinfo=datetime.UTC)
REF = se.ExecutionRef(
    pipeline="relay-prod",
    arn="arn:aws:codepipeline:eu-south-2:000000000000:relay-prod",
    execution_id="e-1",
    version=3,
    start_time=START,
    trigger={"triggerType": "CloudWatchEvent", "triggerDetail": "arn:aws:events:eu-south-2:000000000000:rule/r"},
)
DEPLOY = {
    "name": "Deploy",
    "region": "eu-central-1",
    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
}


def test_states_are_the_events_upper_case_words():
    assert [se.event_state(s) for s in ("InProgress", "Succeeded", "Failed", "Stopped", "Superseded")] == [
        "STARTED",
        "SUCCEEDED",
        "FAILED",
        "STOPPED",
        "SUPERSEDED",
    ]
    assert se.event_state("Stopping") == "STOPPING" and se.event_state("Cancelled") == "CANCELED"
    assert se.event_state("Abandoned") == "ABANDONED"


def test_start_time_has_milliseconds_and_z():
    assert se.iso_millis(START) == "2026-11-28T07:20:13.208Z"
    assert se.iso_millis(START.astimezone(datetime.timezone(datetime.timedelta(hours=2)))) == "2026-11-28T07:20:13.208Z"


def test_pipeline_execution_detail_as_aws_documents_it():
    assert se.pipeline_detail(REF, "InProgress") == {
        "pipeline": "relay-prod",
        "execution-id": "e-1",
        "start-time": "2026-11-28T07:20:13.208Z",
        "execution-trigger": {
            "trigger-type": "CloudWatchEvent",
            "trigger-detail": "arn:aws:events:eu-south-2:000000000000:rule/r",
        },
        "state": "STARTED",
        "version": 3.0,
        "pipeline-execution-attempt": 1.0,
    }
    without_trigger = se.ExecutionRef("p", "arn", "e", 1, START)
    assert "execution-trigger" not in se.pipeline_detail(without_trigger, "Failed")


def test_stage_detail():
    assert se.stage_detail(REF, "Deploy", "Failed") == {
        "pipeline": "relay-prod",
        "execution-id": "e-1",
        "start-time": "2026-11-28T07:20:13.208Z",
        "stage": "Deploy",
        "state": "FAILED",
        "version": 3.0,
        "pipeline-execution-attempt": 1.0,
    }


def test_action_detail_names_the_actions_region_and_type():
    started = se.action_detail(REF, "Deploy", DEPLOY, "eu-central-1", "a-1", "InProgress")
    assert started["region"] == "eu-central-1" and started["state"] == "STARTED"
    assert started["type"] == {"owner": "AWS", "provider": "CloudFormation", "category": "Deploy", "version": "1"}
    assert started["action"] == "Deploy" and started["action-execution-id"] == "a-1" and started["stage"] == "Deploy"
    assert "execution-result" not in started and "output-artifacts" not in started

    out = {"Built": {"bucket": "art", "key": "p/Built/x", "region": "eu-central-1"}}
    ok = se.action_detail(REF, "Deploy", DEPLOY, "eu-central-1", "a-1", "Succeeded", summary="done", outputs=out)
    assert ok["execution-result"] == {"external-execution-summary": "done"}
    assert ok["output-artifacts"] == [{"name": "Built", "s3location": {"bucket": "art", "key": "p/Built/x"}}]

    failed = se.action_detail(
        REF, "Deploy", DEPLOY, "eu-central-1", "a-1", "Failed", summary="stack failed", external_id="stack-arn"
    )
    assert failed["execution-result"] == {
        "external-execution-summary": "stack failed",
        "external-execution-id": "stack-arn",
        "error-code": "JobFailed",
    }
    assert "output-artifacts" not in failed


def test_entries_name_the_resource_and_carry_json_detail():
    entry = se.pipeline_entry(REF, se.PIPELINE_EXECUTION, {"state": "STARTED"}, START)
    assert entry == {
        "Source": "aws.codepipeline",
        "DetailType": "CodePipeline Pipeline Execution State Change",
        "Resources": [REF.arn],
        "Detail": '{"state": "STARTED"}',
        "Time": START,
    }
    stack_id = "arn:aws:cloudformation:eu-south-2:000000000000:stack/app/1"
    detail = se.stack_detail(stack_id, "UPDATE_ROLLBACK_IN_PROGRESS", "Unsupported resources", None)
    assert detail == {
        "stack-id": stack_id,
        "status-details": {"status": "UPDATE_ROLLBACK_IN_PROGRESS", "status-reason": "Unsupported resources"},
        "client-request-token": "",
    }
    entry = se.stack_entry(stack_id, detail, START)
    assert entry["Source"] == "aws.cloudformation" and entry["DetailType"] == "CloudFormation Stack Status Change"
    assert entry["Resources"] == [stack_id] and json.loads(entry["Detail"]) == detail


def test_rule_dimensions_default_and_custom_bus():
    assert se.rule_dimensions("r", "default") == [{"Name": "RuleName", "Value": "r"}]
    assert se.rule_dimensions("r", None) == [{"Name": "RuleName", "Value": "r"}]
    assert se.rule_dimensions("r", "apps") == [
        {"Name": "EventBusName", "Value": "apps"},
        {"Name": "RuleName", "Value": "r"},
    ]


def test_rule_metrics_aggregate_per_rule_and_place_and_drain_once():
    m = se.RuleMetrics()
    assert not m.pending() and m.drain(START) == []
    for _ in range(3):
        m.add("000000000000", "eu-south-2", "default", "fwd", se.TRIGGERED_RULES)
    m.add("000000000000", "eu-south-2", "default", "fwd", se.INVOCATIONS)
    m.add("000000000000", "eu-west-1", "apps", "alerts", se.FAILED_INVOCATIONS)
    assert m.pending()
    batches = {(a, r): data for a, r, data in m.drain(START)}
    assert not m.pending() and m.drain(START) == []
    south = {d["MetricName"]: d for d in batches[("000000000000", "eu-south-2")]}
    assert south["TriggeredRules"] == {
        "MetricName": "TriggeredRules",
        "Dimensions": [{"Name": "RuleName", "Value": "fwd"}],
        "Timestamp": START,
        "Values": [1.0],
        "Counts": [3.0],
        "Unit": "Count",
    }
    assert south["Invocations"]["Counts"] == [1.0]
    (west,) = batches[("000000000000", "eu-west-1")]
    assert west["MetricName"] == "FailedInvocations" and west["Dimensions"][0] == {
        "Name": "EventBusName",
        "Value": "apps",
    }


def test_rule_metrics_batches_stay_within_put_metric_datas_limit():
    m = se.RuleMetrics()
    for i in range(se.METRIC_BATCH + 5):
        m.add("000000000000", "eu-west-1", None, f"rule-{i}", se.INVOCATIONS)
    sizes = [len(data) for _a, _r, data in m.drain(START)]
    assert sizes == [se.METRIC_BATCH, 5]
