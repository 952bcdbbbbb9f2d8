"""Releases in order: the home build stamps each release with its publish sequence, and a bespoke target's
pipeline deploys only the newest release present in its region (Select stage, `modules/release_select.py`),
with a least-privilege role; the choice itself (buildspec/select-release.yml's script) without AWS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from config.paths import PROJECT_ROOT
from tests.unit.test_stacks import NATIVE_REGION, TARGETS, account_id, one, ref, resources

SELECT_BUILDSPEC = PROJECT_ROOT / "buildspec" / "select-release.yml"


def select_script() -> dict:
    """The Select build's Python script (the heredoc of its first command), loaded without running main."""
    spec = yaml.safe_load(SELECT_BUILDSPEC.read_text())
    command = spec["phases"]["build"]["commands"][0]
    source = command.split("<<'PY'\n", 1)[1].rsplit("\nPY", 1)[0]
    namespace: dict = {"__name__": "select_release"}
    exec(compile(source, str(SELECT_BUILDSPEC), "exec"), namespace)  # noqa: S102 - our own buildspec's script
    return namespace


def project(stack: dict, region: str) -> dict:
    return one([p for p in resources(stack, "aws_codebuild_project") if p["name"] == f"relay-local-select-{region}"])


def role_policy(stack: dict, role_name: str) -> dict:
    role_id = ref(stack, "aws_iam_role", "id", name=role_name)
    return json.loads(one([p for p in resources(stack, "aws_iam_role_policy") if p["role"] == role_id])["policy"])


# --- the choice ----------------------------------------------------------------------------------


def versions(*seqs):
    """Versions newest arrival first, as ListObjectVersions lists them."""
    return [{"VersionId": f"v{i}", "seq": seq} for i, seq in enumerate(seqs)]


@pytest.mark.parametrize(
    ("seqs", "chosen"),
    [
        ((1000, 2000), "v1"),  # the older release arrived last: the newer one is chosen
        ((3000, 1000, 2000), "v0"),
        ((2000, 2000), "v0"),  # the same release twice: the latest arrival
        ((None, None), "v0"),  # no seq anywhere (releases before this change): the latest arrival, as before
        ((None, 1000), "v1"),  # a release without a seq ranks below every release with one
        ((5,), "v0"),
    ],
)
def test_the_newest_release_is_the_highest_seq_then_the_latest_arrival(seqs, chosen):
    assert select_script()["choose"](versions(*seqs))["VersionId"] == chosen


def test_a_seq_is_a_whole_number_of_the_release_metadata():
    seq_of = select_script()["seq_of"]
    assert seq_of({"relay-release-seq": "1764325200123"}) == 1764325200123
    assert seq_of({"relay-release-seq": " 42 "}) == 42
    for metadata in ({}, None, {"relay-release-seq": ""}, {"relay-release-seq": "-1"}, {"relay-release-seq": "1.5"}):
        assert seq_of(metadata) is None, metadata


def test_the_select_build_writes_the_release_and_its_tags_where_the_deploy_action_reads_them():
    spec = yaml.safe_load(SELECT_BUILDSPEC.read_text())
    script = select_script()
    assert spec["artifacts"] == {"base-directory": script["OUT"], "files": ["**/*"]}
    assert script["CONFIGURATION"] == "relay-release.json"
    assert script["SEQ"] == "relay-release-seq"
    # the second command runs the script the first one wrote (a failure names this short command)
    assert spec["phases"]["build"]["commands"][1] == 'python3 "${TMPDIR:-/tmp}/select-release.py"'
    assert "%{" not in SELECT_BUILDSPEC.read_text(), "Terraform would read %{ as a template directive"


def test_the_home_build_stamps_each_release_with_its_publish_time_as_its_seq():
    text = (PROJECT_ROOT / "buildspec" / "release.yml").read_text()
    assert 'release_seq="$(date +%s%3N)"' in text
    assert "relay-release-seq=${release_seq}" in text


# --- the synthesized target stack ------------------------------------------------------------------


@pytest.mark.parametrize("region", TARGETS)
def test_a_bespoke_pipeline_selects_the_newest_release_before_deploying_it(local, region):
    stack = local.stack(local.target(region))
    pipeline = one(resources(stack, "aws_codepipeline"))
    assert [s["name"] for s in pipeline["stage"]] == ["Source", "Select", "Deploy"]
    select = one(pipeline["stage"][1]["action"])
    assert (select["category"], select["provider"], select.get("region")) == ("Build", "CodeBuild", None)
    assert select["input_artifacts"] == ["SourceArtifact"] and select["output_artifacts"] == ["ReleaseArtifact"]
    assert select["configuration"] == {
        "ProjectName": ref(stack, "aws_codebuild_project", "name", name=f"relay-local-select-{region}")
    }
    deploy = one(pipeline["stage"][2]["action"])
    assert deploy["input_artifacts"] == ["ReleaseArtifact"]
    assert deploy["configuration"]["TemplateConfiguration"] == "ReleaseArtifact::relay-release.json"
    assert deploy["configuration"]["TemplatePath"].startswith("ReleaseArtifact::")


