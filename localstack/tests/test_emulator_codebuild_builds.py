"""CodeBuild builds on the emulator: StartBuild runs the buildspec as local processes (phases,
logs, failures, timeout, StopBuild, variables, S3 source and artifacts), and the pipeline's
CodeBuild action runs relay's own buildspec/release.yml to publish a release."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ACCOUNT, HOME, client, s3_source_stage, wait_execution

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"}
MINUTE_TAG = "relay:emulator-minute-seconds"


def project(res, buildspec: str | None = None, *, source=None, artifacts=None, variables=(), tags=(), **extra) -> str:
    """A CodeBuild project in HOME (NO_SOURCE with an inline buildspec unless `source` is given)."""
    cb = client("codebuild", HOME)
    name = res.name("build")
    cb.create_project(
        name=name,
        source=source or {"type": "NO_SOURCE", "buildspec": buildspec},
        artifacts=artifacts or {"type": "NO_ARTIFACTS"},
        environment={**ENVIRONMENT, "environmentVariables": list(variables)},
        serviceRole=res.role("codebuild"),  # builds assume it: it must exist
        tags=[{"key": k, "value": v} for k, v in tags],
        **extra,
    )
    res.defer(cb.delete_project, name=name)
    return name


def wait_build(build_id: str, timeout: float = 60) -> dict:
    cb = client("codebuild", HOME)

    def done():
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        return build if build["buildStatus"] != "IN_PROGRESS" else None

    return wait_for(f"build {build_id}", done, timeout=timeout, interval=0.2)


def run_build(name: str, **request) -> dict:
    build = client("codebuild", HOME).start_build(projectName=name, **request)["build"]
    assert build["buildStatus"] == "IN_PROGRESS"
    return wait_build(build["id"])


def phases(build: dict) -> dict:
    return {p["phaseType"]: p for p in build["phases"]}


def log_text(build: dict) -> str:
    events = client("logs", HOME).get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
    )["events"]
    return "".join(e["message"] for e in events)


UPLOAD = """
version: 0.2
env:
  variables:
    GREETING: hello
phases:
  install:
    commands:
      - mkdir -p out && cd out
      - COUNT=3
  build:
    commands:
      - echo "$GREETING $COUNT $CODEBUILD_BUILD_ID $AWS_REGION" > result.txt
      - sleep 1
      - aws s3 cp result.txt "s3://$BUCKET/result.txt" --metadata "build=$CODEBUILD_BUILD_NUMBER"
  post_build:
    commands:
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"""


def test_build_runs_the_buildspec_and_the_cli_talks_to_the_emulator(res):
    bucket = res.bucket(HOME, versioned=False, prefix="out")
    name = project(res, UPLOAD, variables=[{"name": "BUCKET", "value": bucket, "type": "PLAINTEXT"}])
    build = run_build(name)
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert build["id"].startswith(f"{name}:") and build["buildNumber"] == 1
    assert build["arn"] == f"arn:aws:codebuild:{HOME}:{ACCOUNT}:build/{build['id']}"
    assert build["initiator"] and build["buildComplete"] and build["currentPhase"] == "COMPLETED"
    assert build["endTime"] >= build["startTime"]

    # cd and a shell variable carried from INSTALL into BUILD; CodeBuild's variables were set
    obj = client("s3", HOME).get_object(Bucket=bucket, Key="result.txt")
    assert obj["Body"].read().decode() == f"hello 3 {build['id']} {HOME}\n"
    assert obj["Metadata"] == {"build": "1"}

    order = [p["phaseType"] for p in build["phases"]]
    assert order == [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ]
    by_type = phases(build)
    assert all(p["phaseStatus"] == "SUCCEEDED" for p in build["phases"][:-1])
    assert by_type["BUILD"]["durationInSeconds"] >= 1  # the sleep
    assert by_type["BUILD"]["endTime"] >= by_type["BUILD"]["startTime"]

    logs = build["logs"]
    assert logs["groupName"] == f"/aws/codebuild/{name}" and logs["streamName"] == build["id"].split(":", 1)[1]
    assert logs["streamName"] in logs["deepLink"]
    text = log_text(build)
    assert "Entering phase BUILD" in text and "Running command sleep 1" in text
    assert "succeeding=1" in text
    assert "Phase complete: BUILD State: SUCCEEDED" in text

    cb = client("codebuild", HOME)
    assert cb.list_builds_for_project(projectName=name)["ids"] == [build["id"]]
    assert build["id"] in cb.list_builds()["ids"]
    second = run_build(name)
    assert second["buildNumber"] == 2
    assert cb.list_builds_for_project(projectName=name)["ids"] == [second["id"], build["id"]]


FAILING_BUILD = """
version: 0.2
phases:
  build:
    commands:
      - echo before
      - exit 3
      - echo never-runs
  post_build:
    commands:
      - echo "post_build succeeding=$CODEBUILD_BUILD_SUCCEEDING"
