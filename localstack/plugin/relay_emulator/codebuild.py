"""CodeBuild projects for LocalStack (what Terraform's ``aws_codebuild_project`` needs).

moto's CodeBuild has no UpdateProject and drops fields it does not model, which makes
Terraform see perpetual diffs. This provider stores each project as declared, adds the
server-side fields and defaults AWS returns (arn, created, lastModified, timeouts, badge,
encryptionKey, projectVisibility), and answers BatchGetProjects / ListProjects /
UpdateProject / DeleteProject. Builds are not run: relay's pipeline records CodeBuild actions
as "not emulated" (see codepipeline.py); build APIs answer NotImplemented.
"""

from __future__ import annotations

import copy
import datetime
import threading

from localstack.aws.api import CommonServiceException, RequestContext, handler

_LOCK = threading.Lock()
_PROJECTS: dict[tuple, dict] = {}  # (account, region, name) -> project


def _err(code: str, message: str) -> CommonServiceException:
    return CommonServiceException(code=code, message=message, status_code=400, sender_fault=True)


def _now():
    return datetime.datetime.now(tz=datetime.UTC)


def _name_of(value: str) -> str:
    """Projects may be named by name or ARN."""
    return value.rsplit(":project/", 1)[-1] if value else value


class CodeBuildProvider:
    service = "codebuild"
    version = "2016-10-06"

    @handler("CreateProject", expand=False)
    def create_project(self, context: RequestContext, request: dict) -> dict:
        name = request.get("name")
        for field in ("name", "source", "artifacts", "environment", "serviceRole"):
            if not request.get(field):
                raise _err("InvalidInputException", f"Invalid input: {field} is required")
        key = (context.account_id, context.region, name)
        with _LOCK:
            if key in _PROJECTS:
                raise _err(
                    "ResourceAlreadyExistsException",
                    f"Project already exists: arn:aws:codebuild:{context.region}:{context.account_id}:project/{name}",
                )
            project = copy.deepcopy(request)
            project.update(
                {
                    "arn": f"arn:aws:codebuild:{context.region}:{context.account_id}:project/{name}",
                    "created": _now(),
                    "lastModified": _now(),
                }
            )
            project.setdefault("timeoutInMinutes", 60)
            project.setdefault("queuedTimeoutInMinutes", 480)
            project.setdefault("encryptionKey", f"arn:aws:kms:{context.region}:{context.account_id}:alias/aws/s3")
            project.setdefault("projectVisibility", "PRIVATE")
            project.setdefault("tags", [])
            badge = bool(project.pop("badgeEnabled", False))
            project["badge"] = {"badgeEnabled": badge}
            _PROJECTS[key] = project
        return {"project": copy.deepcopy(project)}

    @handler("UpdateProject", expand=False)
    def update_project(self, context: RequestContext, request: dict) -> dict:
        key = (context.account_id, context.region, _name_of(request.get("name")))
        with _LOCK:
            project = _PROJECTS.get(key)
            if project is None:
                raise _err("ResourceNotFoundException", f"Project cannot be found: {request.get('name')}")
            changes = copy.deepcopy(request)
            changes.pop("name", None)
            if "badgeEnabled" in changes:
                project["badge"] = {"badgeEnabled": bool(changes.pop("badgeEnabled"))}
            project.update(changes)
            project["lastModified"] = _now()
        return {"project": copy.deepcopy(project)}

    @handler("BatchGetProjects", expand=False)
    def batch_get_projects(self, context: RequestContext, request: dict) -> dict:
        found, missing = [], []
        for n in request.get("names") or []:
            p = _PROJECTS.get((context.account_id, context.region, _name_of(n)))
            (found.append(copy.deepcopy(p)) if p else missing.append(n))
        return {"projects": found, "projectsNotFound": missing}

    @handler("ListProjects", expand=False)
    def list_projects(self, context: RequestContext, request: dict) -> dict:
        names = sorted(n for (a, r, n) in _PROJECTS if a == context.account_id and r == context.region)
        return {"projects": names}

    @handler("DeleteProject", expand=False)
    def delete_project(self, context: RequestContext, request: dict) -> dict:
        # AWS answers DeleteProject for a missing project with success.
        with _LOCK:
            _PROJECTS.pop((context.account_id, context.region, _name_of(request.get("name"))), None)
        return {}
