"""Cross-region pipelines on the emulator: a CloudFormation action in another region reads a copy
of its input artifact from that region's artifact store (encrypted with that region's key) and
deploys there; CreatePipeline / UpdatePipeline reject what AWS rejects; a CodeBuild action running
relay's own `buildspec/remote-deploy.yml` deploys into a region without CodePipeline (the `remote`
path)."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, HOME, cfn_deploy_action, client, wait_execution

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

TARGET = "eu-central-1"  # has CodePipeline: an artifact store may live there
NO_CODEPIPELINE = "ca-west-1"  # CloudFormation but no CodePipeline (botocore's endpoint data)
UNSUPPORTED_TYPE = "AWS::RDS::DBInstance"  # no resource provider in LocalStack community or the plugin
DEPLOY_TIMEOUT = 120
REMOTE_BUILDSPEC = Path(__file__).resolve().parents[2] / "buildspec" / "remote-deploy.yml"

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
"""

UNSUPPORTED_TEMPLATE = (
    TEMPLATE
    + f"""  Balancer:
    Type: {UNSUPPORTED_TYPE}
    Properties:
      Name: relay-unsupported
      Subnets: [subnet-1, subnet-2]
"""
)


def release_zip(template: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("template.yaml", template)
    return buf.getvalue()


def s3_source(bucket: str, **extra) -> dict:
    return {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": bucket, "S3ObjectKey": "release.zip", "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "SourceArtifact"}],
        **extra,
    }


def deploy_action(stack: str, role: str, region: str | None = TARGET) -> dict:
    return cfn_deploy_action(stack, role, region, ParameterOverrides=json.dumps({"Message": "cross-region"}))


def store(bucket: str, key: str | None = None) -> dict:
    out = {"type": "S3", "location": bucket}
    if key:
        out["encryptionKey"] = {"id": key, "type": "KMS"}
    return out


def pipeline(name: str, role: str, stores: dict, source: dict, action: dict) -> dict:
    """A V2 pipeline in HOME: `source`, then `action`; `stores` is artifactStores (or, with the
    single key "artifactStore", the one store)."""
    decl = {
        "name": name,
        "roleArn": role,
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "stages": [{"name": "Source", "actions": [source]}, {"name": "Deploy", "actions": [action]}],
    }
    if "artifactStore" in stores:
        decl["artifactStore"] = stores["artifactStore"]
    else:
        decl["artifactStores"] = stores
    return decl


def _delete_stack(region: str, name: str) -> None:
    cfn = client("cloudformation", region)
    try:
        cfn.delete_stack(StackName=name)
        wait_for(f"stack {name} deleted", lambda: _stack_status(cfn, name) is None, timeout=30, interval=0.3)
    except ClientError:
        pass


def _stack_status(cfn, name: str) -> str | None:
    try:
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in e.response["Error"]["Message"]:
            return None
        raise
    return None if status == "DELETE_COMPLETE" else status


def _key(res, region: str, alias: str | None = None) -> str:
    """A KMS key in `region` (its ARN), with `alias` pointing at it if given; removed at teardown."""
    kms = client("kms", region)
    arn = kms.create_key(Description=f"relay test {res.uid}")["KeyMetadata"]["Arn"]
    res.defer(kms.schedule_key_deletion, KeyId=arn, PendingWindowInDays=7)
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
        res.defer(kms.delete_alias, AliasName=alias)
    return arn


@pytest.fixture
def env(res):
    """Source and artifact buckets in HOME and TARGET, a KMS key per region (TARGET's named by
    its alias ARN), roles, a stack name, and cleanup of pipelines and stacks in every region."""
    alias = f"alias/{res.name('artifacts')}"
    e = {
        "source": res.bucket(HOME, prefix="src"),
        "home_bucket": res.bucket(HOME, versioned=False, prefix="art"),
        "target_bucket": res.bucket(TARGET, versioned=False, prefix="art"),
        "home_key": _key(res, HOME),
        "target_key": _key(res, TARGET, alias),
        "target_alias_arn": f"arn:aws:kms:{TARGET}:{ACCOUNT}:{alias}",
        "role": res.role("codepipeline"),
        "deploy_role": res.role("cloudformation"),
        "stack": res.name("stack"),
        "param": "/relay/test/" + res.name("p"),
        "pipelines": [],
    }
    for region in (HOME, TARGET, NO_CODEPIPELINE):
        res.defer(_delete_stack, region, e["stack"])
    cp = client("codepipeline", HOME)

    def delete_pipelines():
        for name in e["pipelines"]:
            try:
                cp.delete_pipeline(name=name)
            except ClientError:
                pass

    res.defer(delete_pipelines)
    return e


