"""Events forwarded home, the notification topic, outcome rules, alarms, the dashboard and replication metrics,
as synthesized for the shipped environments (tests/conftest.py synthesizes each once per session)."""

from __future__ import annotations

import json

import pytest

from config.schema import ObservabilityConfig, SubscriptionConfig
from modules.observability import ACTION_EXECUTION, PIPELINE_EXECUTION, STACK_STATUS
from tests.unit.test_stacks import one, resources

HOME = "eu-west-1"
BESPOKE = ["eu-south-2", "ap-southeast-4"]
NATIVE, REMOTE = "eu-central-1", "ca-west-1"
TARGETS = [*BESPOKE, NATIVE, REMOTE]


def rule_named(stack: dict, name: str) -> dict:
    return one([r for r in resources(stack, "aws_cloudwatch_event_rule") if r["name"] == name])


def target_of(stack: dict, rule: dict) -> dict:
    # targets name their rule by reference: match the reference to the rule's construct
    rules = stack["resource"]["aws_cloudwatch_event_rule"]
    key = next(k for k, v in rules.items() if v is rule)
    return one([t for t in resources(stack, "aws_cloudwatch_event_target") if key in t["rule"]])


@pytest.mark.parametrize("region", TARGETS)
def test_every_target_forwards_its_stack_status_changes_to_the_home_default_bus(local, region):
    stack = local.stack(local.target(region))
    names = local.config.names
    rule = rule_named(stack, names.event_rule("forward-stack", region))
    pattern = json.loads(rule["event_pattern"])
    assert pattern["source"] == ["aws.cloudformation"] and pattern["detail-type"] == [STACK_STATUS]
    prefix = pattern["resources"][0]["prefix"]
    assert prefix.startswith(f"arn:aws:cloudformation:{region}:") and prefix.endswith(":stack/relay-sample-app/")
    target = target_of(stack, rule)
    assert target["arn"].startswith(f"arn:aws:events:{HOME}:") and target["arn"].endswith(":event-bus/default")


@pytest.mark.parametrize("region", TARGETS)
def test_the_forwarding_role_may_put_events_on_the_home_bus_only_for_this_regions_rules(local, region):
    stack = local.stack(local.target(region))
    names = local.config.names
    role = one([r for r in resources(stack, "aws_iam_role") if r["name"] == names.role("forward", region)])
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    arns = trust["Condition"]["ArnLike"]["aws:SourceArn"]
    expected = {names.event_rule("forward-stack", region)}
    if region in BESPOKE:
        expected.add(names.event_rule("forward-pipeline", region))
    assert {a.rsplit("/", 1)[1] for a in arns} == expected
    assert all(a.startswith(f"arn:aws:events:{region}:") for a in arns)
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    policy = json.loads(
        one([p for p in resources(stack, "aws_iam_role_policy") if p["name"] == "forward-home"])["policy"]
    )
    statement = one(policy["Statement"])
    assert statement["Action"] == ["events:PutEvents"]
    assert statement["Resource"] == [
        target_of(stack, rule_named(stack, names.event_rule("forward-stack", region)))["arn"]
    ]


@pytest.mark.parametrize("region", BESPOKE)
def test_a_bespoke_target_forwards_its_own_pipelines_executions(local, region):
    stack = local.stack(local.target(region))
    names = local.config.names
    pattern = json.loads(rule_named(stack, names.event_rule("forward-pipeline", region))["event_pattern"])
    assert pattern["detail-type"] == [PIPELINE_EXECUTION, ACTION_EXECUTION]
    assert pattern["detail"]["pipeline"] == [names.pipeline("deploy", region)]


def test_a_remote_region_has_a_stack_of_its_own_and_nothing_in_it_comes_from_home(local):
    stack = local.stack(local.target(REMOTE))
    assert "terraform_remote_state" not in stack.get("data", {})
    assert not resources(stack, "aws_codepipeline")
    manifest = json.loads((local.outdir / "manifest.json").read_text())
    assert manifest["stacks"][local.target(REMOTE)]["dependencies"] == []


@pytest.mark.parametrize("region", [HOME, *TARGETS])
def test_home_counts_each_regions_succeeded_and_failed_executions_and_sends_failures_to_the_topic(local, region):
    stack = local.stack(local.home)
    names = local.config.names
    topic = one(resources(stack, "aws_sns_topic"))
    for outcome in ("succeeded", "failed"):
        pattern = json.loads(rule_named(stack, names.event_rule(outcome, region))["event_pattern"])
        assert pattern["detail"]["state"] == [outcome.upper()]
        if region in BESPOKE:
            assert pattern["detail-type"] == [PIPELINE_EXECUTION] and pattern["region"] == [region]
            assert pattern["detail"]["pipeline"] == [names.pipeline("deploy", region)]
        elif region == HOME:
            assert pattern["detail"]["pipeline"] == [names.pipeline("release", HOME)]
        else:
            assert pattern["detail-type"] == [ACTION_EXECUTION]
            assert pattern["detail"]["action"] == [names.deploy_action(region)]
    failed = rule_named(stack, names.event_rule("failed", region))
    assert "aws_sns_topic" in target_of(stack, failed)["arn"]
    assert topic["name"] == names.notification_topic()


