"""Pipelines and executions, kept in a LocalStack store per account and region.

Each ``Pipeline`` has a ``lock``: the handlers read executions and stage states under it and the
engine changes them under it, so a reader never sees an execution half-way through a change.
"""

from __future__ import annotations

import copy
import threading
import uuid

from localstack.services.stores import AccountRegionBundle, BaseStore, LocalAttribute
from localstack.utils.tagging import Tags

from relay_emulator.common import err, now


class Pipeline:
    """One pipeline: its current declaration, every version, executions (newest first) and the
    latest state of each stage."""

    def __init__(self, account: str, region: str, declaration: dict):
        self.account = account
        self.region = region
        self.declaration = declaration
        self.versions = {declaration["version"]: copy.deepcopy(declaration)}
        self.arn = f"arn:aws:codepipeline:{region}:{account}:{declaration['name']}"
        self.created = self.updated = now()
        self.executions: list[Execution] = []
        self.stage_states: dict[str, dict] = {}
        self.lock = threading.RLock()
        # QUEUED and SUPERSEDED executions run one at a time; the engine holds this while running.
        self.run_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.declaration["name"]

    def find_execution(self, execution_id: str) -> Execution:
        """The execution with that id (PipelineExecutionNotFoundException otherwise)."""
        with self.lock:
            for ex in self.executions:
                if ex.id == execution_id:
                    return ex
        raise err(
            "PipelineExecutionNotFoundException",
            f"Pipeline execution ID {execution_id} does not belong to pipeline {self.name}",
        )


class Execution:
    """One run of a pipeline, on the declaration it started with."""

    def __init__(self, pipeline: Pipeline, trigger: dict, variables: list | None, source_overrides: list | None):
        self.id = str(uuid.uuid4())
        self.pipeline = pipeline
        self.declaration = copy.deepcopy(pipeline.declaration)
        self.status = "InProgress"
        self.status_summary: str | None = None
        self.start_time = self.last_update = now()
        self.trigger = trigger
        self.variables = variables or []
        self.source_overrides = {o.get("actionName"): o for o in source_overrides or []}
        self.artifact_revisions: list[dict] = []
        self.source_revisions: list[dict] = []
        self.artifacts: dict[str, dict] = {}  # artifact name -> {bucket, key, region}
        # (artifact name, region) -> location of its copy in that region's store (cross-region inputs)
        self.copies: dict[tuple[str, str], dict] = {}
        self.action_executions: list[dict] = []
        self.stop_requested = False

    @property
    def mode(self) -> str:
        return self.declaration.get("executionMode") or "SUPERSEDED"

    def _common(self) -> dict:
        """Fields ListPipelineExecutions and GetPipelineExecution both report."""
        out = {
            "pipelineExecutionId": self.id,
            "status": self.status,
            "trigger": self.trigger,
            "executionMode": self.mode,
            "executionType": "STANDARD",
        }
        if self.status_summary:
            out["statusSummary"] = self.status_summary
        return out

    def summary(self) -> dict:
        """ListPipelineExecutions' entry (call under the pipeline's lock)."""
        return {
            **self._common(),
            "startTime": self.start_time,
            "lastUpdateTime": self.last_update,
            "sourceRevisions": copy.deepcopy(self.source_revisions),
        }

    def detail(self) -> dict:
        """GetPipelineExecution's ``pipelineExecution`` (call under the pipeline's lock)."""
        return {
            **self._common(),
            "pipelineName": self.pipeline.name,
            "pipelineVersion": self.declaration["version"],
            "artifactRevisions": copy.deepcopy(self.artifact_revisions),
            "variables": [{"name": v["name"], "resolvedValue": v["value"]} for v in self.variables],
        }


class CodePipelineStore(BaseStore):
    """Pipelines of one account and region, by name, and their tags (by ARN)."""

    pipelines: dict[str, Pipeline] = LocalAttribute(default=dict)
    tags: Tags = LocalAttribute(default=Tags)


# Region names are not validated: botocore's endpoint lists lag the regions AWS serves.
codepipeline_stores = AccountRegionBundle("codepipeline", CodePipelineStore, validate=False)


def pipeline_not_found(name: str, account: str):
    """AWS's error for a pipeline name the account does not have."""
    return err("PipelineNotFoundException", f"Account '{account}' does not have a pipeline with name '{name}'")


def get_pipeline(account: str, region: str, name: str) -> Pipeline:
    """The named pipeline (PipelineNotFoundException otherwise)."""
    p = codepipeline_stores[account][region].pipelines.get(name)
    if p is None:
        raise pipeline_not_found(name, account)
    return p


def pipeline_by_arn(arn: str) -> Pipeline:
    """The pipeline an ARN names, in the ARN's account and region."""
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "codepipeline":
        raise err("InvalidArnException", f"The ARN {arn} is not valid")
    p = codepipeline_stores[parts[4]][parts[3]].pipelines.get(parts[5])
    if p is None:
        raise err("ResourceNotFoundException", f"The resource with the ARN {arn} could not be found")
    return p
