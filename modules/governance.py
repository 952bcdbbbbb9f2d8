"""One region's governance: AWS Config (its recorder, delivery channel and bucket, or an account's existing
recorder) with AWS managed rules for what relay creates, and Security Hub with its standards; in the home
region, Security Hub's aggregation of the target regions' findings.

AWS Config allows one recorder and one delivery channel per account and region: `recorder` is None where the
account records already (relay then adds its rules only). The home region's recorder records the global
resources (IAM), so the rules on IAM resources run there only; elsewhere they would evaluate nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.policy_checks import suppress
from modules.secure_bucket import SecureBucket, SecureBucketProps


@dataclass(frozen=True)
class ManagedRule:
    """How one AWS managed Config rule is triggered: by configuration changes of `scope` (resource types), or
    periodically (`periodic`, at the configured frequency)."""

    description: str
    """What the rule checks (the rule's description)."""
    scope: tuple[str, ...] = ()
    """Resource types whose configuration changes trigger the rule; empty for a periodic rule."""
    periodic: bool = False
    """The rule runs on a schedule (it evaluates the account, not one resource). Default false."""
    home_only: bool = False
    """The rule evaluates global (IAM) resources, recorded in the home region only. Default false."""


MANAGED_RULES: Mapping[str, ManagedRule] = {
    "S3_BUCKET_VERSIONING_ENABLED": ManagedRule("S3 buckets have versioning enabled", scope=("AWS::S3::Bucket",)),
    "S3_BUCKET_SSL_REQUESTS_ONLY": ManagedRule(
        "S3 bucket policies deny requests without TLS", scope=("AWS::S3::Bucket",)
    ),
    "S3_DEFAULT_ENCRYPTION_KMS": ManagedRule(
        "S3 buckets encrypt by default with a KMS key (SSE-KMS)", scope=("AWS::S3::Bucket",)
    ),
    "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED": ManagedRule(
        "S3 buckets block public access", scope=("AWS::S3::Bucket",)
    ),
    "S3_BUCKET_REPLICATION_ENABLED": ManagedRule(
        "S3 buckets have replication rules enabled", scope=("AWS::S3::Bucket",)
    ),
    "CLOUD_TRAIL_ENABLED": ManagedRule("The account has a CloudTrail trail", periodic=True),
    "CMK_BACKING_KEY_ROTATION_ENABLED": ManagedRule(
        "Customer-managed KMS keys rotate their key material", periodic=True
    ),
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS": ManagedRule(
        "No customer-managed IAM policy allows every action on every resource",
        scope=("AWS::IAM::Policy",),
        home_only=True,
    ),
    "IAM_NO_INLINE_POLICY_CHECK": ManagedRule(
        "No IAM user, role or group has an inline policy",
        scope=("AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group"),
        home_only=True,
    ),
}
"""AWS managed rule identifier -> how it is triggered; every identifier `governance.config.rules` accepts."""

CONFIG_SERVICE = "config.amazonaws.com"
CONFIG_ROLE_POLICY = "service-role/AWS_ConfigRole"
"""AWS managed policy of a Config recorder's role (read access to the recorded resources' configuration)."""


def rules_for(identifiers: tuple[str, ...] | list[str], *, home: bool) -> list[str]:
    """The rules of `identifiers` a region runs: the home region all of them, another region those on
    regional resources (not the IAM rules)."""
    unknown = [i for i in identifiers if i not in MANAGED_RULES]
    if unknown:
        raise ValueError(f"unknown AWS Config rules {unknown}; known: {', '.join(MANAGED_RULES)}")
    return [i for i in identifiers if home or not MANAGED_RULES[i].home_only]


def standards_arn(partition: str, region: str, standard: str) -> str:
    """ARN of a Security Hub standard (`aws-foundational-security-best-practices/v/1.0.0`) in one region."""
    return f"arn:{partition}:securityhub:{region}::standards/{standard}"


@dataclass(frozen=True)
class ConfigRecorderProps:
    """Props of the recorder, delivery channel, bucket and role relay creates in a region."""

    recorder_name: str
    """Configuration recorder name (from config.naming). Required."""
    channel_name: str
    """Delivery channel name (from config.naming). Required."""
    role_name: str
    """Name of the role the recorder assumes (from config.naming). Required."""
    bucket: SecureBucketProps
    """Props of the delivery bucket (the region's key, the shared bucket settings); AWS Config's statements are
    added to its policy here. Required."""
    kms_key_arn: str
    """The region's key: the bucket's default encryption and the channel's `s3_kms_key_arn` (its policy must let
    AWS Config use it, `RegionKeyProps.config_delivery_bucket_arn`). Required."""


