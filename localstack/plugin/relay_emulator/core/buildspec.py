"""CodeBuild buildspecs (version 0.2): parsing, validation, phase sequencing, environment
variables and artifact selection, without a server.

Needs PyYAML besides the standard library (buildspecs are YAML; PyYAML ships with LocalStack's
runtime and with the test environment). Everything else here is plain data in, plain data out:
the emulator's build runner (``relay_emulator.codebuild.runner``) executes what this module decides.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re

import yaml

SUPPORTED_VERSION = "0.2"
# The phases a buildspec declares, in the order CodeBuild runs them.
COMMAND_PHASES = ("install", "pre_build", "build", "post_build")
ON_FAILURE = ("ABORT", "CONTINUE")
# env.shell values accepted on Linux (CodeBuild documents "bash" and "/bin/sh") -> executable
SHELLS = {"bash": "bash", "/bin/sh": "sh", "sh": "sh"}
DEFAULT_SHELL = "bash"
# Top-level sections the emulator reads, and those it accepts without acting on them.
KNOWN_SECTIONS = {"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
IGNORED_SECTIONS = ("proxy", "reports", "cache")
ENV_KEYS = {"shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper"}
PHASE_KEYS = {"run-as", "on-failure", "runtime-versions", "commands", "finally"}
ARTIFACT_KEYS = {
    "files",
    "name",
    "discard-paths",
    "base-directory",
    "exclude-paths",
    "enable-symlinks",
    "s3-prefix",
    "secondary-artifacts",
}
# Environment variable types of a project or a StartBuild override.
VARIABLE_TYPES = ("PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER")


class BuildspecError(ValueError):
    """The buildspec cannot be run; the message says what is wrong and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Phase:
    """One declared phase: its commands, its ``finally`` commands and ``on-failure`` (None when
    not declared: the build follows CodeBuild's default phase transitions)."""

    name: str
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str | None = None
    runtime_versions: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Artifacts:
    """The buildspec's ``artifacts`` section."""

    files: tuple[str, ...]
    name: str | None = None
    discard_paths: bool = False
    base_directory: str | None = None
    exclude_paths: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Buildspec:
    """A parsed, validated buildspec."""

    shell: str  # executable: "bash" or "sh"
    variables: dict  # env.variables, name -> value
    parameter_store: dict  # env.parameter-store, name -> parameter name
    secrets_manager: dict  # env.secrets-manager, name -> reference
    phases: dict  # phase name -> Phase, declared phases only
    artifacts: Artifacts | None
    ignored: tuple[str, ...] = ()  # declared sections the emulator does not act on

    def phase(self, name: str) -> Phase:
        """The declared phase, or an empty one."""
        return self.phases.get(name) or Phase(name)


def buildspec_reference(value: str | None) -> tuple[str, str]:
    """How a project's (or override's) ``buildspec`` value names the buildspec:
    ``("file", path)`` relative to the source root (``buildspec.yml`` when empty),
    ``("s3", "bucket/key")`` for an S3 ARN, or ``("inline", text)``."""
    text = (value or "").strip()
    if not text:
        return "file", "buildspec.yml"
    if text.startswith("arn:aws:s3:::"):
        return "s3", text[len("arn:aws:s3:::") :]
    # a single line without a YAML mapping is a path; anything else is the buildspec itself
    if "\n" not in text and not re.search(r":(\s|$)", text):
        return "file", text
    return "inline", value or ""