"""

FAILING_INSTALL = """
version: 0.2
phases:
  install:
    commands: [ls /relay-no-such-dir]
  build:
    commands: [echo never-runs]
"""


def test_failing_command_fails_its_phase(res):
    build = run_build(project(res, FAILING_BUILD))
    assert build["buildStatus"] == "FAILED"
    by_type = phases(build)
    assert by_type["BUILD"]["phaseStatus"] == "FAILED"
    (context,) = by_type["BUILD"]["contexts"]
    assert context == {
        "statusCode": "COMMAND_EXECUTION_ERROR",
        "message": "Error while executing command: exit 3. Reason: exit status 3",
    }
    # CodeBuild still runs post_build after a failed build phase, and says the build is failing
    assert by_type["POST_BUILD"]["phaseStatus"] == "SUCCEEDED"
    text = log_text(build)
    assert "before" in text and "never-runs" not in text
    assert "post_build succeeding=0" in text

    install = run_build(project(res, FAILING_INSTALL))
    assert install["buildStatus"] == "FAILED"
    by_type = phases(install)
    assert by_type["INSTALL"]["phaseStatus"] == "FAILED"
    assert "ls /relay-no-such-dir" in by_type["INSTALL"]["contexts"][0]["message"]
    assert not {"PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"} & set(by_type)
    assert "never-runs" not in log_text(install)


ON_FAILURE = """
version: 0.2
phases:
  pre_build:
    on-failure: CONTINUE
    commands:
      - "false"
    finally:
      - echo pre-finally
  build:
    on-failure: ABORT
    commands:
      - echo build-ran
      - set -e
      - "false"
      - echo after-false
    finally:
      - echo build-finally
  post_build:
    commands:
      - echo never-runs
