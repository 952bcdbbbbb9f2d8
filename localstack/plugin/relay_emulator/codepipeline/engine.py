"""Runs pipeline executions on background threads, as CodePipeline does.

Stages run in order, actions by ``runOrder``; the first failed action fails its stage and the
execution. ``QUEUED`` and ``SUPERSEDED`` executions of a pipeline run one at a time, in the order
they started (a waiting older execution becomes ``Superseded`` when a newer one exists),
``PARALLEL`` ones concurrently.

Before an action runs, every input artifact that lives in another region is copied into the
artifact store of the action's region (once per artifact, region and execution), and the action
reads the copy, as CodePipeline does for cross-region actions; a failed copy fails the action.
ListActionExecutions reports the action's region and the ``s3location`` of the input artifacts
it read (the copies) and of its output artifacts.

Every change to execution or stage state happens under the pipeline's lock, which the handlers
read it under; actions themselves run outside the lock and hand their results back.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid

from relay_emulator import faults, pipeline_events
from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun, run_action
from relay_emulator.codepipeline.actions.artifacts import copy_to_region
from relay_emulator.codepipeline.models import Execution, Pipeline
from relay_emulator.common import now
from relay_emulator.core.faults import down_message
from relay_emulator.core.pipeline_declaration import action_region

LOG = logging.getLogger("relay_emulator.codepipeline")
# QUEUED and SUPERSEDED executions of a pipeline take their turn in the order they started, as CodePipeline's
# queue does (a plain lock wakes its waiters in no set order: a newer release could deploy before an older one
# and the older one last). Pipeline ARN -> its executions waiting or running, oldest first.
_TURNS = threading.Condition()
_QUEUES: dict[str, list] = {}


def start_execution(p: Pipeline, trigger: dict, variables=None, source_revisions=None) -> Execution:
    """Record a new execution (InProgress) and start running it on its own thread."""
    ex = Execution(p, trigger, variables, source_revisions)
    with p.lock:
        p.executions.insert(0, ex)
    if ex.mode != "PARALLEL":
        with _TURNS:
            _QUEUES.setdefault(p.arn, []).append(ex)
    pipeline_events.execution(ex, "InProgress")  # queued before the thread can emit anything
    threading.Thread(target=_run_execution, args=(ex,), name=f"relay-pipeline-{p.name}", daemon=True).start()
    LOG.info("pipeline %s: execution %s started (trigger %s)", p.name, ex.id, trigger.get("triggerType"))
    return ex


def _superseded(ex: Execution) -> bool:
    p = ex.pipeline
    with p.lock:
        return ex.mode == "SUPERSEDED" and any(
            e.status == "InProgress" and e.start_time > ex.start_time for e in p.executions if e is not ex
        )


def _run_execution(ex: Execution) -> None:
    p = ex.pipeline
    lock = None if ex.mode == "PARALLEL" else p.run_lock
    if lock:
        _wait_turn(ex)
        lock.acquire()
    try:
        if _superseded(ex):
            _finish(ex, "Superseded", "Superseded by a newer execution")
            return
        for stage in ex.declaration.get("stages") or []:
            with p.lock:
                stopped, reason = ex.stop_requested, ex.status_summary
            if stopped:
                _finish(ex, "Stopped", reason or "Execution stopped")
                return
            if not _run_stage(ex, stage):
                return
        _finish(ex, "Succeeded", None)
    except Exception as e:  # engine bug: fail the execution visibly instead of hanging
        LOG.exception("pipeline %s execution %s crashed", p.name, ex.id)
        _finish(ex, "Failed", f"Internal emulator error: {e}")
    finally:
        if lock:
            lock.release()
            _end_turn(ex)


def _wait_turn(ex: Execution) -> None:
    """Wait until every older QUEUED / SUPERSEDED execution of the pipeline has ended."""
    with _TURNS:
        _TURNS.wait_for(lambda: ex not in _QUEUES.get(ex.pipeline.arn, ()) or _QUEUES[ex.pipeline.arn][0] is ex)


def _end_turn(ex: Execution) -> None:
    with _TURNS:
        queue = _QUEUES.get(ex.pipeline.arn) or []
        if ex in queue:
            queue.remove(ex)
        if not queue:
            _QUEUES.pop(ex.pipeline.arn, None)
        _TURNS.notify_all()


def _finish(ex: Execution, status: str, summary: str | None) -> None:
    with ex.pipeline.lock:
        ex.status = status
        if summary:
            ex.status_summary = summary
        ex.last_update = now()
    pipeline_events.execution(ex, status)
    LOG.info("pipeline %s: execution %s %s%s", ex.pipeline.name, ex.id, status, f" ({summary})" if summary else "")


def _action_run(ex: Execution, action: dict) -> ActionRun:
    p = ex.pipeline
    with p.lock:
        artifacts = dict(ex.artifacts)
        revisions = {r.get("name"): r.get("revisionId") for r in ex.artifact_revisions}
    return ActionRun(
        account=p.account,
        pipeline_name=p.name,
        declaration=ex.declaration,
        action=action,
        region=action_region(action, p.region),
        artifacts=artifacts,
        source_override=ex.source_overrides.get(action["name"]),
        revisions=revisions,
    )


def _stage_inputs(ex: Execution, run: ActionRun, inputs: dict) -> ActionRun:
    """The run with its input artifacts in its own region: each one made in another region is
    copied into the action region's store (unless this execution already did). ``inputs`` gets
    the location of every input the action will read as soon as it is known."""
    p = ex.pipeline
    for name in run.input_names:
        location = run.artifacts.get(name)
        if location is None:  # the action itself reports the missing input
            continue
        if location["region"] != run.region:
            with p.lock:
                copied = ex.copies.get((name, run.region))
            if copied is None:
                copied = copy_to_region(run.account, run.declaration, name, location, run.region)
                LOG.info(
                    "pipeline %s: input artifact %s copied from %s to s3://%s/%s (%s) for action %s",
                    p.name,
                    name,
                    location["region"],
                    copied["bucket"],
                    copied["key"],
                    run.region,
                    run.action["name"],
                )
                with p.lock:
                    ex.copies[(name, run.region)] = copied
            location = copied
        inputs[name] = location
    return dataclasses.replace(run, artifacts={**run.artifacts, **inputs})


def _perform(ex: Execution, action: dict, inputs: dict) -> tuple[str, ActionResult, dict | None]:
    """Run one action (its inputs in its region first): (status, result, errorDetails)."""
    try:
        run = _action_run(ex, action)
        if run.region != ex.pipeline.region and faults.is_down(run.region):  # AWS fails the action
            raise ActionFailed(f"ServiceUnavailable: {down_message(run.region)}")
        return "Succeeded", run_action(_stage_inputs(ex, run, inputs)), None
    except ActionFailed as e:
        return "Failed", ActionResult(summary=str(e), external_id=e.external_id), _error(str(e))
    except Exception as e:  # anything unexpected is an action failure with the reason
        LOG.exception("pipeline %s: action %s failed", ex.pipeline.name, action["name"])
        summary = f"{type(e).__name__}: {e}"
        return "Failed", ActionResult(summary=summary), _error(summary)


def _artifact_details(locations: dict) -> list:
    """AWS's ArtifactDetail list: name and ``s3location`` of each artifact."""
    return [
        {"name": name, "s3location": {"bucket": loc["bucket"], "key": loc["key"]}} for name, loc in locations.items()
    ]


