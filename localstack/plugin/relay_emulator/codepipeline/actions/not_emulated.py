"""Any action kind the plugin does not emulate (Manual approval, ...).

Recorded as Succeeded with a summary that says it was not emulated, so a pipeline with such a
stage still runs its emulated stages; nothing is built or approved.
"""

from __future__ import annotations

from relay_emulator.codepipeline.actions import ActionResult, ActionRun
from relay_emulator.core.pipeline_declaration import action_kind

NOT_EMULATED = "not emulated by relay's LocalStack plugin; recorded as succeeded"


def run(run: ActionRun) -> ActionResult:
    """Record the action without doing anything; the summary names its kind."""
    category, _owner, provider = action_kind(run.action)
    return ActionResult(summary=f"{category}/{provider} action {NOT_EMULATED}")