def stores_of(env, target_key: str | None = None, target_bucket: str | None = None) -> dict:
    return {
        HOME: store(env["home_bucket"], env["home_key"]),
        TARGET: store(target_bucket or env["target_bucket"], target_key or env["target_alias_arn"]),
    }


def run_pipeline(env, res, decl: dict, timeout: float = 60) -> tuple[str, dict]:
    cp = client("codepipeline", HOME)
    cp.create_pipeline(pipeline=decl)
    env["pipelines"].append(decl["name"])
    execution_id = cp.start_pipeline_execution(name=decl["name"])["pipelineExecutionId"]
    return execution_id, wait_execution(cp, decl["name"], execution_id, timeout=timeout)


def action_executions(name: str, execution_id: str) -> dict:
    details = client("codepipeline", HOME).list_action_executions(
        pipelineName=name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    return {d["actionName"]: d for d in details}


# --- the cross-region CloudFormation action (`native`) -----------------------------------------


def test_cross_region_deploy_runs_in_its_region_on_a_copy_encrypted_with_that_regions_key(env, res):
    client("s3", HOME).put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"]))
    )
    decl = pipeline(
        res.name("pipe"),
        env["role"],
        stores_of(env),
        s3_source(env["source"]),
        deploy_action(env["stack"], env["role"]),
    )
    execution_id, ex = run_pipeline(env, res, decl)
    assert ex["status"] == "Succeeded", ex

    # the stack is in the action's region, not the pipeline's
    target_stack = client("cloudformation", TARGET).describe_stacks(StackName=env["stack"])["Stacks"][0]
    assert target_stack["StackStatus"] == "CREATE_COMPLETE"
    assert client("ssm", TARGET).get_parameter(Name=env["param"])["Parameter"]["Value"] == "cross-region"
    assert _stack_status(client("cloudformation", HOME), env["stack"]) is None

    actions = action_executions(decl["name"], execution_id)
    (made,) = actions["Source"]["output"]["outputArtifacts"]
    assert actions["Source"]["input"]["region"] == HOME and made["s3location"]["bucket"] == env["home_bucket"]
    deploy = actions["Deploy"]
    assert deploy["input"]["region"] == TARGET and deploy["status"] == "Succeeded"
    (read,) = deploy["input"]["inputArtifacts"]
    assert read["name"] == "SourceArtifact"
    # the copy: same key, in the target region's store, under the key the alias names
    assert read["s3location"] == {"bucket": env["target_bucket"], "key": made["s3location"]["key"]}
    s3_home, s3_target = client("s3", HOME), client("s3", TARGET)
    original = s3_home.head_object(Bucket=env["home_bucket"], Key=made["s3location"]["key"])
    assert original["ServerSideEncryption"] == "aws:kms" and original["SSEKMSKeyId"] == env["home_key"]
    copied = s3_target.head_object(Bucket=env["target_bucket"], Key=read["s3location"]["key"])
    assert copied["ServerSideEncryption"] == "aws:kms" and copied["SSEKMSKeyId"] == env["target_key"]
    body = s3_target.get_object(Bucket=env["target_bucket"], Key=read["s3location"]["key"])["Body"].read()
    assert body == s3_home.get_object(Bucket=env["home_bucket"], Key=made["s3location"]["key"])["Body"].read()

    # the declaration round-trips with its stores and the action's region
    got = client("codepipeline", HOME).get_pipeline(name=decl["name"])["pipeline"]
    assert got["artifactStores"] == decl["artifactStores"]
    assert got["stages"][1]["actions"][0]["region"] == TARGET


