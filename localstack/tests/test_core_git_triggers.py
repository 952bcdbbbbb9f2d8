"""Which git pushes start which pipelines (pure core: repository ids, refs, globs, push filters,
default change detection, the recorded trigger and revision shapes)."""

from __future__ import annotations

import json

import pytest
from relay_emulator.core import git_triggers as gt
from relay_emulator.core.git_triggers import RefUpdate

OLD, NEW = "1" * 40, "2" * 40
ARN = "arn:aws:codestar-connections:eu-west-1:000000000000:connection/abc"


def branch(name: str, old: str = OLD, new: str = NEW) -> RefUpdate:
    return RefUpdate(f"refs/heads/{name}", old, new)


def tag(name: str) -> RefUpdate:
    return RefUpdate(f"refs/tags/{name}", gt.ZERO_COMMIT, NEW)


@pytest.mark.parametrize(
    "repository, expected",
    [
        ("acme/app", ("acme", "app")),
        ("a-b/c.d_e-f", ("a-b", "c.d_e-f")),
        ("A1/x", ("A1", "x")),
        ("o" * 39 + "/n", ("o" * 39, "n")),
    ],
)
def test_valid_repository_ids(repository, expected):
    assert gt.check_repository_id(repository) == expected


@pytest.mark.parametrize(
    "repository",
    [
        "",
        "app",
        "a/b/c",
        "/app",
        "acme/",
        "-acme/app",
        "acme-/app",
        "ac--me/app",
        "o" * 40 + "/n",
        "acme/.",
        "acme/..",
        "acme/app.git",
        "acme/a b",
        "acme/" + "n" * 101,
        "ac me/app",
        "../etc",
    ],
)
def test_invalid_repository_ids_name_the_rule(repository):
    with pytest.raises(gt.RepositoryIdError) as e:
        gt.check_repository_id(repository)
    assert "owner/name" in str(e.value) and repr(repository) in str(e.value)


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("refs/heads/main", ("branch", "main")),
        ("refs/heads/feature/x", ("branch", "feature/x")),
        ("refs/tags/v1.0", ("tag", "v1.0")),
        ("refs/notes/commits", (None, "refs/notes/commits")),
        ("refs/heads/", (None, "refs/heads/")),
    ],
)
def test_parse_ref(ref, expected):
    assert gt.parse_ref(ref) == expected


def test_post_receive_lines_become_updates():
    text = f"{OLD} {NEW} refs/heads/main\n{gt.ZERO_COMMIT} {NEW} refs/tags/v1\n\ngarbage\n"
    updates = gt.parse_post_receive(text)
    assert updates == [RefUpdate("refs/heads/main", OLD, NEW), RefUpdate("refs/tags/v1", gt.ZERO_COMMIT, NEW)]
    assert updates[1].created and not updates[0].created
    assert RefUpdate("refs/heads/x", OLD, gt.ZERO_COMMIT).deleted