"""


def test_on_failure_continue_abort_and_finally(res):
    build = run_build(project(res, ON_FAILURE))
    assert build["buildStatus"] == "FAILED"
    by_type = phases(build)
    assert by_type["PRE_BUILD"]["phaseStatus"] == "FAILED"  # CONTINUE: failed, yet BUILD ran
    assert by_type["BUILD"]["phaseStatus"] == "FAILED"
    assert "POST_BUILD" not in by_type and "UPLOAD_ARTIFACTS" not in by_type  # ABORT
    assert by_type["FINALIZING"]["phaseStatus"] == "SUCCEEDED"
    text = log_text(build)
    for line in ("pre-finally", "build-ran", "build-finally"):
        assert line in text
    assert "after-false" not in text and "never-runs" not in text


@pytest.mark.parametrize(
    "buildspec, message",
    [
        ("version: 0.2\nphases:\n  build:\n    commands: [echo hi\n", "buildspec is not valid YAML"),
        ("version: 0.3\nphases:\n  build:\n    commands: [echo hi]\n", "version 0.3 is not supported"),
    ],
    ids=["invalid-yaml", "bad-version"],
)
def test_bad_buildspec_fails_in_the_first_phase(res, buildspec, message):
    build = run_build(project(res, buildspec))
    assert build["buildStatus"] == "FAILED"
    by_type = phases(build)
    assert by_type["DOWNLOAD_SOURCE"]["phaseStatus"] == "FAILED"
    (context,) = by_type["DOWNLOAD_SOURCE"]["contexts"]
    assert context["statusCode"] == "YAML_FILE_ERROR" and message in context["message"]
    assert "INSTALL" not in by_type and "BUILD" not in by_type


def test_timeout_ends_the_build_timed_out(res):
    # 0.2 s per timeout minute: the 5-minute override lasts one second
    name = project(res, "version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n", tags=[(MINUTE_TAG, "0.2")])
    build = run_build(name, timeoutInMinutesOverride=5)
    assert build["buildStatus"] == "TIMED_OUT" and build["timeoutInMinutes"] == 5
    # cut off: the build ended long before its 30-second command could have
    assert (build["endTime"] - build["startTime"]).total_seconds() < 30
    assert phases(build)["BUILD"]["phaseStatus"] == "TIMED_OUT"
    assert "POST_BUILD" not in phases(build)

    with pytest.raises(ClientError) as e:
        client("codebuild", HOME).start_build(projectName=name, timeoutInMinutesOverride=2161)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"


def test_stop_build_kills_the_process_group(res, tmp_path):
    marker = tmp_path / "late"
    # a child in the background that would write the marker after the build was stopped
    spec = f"version: 0.2\nphases:\n  build:\n    commands:\n      - (sleep 1.5; touch {marker}) & sleep 60\n"
    name = project(res, spec)
    cb = client("codebuild", HOME)
    build_id = cb.start_build(projectName=name)["build"]["id"]
    wait_for(
        "the build phase",
        lambda: cb.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] == "BUILD",
        timeout=20,
        interval=0.1,
    )
    cb.stop_build(id=build_id)
    build = wait_build(build_id, timeout=10)
    assert build["buildStatus"] == "STOPPED"
    assert phases(build)["BUILD"]["phaseStatus"] == "STOPPED"
    time.sleep(2)
    assert not marker.exists()

    with pytest.raises(ClientError) as e:
        cb.stop_build(id=f"{name}:00000000-0000-0000-0000-000000000000")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


VARIABLES = """
version: 0.2
env:
  variables: {A: spec, B: spec, C: spec}
phases:
  build:
    commands:
      - echo "A=$A B=$B C=$C D=$D"
"""


def test_variable_precedence_and_parameter_store(res):
    ssm = client("ssm", HOME)
    param = "/relay/test/" + res.name("p")
    ssm.put_parameter(Name=param, Value="from-ssm", Type="SecureString")
    res.defer(ssm.delete_parameter, Name=param)
    project_vars = [
        {"name": "B", "value": "project", "type": "PLAINTEXT"},
        {"name": "C", "value": "project", "type": "PLAINTEXT"},
        {"name": "D", "value": param, "type": "PARAMETER_STORE"},
    ]
    name = project(res, VARIABLES, variables=project_vars)
    build = run_build(name, environmentVariablesOverride=[{"name": "C", "value": "start", "type": "PLAINTEXT"}])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert "A=spec B=project C=start D=from-ssm" in log_text(build)

    missing = "/relay/test/" + res.name("missing")
    failed = run_build(name, environmentVariablesOverride=[{"name": "D", "value": missing, "type": "PARAMETER_STORE"}])
    assert failed["buildStatus"] == "FAILED"
    context = phases(failed)["DOWNLOAD_SOURCE"]["contexts"][0]
    assert "Variable D" in context["message"] and missing in context["message"]


SH_AND_SECRETS = """
version: 0.2
env:
  shell: /bin/sh
  secrets-manager:
    PASSWORD: {secret}:password
phases:
  install:
    commands:
      - mkdir -p work && cd work
      - export STAGE=carried
  build:
    commands:
      - echo "dir=$(basename "$PWD") stage=$STAGE password=$PASSWORD shell=$(readlink /proc/$$/exe)"
