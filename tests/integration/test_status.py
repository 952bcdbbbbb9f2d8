"""What the home region knows of each region: `relay status`, the events forwarded home, the notification
topic, the dashboard, and each region's governance (AWS Config, Security Hub).

These run last in the session (after the release flow): a release here fails in one region on purpose.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.integration.test_release_flow import PIPELINE_TIMEOUT, bespoke, finished, home_finished
from tools import status as fleet
from tools.release import SAMPLE_APP, Release, SourceRepository
from tools.wait import wait_for

pytestmark = pytest.mark.emulator

BROKEN_REGION = "ap-southeast-4"
"""The bespoke region a release fails in: its template creates an invalid parameter there only."""
BROKEN_RESOURCE = f"""Conditions:
  BrokenHere: !Equals [!Ref "AWS::Region", {BROKEN_REGION}]
Resources:
  BrokenInOneRegion:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/relay-sample-app/${{AWS::Region}}/broken"
      Type: !If [BrokenHere, NotAParameterType, String]
      Value: broken
"""


def push_and_settle(release: Release, repository: SourceRepository, label: str, source: Path | None = None) -> str:
    """Push a release, wait for the home execution and every bespoke region's execution of it to finish; the
    release object's version id."""
    commit = repository.push(label, source=source)
    execution = release.home_execution_for(commit)
    assert execution is not None
    wait_for(
        "the home execution to finish",
        lambda: home_finished(release, execution["pipelineExecutionId"]),
        timeout=PIPELINE_TIMEOUT,
    )
    version_id = release.published()["VersionId"]
    for region in bespoke(release):
        found = wait_for(
            f"the {region} execution of {version_id}",
            lambda region=region: release.execution_for(region, version_id),
            timeout=PIPELINE_TIMEOUT,
        )
        wait_for(
            f"the {region} execution to finish",
            lambda region=region, e=found: finished(release, region, e["pipelineExecutionId"]),
            timeout=PIPELINE_TIMEOUT,
        )
    return version_id


def broken_source(workdir: Path) -> Path:
    """The sample application whose template also creates a parameter of an invalid type in BROKEN_REGION
    (CloudFormation fails the update there and rolls it back; elsewhere the condition leaves it out)."""
    source = workdir / "broken-source"
    shutil.copytree(SAMPLE_APP, source)
    template = source / "template.yaml"
    text = template.read_text()
    assert text.count("\nResources:\n") == 1, "the sample template changed: adapt BROKEN_RESOURCE"
    template.write_text(text.replace("\nResources:\n", "\n" + BROKEN_RESOURCE, 1))
    return source


