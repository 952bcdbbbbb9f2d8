"""Explicit Deny statements of bucket policies on the emulator: a ReleaseWriteGuard-style policy
refuses another role's write of the release object (AccessDenied, no new version, no event) and
accepts the allowed role; CodeBuild builds act as their service role; replication is evaluated
as the replication role; pipeline artifact writes as the pipeline's role."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, HOME, NOT_YET, TARGET_A, client, replicate_everything, wait_execution

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

KEY = "release/source.zip"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
STORE_REGION = "eu-central-1"  # has CodePipeline: an artifact store may live there
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}


def assumed(role_arn: str, service: str, region: str = HOME):
    """A client acting as a session of `role_arn` (credentials from the emulator's STS AssumeRole)."""
    creds = client("sts", region).assume_role(RoleArn=role_arn, RoleSessionName="write-guard-test")["Credentials"]
    return client(service, region, credentials=creds)


def guard_policy(bucket: str, resource: str, allowed: list, sid: str = "ReleaseWriteGuard", actions=None) -> str:
    """relay's write guard: writes of `resource` (under `bucket`) only by the `allowed` principals."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    # outside the emulator's subset (plain HTTP): not enforced, must not deny everything
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": sid,
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": actions
                    or ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"],
                    "Resource": f"arn:aws:s3:::{bucket}/{resource}",
                    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": allowed}},
                },
            ],
        }
    )


def versions(bucket: str, key: str = KEY) -> list:
    listed = client("s3", HOME).list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key]


def denied(call) -> str:
    """The AccessDenied message of a refused call (fails the test if the call succeeds)."""
    with pytest.raises(ClientError) as e:
        call()
    error = e.value.response["Error"]
    assert error["Code"] == "AccessDenied", error
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return error["Message"]


def object_created_queue(res, bucket: str):
    """An SQS queue receiving the `Object Created` events of `bucket` (EventBridge rule)."""
    client("s3", HOME).put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    sqs, events = client("sqs", HOME), client("events", HOME)
    url = sqs.create_queue(QueueName=res.name("q"))["QueueUrl"]
    res.defer(sqs.delete_queue, QueueUrl=url)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = res.name("rule")
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [bucket]}}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    res.defer(events.delete_rule, Name=rule)
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    res.defer(events.remove_targets, Rule=rule, Ids=["q"])
    return url


def test_release_guard_refuses_another_role_and_nothing_happens(res):
    bucket = res.bucket(HOME, prefix="rel")
    role_a, role_b = res.role("codebuild"), res.role("codebuild")
    s3 = client("s3", HOME)
    s3.put_bucket_policy(Bucket=bucket, Policy=guard_policy(bucket, KEY, [role_a]))
    queue = object_created_queue(res, bucket)
    as_a, as_b = assumed(role_a, "s3"), assumed(role_b, "s3")
    assert (
        assumed(role_b, "sts")
        .get_caller_identity()["Arn"]
        .startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_b.split('/')[-1]}/")
    )

    message = denied(lambda: as_b.put_object(Bucket=bucket, Key=KEY, Body=b"intruder"))
    assert "assumed-role/" + role_b.split("/")[-1] in message and "s3:PutObject" in message
    assert "explicit deny in a resource-based policy" in message
    denied(lambda: s3.put_object(Bucket=bucket, Key=KEY, Body=b"root"))  # the root is not listed
    denied(lambda: as_b.copy_object(Bucket=bucket, Key=KEY, CopySource={"Bucket": bucket, "Key": "missing"}))
    denied(lambda: as_b.create_multipart_upload(Bucket=bucket, Key=KEY))
    assert versions(bucket) == []

    accepted = as_a.put_object(Bucket=bucket, Key=KEY, Body=b"release")["VersionId"]
    other = as_b.put_object(Bucket=bucket, Key="release/notes.txt", Body=b"notes")["VersionId"]
    assert versions(bucket) == [accepted]
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == b"release"

    # deletes of the release object, with and without a version id, one by one or in a batch
    denied(lambda: as_b.delete_object(Bucket=bucket, Key=KEY, VersionId=accepted))
    denied(lambda: as_b.delete_object(Bucket=bucket, Key=KEY))
    batch = as_b.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": KEY, "VersionId": accepted}, {"Key": "release/notes.txt"}]}
    )
    assert [(e["Key"], e["Code"], e["VersionId"]) for e in batch["Errors"]] == [(KEY, "AccessDenied", accepted)]
    assert [d["Key"] for d in batch["Deleted"]] == ["release/notes.txt"]
    assert versions(bucket) == [accepted]

    # exactly the accepted writes produced Object Created events (the refused ones none)
    sqs, seen = client("sqs", HOME), {}

    def both_events():
        for m in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
            detail = json.loads(m["Body"])["detail"]
            seen.setdefault(detail["object"]["key"], []).append(detail["object"].get("version-id"))
        return seen.get(KEY) and seen.get("release/notes.txt")

    wait_for("Object Created events of the accepted writes", both_events, timeout=20, interval=0.1)
    both_events()  # anything that was still on its way
    assert seen == {KEY: [accepted], "release/notes.txt": [other]}

    # without the policy the same write goes through
    s3.delete_bucket_policy(Bucket=bucket)
    as_b.put_object(Bucket=bucket, Key=KEY, Body=b"after")
    assert len(versions(bucket)) == 2


def test_root_writes_when_listed_and_presigned_or_unsigned_requests_are_identified(res):
    bucket = res.bucket(HOME, prefix="rel")
    role_a = res.role("codebuild")
    s3 = client("s3", HOME)
    s3.put_bucket_policy(Bucket=bucket, Policy=guard_policy(bucket, "release/*", [role_a, ROOT]))
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"by root")
    other_account = client("s3", HOME, aws_access_key_id="111111111111")
    denied(lambda: other_account.put_object(Bucket=bucket, Key=KEY, Body=b"x"))

    import urllib.error
    import urllib.request

    role_b = res.role("codebuild")
    url = assumed(role_b, "s3").generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": KEY})
    for label, request in (
        ("presigned by role B", urllib.request.Request(url, data=b"p", method="PUT")),  # noqa: S310
        ("unsigned", urllib.request.Request(f"{s3.meta.endpoint_url}/{bucket}/{KEY}", data=b"u", method="PUT")),  # noqa: S310
    ):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the emulator's own URL
        body = e.value.read().decode()
        assert e.value.code == 403 and "<Code>AccessDenied</Code>" in body, (label, body)

    # browser-based uploads (HTML form POST): refused for role B, accepted for the listed root
    with pytest.raises(urllib.error.HTTPError) as e:
        form_upload(assumed(role_b, "s3"), bucket)
    assert e.value.code == 403 and "assumed-role/" + role_b.split("/")[-1] in e.value.read().decode()
    assert len(versions(bucket)) == 1
    assert form_upload(s3, bucket) == 204
    assert len(versions(bucket)) == 2


def form_upload(s3, bucket: str) -> int:
    """A browser-based upload (PostObject) of KEY signed with `s3`'s credentials; its HTTP status."""
    import urllib.request

    post = s3.generate_presigned_post(Bucket=bucket, Key=KEY)
    boundary = "relay-write-guard"
    fields = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in post["fields"].items()
    ]
    upload = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.zip"\r\n\r\nform\r\n'
    body = ("".join(fields) + upload + f"--{boundary}--\r\n").encode()
    request = urllib.request.Request(  # noqa: S310
        post["url"], data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the emulator's own URL
        return response.status


BUILDSPEC = """
version: 0.2
phases:
  build:
    commands:
      - aws sts get-caller-identity --query Arn --output text
      - echo built > out.txt
      - aws s3 cp out.txt "s3://$BUCKET/release/source.zip"
"""


def run_build(res, bucket: str, service_role: str) -> tuple[dict, str]:
    """A build of a new project with `service_role` that writes the release key; (build, its log)."""
    cb, name = client("codebuild", HOME), res.name("build")
    cb.create_project(
        name=name,
        source={"type": "NO_SOURCE", "buildspec": BUILDSPEC},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={**ENVIRONMENT, "environmentVariables": [{"name": "BUCKET", "value": bucket}]},
        serviceRole=service_role,
    )
    res.defer(cb.delete_project, name=name)
    build_id = cb.start_build(projectName=name)["build"]["id"]
    build = wait_for(
        f"build {build_id}",
        lambda: next(b for b in cb.batch_get_builds(ids=[build_id])["builds"] if b["buildStatus"] != "IN_PROGRESS"),
        timeout=60,
        interval=0.2,
        retry_on=(StopIteration,),
    )
    logs = client("logs", HOME).get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
    )
    return build, "".join(e["message"] for e in logs["events"])


