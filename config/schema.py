"""The typed configuration of one deployment (one environment of one app), and of the `context.relay`
block of cdktf.json that holds it.

Every field says its default. Validation happens here, before any construct is built; rules that
combine fields or need region data live in :mod:`config.loader`, which runs them even when some
field is invalid, so that every problem is reported at once.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from config.naming import Names

LOWER_NAME = r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$"
CONNECTION_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
CFN_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
REPOSITORY_ID = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
CODECOMMIT_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Git refuses these in branch names (git check-ref-format), so a pipeline filtering on them never fires.
BAD_BRANCH = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\])|(@\{)|([/.]$)|(\.lock$)|(//)")
OBJECT_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
# IAM names: letters, digits and +=,.@_- ; a path is /-separated segments of the same characters.
_IAM_NAME = r"[A-Za-z0-9+=,.@_-]"
PRINCIPAL_ARN = re.compile(rf"^arn:aws(-[a-z]+)*:iam::\d{{12}}:(root|role/({_IAM_NAME}+/)*{_IAM_NAME}{{1,64}})$")
MANAGED_POLICY_ARN = re.compile(rf"^arn:aws(-[a-z]+)*:iam::(\d{{12}}|aws):policy/({_IAM_NAME}+/)*{_IAM_NAME}{{1,128}}$")
KMS_KEY_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]{1,256})$"
)
ExceptableRule = Literal["service-wildcard", "resource-wildcard", "passrole-unconditioned"]
"""The rules of the deploy role's ceiling (config.deploy_policy) an exception may cover."""
MIN_EXCEPTION_REASON = 20
"""The shortest reason a deploy policy exception may give."""


def connection_region(connection_arn: str | None) -> str | None:
    """The region of a well-formed connection ARN (CodePipeline needs the connection in its own region)."""
    return connection_arn.split(":")[3] if connection_arn and CONNECTION_ARN.match(connection_arn) else None


def arn_partition(arn: str) -> str:
    """The partition of an ARN (its second field), e.g. `aws` or `aws-cn`."""
    return arn.split(":")[1]


def arn_region(arn: str) -> str:
    """The region of an ARN (its fourth field; empty for global services such as IAM)."""
    return arn.split(":")[3]


def _principal_arn(value: str) -> str:
    if not PRINCIPAL_ARN.match(value):
        raise ValueError(
            f"{value!r} is not an IAM principal ARN; allowed: a role, "
            "arn:aws:iam::<12-digit account>:role/<path/name>, or an account's root, "
            "arn:aws:iam::<12-digit account>:root (another partition's name in place of aws)"
        )
    return value


PrincipalArn = Annotated[
    str, AfterValidator(_principal_arn), WithJsonSchema({"type": "string", "pattern": PRINCIPAL_ARN.pattern})
]
"""An IAM role ARN or an account's root ARN (any account, any partition; the loader checks the partition)."""


def _managed_policy_arn(value: str) -> str:
    if not MANAGED_POLICY_ARN.match(value):
        raise ValueError(
            f"{value!r} is not a managed policy ARN; allowed: arn:aws:iam::<12-digit account>:policy/<path/name> "
            "(or arn:aws:iam::aws:policy/<name> for an AWS managed policy)"
        )
    return value


ManagedPolicyArn = Annotated[
    str, AfterValidator(_managed_policy_arn), WithJsonSchema({"type": "string", "pattern": MANAGED_POLICY_ARN.pattern})
]
"""The ARN of a managed IAM policy (customer or AWS managed)."""


def _kms_key_arn(value: str) -> str:
    if not KMS_KEY_ARN.match(value):
        raise ValueError(
            f"{value!r} is not a KMS key or alias ARN; allowed: "
            "arn:aws:kms:<region>:<12-digit account>:key/<key id> or "
            "arn:aws:kms:<region>:<12-digit account>:alias/<name>"
        )
    return value


