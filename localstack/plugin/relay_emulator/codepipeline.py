"""CodePipeline for LocalStack: the API Terraform needs, plus real pipeline executions.

moto's CodePipeline backend only stores declarations (no executions, partial round-trip),
so this is a self-contained provider:

* CRUD: CreatePipeline / GetPipeline / UpdatePipeline / DeletePipeline / ListPipelines and
  TagResource / UntagResource / ListTagsForResource. Declarations round-trip exactly as given
  (pipelineType, triggers, variables, executionMode, stages, artifactStore(s)); the response
  serializer only emits members of AWS's shapes. ``version`` increments on update.
* Executions: StartPipelineExecution, StopPipelineExecution, GetPipelineExecution,
  ListPipelineExecutions (trigger type/detail, sourceRevisions), GetPipelineState,
  ListActionExecutions. An execution runs on a background thread:

  - S3 source action (``Source/AWS/S3``): reads the configured bucket/key (latest version, or
    the version named by ``sourceRevisions``), records its version id, and stores the object
    as the output artifact in the artifact store of the action's region, like CodePipeline.
  - CloudFormation deploy action (``Deploy/AWS/CloudFormation``): reads ``TemplatePath`` from
    the input artifact zip and creates/updates/deletes the stack in the emulator's
    CloudFormation in the action's region with the action's RoleArn, Capabilities and
    ParameterOverrides; waits for the stack and fails the execution if the stack fails. A
    no-op update succeeds.
  - Any other provider is recorded as Succeeded with a summary saying it is not emulated.

Errors use AWS's JSON error shape (``PipelineNotFoundException``, ``ValidationException``...).
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import logging
import random
import string
import threading
import time
import uuid
import zipfile

from localstack.aws.api import CommonServiceException, RequestContext, handler

LOG = logging.getLogger("relay_emulator.codepipeline")

STACK_POLL_SECONDS = 0.5
STACK_TIMEOUT_SECONDS = 900
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"}
NOT_EMULATED = "not emulated by relay's LocalStack plugin; recorded as succeeded"


# ---------------------------------------------------------------------- errors


def _err(code: str, message: str, status: int = 400) -> CommonServiceException:
    return CommonServiceException(code=code, message=message, status_code=status, sender_fault=True)


def pipeline_not_found(name: str, account: str) -> CommonServiceException:
    return _err(
        "PipelineNotFoundException",
        f"Account '{account}' does not have a pipeline with name '{name}'",
    )


def validation(message: str) -> CommonServiceException:
    return _err("ValidationException", message)


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


# ---------------------------------------------------------------------- state


class Pipeline:
    def __init__(self, account: str, region: str, declaration: dict, tags: list):
        self.account = account
        self.region = region
        self.declaration = declaration
        self.versions = {declaration["version"]: copy.deepcopy(declaration)}
        self.arn = f"arn:aws:codepipeline:{region}:{account}:{declaration['name']}"
        self.created = self.updated = _now()
        self.tags = list(tags or [])
        self.executions: list[Execution] = []  # newest first
        self.stage_states: dict[str, dict] = {}
        self.run_lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.declaration["name"]


class Execution:
    def __init__(self, pipeline: Pipeline, trigger: dict, variables: list, source_overrides: list):
        self.id = str(uuid.uuid4())
        self.pipeline = pipeline
        self.declaration = copy.deepcopy(pipeline.declaration)
        self.status = "InProgress"
        self.status_summary = None
        self.start_time = self.last_update = _now()
        self.trigger = trigger
        self.variables = variables or []
        self.source_overrides = {o.get("actionName"): o for o in source_overrides or []}
        self.artifact_revisions: list[dict] = []
        self.source_revisions: list[dict] = []
        self.artifacts: dict[str, dict] = {}  # artifact name -> {bucket, key, region}
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
        return {
            **self._common(),
            "startTime": self.start_time,
            "lastUpdateTime": self.last_update,
            "sourceRevisions": self.source_revisions,
        }

    def detail(self) -> dict:
        return {
            **self._common(),
            "pipelineName": self.pipeline.name,
            "pipelineVersion": self.declaration["version"],
            "artifactRevisions": self.artifact_revisions,
            "variables": [{"name": v["name"], "resolvedValue": v["value"]} for v in self.variables],
        }


class Store:
    """All pipelines, by (account, region, name)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.pipelines: dict[tuple, Pipeline] = {}

    def get(self, account: str, region: str, name: str) -> Pipeline:
        p = self.pipelines.get((account, region, name))
        if p is None:
            raise pipeline_not_found(name, account)
        return p

    def by_arn(self, arn: str) -> Pipeline:
        parts = (arn or "").split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != "codepipeline":
            raise _err("InvalidArnException", f"The ARN {arn} is not valid")
        p = self.pipelines.get((parts[4], parts[3], parts[5]))
        if p is None:
            raise _err("ResourceNotFoundException", f"The resource with the ARN {arn} could not be found")
        return p


