"""Buildspec parsing, phase sequencing, variables and artifact selection, without an emulator
(``relay_emulator.core.buildspec``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from relay_emulator.core.buildspec import (
    Artifacts,
    BuildspecError,
    buildspec_reference,
    carried_options,
    check_variables,
    environment,
    next_phase,
    parse,
    pipeline_variables,
    secret_reference,
    secret_value,
    select_artifacts,
    variable_requests,
)

REPO = Path(__file__).resolve().parents[2]

FULL = """
version: 0.2
env:
  shell: /bin/sh
  variables:
    STAGE: test
    DEBUG: yes
    COUNT: 3
  parameter-store:
    TOKEN: /relay/token
  secrets-manager:
    PASSWORD: db:password
phases:
  install:
    runtime-versions:
      python: 3.12
    commands: [echo install]
  build:
    on-failure: CONTINUE
    commands:
      - make
    finally:
      - echo cleanup
artifacts:
  files: ['**/*']
  base-directory: dist/
  discard-paths: yes
  name: out
reports:
  unit: {files: [report.xml]}
"""


def test_full_buildspec_parses():
    spec = parse(FULL)
    assert spec.shell == "sh"
    assert spec.variables == {"STAGE": "test", "DEBUG": "true", "COUNT": "3"}
    assert spec.parameter_store == {"TOKEN": "/relay/token"}
    assert spec.secrets_manager == {"PASSWORD": "db:password"}
    assert list(spec.phases) == ["install", "build"]
    assert spec.phase("install").runtime_versions == {"python": "3.12"}
    build = spec.phase("build")
    assert build.commands == ("make",) and build.finally_commands == ("echo cleanup",)
    assert build.on_failure == "CONTINUE"
    assert spec.phase("post_build").commands == () and spec.phase("post_build").on_failure is None
    assert spec.artifacts == Artifacts(files=("**/*",), name="out", discard_paths=True, base_directory="dist")
    assert spec.ignored == ("reports",)


def test_relays_own_release_buildspec_parses():
    spec = parse((REPO / "buildspec" / "release.yml").read_text())
    assert spec.shell == "bash"
    assert spec.phase("build").commands[0] == "set -euo pipefail"
    assert any("aws s3 cp" in c for c in spec.phase("build").commands)


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 0.2\nphases: [oops", "not valid YAML"),
        ("phases: {build: {commands: [ls]}}", "has no version"),
        ("version: 0.1\nphases: {}", "version 0.1 is not supported; the supported version is 0.2"),
        ("version: 1.0\nphases: {}", "version 1.0 is not supported"),
        ("- just\n- a list", "must be a YAML mapping"),
        ("version: 0.2\nsteps: {}", "unknown buildspec section steps"),
        ("version: 0.2\nenv: {shell: zsh}", "env.shell 'zsh' is not supported; allowed on Linux: bash, /bin/sh"),
        ("version: 0.2\nenv: {colors: {}}", "unknown key colors in env"),
        ("version: 0.2\nenv: {variables: [A, B]}", "env.variables must be a mapping"),
        ("version: 0.2\nphases: {compile: {commands: [ls]}}", "unknown phase compile; allowed: install, pre_build"),
        ("version: 0.2\nphases: {build: {commands: ls}}", "phases.build.commands must be a list"),
        ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n", "phases.build.commands[0] must be a"),
        ("version: 0.2\nphases: {build: {on-failure: RETRY, commands: [ls]}}", "allowed: ABORT, CONTINUE"),
        ("version: 0.2\nphases: {build: {runtime-versions: {python: 3}}}", "install phase only"),
        ("version: 0.2\nphases: {build: {run-as: nobody}}", "run-as is not supported"),
        ("version: 0.2\nbatch: {build-list: []}", "batch builds are not supported"),
        ("version: 0.2\nartifacts: {name: x}", "artifacts.files must list at least one"),
        ("version: 0.2\nartifacts: {files: [a], discard-paths: maybe}", "discard-paths must be yes or no"),
        ("version: 0.2\nartifacts: {files: [a], secondary-artifacts: {}}", "secondary-artifacts is not supported"),
    ],
)
def test_bad_buildspecs_name_the_problem(text, message):
    with pytest.raises(BuildspecError) as e:
        parse(text)
    assert message in str(e.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ("file", "buildspec.yml")),
        ("", ("file", "buildspec.yml")),
        ("ci/buildspec.yml", ("file", "ci/buildspec.yml")),
        ("arn:aws:s3:::bucket/specs/b.yml", ("s3", "bucket/specs/b.yml")),
        ("version: 0.2\nphases: {}\n", ("inline", "version: 0.2\nphases: {}\n")),
        ("version: 0.2", ("inline", "version: 0.2")),
    ],
)
def test_buildspec_reference(value, expected):
    assert buildspec_reference(value) == expected


@pytest.mark.parametrize(
    "phase, failed, on_failure, expected",
    [
        ("install", False, None, "pre_build"),
        ("post_build", False, None, "UPLOAD_ARTIFACTS"),
        ("install", True, None, "FINALIZING"),
        ("pre_build", True, None, "FINALIZING"),
        ("build", True, None, "post_build"),
        ("post_build", True, None, "UPLOAD_ARTIFACTS"),
        ("build", True, "ABORT", "FINALIZING"),
        ("post_build", True, "ABORT", "FINALIZING"),
        ("install", True, "CONTINUE", "pre_build"),
        ("pre_build", True, "CONTINUE", "build"),
        ("build", False, "ABORT", "post_build"),
    ],
)
def test_phase_transitions(phase, failed, on_failure, expected):
    assert next_phase(phase, failed, on_failure) == expected


def test_variable_precedence_start_build_over_project_over_buildspec():
    spec = parse(
        "version: 0.2\nenv:\n  variables: {A: spec, B: spec, C: spec}\n  parameter-store: {D: /p}\nphases: {}\n"
    )
    project = check_variables(
        [{"name": "B", "value": "project"}, {"name": "C", "value": "project"}], "environmentVariables"
    )
    overrides = check_variables([{"name": "C", "value": "override", "type": "PLAINTEXT"}], "override")
    assert variable_requests(spec, project, overrides) == {
        "A": ("PLAINTEXT", "spec"),
        "B": ("PLAINTEXT", "project"),
        "C": ("PLAINTEXT", "override"),
        "D": ("PARAMETER_STORE", "/p"),
    }


@pytest.mark.parametrize(
    "variables, message",
    [
        ([{"name": "A"}], "needs a name and a value"),
        ([{"value": "x"}], "needs a name and a value"),
        ([{"name": "A", "value": "x", "type": "VAULT"}], "allowed: PLAINTEXT, PARAMETER_STORE, SECRETS_MANAGER"),
    ],
)
def test_bad_variables_are_rejected(variables, message):
    with pytest.raises(BuildspecError) as e:
        check_variables(variables, "environmentVariablesOverride")
    assert message in str(e.value)


def test_pipeline_environment_variables():
    value = (
        '[{"name": "RELEASE_KEY", "value": "release.zip", "type": "PLAINTEXT"},'
        ' {"name": "T", "value": "/t", "type": "PARAMETER_STORE"}]'
    )
    assert pipeline_variables(value) == [
        {"name": "RELEASE_KEY", "value": "release.zip", "type": "PLAINTEXT"},
        {"name": "T", "value": "/t", "type": "PARAMETER_STORE"},
    ]
    assert pipeline_variables(None) == []
    for bad, message in (("{nope", "not valid JSON"), ('{"name": "A"}', "must be a JSON list")):
        with pytest.raises(BuildspecError) as e:
            pipeline_variables(bad)
        assert message in str(e.value)


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("db", {"secret_id": "db", "json_key": "", "version_stage": "", "version_id": ""}),
        ("db:password", {"secret_id": "db", "json_key": "password", "version_stage": "", "version_id": ""}),
        (
            "db:password:AWSPREVIOUS",
            {"secret_id": "db", "json_key": "password", "version_stage": "AWSPREVIOUS", "version_id": ""},
        ),
        (
            "arn:aws:secretsmanager:eu-west-1:000000000000:secret:db-AbCdEf:user::v1",
            {
                "secret_id": "arn:aws:secretsmanager:eu-west-1:000000000000:secret:db-AbCdEf",
                "json_key": "user",
                "version_stage": "",
                "version_id": "v1",
            },
        ),
    ],
)
def test_secret_references(reference, expected):
    assert secret_reference(reference) == expected


def test_secret_values():
    whole = secret_reference("db")
    keyed = secret_reference("db:password")
    assert secret_value(whole, '{"password": "p"}') == '{"password": "p"}'
    assert secret_value(keyed, '{"password": "p"}') == "p"
    with pytest.raises(BuildspecError, match="has no JSON key password"):
        secret_value(keyed, '{"user": "u"}')
    with pytest.raises(BuildspecError, match="is not JSON"):
        secret_value(keyed, "plain")


def test_environment_layers():
    env = environment(
        base={"PATH": "/bin", "HOME": "/home/u", "AWS_REGION": "host"},
        variables={"STAGE": "x", "CODEBUILD_BUILD_ID": "mine", "AWS_ENDPOINT_URL": "https://aws", "HOME": "/h"},
        codebuild={"CODEBUILD_BUILD_ID": "p:1", "AWS_REGION": "eu-west-1"},
        sandbox={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
    )
    assert env == {
        "PATH": "/bin",
        "HOME": "/h",
        "AWS_REGION": "eu-west-1",
        "STAGE": "x",
        "CODEBUILD_BUILD_ID": "p:1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    }


def test_carried_options():
    raw = "set -o errexit\nset +o nounset\nset -o monitor\nset +o interactive\nset -o pipefail\nshopt -s extglob\n"
    assert carried_options(raw) == "set -o errexit\nset +o nounset\nset -o pipefail\nshopt -s extglob\n"
    assert carried_options("") == ""


TREE = ["README.md", "dist/app.zip", "dist/lib/a.py", "dist/lib/b.py", "src/main.py", "src/pkg/x.py", ".git/HEAD"]


@pytest.mark.parametrize(
    "artifacts, expected",
    [
        (Artifacts(files=("README.md",)), [("README.md", "README.md")]),
        (Artifacts(files=("src/*.py",)), [("src/main.py", "src/main.py")]),
        (Artifacts(files=("src/**/*",)), [("src/main.py", "src/main.py"), ("src/pkg/x.py", "src/pkg/x.py")]),
        (
            Artifacts(files=("**/*.py",), exclude_paths=("src/**/*",)),
            [("dist/lib/a.py", "dist/lib/a.py"), ("dist/lib/b.py", "dist/lib/b.py")],
        ),
        (
            Artifacts(files=("**/*",), base_directory="dist"),
            [("dist/app.zip", "app.zip"), ("dist/lib/a.py", "lib/a.py"), ("dist/lib/b.py", "lib/b.py")],
        ),
        (
            Artifacts(files=("lib/*",), base_directory="dist", discard_paths=True),
            [("dist/lib/a.py", "a.py"), ("dist/lib/b.py", "b.py")],
        ),
        (Artifacts(files=("?EADME.md",)), [("README.md", "README.md")]),
    ],
)
def test_artifact_selection(artifacts, expected):
    assert select_artifacts(TREE, artifacts) == expected


@pytest.mark.parametrize(
    "tree, artifacts, message",
    [
        (TREE, Artifacts(files=("*.jar",)), "no matching artifact paths found for *.jar"),
        (TREE, Artifacts(files=("**/*",), base_directory="build"), "under base-directory build"),
        (["a/x.py", "b/x.py"], Artifacts(files=("**/*.py",), discard_paths=True), "both be named x.py"),
    ],
)
def test_artifact_selection_errors(tree, artifacts, message):
    with pytest.raises(BuildspecError) as e:
        select_artifacts(tree, artifacts)
    assert message in str(e.value)
