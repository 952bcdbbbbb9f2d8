"""CloudFormation in the emulator never reports a resource it did not create: a resource type
the emulator cannot create fails CreateStack, UpdateStack and change sets, naming the type."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import TARGET_A, client

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

UNSUPPORTED = "AWS::RDS::DBInstance"  # no resource provider in LocalStack community or the plugin
SAMPLE_APP = Path(__file__).resolve().parents[2] / "app" / "sample" / "template.yaml"
# The sample app names its parameter after the region: deploy it where relay's own stacks do not.
SAMPLE_REGION = "us-west-2"

SUPPORTED_TEMPLATE = """
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: {param}
      Type: String
      Value: {value}
"""
UNSUPPORTED_TEMPLATE = (
    SUPPORTED_TEMPLATE
    + f"""
  Balancer:
    Type: {UNSUPPORTED}
    Properties:
      Name: relay-unsupported
      Subnets: [subnet-1, subnet-2]
"""
)


@pytest.fixture
def stack(res):
    """A stack name, its parameter's name, and the region's clients; the stack is deleted after."""
    cfn = client("cloudformation", TARGET_A)
    name = res.name("cfn")
    res.defer(cfn.delete_stack, StackName=name)
    return {"name": name, "param": f"/relay/test/{uuid.uuid4().hex[:10]}", "cfn": cfn, "ssm": client("ssm", TARGET_A)}


def settled(cfn, name: str) -> dict:
    def done():
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return found if not found["StackStatus"].endswith("_IN_PROGRESS") else None

    return wait_for(f"stack {name} to settle", done, timeout=60, interval=0.3)


def reasons(cfn, name: str) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return "\n".join(e.get("ResourceStatusReason") or "" for e in events)


def test_create_stack_with_an_unsupported_type_fails_naming_it(stack):
    cfn, name = stack["cfn"], stack["name"]
    cfn.create_stack(StackName=name, TemplateBody=UNSUPPORTED_TEMPLATE.format(param=stack["param"], value="v1"))
    found = settled(cfn, name)
    assert found["StackStatus"] in ("CREATE_FAILED", "ROLLBACK_COMPLETE"), found
    assert UNSUPPORTED in reasons(cfn, name)
    resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert not [
        r for r in resources if r["ResourceStatus"].endswith("_COMPLETE") and r["LogicalResourceId"] == "Balancer"
    ]
    with pytest.raises(ClientError) as err:
        stack["ssm"].get_parameter(Name=stack["param"])
    assert err.value.response["Error"]["Code"] == "ParameterNotFound"


def test_update_stack_with_an_unsupported_type_fails_and_keeps_the_stack_usable(stack):
    cfn, ssm, name, param = stack["cfn"], stack["ssm"], stack["name"], stack["param"]
    cfn.create_stack(StackName=name, TemplateBody=SUPPORTED_TEMPLATE.format(param=param, value="v1"))
    assert settled(cfn, name)["StackStatus"] == "CREATE_COMPLETE"

    cfn.update_stack(StackName=name, TemplateBody=UNSUPPORTED_TEMPLATE.format(param=param, value="v2"))
    found = settled(cfn, name)
    assert found["StackStatus"].startswith("UPDATE_") and found["StackStatus"] != "UPDATE_COMPLETE", found
    assert found["StackStatus"].endswith(("_FAILED", "ROLLBACK_COMPLETE")), found
    assert UNSUPPORTED in reasons(cfn, name)
    assert ssm.get_parameter(Name=param)["Parameter"]["Value"] == "v1"

    cfn.update_stack(StackName=name, TemplateBody=SUPPORTED_TEMPLATE.format(param=param, value="v3"))
    assert settled(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert ssm.get_parameter(Name=param)["Parameter"]["Value"] == "v3"


def test_change_set_with_an_unsupported_type_fails_naming_it(stack):
    cfn, name = stack["cfn"], stack["name"]
    cfn.create_change_set(
        StackName=name,
        ChangeSetName="release",
        ChangeSetType="CREATE",
        TemplateBody=UNSUPPORTED_TEMPLATE.format(param=stack["param"], value="v1"),
    )

    def created():
        found = cfn.describe_change_set(StackName=name, ChangeSetName="release")
        return found if found["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS") else None

    change_set = wait_for("change set release", created, timeout=30, interval=0.3)
    assert change_set["Status"] == "FAILED" and UNSUPPORTED in change_set["StatusReason"]
    with pytest.raises(ClientError) as err:
        cfn.execute_change_set(StackName=name, ChangeSetName="release")
    assert err.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


def test_sample_app_still_deploys(res):
    cfn, name = client("cloudformation", SAMPLE_REGION), res.name("sample")
    res.defer(cfn.delete_stack, StackName=name)
    cfn.create_stack(
        StackName=name,
        TemplateBody=SAMPLE_APP.read_text(),
        Parameters=[{"ParameterKey": "ReleaseLabel", "ParameterValue": "r42"}],
    )
    found = settled(cfn, name)
    assert found["StackStatus"] == "CREATE_COMPLETE", found
    (resource,) = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert resource["ResourceType"] == "AWS::SSM::Parameter" and resource["PhysicalResourceId"] != "unknown"
    ssm = client("ssm", SAMPLE_REGION)
    value = ssm.get_parameter(Name=f"/relay-sample-app/{SAMPLE_REGION}/release")["Parameter"]["Value"]
    assert value == "r42"