STORE = Store()


# ---------------------------------------------------------------------- declaration checks


def _normalise(declaration: dict, version: int) -> dict:
    """Copy of the declaration with AWS's server-side defaults filled in."""
    decl = copy.deepcopy(declaration)
    decl["version"] = version
    decl.setdefault("pipelineType", "V1")
    decl.setdefault("executionMode", "SUPERSEDED")
    for stage in decl.get("stages") or []:
        for action in stage.get("actions") or []:
            action.setdefault("runOrder", 1)
            action.setdefault("configuration", {})
            action.setdefault("outputArtifacts", [])
            action.setdefault("inputArtifacts", [])
    return decl


def _validate(decl: dict, context: RequestContext) -> None:
    name = decl.get("name")
    if not name:
        raise validation(
            "1 validation error detected: Value null at 'pipeline.name' "
            "failed to satisfy constraint: Member must not be null"
        )
    if not decl.get("roleArn"):
        raise validation(
            "1 validation error detected: Value null at 'pipeline.roleArn' "
            "failed to satisfy constraint: Member must not be null"
        )
    if not decl.get("artifactStore") and not decl.get("artifactStores"):
        raise _err("InvalidStructureException", "Pipeline must have either an artifactStore or artifactStores")
    if decl.get("artifactStore") and decl.get("artifactStores"):
        raise _err("InvalidStructureException", "Pipeline cannot have both an artifactStore and artifactStores")
    stages = decl.get("stages") or []
    if len(stages) < 2:
        raise _err(
            "InvalidStructureException",
            "Pipeline has fewer than 2 stages. A pipeline must have at least two stages.",
        )
    seen = set()
    for i, stage in enumerate(stages):
        if stage.get("name") in seen:
            raise _err("InvalidStructureException", f"Pipeline has duplicate stage name: {stage.get('name')}")
        seen.add(stage.get("name"))
        if not stage.get("actions"):
            raise _err("InvalidStructureException", f"Stage {stage.get('name')} must contain at least one action")
        for action in stage["actions"]:
            category = (action.get("actionTypeId") or {}).get("category")
            if i == 0 and category != "Source":
                raise _err("InvalidStructureException", "Pipeline's first stage must contain only source actions")
            if i > 0 and category == "Source":
                raise _err("InvalidStructureException", "Source actions must be in the first stage of a pipeline")
    _check_role(decl["roleArn"], context)


def _check_role(role_arn: str, context: RequestContext) -> None:
    """AWS rejects a pipeline whose role CodePipeline cannot assume; we check that it exists."""
    from localstack.aws.connect import connect_to

    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        connect_to(aws_access_key_id=context.account_id, region_name=context.region).iam.get_role(RoleName=role_name)
    except Exception:
        raise _err(
            "InvalidStructureException",
            f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}",
        ) from None


# ---------------------------------------------------------------------- provider


