"""What tells the home region how each release went, in every region.

- :class:`EventForwarding` (each target region): rules on the region's default bus forwarding the
  pipeline's execution state changes and the deployed stack's status changes to the home region's
  default bus, through a role allowed `events:PutEvents` on that bus only. The target stack names the home
  bus by ARN and reads nothing of home: while home is down only the forwarding fails (EventBridge retries it
  for 24 hours), never a deployment.
- :class:`HomeObservability` (home region): per region, a rule on the outcomes of the executions that
  deploy it (`succeeded`, `failed`: their `TriggeredRules` metrics count them), the failures sent to an SNS
  topic encrypted with the home key; alarms on failed executions and failed replication operations; one
  dashboard with a row per region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws

PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"
STACK_STATUS = "CloudFormation Stack Status Change"
METRICS_NAMESPACE = "Relay"
"""Namespace of the metrics `relay status --record` puts in the home region (dimensions Application, Region)."""
PERIOD = 300


def home_bus_arn(partition: str, home_region: str, account_id: str) -> str:
    """ARN of the home region's default event bus (same account: no bus policy needed)."""
    return f"arn:{partition}:events:{home_region}:{account_id}:event-bus/default"


def stack_arn_prefix(partition: str, region: str, account_id: str, stack_name: str) -> str:
    """Prefix of every ARN (stack id) the stack `stack_name` ever has in `region`."""
    return f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/"


def execution_pattern(*, region: str, pipeline: str, action: str | None, states: list[str]) -> dict:
    """Events of the executions that deploy `region`: its own pipeline's (`action` None), or the home
    pipeline's deploy action for it, in one of `states`."""
    if action is None:
        return {
            "source": ["aws.codepipeline"],
            "detail-type": [PIPELINE_EXECUTION],
            "region": [region],
            "detail": {"pipeline": [pipeline], "state": states},
        }
    return {
        "source": ["aws.codepipeline"],
        "detail-type": [ACTION_EXECUTION],
        "detail": {"pipeline": [pipeline], "action": [action], "state": states},
    }


@dataclass(frozen=True)
class ForwardingProps:
    """Props of :class:`EventForwarding`."""

    region: str
    """The target region. Required."""
    home_bus_arn: str
    """ARN of the home region's default bus. Required."""
    account_id: str
    """Account of the rules (the role's trust condition). Required."""
    partition: str
    """AWS partition. Required."""
    role_name: str
    """Role EventBridge forwards as. Required."""
    stack_rule_name: str
    """Rule forwarding the deployed stack's status changes. Required."""
    stack_name: str
    """The stack the region's releases deploy. Required."""
    pipeline_rule_name: str | None = None
    """Rule forwarding the region's own pipeline's executions; with `pipeline_name`. Default none."""
    pipeline_name: str | None = None
    """The region's deploy pipeline (a `bespoke` region's); others are deployed by the home pipeline, whose
    events are in home already. Default none."""


