"""Publish a release the way the build does, and watch it travel: replication, event, execution, stack.

Shared by the demo (`tools.demo`) and the integration suite; talks to AWS or, in emulator mode, to
the emulator endpoint of the configuration. Callers wait with `tools.wait.wait_for`, which bounds every
wait and says what it waited for.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from config.paths import PROJECT_ROOT
from config.schema import RelayConfig

SAMPLE_APP = PROJECT_ROOT / "app" / "sample"


def release_zip(label: str, source: Path = SAMPLE_APP) -> bytes:
    """Zip the application source as the build does, with the template's release label set to `label`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if path.name == "template.yaml":
                    data = data.replace(b"Default: initial", f"Default: {label}".encode())
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
            Metadata={"source-revision": "local"},
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

    def delete_deployed_stacks(self) -> None:
        """Delete the application stacks the pipelines deployed (they are not Terraform's to destroy)."""
        name = self.config.deploy.stack_name
        for region in self.config.target_regions:
            if self.deployed_stack(region):
                client = self.clients("cloudformation", region)
                client.delete_stack(StackName=name)
                client.get_waiter("stack_delete_complete").wait(
                    StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
                )