@pytest.mark.parametrize("broken", ["alias", "bucket"])
def test_failed_copy_fails_the_action_naming_bucket_region_and_reason(env, res, broken):
    client("s3", HOME).put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"]))
    )
    missing_alias = f"arn:aws:kms:{TARGET}:{ACCOUNT}:alias/{res.name('missing')}"
    missing_bucket = res.name("missing")
    stores = (
        stores_of(env, target_key=missing_alias) if broken == "alias" else stores_of(env, target_bucket=missing_bucket)
    )
    decl = pipeline(
        res.name("pipe"), env["role"], stores, s3_source(env["source"]), deploy_action(env["stack"], env["role"])
    )
    execution_id, ex = run_pipeline(env, res, decl)
    assert ex["status"] == "Failed", ex
    summary = ex["statusSummary"]
    assert "Action Deploy in stage Deploy failed" in summary and TARGET in summary, summary
    if broken == "alias":
        assert f"s3://{env['target_bucket']}/" in summary and missing_alias in summary, summary
        assert f"KMS in {TARGET} cannot resolve" in summary and "NotFoundException" in summary, summary
    else:
        assert f"s3://{missing_bucket}/" in summary and "NoSuchBucket" in summary, summary
    deploy = action_executions(decl["name"], execution_id)["Deploy"]
    assert deploy["status"] == "Failed" and deploy["input"]["region"] == TARGET
    assert deploy["input"]["inputArtifacts"] == []
    assert _stack_status(client("cloudformation", TARGET), env["stack"]) is None


@pytest.mark.parametrize(
    "change, code, message",
    [
        (
            lambda env, d: d["artifactStores"].update({NO_CODEPIPELINE: store(env["target_bucket"])}),
            "ValidationException",
            f"The region {NO_CODEPIPELINE} specified in 'pipeline.artifactStores' is not a valid AWS Region.",
        ),
        (
            lambda env, d: d["artifactStores"].pop(HOME),
            "InvalidStructureException",
            f"must contain an artifact store for the pipeline's region {HOME}",
        ),
        (
            lambda env, d: d["artifactStores"].pop(TARGET),
            "InvalidStructureException",
            f"Action Deploy in stage Deploy has region {TARGET}, but pipeline.artifactStores has no artifact store "
            f"for {TARGET}",
        ),
        (
            lambda env, d: d.update(artifactStore=d.pop("artifactStores")[HOME]),
            "InvalidStructureException",
            "a cross-region action needs pipeline.artifactStores",
        ),
        (
            lambda env, d: d["stages"][0]["actions"][0].update(region=TARGET),
            "InvalidStructureException",
            f"Action Source in stage Source has region {TARGET}: source actions run in the pipeline's region",
        ),
    ],
    ids=[
        "store-without-codepipeline",
        "no-home-store",
        "no-store-for-action-region",
        "single-store",
        "cross-region-source",
    ],
)
def test_create_and_update_reject_what_aws_rejects(env, res, change, code, message):
    cp = client("codepipeline", HOME)
    good = pipeline(
        res.name("pipe"),
        env["role"],
        stores_of(env),
        s3_source(env["source"]),
        deploy_action(env["stack"], env["role"]),
    )
    bad = copy.deepcopy(good)
    change(env, bad)
    with pytest.raises(ClientError) as err:
        cp.create_pipeline(pipeline=bad)
    error = err.value.response["Error"]
    assert (error["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, 400)
    assert message in error["Message"], error

    # the same change as an update is rejected too, and the pipeline keeps its version
    cp.create_pipeline(pipeline=good)
    env["pipelines"].append(good["name"])
    with pytest.raises(ClientError) as err:
        cp.update_pipeline(pipeline=bad)
    assert err.value.response["Error"]["Code"] == code
    assert cp.get_pipeline(name=good["name"])["pipeline"]["version"] == 1


# --- a CodeBuild action deploying into a region without CodePipeline (`remote`) -------------------


def _deploy_project(env, res, stack: str) -> str:
    """A project running the shipped remote deploy buildspec, as the home stack configures it."""
    cb = client("codebuild", HOME)
    name = res.name("deploy")
    variables = {
        "DEPLOY_REGION": NO_CODEPIPELINE,
        "STACK_NAME": stack,
        "TEMPLATE_PATH": "template.yaml",
        "DEPLOY_ROLE_ARN": env["deploy_role"],
        "CHANGE_SET_PREFIX": "relay-deploy-",
        "PARAMETER_OVERRIDES": json.dumps({"Message": "remote"}),
    }
    cb.create_project(
        name=name,
        source={"type": "CODEPIPELINE", "buildspec": REMOTE_BUILDSPEC.read_text()},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
        },
        serviceRole=res.role("codebuild"),
    )
    res.defer(cb.delete_project, name=name)
    return name


def _build_of(name: str, execution_id: str) -> tuple[dict, str]:
    """The build the execution's CodeBuild action ran, and its log."""
    build_id = action_executions(name, execution_id)["Deploy"]["output"]["executionResult"]["externalExecutionId"]
    build = client("codebuild", HOME).batch_get_builds(ids=[build_id])["builds"][0]
    events = client("logs", HOME).get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
    )["events"]
    return build, "".join(e["message"] for e in events)