class CodePipelineProvider:
    """Handlers for the CodePipeline operations relay needs; the rest answer NotImplemented."""

    service = "codepipeline"
    version = "2015-07-09"

    # -- CRUD --------------------------------------------------------------------------

    @handler("CreatePipeline", expand=False)
    def create_pipeline(self, context: RequestContext, request: dict) -> dict:
        decl = request.get("pipeline") or {}
        _validate(decl, context)
        tags = request.get("tags") or []
        with STORE.lock:
            key = (context.account_id, context.region, decl["name"])
            if key in STORE.pipelines:
                raise _err(
                    "PipelineNameInUseException",
                    f"A pipeline with the name '{decl['name']}' already exists in account '{context.account_id}'",
                )
            p = Pipeline(context.account_id, context.region, _normalise(decl, 1), tags)
            STORE.pipelines[key] = p
        LOG.info("created pipeline %s", p.arn)
        return {"pipeline": copy.deepcopy(p.declaration), "tags": p.tags}

    @handler("GetPipeline", expand=False)
    def get_pipeline(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("name"))
        version = request.get("version")
        if version is not None:
            decl = p.versions.get(int(version))
            if decl is None:
                raise _err("PipelineVersionNotFoundException", f"Pipeline '{p.name}' does not have version {version}")
        else:
            decl = p.declaration
        return {
            "pipeline": copy.deepcopy(decl),
            "metadata": {"pipelineArn": p.arn, "created": p.created, "updated": p.updated},
        }

    @handler("UpdatePipeline", expand=False)
    def update_pipeline(self, context: RequestContext, request: dict) -> dict:
        decl = request.get("pipeline") or {}
        p = STORE.get(context.account_id, context.region, decl.get("name"))
        _validate(decl, context)
        with STORE.lock:
            new = _normalise(decl, p.declaration["version"] + 1)
            p.declaration = new
            p.versions[new["version"]] = copy.deepcopy(new)
            p.updated = _now()
        return {"pipeline": copy.deepcopy(new)}

    @handler("DeletePipeline", expand=False)
    def delete_pipeline(self, context: RequestContext, request: dict) -> dict:
        name = request.get("name")
        with STORE.lock:
            p = STORE.get(context.account_id, context.region, name)
            del STORE.pipelines[(p.account, p.region, p.name)]
            for ex in p.executions:
                ex.stop_requested = True
        return {}

    @handler("ListPipelines", expand=False)
    def list_pipelines(self, context: RequestContext, request: dict) -> dict:
        with STORE.lock:
            items = sorted(
                (p for (a, r, _), p in STORE.pipelines.items() if a == context.account_id and r == context.region),
                key=lambda p: p.name,
            )
        summaries = [
            {
                "name": p.name,
                "version": p.declaration["version"],
                "pipelineType": p.declaration.get("pipelineType"),
                "executionMode": p.declaration.get("executionMode"),
                "created": p.created,
                "updated": p.updated,
            }
            for p in items
        ]
        return _paginate(summaries, "pipelines", request)

    # -- tags --------------------------------------------------------------------------

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        p = STORE.by_arn(request.get("resourceArn"))
        with STORE.lock:
            new = {t["key"]: t.get("value", "") for t in request.get("tags") or []}
            p.tags = [t for t in p.tags if t["key"] not in new] + [{"key": k, "value": v} for k, v in new.items()]
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        p = STORE.by_arn(request.get("resourceArn"))
        keys = set(request.get("tagKeys") or [])
        with STORE.lock:
            p.tags = [t for t in p.tags if t["key"] not in keys]
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        p = STORE.by_arn(request.get("resourceArn"))
        return {"tags": list(p.tags)}

    # -- executions ----------------------------------------------------------------------

    @handler("StartPipelineExecution", expand=False)
    def start_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("name"))
        trigger = _trigger_of(context)
        ex = start_execution(p, trigger, request.get("variables"), request.get("sourceRevisions"))
        return {"pipelineExecutionId": ex.id}

    @handler("StopPipelineExecution", expand=False)
    def stop_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("pipelineName"))
        ex = _find_execution(p, request.get("pipelineExecutionId"))
        if ex.status not in ("InProgress", "Stopping"):
            raise _err(
                "PipelineExecutionNotStoppableException",
                f"Unable to stop pipeline execution {ex.id} in status {ex.status}",
            )
        ex.stop_requested = True
        ex.status = "Stopping"
        ex.status_summary = request.get("reason") or ex.status_summary
        return {"pipelineExecutionId": ex.id}

    @handler("GetPipelineExecution", expand=False)
    def get_pipeline_execution(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("pipelineName"))
        ex = _find_execution(p, request.get("pipelineExecutionId"))
        return {"pipelineExecution": ex.detail()}

    @handler("ListPipelineExecutions", expand=False)
    def list_pipeline_executions(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("pipelineName"))
        items = [ex.summary() for ex in list(p.executions)]
        return _paginate(items, "pipelineExecutionSummaries", request)

    @handler("ListActionExecutions", expand=False)
    def list_action_executions(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("pipelineName"))
        wanted = (request.get("filter") or {}).get("pipelineExecutionId")
        items = [
            a for ex in list(p.executions) if not wanted or ex.id == wanted for a in reversed(ex.action_executions)
        ]
        return _paginate(items, "actionExecutionDetails", request)

    @handler("GetPipelineState", expand=False)
    def get_pipeline_state(self, context: RequestContext, request: dict) -> dict:
        p = STORE.get(context.account_id, context.region, request.get("name"))
        stage_states = []
        for stage in p.declaration.get("stages") or []:
            state = p.stage_states.get(stage["name"], {})
            entry = {
                "stageName": stage["name"],
                "inboundTransitionState": {"enabled": True},
                "actionStates": [
                    dict(state.get("actions", {}).get(a["name"], {"actionName": a["name"]}))
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


def _paginate(items: list, field: str, request: dict) -> dict:
    start = int(request.get("nextToken") or 0)
    size = int(request.get("maxResults") or 100)
    out = {field: items[start : start + size]}
    if start + size < len(items):
        out["nextToken"] = str(start + size)
    return out


def _find_execution(p: Pipeline, execution_id: str) -> Execution:
    for ex in p.executions:
        if ex.id == execution_id:
            return ex
    raise _err(
        "PipelineExecutionNotFoundException",
        f"Pipeline execution ID {execution_id} does not belong to pipeline {p.name}",
    )


def _trigger_of(context: RequestContext) -> dict:
    """EventBridge deliveries carry the rule ARN as internal source; anything else is an API call."""
    params = context.internal_request_params or {}
    if params.get("service_principal") == "events" and params.get("source_arn"):
        return {"triggerType": "CloudWatchEvent", "triggerDetail": params["source_arn"]}
    return {
        "triggerType": "StartPipelineExecution",
        "triggerDetail": f"arn:aws:sts::{context.account_id}:assumed-role/emulator/{context.account_id}",
    }


# ---------------------------------------------------------------------- execution engine


def start_execution(p: Pipeline, trigger: dict, variables=None, source_revisions=None) -> Execution:
    ex = Execution(p, trigger, variables, source_revisions)
    with STORE.lock:
        p.executions.insert(0, ex)
    threading.Thread(target=_run_execution, args=(ex,), name=f"relay-pipeline-{p.name}", daemon=True).start()
    LOG.info("pipeline %s: execution %s started (trigger %s)", p.name, ex.id, trigger.get("triggerType"))
    return ex


def _run_execution(ex: Execution) -> None:
    p = ex.pipeline
    lock = None if ex.mode == "PARALLEL" else p.run_lock
    if lock:
        lock.acquire()
    try:
        if ex.mode == "SUPERSEDED" and any(
            e.status == "InProgress" and e.start_time > ex.start_time for e in p.executions if e is not ex
        ):
            # a newer execution is waiting: this one is superseded, as in CodePipeline
            _finish(ex, "Superseded", "Superseded by a newer execution")
            return
        for stage in ex.declaration.get("stages") or []:
            if ex.stop_requested:
                _finish(ex, "Stopped", ex.status_summary or "Execution stopped")
                return
            ok = _run_stage(ex, stage)
            if not ok:
                return
        _finish(ex, "Succeeded", None)
    except Exception as e:  # engine bug: fail the execution visibly instead of hanging
        LOG.exception("pipeline %s execution %s crashed", p.name, ex.id)
        _finish(ex, "Failed", f"Internal emulator error: {e}")
    finally:
        if lock:
            lock.release()


def _finish(ex: Execution, status: str, summary: str | None) -> None:
    ex.status = status
    if summary:
        ex.status_summary = summary
    ex.last_update = _now()
    LOG.info("pipeline %s: execution %s %s%s", ex.pipeline.name, ex.id, status, f" ({summary})" if summary else "")


def _run_stage(ex: Execution, stage: dict) -> bool:
    p = ex.pipeline
    state = p.stage_states.setdefault(stage["name"], {"actions": {}})
    state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "InProgress"}
    actions = sorted(stage.get("actions") or [], key=lambda a: a.get("runOrder", 1))
    for action in actions:
        started = _now()
        action_execution_id = str(uuid.uuid4())
        state["actions"][action["name"]] = {
            "actionName": action["name"],
            "latestExecution": {
                "actionExecutionId": action_execution_id,
                "status": "InProgress",
                "lastStatusChange": started,
            },
        }
        try:
            summary, revision, external_id = _run_action(ex, stage, action)
            status, error = "Succeeded", None
        except ActionFailed as e:
            summary, revision, external_id = str(e), None, e.external_id
            status, error = "Failed", {"code": "JobFailed", "message": str(e)}
        except Exception as e:  # anything unexpected is an action failure with the reason
            LOG.exception("pipeline %s: action %s failed", p.name, action["name"])
            summary, revision, external_id = f"{type(e).__name__}: {e}", None, None
            status, error = "Failed", {"code": "JobFailed", "message": summary}
        latest = {
            "actionExecutionId": action_execution_id,
            "status": status,
            "summary": summary,
            "lastStatusChange": _now(),
        }
        if external_id:
            latest["externalExecutionId"] = external_id
        if error:
            latest["errorDetails"] = error
        action_state = {"actionName": action["name"], "latestExecution": latest}
        if revision:
            action_state["currentRevision"] = {"revisionId": revision}
        state["actions"][action["name"]] = action_state
        ex.action_executions.append(
            {
                "pipelineExecutionId": ex.id,
                "actionExecutionId": action_execution_id,
                "pipelineVersion": ex.declaration["version"],
                "stageName": stage["name"],
                "actionName": action["name"],
                "startTime": started,
                "lastUpdateTime": _now(),
                "status": status,
                "input": {
                    "actionTypeId": action["actionTypeId"],
                    "configuration": action.get("configuration", {}),
                    "region": action.get("region") or p.region,
                },
                "output": {
                    "executionResult": {
                        "externalExecutionSummary": summary or "",
                        **({"externalExecutionId": external_id} if external_id else {}),
                    }
                },
            }
        )
        ex.last_update = _now()
        if status == "Failed":
            state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "Failed"}
            _finish(ex, "Failed", f"Action {action['name']} in stage {stage['name']} failed: {summary}")
            return False
    state["latestExecution"] = {"pipelineExecutionId": ex.id, "status": "Succeeded"}
    return True


