"""CodeBuild projects for LocalStack (what Terraform's ``aws_codebuild_project`` needs).

moto's CodeBuild has no UpdateProject and drops fields it does not model, which makes Terraform
see perpetual diffs. This provider stores each project as declared, adds the server-side
fields and defaults AWS returns (arn, created, lastModified, timeouts, badge, encryptionKey,
projectVisibility), and answers BatchGetProjects / ListProjects / UpdateProject /
DeleteProject. Projects live in a LocalStack store, per account and region.

Not emulated: builds. relay's pipeline records CodeBuild actions as "not emulated" (see
``codepipeline.actions.not_emulated``); the build APIs answer NotImplemented.
"""

from __future__ import annotations

import copy
import threading

from localstack.aws.api import RequestContext, handler
from localstack.services.stores import AccountRegionBundle, BaseStore, LocalAttribute

from relay_emulator.common import StoreBacked, err, now


class CodeBuildStore(BaseStore):
    """Projects of one account and region, by name, as AWS returns them."""

    projects: dict[str, dict] = LocalAttribute(default=dict)


# Region names are not validated: botocore's endpoint lists lag the regions AWS serves.
codebuild_stores = AccountRegionBundle("codebuild", CodeBuildStore, validate=False)


def _name_of(value: str) -> str:
    """Projects may be named by name or ARN."""
    return value.rsplit(":project/", 1)[-1] if value else value


class CodeBuildProvider(StoreBacked):
    """CodeBuild project handlers; every other operation answers NotImplemented."""

    service = "codebuild"
    version = "2016-10-06"
    stores = codebuild_stores

    def __init__(self):
        self._lock = threading.Lock()  # create-if-absent and read-modify-write of a project

    @handler("CreateProject", expand=False)
    def create_project(self, context: RequestContext, request: dict) -> dict:
        name = request.get("name")
        for field in ("name", "source", "artifacts", "environment", "serviceRole"):
            if not request.get(field):
                raise err("InvalidInputException", f"Invalid input: {field} is required")
        arn = f"arn:aws:codebuild:{context.region}:{context.account_id}:project/{name}"
        projects = self.store(context).projects
        with self._lock:
            if name in projects:
                raise err("ResourceAlreadyExistsException", f"Project already exists: {arn}")
            project = copy.deepcopy(request)
            project.update({"arn": arn, "created": now(), "lastModified": now()})
            project.setdefault("timeoutInMinutes", 60)
            project.setdefault("queuedTimeoutInMinutes", 480)
            project.setdefault("encryptionKey", f"arn:aws:kms:{context.region}:{context.account_id}:alias/aws/s3")
            project.setdefault("projectVisibility", "PRIVATE")
            project.setdefault("tags", [])
            project["badge"] = {"badgeEnabled": bool(project.pop("badgeEnabled", False))}
            projects[name] = project
            return {"project": copy.deepcopy(project)}

    @handler("UpdateProject", expand=False)
    def update_project(self, context: RequestContext, request: dict) -> dict:
        projects = self.store(context).projects
        with self._lock:
            project = projects.get(_name_of(request.get("name")))
            if project is None:
                raise err("ResourceNotFoundException", f"Project cannot be found: {request.get('name')}")
            changes = copy.deepcopy(request)
            changes.pop("name", None)
            if "badgeEnabled" in changes:
                project["badge"] = {"badgeEnabled": bool(changes.pop("badgeEnabled"))}
            project.update(changes)
            project["lastModified"] = now()
            return {"project": copy.deepcopy(project)}

    @handler("BatchGetProjects", expand=False)
    def batch_get_projects(self, context: RequestContext, request: dict) -> dict:
        projects = self.store(context).projects
        found, missing = [], []
        with self._lock:
            for n in request.get("names") or []:
                p = projects.get(_name_of(n))
                if p is None:
                    missing.append(n)
                else:
                    found.append(copy.deepcopy(p))
        return {"projects": found, "projectsNotFound": missing}

    @handler("ListProjects", expand=False)
    def list_projects(self, context: RequestContext, request: dict) -> dict:
        return {"projects": sorted(self.store(context).projects)}

    @handler("DeleteProject", expand=False)
    def delete_project(self, context: RequestContext, request: dict) -> dict:
        # AWS answers DeleteProject for a missing project with success.
        with self._lock:
            self.store(context).projects.pop(_name_of(request.get("name")), None)
        return {}