@dataclass(frozen=True)
class GovernanceProps:
    """Props of :class:`Governance`."""

    region: str
    """The region governed. Required."""
    home: bool
    """The home region: its recorder records global resources, it runs the IAM rules and aggregates findings."""
    account_id: str
    """The account governed (the confused-deputy conditions). Required."""
    partition: str = "aws"
    """AWS partition. Default `aws`."""
    rules: Mapping[str, str] = field(default_factory=dict)
    """AWS managed rule identifier -> the rule's name, for the rules this region runs (:func:`rules_for`).
    Default none (AWS Config off)."""
    delivery_frequency: str = "TwentyFour_Hours"
    """Snapshot delivery frequency, and the maximum frequency of the periodic rules. Default
    `TwentyFour_Hours`."""
    recorder: ConfigRecorderProps | None = None
    """The recorder relay creates; None where the account's existing recorder records (or Config is off)."""
    security_hub: bool = False
    """Enable Security Hub in the region. Default false."""
    standards: tuple[str, ...] = ()
    """Security Hub standards subscribed (`aws-foundational-security-best-practices/v/1.0.0`). Default none."""
    aggregated_regions: tuple[str, ...] = ()
    """Home only: the regions whose findings this region's finding aggregator links. Default none (no
    aggregator)."""


