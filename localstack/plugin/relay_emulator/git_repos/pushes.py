"""Pushes to the git host start pipelines: the internal route the repositories' hooks call.

``POST /_localstack/relay/git-push`` with ``{"repository": "owner/name", "updates": "<old> <new>
<ref>\\n..."}`` (what git hands a post-receive hook). For every pipeline of every account and
region whose connection source action reads that repository, ``core.git_triggers.decide`` says
whether the push starts it; each start is one execution with the pushed commit pinned for the
matching source actions (``COMMIT_ID`` revision) and the trigger recorded as AWS records a git
push (``WebhookV2`` for a V2 trigger configuration, ``Webhook`` for default change detection).
The answer lists what started and why anything did not; the hook prints it to the pusher.
"""

from __future__ import annotations

import copy
import logging

from relay_emulator import connections, faults, git_repos
from relay_emulator.core import git_triggers

LOG = logging.getLogger("relay_emulator.git")


class GitPushResource:
    """The route's handler (a LocalStack internal resource)."""

    def on_post(self, request):
        from localstack.http import Response

        doc = request.get_json(force=True, silent=True) or {}
        repository, updates = doc.get("repository"), doc.get("updates")
        if not isinstance(repository, str) or not isinstance(updates, str):
            return Response.for_json({"messages": ["expected {repository, updates}"]}, status=400)
        try:
            return handle_push(repository, git_triggers.parse_post_receive(updates))
        except (git_repos.RepositoryIdError, git_repos.RepositoryMissing, git_repos.GitError) as e:
            return Response.for_json({"messages": [str(e)]}, status=400)


def register() -> None:
    """Add the route to LocalStack's internal APIs, record the endpoint and refresh the hooks."""
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    from localstack import config

    get_internal_apis().add(Resource(git_repos.PUSH_PATH, GitPushResource()))
    try:
        root = git_repos.root_from_env()
    except git_repos.GitError as e:
        LOG.warning("git pushes will start no pipeline: %s", e)
        return
    git_repos.write_endpoint(root, f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}")
    LOG.info("git host at %s (%d repositories)", root, git_repos.refresh_hooks(root))


def _pipelines():
    from relay_emulator.codepipeline.models import codepipeline_stores

    for _account, regions in list(codepipeline_stores.items()):
        for _region, store in list(regions.items()):
            yield from list(store.pipelines.values())


def handle_push(repository: str, updates: list) -> dict:
    """Start the executions a push starts; ``{"messages": [...], "started": [...]}``."""
    from relay_emulator.codepipeline import engine

    path = git_repos.existing_repository(git_repos.root_from_env(), repository)
    messages, started = [], []
    for update in updates:
        files = None
        starts = 0
        for p in _pipelines():
            with p.lock:
                declaration = copy.deepcopy(p.declaration)
            if files is None and git_triggers.needs_changed_files(declaration) and not update.deleted:
                files = git_repos.changed_files(path, update.old, update.new)
            start = git_triggers.decide(declaration, repository, update, files)
            if start is None:
                continue
            where = f"{p.name} ({p.region}, account {p.account})"
            if faults.is_down(p.region):  # a region taken down (faults.py) starts nothing
                messages.append(f"{update.ref}: pipeline {where} not started: ServiceUnavailable: region down")
                continue
            sources = {a["name"]: a for a in git_triggers.connection_sources(declaration, repository)}
            arn = sources[start.actions[0]]["configuration"].get("ConnectionArn")
            try:
                connections.connection_for_use(arn, repository_exists=True)
            except connections.ConnectionUnusable as e:
                messages.append(f"{update.ref}: pipeline {where} not started: {e}")
                continue
            trigger = {
                "triggerType": start.trigger_type,
                "triggerDetail": git_triggers.trigger_detail(arn, repository, update),
            }
            overrides = [
                {"actionName": name, "revisionType": "COMMIT_ID", "revisionValue": update.new} for name in start.actions
            ]
            ex = engine.start_execution(p, trigger, None, overrides)
            starts += 1
            started.append({"pipelineName": p.name, "region": p.region, "pipelineExecutionId": ex.id})
            messages.append(
                f"{update.ref} at {update.new[:7]}: started pipeline {where}, execution {ex.id} ({start.trigger_type})"
            )
        if not starts:
            messages.append(f"{update.ref}: no pipeline starts on this push")
        LOG.info("git push to %s %s %s..%s: %d execution(s)", repository, update.ref, update.old, update.new, starts)
    return {"messages": messages, "started": started}