"""


def test_sh_shell_and_secrets_manager(res):
    sm = client("secretsmanager", HOME)
    secret = res.name("secret")
    sm.create_secret(Name=secret, SecretString=json.dumps({"password": "s3cret"}))
    res.defer(sm.delete_secret, SecretId=secret, ForceDeleteWithoutRecovery=True)
    build = run_build(project(res, SH_AND_SECRETS.format(secret=secret)))
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    text = log_text(build)
    assert "dir=work stage=carried password=s3cret shell=" in text
    assert "shell=/usr/bin/bash" not in text and "shell=/bin/bash" not in text


def zip_bytes(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, (content, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, content)
    return buf.getvalue()


SOURCE_BUILDSPEC = """
version: 0.2
phases:
  build:
    commands:
      - ./make.sh
artifacts:
  base-directory: dist
  files: ['**/*']
"""


def test_s3_source_file_buildspec_and_s3_artifacts(res):
    src = res.bucket(HOME, prefix="src")
    out = res.bucket(HOME, versioned=False, prefix="art")
    s3 = client("s3", HOME)
    script = '#!/bin/sh\nmkdir -p dist/sub\necho "$CODEBUILD_RESOLVED_SOURCE_VERSION" > dist/sub/version\n'
    put = s3.put_object(
        Bucket=src,
        Key="app.zip",
        Body=zip_bytes({"buildspec.yml": (SOURCE_BUILDSPEC, 0o644), "make.sh": (script, 0o755)}),
    )
    name = project(
        res,
        source={"type": "S3", "location": f"{src}/app.zip"},
        artifacts={"type": "S3", "location": out, "path": "builds", "name": "app.zip", "packaging": "ZIP"},
    )
    build = run_build(name, sourceVersion=put["VersionId"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    assert build["resolvedSourceVersion"] == put["VersionId"]
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{out}/builds/app.zip"
    with zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=out, Key="builds/app.zip")["Body"].read())) as zf:
        assert zf.namelist() == ["sub/version"]
        assert zf.read("sub/version").decode().strip() == put["VersionId"]


def test_start_build_errors(res):
    cb = client("codebuild", HOME)
    with pytest.raises(ClientError) as e:
        cb.start_build(projectName=res.name("missing"))
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    pipeline_only = project(
        res, source={"type": "CODEPIPELINE", "buildspec": UPLOAD}, artifacts={"type": "CODEPIPELINE"}
    )
    with pytest.raises(ClientError) as e:
        cb.start_build(projectName=pipeline_only)
    assert "CODEPIPELINE" in e.value.response["Error"]["Message"]
    github = project(res, source={"type": "GITHUB", "location": "https://github.com/o/r"})
    with pytest.raises(ClientError) as e:
        cb.start_build(projectName=github)
    assert "GITHUB is not emulated" in e.value.response["Error"]["Message"]


# --- the pipeline's CodeBuild action ----------------------------------------------------------


def release_pipeline(name, role, source_bucket, artifact_bucket, project_name, env_vars=None):
    build_cfg = {"ProjectName": project_name}
    if env_vars:
        build_cfg["EnvironmentVariables"] = json.dumps(env_vars)
    return {
        "name": name,
        "roleArn": role,
        "artifactStore": {"type": "S3", "location": artifact_bucket},
        "pipelineType": "V2",
        "executionMode": "QUEUED",
        "stages": [
            s3_source_stage(source_bucket, "source.zip"),
            {
                "name": "Package",
                "actions": [
                    {
                        "name": "ZipAndPublish",
                        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                        "configuration": build_cfg,
                        "inputArtifacts": [{"name": "SourceArtifact"}],
                    }
                ],
            },
        ],
    }


def test_pipeline_runs_relays_release_buildspec(res):
    s3, cp = client("s3", HOME), client("codepipeline", HOME)
    kms = client("kms", HOME)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    source, artifacts, release = (res.bucket(HOME, prefix=p) for p in ("src", "art", "rel"))
    put = s3.put_object(
        Bucket=source,
        Key="source.zip",
        Body=zip_bytes({"app/main.py": ("print('hi')\n", 0o644), "VERSION": ("1.2.3\n", 0o644)}),
    )
    variables = [
        {"name": "RELEASE_BUCKET", "value": release, "type": "PLAINTEXT"},
        {"name": "RELEASE_KEY", "value": "wrong.zip", "type": "PLAINTEXT"},
        {"name": "RELEASE_KMS_KEY_ARN", "value": key_arn, "type": "PLAINTEXT"},
    ]
    name = project(
        res,
        source={"type": "CODEPIPELINE", "buildspec": (REPO / "buildspec" / "release.yml").read_text()},
        artifacts={"type": "CODEPIPELINE"},
        variables=variables,
        encryptionKey=key_arn,
    )
    pipeline = res.name("pipe")
    # the action's EnvironmentVariables win over the project's
    cp.create_pipeline(
        pipeline=release_pipeline(
            pipeline,
            res.role("codepipeline"),
            source,
            artifacts,
            name,
            env_vars=[{"name": "RELEASE_KEY", "value": "release.zip", "type": "PLAINTEXT"}],
        )
    )
    res.defer(cp.delete_pipeline, name=pipeline)
    ex = wait_execution(cp, pipeline, cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"])
    assert ex["status"] == "Succeeded", ex

    head = s3.head_object(Bucket=release, Key="release.zip")
    assert head["Metadata"].pop("source-revision") == put["VersionId"]
    # the release's order: its publish time in epoch milliseconds
    assert abs(int(head["Metadata"].pop("relay-release-seq")) - time.time() * 1000) < 600_000
    assert head["Metadata"] == {}
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    body = s3.get_object(Bucket=release, Key="release.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert sorted(zf.namelist()) == ["VERSION", "app/", "app/main.py"]

    action = cp.get_pipeline_state(name=pipeline)["stageStates"][1]["actionStates"][0]["latestExecution"]
    build_id = action["externalExecutionId"]
    build = client("codebuild", HOME).batch_get_builds(ids=[build_id])["builds"][0]
    assert build["initiator"] == f"codepipeline/{pipeline}"
    assert build["resolvedSourceVersion"] == put["VersionId"]
    assert build_id.startswith(f"{name}:")


def test_failing_build_fails_the_pipeline_naming_build_and_phase(res):
    s3, cp = client("s3", HOME), client("codepipeline", HOME)
    source, artifacts, release = (res.bucket(HOME, prefix=p) for p in ("src", "art", "rel"))
    s3.put_object(Bucket=source, Key="source.zip", Body=zip_bytes({"VERSION": ("1\n", 0o644)}))
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        '      - "false"\n      - aws s3 cp VERSION "s3://$RELEASE_BUCKET/release.zip"\n'
    )
    name = project(
        res,
        source={"type": "CODEPIPELINE", "buildspec": spec},
        artifacts={"type": "CODEPIPELINE"},
        variables=[{"name": "RELEASE_BUCKET", "value": release, "type": "PLAINTEXT"}],
    )
    pipeline = res.name("pipe")
    cp.create_pipeline(pipeline=release_pipeline(pipeline, res.role("codepipeline"), source, artifacts, name))
    res.defer(cp.delete_pipeline, name=pipeline)
    ex = wait_execution(cp, pipeline, cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"])
    assert ex["status"] == "Failed"
    action = cp.get_pipeline_state(name=pipeline)["stageStates"][1]["actionStates"][0]["latestExecution"]
    build_id = action["externalExecutionId"]
    assert build_id.startswith(f"{name}:")
    assert f"Build {build_id} FAILED in phase BUILD" in ex["statusSummary"], ex["statusSummary"]
    assert "Error while executing command: false" in ex["statusSummary"]
    assert s3.list_objects_v2(Bucket=release).get("KeyCount", 0) == 0  # nothing published