def parse(text: str) -> Buildspec:
    """Parse and validate a buildspec; BuildspecError names the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BuildspecError(f"buildspec is not valid YAML: {_one_line(e)}") from None
    if not isinstance(doc, dict):
        raise BuildspecError("buildspec must be a YAML mapping with version and phases")
    version = doc.get("version")
    if version is None:
        raise BuildspecError(f"buildspec has no version; the supported version is {SUPPORTED_VERSION}")
    if str(version) != SUPPORTED_VERSION:
        raise BuildspecError(
            f"buildspec version {version} is not supported; the supported version is {SUPPORTED_VERSION}"
        )
    unknown = sorted(set(map(str, doc)) - KNOWN_SECTIONS)
    if unknown:
        raise BuildspecError(
            f"unknown buildspec section {', '.join(unknown)}; allowed: {', '.join(sorted(KNOWN_SECTIONS))}"
        )
    if doc.get("batch") is not None:
        raise BuildspecError("batch builds are not supported by the emulator; remove the batch section")
    if doc.get("run-as") is not None:
        raise BuildspecError("run-as is not supported by the emulator: builds run as the emulator's user")
    env = _mapping(doc.get("env"), "env")
    _only(env, ENV_KEYS, "env")
    shell_name = env.get("shell", DEFAULT_SHELL)
    if shell_name not in SHELLS:
        raise BuildspecError(f"env.shell {shell_name!r} is not supported; allowed on Linux: bash, /bin/sh")
    phases = _phases(doc.get("phases"))
    return Buildspec(
        shell=SHELLS[shell_name],
        variables=_string_map(env.get("variables"), "env.variables"),
        parameter_store=_string_map(env.get("parameter-store"), "env.parameter-store"),
        secrets_manager=_string_map(env.get("secrets-manager"), "env.secrets-manager"),
        phases=phases,
        artifacts=_artifacts(doc.get("artifacts")),
        ignored=tuple(s for s in IGNORED_SECTIONS if doc.get(s) is not None),
    )


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def _mapping(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildspecError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _only(value: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise BuildspecError(f"unknown key {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(allowed))}")


def _scalar(value, where: str) -> str:
    if isinstance(value, bool):
        # YAML reads yes/no/true/false as booleans; CodeBuild passes them on as written
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise BuildspecError(f"{where} must be a string, not {type(value).__name__}")


def _string_map(value, where: str) -> dict:
    return {str(k): _scalar(v, f"{where}.{k}") for k, v in _mapping(value, where).items()}


def _commands(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BuildspecError(f"{where} must be a list of commands")
    out = []
    for i, command in enumerate(value):
        if not isinstance(command, str):
            raise BuildspecError(
                f"{where}[{i}] must be a string, not {type(command).__name__} (quote commands that contain ': ')"
            )
        out.append(command)
    return tuple(out)


def _phases(value) -> dict:
    declared = _mapping(value, "phases")
    unknown = sorted(set(map(str, declared)) - set(COMMAND_PHASES))
    if unknown:
        raise BuildspecError(f"unknown phase {', '.join(unknown)}; allowed: {', '.join(COMMAND_PHASES)}")
    phases = {}
    for name in COMMAND_PHASES:
        if name not in declared:
            continue
        body = _mapping(declared[name], f"phases.{name}")
        _only(body, PHASE_KEYS, f"phases.{name}")
        if body.get("run-as") is not None:
            raise BuildspecError(f"phases.{name}.run-as is not supported by the emulator")
        on_failure = body.get("on-failure")
        if on_failure is not None and on_failure not in ON_FAILURE:
            raise BuildspecError(
                f"phases.{name}.on-failure {on_failure!r} is not supported; allowed: {', '.join(ON_FAILURE)}"
            )
        runtime_versions = _mapping(body.get("runtime-versions"), f"phases.{name}.runtime-versions")
        if runtime_versions and name != "install":
            raise BuildspecError("runtime-versions is allowed in the install phase only")
        phases[name] = Phase(
            name=name,
            commands=_commands(body.get("commands"), f"phases.{name}.commands"),
            finally_commands=_commands(body.get("finally"), f"phases.{name}.finally"),
            on_failure=on_failure,
            runtime_versions={str(k): str(v) for k, v in runtime_versions.items()},
        )
    return phases


def _flag(value, where: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("yes", "true"):
        return True
    if str(value).lower() in ("no", "false"):
        return False
    raise BuildspecError(f"{where} must be yes or no, not {value!r}")


def _artifacts(value) -> Artifacts | None:
    if value is None:
        return None
    body = _mapping(value, "artifacts")
    _only(body, ARTIFACT_KEYS, "artifacts")
    if body.get("secondary-artifacts") is not None:
        raise BuildspecError("artifacts.secondary-artifacts is not supported by the emulator")
    files = _commands(body.get("files"), "artifacts.files")
    if not files:
        raise BuildspecError("artifacts.files must list at least one path or pattern (for example '**/*')")
    base = body.get("base-directory")
    return Artifacts(
        files=files,
        name=_scalar(body["name"], "artifacts.name") if body.get("name") is not None else None,
        discard_paths=_flag(body.get("discard-paths"), "artifacts.discard-paths"),
        base_directory=_scalar(base, "artifacts.base-directory").strip("/") if base is not None else None,
        exclude_paths=_commands(body.get("exclude-paths"), "artifacts.exclude-paths"),
    )


# --- phase sequencing -------------------------------------------------------------------------


def next_phase(phase: str, failed: bool, on_failure: str | None) -> str:
    """The phase that runs after buildspec phase ``phase`` (``install``...): one of the other
    command phases, ``UPLOAD_ARTIFACTS`` or ``FINALIZING``.

    Success, or a failure with ``on-failure: CONTINUE``, goes on in order. ``ABORT`` ends the
    build (FINALIZING). Without ``on-failure``, CodeBuild's default transitions apply: a failed
    install or pre_build ends the build; a failed build still runs post_build; a failed
    post_build still uploads artifacts.
    """
    index = COMMAND_PHASES.index(phase)
    following = COMMAND_PHASES[index + 1] if index + 1 < len(COMMAND_PHASES) else "UPLOAD_ARTIFACTS"
    if not failed or on_failure == "CONTINUE":
        return following
    if on_failure == "ABORT" or phase in ("install", "pre_build"):
        return "FINALIZING"
    return following


# --- environment ------------------------------------------------------------------------------


def check_variables(variables: list | None, where: str) -> list:
    """A project's or override's ``environmentVariables`` list, checked: names, values, types."""
    checked = []
    for i, var in enumerate(variables or []):
        if not isinstance(var, dict) or not var.get("name") or "value" not in var:
            raise BuildspecError(f"{where}[{i}] needs a name and a value")
        kind = var.get("type") or "PLAINTEXT"
        if kind not in VARIABLE_TYPES:
            raise BuildspecError(
                f"{where}[{i}] ({var['name']}) has type {kind!r}; allowed: {', '.join(VARIABLE_TYPES)}"
            )
        checked.append({"name": str(var["name"]), "value": str(var["value"]), "type": kind})
    return checked


def pipeline_variables(configuration_value: str | None) -> list:
    """The CodeBuild action's ``EnvironmentVariables`` configuration (a JSON list) as a list."""
    if not configuration_value:
        return []
    try:
        value = json.loads(configuration_value)
    except ValueError as e:
        raise BuildspecError(f"EnvironmentVariables is not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise BuildspecError('EnvironmentVariables must be a JSON list of {"name", "value", "type"} objects')
    return check_variables(value, "EnvironmentVariables")


def variable_requests(spec: Buildspec, project: list, overrides: list) -> dict:
    """Every variable the build gets, in precedence order (AWS: the StartBuild call wins over
    the project, the project over the buildspec): name -> (type, value); values of
    PARAMETER_STORE and SECRETS_MANAGER are still references to resolve."""
    merged: dict = {}
    for name, value in spec.variables.items():
        merged[name] = ("PLAINTEXT", value)
    for name, value in spec.parameter_store.items():
        merged[name] = ("PARAMETER_STORE", value)
    for name, value in spec.secrets_manager.items():
        merged[name] = ("SECRETS_MANAGER", value)
    for var in [*project, *overrides]:
        merged[var["name"]] = (var["type"], var["value"])
    return merged


def secret_reference(reference: str) -> dict:
    """A SECRETS_MANAGER reference ``secret-id[:json-key[:version-stage[:version-id]]]`` (the
    secret id may be an ARN, which has colons of its own) as its parts."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        secret_id, rest = ":".join(parts[:7]), parts[7:]
    else:
        secret_id, *rest = reference.split(":")
    rest = [*rest, "", "", ""][:3]
    if not secret_id:
        raise BuildspecError(f"secrets reference {reference!r} names no secret")
    return {"secret_id": secret_id, "json_key": rest[0], "version_stage": rest[1], "version_id": rest[2]}


def secret_value(reference: dict, secret_string: str) -> str:
    """The value a resolved secret gives: the whole string, or one key of its JSON."""
    key = reference["json_key"]
    if not key:
        return secret_string
    try:
        doc = json.loads(secret_string)
    except ValueError:
        raise BuildspecError(f"secret {reference['secret_id']} is not JSON, so it has no key {key}") from None
    if not isinstance(doc, dict) or key not in doc:
        raise BuildspecError(f"secret {reference['secret_id']} has no JSON key {key}")
    return _scalar(doc[key], key)


RESERVED_PREFIX = "CODEBUILD_"


def environment(base: dict, variables: dict, codebuild: dict, sandbox: dict) -> dict:
    """The process environment of a build: ``base`` (the host's), the build's ``variables``,
    CodeBuild's own ``CODEBUILD_*`` and region variables, then the ``sandbox`` (endpoint and
    credentials that keep AWS calls in the emulator), which nothing overrides. User variables
    named ``CODEBUILD_*`` are ignored: CodeBuild reserves that prefix."""
    env = dict(base)
    env.update({k: v for k, v in variables.items() if not k.startswith(RESERVED_PREFIX)})
    env.update(codebuild)
    env.update(sandbox)
    return env


# --- shell state between commands ----------------------------------------------------------

# Shell options carried from one command to the next (the rest are the shell's own state).
CARRIED_OPTIONS = ("errexit", "nounset", "pipefail", "xtrace", "noglob", "verbose", "allexport", "noclobber")


def carried_options(set_o_output: str) -> str:
    """The ``set -o``/``set +o`` lines of ``set +o`` output that the next command restores, plus
    bash's ``shopt`` lines."""
    keep = []
    for line in set_o_output.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "set" and words[1] in ("-o", "+o") and words[2] in CARRIED_OPTIONS:
            keep.append(line)
        elif len(words) == 3 and words[0] == "shopt" and words[1] in ("-s", "-u"):
            keep.append(line)
    return "\n".join(keep) + ("\n" if keep else "")


# --- artifacts --------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """A CodeBuild file pattern (``**`` any depth, ``*`` and ``?`` within a name) as a regex."""
    out = []
    parts = pattern.strip("/").split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        piece = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in part)
        out.append(piece if last else piece + "/")
    return re.compile("".join(out) + r"\Z")


