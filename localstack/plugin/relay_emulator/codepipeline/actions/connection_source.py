"""Connection source action (``Source/AWS/CodeStarSourceConnection``) on the emulator's git host.

Reads ``FullRepositoryId`` from the local bare repository (``git_repos``) at the commit the
execution pins (a push, or ``sourceRevisions`` ``COMMIT_ID``), else at the head of
``BranchName``, and writes the output artifact in the ``OutputArtifactFormat``:

* ``CODE_ZIP`` (default): the commit's tree without ``.git`` (``git archive``; same commit,
  same bytes);
* ``CODEBUILD_CLONE_REF``: in AWS a reference CodeBuild clones from; here the clone itself: a zip
  of a full clone (``.git`` included, ``origin`` = the repository's file URL) on ``BranchName``
  at the commit, so a build sees the same git checkout.

The revision is the commit id; the summary is AWS's ``{"ProviderType", "CommitMessage"}`` JSON.
The connection must exist and be AVAILABLE (see ``connections.connection_for_use``).
"""

from __future__ import annotations

import datetime

from relay_emulator import connections, git_repos
from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.codepipeline.actions.artifacts import source_result
from relay_emulator.core import git_triggers

FORMATS = ("CODE_ZIP", "CODEBUILD_CLONE_REF")
REQUIRED = ("ConnectionArn", "FullRepositoryId", "BranchName")


def _commit(run: ActionRun, path, repository: str, branch: str) -> str:
    override = run.source_override
    if override and override.get("revisionType") == "COMMIT_ID":
        wanted = override.get("revisionValue") or ""
        commit = git_repos.resolve_commit(path, wanted) if len(wanted) >= 4 else None
        if commit is None:
            raise ActionFailed(f"Commit {wanted!r} does not exist in repository {repository}")
        return commit
    if override:
        raise ActionFailed(
            f"Source revision type {override.get('revisionType')} does not apply to a CodeStarSourceConnection "
            "action; use COMMIT_ID"
        )
    commit = git_repos.resolve_commit(path, f"refs/heads/{branch}")
    if commit is None:
        raise ActionFailed(f"Branch {branch} does not exist in repository {repository}: push it first")
    return commit


def run(run: ActionRun) -> ActionResult:
    """Check out the commit and publish it as the action's output artifacts."""
    cfg = run.configuration
    missing = [k for k in REQUIRED if not cfg.get(k)]
    if missing:
        raise ActionFailed(f"CodeStarSourceConnection action needs {', '.join(REQUIRED)}; missing {', '.join(missing)}")
    arn, repository, branch = (cfg[k] for k in REQUIRED)
    output_format = cfg.get("OutputArtifactFormat") or FORMATS[0]
    if output_format not in FORMATS:
        raise ActionFailed(f"OutputArtifactFormat {output_format} is not supported; use one of {', '.join(FORMATS)}")
    try:
        path = git_repos.existing_repository(git_repos.root_from_env(), repository)
        conn = connections.connection_for_use(arn, repository_exists=True)
        commit = _commit(run, path, repository, branch)
        info = git_repos.commit_info(path, commit)
        data = (
            git_repos.archive_zip(path, commit)
            if output_format == "CODE_ZIP"
            else git_repos.clone_zip(path, commit, branch)
        )
    except (git_repos.RepositoryIdError, git_repos.RepositoryMissing, git_repos.GitError) as e:
        raise ActionFailed(str(e)) from None
    except connections.ConnectionUnusable as e:
        raise ActionFailed(str(e)) from None
    summary = git_triggers.revision_summary(conn.get("ProviderType") or "GitHub", info["message"])
    url = git_triggers.revision_url(run.region, arn, repository, commit)
    return source_result(
        run,
        data,
        revision=commit,
        summary=summary,
        created=datetime.datetime.fromisoformat(info["date"]),
        url=url,
        url_in_source_revision=True,
    )
