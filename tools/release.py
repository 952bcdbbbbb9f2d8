"""Publish a release the way the build does, and watch it travel: replication, event, execution, stack.

Shared by the demo (`tools.demo`) and the integration suite; talks to AWS or, in emulator mode, to
the emulator endpoint of the configuration. Callers wait with `tools.wait.wait_for`, which bounds every
wait and says what it waited for.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from config.paths import PROJECT_ROOT
from config.schema import DeliveryStrategy, RelayConfig
from regions.delivery import decisions

SAMPLE_APP = PROJECT_ROOT / "app" / "sample"
LAUNCHER = PROJECT_ROOT / "localstack" / "emulator.py"
LABEL_DEFAULT = b"Default: initial"


def labelled(path: Path, label: str) -> bytes:
    """A file of the application source, with its templates' release label (`template.yaml`, `app-tier.yaml`,
    any YAML file holding the default) set to `label`."""
    data = path.read_bytes()
    return data.replace(LABEL_DEFAULT, f"Default: {label}".encode()) if path.suffix in (".yaml", ".yml") else data


def release_zip(label: str, source: Path = SAMPLE_APP) -> bytes:
    """Zip the application source as the build does, with the template's release label set to `label`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                data = labelled(path, label)
                info = zipfile.ZipInfo(str(path.relative_to(source)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
    return buffer.getvalue()


@dataclass
class Clients:
    """boto3 clients per region for one deployment (emulator endpoint and test credentials if enabled)."""

    config: RelayConfig

    def __post_init__(self) -> None:
        self._cache: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._cache:
            settings: dict[str, Any] = {
                "region_name": region,
                "config": Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
            }
            if self.config.emulator.enabled:
                settings.update(
                    endpoint_url=self.config.emulator.endpoint,
                    aws_access_key_id="test",
                    aws_secret_access_key="test",  # noqa: S106 - the emulator's public test credentials
                )
            self._cache[key] = boto3.client(service, **settings)
        return self._cache[key]


class Release:
    """One deployment's release path, with the physical names computed from its configuration."""

    def __init__(self, config: RelayConfig, clients: Clients | None = None):
        self.config = config
        self.names = config.names
        self.clients = clients or Clients(config)
        self.key = config.release.object_key

    def home_bucket(self) -> str:
        return self.names.bucket("release", self.config.home_region)

    def regions_delivered(self, *strategies: DeliveryStrategy) -> list[str]:
        """The target regions delivered with one of `strategies`, in configuration order."""
        return [d.region for d in decisions(self.config) if d.strategy in strategies]

    def home_action(self, execution_id: str, region: str) -> dict | None:
        """The home execution's run of its deploy action for a `native` or `remote` region
        (ListActionExecutions' detail), or None before that action started."""
        client = self.clients("codepipeline", self.config.home_region)
        details = client.list_action_executions(
            pipelineName=self.names.pipeline("release", self.config.home_region),
            filter={"pipelineExecutionId": execution_id},
        )["actionExecutionDetails"]
        name = self.names.deploy_action(region)
        return next((d for d in details if d.get("actionName") == name), None)

    def target_bucket(self, region: str) -> str:
        return self.names.bucket("release", region)

    def pipeline(self, region: str) -> str:
        return self.names.pipeline("deploy", region)

    def publish(self, body: bytes, key: str | None = None) -> str:
        """Put the release into the home bucket as the build's `aws s3 cp --sse aws:kms` does."""
        region = self.config.home_region
        s3 = self.clients("s3", region)
        alias = self.names.kms_alias(region)
        key_arn = self.clients("kms", region).describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
        response = s3.put_object(
            Bucket=self.home_bucket(),
            Key=key or self.key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key_arn,
            # the release id a bespoke region's Select action orders releases by (buildspec/release.yml stamps
            # the same: its publish time in epoch milliseconds)
            Metadata={"source-revision": "manual", "relay-release-seq": str(time.time_ns() // 1_000_000)},
        )
        return response["VersionId"]

    def source_status(self, version_id: str) -> str | None:
        """ReplicationStatus of the release version in the home bucket."""
        head = self.clients("s3", self.config.home_region).head_object(
            Bucket=self.home_bucket(), Key=self.key, VersionId=version_id
        )
        return head.get("ReplicationStatus")

    def replica(self, region: str, version_id: str) -> dict | None:
        """HeadObject of the replica with this version id in a target region, or None while absent."""
        s3 = self.clients("s3", region)
        try:
            return s3.head_object(Bucket=self.target_bucket(region), Key=self.key, VersionId=version_id)
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket"):
                return None
            raise

    def replica_body(self, region: str, version_id: str) -> bytes:
        s3 = self.clients("s3", region)
        return s3.get_object(Bucket=self.target_bucket(region), Key=self.key, VersionId=version_id)["Body"].read()

    def home_executions(self) -> list[dict]:
        """Executions of the home region's release pipeline, newest first."""
        client = self.clients("codepipeline", self.config.home_region)
        name = self.names.pipeline("release", self.config.home_region)
        return client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]

    def home_execution_for(self, commit: str) -> dict | None:
        """The release pipeline's execution of this commit: its source revision, or (before the source
        action has run) the commit its git push trigger names."""
        for execution in self.home_executions():
            if any(r.get("revisionId") == commit for r in execution.get("sourceRevisions", [])):
                return execution
            if trigger_commit(execution.get("trigger") or {}) == commit:
                return execution
        return None

    def running_executions(self) -> list[str]:
        """Executions still running in the home region and in every region with a pipeline of its own."""
        runs = list(self.home_executions())
        for region in self.regions_delivered(DeliveryStrategy.BESPOKE):
            runs += self.executions(region)
        return [e["pipelineExecutionId"] for e in runs if e["status"] in ("InProgress", "Stopping")]

    def home_execution_status(self, execution_id: str) -> str:
        client = self.clients("codepipeline", self.config.home_region)
        name = self.names.pipeline("release", self.config.home_region)
        return client.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)["pipelineExecution"][
            "status"
        ]

    def latest_build(self) -> dict:
        """The latest build of the home region's CodeBuild project (BatchGetBuilds)."""
        client = self.clients("codebuild", self.config.home_region)
        project = self.names.codebuild_project(self.config.home_region)
        ids = client.list_builds_for_project(projectName=project, sortOrder="DESCENDING")["ids"]
        return client.batch_get_builds(ids=ids[:1])["builds"][0]

    def published(self) -> dict | None:
        """HeadObject of the latest release object in the home bucket, or None while there is none."""
        s3 = self.clients("s3", self.config.home_region)
        try:
            return s3.head_object(Bucket=self.home_bucket(), Key=self.key)
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return None
            raise

    def executions(self, region: str) -> list[dict]:
        """Executions of the region's deploy pipeline, newest first."""
        client = self.clients("codepipeline", region)
        return client.list_pipeline_executions(pipelineName=self.pipeline(region))["pipelineExecutionSummaries"]

    def execution_for(self, region: str, version_id: str) -> dict | None:
        """The execution whose S3 source revision is this version id."""
        for execution in self.executions(region):
            if any(r.get("revisionId") == version_id for r in execution.get("sourceRevisions", [])):
                return execution
        return None

    def execution_status(self, region: str, execution_id: str) -> str:
        client = self.clients("codepipeline", region)
        return client.get_pipeline_execution(pipelineName=self.pipeline(region), pipelineExecutionId=execution_id)[
            "pipelineExecution"
        ]["status"]

    def deployed_stack(self, region: str) -> dict | None:
        """The CloudFormation stack the pipeline deploys, or None if it does not exist."""
        client = self.clients("cloudformation", region)
        try:
            return client.describe_stacks(StackName=self.config.deploy.stack_name)["Stacks"][0]
        except client.exceptions.ClientError as error:
            if "does not exist" in str(error):
                return None
            raise

    def deployed_label(self, region: str) -> str | None:
        """The release label the sample application's stack reports (its ReleaseLabel output)."""
        stack = self.deployed_stack(region)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}
        return outputs.get("ReleaseLabel")

    def delete_deployed_stacks(self, regions: list[str] | None = None) -> None:
        """Delete the application stacks the pipelines deployed (they are not Terraform's to destroy), in
        `regions` (default: every target region)."""
        name = self.config.deploy.stack_name
        deleting = [r for r in (self.config.target_regions if regions is None else regions) if self.deployed_stack(r)]
        for region in deleting:  # every region's deletion runs at once; then each is waited for
            self.clients("cloudformation", region).delete_stack(StackName=name)
        for region in deleting:
            self.clients("cloudformation", region).get_waiter("stack_delete_complete").wait(
                StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )


def trigger_commit(trigger: dict) -> str | None:
    """The commit a git push trigger names in its detail (JSON with `CommitId`), if any."""
    try:
        detail = json.loads(trigger.get("triggerDetail") or "")
    except ValueError:
        return None
    return detail.get("CommitId") if isinstance(detail, dict) else None


class SourceRepository:
    """The emulator's git repository behind the home pipeline's connection, and a working clone that
    pushes the application source to it with plain git (the emulator's hook starts the pipeline)."""

    def __init__(self, config: RelayConfig, workdir: Path, source: Path = SAMPLE_APP):
        self.config = config
        self.workdir = workdir
        self.source = source
        port = urlparse(config.emulator.endpoint).port or 4566
        env = {**os.environ, "RELAY_EMULATOR_PORT": str(port)}
        created = subprocess.run(
            [sys.executable, str(LAUNCHER), "repo", config.source.repository],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode:
            raise RuntimeError(f"could not create the emulator's repository: {created.stderr or created.stdout}")
        self.url = created.stdout.strip().splitlines()[-1]
        if not (workdir / ".git").is_dir():
            workdir.mkdir(parents=True, exist_ok=True)
            self.git("init", "--quiet", f"--initial-branch={config.source.branch}")
            self.git("remote", "add", "origin", self.url)
            self.git("config", "user.name", "relay")
            self.git("config", "user.email", "relay@example.invalid")

    def git_ok(self, *args: str) -> bool:
        """Whether a git command succeeds (for questions such as "does this ref exist")."""
        return subprocess.run(["git", *args], cwd=self.workdir, capture_output=True, check=False).returncode == 0

    def git(self, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=self.workdir, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr or result.stdout}")
        return result.stdout.strip()

    def commit(self, label: str, message: str | None = None, source: Path | None = None) -> str:
        """Replace the working tree with the application source (release label `label`), or with the
        files of `source`, and commit it."""
        source = self.source if source is None else source
        for entry in self.workdir.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for path in sorted(source.rglob("*")):
            if path.is_file():
                target = self.workdir / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(labelled(path, label))
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message or f"release {label}")
        return self.git("rev-parse", "HEAD")

    def push(self, label: str, branch: str | None = None, source: Path | None = None) -> str:
        """Commit the source with `label` (or the files of `source`) and push it to `branch` (default: the
        configured one); the commit id."""
        branch = branch or self.config.source.branch
        # on top of what the branch holds already (other clones may have pushed), so the push fast-forwards
        self.git("fetch", "--quiet", "origin")
        if self.git_ok("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"):
            self.git("reset", "--quiet", "--soft", f"origin/{branch}")
        commit = self.commit(label, source=source)
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}")
        return commit


def main(argv: list[str] | None = None, *, prog: str = "relay release") -> int:
    """`relay release`: publish app/sample by hand, as the build does (exit 0 published, 1 failed, 2 bad
    configuration)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Zip app/sample and put it into the home release bucket as the home pipeline's build does. "
        "Releases normally start with a git push to the branch; this is for re-releasing while the source or "
        "the home pipeline is unavailable. It reaches the regions delivered `bespoke` (by replication); the "
        "`native` and `remote` ones are deployed by a home pipeline execution. RELAY_ENV picks the environment.",
    )
    parser.add_argument("--label", required=True, help="release label written into the sample app's template")
    options = parser.parse_args(argv)
    from config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    release = Release(config)
    try:
        version_id = release.publish(release_zip(options.label))
    except Exception as error:  # any AWS or connection error: one line, the caller decides
        print(f"relay: could not publish to {release.home_bucket()}: {error}", file=sys.stderr)
        return 1
    print(f"published s3://{release.home_bucket()}/{release.key} version {version_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
