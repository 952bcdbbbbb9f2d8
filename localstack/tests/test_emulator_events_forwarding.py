"""Service events on the emulator, forwarded home as relay's regions forward them: a target region's
rule sends CodePipeline and CloudFormation state changes to the home region's default bus (a
cross-region event bus target with a role), where rules deliver them to SQS and, for failures,
to an SNS topic encrypted with a customer KMS key; EventBridge rule metrics land in CloudWatch."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import (
    ACCOUNT,
    HOME,
    SSM_PARAMETER_TEMPLATE,
    TARGET_A,
    cfn_deploy_stage,
    client,
    s3_source_stage,
    wait_execution,
)

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

ACTION_REGION = "eu-central-1"  # the pipeline's cross-region deploy action runs there
UNSUPPORTED_TYPE = "AWS::RDS::DBInstance"  # the plugin fails stacks with it
FAILURES = ["CREATE_FAILED", "ROLLBACK_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE"]

UNSUPPORTED_TEMPLATE = (
    SSM_PARAMETER_TEMPLATE
    + f"""  Database:
    Type: {UNSUPPORTED_TYPE}
    Properties:
      Engine: postgres
"""
)


def _queue(res, region: str) -> tuple[str, str]:
    sqs = client("sqs", region)
    url = sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
    res.defer(sqs.delete_queue, QueueUrl=url)
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _rule(res, region: str, pattern: dict, target: dict) -> str:
    events = client("events", region)
    name = res.name("rule")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "t", **target}])

    def remove():
        events.remove_targets(Rule=name, Ids=["t"])
        events.delete_rule(Name=name)

    res.defer(remove)
    return name


def _forward_home(res, pattern: dict) -> str:
    """A rule on TARGET_A's default bus sending what matches to HOME's default bus (with a role)."""
    role = res.role("events")
    return _rule(res, TARGET_A, pattern, {"Arn": f"arn:aws:events:{HOME}:{ACCOUNT}:event-bus/default", "RoleArn": role})


class Inbox:
    """Every message of an SQS queue so far (bodies parsed)."""

    def __init__(self, url: str, region: str = HOME, sns: bool = False):
        self.sqs, self.url, self.sns, self.items = client("sqs", region), url, sns, []

    def until(self, what: str, done, timeout: float = 30) -> list:
        def probe():
            for m in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
                body = json.loads(m["Body"])
                self.items.append(json.loads(body["Message"]) if self.sns else body)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            return done(self.items)

        wait_for(what, probe, timeout=timeout, interval=0.2)
        return self.items


def _home_inbox(res, sources: list[str]) -> Inbox:
    url, arn = _queue(res, HOME)
    _rule(res, HOME, {"source": sources, "region": [TARGET_A]}, {"Arn": arn})
    return Inbox(url)


def _zip(template: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("template.yaml", template)
    return buf.getvalue()


def _delete_stack(region: str, name: str) -> None:
    cfn = client("cloudformation", region)

    def gone():
        try:
            return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
        except ClientError:
            return True

    try:
        cfn.delete_stack(StackName=name)
        wait_for(f"stack {name} deleted", gone, timeout=30, interval=0.3)
    except ClientError:
        pass


def _pipeline(res, name: str, stack: str) -> tuple[str, dict]:
    """A V2 pipeline in TARGET_A: S3 source there, CloudFormation deploy in ACTION_REGION."""
    source = res.bucket(TARGET_A, prefix="src")
    role = res.role("codepipeline")
    stores = {r: {"type": "S3", "location": res.bucket(r, prefix="art")} for r in (TARGET_A, ACTION_REGION)}
    decl = {
        "name": name,
        "roleArn": role,
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "artifactStores": stores,
        "stages": [
            s3_source_stage(source, "release.zip"),
            cfn_deploy_stage(stack, role, ACTION_REGION),
        ],
    }
    cp = client("codepipeline", TARGET_A)
    cp.create_pipeline(pipeline=decl)
    res.defer(cp.delete_pipeline, name=name)
    res.defer(_delete_stack, ACTION_REGION, stack)
    return source, decl


def _of(events: list, detail_type: str, execution_id: str) -> list:
    return [e for e in events if e["detail-type"] == detail_type and e["detail"]["execution-id"] == execution_id]


def test_pipeline_events_reach_the_home_bus_with_their_region_and_the_actions_region(res):
    name, stack = res.name("pipe"), res.name("stack")
    source, _decl = _pipeline(res, name, stack)
    inbox = _home_inbox(res, ["aws.codepipeline"])
    _forward_home(res, {"source": ["aws.codepipeline"], "detail": {"pipeline": [name]}})
    s3, cp = client("s3", TARGET_A), client("codepipeline", TARGET_A)
    s3.put_object(
        Bucket=source, Key="release.zip", Body=_zip(SSM_PARAMETER_TEMPLATE.format(name=f"/{name}", value="v1"))
    )

    good = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    assert wait_execution(cp, name, good)["status"] == "Succeeded"
    s3.delete_object(Bucket=source, Key="release.zip")  # the next run's source action fails
    bad = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    assert wait_execution(cp, name, bad)["status"] == "Failed"

    pipeline_type = "CodePipeline Pipeline Execution State Change"

    stage_type, action_type = "CodePipeline Stage Execution State Change", "CodePipeline Action Execution State Change"

    def finished(items):
        # rules deliver on concurrent threads: events put within a millisecond may arrive in any order
        return (
            len(_of(items, pipeline_type, good)) == 2
            and len(_of(items, pipeline_type, bad)) == 2
            and len(_of(items, stage_type, good)) == 4
            and len(_of(items, action_type, good)) == 4
            and len(_of(items, action_type, bad)) == 2
        )

    events = inbox.until("both executions' events at home", finished)
    arn = f"arn:aws:codepipeline:{TARGET_A}:{ACCOUNT}:{name}"
    for e in events:
        assert e["source"] == "aws.codepipeline" and e["region"] == TARGET_A and e["account"] == ACCOUNT, e
        assert e["resources"] == [arn], e
        assert e["detail"]["pipeline"] == name and e["detail"]["version"] == 1, e

    runs = {}
    for ex in (good, bad):
        # "time" has whole seconds: STARTED is never later than the end (ties put STARTED first)
        runs[ex] = sorted(_of(events, pipeline_type, ex), key=lambda e: (e["time"], e["detail"]["state"] != "STARTED"))
    assert [e["detail"]["state"] for e in runs[good]] == ["STARTED", "SUCCEEDED"]
    assert [e["detail"]["state"] for e in runs[bad]] == ["STARTED", "FAILED"]
    trigger = runs[good][0]["detail"]["execution-trigger"]
    assert trigger["trigger-type"] == "StartPipelineExecution" and trigger["trigger-detail"].startswith("arn:aws:"), (
        trigger
    )

    stages = {(e["detail"]["stage"], e["detail"]["state"]) for e in _of(events, stage_type, good)}
    assert {("Source", "STARTED"), ("Source", "SUCCEEDED"), ("Deploy", "STARTED"), ("Deploy", "SUCCEEDED")} <= stages

    actions = {(e["detail"]["action"], e["detail"]["state"]): e["detail"] for e in _of(events, action_type, good)}
    deploy = actions[("Deploy", "SUCCEEDED")]
    assert deploy["region"] == ACTION_REGION and actions[("Deploy", "STARTED")]["region"] == ACTION_REGION
    assert deploy["type"] == {"owner": "AWS", "provider": "CloudFormation", "category": "Deploy", "version": "1"}
    assert deploy["stage"] == "Deploy" and deploy["action-execution-id"]
    assert actions[("Source", "SUCCEEDED")]["region"] == TARGET_A
    assert actions[("Source", "SUCCEEDED")]["output-artifacts"][0]["name"] == "SourceArtifact"
    failed = [e["detail"] for e in _of(events, action_type, bad) if e["detail"]["state"] == "FAILED"]
    assert failed and failed[0]["action"] == "Source" and failed[0]["execution-result"]["error-code"] == "JobFailed"


def test_stack_status_events_reach_home_and_failures_an_encrypted_topic(res):
    stack = res.name("stack")
    res.defer(_delete_stack, TARGET_A, stack)
    inbox = _home_inbox(res, ["aws.cloudformation"])
    # home: failures to an SNS topic encrypted with a customer key, an SQS subscription proves delivery
    key = client("kms", HOME).create_key(Description=f"relay alerts {stack}")["KeyMetadata"]["Arn"]
    sns = client("sns", HOME)
    topic = sns.create_topic(Name=res.name("alerts"), Attributes={"KmsMasterKeyId": key})["TopicArn"]
    res.defer(sns.delete_topic, TopicArn=topic)
    alerts_url, alerts_arn = _queue(res, HOME)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn)
    _rule(
        res,
        HOME,
        {"source": ["aws.cloudformation"], "region": [TARGET_A], "detail": {"status-details": {"status": FAILURES}}},
        {"Arn": topic},
    )
    prefix = f"arn:aws:cloudformation:{TARGET_A}:{ACCOUNT}:stack/{stack}/"
    forward = _forward_home(res, {"source": ["aws.cloudformation"], "detail": {"stack-id": [{"prefix": prefix}]}})

    cfn = client("cloudformation", TARGET_A)
    stack_id = cfn.create_stack(
        StackName=stack,
        TemplateBody=SSM_PARAMETER_TEMPLATE.format(name=f"/{stack}", value="v1"),
        ClientRequestToken="tok-create",
    )["StackId"]
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    cfn.update_stack(
        StackName=stack,
        TemplateBody=UNSUPPORTED_TEMPLATE.format(name=f"/{stack}", value="v2"),
        ClientRequestToken="tok-up",
    )

    def statuses(items):
        return [e["detail"]["status-details"]["status"] for e in items]

    update_failures = {"UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE"}
    events = inbox.until(
        "the stack's creation and failed update at home",
        # rules deliver on concurrent threads: statuses set within a millisecond may arrive in any order
        lambda items: (
            {"CREATE_IN_PROGRESS", "CREATE_COMPLETE", "UPDATE_IN_PROGRESS"} <= set(statuses(items))
            and update_failures & set(statuses(items))
        ),
    )
    seen = statuses(events)
    # LocalStack's UpdateStack checks the template with a "create" change set: a refused update passes
    # ROLLBACK_IN_PROGRESS and CREATE_FAILED before the plugin fails it (UPDATE_FAILED)
    assert {"CREATE_IN_PROGRESS", "CREATE_COMPLETE", "UPDATE_IN_PROGRESS"} <= set(seen), seen
    assert len(seen) == len(set(seen)), seen  # one event per status change
    for e in events:
        assert e["source"] == "aws.cloudformation" and e["detail-type"] == "CloudFormation Stack Status Change", e
        assert e["region"] == TARGET_A and e["resources"] == [stack_id], e
        assert e["detail"]["stack-id"] == stack_id, e
        created = e["detail"]["status-details"]["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")
        assert e["detail"]["client-request-token"] == ("tok-create" if created else "tok-up"), e
    reasons = [e["detail"]["status-details"]["status-reason"] for e in events]
    assert any(UNSUPPORTED_TYPE in r for r in reasons), reasons

    alerts = Inbox(alerts_url, sns=True).until("a failure on the encrypted topic", lambda items: items)
    assert alerts[0]["detail"]["stack-id"] == stack_id and alerts[0]["region"] == TARGET_A
    assert alerts[0]["detail"]["status-details"]["status"] in FAILURES

    # the forwarding rule's metrics, in its own region
    cw = client("cloudwatch", TARGET_A)
    dims = [{"Name": "RuleName", "Value": forward}]

    def published():
        names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Events", Dimensions=dims)["Metrics"]}
        return {"TriggeredRules", "Invocations"} <= names

    wait_for("the forwarding rule's metrics", published, timeout=15, interval=0.3)

    def triggered():
        end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
        stats = cw.get_metric_statistics(
            Namespace="AWS/Events",
            MetricName="TriggeredRules",
            Dimensions=dims,
            StartTime=end - datetime.timedelta(minutes=10),
            EndTime=end,
            Period=600,
            Statistics=["Sum"],
        )["Datapoints"]
        return sum(d["Sum"] for d in stats) >= len(events)

    # published every second: the last events' counts may come one flush later
    wait_for("TriggeredRules to count every forwarded event", triggered, timeout=15, interval=0.3)


def test_a_failed_delivery_counts_failed_invocations(res, uid):
    source = f"relay.test.{uid}"
    missing_queue = f"arn:aws:sqs:{TARGET_A}:{ACCOUNT}:missing-{uid}"
    rule = _rule(res, TARGET_A, {"source": [source]}, {"Arn": missing_queue})
    client("events", TARGET_A).put_events(Entries=[{"Source": source, "DetailType": "probe", "Detail": "{}"}])
    cw = client("cloudwatch", TARGET_A)
    dims = [{"Name": "RuleName", "Value": rule}]

    def published():
        names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/Events", Dimensions=dims)["Metrics"]}
        return {"TriggeredRules", "Invocations", "FailedInvocations"} <= names

    wait_for("FailedInvocations of the rule", published, timeout=15, interval=0.3)