KmsKeyArn = Annotated[
    str, AfterValidator(_kms_key_arn), WithJsonSchema({"type": "string", "pattern": KMS_KEY_ARN.pattern})
]
"""The ARN of a KMS key (`key/<id>`, multi-Region `key/mrk-<id>`) or of an alias (`alias/<name>`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TriggerMode(StrEnum):
    """How a new release object in a target bucket reaches the EventBridge rule."""

    EVENTBRIDGE = "eventbridge"
    CLOUDTRAIL = "cloudtrail"


class DeliveryStrategy(StrEnum):
    """How a release reaches one target region (see :mod:`regions.delivery` for the `auto` policy)."""

    AUTO = "auto"
    NATIVE = "native"
    BESPOKE = "bespoke"
    REMOTE = "remote"


class SourceProvider(StrEnum):
    """Where the home pipeline takes the application source from."""

    CONNECTION = "connection"
    CODECOMMIT = "codecommit"


class ConnectionProviderType(StrEnum):
    """The git host of a connection the home stack creates."""

    GITHUB = "GitHub"
    GITLAB = "GitLab"
    BITBUCKET = "Bitbucket"


class SourceConfig(_Strict):
    """The git repository and branch whose pushes and merges start a release."""

    provider: SourceProvider = SourceProvider.CONNECTION
    """`connection` (a CodeConnections/CodeStar connection to GitHub, GitLab or Bitbucket; default) or `codecommit`."""
    connection_arn: str | None = None
    """ARN of an existing, already authorised connection in the home region. Default: none, and the home
    stack creates the connection `<app>-<env>-source` (on AWS it starts PENDING: authorise it once in the
    console, Developer Tools > Connections, before the first push). Only with provider `connection`."""
    connection_provider_type: ConnectionProviderType = ConnectionProviderType.GITHUB
    """Git host of the connection the home stack creates (`GitHub`, `GitLab` or `Bitbucket`); default
    `GitHub`. Ignored when `connection_arn` names an existing connection."""
    repository: str
    """`owner/name` for a connection; the repository name for CodeCommit. Required."""
    branch: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    """The one branch whose pushes (and merges into it) start the home pipeline. Required."""

    @field_validator("branch")
    @classmethod
    def _branch_is_a_git_ref(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty or blank; allowed: a git branch name such as 'main'")
        if BAD_BRANCH.search(value):
            raise ValueError(
                f"{value!r} is not a valid git branch name; allowed: letters, digits, '-', '_', '.', '/' "
                "without '..', spaces, '~^:?*[\\' or a leading '-', '/' or '.'"
            )
        return value

    @model_validator(mode="after")
    def _provider_fields(self) -> SourceConfig:
        if self.provider is SourceProvider.CONNECTION:
            if self.connection_arn is not None and not CONNECTION_ARN.match(self.connection_arn):
                raise ValueError(
                    f"connection_arn {self.connection_arn!r} is malformed; allowed: "
                    "arn:aws:codeconnections:<region>:<12-digit account>:connection/<uuid> "
                    "(or the older codestar-connections service name)"
                )
            if not REPOSITORY_ID.match(self.repository):
                raise ValueError(f"repository {self.repository!r} must be 'owner/name' for a connection")
        else:
            if self.connection_arn:
                raise ValueError("connection_arn must not be set when provider is 'codecommit'")
            if not CODECOMMIT_REPOSITORY.match(self.repository):
                raise ValueError(
                    f"repository {self.repository!r} is not a CodeCommit repository name; "
                    "allowed: 1-100 of letters, digits, '.', '_', '-'"
                )
        return self


class ReleaseConfig(_Strict):
    """The release object CodeBuild writes and replication carries."""

    object_key: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = "release/source.zip"
    """Fixed key of the release zip in every release bucket. Default `release/source.zip`."""
    publishers: list[PrincipalArn] = []
    """IAM principals (role ARNs, or an account's root `arn:aws:iam::<account>:root`) allowed to write the
    release object by hand (`relay release`, or straight into a target region's release bucket) besides the
    pipeline's own writers (the build role at home, the replication role in the targets). Every other
    principal is denied by the release buckets' policies. Default none. In the home region's partition."""

    @field_validator("object_key")
    @classmethod
    def _safe_key(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/") or not OBJECT_KEY.match(value):
            raise ValueError(
                f"{value!r} is not a safe S3 object key; allowed: letters, digits and !_.*'()/- "
                "with no leading or trailing '/'"
            )
        return value


class TriggerConfig(_Strict):
    """How the replicated object starts the target-region pipeline."""

    mode: TriggerMode = TriggerMode.EVENTBRIDGE
    """`eventbridge` (S3 -> EventBridge notifications, delivered durably) or `cloudtrail` (a trail logging the
    release key's S3 data events, best effort and billed per event). Default `eventbridge`."""
    regions: dict[str, TriggerMode] = {}
    """Per-target-region override of `mode`, e.g. `{"ap-southeast-4": "cloudtrail"}`, for regions delivered
    `bespoke` only (the others have no trigger). Default none."""


class DeliveryConfig(_Strict):
    """How each target region receives and deploys a release."""

    strategy: DeliveryStrategy = DeliveryStrategy.AUTO
    """Strategy of every target region without an override: `auto` (default; decided per region from the
    region catalog), `native` (a cross-region CloudFormation action of the home pipeline), `bespoke`
    (replication, trigger and the region's own pipeline) or `remote` (a CodeBuild action of the home
    pipeline deploys into the region with CloudFormation)."""
    regions: dict[str, DeliveryStrategy] = {}
    """Per-target-region override of `strategy`, e.g. `{"eu-south-2": "bespoke"}`. Default none."""


class PolicyException(_Strict):
    """One statement of the deploy policy allowed past one rule of the deploy role's ceiling, with a reason."""

    sid: Annotated[str, StringConstraints(min_length=1)]
    """The `Sid` of the statement in `deploy.policy_file`. Required."""
    rule: ExceptableRule
    """The ceiling rule the statement may break. Required."""
    reason: Annotated[str, WithJsonSchema({"type": "string", "minLength": MIN_EXCEPTION_REASON})]
    """Why the statement needs it (at least 20 characters), for reviewers. Required."""

    @field_validator("reason")
    @classmethod
    def _written_reason(cls, value: str) -> str:
        if len(value.strip()) < MIN_EXCEPTION_REASON:
            raise ValueError(
                f"a reason of at least {MIN_EXCEPTION_REASON} characters is required (got {len(value.strip())}); "
                "say why the statement needs to break the rule"
            )
        return value


def _zip_path(value: str) -> str:
    if value.startswith("/") or ".." in Path(value).parts:
        raise ValueError(f"{value!r} must be a relative path inside the release zip")
    return value


ZipPath = Annotated[str, StringConstraints(min_length=1, max_length=250), AfterValidator(_zip_path)]
"""A path inside the release zip (a template's)."""


class DeployConfig(_Strict):
    """The CloudFormation deployment each target pipeline runs."""

    stack_name: str
    """Name of the CloudFormation stack deployed in every target region. Required."""
    template_path: ZipPath = "template.yaml"
    """Path of the template inside the release zip. Default `template.yaml`."""
    policy_file: str | None = None
    """JSON IAM policy document (path relative to the project) granting the CloudFormation role what the
    template creates; `${AWS::Region}`, `${AWS::AccountId}` and `${AWS::Partition}` are filled per region.
    It must stay under the deploy role's ceiling (see "Deploy role ceiling"). Default none: the role can
    deploy a template only of resources needing no permission."""
    policy_exceptions: list[PolicyException] = []
    """Statements of `policy_file` allowed past one ceiling rule each (`sid`, `rule`, `reason`). Default none;
    an entry that covers nothing is an error."""
    permissions_boundary_arn: ManagedPolicyArn | None = None
    """ARN of your own managed policy to use as the deploy role's permissions boundary. Default none: relay's
    default boundary, which the stacks create."""
    capabilities: list[Literal["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]] = []
    """CloudFormation capabilities the template needs. Default none."""
    parameter_overrides: dict[str, str] = {}
    """Template parameters set by the pipeline. Default none."""

    @field_validator("stack_name")
    @classmethod
    def _stack_name(cls, value: str) -> str:
        if not CFN_STACK_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a CloudFormation stack name; allowed: a letter, then letters, digits "
                "and '-', at most 128 characters"
            )
        return value


class ReplicationConfig(_Strict):
    """S3 cross-region replication of the release bucket."""

    delete_marker_replication: bool = False
    """Replicate delete markers, so deleting the release in the home region hides it in the targets.
    Default false: a target keeps its last release even if the home bucket is emptied."""
    storage_class: Literal["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "REDUCED_REDUNDANCY"] = (
        "STANDARD"
    )
    """Storage class of replicas. Default `STANDARD` (release objects are read right away)."""


class BucketConfig(_Strict):
    """Settings shared by every bucket the app creates."""

    noncurrent_version_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Days before a superseded object version is deleted. Default 90."""
    force_destroy: bool = False
    """Let `destroy` delete buckets that still hold objects. Default false (true in the emulator environment)."""


class StateConfig(_Strict):
    """Where Terraform keeps the state of each stack."""

    backend: Literal["local", "s3"] = "local"
    """`local` (files under `.relay/state/<environment>/`; default) or `s3`."""
    bucket: str | None = None
    """State bucket for the `s3` backend (created beforehand, versioned). Required with `s3`. A name with
    `{region}` (e.g. `example-org-terraform-state-{region}`) means one bucket per region: each stack keeps its
    state in its own region's bucket, so a target region's stack can be planned and deployed while the home
    region is down (static stability, Terraform included). Recommended; with one bucket, keep it out of the
    home region (`region`)."""
    region: str | None = None
    """Region of the state bucket (not used with `{region}` in `bucket`). Default: the home region."""
    key_prefix: str = "relay"
    """Prefix of the state objects: `<prefix>/<environment>/<stack>.tfstate`; the home and replication
    stacks' objects are named per home region, `<stack>.<home region>.tfstate`. Default `relay`."""
    kms_key_id: KmsKeyArn | None = None
    """ARN of the KMS key (or alias) that encrypts the state objects, in the state bucket's region; `s3`
    backend with one bucket only. Default none: the bucket's default encryption."""

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> StateConfig:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("bucket is required when backend is 's3'")
        if self.bucket and "{region}" in self.bucket and (self.region or self.kms_key_id):
            raise ValueError(
                "with '{region}' in bucket each stack's state is in its own region's bucket: "
                "omit region and kms_key_id (one key cannot encrypt in every region; use each bucket's default "
                "encryption)"
            )
        return self


class AuditConfig(_Strict):
    """The record of every write to the release objects."""

    release_writes: Literal["access_logs", "cloudtrail", "off"] | None = None
    """`access_logs` (S3 server access logs of each release bucket, into a log bucket per region),
    `cloudtrail` (a trail of the release keys' S3 data events, billed per event) or `off`. Default:
    `access_logs`, or `off` in the emulator environment."""


class KeysConfig(_Strict):
    """The KMS keys the stacks create."""

    administrators: list[PrincipalArn] = []
    """IAM principals (role ARNs, or an account's root) that administer the keys (policy, rotation,
    deletion) without being able to use them; the roles of the pipelines only use them. Default none.
    In the home region's partition."""


class EmulatorConfig(_Strict):
    """Synthesize for the local emulator instead of AWS (one switch; the stacks do not change)."""

    enabled: bool = False
    """Point every provider at the emulator with test credentials. Default false."""
    endpoint: Annotated[str, StringConstraints(pattern=r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")] = (
        "http://127.0.0.1:4566"
    )
    """Emulator endpoint. Default `http://127.0.0.1:4566`."""


PRIVATE_RANGES = tuple(
    ipaddress.ip_network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""The address ranges a platform VPC may use: RFC 1918 and the shared address space of RFC 6598."""
ASN_RANGES = ((64512, 65534), (4200000000, 4294967294))
"""The private ASN ranges a transit gateway accepts (16-bit and 32-bit)."""
DEFAULT_ASN_BASE = 64512
"""The first private 16-bit ASN: the default ASNs are it plus 0-999."""
# fmt: off
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
)
# fmt: on
"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days."""
LAMBDA_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)
ECR_NAME = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
"""An ECR repository name (the CreateRepository pattern), lowercase."""
TABLE_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
"""A DynamoDB table name's characters, lowercase."""
ATTRIBUTE_NAME = Annotated[str, StringConstraints(min_length=1, max_length=255)]
GatewayEndpoint = Literal["s3", "dynamodb"]
InterfaceEndpoint = Literal["secretsmanager", "ecr.api", "ecr.dkr", "logs", "kms", "sts", "ssm"]
KeyType = Literal["S", "N", "B"]
Port = Annotated[int, Field(ge=1, le=65535)]


def default_asn(region: str) -> int:
    """The transit gateway ASN of a region without one configured: 64512 + crc32(region) % 1000, so the same
    region always gets the same ASN (two regions may collide: then set one's `asn`)."""
    return DEFAULT_ASN_BASE + zlib.crc32(region.encode()) % 1000


def _cidr(value: str) -> str:
    try:
        if "/" not in value:
            raise ValueError(value)
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IPv4 CIDR block with its host bits zero, such as '10.10.0.0/16' or '0.0.0.0/0'"
        ) from None
    return str(network)


Cidr = Annotated[str, AfterValidator(_cidr)]
"""An IPv4 CIDR block with its host bits zero."""


def _vpc_cidr(value: str) -> str:
    network = ipaddress.IPv4Network(_cidr(value))
    if not any(network.subnet_of(block) for block in PRIVATE_RANGES):
        raise ValueError(
            f"{value!r} is not a private IPv4 range; allowed: inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 "
            "(RFC 1918) or 100.64.0.0/10 (RFC 6598)"
        )
    if not 16 <= network.prefixlen <= 24:
        raise ValueError(
            f"{value!r} is a /{network.prefixlen}; allowed: /16 to /24 (a VPC's limits; the network splits it into "
            "16 blocks, one per subnet, so /24 gives /28 subnets, the smallest AWS allows)"
        )
    return value


VpcCidr = Annotated[str, AfterValidator(_vpc_cidr)]
"""A private IPv4 CIDR block of /16 to /24."""


def _asn(value: int) -> int:
    if not any(low <= value <= high for low, high in ASN_RANGES):
        raise ValueError(
            f"{value} is not a private ASN a transit gateway accepts; allowed: 64512-65534 or 4200000000-4294967294"
        )
    return value


Asn = Annotated[int, AfterValidator(_asn)]
ZoneId = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,}[0-9]+(-[a-z]+[0-9]+)?-az[0-9]+$")]
"""An Availability Zone ID, e.g. `euw1-az1` (the same zone in every account, unlike `eu-west-1a`)."""
"""A private ASN a transit gateway accepts as its Amazon side ASN."""


def _lambda_arn(value: str) -> str:
    if not LAMBDA_ARN.match(value):
        raise ValueError(
            f"{value!r} is not a Lambda function ARN; allowed: "
            "arn:aws:lambda:<region>:<12-digit account>:function:<name>[:<alias or version>]"
        )
    return value


LambdaArn = Annotated[
    str, AfterValidator(_lambda_arn), WithJsonSchema({"type": "string", "pattern": LAMBDA_ARN.pattern})
]
"""The ARN of a Lambda function, optionally qualified by an alias or version."""


def _unique(what: str, values: list[Any], key: Callable[[Any], str] = str) -> list[Any]:
    seen: set[str] = set()
    for value in values:
        name = key(value)
        if name in seen:
            raise ValueError(f"{what} {name!r} is listed twice; each may appear once")
        seen.add(name)
    return values


@dataclass(frozen=True)
class RegionNetwork:
    """The network of one platform region, with the defaults applied."""

    cidr: str
    """The VPC's CIDR block."""
    az_count: int
    """How many Availability Zones the network spans (2 or 3)."""
    asn: int
    """The Amazon side ASN of the region's transit gateway."""
    zone_ids: tuple[str, ...] = ()
    """The Availability Zones by zone ID, pinned; empty: the first `az_count` zones offered."""


class NetworkRegionConfig(_Strict):
    """The network of one platform region."""

    cidr: VpcCidr
    """The VPC's CIDR block: private (RFC 1918, or 100.64.0.0/10), /16 to /24, overlapping no other platform
    region's. Required."""
    az_count: Annotated[int, Field(ge=2, le=3)] | None = None
    """Availability Zones of this region's network (2 or 3), at most the region's own. Default: `network.az_count`."""
    asn: Asn | None = None
    """Amazon side ASN of the region's transit gateway, unique across the platform regions: 64512-65534 or
    4200000000-4294967294. Default: 64512 + crc32(region) % 1000, the same for a region every time (two regions
    can collide: then set one's `asn`)."""
    zone_ids: list[ZoneId] | None = None
    """The Availability Zones by zone ID (e.g. `euw1-az1`), exactly `az_count` of them, different: pins the
    subnets to those zones. Default: the first `az_count` zones the region offers without opt-in, in the
    order AWS lists them (a zone listed earlier later, or one no longer `available`, would move subnets)."""

    @field_validator("zone_ids")
    @classmethod
    def _unique_zones(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique("zone id", value)

    @model_validator(mode="after")
    def _zones_match_count(self) -> NetworkRegionConfig:
        if self.zone_ids is not None and self.az_count is not None and len(self.zone_ids) != self.az_count:
            raise ValueError(f"zone_ids names {len(self.zone_ids)} zones; az_count is {self.az_count}: name as many")
        return self


class NetworkConfig(_Strict):
    """The VPC of each platform region: subnets, NAT, endpoints, security groups, flow logs."""

    az_count: Annotated[int, Field(ge=2, le=3)] = 2
    """Availability Zones each network spans (2 or 3; a region's own entry may override it), at most the
    region's own count (us-west-1 has two for most accounts). Default 2."""
    nat: Literal["per_az", "single", "none"] = "per_az"
    """NAT for the application subnets: `per_az` (a NAT gateway per AZ, so an AZ failure leaves the others their
    egress; default), `single` (one NAT gateway for every AZ: cheaper, one AZ's failure cuts egress for all)
    or `none` (no internet egress from the application subnets; endpoints only)."""
    gateway_endpoints: list[GatewayEndpoint] = ["s3", "dynamodb"]
    """Gateway VPC endpoints (free) on the application and data route tables: `s3`, `dynamodb`. Default both."""
    interface_endpoints: list[InterfaceEndpoint] = []
    """Interface VPC endpoints in the application subnets, with private DNS: any of `secretsmanager`, `ecr.api`,
    `ecr.dkr`, `logs`, `kms`, `sts`, `ssm`. Each is billed per AZ-hour (USD 0.01 per endpoint per AZ per hour
    in us-east-1, about USD 7.30 a month per AZ, plus USD 0.01 per GB processed; other regions cost more), so
    they pay off where they replace NAT traffic or `nat` is `none`. Default none."""
    ingress_cidrs: Annotated[list[Cidr], Field(min_length=1)] = ["0.0.0.0/0"]
    """CIDR blocks the load balancer accepts connections from on `listener_ports`. Default `0.0.0.0/0`."""
    listener_ports: Annotated[list[Port], Field(min_length=1)] = [80, 443]
    """Ports the load balancer listens on. Default 80 and 443."""
    app_port: Port = 8080
    """Port of the application tier (reached from the load balancer only). Default 8080."""
    data_port: Port = 5432
    """Port of the data tier (reached from the application tier only). Default 5432."""
    flow_logs_retention_days: int = 365
    """Days the VPC flow logs are kept, one of CloudWatch Logs' allowed values (1, 3, 5, 7, 14, 30, 60, 90,
    120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653). Default 365."""
    regions: dict[str, NetworkRegionConfig] = {}
    """One entry per platform region (the home region and every platform target), by region name, e.g.
    `{"eu-west-1": {"cidr": "10.10.0.0/16"}}`, each with `cidr` (required: private, RFC 1918 or 100.64.0.0/10,
    /16 to /24, overlapping no other platform region's), `az_count` (2 or 3, at most the region's own; default
    `az_count` above) and `asn` (the transit gateway's Amazon side ASN, 64512-65534 or 4200000000-4294967294,
    unique across the platform; default 64512 + crc32(region) % 1000, the same for a region every time). An entry
    for a region without a platform is an error. Default none (an enabled platform needs them all)."""

    @field_validator("gateway_endpoints", "interface_endpoints", "listener_ports")
    @classmethod
    def _unique_items(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        return _unique(f"{info.field_name} entry", value)

    @field_validator("flow_logs_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise ValueError(f"{value} is not a retention CloudWatch Logs accepts; allowed: {allowed}")
        return value

    @model_validator(mode="after")
    def _ports_apart(self) -> NetworkConfig:
        if self.app_port == self.data_port:
            raise ValueError(f"app_port and data_port are both {self.app_port}; the tiers need different ports")
        return self


class RotationConfig(_Strict):
    """Automatic rotation of a secret by a Lambda function of yours."""

    lambda_arn: LambdaArn
    """ARN of the rotation function, in the home region. Required."""
    days: Annotated[int, Field(ge=1, le=365)] = 30
    """Days between rotations (1-365). Default 30."""


class SecretConfig(_Strict):
    """One Secrets Manager secret in home, replicated to every platform target region with that region's key.

    Terraform creates it without a value: the value is set outside Terraform (PutSecretValue in home), so it is
    never in state, code or outputs; each region's application reads its own replica."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,32}$")]
    """The secret's short name (1-32 of a-z, 0-9, '-'); the secret is `<app>/<env>/<name>`. Required."""
    description: Annotated[str, StringConstraints(max_length=2048)] = ""
    """What the secret holds. Default empty."""
    rotation: RotationConfig | None = None
    """Rotation by a Lambda function of yours: `lambda_arn` (required; a function in the home region) and `days`
    between rotations (1-365, default 30). Default none: no rotation."""
    recovery_window_days: Annotated[int, Field(ge=0, le=30)] = 30
    """Days a destroyed secret can still be restored (7-30), or 0 to delete it at once. While it waits, no secret
    of the same name can be created: redeploying the platform's home stack within the window fails. Default 30
    (Secrets Manager's default)."""

    @field_validator("recovery_window_days")
    @classmethod
    def _recovery_window(cls, value: int) -> int:
        if 0 < value < 7:
            raise ValueError(f"recovery_window_days is {value}; allowed: 0 (delete at once) or 7-30")
        return value


class ImagesConfig(_Strict):
    """ECR repositories in home, replicated to every platform target region by the registry's replication."""

    repositories: list[Annotated[str, StringConstraints(min_length=2, max_length=200, pattern=ECR_NAME)]] = []
    """Short names of the image repositories (lowercase letters, digits, '.', '_', '-' and '/' between
    them); each repository is `<app>-<env>/<name>`. Default none."""
    scan_on_push: bool = True
    """Scan every image for vulnerabilities when it is pushed. Default true."""
    keep_tagged: Annotated[int, Field(ge=1, le=10000)] = 30
    """How many tagged images each repository keeps (the oldest beyond it expire). Default 30."""
    expire_untagged_days: Annotated[int, Field(ge=1, le=3650)] = 7
    """Days before an untagged image expires. Default 7."""

    @field_validator("repositories")
    @classmethod
    def _unique_repositories(cls, value: list[str]) -> list[str]:
        return _unique("repository", value)


class TableConfig(_Strict):
    """One DynamoDB global table (on-demand, streams, the data key) with a replica in every platform region."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TABLE_NAME)]
    """The table's short name (a-z, 0-9, '_', '.', '-'); the table is `<app>-<env>-<name>`. Required."""
    hash_key: ATTRIBUTE_NAME
    """Name of the partition key attribute. Required."""
    hash_key_type: KeyType = "S"
    """Type of the partition key: `S` (string), `N` (number) or `B` (binary). Default `S`."""
    range_key: ATTRIBUTE_NAME | None = None
    """Name of the sort key attribute. Default none."""
    range_key_type: KeyType = "S"
    """Type of the sort key: `S`, `N` or `B`. Default `S`; used only with `range_key`."""
    ttl_attribute: ATTRIBUTE_NAME | None = None
    """Attribute holding each item's expiry (epoch seconds) for DynamoDB's time to live. Default none."""

    @model_validator(mode="after")
    def _distinct_keys(self) -> TableConfig:
        if self.range_key is not None and self.range_key == self.hash_key:
            raise ValueError(f"range_key {self.range_key!r} is the hash_key; the sort key must be another attribute")
        return self


class DataConfig(_Strict):
    """The global tables and what every one of them gets."""

    tables: list[TableConfig] = []
    """The global tables (`name`, `hash_key`, ...). Default none."""
    point_in_time_recovery: bool = True
    """Continuous backups with point-in-time recovery on every table and replica. Default true."""
    deletion_protection: bool = True
    """Refuse to delete the tables (a destroy fails until it is turned off). Default true."""

    @field_validator("tables")
    @classmethod
    def _unique_tables(cls, value: list[TableConfig]) -> list[TableConfig]:
        return _unique("table", value, key=lambda table: table.name)


class PlatformConfig(_Strict):
    """The regional platform the application runs on (off by default).

    Each platform region (home and `regions`) gets a network with a transit gateway peered with home; from home,
    secrets, images and tables are replicated to every platform target region."""

    enabled: bool = False
    """Build the regional platform. Default false."""
    regions: Annotated[list[str], Field(min_length=1)] | None = None
    """The target regions that get a platform, each a target region, once (home always has one). Default: every
    target region. Only an enabled platform's regions and networks are checked against the regions, so
    `{"platform": {"enabled": false}}` switches it off whatever the targets."""
    network: NetworkConfig = NetworkConfig()
    secrets: list[SecretConfig] = []
    """Secrets Manager secrets (`name`, `description`, `rotation`). Default none."""
    images: ImagesConfig = ImagesConfig()
    data: DataConfig = DataConfig()

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique("region", value)

    @field_validator("secrets")
    @classmethod
    def _unique_secrets(cls, value: list[SecretConfig]) -> list[SecretConfig]:
        return _unique("secret", value, key=lambda secret: secret.name)

    def network_for(self, region: str) -> RegionNetwork:
        """The network of one platform region, defaults applied; KeyError when `network.regions` has no entry
        for it (the loader reports every missing entry before anything is built)."""
        entry = self.network.regions[region]
        return RegionNetwork(
            cidr=entry.cidr,
            az_count=entry.az_count if entry.az_count is not None else self.network.az_count,
            asn=entry.asn if entry.asn is not None else default_asn(region),
            zone_ids=tuple(entry.zone_ids or ()),
        )


ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]{1,64}$")
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$"
IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DOMAIN_NAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
HOSTED_ZONE_ID = r"^Z[A-Z0-9]{1,31}$"


def _certificate_arn(value: str) -> str:
    if not ACM_CERTIFICATE_ARN.match(value):
        raise ValueError(
            f"{value!r} is not an ACM certificate ARN; expected "
            "arn:aws:acm:<region>:<12-digit account>:certificate/<id>"
        )
    return value


CertificateArn = Annotated[str, AfterValidator(_certificate_arn)]


class CapacityConfig(_Strict):
    """Instances of the application's Auto Scaling group in an active region."""

    min_size: Annotated[int, Field(ge=0, le=100)] = 2
    """Fewest instances (0-100). Default 2."""
    max_size: Annotated[int, Field(ge=1, le=100)] = 4
    """Most instances (1-100). Default 4."""
    desired: Annotated[int, Field(ge=0, le=100)] = 2
    """Instances at start, between `min_size` and `max_size`; scaling moves it within them. Default 2."""

    @model_validator(mode="after")
    def _ordered(self) -> CapacityConfig:
        if not self.min_size <= self.desired <= self.max_size:
            raise ValueError(
                f"min_size {self.min_size}, desired {self.desired}, max_size {self.max_size}: "
                "allowed min_size <= desired <= max_size"
            )
        return self


class ApplicationConfig(_Strict):
    """The application tier the pipelines deploy in every platform target region (off by default).

    In those regions the release deploys `template_path` (load balancer, Auto Scaling group, launch template)
    with the region's platform parameters; other target regions deploy `deploy.template_path` as before.
    A region in `standby_regions` runs `standby_capacity` instances, every other one `capacity`."""

    enabled: bool = False
    """Deploy the application tier in the platform target regions. With the platform off, the tier (and the edge)
    is off too, so `{"platform": {"enabled": false}}` still switches the whole platform off. Default false."""
    template_path: ZipPath = "app-tier.yaml"
    """Path of the application tier's template inside the release zip. Default `app-tier.yaml`."""
    instance_type: Annotated[str, StringConstraints(pattern=INSTANCE_TYPE, max_length=32)] = "t3.micro"
    """EC2 instance type of the application's instances. Default `t3.micro`."""
    capacity: CapacityConfig = CapacityConfig()
    """Instances in an active region: `min_size`, `max_size`, `desired`. Default 2, 4, 2."""
    standby_capacity: Annotated[int, Field(ge=0, le=100)] = 1
    """Instances in a standby region (minimum, maximum and desired alike; 0 keeps only the load balancer).
    Default 1."""
    standby_regions: list[str] = []
    """The application regions that run on standby, each a platform target region, once; at least one
    application region must stay active. Promoting a standby region is moving it out of this list (and
    another into it). Default none: every application region active."""
    secret: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,32}$")] | None = None
    """The platform secret (`platform.secrets[].name`) the instances may read. Default: the first secret."""
    table: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TABLE_NAME)] | None = None
    """The platform table (`platform.data.tables[].name`) the instances may use. Default: the first table."""
    image: Annotated[str, StringConstraints(min_length=2, max_length=200, pattern=ECR_NAME)] | None = None
    """The platform image repository (`platform.images.repositories`) the instances run. Default: the first."""
    image_tag: Annotated[str, StringConstraints(pattern=IMAGE_TAG)] = "1.0.0"
    """Tag of the image the instances run (the repositories' tags are immutable). Default `1.0.0`."""
    certificate_arns: dict[str, CertificateArn] = {}
    """ACM certificate per application region, by region name: that region's load balancer listens on HTTPS
    (TLS 1.3/1.2 policy) and redirects HTTP to it. A region without one listens on plain HTTP. Default none."""

    @field_validator("standby_regions")
    @classmethod
    def _unique_standby(cls, value: list[str]) -> list[str]:
        return _unique("region", value)


class HealthCheckConfig(_Strict):
    """Route 53 health checks of each region's load balancer."""

    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9/_.~-]{0,254}$")] = "/healthz"
    """Path probed on the load balancer (HTTPS where the region has a certificate). Default `/healthz`."""
    request_interval: Literal[10, 30] = 10
    """Seconds between probes from each checker (10 or 30). Default 10."""
    failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3
    """Consecutive probes that change the status (1-10). Default 3."""


class CloudFrontConfig(_Strict):
    """The CloudFront distribution in front of the load balancers."""

    enabled: bool = True
    """Create the distribution (its origin group fails over from the primary to the secondary region).
    Default true."""
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    """Edge locations used: `PriceClass_100`, `PriceClass_200` or `PriceClass_All`. Default `PriceClass_100`."""
    certificate_arn: CertificateArn | None = None
    """ACM certificate (in us-east-1, as CloudFront requires) for `aliases`. Default none: CloudFront's own
    certificate and domain name (`*.cloudfront.net`), whose security policy CloudFront fixes."""
    minimum_protocol_version: Literal["TLSv1.2_2019", "TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"] = "TLSv1.2_2021"
    """Viewer security policy with `certificate_arn`: `TLSv1.2_2019`, `TLSv1.2_2021`, `TLSv1.2_2025` or
    `TLSv1.3_2025`. Default `TLSv1.2_2021`."""
    aliases: list[Annotated[str, StringConstraints(pattern=DOMAIN_NAME, max_length=200)]] = []
    """Domain names the distribution answers for; needs `certificate_arn`. Default none."""
    web_acl_id: (
        Annotated[str, StringConstraints(pattern=r"^arn:aws(-[a-z]+)*:wafv2:us-east-1:\d{12}:global/webacl/.+$")] | None
    ) = None
    """ARN of a WAFv2 web ACL (scope CLOUDFRONT) to attach. Default none."""
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Days the access logs are kept in the log bucket (stack `<app>-<env>-edge-logs` in the home region, deployed
    with the other stacks before the first release). Default 90."""

    @model_validator(mode="after")
    def _aliases_need_certificate(self) -> CloudFrontConfig:
        if self.aliases and self.certificate_arn is None:
            raise ValueError("aliases need certificate_arn (CloudFront serves other names only with their certificate)")
        if self.certificate_arn is not None and arn_region(self.certificate_arn) != "us-east-1":
            raise ValueError(
                f"certificate_arn is in {arn_region(self.certificate_arn)}; CloudFront only uses certificates in "
                "us-east-1"
            )
        return self


class EdgeConfig(_Strict):
    """The global edge of the application: Route 53 records that route by latency and fail over, and CloudFront
    (off by default; needs `application.enabled`).

    Names under `domain`: `<record>` fails over from the active regions (PRIMARY, `active.<record>`: latency
    records) to the standby regions (SECONDARY, `standby.<record>`), and `<region>.<record>` names each
    region's load balancer."""

    enabled: bool = False
    """Build the edge (stack `<app>-<env>-edge`, deployed after the first release: it finds the load balancers
    the release created). Default false."""
    domain: Annotated[str, StringConstraints(pattern=DOMAIN_NAME, max_length=200)] | None = None
    """The hosted zone's domain name, e.g. `example.com`. Required when enabled."""
    zone_id: Annotated[str, StringConstraints(pattern=HOSTED_ZONE_ID)] | None = None
    """ID of an existing public hosted zone for `domain`. Default none: relay creates the zone."""
    record: Annotated[str, StringConstraints(pattern=DNS_LABEL)] = "app"
    """The application's name under `domain`. Default `app`."""
    health_check: HealthCheckConfig = HealthCheckConfig()
    cloudfront: CloudFrontConfig = CloudFrontConfig()


SUBSCRIPTION_PROTOCOLS = ("email", "email-json", "sqs", "https", "lambda", "sms", "firehose")
SNS_ARN_PROTOCOLS = {"sqs": "sqs", "lambda": "lambda", "firehose": "firehose"}


class SubscriptionConfig(_Strict):
    """One subscription to the home region's notification topic."""

    protocol: Literal["email", "email-json", "sqs", "https", "lambda", "sms", "firehose"]
    """SNS protocol: `email`, `email-json`, `sqs`, `https`, `lambda`, `sms` or `firehose`. Required."""
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    """Where notifications go: an address for `email`/`email-json`, an `https://` URL, a phone number in E.164
    form for `sms`, the ARN of the queue, function or delivery stream otherwise. Required."""

    @model_validator(mode="after")
    def _endpoint_fits_protocol(self) -> SubscriptionConfig:
        protocol, endpoint = self.protocol, self.endpoint
        service = SNS_ARN_PROTOCOLS.get(protocol)
        if service and not re.match(rf"^arn:aws(-[a-z]+)*:{service}:[a-z0-9-]+:\d{{12}}:.+$", endpoint):
            raise ValueError(f"a {protocol} subscription's endpoint must be the ARN of a {service} resource")
        if protocol == "https" and not endpoint.startswith("https://"):
            raise ValueError("an https subscription's endpoint must be an https:// URL")
        if protocol.startswith("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", endpoint):
            raise ValueError(f"an {protocol} subscription's endpoint must be an e-mail address")
        if protocol == "sms" and not re.match(r"^\+[1-9]\d{6,14}$", endpoint):
            raise ValueError("an sms subscription's endpoint must be a phone number in E.164 form (+ and digits)")
        return self


class ObservabilityConfig(_Strict):
    """What tells the home region how each release went: events forwarded home, a notification topic, one
    dashboard and alarms (all in the home region)."""

    enabled: bool = True
    """Build any of it (the switches below). Default true."""
    forward_events: bool = True
    """Each target region forwards its pipeline executions' and its deployed stack's state changes to the home
    region's default event bus; if home is down only the forwarding fails. Default true."""
    subscriptions: list[SubscriptionConfig] = []
    """Subscriptions to the topic that receives failures (failed executions and stacks, alarms). Default none."""
    dashboard: bool = True
    """One CloudWatch dashboard in the home region, a row per region. Default true."""
    alarms: bool = True
    """Alarms on failed replication operations and failed target executions, to the topic. Default true."""
    replication_metrics: bool = True
    """S3 replication metrics on each replication rule (latency, pending and failed operations); billed as
    custom CloudWatch metrics. Default true."""
    replication_time_control: bool = False
    """S3 Replication Time Control: 99.99% of objects replicated within 15 minutes, at an extra charge per GB
    replicated (about USD 0.015/GB on top of replication). Needs `replication_metrics`. Default false."""

    @model_validator(mode="after")
    def _time_control_needs_metrics(self) -> ObservabilityConfig:
        if self.replication_time_control and not self.replication_metrics:
            raise ValueError("replication_time_control needs replication_metrics (S3 requires metrics with it)")
        return self


ConfigRule = Literal[
    "S3_BUCKET_VERSIONING_ENABLED",
    "S3_BUCKET_SSL_REQUESTS_ONLY",
    "S3_DEFAULT_ENCRYPTION_KMS",
    "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
    "S3_BUCKET_REPLICATION_ENABLED",
    "CLOUD_TRAIL_ENABLED",
    "CMK_BACKING_KEY_ROTATION_ENABLED",
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
    "IAM_NO_INLINE_POLICY_CHECK",
]
SecurityHubStandard = Literal[
    "aws-foundational-security-best-practices/v/1.0.0",
    "cis-aws-foundations-benchmark/v/1.4.0",
    "nist-800-53/v/5.0.0",
]
CONFIG_RULES: tuple[str, ...] = get_args(ConfigRule)
"""Every AWS managed Config rule `governance.config.rules` accepts."""
SECURITY_HUB_STANDARDS: tuple[str, ...] = get_args(SecurityHubStandard)
"""Every Security Hub standard `governance.security_hub.standards` accepts."""


class ConfigRecordingConfig(_Strict):
    """AWS Config in every region of the deployment (home and targets)."""

    enabled: bool = True
    """Manage AWS Config rules in each region. Default true."""
    recorder: Literal["create", "existing"] = "create"
    """`create`: relay creates each region's recorder and delivery channel (a bucket per region, encrypted with
    the region's key). `existing`: the account already records (AWS Config allows one recorder per region):
    relay adds its rules only. Default `create`."""
    rules: list[ConfigRule] = [
        "S3_BUCKET_VERSIONING_ENABLED",
        "S3_BUCKET_SSL_REQUESTS_ONLY",
        "S3_DEFAULT_ENCRYPTION_KMS",
        "CLOUD_TRAIL_ENABLED",
        "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
    ]
    """AWS managed rules evaluated in each region (IAM rules in the home region only, where the recorder records
    global resources). Default: bucket versioning, SSL-only, SSE-KMS, CloudTrail enabled, no admin policies."""
    delivery_frequency: Literal["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"] = (
        "TwentyFour_Hours"
    )
    """How often configuration snapshots are delivered, and periodic rules run. Default `TwentyFour_Hours`."""

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, value: list[str]) -> list[str]:
        return _unique("rule", value)