def test_codebuild_builds_act_as_their_service_role(res):
    bucket = res.bucket(HOME, prefix="rel")
    role_a, role_b = res.role("codebuild"), res.role("codebuild")
    client("s3", HOME).put_bucket_policy(Bucket=bucket, Policy=guard_policy(bucket, KEY, [role_a]))

    build, log = run_build(res, bucket, role_a)
    assert build["buildStatus"] == "SUCCEEDED", log
    assert f"assumed-role/{role_a.split('/')[-1]}/AWSCodeBuild-{build['id'].split(':')[1]}" in log
    assert len(versions(bucket)) == 1

    build, log = run_build(res, bucket, role_b)
    assert build["buildStatus"] == "FAILED"
    phase = next(p for p in build["phases"] if p.get("phaseStatus") == "FAILED")
    assert phase["phaseType"] == "BUILD"
    assert "AccessDenied" in log and "s3:PutObject" in log
    assert len(versions(bucket)) == 1

    missing = f"arn:aws:iam::{ACCOUNT}:role/{res.name('missing')}"
    build, log = run_build(res, bucket, missing)
    assert build["buildStatus"] == "FAILED"
    phase = next(p for p in build["phases"] if p.get("phaseStatus") == "FAILED")
    assert phase["phaseType"] == "PROVISIONING"
    assert f"Service role {missing} does not exist" in phase["contexts"][0]["message"]
    assert not any(p["phaseType"] == "BUILD" for p in build["phases"])