def select_artifacts(paths: list[str], artifacts: Artifacts) -> list[tuple[str, str]]:
    """Which files of the source directory (``paths``, POSIX, relative to it) go into the
    artifact, as (path, name in the artifact), sorted by name. BuildspecError when nothing matches
    (CodeBuild: "no matching artifact paths found") or when discard-paths makes two names collide."""
    base = (artifacts.base_directory or "").strip("/")
    prefix = base + "/" if base else ""
    includes = [_pattern_regex(p) for p in artifacts.files]
    excludes = [_pattern_regex(p) for p in artifacts.exclude_paths]
    chosen: dict[str, str] = {}
    for path in sorted(paths):
        if prefix and not path.startswith(prefix):
            continue
        relative = path[len(prefix) :]
        if not any(r.match(relative) for r in includes) or any(r.match(relative) for r in excludes):
            continue
        name = posixpath.basename(relative) if artifacts.discard_paths else relative
        if name in chosen:
            raise BuildspecError(f"artifact files {chosen[name]} and {path} would both be named {name} (discard-paths)")
        chosen[name] = path
    if not chosen:
        where = f" under base-directory {base}" if base else ""
        raise BuildspecError(f"no matching artifact paths found for {', '.join(artifacts.files)}{where}")
    return sorted(((path, name) for name, path in chosen.items()), key=lambda pn: pn[1])
