"""Smoke tests for the APIs Terraform needs from CodeBuild, CloudTrail and CodeStar Connections."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import HOME, client

pytestmark = pytest.mark.emulator


def test_codebuild_project_crud(res):
    cb = client("codebuild", HOME)
    name = res.name("build")
    role = res.role("codebuild")
    project = {
        "name": name,
        "source": {
            "type": "NO_SOURCE",
            "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n",
        },
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        "serviceRole": role,
        "tags": [{"key": "team", "value": "relay"}],
    }
    created = cb.create_project(**project)["project"]
    res.defer(cb.delete_project, name=name)
    assert created["name"] == name
    assert created["arn"].endswith(f":project/{name}")

    got = cb.batch_get_projects(names=[name])["projects"][0]
    assert got["serviceRole"] == role
    assert got["environment"]["image"] == "aws/codebuild/standard:7.0"

    cb.update_project(name=name, description="updated")
    assert cb.batch_get_projects(names=[name])["projects"][0].get("description") == "updated"
    assert name in cb.list_projects()["projects"]

    cb.delete_project(name=name)
    assert cb.batch_get_projects(names=[name])["projects"] == []


def test_cloudtrail_trail_crud(res):
    ct = client("cloudtrail", HOME)
    s3 = client("s3", HOME)
    bucket = res.bucket(HOME, versioned=False, prefix="trail")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    name = res.name("trail")
    trail = ct.create_trail(Name=name, S3BucketName=bucket, IsMultiRegionTrail=True)
    res.defer(ct.delete_trail, Name=name)
    assert trail["Name"] == name
    arn = trail["TrailARN"]
    ct.start_logging(Name=arn)  # Terraform addresses trails by ARN
    assert ct.get_trail_status(Name=arn)["IsLogging"] is True
    described = ct.describe_trails(trailNameList=[name])["trailList"][0]
    assert described["S3BucketName"] == bucket and described["IsMultiRegionTrail"] is True
    ct.put_event_selectors(
        TrailName=arn,
        EventSelectors=[
            {
                "ReadWriteType": "WriteOnly",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}],
            }
        ],
    )
    assert ct.get_event_selectors(TrailName=arn)["EventSelectors"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "relay"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"][0]["TagsList"] == [{"Key": "team", "Value": "relay"}]
    ct.delete_trail(Name=arn)
    for call in (lambda: ct.get_trail(Name=name), lambda: ct.delete_trail(Name=name)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "TrailNotFoundException"

    with pytest.raises(ClientError) as err:
        ct.create_trail(Name=res.name("trail"), S3BucketName=res.name("missing-bucket"))
    assert err.value.response["Error"]["Code"] == "S3BucketDoesNotExistException"


@pytest.mark.parametrize("service", ["codestar-connections", "codeconnections"])
def test_connections_crud(res, service):
    cs = client(service, HOME)
    name = res.name("conn")
    arn = cs.create_connection(ProviderType="GitHub", ConnectionName=name, Tags=[{"Key": "team", "Value": "relay"}])[
        "ConnectionArn"
    ]
    res.defer(cs.delete_connection, ConnectionArn=arn)
    conn = cs.get_connection(ConnectionArn=arn)["Connection"]
    assert conn["ConnectionName"] == name
    assert conn["ConnectionStatus"] == "PENDING"
    assert conn["ProviderType"] == "GitHub"
    assert arn in [c["ConnectionArn"] for c in cs.list_connections()["Connections"]]
    cs.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    cs.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert cs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    cs.delete_connection(ConnectionArn=arn)
    with pytest.raises(ClientError) as err:
        cs.get_connection(ConnectionArn=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