def _error(message: str) -> dict:
    return {"code": "JobFailed", "message": message}


def _run_stage(ex: Execution, stage: dict) -> bool:
    p = ex.pipeline
    with p.lock:
        state = p.stage_states.setdefault(stage["name"], {"actions": {}})
        state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "InProgress"}
    pipeline_events.stage(ex, stage["name"], "InProgress")
    for action in sorted(stage.get("actions") or [], key=lambda a: a.get("runOrder", 1)):
        if faults.is_down(p.region):  # the pipeline's region was taken down: progress stops until it is up
            LOG.info("pipeline %s: execution %s waits: region %s is down", p.name, ex.id, p.region)
            faults.wait_until_up(p.region)
        started = now()
        action_execution_id = str(uuid.uuid4())
        with p.lock:
            state["actions"][action["name"]] = {
                "actionName": action["name"],
                "latestExecution": {
                    "actionExecutionId": action_execution_id,
                    "status": "InProgress",
                    "lastStatusChange": started,
                },
            }
        pipeline_events.action(ex, stage["name"], action, action_execution_id, "InProgress")
        inputs: dict = {}
        status, result, error = _perform(ex, action, inputs)
        with p.lock:
            _record(ex, stage, action, state, action_execution_id, started, (status, result, error, inputs))
        pipeline_events.action(ex, stage["name"], action, action_execution_id, status, result, error)
        if status == "Failed":
            pipeline_events.stage(ex, stage["name"], "Failed")
            _finish(ex, "Failed", f"Action {action['name']} in stage {stage['name']} failed: {result.summary}")
            return False
    with p.lock:
        state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "Succeeded"}
    pipeline_events.stage(ex, stage["name"], "Succeeded")
    return True


def _record(
    ex: Execution,
    stage: dict,
    action: dict,
    state: dict,
    action_execution_id: str,
    started,
    outcome: tuple[str, ActionResult, dict | None, dict],
) -> None:
    """Record an action's outcome (status, result, errorDetails, input locations) in the execution
    and the stage state (under the pipeline's lock)."""
    status, result, error, inputs = outcome
    latest = {
        "actionExecutionId": action_execution_id,
        "status": status,
        "summary": result.summary,
        "lastStatusChange": now(),
    }
    if result.external_id:
        latest["externalExecutionId"] = result.external_id
    if error:
        latest["errorDetails"] = error
    action_state = {"actionName": action["name"], "latestExecution": latest}
    if result.revision:
        action_state["currentRevision"] = {"revisionId": result.revision}
    state["actions"][action["name"]] = action_state
    ex.artifacts.update(result.artifacts)
    ex.artifact_revisions.extend(result.artifact_revisions)
    ex.source_revisions.extend(result.source_revisions)
    execution_result = {"externalExecutionSummary": result.summary or ""}
    if result.external_id:
        execution_result["externalExecutionId"] = result.external_id
    ex.action_executions.append(
        {
            "pipelineExecutionId": ex.id,
            "actionExecutionId": action_execution_id,
            "pipelineVersion": ex.declaration["version"],
            "stageName": stage["name"],
            "actionName": action["name"],
            "startTime": started,
            "lastUpdateTime": now(),
            "status": status,
            "input": {
                "actionTypeId": action["actionTypeId"],
                "configuration": action.get("configuration", {}),
                "region": action_region(action, ex.pipeline.region),
                "inputArtifacts": _artifact_details(inputs),
            },
            "output": {"executionResult": execution_result, "outputArtifacts": _artifact_details(result.artifacts)},
        }
    )
    ex.last_update = now()
    if status == "Failed":
        state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "Failed"}