@pytest.mark.parametrize(
    "actions, allow_replication_role, expected",
    [
        (["s3:ReplicateObject", "s3:ReplicateDelete"], True, "COMPLETED"),
        (["s3:ReplicateObject", "s3:ReplicateDelete"], False, "FAILED"),
        # S3 authorizes a replica as s3:ReplicateObject: denying s3:PutObject alone does not stop it
        (["s3:PutObject", "s3:DeleteObject"], False, "COMPLETED"),
    ],
    ids=["allows-the-replication-role", "denies-the-replication-role", "put-object-deny-does-not-apply"],
)
def test_replication_is_evaluated_as_the_replication_role(res, actions, allow_replication_role, expected):
    src, dst = res.bucket(HOME, prefix="src"), res.bucket(TARGET_A, prefix="dst")
    role, other = res.role("s3"), res.role("s3")
    allowed = [role if allow_replication_role else other]
    client("s3", TARGET_A).put_bucket_policy(
        Bucket=dst, Policy=guard_policy(dst, "*", allowed, sid="TargetReleaseGuard", actions=actions)
    )
    replicate_everything(src, dst, role)
    put = client("s3", HOME).put_object(Bucket=src, Key=KEY, Body=b"release")
    status = wait_for(
        f"final replication status of s3://{src}/{KEY}",
        lambda: (
            client("s3", HOME).head_object(Bucket=src, Key=KEY).get("ReplicationStatus") in ("COMPLETED", "FAILED")
            and client("s3", HOME).head_object(Bucket=src, Key=KEY)["ReplicationStatus"]
        ),
        timeout=20,
        interval=0.05,
        retry_on=NOT_YET,
    )
    assert status == expected
    replicas = client("s3", TARGET_A).list_object_versions(Bucket=dst).get("Versions", [])
    assert [v["VersionId"] for v in replicas] == ([put["VersionId"]] if expected == "COMPLETED" else [])


