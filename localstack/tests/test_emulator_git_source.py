"""The emulator's git host with real git: the `repo` verb, `git push` starting V2 pipelines
through the repository's hook, push filters, and the connection source action's artifact,
revision and failures."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from emulator_helpers import HOME, SSM_PARAMETER_TEMPLATE, cfn_deploy_action, client, wait_execution, wait_started

pytestmark = pytest.mark.emulator

LAUNCHER = Path(__file__).resolve().parent.parent / "emulator.py"


def git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", "-c", "user.name=relay", "-c", "user.email=relay@example.com", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout + done.stderr


def make_repo(repository: str) -> str:
    """The `repo` verb: creates the repository and prints the URL to push to on its last line."""
    out = subprocess.run([sys.executable, str(LAUNCHER), "repo", repository], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


class Clone:
    """A working copy whose `origin` is the emulator's repository."""

    def __init__(self, path: Path, url: str):
        self.path = path
        path.mkdir()
        git("init", "-q", "-b", "main", cwd=path)
        git("remote", "add", "origin", url, cwd=path)

    def commit(self, message: str, files: dict) -> str:
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "-m", message, cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path).strip()

    def push(self, *refspec: str) -> str:
        """`git push origin ...`; returns git's output (the hook's lines are `remote:` lines)."""
        return git("push", "origin", *refspec, cwd=self.path)


@pytest.fixture
def setup(res, tmp_path):
    """A repository with a working clone, an artifact bucket, the pipeline role and a connection."""
    repository = f"relay-test/{res.name('app')}"
    url = make_repo(repository)
    cs = client("codestar-connections", HOME)
    arn = cs.create_connection(ProviderType="GitHub", ConnectionName=res.name("conn"))["ConnectionArn"]
    res.defer(cs.delete_connection, ConnectionArn=arn)
    cp = client("codepipeline", HOME)
    names = []

    def pipeline(deploy: dict | None = None, triggers=None, repo: str = repository, output_format="CODE_ZIP", **cfg):
        name = res.name("pipe")
        decl = {
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": bucket},
            "pipelineType": "V2",
            "executionMode": "PARALLEL",
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "CodeStarSourceConnection",
                                "version": "1",
                            },
                            "configuration": {
                                "ConnectionArn": cfg.pop("connection", arn),
                                "FullRepositoryId": repo,
                                "BranchName": "main",
                                "OutputArtifactFormat": output_format,
                                **cfg,
                            },
                            "outputArtifacts": [{"name": "SourceArtifact"}],
                        }
                    ],
                },
                {
                    "name": "Next",
                    "actions": [
                        deploy
                        or {
                            "name": "Approve",
                            "actionTypeId": {
                                "category": "Approval",
                                "owner": "AWS",
                                "provider": "Manual",
                                "version": "1",
                            },
                        }
                    ],
                },
            ],
        }
        if triggers is not None:
            decl["triggers"] = triggers
        cp.create_pipeline(pipeline=decl)
        names.append(name)
        return name

    bucket = res.bucket(HOME, prefix="art")
    role = res.role("codepipeline")
    res.defer(lambda: [cp.delete_pipeline(name=n) for n in names])
    return {
        "repository": repository,
        "url": url,
        "clone": Clone(tmp_path / "work", url),
        "arn": arn,
        "bucket": bucket,
        "role": role,
        "pipeline": pipeline,
        "cp": cp,
    }


def on_branches(*includes: str, **extra) -> list:
    return [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [{"branches": {"includes": list(includes)}, **extra}],
            },
        }
    ]


def executions(cp, name: str) -> list:
    return cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]


def artifact_zip(bucket: str, pipeline: str) -> list:
    """The source artifacts the pipeline wrote to its store, newest last."""
    s3 = client("s3", HOME)
    items = s3.list_objects_v2(Bucket=bucket, Prefix=f"{pipeline[:20]}/SourceArtifact/").get("Contents", [])
    items.sort(key=lambda o: o["LastModified"])
    return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in items]