def _remote_pipeline(env, res, stack: str) -> dict:
    build_action = {
        "name": "Deploy",
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": _deploy_project(env, res, stack)},
        "inputArtifacts": [{"name": "SourceArtifact"}],
    }
    return pipeline(
        res.name("pipe"),
        env["role"],
        {"artifactStore": store(env["home_bucket"], env["home_key"])},
        s3_source(env["source"]),
        build_action,
    )


def test_the_remote_deploy_build_deploys_into_a_region_without_codepipeline(env, res):
    s3, cp = client("s3", HOME), client("codepipeline", HOME)
    s3.put_object(Bucket=env["source"], Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"])))
    decl = _remote_pipeline(env, res, env["stack"])
    execution_id, ex = run_pipeline(env, res, decl, timeout=DEPLOY_TIMEOUT)
    assert ex["status"] == "Succeeded", ex
    build, log = _build_of(decl["name"], execution_id)
    assert build["buildStatus"] == "SUCCEEDED", log
    assert f"stack {env['stack']} in {NO_CODEPIPELINE} is CREATE_COMPLETE" in log, log
    target_cfn = client("cloudformation", NO_CODEPIPELINE)
    stack = target_cfn.describe_stacks(StackName=env["stack"])["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"  # (LocalStack 4.14 does not report a stack's RoleARN)
    assert client("ssm", NO_CODEPIPELINE).get_parameter(Name=env["param"])["Parameter"]["Value"] == "remote"
    assert _stack_status(client("cloudformation", HOME), env["stack"]) is None
    deploy = action_executions(decl["name"], execution_id)["Deploy"]
    assert deploy["input"]["region"] == HOME  # the build runs at home; only the stack is remote

    # the same release again: an empty change set is no failure
    again_id = cp.start_pipeline_execution(name=decl["name"])["pipelineExecutionId"]
    again = wait_execution(cp, decl["name"], again_id, timeout=DEPLOY_TIMEOUT)
    assert again["status"] == "Succeeded", again
    _, log = _build_of(decl["name"], again_id)
    assert f"stack {env['stack']} in {NO_CODEPIPELINE} is up to date (no changes)" in log, log

    # a release the emulator cannot deploy fails the build, the action and the execution, loudly
    s3.put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(UNSUPPORTED_TEMPLATE.format(name=env["param"]))
    )
    bad_id = cp.start_pipeline_execution(name=decl["name"])["pipelineExecutionId"]
    bad = wait_execution(cp, decl["name"], bad_id, timeout=DEPLOY_TIMEOUT)
    assert bad["status"] == "Failed", bad
    build, log = _build_of(decl["name"], bad_id)
    assert f"Build {build['id']} FAILED in phase BUILD" in bad["statusSummary"], bad["statusSummary"]
    assert UNSUPPORTED_TYPE in log, log
    assert action_executions(decl["name"], bad_id)["Deploy"]["status"] == "Failed"
    assert client("ssm", NO_CODEPIPELINE).get_parameter(Name=env["param"])["Parameter"]["Value"] == "remote"


def test_a_stack_whose_creation_failed_is_deleted_and_created_again_by_the_next_release(env, res):
    """CloudFormation cannot update a stack whose creation failed (it holds nothing): the deploy build
    deletes it first, as the CloudFormation action's REPLACE_ON_FAILURE does."""
    s3, cp = client("s3", HOME), client("codepipeline", HOME)
    stack = res.name("recreated")
    res.defer(_delete_stack, NO_CODEPIPELINE, stack)
    s3.put_object(
        Bucket=env["source"], Key="release.zip", Body=release_zip(UNSUPPORTED_TEMPLATE.format(name=env["param"]))
    )
    decl = _remote_pipeline(env, res, stack)
    _, failed = run_pipeline(env, res, decl, timeout=DEPLOY_TIMEOUT)
    assert failed["status"] == "Failed", failed
    s3.put_object(Bucket=env["source"], Key="release.zip", Body=release_zip(TEMPLATE.format(name=env["param"])))
    again_id = cp.start_pipeline_execution(name=decl["name"])["pipelineExecutionId"]
    again = wait_execution(cp, decl["name"], again_id, timeout=DEPLOY_TIMEOUT)
    assert again["status"] == "Succeeded", again
    _, log = _build_of(decl["name"], again_id)
    assert "deleting it before creating it again" in log, log
    assert f"stack {stack} in {NO_CODEPIPELINE} is CREATE_COMPLETE" in log, log