def source_action(bucket: str) -> dict:
    return {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": bucket, "S3ObjectKey": KEY, "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": "SourceArtifact"}],
    }


APPROVE = {
    "name": "Approve",
    "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
}


def run_pipeline(res, stages: list, stores: dict, role: str) -> tuple[dict, list]:
    """Create a V2 pipeline, run it once; (the execution, its stages' latest action executions)."""
    cp, name = client("codepipeline", HOME), res.name("pipe")
    decl = {"name": name, "roleArn": role, "pipelineType": "V2", "stages": stages}
    decl.update(stores)
    cp.create_pipeline(pipeline=decl)
    res.defer(cp.delete_pipeline, name=name)
    ex = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    states = cp.get_pipeline_state(name=name)["stageStates"]
    return ex, [a.get("latestExecution") or {} for s in states for a in s["actionStates"]]


@pytest.mark.parametrize("allow_pipeline_role", [True, False], ids=["allowed", "denied"])
def test_artifact_store_is_written_as_the_pipeline_role(res, allow_pipeline_role):
    source, store = res.bucket(HOME, prefix="src"), res.bucket(HOME, prefix="art")
    role, other = res.role("codepipeline"), res.role("codepipeline")
    client("s3", HOME).put_object(Bucket=source, Key=KEY, Body=b"zip")
    allowed = [role if allow_pipeline_role else other]
    client("s3", HOME).put_bucket_policy(
        Bucket=store, Policy=guard_policy(store, "*", allowed, sid="ArtifactWriteGuard")
    )
    stages = [{"name": "Source", "actions": [source_action(source)]}, {"name": "Approve", "actions": [APPROVE]}]
    ex, (source_run, _) = run_pipeline(res, stages, {"artifactStore": {"type": "S3", "location": store}}, role)
    if allow_pipeline_role:
        assert ex["status"] == "Succeeded", ex
        return
    assert ex["status"] == "Failed"
    message = source_run["errorDetails"]["message"]
    assert f"the bucket policy of {store} denies s3:PutObject to {role}" in message
    assert "Sid ArtifactWriteGuard" in message and message in ex["statusSummary"]
    assert client("s3", HOME).list_objects_v2(Bucket=store).get("KeyCount") == 0


def test_cross_region_artifact_copy_is_written_as_the_pipeline_role(res):
    source, home_store = res.bucket(HOME, prefix="src"), res.bucket(HOME, prefix="art")
    remote_store = res.bucket(STORE_REGION, prefix="art")
    role, other = res.role("codepipeline"), res.role("codepipeline")
    client("s3", HOME).put_object(Bucket=source, Key=KEY, Body=b"zip")
    client("s3", STORE_REGION).put_bucket_policy(
        Bucket=remote_store, Policy=guard_policy(remote_store, "*", [other], sid="ArtifactWriteGuard")
    )
    deploy = {
        "name": "Deploy",
        "region": STORE_REGION,
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
        "configuration": {
            "ActionMode": "CREATE_UPDATE",
            "StackName": res.name("never"),
            "TemplatePath": "SourceArtifact::template.yaml",
            "RoleArn": res.role("cloudformation"),
        },
        "inputArtifacts": [{"name": "SourceArtifact"}],
    }
    stores = {
        "artifactStores": {
            HOME: {"type": "S3", "location": home_store},
            STORE_REGION: {"type": "S3", "location": remote_store},
        }
    }
    stages = [{"name": "Source", "actions": [source_action(source)]}, {"name": "Deploy", "actions": [deploy]}]
    ex, (source_run, deploy_run) = run_pipeline(res, stages, stores, role)
    assert source_run["status"] == "Succeeded"
    assert ex["status"] == "Failed" and deploy_run["status"] == "Failed"
    message = deploy_run["errorDetails"]["message"]
    assert f"Could not write input artifact SourceArtifact from s3://{home_store}/" in message
    assert f"to s3://{remote_store}/" in message and f"in {STORE_REGION}" in message
    assert f"denies s3:PutObject to {role} (Sid ArtifactWriteGuard)" in message