class EventForwarding(Construct):
    """Rules forwarding the region's deployment events to the home region's default bus."""

    def __init__(self, scope: Construct, id: str, *, props: ForwardingProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        rules = {
            "stack": (
                props.stack_rule_name,
                f"Forward {props.stack_name}'s status changes to the home region",
                {
                    "source": ["aws.cloudformation"],
                    "detail-type": [STACK_STATUS],
                    "resources": [
                        {"prefix": stack_arn_prefix(props.partition, props.region, props.account_id, props.stack_name)}
                    ],
                },
            )
        }
        if props.pipeline_name and props.pipeline_rule_name:
            rules["pipeline"] = (
                props.pipeline_rule_name,
                f"Forward {props.pipeline_name}'s execution state changes to the home region",
                {
                    "source": ["aws.codepipeline"],
                    "detail-type": [PIPELINE_EXECUTION, ACTION_EXECUTION],
                    "detail": {"pipeline": [props.pipeline_name]},
                },
            )
        rule_arns = [
            f"arn:{props.partition}:events:{props.region}:{props.account_id}:rule/{name}"
            for name, _, _ in rules.values()
        ]
        self.role = iam.ServiceRole(
            self,
            "role",
            name=props.role_name,
            service="events.amazonaws.com",
            source_account=props.account_id,
            source_arn=rule_arns,
            description="EventBridge: forward this region's deployment events to the home region's default bus",
            statements=[iam.allow("PutEventsOnHomeBus", ["events:PutEvents"], [props.home_bus_arn])],
            policy_name="forward-home",
            provider=provider,
        )
        self.rules: dict[str, aws.cloudwatch_event_rule.CloudwatchEventRule] = {}
        self.patterns: dict[str, dict] = {}
        for kind, (name, description, pattern) in rules.items():
            rule = aws.cloudwatch_event_rule.CloudwatchEventRule(
                self,
                f"{kind}-rule",
                provider=provider,
                name=name,
                description=description,
                event_pattern=json.dumps(pattern),
            )
            aws.cloudwatch_event_target.CloudwatchEventTarget(
                self,
                f"{kind}-target",
                provider=provider,
                rule=rule.name,
                target_id="home-bus",
                arn=props.home_bus_arn,
                role_arn=self.role.arn,
            )
            self.rules[kind] = rule
            self.patterns[kind] = pattern


@dataclass(frozen=True)
class RegionWatch:
    """What the home region watches of one region."""

    region: str
    """The region. Required."""
    id: str
    """Construct id fragment (the region's alias). Required."""
    pipeline: str
    """The pipeline whose executions deploy it. Required."""
    action: str | None
    """The home pipeline's deploy action for it (`native`, `remote`); None when `pipeline` is its own. Required."""
    succeeded_rule: str
    """Name of the rule counting its succeeded executions. Required."""
    failed_rule: str
    """Name of the rule sending its failed executions to the topic. Required."""
    replication: tuple[str, str, str] | None = None
    """(source bucket, destination bucket, rule id) of the replication into it (a `bespoke` region's), whose
    metrics are graphed and alarmed on. Default none."""
    failed_alarm: str | None = None
    """Name of the alarm on its failed executions. Default none."""
    replication_alarm: str | None = None
    """Name of the alarm on its failed replication operations. Default none."""


@dataclass(frozen=True)
class HomeObservabilityProps:
    """Props of :class:`HomeObservability`."""

    region: str
    """The home region. Required."""
    account_id: str
    """Account. Required."""
    partition: str
    """AWS partition. Required."""
    application: str
    """`<app>-<env>`: the Application dimension of relay's own metrics. Required."""
    topic_name: str
    """SNS topic receiving failures and alarms. Required."""
    kms_key_arn: str
    """Home key encrypting the topic (its policy lets EventBridge and CloudWatch use it). Required."""
    regions: tuple[RegionWatch, ...]
    """Home first, then the targets. Required."""
    subscriptions: tuple[tuple[str, str], ...] = ()
    """(protocol, endpoint) subscriptions of the topic. Default none."""
    dashboard_name: str | None = None
    """The dashboard's name; None for no dashboard. Default none."""
    alarms: bool = False
    """Create the regions' alarms. Default false."""


class HomeObservability(Construct):
    """Topic, outcome rules, alarms and dashboard in the home region."""

    def __init__(self, scope: Construct, id: str, *, props: HomeObservabilityProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        self.topic = aws.sns_topic.SnsTopic(
            self,
            "topic",
            provider=provider,
            name=props.topic_name,
            kms_master_key_id=props.kms_key_arn,
            display_name="relay: failed deployments and alarms",
        )
        for index, (protocol, endpoint) in enumerate(props.subscriptions):
            aws.sns_topic_subscription.SnsTopicSubscription(
                self,
                f"subscription-{index}",
                provider=provider,
                topic_arn=self.topic.arn,
                protocol=protocol,
                endpoint=endpoint,
            )
        self.rules: dict[str, dict[str, aws.cloudwatch_event_rule.CloudwatchEventRule]] = {}
        self.alarms: list[aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm] = []
        self.alarm_names: list[str] = []
        rule_arn = f"arn:{props.partition}:events:{props.region}:{props.account_id}:rule/"
        failed_rule_arns = [rule_arn + watch.failed_rule for watch in props.regions]
        for watch in props.regions:
            self.rules[watch.region] = self._outcome_rules(watch, provider)
            if props.alarms:
                self._alarms(watch, provider)
        alarm_arns = [
            f"arn:{props.partition}:cloudwatch:{props.region}:{props.account_id}:alarm:{name}"
            for name in self.alarm_names
        ]
        self.topic_policy = aws.sns_topic_policy.SnsTopicPolicy(
            self,
            "topic-policy",
            provider=provider,
            arn=self.topic.arn,
            policy=_topic_policy(self.topic.arn, props, failed_rule_arns, alarm_arns),
        )
        self.dashboard = (
            aws.cloudwatch_dashboard.CloudwatchDashboard(
                self,
                "dashboard",
                provider=provider,
                dashboard_name=props.dashboard_name,
                dashboard_body=json.dumps(dashboard_body(props)),
            )
            if props.dashboard_name
            else None
        )

    def _outcome_rules(self, watch: RegionWatch, provider) -> dict[str, aws.cloudwatch_event_rule.CloudwatchEventRule]:
        rules = {}
        for outcome, name in (("succeeded", watch.succeeded_rule), ("failed", watch.failed_rule)):
            pattern = execution_pattern(
                region=watch.region, pipeline=watch.pipeline, action=watch.action, states=[outcome.upper()]
            )
            rules[outcome] = aws.cloudwatch_event_rule.CloudwatchEventRule(
                self,
                f"{watch.id}-{outcome}",
                provider=provider,
                name=name,
                description=f"Executions deploying {watch.region} that {outcome} (counted by TriggeredRules)",
                event_pattern=json.dumps(pattern),
            )
        aws.cloudwatch_event_target.CloudwatchEventTarget(
            self,
            f"{watch.id}-failed-topic",
            provider=provider,
            rule=rules["failed"].name,
            target_id="topic",
            arn=self.topic.arn,
        )
        return rules

    def _alarms(self, watch: RegionWatch, provider) -> None:
        """The region's alarms: any failed execution, any failed replication operation, in one period."""
        wanted = []
        if watch.failed_alarm:
            wanted.append(
                (
                    "failed",
                    watch.failed_alarm,
                    f"An execution deploying {watch.region} failed",
                    "AWS/Events",
                    "TriggeredRules",
                    {"RuleName": watch.failed_rule},
                )
            )
        if watch.replication and watch.replication_alarm:
            source, destination, rule = watch.replication
            wanted.append(
                (
                    "replication",
                    watch.replication_alarm,
                    f"Replication of the release into {watch.region} failed",
                    "AWS/S3",
                    "OperationsFailedReplication",
                    {"SourceBucket": source, "DestinationBucket": destination, "RuleId": rule},
                )
            )
        for kind, name, description, namespace, metric, dimensions in wanted:
            self.alarm_names.append(name)
            self.alarms.append(
                aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
                    self,
                    f"{watch.id}-{kind}-alarm",
                    provider=provider,
                    alarm_name=name,
                    alarm_description=description,
                    namespace=namespace,
                    metric_name=metric,
                    dimensions=dimensions,
                    comparison_operator="GreaterThanOrEqualToThreshold",
                    evaluation_periods=1,
                    period=PERIOD,
                    statistic="Sum",
                    threshold=1,
                    treat_missing_data="notBreaching",
                    alarm_actions=[self.topic.arn],
                )
            )


def _topic_policy(topic_arn: str, props: HomeObservabilityProps, rule_arns: list[str], alarm_arns: list[str]) -> str:
    """EventBridge may publish for the failure rules, CloudWatch for the alarms, both for this account only."""

    def publish(sid: str, service: str, sources: list[str]) -> dict:
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": props.account_id},
                "ArnEquals": {"aws:SourceArn": sources},
            },
        }

    statements = [publish("FailureRules", "events.amazonaws.com", rule_arns)]
    if alarm_arns:
        statements.append(publish("Alarms", "cloudwatch.amazonaws.com", alarm_arns))
    statements.append(
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    return iam.document(*statements)


def dashboard_body(props: HomeObservabilityProps) -> dict:
    """One row per region: its executions (succeeded, failed), its replication (latency, pending, failed
    operations) when the home bucket replicates to it, and relay's release lag (from `relay status --record`)."""
    widgets: list[dict] = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {
                "markdown": f"# {props.application}: releases per region\n"
                "Executions from EventBridge rule metrics; replication from S3 replication metrics; release lag "
                "from `relay status --record` (run it on a schedule)."
            },
        }
    ]
    for row, watch in enumerate(props.regions):
        y = 2 + row * 6

        def widget(x: int, title: str, metrics: list[list], stat: str = "Sum", y: int = y, region: str = watch.region):
            return {
                "type": "metric",
                "x": x,
                "y": y,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": f"{region}: {title}",
                    "region": props.region,
                    "stat": stat,
                    "period": PERIOD,
                    "view": "timeSeries",
                    "metrics": metrics,
                },
            }

        widgets.append(
            widget(
                0,
                "executions",
                [
                    ["AWS/Events", "TriggeredRules", "RuleName", watch.succeeded_rule, {"label": "succeeded"}],
                    ["AWS/Events", "TriggeredRules", "RuleName", watch.failed_rule, {"label": "failed"}],
                ],
            )
        )
        if watch.replication:
            source, destination, rule = watch.replication
            dims = ["SourceBucket", source, "DestinationBucket", destination, "RuleId", rule]
            widgets.append(
                widget(
                    8,
                    "replication",
                    [
                        ["AWS/S3", "ReplicationLatency", *dims, {"stat": "Maximum", "label": "latency (s)"}],
                        ["AWS/S3", "OperationsPendingReplication", *dims, {"stat": "Maximum", "label": "pending"}],
                        ["AWS/S3", "OperationsFailedReplication", *dims, {"label": "failed"}],
                    ],
                )
            )
        dims = ["Application", props.application, "Region", watch.region]
        widgets.append(
            widget(
                16,
                "release lag (s)",
                [
                    [METRICS_NAMESPACE, "PublishToDeployedSeconds", *dims, {"label": "publish to deployed"}],
                    [METRICS_NAMESPACE, "BehindSeconds", *dims, {"label": "behind"}],
                ],
                stat="Maximum",
            )
        )
    return {"widgets": widgets}