@pytest.mark.parametrize("region", TARGETS)
def test_the_select_project_reads_only_its_regions_bucket_and_stack(local, region):
    stack = local.stack(local.target(region))
    build = project(stack, region)
    variables = {v["name"]: v["value"] for v in build["environment"]["environment_variable"]}
    assert variables == {
        "RELEASE_BUCKET": ref(stack, "aws_s3_bucket", "bucket", bucket=f"relay-local-release-{region}"),
        "RELEASE_KEY": "release/source.zip",
        "STACK_NAME": "relay-sample-app",
    }
    assert build["source"]["type"] == "CODEPIPELINE" and build["artifacts"]["type"] == "CODEPIPELINE"
    assert "relay-release-seq" in build["source"]["buildspec"]
    # the shell's ${VAR} reaches Terraform escaped
    assert '"$${TMPDIR:-/tmp}/select-release.py"' in build["source"]["buildspec"]
    assert build["encryption_key"] == ref(stack, "aws_kms_key", "arn")
    assert build["service_role"] == ref(stack, "aws_iam_role", "arn", name=f"relay-local-select-{region}")
    logs = build["logs_config"]["cloudwatch_logs"]
    assert logs["group_name"] == f"/aws/codebuild/relay-local-select-{region}"


@pytest.mark.parametrize("region", TARGETS)
def test_the_select_role_is_exactly_scoped_and_assumable_by_codebuild_for_that_project_only(local, region):
    stack = local.stack(local.target(region))
    account = account_id(stack)
    name = f"relay-local-select-{region}"
    role = one([r for r in resources(stack, "aws_iam_role") if r["name"] == name])
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:{region}:{account}:project/{name}"},
            },
        }
    ]
    release, artifacts = f"arn:aws:s3:::relay-local-release-{region}", f"arn:aws:s3:::relay-local-artifacts-{region}"
    key = ref(stack, "aws_kms_key", "arn")
    statements = {s["Sid"]: s for s in role_policy(stack, name)["Statement"]}
    expected = {
        "WriteLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/{name}:*"],
        ),
        "Artifacts": (["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [f"{artifacts}/*"]),
        "ListReleaseVersions": (["s3:ListBucketVersions"], [release]),
        "ReadReleaseVersions": (["s3:GetObjectVersion"], [f"{release}/release/source.zip"]),
        "ReadDeployedRelease": (
            ["cloudformation:DescribeStacks"],
            [f"arn:aws:cloudformation:{region}:{account}:stack/relay-sample-app/*"],
        ),
        "UseKey": (["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [key]),
    }
    assert {sid: (s["Action"], s["Resource"]) for sid, s in statements.items()} == expected
    assert statements["ListReleaseVersions"]["Condition"] == {"StringEquals": {"s3:prefix": "release/source.zip"}}
    assert statements["UseKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"s3.{region}.amazonaws.com", f"codebuild.{region}.amazonaws.com"]}
    }
    # the pipeline runs the build, and only that one
    pipeline_policy = role_policy(stack, f"relay-local-pipeline-{region}")
    run = one([s for s in pipeline_policy["Statement"] if s["Sid"] == "SelectRelease"])
    assert run["Action"] == ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"]
    assert run["Resource"] == [f"arn:aws:codebuild:{region}:{account}:project/{name}"]
    tag = one([s for s in pipeline_policy["Statement"] if s["Sid"] == "TagStack"])
    assert tag["Action"] == ["cloudformation:TagResource"]
    assert tag["Resource"] == [f"arn:aws:cloudformation:{region}:{account}:stack/relay-sample-app/*"]


@pytest.mark.parametrize("region", TARGETS)
def test_cloudwatch_logs_may_use_a_bespoke_regions_key_only_for_the_select_log_group(local, region):
    stack = local.stack(local.target(region))
    policy = json.loads(one(resources(stack, "aws_kms_key"))["policy"])
    logs = one([s for s in policy["Statement"] if s["Sid"] == "AllowCloudWatchLogs"])
    assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                f"arn:aws:logs:{region}:{account_id(stack)}:log-group:/aws/codebuild/relay-local-select-{region}"
            ]
        }
    }


def test_regions_the_home_pipeline_delivers_have_no_select_stage(local):
    native = local.stack(local.target(NATIVE_REGION))
    assert not resources(native, "aws_codebuild_project") and not resources(native, "aws_codepipeline")


def test_the_select_buildspec_file_is_the_one_the_stack_ships():
    from stacks.target import SELECT_BUILDSPEC as shipped

    assert Path(PROJECT_ROOT / shipped) == SELECT_BUILDSPEC