@pytest.mark.parametrize(
    "pattern, text, matches",
    [
        ("main", "main", True),
        ("main", "main2", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", False),
        ("release/**", "release/1.0/hotfix", True),
        ("*", "feature/x", False),
        ("**", "feature/x", True),
        ("v?.0", "v1.0", True),
        ("v?.0", "v10.0", False),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/pkg/app.py", False),
        ("src/**/*.py", "src/pkg/app.py", True),
        ("**/*.md", "docs/a/b.md", True),
        ("*.{java,class}", "A.class", True),
        ("*.{java,class}", "A.kt", False),
        ("{main,dev}", "dev", True),
        ("[abc]x", "bx", True),
        ("[!abc]x", "bx", False),
        ("[!abc]x", "dx", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a.b", "axb", False),
        ("[unclosed", "[unclosed", True),
    ],
)
def test_glob_patterns_as_codepipeline_defines_them(pattern, text, matches):
    assert gt.glob_match(pattern, text) is matches


@pytest.mark.parametrize(
    "criteria, value, matches",
    [
        ({"includes": ["main"]}, "main", True),
        ({"includes": ["main"]}, "dev", False),
        ({"includes": ["**"], "excludes": ["wip/*"]}, "wip/x", False),
        ({"includes": ["wip/*"], "excludes": ["wip/*"]}, "wip/x", False),  # excludes take priority
        ({"excludes": ["dev"]}, "main", True),  # no includes: anything not excluded
        ({}, "anything", True),
    ],
)
def test_criteria(criteria, value, matches):
    assert gt.criteria_match(criteria, value) is matches


@pytest.mark.parametrize(
    "push_filter, update, files, matches",
    [
        ({"branches": {"includes": ["main"]}}, branch("main"), None, True),
        ({"branches": {"includes": ["main"]}}, branch("dev"), None, False),
        ({"branches": {"includes": ["main"]}}, tag("v1"), None, False),  # tag pushes never match branch filters
        ({"tags": {"includes": ["v*"]}}, tag("v1"), None, True),
        ({"tags": {"includes": ["v*"]}}, branch("v1"), None, False),
        ({"tags": {"excludes": ["v*-rc"]}}, tag("v1-rc"), None, False),
        ({"branches": {"includes": ["main"]}}, RefUpdate("refs/heads/main", OLD, gt.ZERO_COMMIT), None, False),
        ({"branches": {"includes": ["**"]}}, RefUpdate("refs/notes/x", OLD, NEW), None, False),
        (
            {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["app/**"]}},
            branch("main"),
            ["app/a.py"],
            True,
        ),
        (
            {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["app/**"]}},
            branch("main"),
            ["docs/a"],
            False,
        ),
        (
            {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["**"], "excludes": ["**/*.md"]}},
            branch("main"),
            ["docs/README.md", "docs/x.md"],
            False,
        ),
        (
            {"branches": {"includes": ["main"]}, "filePaths": {"excludes": ["**/*.md"]}},
            branch("main"),
            ["docs/README.md", "app.py"],
            True,
        ),
        ({"branches": {"includes": ["main"]}, "filePaths": {"includes": ["**"]}}, branch("main"), [], False),
        ({"filePaths": {"includes": ["**"]}}, branch("main"), ["a"], False),  # no branches: not a branch filter
    ],
)
def test_push_filters(push_filter, update, files, matches):
    assert gt.push_filter_matches(push_filter, update, files) is matches


def source(name="Source", repository="acme/app", branch_name="main", **extra):
    return {
        "name": name,
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {"ConnectionArn": ARN, "FullRepositoryId": repository, "BranchName": branch_name, **extra},
    }


def pipeline(*actions, triggers=None):
    decl = {
        "name": "p",
        "stages": [
            {"name": "Source", "actions": list(actions)},
            {"name": "Deploy", "actions": [{"name": "D", "actionTypeId": {"category": "Deploy"}}]},
        ],
    }
    if triggers is not None:
        decl["triggers"] = triggers
    return decl


def push_trigger(*filters, action="Source"):
    return {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {"sourceActionName": action, "push": list(filters)},
    }


MAIN_ONLY = push_trigger({"branches": {"includes": ["main"]}})