def test_repo_verb_validates_and_is_idempotent(setup):
    assert make_repo(setup["repository"]) == setup["url"]
    assert setup["url"].startswith("file://") and setup["url"].endswith(".git")
    bad = subprocess.run([sys.executable, str(LAUNCHER), "repo", "not-a-repository"], capture_output=True, text=True)
    assert bad.returncode == 1 and "owner/name" in bad.stderr and "'not-a-repository'" in bad.stderr


def test_each_push_to_main_starts_one_execution_with_its_commit(setup, res):
    clone, cp, repository = setup["clone"], setup["cp"], setup["repository"]
    param, stack = "/relay/test/" + res.name("git"), res.name("stack")
    cfn = client("cloudformation", HOME)
    res.defer(cfn.delete_stack, StackName=stack)
    deploy = cfn_deploy_action(stack, setup["role"])
    name = setup["pipeline"](deploy=deploy, triggers=on_branches("main"))
    assert executions(cp, name) == []

    first = clone.commit(
        "first release", {"template.yaml": SSM_PARAMETER_TEMPLATE.format(name=param, value="one"), "app/x.txt": "x"}
    )
    out = clone.push("main")
    assert f"started pipeline {name}" in out
    summary = wait_started(cp, name)
    assert len(executions(cp, name)) == 1
    assert summary["trigger"]["triggerType"] == "WebhookV2"
    detail = json.loads(summary["trigger"]["triggerDetail"])
    assert detail == {
        "ConnectionArn": setup["arn"],
        "FullRepositoryId": repository,
        "Ref": "refs/heads/main",
        "CommitId": first,
    }
    done = wait_execution(cp, name, summary["pipelineExecutionId"])
    assert done["status"] == "Succeeded", done
    revision = done["artifactRevisions"][0]
    assert revision["revisionId"] == first
    assert json.loads(revision["revisionSummary"]) == {"ProviderType": "GitHub", "CommitMessage": "first release"}
    assert f"Commit={first}" in revision["revisionUrl"]
    source = executions(cp, name)[0]["sourceRevisions"][0]
    assert (source["actionName"], source["revisionId"]) == ("Source", first)
    assert client("ssm", HOME).get_parameter(Name=param)["Parameter"]["Value"] == "one"
    # the artifact is the commit's tree: git archive's exact bytes, committed files only
    data = artifact_zip(setup["bucket"], name)[-1]
    assert (
        data
        == subprocess.run(
            ["git", "archive", "--format=zip", first], cwd=clone.path, capture_output=True, check=True
        ).stdout
    )
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["app/", "app/x.txt", "template.yaml"]
    state = cp.get_pipeline_state(name=name)["stageStates"][0]["actionStates"][0]
    assert state["currentRevision"]["revisionId"] == first
    # the connection completed its local handshake when the pipeline used it
    conn = client("codestar-connections", HOME).get_connection(ConnectionArn=setup["arn"])["Connection"]
    assert conn["ConnectionStatus"] == "AVAILABLE"

    second = clone.commit("second release", {"template.yaml": SSM_PARAMETER_TEMPLATE.format(name=param, value="two")})
    clone.push("main")
    assert len(executions(cp, name)) == 2
    latest = executions(cp, name)[0]
    assert json.loads(latest["trigger"]["triggerDetail"])["CommitId"] == second
    assert wait_execution(cp, name, latest["pipelineExecutionId"])["artifactRevisions"][0]["revisionId"] == second
    assert client("ssm", HOME).get_parameter(Name=param)["Parameter"]["Value"] == "two"

    # StartPipelineExecution: the branch head, or the commit sourceRevisions names
    by_hand = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
    assert wait_execution(cp, name, by_hand)["artifactRevisions"][0]["revisionId"] == second
    pinned = cp.start_pipeline_execution(
        name=name, sourceRevisions=[{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": first}]
    )["pipelineExecutionId"]
    assert wait_execution(cp, name, pinned)["artifactRevisions"][0]["revisionId"] == first


def test_other_branches_tags_and_unmatched_file_paths_start_nothing(setup):
    clone, cp = setup["clone"], setup["cp"]
    name = setup["pipeline"](triggers=on_branches("main", filePaths={"includes": ["app/**"]}))
    default = setup["pipeline"]()  # no trigger: default change detection on BranchName
    off = setup["pipeline"](DetectChanges="false")
    clone.commit("docs", {"docs/readme.md": "a"})
    clone.push("main")
    assert executions(cp, name) == [] and len(executions(cp, default)) == 1 and executions(cp, off) == []

    git("checkout", "-q", "-b", "dev", cwd=clone.path)
    clone.commit("dev work", {"app/a.txt": "dev"})
    out = clone.push("dev")
    assert "refs/heads/dev: no pipeline starts on this push" in out
    git("tag", "v1", cwd=clone.path)
    clone.push("v1")
    assert executions(cp, name) == [] and len(executions(cp, default)) == 1

    git("checkout", "-q", "main", cwd=clone.path)
    sha = clone.commit("app change", {"app/b.txt": "b"})
    clone.push("main")
    started = executions(cp, name)
    assert len(started) == 1 and json.loads(started[0]["trigger"]["triggerDetail"])["CommitId"] == sha
    assert len(executions(cp, default)) == 2 and executions(cp, default)[0]["trigger"]["triggerType"] == "Webhook"
    assert wait_execution(cp, name, started[0]["pipelineExecutionId"])["status"] == "Succeeded"


def test_missing_repository_fails_naming_the_command(setup, res):
    missing = f"relay-test/{res.name('missing')}"
    name = setup["pipeline"](repo=missing)
    cp = setup["cp"]
    done = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert done["status"] == "Failed"
    assert f"Repository {missing} does not exist" in done["statusSummary"]
    assert f"relay emulator repo {missing}" in done["statusSummary"]


def test_pending_connection_is_not_used(setup, res):
    cs = client("codestar-connections", HOME)
    tags = [{"Key": "relay:emulator-status", "Value": "PENDING"}]
    pending = cs.create_connection(ProviderType="GitHub", ConnectionName=res.name("pending"), Tags=tags)
    res.defer(cs.delete_connection, ConnectionArn=pending["ConnectionArn"])
    name = setup["pipeline"](triggers=on_branches("main"), connection=pending["ConnectionArn"])
    setup["clone"].commit("c", {"a": "a"})
    out = setup["clone"].push("main")
    assert f"pipeline {name}" in out and "not started" in out and "PENDING" in out
    assert executions(setup["cp"], name) == []
    done = wait_execution(setup["cp"], name, setup["cp"].start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert done["status"] == "Failed" and "PENDING" in done["statusSummary"]


def test_clone_ref_artifact_is_a_full_clone_at_the_commit(setup, tmp_path):
    clone, cp = setup["clone"], setup["cp"]
    sha = clone.commit("with history", {"a.txt": "a"})
    clone.push("main")
    name = setup["pipeline"](output_format="CODEBUILD_CLONE_REF")
    done = wait_execution(cp, name, cp.start_pipeline_execution(name=name)["pipelineExecutionId"])
    assert done["status"] == "Succeeded", done
    out = tmp_path / "unzipped"
    zipfile.ZipFile(io.BytesIO(artifact_zip(setup["bucket"], name)[-1])).extractall(out)
    assert (out / "a.txt").read_text() == "a"
    assert git("rev-parse", "HEAD", cwd=out).strip() == sha
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=out).strip() == "main"
    assert git("remote", "get-url", "origin", cwd=out).strip() == setup["url"]


def test_push_with_the_emulator_down_is_stored_and_says_so(setup, tmp_path):
    """The hook cannot reach an emulator: the push succeeds and the pusher is told."""
    root = Path(setup["url"][len("file://") :]).parent.parent
    endpoint = root / "emulator.json"
    saved = endpoint.read_text()
    endpoint.write_text(json.dumps({"url": "http://127.0.0.1:9"}))
    try:
        sha = setup["clone"].commit("offline", {"b": "b"})
        out = setup["clone"].push("main")
    finally:
        endpoint.write_text(saved)
    assert "not running at http://127.0.0.1:9" in out and "push stored" in out
    assert git("ls-remote", setup["url"], "refs/heads/main", cwd=tmp_path).split()[0] == sha