class ActionFailed(Exception):
    def __init__(self, message: str, external_id: str | None = None):
        super().__init__(message)
        self.external_id = external_id


def _run_action(ex: Execution, stage: dict, action: dict) -> tuple:
    type_id = action.get("actionTypeId") or {}
    kind = (type_id.get("category"), type_id.get("owner"), type_id.get("provider"))
    if kind == ("Source", "AWS", "S3"):
        return _s3_source(ex, action)
    if kind == ("Deploy", "AWS", "CloudFormation"):
        return _cloudformation_deploy(ex, action)
    return f"{type_id.get('category')}/{type_id.get('provider')} action {NOT_EMULATED}", None, None


def _clients(ex: Execution, region: str):
    from localstack.aws.connect import connect_to

    factory = connect_to(aws_access_key_id=ex.pipeline.account, region_name=region)
    return factory


def _artifact_store(ex: Execution, region: str) -> dict:
    decl = ex.declaration
    if decl.get("artifactStores"):
        store = decl["artifactStores"].get(region)
        if not store:
            raise ActionFailed(f"No artifact store is configured for region {region}")
        return store
    return decl["artifactStore"]


def _random_key(n: int = 7) -> str:
    # naming only, like CodePipeline's artifact keys; not a secret
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))  # noqa: S311