@pytest.mark.parametrize(
    "decl, update, files, expected",
    [
        (pipeline(source(), triggers=[MAIN_ONLY]), branch("main"), None, ("WebhookV2", ["Source"])),
        (pipeline(source(), triggers=[MAIN_ONLY]), branch("dev"), None, None),
        (pipeline(source(), triggers=[MAIN_ONLY]), tag("v1"), None, None),
        (pipeline(source(repository="acme/other"), triggers=[MAIN_ONLY]), branch("main"), None, None),
        # a trigger may start the pipeline on a branch other than the action's BranchName
        (
            pipeline(source(), triggers=[push_trigger({"branches": {"includes": ["release/*"]}})]),
            branch("release/2"),
            None,
            ("WebhookV2", ["Source"]),
        ),
        # a trigger replaces default change detection: BranchName alone does not start it
        (
            pipeline(source(), triggers=[push_trigger({"branches": {"includes": ["release/*"]}})]),
            branch("main"),
            None,
            None,
        ),
        # pull-request-only trigger: pushes start nothing
        (
            pipeline(
                source(),
                triggers=[
                    {
                        "providerType": "CodeStarSourceConnection",
                        "gitConfiguration": {"sourceActionName": "Source", "pullRequest": [{"events": ["OPEN"]}]},
                    }
                ],
            ),
            branch("main"),
            None,
            None,
        ),
        # filters are ORed
        (
            pipeline(
                source(), triggers=[push_trigger({"tags": {"includes": ["v*"]}}, {"branches": {"includes": ["main"]}})]
            ),
            tag("v2"),
            None,
            ("WebhookV2", ["Source"]),
        ),
        # default change detection (no trigger): a push to BranchName
        (pipeline(source()), branch("main"), None, ("Webhook", ["Source"])),
        (pipeline(source()), branch("dev"), None, None),
        (pipeline(source()), tag("v1"), None, None),
        (pipeline(source(DetectChanges="false")), branch("main"), None, None),
        (pipeline(source(DetectChanges="true")), branch("main"), None, ("Webhook", ["Source"])),
        (pipeline(source()), RefUpdate("refs/heads/main", OLD, gt.ZERO_COMMIT), None, None),
        # two actions on the repository: one execution pinning both; the trigger's kind wins
        (
            pipeline(
                source("A"), source("B"), triggers=[push_trigger({"branches": {"includes": ["main"]}}, action="B")]
            ),
            branch("main"),
            None,
            ("WebhookV2", ["A", "B"]),
        ),
        # S3 sources and other stages are not connection sources
        (
            pipeline(
                {
                    "name": "S",
                    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3"},
                    "configuration": {"FullRepositoryId": "acme/app"},
                }
            ),
            branch("main"),
            None,
            None,
        ),
    ],
)
def test_decide(decl, update, files, expected):
    start = gt.decide(decl, "acme/app", update, files)
    assert (start and (start.trigger_type, start.actions)) == expected


def test_file_paths_are_read_only_when_a_trigger_filters_on_them():
    with_paths = push_trigger({"branches": {"includes": ["main"]}, "filePaths": {"includes": ["app/**"]}})
    assert gt.needs_changed_files(pipeline(source(), triggers=[with_paths]))
    assert not gt.needs_changed_files(pipeline(source(), triggers=[MAIN_ONLY]))
    assert not gt.needs_changed_files(pipeline(source()))
    decl = pipeline(source(), triggers=[with_paths])
    assert gt.decide(decl, "acme/app", branch("main"), ["app/x"]).trigger_type == "WebhookV2"
    assert gt.decide(decl, "acme/app", branch("main"), ["docs/x"]) is None


def test_recorded_shapes():
    detail = json.loads(gt.trigger_detail(ARN, "acme/app", branch("main")))
    assert detail == {"ConnectionArn": ARN, "FullRepositoryId": "acme/app", "Ref": "refs/heads/main", "CommitId": NEW}
    assert json.loads(gt.revision_summary("GitHub", 'say "hi"\n\nbody')) == {
        "ProviderType": "GitHub",
        "CommitMessage": 'say "hi"\n\nbody',
    }
    assert gt.revision_summary("GitHub", "x") == '{"ProviderType":"GitHub","CommitMessage":"x"}'
    url = gt.revision_url("eu-west-1", ARN, "acme/app", NEW)
    assert url.startswith("https://eu-west-1.console.aws.amazon.com/codesuite/settings/connections/redirect?")
    assert f"connectionArn={ARN}&referenceType=COMMIT&FullRepositoryId=acme/app&Commit={NEW}" in url