class Governance(Construct):
    """AWS Config rules (and, when relay records, the recorder, its role, delivery bucket and channel) and
    Security Hub (account, standards, and in home the finding aggregator) of one region."""

    def __init__(self, scope: Construct, id: str, *, props: GovernanceProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        if props.aggregated_regions and not props.home:
            raise ValueError(f"{props.region}: only the home region aggregates Security Hub findings")
        if (props.standards or props.aggregated_regions) and not props.security_hub:
            raise ValueError(f"{props.region}: Security Hub standards and aggregation need Security Hub enabled")
        rules_for(list(props.rules), home=True)  # refuses an unknown identifier
        if not props.home and any(MANAGED_RULES[i].home_only for i in props.rules):
            raise ValueError(f"{props.region}: the IAM rules run in the home region only")
        self.bucket: SecureBucket | None = None
        self.role: iam.ServiceRole | None = None
        self.recorder: aws.config_configuration_recorder.ConfigConfigurationRecorder | None = None
        self.channel: aws.config_delivery_channel.ConfigDeliveryChannel | None = None
        self.recorder_status: aws.config_configuration_recorder_status.ConfigConfigurationRecorderStatus | None = None
        if props.recorder is not None:
            self._recorder(props, props.recorder, provider)
        self.rules = {
            identifier: self._rule(props, identifier, name, provider) for identifier, name in props.rules.items()
        }
        self.hub: aws.securityhub_account.SecurityhubAccount | None = None
        self.standards: dict[str, aws.securityhub_standards_subscription.SecurityhubStandardsSubscription] = {}
        self.aggregator: aws.securityhub_finding_aggregator.SecurityhubFindingAggregator | None = None
        if props.security_hub:
            self._security_hub(props, provider)

    def _recorder(self, props: GovernanceProps, recorder: ConfigRecorderProps, provider) -> None:
        """The delivery bucket, the recorder's role, the recorder (every supported type; global ones in home),
        its delivery channel and its status (recording once the channel exists)."""
        bucket_arn = f"arn:{props.partition}:s3:::{recorder.bucket.name}"
        delivered = f"{bucket_arn}/AWSLogs/{props.account_id}/Config/*"
        this_account = {"aws:SourceAccount": props.account_id}
        config = {"Service": CONFIG_SERVICE}
        statements = (
            {
                "Sid": "AWSConfigBucketPermissionsCheck",
                "Effect": "Allow",
                "Principal": config,
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": this_account},
            },
            {
                "Sid": "AWSConfigBucketExistenceCheck",
                "Effect": "Allow",
                "Principal": config,
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringEquals": this_account},
            },
            {
                "Sid": "AWSConfigBucketDelivery",
                "Effect": "Allow",
                "Principal": config,
                "Action": "s3:PutObject",
                "Resource": delivered,
                "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **this_account}},
            },
        )
        bucket_props = replace(
            recorder.bucket,
            kms_key_arn=recorder.kms_key_arn,
            extra_policy_statements=statements,
            eventbridge_notifications=False,
        )
        self.bucket = SecureBucket(self, "bucket", props=bucket_props, provider=provider)
        suppress(
            self.bucket.bucket,
            "CKV_AWS_18",
            "AWS Config's own delivery bucket: only AWS Config writes it (its policy names the service for this "
            "account) and CloudTrail records the account's Config activity; logging access to it would need "
            "another log bucket for that log",
        )
        self.role = iam.ServiceRole(
            self,
            "role",
            name=recorder.role_name,
            service=CONFIG_SERVICE,
            source_account=props.account_id,
            description="AWS Config: record this region's resource configurations and deliver them to its bucket",
            statements=[
                iam.allow(
                    "DeliverConfiguration",
                    ["s3:PutObject"],
                    [delivered],
                    Condition={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
                ),
                iam.allow("CheckBucketAcl", ["s3:GetBucketAcl"], [bucket_arn]),
                iam.allow("EncryptDeliveries", ["kms:GenerateDataKey"], [recorder.kms_key_arn]),
            ],
            policy_name="deliver",
            provider=provider,
        )
        managed = aws.iam_role_policy_attachment.IamRolePolicyAttachment(
            self,
            "managed-policy",
            provider=provider,
            role=self.role.role.name,
            policy_arn=f"arn:{props.partition}:iam::aws:policy/{CONFIG_ROLE_POLICY}",
        )
        group = aws.config_configuration_recorder.ConfigConfigurationRecorderRecordingGroup(
            all_supported=True, include_global_resource_types=props.home
        )
        self.recorder = aws.config_configuration_recorder.ConfigConfigurationRecorder(
            self,
            "recorder",
            provider=provider,
            name=recorder.recorder_name,
            role_arn=self.role.arn,
            recording_group=group,
            depends_on=[managed],
        )
        if not props.home:
            suppress(
                self.recorder,
                "CKV2_AWS_48",
                "global resources (IAM) are recorded once, by the home region's recorder; recording them in every "
                "region would duplicate their configuration items and the IAM rules' evaluations",
            )
        self.channel = aws.config_delivery_channel.ConfigDeliveryChannel(
            self,
            "channel",
            provider=provider,
            name=recorder.channel_name,
            s3_bucket_name=self.bucket.bucket.bucket,
            s3_kms_key_arn=recorder.kms_key_arn,
            snapshot_delivery_properties=aws.config_delivery_channel.ConfigDeliveryChannelSnapshotDeliveryProperties(
                delivery_frequency=props.delivery_frequency
            ),
            # AWS Config checks at creation that it may deliver to the bucket (its policy, the role's).
            depends_on=[self.recorder, self.bucket.policy, *([self.role.policy] if self.role.policy else [])],
        )
        self.recorder_status = aws.config_configuration_recorder_status.ConfigConfigurationRecorderStatus(
            self,
            "status",
            provider=provider,
            name=self.recorder.name,
            is_enabled=True,
            depends_on=[self.channel],
        )

    def _rule(
        self, props: GovernanceProps, identifier: str, name: str, provider
    ) -> aws.config_config_rule.ConfigConfigRule:
        rule = MANAGED_RULES[identifier]
        cr = aws.config_config_rule
        return cr.ConfigConfigRule(
            self,
            f"rule-{identifier.lower().replace('_', '-')}",
            provider=provider,
            name=name,
            description=f"{rule.description} (AWS managed rule {identifier})",
            source=cr.ConfigConfigRuleSource(owner="AWS", source_identifier=identifier),
            scope=cr.ConfigConfigRuleScope(compliance_resource_types=list(rule.scope)) if rule.scope else None,
            maximum_execution_frequency=props.delivery_frequency if rule.periodic else None,
            # A rule needs a recorder; relay's must exist first (an existing one does already).
            depends_on=[self.recorder] if self.recorder is not None else None,
        )

    def _security_hub(self, props: GovernanceProps, provider) -> None:
        self.hub = aws.securityhub_account.SecurityhubAccount(
            self,
            "security-hub",
            provider=provider,
            enable_default_standards=False,
            control_finding_generator="SECURITY_CONTROL",
            auto_enable_controls=True,
        )
        sub = aws.securityhub_standards_subscription
        self.standards = {
            standard: sub.SecurityhubStandardsSubscription(
                self,
                f"standard-{standard.split('/', 1)[0]}",
                provider=provider,
                standards_arn=standards_arn(props.partition, props.region, standard),
                depends_on=[self.hub],
            )
            for standard in props.standards
        }
        if props.aggregated_regions:
            self.aggregator = aws.securityhub_finding_aggregator.SecurityhubFindingAggregator(
                self,
                "finding-aggregator",
                provider=provider,
                linking_mode="SPECIFIED_REGIONS",
                specified_regions=list(props.aggregated_regions),
                depends_on=[self.hub],
            )