class SecurityHubConfig(_Strict):
    """Security Hub in every region of the deployment."""

    enabled: bool = True
    """Enable Security Hub in each region. Default true."""
    standards: list[SecurityHubStandard] = ["aws-foundational-security-best-practices/v/1.0.0"]
    """Standards enabled in each region. Default the AWS Foundational Security Best Practices."""
    aggregate_findings: bool = True
    """Aggregate the target regions' findings into the home region (a finding aggregator there). Default true."""

    @field_validator("standards")
    @classmethod
    def _unique_standards(cls, value: list[str]) -> list[str]:
        return _unique("standard", value)


class GovernanceConfig(_Strict):
    """AWS Config and Security Hub in each region; switch either off where an organisation runs it centrally."""

    config: ConfigRecordingConfig = ConfigRecordingConfig()
    security_hub: SecurityHubConfig = SecurityHubConfig()


TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w .:/=+@-]+$")]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=r"^[\w .:/=+@-]*$")]
Name = Annotated[str, StringConstraints(pattern=LOWER_NAME)]
EnvironmentName = Annotated[str, StringConstraints(pattern=LOWER_NAME, min_length=1, max_length=10)]
# One layer of settings: layers are merged before RelayConfig validates the result, so a layer may
# hold any part of it (config.json_schema describes it as a partial RelayConfig).
Settings = dict[str, Any]


