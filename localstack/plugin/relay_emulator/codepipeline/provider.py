"""CodePipeline API handlers (the operations relay and Terraform use).

* CRUD: CreatePipeline / GetPipeline (also by ``version``) / UpdatePipeline (``version`` + 1) /
  DeletePipeline / ListPipelines (declarations checked as AWS does: structure, cross-region
  actions and artifact stores, the role); TagResource / UntagResource / ListTagsForResource (tags in
  LocalStack's ``Tags``, answered in CodePipeline's lowercase ``key``/``value`` shape).
  Declarations round-trip exactly as given plus AWS's defaults.
* Executions: StartPipelineExecution, StopPipelineExecution, GetPipelineExecution,
  ListPipelineExecutions (trigger type/detail, sourceRevisions), GetPipelineState,
  ListActionExecutions. The engine runs them (see ``engine``).

Other operations answer NotImplemented. Errors use AWS's JSON shape (PipelineNotFoundException,
ValidationException, InvalidStructureException, ...).
"""

from __future__ import annotations

import copy
import functools
import logging
import threading

from localstack.aws.api import RequestContext, handler

from relay_emulator.codepipeline import engine
from relay_emulator.codepipeline.models import Pipeline, codepipeline_stores, get_pipeline, pipeline_by_arn
from relay_emulator.common import StoreBacked, describe, err, error_code, internal_client, now, tag_list, tag_map
from relay_emulator.core.pipeline_declaration import DeclarationError, check_regions, check_structure, normalise

LOG = logging.getLogger("relay_emulator.codepipeline")

TAG_KEY, TAG_VALUE = "key", "value"


def _validate(decl: dict, context: RequestContext) -> None:
    try:
        check_structure(decl)
        check_regions(decl, context.region, codepipeline_regions(context.region))
    except DeclarationError as e:
        raise err(e.code, e.message) from None
    _check_role(decl["roleArn"], context)


@functools.cache
def codepipeline_regions(region: str) -> frozenset:
    """Regions of ``region``'s partition where CodePipeline has an endpoint, from botocore's bundled
    endpoint data (a region botocore does not know is taken to be in the ``aws`` partition)."""
    import boto3
    from botocore.exceptions import UnknownRegionError

    session = boto3.session.Session()
    try:
        partition = session.get_partition_for_region(region)
    except UnknownRegionError:
        partition = "aws"
    return frozenset(session.get_available_regions("codepipeline", partition_name=partition))


def _check_role(role_arn: str, context: RequestContext) -> None:
    """AWS rejects a pipeline whose role CodePipeline cannot assume; we check that it exists.

    A missing role is AWS's InvalidStructureException; a role ARN IAM refuses to look up is a
    ValidationException naming IAM's error; anything else is an internal error naming it.
    """
    from botocore.exceptions import ClientError, ParamValidationError

    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        internal_client("iam", context.region, context.account_id).get_role(RoleName=role_name)
    except ClientError as e:
        if error_code(e) == "NoSuchEntity":
            raise err(
                "InvalidStructureException",
                f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}",
            ) from None
        if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) < 500:
            raise err("ValidationException", f"Role {role_arn} could not be checked: {describe(e)}") from None
        raise err("InternalError", f"IAM failed checking role {role_arn}: {describe(e)}", status=500) from None
    except ParamValidationError as e:
        raise err("ValidationException", f"Role {role_arn} could not be checked: {describe(e)}") from None
    except Exception as e:
        LOG.exception("checking role %s failed", role_arn)
        raise err("InternalError", f"IAM failed checking role {role_arn}: {describe(e)}", status=500) from None


def _paginate(items: list, field: str, request: dict) -> dict:
    start = int(request.get("nextToken") or 0)
    size = int(request.get("maxResults") or 100)
    out = {field: items[start : start + size]}
    if start + size < len(items):
        out["nextToken"] = str(start + size)
    return out


