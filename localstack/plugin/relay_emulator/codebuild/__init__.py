"""CodeBuild for LocalStack: projects as Terraform's ``aws_codebuild_project`` needs them, and
builds that really run.

Projects: moto's CodeBuild has no UpdateProject and drops fields it does not model, which makes
Terraform see perpetual diffs. This provider stores each project as declared, adds the
server-side fields and defaults AWS returns (arn, created, lastModified, timeouts, badge,
encryptionKey, projectVisibility), and answers BatchGetProjects / ListProjects / UpdateProject /
DeleteProject.

Builds: StartBuild, BatchGetBuilds, ListBuilds, ListBuildsForProject and StopBuild. A build runs
the buildspec's commands as local processes of the emulator's user (no container), see
``codebuild.runner``; the pipeline's CodeBuild action starts builds through ``start_build``.
Projects and builds live in a LocalStack store, per account and region. Other operations answer
NotImplemented.
"""

from __future__ import annotations

import copy
import threading

from localstack.aws.api import RequestContext, handler
from localstack.services.stores import AccountRegionBundle, BaseStore, LocalAttribute

from relay_emulator.common import StoreBacked, err, now


class CodeBuildStore(BaseStore):
    """Projects of one account and region, by name, as AWS returns them; their builds by id,
    and the last build number of each project."""

    projects: dict[str, dict] = LocalAttribute(default=dict)
    builds: dict = LocalAttribute(default=dict)  # build id -> runner.Build, oldest first
    build_numbers: dict[str, int] = LocalAttribute(default=dict)


# Region names are not validated: botocore's endpoint lists lag the regions AWS serves.
codebuild_stores = AccountRegionBundle("codebuild", CodeBuildStore, validate=False)


def _name_of(value: str) -> str:
    """Projects may be named by name or ARN."""
    return value.rsplit(":project/", 1)[-1] if value else value


def _build_id_of(value: str) -> str:
    """Builds may be named by id (``project:uuid``) or ARN."""
    return value.rsplit(":build/", 1)[-1] if value else value


PAGE_SIZE = 100  # ListBuilds / ListBuildsForProject return at most 100 ids per call


def _page(ids: list, token: str | None) -> dict:
    start = int(token) if token and token.isdigit() else 0
    out = {"ids": ids[start : start + PAGE_SIZE]}
    if start + PAGE_SIZE < len(ids):
        out["nextToken"] = str(start + PAGE_SIZE)
    return out


class CodeBuildProvider(StoreBacked):
    """CodeBuild project and build handlers; every other operation answers NotImplemented."""

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

    # --- builds ---------------------------------------------------------------------------

    @handler("StartBuild", expand=False)
    def start_build(self, context: RequestContext, request: dict) -> dict:
        from relay_emulator.codebuild import runner

        build = runner.start_build(context.account_id, context.region, request, initiator=runner.ROOT_INITIATOR)
        return {"build": build.describe()}

    @handler("BatchGetBuilds", expand=False)
    def batch_get_builds(self, context: RequestContext, request: dict) -> dict:
        builds = self.store(context).builds
        found, missing = [], []
        for value in request.get("ids") or []:
            build = builds.get(_build_id_of(value))
            if build is None:
                missing.append(value)
            else:
                found.append(build.describe())
        return {"builds": found, "buildsNotFound": missing}

    @handler("ListBuilds", expand=False)
    def list_builds(self, context: RequestContext, request: dict) -> dict:
        ids = list(self.store(context).builds)
        if request.get("sortOrder") != "ASCENDING":
            ids.reverse()
        return _page(ids, request.get("nextToken"))

    @handler("ListBuildsForProject", expand=False)
    def list_builds_for_project(self, context: RequestContext, request: dict) -> dict:
        store = self.store(context)
        name = _name_of(request.get("projectName"))
        if name not in store.projects:
            raise err("ResourceNotFoundException", f"Project cannot be found: {request.get('projectName')}")
        ids = [build_id for build_id, build in store.builds.items() if build.project_name == name]
        if request.get("sortOrder") != "ASCENDING":
            ids.reverse()
        return _page(ids, request.get("nextToken"))

    @handler("StopBuild", expand=False)
    def stop_build(self, context: RequestContext, request: dict) -> dict:
        build = self.store(context).builds.get(_build_id_of(request.get("id")))
        if build is None:
            raise err("ResourceNotFoundException", f"Build {request.get('id')} does not exist")
        build.stop()
        return {"build": build.describe()}