def _s3_source(ex: Execution, action: dict) -> tuple:
    cfg = action.get("configuration") or {}
    bucket, key = cfg.get("S3Bucket"), cfg.get("S3ObjectKey")
    if not bucket or not key:
        raise ActionFailed("S3 source action needs S3Bucket and S3ObjectKey")
    region = action.get("region") or ex.pipeline.region
    s3 = _clients(ex, region).s3
    params = {"Bucket": bucket, "Key": key}
    override = ex.source_overrides.get(action["name"])
    if override and override.get("revisionType") == "S3_OBJECT_VERSION_ID":
        params["VersionId"] = override["revisionValue"]
    try:
        obj = s3.get_object(**params)
        data = obj["Body"].read()
    except Exception as e:
        raise ActionFailed(f"Could not read s3://{bucket}/{key}: {_describe(e)}") from None
    version_id = obj.get("VersionId")
    if not version_id:
        raise ActionFailed(f"Bucket {bucket} must have versioning enabled for the S3 source action")
    summary = (obj.get("Metadata") or {}).get(
        "codepipeline-artifact-revision-summary"
    ) or f"Amazon S3 version id: {version_id}"
    for out in action.get("outputArtifacts") or []:
        _put_artifact(ex, region, out["name"], data)
    ex.artifact_revisions.append(
        {
            "name": (action.get("outputArtifacts") or [{"name": action["name"]}])[0]["name"],
            "revisionId": version_id,
            "revisionSummary": summary,
            "created": obj.get("LastModified"),
            "revisionUrl": f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}",
        }
    )
    ex.source_revisions.append({"actionName": action["name"], "revisionId": version_id, "revisionSummary": summary})
    return summary, version_id, version_id


