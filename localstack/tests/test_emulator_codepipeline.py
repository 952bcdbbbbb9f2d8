"""CodePipeline API round-trips, executions (S3 source + CloudFormation deploy), the
EventBridge -> CodePipeline target, and AWS-shaped errors."""

from __future__ import annotations

import copy
import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, HOME, TARGET_A, client, replicate_everything, wait_execution, wait_started

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Message:
    Type: String
    Default: default
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: {name}
      Type: String
      Value: !Ref Message
Outputs:
  ParamName:
    Value: !Ref Param
"""

BROKEN_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: {name}
      Type: String
      Value: !GetAtt Missing.Arn
"""

UNSUPPORTED_TYPE = "AWS::RDS::DBInstance"  # no resource provider in LocalStack community or the plugin
UNSUPPORTED_TEMPLATE = TEMPLATE.replace(
    "Outputs:",
    f"""  Balancer:
    Type: {UNSUPPORTED_TYPE}
    Properties:
      Name: relay-unsupported
      Subnets: [subnet-1, subnet-2]
Outputs:""",
)

FAILING_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: "Invalid_Bucket_Name!!"
"""


def release_zip(template: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("template.yaml", template)
        zf.writestr("VERSION", "1.0.0")
    return buf.getvalue()


def declaration(name, role, source_bucket, artifact_bucket, stack, key_arn=None, message="hello", deploy=None):
    """A V2 pipeline: S3 source, CloudFormation deploy (its configuration updated with `deploy`)."""
    store = {"type": "S3", "location": artifact_bucket}
    if key_arn:
        store["encryptionKey"] = {"id": key_arn, "type": "KMS"}
    return {
        "name": name,
        "roleArn": role,
        "artifactStore": store,
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "variables": [{"name": "env", "defaultValue": "local", "description": "deployment env"}],
        "triggers": [
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": "Source",
                    "push": [{"branches": {"includes": ["main"]}}],
                },
            }
        ],
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "S3",
                            "version": "1",
                        },
                        "runOrder": 1,
                        "configuration": {
                            "S3Bucket": source_bucket,
                            "S3ObjectKey": "release.zip",
                            "PollForSourceChanges": "false",
                        },
                        "outputArtifacts": [{"name": "SourceArtifact"}],
                        "inputArtifacts": [],
                        "namespace": "SourceVariables",
                    }
                ],
            },
            {
                "name": "Deploy",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {
                            "category": "Deploy",
                            "owner": "AWS",
                            "provider": "CloudFormation",
                            "version": "1",
                        },
                        "runOrder": 1,
                        "configuration": {
                            "ActionMode": "CREATE_UPDATE",
                            "StackName": stack,
                            "TemplatePath": "SourceArtifact::template.yaml",
                            "RoleArn": role,
                            "Capabilities": "CAPABILITY_IAM,CAPABILITY_NAMED_IAM",
                            "ParameterOverrides": json.dumps({"Message": message}),
                            **(deploy or {}),
                        },
                        "inputArtifacts": [{"name": "SourceArtifact"}],
                        "outputArtifacts": [],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def pipeline_env(res):
    """Source bucket, artifact bucket and roles in the target region; cleanup of stacks/pipelines."""
    region = TARGET_A
    env = {
        "region": region,
        "source": res.bucket(region, prefix="src"),
        "artifacts": res.bucket(region, prefix="art"),
        "role": res.role("codepipeline"),
        "stack": res.name("stack"),
        "param": "/relay/test/" + res.name("p"),
    }
    cfn, cp = client("cloudformation", region), client("codepipeline", region)
    res.defer(_delete_stack, cfn, env["stack"])
    env["pipelines"] = []

    def cleanup_pipelines():
        for name in env["pipelines"]:
            try:
                cp.delete_pipeline(name=name)
            except ClientError:
                pass

    res.defer(cleanup_pipelines)
    return env


def _delete_stack(cfn, name):
    try:
        cfn.delete_stack(StackName=name)
        wait_for(f"stack {name} deleted", lambda: _stack_gone(cfn, name), timeout=30, interval=0.3)
    except ClientError:
        pass


def _stack_gone(cfn, name):
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    except ClientError:
        return True


def create(env, res, **kw):
    name = res.name("pipe")
    env["pipelines"].append(name)
    decl = declaration(name, env["role"], env["source"], env["artifacts"], env["stack"], **kw)
    out = client("codepipeline", env["region"]).create_pipeline(pipeline=decl, tags=[{"key": "team", "value": "relay"}])
    return name, decl, out


def test_pipeline_declaration_round_trips_and_versions(pipeline_env, res):
    env = pipeline_env
    cp = client("codepipeline", env["region"])
    name, decl, out = create(env, res, key_arn=f"arn:aws:kms:{env['region']}:{ACCOUNT}:alias/aws/s3")
    expected = copy.deepcopy(decl)
    expected["version"] = 1
    assert out["pipeline"] == expected
    assert out["tags"] == [{"key": "team", "value": "relay"}]

    got = cp.get_pipeline(name=name)
    assert got["pipeline"] == expected
    arn = f"arn:aws:codepipeline:{env['region']}:{ACCOUNT}:{name}"
    assert got["metadata"]["pipelineArn"] == arn
    assert got["metadata"]["created"] and got["metadata"]["updated"]

    changed = copy.deepcopy(decl)
    changed["stages"][1]["actions"][0]["configuration"]["ParameterOverrides"] = json.dumps({"Message": "v2"})
    changed["executionMode"] = "SUPERSEDED"
    updated = cp.update_pipeline(pipeline=changed)["pipeline"]
    assert updated["version"] == 2
    assert cp.get_pipeline(name=name)["pipeline"]["executionMode"] == "SUPERSEDED"
    assert cp.get_pipeline(name=name, version=1)["pipeline"]["executionMode"] == "QUEUED"

    names = [p["name"] for p in cp.list_pipelines()["pipelines"]]
    assert name in names
    summary = next(p for p in cp.list_pipelines()["pipelines"] if p["name"] == name)
    assert summary["version"] == 2 and summary["pipelineType"] == "V2"

    cp.tag_resource(resourceArn=arn, tags=[{"key": "stage", "value": "test"}])
    cp.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "stage", "value": "test"}]

    cp.delete_pipeline(name=name)
    with pytest.raises(ClientError) as err:
        cp.delete_pipeline(name=name)
    assert err.value.response["Error"]["Code"] == "PipelineNotFoundException"


def test_unknown_pipeline_and_malformed_requests_use_aws_error_shape(pipeline_env, res):
    cp = client("codepipeline", pipeline_env["region"])
    for call in (
        lambda: cp.get_pipeline(name="relay-does-not-exist"),
        lambda: cp.start_pipeline_execution(name="relay-does-not-exist"),
        lambda: cp.get_pipeline_state(name="relay-does-not-exist"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "PipelineNotFoundException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "relay-does-not-exist" in err.value.response["Error"]["Message"]

    unvalidated = client("codepipeline", pipeline_env["region"], parameter_validation=False)
    with pytest.raises(ClientError) as err:
        unvalidated.create_pipeline(pipeline={"name": res.name("bad")})
    assert err.value.response["Error"]["Code"] == "ValidationException"

    decl = declaration(res.name("bad"), pipeline_env["role"], "bucket", "artifacts", "stack")
    decl["stages"] = decl["stages"][:1]
    with pytest.raises(ClientError) as err:
        cp.create_pipeline(pipeline=decl)
    assert err.value.response["Error"]["Code"] == "InvalidStructureException"

    with pytest.raises(ClientError) as err:
        cp.list_tags_for_resource(resourceArn=f"arn:aws:codepipeline:{pipeline_env['region']}:{ACCOUNT}:nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_execution_runs_s3_source_and_cloudformation_deploy(pipeline_env, res):
    env = pipeline_env
    region = env["region"]
    s3, cp = client("s3", region), client("codepipeline", region)
    put = s3.put_object(Bucket=env["source"], Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"])))
    name, _, _ = create(env, res, message="first")

    execution_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    ex = wait_execution(cp, name, execution_id)
    assert ex["status"] == "Succeeded", ex
    assert ex["trigger"]["triggerType"] == "StartPipelineExecution"
    assert ex["artifactRevisions"][0]["revisionId"] == put["VersionId"]

    (summary,) = [
        s
        for s in cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
        if s["pipelineExecutionId"] == execution_id
    ]
    assert summary["sourceRevisions"][0]["revisionId"] == put["VersionId"]
    assert summary["sourceRevisions"][0]["actionName"] == "Source"

    stack = client("cloudformation", region).describe_stacks(StackName=env["stack"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert client("ssm", region).get_parameter(Name=env["param"])["Parameter"]["Value"] == "first"

    # the artifact really is in the artifact store
    assert s3.list_objects_v2(Bucket=env["artifacts"], Prefix=name[:20]).get("KeyCount", 0) >= 1

    state = cp.get_pipeline_state(name=name)
    deploy = state["stageStates"][1]
    assert deploy["latestExecution"] == {"pipelineExecutionId": execution_id, "status": "Succeeded"}
    assert deploy["actionStates"][0]["latestExecution"]["status"] == "Succeeded"
    assert state["stageStates"][0]["actionStates"][0]["currentRevision"]["revisionId"] == put["VersionId"]

    # same template again: a no-op update succeeds
    again = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert again["status"] == "Succeeded", again


@pytest.mark.parametrize(
    "template, reason",
    [(BROKEN_TEMPLATE, "Unresolved resource dependencies"), (FAILING_TEMPLATE, "_FAILED")],
    ids=["template-error", "resource-fails"],
)
def test_failing_stack_fails_the_execution(pipeline_env, res, template, reason):
    env = pipeline_env
    region = env["region"]
    client("s3", region).put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(template.format(name=env["param"]))
    )
    name, _, _ = create(env, res)
    cp = client("codepipeline", region)
    ex = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert ex["status"] == "Failed"
    assert "Deploy" in ex["statusSummary"] and reason in ex["statusSummary"], ex["statusSummary"]
    action = cp.get_pipeline_state(name=name)["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert action["status"] == "Failed" and action["errorDetails"]["message"]


@pytest.mark.parametrize(
    "deploy",
    [{"ActionMode": "CREATE_UPDATE"}, {"ActionMode": "CHANGE_SET_REPLACE", "ChangeSetName": "release"}],
    ids=["create-update", "change-set-replace"],
)
def test_unsupported_resource_type_fails_the_execution_naming_it(pipeline_env, res, deploy):
    env = pipeline_env
    region = env["region"]
    client("s3", region).put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(UNSUPPORTED_TEMPLATE.format(name=env["param"]))
    )
    name, _, _ = create(env, res, deploy=deploy)
    cp = client("codepipeline", region)
    ex = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert ex["status"] == "Failed", ex
    assert "Deploy" in ex["statusSummary"] and UNSUPPORTED_TYPE in ex["statusSummary"], ex["statusSummary"]
    action = cp.get_pipeline_state(name=name)["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert action["status"] == "Failed" and UNSUPPORTED_TYPE in action["errorDetails"]["message"]


def test_pipeline_role_check_names_the_real_error(pipeline_env, res):
    cp = client("codepipeline", pipeline_env["region"])
    missing = f"arn:aws:iam::{ACCOUNT}:role/{res.name('missing')}"
    with pytest.raises(ClientError) as err:
        cp.create_pipeline(pipeline=declaration(res.name("p"), missing, "bucket", "artifacts", "stack"))
    assert err.value.response["Error"]["Code"] == "InvalidStructureException"
    assert f"not authorized to perform AssumeRole on role {missing}" in err.value.response["Error"]["Message"]

    # a role ARN without a role name: IAM's own error, not "not authorized"
    nameless = f"arn:aws:iam::{ACCOUNT}:role/"
    with pytest.raises(ClientError) as err:
        cp.create_pipeline(pipeline=declaration(res.name("p"), nameless, "bucket", "artifacts", "stack"))
    error = err.value.response["Error"]
    assert error["Code"] == "ValidationException" and "not authorized" not in error["Message"]
    assert "RoleName" in error["Message"], error


def test_replicated_release_starts_target_pipeline_via_eventbridge(pipeline_env, res):
    """The whole relay path: home PUT -> replication -> Object Created -> rule -> pipeline -> stack."""
    env = pipeline_env
    region = env["region"]
    home_bucket = res.bucket(HOME, prefix="rel")
    s3_home = client("s3", HOME)
    replicate_everything(home_bucket, env["source"], res.role("s3"))
    client("s3", region).put_bucket_notification_configuration(
        Bucket=env["source"], NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    name, _, _ = create(env, res, message="from-event")
    events = client("events", region)
    rule_name = res.name("start")
    rule_arn = events.put_rule(
        Name=rule_name,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [env["source"]]}, "object": {"key": ["release.zip"]}},
            }
        ),
    )["RuleArn"]
    res.defer(events.delete_rule, Name=rule_name)
    events_role = res.role("events")
    events.put_targets(
        Rule=rule_name,
        Targets=[
            {
                "Id": "pipeline",
                "Arn": f"arn:aws:codepipeline:{region}:{ACCOUNT}:{name}",
                "RoleArn": events_role,
            }
        ],
    )
    res.defer(events.remove_targets, Rule=rule_name, Ids=["pipeline"])

    put = s3_home.put_object(
        Bucket=home_bucket, Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"]))
    )
    cp = client("codepipeline", region)
    summary = wait_started(cp, name)
    assert summary["trigger"] == {"triggerType": "CloudWatchEvent", "triggerDetail": rule_arn}
    ex = wait_execution(cp, name, summary["pipelineExecutionId"])
    assert ex["status"] == "Succeeded", ex
    assert ex["artifactRevisions"][0]["revisionId"] == put["VersionId"]
    assert client("ssm", region).get_parameter(Name=env["param"])["Parameter"]["Value"] == "from-event"


def test_codepipeline_target_needs_a_role(pipeline_env, res):
    events = client("events", pipeline_env["region"])
    rule_name = res.name("norole")
    events.put_rule(Name=rule_name, EventPattern=json.dumps({"source": ["aws.s3"]}))
    res.defer(events.delete_rule, Name=rule_name)
    res.defer(events.remove_targets, Rule=rule_name, Ids=["p"])
    arn = f"arn:aws:codepipeline:{pipeline_env['region']}:{ACCOUNT}:whatever"
    with pytest.raises(ClientError) as err:
        events.put_targets(Rule=rule_name, Targets=[{"Id": "p", "Arn": arn}])
    assert err.value.response["Error"]["Code"] == "ValidationException"