def let_send(sqs, url: str, arn: str, service: str, source_arn: str) -> None:
    """The queue's policy: `service` may send to it on behalf of `source_arn` only."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})


def queue_subscribed_to(release: Release, topic_arn: str) -> tuple[str, str]:
    """A queue of the test's own (URL, ARN) that the topic may deliver to, subscribed to it."""
    region = release.config.home_region
    sqs = release.clients("sqs", region)
    url = sqs.create_queue(QueueName=f"relay-status-test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    let_send(sqs, url, arn, "sns.amazonaws.com", topic_arn)
    release.clients("sns", region).subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return url, arn


def queue_for_rule(release: Release, pattern: dict) -> tuple[str, str]:
    """A queue of the test's own and a rule on the home region's default bus sending it what matches `pattern`:
    (queue URL, rule name)."""
    region = release.config.home_region
    sqs, events = release.clients("sqs", region), release.clients("events", region)
    name = f"relay-status-test-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    let_send(sqs, url, arn, "events.amazonaws.com", rule_arn)
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url, name


def remove_rule_and_queue(release: Release, url: str, name: str) -> None:
    region = release.config.home_region
    events = release.clients("events", region)
    events.remove_targets(Rule=name, Ids=["queue"])
    events.delete_rule(Name=name)
    release.clients("sqs", region).delete_queue(QueueUrl=url)


def received_events(release: Release, url: str) -> list[dict]:
    sqs = release.clients("sqs", release.config.home_region)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_status_shows_every_region_current_after_a_good_release(settled: Release, repository: SourceRepository, capsys):
    push_and_settle(settled, repository, "status-good")
    status = fleet.fleet_status(settled.config, settled.clients)
    assert [r.region for r in status.regions] == settled.config.regions
    assert {r.region: r.state for r in status.regions} == dict.fromkeys(settled.config.regions, "current")
    assert status.exit_code == 0
    assert fleet.main(["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert all(region["current"] for region in document["regions"]), document


def test_a_release_failing_in_one_region_shows_it_failed_and_the_failure_reaches_home(
    settled: Release, repository: SourceRepository, tmp_path
):
    config = settled.config
    home = config.home_region
    topic_arn = next(
        t["TopicArn"]
        for t in settled.clients("sns", home).list_topics()["Topics"]
        if t["TopicArn"].endswith(":" + config.names.notification_topic())
    )
    url, _ = queue_subscribed_to(settled, topic_arn)
    stack_events, rule = queue_for_rule(settled, {"source": ["aws.cloudformation"], "region": [BROKEN_REGION]})
    try:
        version_id = push_and_settle(settled, repository, "status-broken", source=broken_source(tmp_path))
        status = fleet.fleet_status(config, settled.clients)
        states = {r.region: r.state for r in status.regions}
        assert states[BROKEN_REGION] == "failed", fleet.render(status)
        assert {r: s for r, s in states.items() if r != BROKEN_REGION} == dict.fromkeys(
            [r for r in config.regions if r != BROKEN_REGION], "current"
        ), fleet.render(status)
        assert status.exit_code == 1
        assert fleet.main([]) == 1

        # the target's failed execution, forwarded to the home bus, matched the failure rule there: the topic
        # delivered it to the queue, still naming its own region
        pipeline = config.names.pipeline("deploy", BROKEN_REGION)
        execution = settled.execution_for(BROKEN_REGION, version_id)

        def failure_delivered():
            return [
                e
                for e in received_events(settled, url)
                if e.get("region") == BROKEN_REGION
                and e["detail"].get("pipeline") == pipeline
                and e["detail"].get("execution-id") == execution["pipelineExecutionId"]
                and e["detail"].get("state") == "FAILED"
            ]

        events = wait_for("the failure event on the home topic", failure_delivered, timeout=30)
        assert events[0]["detail-type"] == "CodePipeline Pipeline Execution State Change"

        # the target's stack status changes arrived on the home bus too, the failed update among them
        statuses: list[str] = []

        def stack_failure_arrived():
            statuses.extend(
                e["detail"]["status-details"]["status"]
                for e in received_events(settled, stack_events)
                if e["detail-type"] == "CloudFormation Stack Status Change"
                and f":stack/{config.deploy.stack_name}/" in e["detail"]["stack-id"]
            )
            return any("FAILED" in status or "ROLLBACK" in status for status in statuses)

        wait_for("the stack's failed update on the home bus", stack_failure_arrived, timeout=30)
    finally:
        remove_rule_and_queue(settled, stack_events, rule)
        settled.clients("sqs", home).delete_queue(QueueUrl=url)
        for subscription in settled.clients("sns", home).list_subscriptions_by_topic(TopicArn=topic_arn)[
            "Subscriptions"
        ]:
            settled.clients("sns", home).unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def test_the_home_dashboard_has_a_row_per_region(deployed: Release):
    config = deployed.config
    body = json.loads(
        deployed.clients("cloudwatch", config.home_region).get_dashboard(DashboardName=config.names.dashboard())[
            "DashboardBody"
        ]
    )
    titles = [w["properties"].get("title", "") for w in body["widgets"] if w["type"] == "metric"]
    for region in config.regions:
        assert f"{region}: executions" in titles


def test_every_region_records_with_config_and_security_hub_aggregates_the_targets_findings_in_home(
    deployed: Release,
):
    config, names = deployed.config, deployed.config.names
    home = config.home_region
    for region in config.regions:
        service = deployed.clients("config", region)
        recorder = one_named(
            service.describe_configuration_recorders()["ConfigurationRecorders"], names.config_recorder()
        )
        assert recorder["recordingGroup"]["includeGlobalResourceTypes"] == (region == home)
        statuses = service.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
        assert one_named(statuses, names.config_recorder())["recording"]
        channel = one_named(service.describe_delivery_channels()["DeliveryChannels"], names.config_delivery_channel())
        assert channel["s3BucketName"] == names.bucket("config", region) and channel["s3KmsKeyArn"]
        rules = {
            r["Source"]["SourceIdentifier"]
            for r in service.describe_config_rules()["ConfigRules"]
            if r["ConfigRuleName"].startswith(names.resource_prefix())
        }
        expected = {r for r in config.governance.config.rules if region == home or not r.startswith("IAM_")}
        assert rules == expected, region
        hub = deployed.clients("securityhub", region)
        enabled = [s["StandardsArn"] for s in hub.get_enabled_standards()["StandardsSubscriptions"]]
        assert enabled == [
            f"arn:aws:securityhub:{region}::standards/{standard}"
            for standard in config.governance.security_hub.standards
        ]
    hub = deployed.clients("securityhub", home)
    aggregator = hub.get_finding_aggregator(
        FindingAggregatorArn=one(hub.list_finding_aggregators()["FindingAggregators"])["FindingAggregatorArn"]
    )
    assert aggregator["FindingAggregationRegion"] == home
    assert aggregator["RegionLinkingMode"] == "SPECIFIED_REGIONS"
    assert sorted(aggregator["Regions"]) == sorted(config.target_regions)
    # a finding of a target region is found in home
    region = config.target_regions[-1]
    account = deployed.clients("sts", region).get_caller_identity()["Account"]
    finding_id = f"relay-test-{uuid.uuid4().hex[:8]}"
    now = "2026-01-01T00:00:00.000Z"
    deployed.clients("securityhub", region).batch_import_findings(
        Findings=[
            {
                "SchemaVersion": "2018-10-08",
                "Id": finding_id,
                "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
                "GeneratorId": "relay-integration",
                "AwsAccountId": account,
                "Types": ["Software and Configuration Checks"],
                "CreatedAt": now,
                "UpdatedAt": now,
                "Severity": {"Label": "LOW"},
                "Title": "relay integration finding",
                "Description": "imported in a target region",
                "Resources": [{"Type": "Other", "Id": "relay"}],
            }
        ]
    )
    found = hub.get_findings(Filters={"Id": [{"Value": finding_id, "Comparison": "EQUALS"}]})["Findings"]
    assert [(f["Id"], f["Region"]) for f in found] == [(finding_id, region)]


def one_named(items: list[dict], name: str) -> dict:
    return one([item for item in items if item["name"] == name])


def one(items: list[dict]) -> dict:
    assert len(items) == 1, items
    return items[0]
