"""Helpers shared by the emulator plugin tests (boto3 clients, cleanup).

A uniquely named module (not conftest) so that `from emulator_helpers import ...` cannot
collide with other test folders of the repository. Waiting is `tools.wait.wait_for`; probes
that answer "not there yet" with an AWS error pass `retry_on=NOT_YET`.
"""

from __future__ import annotations

import json
import random
import socket
import urllib.error
import urllib.request

import boto3
import emulator as launcher
from botocore.config import Config
from botocore.exceptions import ClientError

from tools.wait import wait_for

ENDPOINT = launcher.endpoint()
ACCOUNT = "000000000000"
HOME = "eu-west-1"
TARGET_A = "eu-south-2"
TARGET_B = "ap-southeast-4"
# what a probe raises while the thing it waits for does not exist yet (404, NoSuchKey, ...)
NOT_YET = (ClientError,)

_CONFIG = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}, read_timeout=120)


def client(service: str, region: str = HOME, aws_access_key_id: str = "test", credentials=None, **config):
    """boto3 client for the emulator; a 12-digit access key id selects that account (its root),
    ``credentials`` (STS's AccessKeyId/SecretAccessKey/SessionToken) act as an assumed role."""
    cfg = _CONFIG.merge(Config(**config)) if config else _CONFIG
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    else:
        keys = {
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": "test",  # the emulator's fixed test credentials
        }
    return boto3.client(service, region_name=region, endpoint_url=ENDPOINT, config=cfg, **keys)


def wait_execution(cp, name: str, execution_id: str, timeout: float = 60) -> dict:
    """The pipeline execution once it has ended (any status but InProgress and Stopping)."""

    def done():
        ex = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)["pipelineExecution"]
        return ex if ex["status"] not in ("InProgress", "Stopping") else None

    return wait_for(f"execution {execution_id} of {name}", done, timeout=timeout, interval=0.2)


def wait_started(cp, name: str, timeout: float = 30) -> dict:
    """The summary of the pipeline's newest execution, once one has been started."""
    summaries = wait_for(
        f"an execution of {name} to start",
        lambda: cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"],
        timeout=timeout,
        interval=0.05,
    )
    return summaries[0]


def replicate_all_rule(destination: str) -> dict:
    """A replication rule copying every new object (no delete markers) to the bucket `destination`."""
    return {
        "ID": "all",
        "Status": "Enabled",
        "Priority": 1,
        "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
    }


def replicate_everything(source: str, destination: str, role: str, region: str = HOME) -> None:
    """One rule replicating every new object of `source` (in `region`) to `destination`."""
    rules = [replicate_all_rule(destination)]
    client("s3", region).put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": role, "Rules": rules})


def network(res, region: str, octet: int, group: str) -> dict:
    """A VPC 10.<octet>.0.0/16 with a subnet in each of the region's first two zones and a security group
    named after ``group``, all deleted at the end: ``{"vpc", "subnets", "group"}``."""
    ec2 = client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{octet}.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    group_id = ec2.create_security_group(GroupName=res.name(group), Description=group, VpcId=vpc)["GroupId"]
    res.defer(ec2.delete_vpc, VpcId=vpc)
    for subnet in subnets:
        res.defer(ec2.delete_subnet, SubnetId=subnet)
    res.defer(ec2.delete_security_group, GroupId=group_id)
    return {"vpc": vpc, "subnets": subnets, "group": group_id}


# CloudFront: AWS's managed policies the edge names (CachingDisabled, AllViewerExceptHostHeader,
# SecurityHeadersPolicy) and its default cache behavior, towards the origin group "app"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"


def default_cache_behavior() -> dict:
    """A new DefaultCacheBehavior (the tests change theirs)."""
    return {
        "TargetOriginId": "app",
        "ViewerProtocolPolicy": "redirect-to-https",
        "AllowedMethods": {
            "Quantity": 3,
            "Items": ["GET", "HEAD", "OPTIONS"],
            "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
        },
        "Compress": True,
        "CachePolicyId": CACHING_DISABLED,
        "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
        "ResponseHeadersPolicyId": SECURITY_HEADERS,
    }


def empty_and_delete(s3, bucket: str) -> None:
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            items = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if items:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": items, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass


class Resources:
    """Creates uniquely named resources and removes them at teardown, even after failures."""

    def __init__(self, uid: str):
        self.uid = uid
        self.n = 0
        self._cleanups: list = []

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.uid}-{self.n}"

    def defer(self, fn, *args, **kwargs):
        self._cleanups.append((fn, args, kwargs))

    def bucket(self, region: str, versioned: bool = True, prefix: str = "b") -> str:
        s3 = client("s3", region)
        name = self.name(prefix)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        self.defer(empty_and_delete, s3, name)
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def role(self, service: str = "s3") -> str:
        iam = client("iam", HOME)
        name = self.name("role")
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
        self.defer(iam.delete_role, RoleName=name)
        return arn

    def cleanup(self):
        for fn, args, kwargs in reversed(self._cleanups):
            try:
                fn(*args, **kwargs)
            except Exception:  # noqa: S110 - best effort; one failure must not stop the rest
                pass


def cfn_deploy_action(stack: str, role: str, region: str | None = None, **configuration: str) -> dict:
    """A CloudFormation CREATE_UPDATE action of `SourceArtifact::template.yaml` as `role`, in `region` when given
    (a cross-region action), with more `configuration` (e.g. ParameterOverrides)."""
    action = {
        "name": "Deploy",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
        "configuration": {
            "ActionMode": "CREATE_UPDATE",
            "StackName": stack,
            "TemplatePath": "SourceArtifact::template.yaml",
            "RoleArn": role,
            **configuration,
        },
        "inputArtifacts": [{"name": "SourceArtifact"}],
    }
    return {**action, "region": region} if region else action


def cfn_deploy_stage(stack: str, role: str, region: str | None = None) -> dict:
    """A pipeline's Deploy stage of one `cfn_deploy_action`."""
    return {"name": "Deploy", "actions": [cfn_deploy_action(stack, role, region)]}


def s3_source_stage(bucket: str, key: str) -> dict:
    """A pipeline's Source stage: one S3 source action (no polling) on `bucket`/`key`, output `SourceArtifact`."""
    return {
        "name": "Source",
        "actions": [
            {
                "name": "Source",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "SourceArtifact"}],
            }
        ],
    }


SSM_PARAMETER_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: {name}
      Type: String
      Value: {value}
"""
"""A CloudFormation template of one SSM parameter (`.format(name=..., value=...)`)."""


def free_port() -> int:
    """A free port below the kernel's ephemeral range, which client connections (of this suite, or of any
    program on the machine) take their local ports from between the check here and an emulator's bind."""
    while True:
        port = random.randrange(20000, 32768)  # noqa: S311 - spreads test ports, protects nothing
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def relay_api(method: str, path: str, body=None) -> tuple[int, dict]:
    """(status, JSON answer) of one of the plugin's own routes (``/_relay/...``) on the suite's emulator."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)  # noqa: S310 - the local emulator
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - the local emulator
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