def _put_artifact(ex: Execution, region: str, name: str, data: bytes) -> None:
    store = _artifact_store(ex, region)
    key = f"{ex.pipeline.name[:20]}/{name[:20]}/{_random_key()}"
    params = {"Bucket": store["location"], "Key": key, "Body": data}
    enc = store.get("encryptionKey")
    if enc and enc.get("type", "KMS") == "KMS" and enc.get("id"):
        params["ServerSideEncryption"] = "aws:kms"
        params["SSEKMSKeyId"] = enc["id"]
    try:
        _clients(ex, region).s3.put_object(**params)
    except Exception as e:
        raise ActionFailed(
            f"Could not write artifact {name} to s3://{store['location']}/{key}: {_describe(e)}"
        ) from None
    ex.artifacts[name] = {"bucket": store["location"], "key": key, "region": region}


def _read_artifact_file(ex: Execution, path: str, inputs: list) -> bytes:
    """Resolve 'Artifact::file/in/zip' against the execution's artifacts."""
    if "::" in path:
        artifact, inner = path.split("::", 1)
    else:
        artifact, inner = (inputs[0] if inputs else ""), path
    loc = ex.artifacts.get(artifact)
    if loc is None:
        raise ActionFailed(f"Input artifact {artifact} is not available (from path {path})")
    s3 = _clients(ex, loc["region"]).s3
    data = s3.get_object(Bucket=loc["bucket"], Key=loc["key"])["Body"].read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(inner)
    except KeyError:
        raise ActionFailed(f"File {inner} does not exist in artifact {artifact}") from None
    except zipfile.BadZipFile:
        raise ActionFailed(f"Artifact {artifact} is not a zip file") from None