def test_the_topic_is_encrypted_with_the_home_key_and_only_the_failure_rules_and_alarms_publish(local):
    stack = local.stack(local.home)
    topic = one(resources(stack, "aws_sns_topic"))
    assert "aws_kms_key" in topic["kms_master_key_id"]
    policy = json.loads(one(resources(stack, "aws_sns_topic_policy"))["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    rules = {a.rsplit("/", 1)[1] for a in by_sid["FailureRules"]["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert rules == {local.config.names.event_rule("failed", r) for r in [HOME, *TARGETS]}
    alarms = {a.rsplit(":", 1)[1] for a in by_sid["Alarms"]["Condition"]["ArnEquals"]["aws:SourceArn"]}
    assert alarms == {a["alarm_name"] for a in resources(stack, "aws_cloudwatch_metric_alarm")}
    assert by_sid["TlsOnly"]["Effect"] == "Deny"
    key = json.loads(one(resources(stack, "aws_kms_key"))["policy"])
    publishers = one([s for s in key["Statement"] if s["Sid"] == "AllowNotificationPublishers"])
    assert publishers["Condition"]["StringEquals"]["aws:SourceAccount"]
    assert not resources(stack, "aws_sns_topic_subscription"), "no subscription by default"


def test_alarms_watch_failed_executions_of_every_target_and_failed_replication_of_bespoke_ones(local):
    stack = local.stack(local.home)
    names = local.config.names
    alarms = {a["alarm_name"]: a for a in resources(stack, "aws_cloudwatch_metric_alarm")}
    expected = {names.alarm("failed", r) for r in TARGETS} | {names.alarm("replication-failed", r) for r in BESPOKE}
    assert set(alarms) == expected
    replication = alarms[names.alarm("replication-failed", "eu-south-2")]
    assert replication["namespace"] == "AWS/S3" and replication["metric_name"] == "OperationsFailedReplication"
    assert replication["dimensions"] == {
        "SourceBucket": names.bucket("release", HOME),
        "DestinationBucket": names.bucket("release", "eu-south-2"),
        "RuleId": "release-to-eu-south-2",
    }
    failed = alarms[names.alarm("failed", NATIVE)]
    assert failed["dimensions"] == {"RuleName": names.event_rule("failed", NATIVE)}
    assert all(a["alarm_actions"] == [failed["alarm_actions"][0]] for a in alarms.values())
    assert all(a["treat_missing_data"] == "notBreaching" for a in alarms.values())


def test_the_dashboard_has_a_row_per_region_with_replication_for_bespoke_ones(local):
    stack = local.stack(local.home)
    body = json.loads(one(resources(stack, "aws_cloudwatch_dashboard"))["dashboard_body"])
    titles = [w["properties"]["title"] for w in body["widgets"] if w["type"] == "metric"]
    for region in [HOME, *TARGETS]:
        assert f"{region}: executions" in titles and f"{region}: release lag (s)" in titles
        assert (f"{region}: replication" in titles) == (region in BESPOKE)


def test_replication_rules_publish_metrics_and_time_control_is_opt_in(local, prod):
    for synth, time_control in ((local, False), (prod, True)):
        configuration = one(resources(synth.stack(synth.replication), "aws_s3_bucket_replication_configuration"))
        for rule in configuration["rule"]:
            destination = rule["destination"]
            assert destination["metrics"]["status"] == "Enabled"
            assert ("replication_time" in destination) == time_control
            if time_control:
                assert destination["replication_time"]["time"]["minutes"] == 15
                assert destination["metrics"]["event_threshold"]["minutes"] == 15


def test_prod_subscribes_the_configured_address(prod):
    subscription = one(resources(prod.stack(prod.home), "aws_sns_topic_subscription"))
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "platform-team@example.org")


def test_with_observability_off_nothing_is_forwarded_watched_or_measured(hardened):
    home = hardened.stack(hardened.home)
    assert not resources(home, "aws_sns_topic") and not resources(home, "aws_cloudwatch_dashboard")
    assert not resources(home, "aws_cloudwatch_metric_alarm")
    for region in BESPOKE:
        target = hardened.stack(hardened.target(region))
        names = [r["name"] for r in resources(target, "aws_cloudwatch_event_rule")]
        assert not [n for n in names if "forward" in n]
    configuration = one(resources(hardened.stack(hardened.replication), "aws_s3_bucket_replication_configuration"))
    assert all("metrics" not in rule["destination"] for rule in configuration["rule"])


@pytest.mark.parametrize(
    ("protocol", "endpoint", "problem"),
    [
        ("sqs", "my-queue", "ARN of a sqs resource"),
        ("https", "http://example.org/hook", "https:// URL"),
        ("email", "nobody", "e-mail address"),
        ("sms", "0123", "E.164"),
    ],
)
def test_a_subscription_endpoint_must_fit_its_protocol(protocol, endpoint, problem):
    with pytest.raises(ValueError, match=problem):
        SubscriptionConfig(protocol=protocol, endpoint=endpoint)


def test_replication_time_control_needs_replication_metrics():
    with pytest.raises(ValueError, match="needs replication_metrics"):
        ObservabilityConfig(replication_metrics=False, replication_time_control=True)
