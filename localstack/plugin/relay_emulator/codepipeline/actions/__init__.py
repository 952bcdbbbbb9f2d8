"""Pipeline actions, one module per kind, behind one entry point: ``run_action``.

An action gets an ``ActionRun`` (what it may read: its declaration, region, the execution's
artifacts so far, its input artifacts already copied into its region's artifact store) and
returns an ``ActionResult`` (what the engine records: summary, revision, new artifacts and
revisions), or raises ``ActionFailed`` with the reason. Actions never touch the execution
themselves; the engine records their results under the pipeline's lock.
"""

from __future__ import annotations

import dataclasses

from relay_emulator.core.pipeline_declaration import action_kind


class ActionFailed(Exception):
    """The action failed; the message is the summary the pipeline reports."""

    def __init__(self, message: str, external_id: str | None = None):
        super().__init__(message)
        self.external_id = external_id


@dataclasses.dataclass(frozen=True)
class ActionRun:
    """What an action may read."""

    account: str
    pipeline_name: str
    declaration: dict  # the execution's pipeline declaration
    action: dict
    region: str  # where the action runs
    artifacts: dict  # artifact name -> {bucket, key, region}: inputs in the action's region, others where made
    source_override: dict | None = None  # the execution's sourceRevisions entry for this action
    revisions: dict = dataclasses.field(default_factory=dict)  # artifact name -> revision id (source artifacts)

    @property
    def configuration(self) -> dict:
        return self.action.get("configuration") or {}

    @property
    def input_names(self) -> list:
        return [a["name"] for a in self.action.get("inputArtifacts") or []]


@dataclasses.dataclass
class ActionResult:
    """What the engine records for a successful action."""

    summary: str
    revision: str | None = None
    external_id: str | None = None
    artifacts: dict = dataclasses.field(default_factory=dict)
    artifact_revisions: list = dataclasses.field(default_factory=list)
    source_revisions: list = dataclasses.field(default_factory=list)


def run_action(run: ActionRun) -> ActionResult:
    """Run one action with the module for its kind."""
    from relay_emulator.codepipeline.actions import cloudformation, not_emulated, s3_source

    kind = action_kind(run.action)
    if kind == ("Source", "AWS", "S3"):
        return s3_source.run(run)
    if kind == ("Source", "AWS", "CodeStarSourceConnection"):
        from relay_emulator.codepipeline.actions import connection_source

        return connection_source.run(run)
    if kind == ("Build", "AWS", "CodeBuild"):
        from relay_emulator.codepipeline.actions import codebuild_build

        return codebuild_build.run(run)
    if kind == ("Deploy", "AWS", "CloudFormation"):
        return cloudformation.run(run)
    return not_emulated.run(run)