def _trigger_of(context: RequestContext) -> dict:
    """EventBridge deliveries carry the rule ARN as internal source; anything else is an API call."""
    params = context.internal_request_params or {}
    if params.get("service_principal") == "events" and params.get("source_arn"):
        return {"triggerType": "CloudWatchEvent", "triggerDetail": params["source_arn"]}
    return {
        "triggerType": "StartPipelineExecution",
        "triggerDetail": f"arn:aws:sts::{context.account_id}:assumed-role/emulator/{context.account_id}",
    }


def _execution(context: RequestContext, request: dict):
    """The pipeline (``pipelineName``) and execution (``pipelineExecutionId``) a request names."""
    p = get_pipeline(context.account_id, context.region, request.get("pipelineName"))
    return p, p.find_execution(request.get("pipelineExecutionId"))


def _tags_of(arn: str):
    """The pipeline an ARN names and the tags of its store."""
    p = pipeline_by_arn(arn)
    return p, codepipeline_stores[p.account][p.region].tags


class CodePipelineProvider(StoreBacked):
    """Handlers for the CodePipeline operations relay needs; the rest answer NotImplemented."""

    service = "codepipeline"
    version = "2015-07-09"
    stores = codepipeline_stores

    def __init__(self):
        self._lock = threading.Lock()  # adding and removing pipelines of a store

    # -- CRUD --------------------------------------------------------------------------

    @handler("CreatePipeline", expand=False)
    def create_pipeline(self, context: RequestContext, request: dict) -> dict:
        decl = request.get("pipeline") or {}
        _validate(decl, context)
        store = self.store(context)
        with self._lock:
            if decl["name"] in store.pipelines:
                raise err(
                    "PipelineNameInUseException",
                    f"A pipeline with the name '{decl['name']}' already exists in account '{context.account_id}'",
                )
            p = Pipeline(context.account_id, context.region, normalise(decl, 1))
            store.pipelines[p.name] = p
            tags = tag_map(request.get("tags"), TAG_KEY, TAG_VALUE)
            store.tags.update_tags(p.arn, tags)
        LOG.info("created pipeline %s", p.arn)
        return {"pipeline": copy.deepcopy(p.declaration), "tags": tag_list(tags, TAG_KEY, TAG_VALUE)}

    @handler("GetPipeline", expand=False)
    def get_pipeline(self, context: RequestContext, request: dict) -> dict:
        p = get_pipeline(context.account_id, context.region, request.get("name"))
        version = request.get("version")
        with p.lock:
            if version is None:
                decl = p.declaration
            else:
                decl = p.versions.get(int(version))
                if decl is None:
                    raise err(
                        "PipelineVersionNotFoundException", f"Pipeline '{p.name}' does not have version {version}"
                    )
            return {
                "pipeline": copy.deepcopy(decl),
                "metadata": {"pipelineArn": p.arn, "created": p.created, "updated": p.updated},
            }

    @handler("UpdatePipeline", expand=False)
    def update_pipeline(self, context: RequestContext, request: dict) -> dict:
        decl = request.get("pipeline") or {}
        p = get_pipeline(context.account_id, context.region, decl.get("name"))
        _validate(decl, context)
        with p.lock:
            new = normalise(decl, p.declaration["version"] + 1)
            p.declaration = new
            p.versions[new["version"]] = copy.deepcopy(new)
            p.updated = now()
            return {"pipeline": copy.deepcopy(new)}

    @handler("DeletePipeline", expand=False)
    def delete_pipeline(self, context: RequestContext, request: dict) -> dict:
        store = self.store(context)
        with self._lock:
            p = get_pipeline(context.account_id, context.region, request.get("name"))
            del store.pipelines[p.name]
            store.tags.delete_all_tags(p.arn)
        with p.lock:
            for ex in p.executions:
                ex.stop_requested = True
        return {}

    @handler("ListPipelines", expand=False)
    def list_pipelines(self, context: RequestContext, request: dict) -> dict:
        summaries = []
        for p in sorted(list(self.store(context).pipelines.values()), key=lambda p: p.name):
            with p.lock:
                summaries.append(
                    {
                        "name": p.name,
                        "version": p.declaration["version"],
                        "pipelineType": p.declaration.get("pipelineType"),
                        "executionMode": p.declaration.get("executionMode"),
                        "created": p.created,
                        "updated": p.updated,
                    }
                )
        return _paginate(summaries, "pipelines", request)

    # -- tags --------------------------------------------------------------------------

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        p, tags = _tags_of(request.get("resourceArn"))
        tags.update_tags(p.arn, tag_map(request.get("tags"), TAG_KEY, TAG_VALUE))
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        p, tags = _tags_of(request.get("resourceArn"))
        tags.delete_tags(p.arn, list(request.get("tagKeys") or []))
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        p, tags = _tags_of(request.get("resourceArn"))
        return {"tags": tag_list(tags.get_tags(p.arn), TAG_KEY, TAG_VALUE)}

    # -- executions ----------------------------------------------------------------------

    @handler("StartPipelineExecution", expand=False)
    def start_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p = get_pipeline(context.account_id, context.region, request.get("name"))
        ex = engine.start_execution(p, _trigger_of(context), request.get("variables"), request.get("sourceRevisions"))
        return {"pipelineExecutionId": ex.id}

    @handler("StopPipelineExecution", expand=False)
    def stop_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p, ex = _execution(context, request)
        with p.lock:
            if ex.status not in ("InProgress", "Stopping"):
                raise err(
                    "PipelineExecutionNotStoppableException",
                    f"Unable to stop pipeline execution {ex.id} in status {ex.status}",
                )
            ex.stop_requested = True
            ex.status = "Stopping"
            ex.status_summary = request.get("reason") or ex.status_summary
        return {"pipelineExecutionId": ex.id}

    @handler("GetPipelineExecution", expand=False)
    def get_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p, ex = _execution(context, request)
        with p.lock:
            return {"pipelineExecution": ex.detail()}

    @handler("ListPipelineExecutions", expand=False)
    def list_pipeline_executions(self, context: RequestContext, request: dict) -> dict:
        p = get_pipeline(context.account_id, context.region, request.get("pipelineName"))
        with p.lock:
            items = [ex.summary() for ex in p.executions]
        return _paginate(items, "pipelineExecutionSummaries", request)

    @handler("ListActionExecutions", expand=False)
    def list_action_executions(self, context: RequestContext, request: dict) -> dict:
        p = get_pipeline(context.account_id, context.region, request.get("pipelineName"))
        wanted = (request.get("filter") or {}).get("pipelineExecutionId")
        with p.lock:
            items = [
                copy.deepcopy(a)
                for ex in p.executions
                if not wanted or ex.id == wanted
                for a in reversed(ex.action_executions)
            ]
        return _paginate(items, "actionExecutionDetails", request)

    @handler("GetPipelineState", expand=False)
    def get_pipeline_state(self, context: RequestContext, request: dict) -> dict:
        p = get_pipeline(context.account_id, context.region, request.get("name"))
        with p.lock:
            stage_states = []
            for stage in p.declaration.get("stages") or []:
                state = p.stage_states.get(stage["name"], {})
                entry = {
                    "stageName": stage["name"],
                    "inboundTransitionState": {"enabled": True},
                    "actionStates": [
                        copy.deepcopy(state.get("actions", {}).get(a["name"], {"actionName": a["name"]}))
                        for a in stage.get("actions") or []
                    ],
                }
                if state.get("latestExecution"):
                    entry["latestExecution"] = dict(state["latestExecution"])
                stage_states.append(entry)
            return {
                "pipelineName": p.name,
                "pipelineVersion": p.declaration["version"],
                "stageStates": stage_states,
                "created": p.created,
                "updated": p.updated,
            }