class RelayConfig(_Strict):
    """One deployment: an app in one environment, its home region and its target regions."""

    app: Annotated[Name, StringConstraints(min_length=2, max_length=16)]
    """Short app name used in every physical name (2-16 of a-z, 0-9, '-'). Required."""
    environment: EnvironmentName
    """Environment name (1-10 of a-z, 0-9, '-'); set from the key under `environments`."""
    namespace: Annotated[Name, StringConstraints(min_length=1, max_length=20)] | None = None
    """Prefix for globally unique names (S3 buckets), e.g. your organisation or account id. Default none."""
    home_region: str
    """Region of the source-and-build pipeline and the release bucket. Required."""
    target_regions: Annotated[list[str], Field(min_length=1, max_length=20)]
    """Regions that receive and deploy each release, each by its delivery strategy (`delivery`). Required."""
    source: SourceConfig
    release: ReleaseConfig = ReleaseConfig()
    trigger: TriggerConfig = TriggerConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    deploy: DeployConfig
    replication: ReplicationConfig = ReplicationConfig()
    buckets: BucketConfig = BucketConfig()
    state: StateConfig = StateConfig()
    audit: AuditConfig = AuditConfig()
    keys: KeysConfig = KeysConfig()
    emulator: EmulatorConfig = EmulatorConfig()
    platform: PlatformConfig = PlatformConfig()
    application: ApplicationConfig = ApplicationConfig()
    edge: EdgeConfig = EdgeConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    governance: GovernanceConfig = GovernanceConfig()
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=40)] = {}
    """Tags on every resource, added to `app` and `environment` tags. Default none (at most 40)."""

    @field_validator("target_regions")
    @classmethod
    def _unique_targets(cls, value: list[str], info: ValidationInfo) -> list[str]:
        seen: set[str] = set()
        home = info.data.get("home_region")
        for region in value:
            if region == home:
                raise ValueError(
                    f"{region!r} is the home_region; a target must be another region (the home region already "
                    "has the release bucket)"
                )
            if region in seen:
                raise ValueError(f"{region!r} is listed twice; each target region may appear once")
            seen.add(region)
        return value

    def trigger_mode(self, region: str) -> TriggerMode:
        """The trigger mode of one target region (its override, else the deployment's mode)."""
        return self.trigger.regions.get(region, self.trigger.mode)

    def requested_delivery(self, region: str) -> DeliveryStrategy:
        """The delivery strategy the configuration asks for one target region (its override, else the
        deployment's strategy); `auto` is decided by :func:`regions.delivery.decide`."""
        return self.delivery.regions.get(region, self.delivery.strategy)

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r} uses the reserved 'aws:' prefix; choose another key")
            if key in ("app", "environment"):
                raise ValueError(f"tag key {key!r} is set by the app itself; choose another key")
        return value

    @property
    def audit_mode(self) -> Literal["access_logs", "cloudtrail", "off"]:
        """How writes to the release objects are recorded: `audit.release_writes`, else `off` in the emulator
        environment and `access_logs` outside it."""
        if self.audit.release_writes is not None:
            return self.audit.release_writes
        return "off" if self.emulator.enabled else "access_logs"

    @property
    def names(self) -> Names:
        """Physical names of this deployment."""
        return Names(self.app, self.environment, self.namespace)

    @property
    def regions(self) -> list[str]:
        """The home region followed by the target regions."""
        return [self.home_region, *self.target_regions]

    @property
    def platform_targets(self) -> list[str]:
        """The target regions with a platform, in `target_regions` order (`platform.regions`, else every target);
        empty when the platform is disabled."""
        if not self.platform.enabled:
            return []
        chosen = self.platform.regions
        return [region for region in self.target_regions if chosen is None or region in chosen]

    @property
    def application_regions(self) -> list[str]:
        """The regions that run the application tier: the platform targets; empty when the tier or the platform
        is off."""
        return self.platform_targets if self.application.enabled else []

    @property
    def has_application(self) -> bool:
        """The application tier is on (`application.enabled`, with the platform on)."""
        return bool(self.application_regions)

    @property
    def has_edge(self) -> bool:
        """The edge is on (`edge.enabled`, with the application tier on)."""
        return self.edge.enabled and self.has_application

    @property
    def has_edge_logs(self) -> bool:
        """The edge's CloudFront access logs have a stack of their own (the edge on, with CloudFront)."""
        return self.has_edge and self.edge.cloudfront.enabled

    @property
    def active_regions(self) -> list[str]:
        """The application regions at full capacity (not on standby), in `target_regions` order."""
        return [r for r in self.application_regions if r not in self.application.standby_regions]

    @property
    def standby_regions(self) -> list[str]:
        """The application regions on standby, in `target_regions` order."""
        return [r for r in self.application_regions if r in self.application.standby_regions]

    def standby(self, region: str) -> bool:
        """Whether an application region runs on standby."""
        return region in self.application.standby_regions

    @property
    def forwards_events(self) -> bool:
        """Target regions forward their pipeline and stack events to the home region's default bus."""
        return self.observability.enabled and self.observability.forward_events

    @property
    def governed(self) -> bool:
        """AWS Config rules or Security Hub are managed in every region."""
        return self.governance.config.enabled or self.governance.security_hub.enabled

    @property
    def every_target_has_stack(self) -> bool:
        """Every target region has a stack of its own, a `remote` one too (it holds the region's event forwarding
        and governance); without either, a `remote` region has none."""
        return self.forwards_events or self.governed

    @property
    def platform_regions(self) -> list[str]:
        """The regions with a platform: the home region, then the platform targets; empty when disabled."""
        return [self.home_region, *self.platform_targets] if self.platform.enabled else []


class RelayContext(_Strict):
    """The `context.relay` block of cdktf.json: shared defaults and one block of settings per environment."""

    default_environment: EnvironmentName | None = None
    """Environment used when `RELAY_ENV` is not set. Default none (then `RELAY_ENV` is required)."""
    defaults: Settings = {}
    """Settings every environment starts from. Default none."""
    environments: dict[EnvironmentName, Settings] = {}
    """Settings of each environment by name, merged over `defaults`. Default none."""
