"""CodePipeline's EventBridge events: execution, stage and action state changes.

The execution engine (``codepipeline/engine.py``) calls these after each state change, outside
the pipeline's lock; they build the event (``core.service_events``) and hand it to the emitter
(``service_events``), which puts it on the default bus of the pipeline's region, as CodePipeline
does (an action in another region still reports on the pipeline's bus; its ``detail.region`` is
the action's region). Nothing here can raise into the engine.
"""

from __future__ import annotations

import logging

from relay_emulator.common import now
from relay_emulator.core import service_events as shapes
from relay_emulator.service_events import EMITTER

LOG = logging.getLogger("relay_emulator.pipeline_events")


def _ref(ex) -> shapes.ExecutionRef:
    p = ex.pipeline
    return shapes.ExecutionRef(
        pipeline=p.name,
        arn=p.arn,
        execution_id=ex.id,
        version=int(ex.declaration.get("version") or 1),
        start_time=ex.start_time,
        trigger=ex.trigger,
    )


def _emit(ex, detail_type: str, build) -> None:
    try:
        ref = _ref(ex)
        EMITTER.put(ex.pipeline.account, ex.pipeline.region, shapes.pipeline_entry(ref, detail_type, build(ref), now()))
    except Exception:  # an event must never break an execution
        LOG.exception("could not emit %s for pipeline %s", detail_type, ex.pipeline.name)


def execution(ex, status: str) -> None:
    """Pipeline Execution State Change (``status`` as the API says it: InProgress, Succeeded, ...)."""
    _emit(ex, shapes.PIPELINE_EXECUTION, lambda ref: shapes.pipeline_detail(ref, status))


def stage(ex, stage_name: str, status: str) -> None:
    """Stage Execution State Change."""
    _emit(ex, shapes.STAGE_EXECUTION, lambda ref: shapes.stage_detail(ref, stage_name, status))


def action(ex, stage_name: str, action_: dict, action_execution_id: str, status: str, result=None, error=None) -> None:
    """Action Execution State Change; ``result`` (an ``ActionResult``) and ``error`` (its
    ``errorDetails``) once the action has finished."""
    from relay_emulator.core.pipeline_declaration import action_region

    def build(ref):
        return shapes.action_detail(
            ref,
            stage_name,
            action_,
            action_region(action_, ex.pipeline.region),
            action_execution_id,
            status,
            summary=getattr(result, "summary", None),
            external_id=getattr(result, "external_id", None),
            error_code=(error or {}).get("code"),
            outputs=getattr(result, "artifacts", None),
        )

    _emit(ex, shapes.ACTION_EXECUTION, build)