def _cloudformation_deploy(ex: Execution, action: dict) -> tuple:
    cfg = action.get("configuration") or {}
    mode = cfg.get("ActionMode") or "CREATE_UPDATE"
    stack = cfg.get("StackName")
    if not stack:
        raise ActionFailed("CloudFormation action needs StackName")
    region = action.get("region") or ex.pipeline.region
    cfn = _clients(ex, region).cloudformation
    inputs = [a["name"] for a in action.get("inputArtifacts") or []]

    def template_and_params() -> dict:
        params: dict = {"StackName": stack}
        if cfg.get("TemplatePath"):
            params["TemplateBody"] = _read_artifact_file(ex, cfg["TemplatePath"], inputs).decode()
        overrides: dict = {}
        if cfg.get("TemplateConfiguration"):
            tc = json.loads(_read_artifact_file(ex, cfg["TemplateConfiguration"], inputs))
            overrides.update(tc.get("Parameters") or {})
            if tc.get("Tags"):
                params["Tags"] = [{"Key": k, "Value": v} for k, v in tc["Tags"].items()]
        if cfg.get("ParameterOverrides"):
            try:
                overrides.update(json.loads(cfg["ParameterOverrides"]))
            except ValueError:
                raise ActionFailed("ParameterOverrides is not valid JSON") from None
        if overrides:
            params["Parameters"] = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in overrides.items()]
        if cfg.get("Capabilities"):
            params["Capabilities"] = [c.strip() for c in cfg["Capabilities"].split(",") if c.strip()]
        if cfg.get("RoleArn"):
            params["RoleARN"] = cfg["RoleArn"]
        return params

    current = _stack_status(cfn, stack)
    if mode == "DELETE_ONLY":
        if current is None:
            return f"Stack {stack} does not exist; nothing to delete", None, stack
        cfn.delete_stack(StackName=stack)
        _wait_stack(cfn, stack, deleting=True)
        return f"Stack {stack} deleted", None, stack
    if mode == "CHANGE_SET_REPLACE":
        name = cfg.get("ChangeSetName") or f"{stack}-changeset"
        if current is not None:
            try:
                cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            except Exception as e:  # no previous change set of that name: nothing to replace
                LOG.debug("no change set %s to replace on %s: %s", name, stack, _describe(e))
        params = template_and_params()
        params["ChangeSetName"] = name
        params["ChangeSetType"] = "UPDATE" if current and current != "REVIEW_IN_PROGRESS" else "CREATE"
        cfn.create_change_set(**params)
        return f"Change set {name} created for stack {stack}", None, stack
    if mode == "CHANGE_SET_EXECUTE":
        name = cfg.get("ChangeSetName") or f"{stack}-changeset"
        try:
            cfn.execute_change_set(StackName=stack, ChangeSetName=name)
        except Exception as e:
            raise ActionFailed(f"Could not execute change set {name}: {_describe(e)}", stack) from None
        _wait_stack(cfn, stack)
        return f"Change set {name} executed on stack {stack}", None, stack
    if mode not in ("CREATE_UPDATE", "REPLACE_ON_FAILURE"):
        raise ActionFailed(f"Unsupported ActionMode {mode}")

    if (
        current is not None
        and mode == "REPLACE_ON_FAILURE"
        and (current.endswith("_FAILED") or current == "ROLLBACK_COMPLETE")
    ):
        cfn.delete_stack(StackName=stack)
        _wait_stack(cfn, stack, deleting=True)
        current = None
    if current == "ROLLBACK_COMPLETE":
        raise ActionFailed(f"Stack {stack} is in ROLLBACK_COMPLETE state and can not be updated", stack)
    params = template_and_params()
    try:
        if current is None:
            cfn.create_stack(**params)
        else:
            cfn.update_stack(**params)
    except Exception as e:
        message = _describe(e)
        if "No updates are to be performed" in message:
            return f"Stack {stack} is up to date (no changes)", None, stack
        raise ActionFailed(f"Stack {stack}: {message}", stack) from None
    _wait_stack(cfn, stack)
    return f"Stack {stack} {'created' if current is None else 'updated'}", None, stack


def _stack_status(cfn, stack: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except Exception as e:
        if "does not exist" in _describe(e):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stacks[0]["StackStatus"]


def _wait_stack(cfn, stack: str, deleting: bool = False) -> None:
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = _stack_status(cfn, stack)
        if deleting and status is None:
            return
        if status in TERMINAL_OK:
            return
        if status is not None and (
            status.endswith("_FAILED") or status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
        ):
            raise ActionFailed(f"Stack {stack} is in state {status}: {_failure_reason(cfn, stack)}", stack)
        time.sleep(STACK_POLL_SECONDS)
    raise ActionFailed(f"Timed out waiting for stack {stack}", stack)


def _failure_reason(cfn, stack: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except Exception:
        return "unknown reason"
    for ev in reversed(events):  # oldest first: the first failure is the cause
        if ev.get("ResourceStatus", "").endswith("_FAILED") and ev.get("ResourceStatusReason"):
            return f"{ev.get('LogicalResourceId')}: {ev['ResourceStatusReason']}"
    return "see the stack events"


def _describe(e: Exception) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code')}: {err.get('Message')}"
    return f"{type(e).__name__}: {e}"
