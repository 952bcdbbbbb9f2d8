"""Runs CodeBuild builds as local processes, phase by phase, as CodeBuild's agent does.

Each build gets a fresh directory under the emulator's temporary folder (``src`` holds the
source, ``tmp`` is its TMPDIR, ``aws`` its AWS CLI files, ``shell`` the state carried between
commands). Phases: SUBMITTED, QUEUED, PROVISIONING (directory, log stream), DOWNLOAD_SOURCE
(source, buildspec, variables), INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS,
FINALIZING, COMPLETED; the buildspec decisions (sequencing, on-failure, variables, artifact
files) are ``core.buildspec``'s.

Every command runs in the buildspec's shell as its own process group (so StopBuild and the
timeout kill everything it started). As in CodeBuild, commands share one shell's state: the
working directory, shell variables (bash; with ``sh``, exported ones) and options such as
``set -e`` carry over to the next command, through files the wrapper writes when a command ends.

The build's AWS calls reach this emulator only: ``AWS_ENDPOINT_URL`` is the emulator's gateway,
``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` are files of the build (the user's profiles
are never read), and ``PATH`` starts with the emulator's own bin directory (its AWS CLI). As in
CodeBuild, the build acts as the project's service role: in PROVISIONING the role is looked up
in IAM (a role that does not exist fails the phase, naming it) and assumed through LocalStack's
STS (session ``AWSCodeBuild-<build uuid>``); its temporary credentials are the build's
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, and the S3 artifact
upload uses them too, so bucket policies (``write_guard``) see the role. Output goes to the
project's CloudWatch Logs stream through the emulator's Logs API.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

from relay_emulator.codebuild import _name_of, codebuild_stores
from relay_emulator.common import describe, err, error_code, internal_client, now, role_credentials, session_name
from relay_emulator.core import buildspec as bs

LOG = logging.getLogger("relay_emulator.codebuild")

# LocalStack's test credentials act as the account's root user.
ROOT_INITIATOR = "root"
# Real seconds per timeout minute, per project (tag); default 60. For tests and demos that
# need a timeout to strike in seconds, since CodeBuild's shortest timeout is 5 minutes.
MINUTE_TAG = "relay:emulator-minute-seconds"
MIN_TIMEOUT, MAX_TIMEOUT = 5, 2160
SOURCE_TYPES = ("NO_SOURCE", "S3")
ARTIFACT_TYPES = ("NO_ARTIFACTS", "S3")
# StartBuild parameters that would change what the build does but are not emulated.
UNSUPPORTED_OVERRIDES = (
    "artifactsOverride",
    "secondarySourcesOverride",
    "secondarySourcesVersionOverride",
    "secondaryArtifactsOverride",
    "sourceAuthOverride",
    "cacheOverride",
    "registryCredentialOverride",
    "fleetOverride",
    "debugSessionEnabled",
)
# Host variables a build inherits; everything else (the emulator's own settings, the user's
# AWS_* variables) stays out.
INHERITED = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
LOG_FLUSH_SECONDS = 0.5
_NUMBERS_LOCK = threading.Lock()  # build numbers are per project, counted across threads
LOG_BATCH = 1000


class PhaseFailed(Exception):
    """A phase failed: the context (status code and message) its phase reports."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class PipelineInput:
    """What a pipeline's CodeBuild action gives a build: its input artifacts (the primary one is
    the source) and the source revision they carry."""

    pipeline_name: str
    primary: dict  # {bucket, key, region}
    secondary: dict  # artifact name -> {bucket, key, region}
    revision: str | None
    wants_artifact: bool  # the action declares an output artifact


def start_build(account: str, region: str, request: dict, *, initiator: str, pipeline: PipelineInput | None = None):
    """Check a StartBuild request, record the build (IN_PROGRESS) and run it on its own thread."""
    store = codebuild_stores[account][region]
    name = _name_of(request.get("projectName") or "")
    project = store.projects.get(name)
    if project is None:
        raise err(
            "ResourceNotFoundException", f"Project cannot be found: arn:aws:codebuild:{region}:{account}:project/{name}"
        )
    for parameter in UNSUPPORTED_OVERRIDES:
        if request.get(parameter) is not None:
            raise err("InvalidInputException", f"{parameter} is not supported by the emulator's CodeBuild")
    source_type = request.get("sourceTypeOverride") or (project.get("source") or {}).get("type")
    if pipeline is None:
        if source_type == "CODEPIPELINE":
            raise err(
                "InvalidInputException",
                f"Project {name} has source type CODEPIPELINE: "
                "its builds are started by the pipeline's CodeBuild action",
            )
        if source_type not in SOURCE_TYPES:
            raise err(
                "InvalidInputException",
                f"Source type {source_type} is not emulated; allowed: {', '.join(SOURCE_TYPES)} (and CODEPIPELINE "
                "through a pipeline)",
            )
        artifact_type = (project.get("artifacts") or {}).get("type")
        if artifact_type not in ARTIFACT_TYPES:
            raise err(
                "InvalidInputException",
                f"Artifacts type {artifact_type} is not emulated for StartBuild; allowed: {', '.join(ARTIFACT_TYPES)}",
            )
    timeout = request.get("timeoutInMinutesOverride")
    if timeout is not None and not MIN_TIMEOUT <= int(timeout) <= MAX_TIMEOUT:
        raise err(
            "InvalidInputException",
            f"timeoutInMinutesOverride {timeout} is out of range; allowed: {MIN_TIMEOUT} to {MAX_TIMEOUT} minutes",
        )
    try:
        overrides = bs.check_variables(request.get("environmentVariablesOverride"), "environmentVariablesOverride")
        project_vars = bs.check_variables(
            (project.get("environment") or {}).get("environmentVariables"), "environment.environmentVariables"
        )
    except bs.BuildspecError as e:
        raise err("InvalidInputException", str(e)) from None
    buildspec = request.get("buildspecOverride") or (project.get("source") or {}).get("buildspec")
    if source_type == "NO_SOURCE" and bs.buildspec_reference(buildspec)[0] == "file":
        raise err("InvalidInputException", f"Project {name} has no source: its buildspec must be given inline")
    with _NUMBERS_LOCK:
        number = store.build_numbers.get(name, 0) + 1
        store.build_numbers[name] = number
        build = Build(account, region, project, request, number, initiator, pipeline, project_vars, overrides)
        store.builds[build.id] = build
    threading.Thread(target=build.run, name=f"relay-codebuild-{build.id}", daemon=True).start()
    LOG.info("codebuild %s: build %s started by %s", name, build.id, initiator)
    return build


def service_role_arn(value: str | None, account: str) -> str | None:
    """The ARN of a project's ``serviceRole`` (CodeBuild accepts a role name or ARN)."""
    if not value:
        return None
    return value if value.startswith("arn:") else f"arn:aws:iam::{account}:role/{value}"


def _gateway_url() -> str:
    from localstack import config

    listen = config.GATEWAY_LISTEN[0]
    host = listen.host if listen.host not in ("", "0.0.0.0", "::", "[::]") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{listen.port}"


def _minute_seconds(project: dict) -> float:
    for tag in project.get("tags") or []:
        if tag.get("key") == MINUTE_TAG:
            try:
                value = float(tag.get("value"))
            except (TypeError, ValueError):
                value = 0
            if value > 0:
                return value
            LOG.warning("codebuild: tag %s=%r is not a positive number; using 60", MINUTE_TAG, tag.get("value"))
    return 60.0


class BuildLog:
    """The build's CloudWatch Logs stream: lines are buffered and sent every half second."""

    def __init__(self, account: str, region: str, group: str | None, stream: str | None):
        self.group, self.stream = group, stream
        self._client = internal_client("logs", region, account) if group else None
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.error: str | None = None

    def open(self) -> None:
        """Create the group (if missing) and the stream."""
        if self._client is None:
            return
        try:
            self._client.create_log_group(logGroupName=self.group)
        except self._client.exceptions.ResourceAlreadyExistsException:
            pass
        self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def write(self, message: str) -> None:
        with self._lock:
            self._events.append({"timestamp": int(time.time() * 1000), "message": message})

    def flush(self) -> None:
        if self._client is None:
            return
        with self._send_lock:
            with self._lock:
                events, self._events = self._events, []
            for i in range(0, len(events), LOG_BATCH):
                try:
                    self._client.put_log_events(
                        logGroupName=self.group, logStreamName=self.stream, logEvents=events[i : i + LOG_BATCH]
                    )
                except Exception as e:  # the build goes on; its logs say nothing more
                    self.error = describe(e)
                    LOG.warning("codebuild: could not write logs to %s/%s: %s", self.group, self.stream, self.error)


def _zip(files: list[tuple[Path, str]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, name in files:
            info = zipfile.ZipInfo.from_file(path, name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def _unzip(data: bytes, target: Path, what: str) -> None:
    """Extract a source zip, keeping the files' permission bits (scripts stay executable)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, target))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    path.chmod(mode)
    except zipfile.BadZipFile:
        raise PhaseFailed("CLIENT_ERROR", f"{what} is not a zip file") from None


class Build:
    """One build: what BatchGetBuilds reports, and the run that produces it."""

    def __init__(
        self,
        account: str,
        region: str,
        project: dict,
        request: dict,
        number: int,
        initiator: str,
        pipeline: PipelineInput | None,
        project_vars: list,
        overrides: list,
    ):
        self.account, self.region, self.project, self.pipeline = account, region, project, pipeline
        self.project_name = project["name"]
        self.uuid = str(uuid.uuid4())
        self.id = f"{self.project_name}:{self.uuid}"
        self.arn = f"arn:aws:codebuild:{region}:{account}:build/{self.id}"
        self.number = number
        self.initiator = initiator
        self.service_role = service_role_arn(project.get("serviceRole"), account)
        self.session = session_name("AWSCodeBuild", self.uuid)
        self._credentials: dict | None = None  # the service role's, from PROVISIONING on
        self.project_vars, self.overrides = project_vars, overrides
        self.source = dict(project.get("source") or {})
        if request.get("sourceTypeOverride"):
            self.source["type"] = request["sourceTypeOverride"]
        if request.get("sourceLocationOverride"):
            self.source["location"] = request["sourceLocationOverride"]
        self.buildspec_value = request.get("buildspecOverride") or self.source.get("buildspec")
        self.timeout_minutes = int(request.get("timeoutInMinutesOverride") or project.get("timeoutInMinutes") or 60)
        self.timeout_seconds = self.timeout_minutes * _minute_seconds(project)
        if pipeline is not None:
            self.source = {"type": "CODEPIPELINE"}
            self.source_version = f"arn:aws:s3:::{pipeline.primary['bucket']}/{pipeline.primary['key']}"
        else:
            self.source_version = request.get("sourceVersion")
        self.resolved_source_version: str | None = None
        logs_config = request.get("logsConfigOverride") or project.get("logsConfig") or {}
        cw = logs_config.get("cloudWatchLogs") or {}
        if cw.get("status") == "DISABLED":
            self.log = BuildLog(account, region, None, None)
        else:
            prefix = cw.get("streamName")
            stream = f"{prefix}/{self.uuid}" if prefix else self.uuid
            self.log = BuildLog(account, region, cw.get("groupName") or f"/aws/codebuild/{self.project_name}", stream)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.status = "IN_PROGRESS"
        self.current_phase = "SUBMITTED"
        self.phases: list[dict] = []
        self.start_time = now()
        self.end_time = None
        self.failed = False
        self.interrupt: str | None = None  # STOPPED or TIMED_OUT
        self.artifact: bytes | None = None  # the zip a pipeline's output artifact gets
        self.artifact_location = ""
        self._deadline = time.monotonic() + self.timeout_seconds
        self._procs: list[subprocess.Popen] = []
        self._dir = Path(tempfile.gettempdir()) / "relay-codebuild" / f"{self.project_name}-{self.uuid}"
        self._src = self._dir / "src"
        self._env: dict = {}
        self._spec: bs.Buildspec | None = None

    # --- what the API reports -----------------------------------------------------------

    def describe(self) -> dict:
        """The build as BatchGetBuilds reports it."""
        with self.lock:
            environment = dict(self.project.get("environment") or {})
            merged = {v["name"]: v for v in [*self.project_vars, *self.overrides]}
            environment["environmentVariables"] = list(merged.values())
            out = {
                "id": self.id,
                "arn": self.arn,
                "buildNumber": self.number,
                "startTime": self.start_time,
                "currentPhase": self.current_phase,
                "buildStatus": self.status,
                "projectName": self.project_name,
                "phases": [dict(p) for p in self.phases],
                "source": self.source,
                "secondarySources": [],
                "artifacts": {"location": self.artifact_location},
                "environment": environment,
                "serviceRole": self.project.get("serviceRole"),
                "logs": self._logs(),
                "timeoutInMinutes": self.timeout_minutes,
                "queuedTimeoutInMinutes": self.project.get("queuedTimeoutInMinutes", 480),
                "buildComplete": self.end_time is not None,
                "initiator": self.initiator,
                "encryptionKey": self.project.get("encryptionKey"),
            }
            if self.source_version:
                out["sourceVersion"] = self.source_version
            if self.resolved_source_version:
                out["resolvedSourceVersion"] = self.resolved_source_version
            if self.end_time:
                out["endTime"] = self.end_time
            return out

    def _logs(self) -> dict:
        if self.log.group is None:
            return {"cloudWatchLogs": {"status": "DISABLED"}, "s3Logs": {"status": "DISABLED"}}
        group, stream = self.log.group, self.log.stream
        return {
            "groupName": group,
            "streamName": stream,
            "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logEvent:group={group};stream={stream}",
            "cloudWatchLogsArn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}:log-stream:{stream}",
            "cloudWatchLogs": {"status": "ENABLED", "groupName": group, "streamName": stream},
            "s3Logs": {"status": "DISABLED"},
        }

    def failure(self) -> tuple[str, str]:
        """(phase, context message) of the phase that decided the build's status."""
        with self.lock:
            for phase in self.phases:
                if phase.get("phaseStatus") not in (None, "SUCCEEDED"):
                    contexts = phase.get("contexts") or [{}]
                    return phase["phaseType"], contexts[0].get("message") or phase["phaseStatus"]
        return self.current_phase, self.status

    # --- control ------------------------------------------------------------------------

    def stop(self) -> None:
        """StopBuild: the running command's process group is killed; the build ends STOPPED."""
        self._interrupt("STOPPED")

    def _interrupt(self, why: str) -> None:
        with self.lock:
            if self.end_time is not None or self.interrupt:
                return
            self.interrupt = why
        self._kill_all()

    def _kill_all(self) -> None:
        with self.lock:
            procs = list(self._procs)
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # --- the run ------------------------------------------------------------------------

    def run(self) -> None:
        """Run every phase and record the outcome (the build thread's body)."""
        flusher = threading.Thread(
            target=self._flush_periodically, name=f"relay-codebuild-logs-{self.uuid}", daemon=True
        )
        try:
            self._instant("SUBMITTED", self.start_time)
            self._instant("QUEUED", now())
            if self._phase("PROVISIONING", self._provision):
                flusher.start()
                if self._phase("DOWNLOAD_SOURCE", self._download_source) and self._command_phases():
                    self._phase("UPLOAD_ARTIFACTS", self._upload_artifacts)
            self._leave(self._enter("FINALIZING"), "SUCCEEDED")
            status = self.interrupt or ("FAILED" if self.failed else "SUCCEEDED")
        except Exception as e:  # emulator bug: the build faults visibly instead of hanging
            LOG.exception("codebuild: build %s crashed", self.id)
            self._say(f"Internal emulator error: {type(e).__name__}: {e}")
            status = "FAULT"
        finally:
            self._kill_all()
        # the logs are complete before the status says the build has ended
        self._say(f"Build {self.id} completed: {status}")
        self.log.flush()
        with self.lock:
            self.phases.append({"phaseType": "COMPLETED", "startTime": now()})
            self.current_phase = "COMPLETED"
            self.status = status
            self.end_time = now()
        shutil.rmtree(self._dir, ignore_errors=True)
        self.done.set()
        LOG.info("codebuild %s: build %s %s", self.project_name, self.id, status)

    def _flush_periodically(self) -> None:
        while not self.done.wait(LOG_FLUSH_SECONDS):
            self.log.flush()

    def _say(self, message: str) -> None:
        """A line of the agent, in CodeBuild's ``[Container]`` form."""
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
        self.log.write(f"[Container] {stamp}.{int(time.time() * 1e6) % 1_000_000:06d} {message}\n")

    def _instant(self, phase: str, started) -> None:
        with self.lock:
            self.phases.append(
                {
                    "phaseType": phase,
                    "phaseStatus": "SUCCEEDED",
                    "startTime": started,
                    "endTime": now(),
                    "durationInSeconds": 0,
                }
            )

    def _enter(self, phase: str) -> float:
        with self.lock:
            self.current_phase = phase
            self.phases.append({"phaseType": phase, "startTime": now()})
        self._say(f"Entering phase {phase}")
        return time.monotonic()

    def _leave(self, started: float, status: str, code: str = "", message: str = "") -> None:
        with self.lock:
            phase = self.phases[-1]
            phase.update(
                {
                    "phaseStatus": status,
                    "endTime": now(),
                    "durationInSeconds": round(time.monotonic() - started),
                    "contexts": [{"statusCode": code, "message": message}],
                }
            )
            if status != "SUCCEEDED":
                self.failed = True
        self._say(f"Phase complete: {phase['phaseType']} State: {status}")
        self._say(f"Phase context status code: {code} Message: {message}")

    def _phase(self, phase: str, body) -> bool:
        """Run a phase that is not a buildspec phase; True when it succeeded."""
        started = self._enter(phase)
        try:
            body()
        except PhaseFailed as e:
            self._leave(started, self.interrupt or "FAILED", e.code, str(e))
            return False
        if self.interrupt:
            self._leave(started, self.interrupt, self.interrupt, f"Build {self.interrupt.lower().replace('_', ' ')}")
            return False
        self._leave(started, "SUCCEEDED")
        return True

    def _command_phases(self) -> bool:
        """INSTALL to POST_BUILD as the buildspec and CodeBuild's transitions say; True when the
        build goes on to UPLOAD_ARTIFACTS."""
        name = bs.COMMAND_PHASES[0]
        while name in bs.COMMAND_PHASES:
            phase = self._spec.phase(name)
            started = self._enter(name.upper())
            if phase.runtime_versions:
                self._say("runtime-versions are not applied: the build uses the host's tools")
            failure = self._run_commands(phase)
            if self.interrupt:
                reason = "Build timed out" if self.interrupt == "TIMED_OUT" else "Build stopped"
                self._leave(started, self.interrupt, self.interrupt, reason)
                return False
            if failure:
                self._leave(started, "FAILED", "COMMAND_EXECUTION_ERROR", failure)
            else:
                self._leave(started, "SUCCEEDED")
            name = bs.next_phase(name, failure is not None, phase.on_failure)
        return name == "UPLOAD_ARTIFACTS"

    def _run_commands(self, phase: bs.Phase) -> str | None:
        """Run a phase's commands, then its ``finally`` commands; the failure context or None."""
        failure = None
        for command in phase.commands:
            failure = self._command(command)
            if failure or self.interrupt:
                break
        for command in phase.finally_commands:
            if self.interrupt:
                break
            failed = self._command(command)
            if failed:
                failure = failure or failed
                break
        return failure

    # --- phases' bodies -----------------------------------------------------------------

    def _provision(self) -> None:
        for sub in ("src", "tmp", "aws", "shell"):
            (self._dir / sub).mkdir(parents=True, exist_ok=True)
        try:
            self.log.open()
        except Exception as e:
            raise PhaseFailed("CLIENT_ERROR", f"Could not create log stream {self.log.stream}: {describe(e)}") from None
        self._say(f"Running on relay's emulator: local process in {self._dir} (no container)")
        self._credentials = self._assume_service_role()
        self._say(f"Acting as service role {self.service_role} (session {self.session})")

    def _assume_service_role(self) -> dict:
        """The service role's temporary credentials; fails naming the role when it cannot be assumed."""
        role = self.service_role
        parts = (role or "").split(":", 5)
        if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
            raise PhaseFailed(
                "CLIENT_ERROR",
                f"Service role {role} of project {self.project_name} is not an IAM role ARN "
                "(arn:aws:iam::<account>:role/<name>)",
            )
        name = parts[5].rsplit("/", 1)[-1]
        try:
            internal_client("iam", self.region, parts[4] or self.account).get_role(RoleName=name)
        except Exception as e:
            if error_code(e) == "NoSuchEntity":
                raise PhaseFailed(
                    "CLIENT_ERROR",
                    f"Service role {role} does not exist, so CodeBuild cannot assume it: create the role or set "
                    f"project {self.project_name}'s serviceRole to an existing role",
                ) from None
            raise PhaseFailed("CLIENT_ERROR", f"Could not look up service role {role}: {describe(e)}") from None
        try:
            return role_credentials(role, self.session, self.region)
        except Exception as e:
            raise PhaseFailed("CLIENT_ERROR", f"Could not assume service role {role}: {describe(e)}") from None

    def _download_source(self) -> None:
        kind = self.source.get("type")
        if kind == "CODEPIPELINE":
            self._pipeline_source()
        elif kind == "S3":
            self._s3_source()
        if self.resolved_source_version is None and self.source_version and kind != "CODEPIPELINE":
            self.resolved_source_version = self.source_version
        self._spec = self._read_buildspec()
        for section in self._spec.ignored:
            self._say(f"Section {section} of the buildspec is not emulated; ignored")
        self._env = self._environment()
        self._say(f"Moving to directory {self._src}")

    def _get(self, bucket: str, key: str, region: str, version: str | None = None) -> dict:
        params = {"Bucket": bucket, "Key": key}
        if version:
            params["VersionId"] = version
        try:
            obj = internal_client("s3", region, self.account).get_object(**params)
        except Exception as e:
            raise PhaseFailed("CLIENT_ERROR", f"Could not read s3://{bucket}/{key}: {describe(e)}") from None
        obj["Data"] = obj["Body"].read()
        return obj

    def _pipeline_source(self) -> None:
        p = self.pipeline
        primary = self._get(p.primary["bucket"], p.primary["key"], p.primary["region"])
        _unzip(primary["Data"], self._src, "The input artifact")
        self.resolved_source_version = p.revision or primary.get("VersionId")
        for name, loc in p.secondary.items():
            target = self._dir / f"src_{name}"
            target.mkdir()
            _unzip(self._get(loc["bucket"], loc["key"], loc["region"])["Data"], target, f"Input artifact {name}")

    def _s3_source(self) -> None:
        location = self.source.get("location") or ""
        bucket, _, key = location.partition("/")
        if not bucket or not key:
            raise PhaseFailed("CLIENT_ERROR", f"S3 source location {location!r} must be bucket/key of a zip file")
        obj = self._get(bucket, key, self.region, self.source_version)
        _unzip(obj["Data"], self._src, f"s3://{bucket}/{key}")
        self.resolved_source_version = obj.get("VersionId")

    def _read_buildspec(self) -> bs.Buildspec:
        kind, ref = bs.buildspec_reference(self.buildspec_value)
        if kind == "inline":
            text = ref
        elif kind == "s3":
            bucket, _, key = ref.partition("/")
            text = self._get(bucket, key, self.region)["Data"].decode("utf-8", "replace")
        else:
            path = (self._src / ref).resolve()
            if not path.is_relative_to(self._src.resolve()) or not path.is_file():
                raise PhaseFailed("YAML_FILE_ERROR", f"buildspec file {ref} does not exist in the source")
            text = path.read_text("utf-8", "replace")
        try:
            return bs.parse(text)
        except bs.BuildspecError as e:
            raise PhaseFailed("YAML_FILE_ERROR", str(e)) from None

    def _resolve(self, name: str, kind: str, value: str) -> str:
        try:
            if kind == "PARAMETER_STORE":
                ssm = internal_client("ssm", self.region, self.account)
                return ssm.get_parameter(Name=value, WithDecryption=True)["Parameter"]["Value"]
            if kind == "SECRETS_MANAGER":
                ref = bs.secret_reference(value)
                params = {"SecretId": ref["secret_id"]}
                if ref["version_stage"]:
                    params["VersionStage"] = ref["version_stage"]
                if ref["version_id"]:
                    params["VersionId"] = ref["version_id"]
                secret = internal_client("secretsmanager", self.region, self.account).get_secret_value(**params)
                return bs.secret_value(ref, secret.get("SecretString") or "")
        except bs.BuildspecError as e:
            raise PhaseFailed("CLIENT_ERROR", f"Variable {name}: {e}") from None
        except Exception as e:
            where = "parameter" if kind == "PARAMETER_STORE" else "secret"
            raise PhaseFailed(
                "CLIENT_ERROR", f"Variable {name}: could not read {where} {value}: {describe(e)}"
            ) from None
        return value

    def _environment(self) -> dict:
        requests = bs.variable_requests(self._spec, self.project_vars, self.overrides)
        variables = {name: self._resolve(name, kind, value) for name, (kind, value) in requests.items()}
        aws_dir = self._dir / "aws"
        (aws_dir / "config").write_text(
            f"[default]\nregion = {self.region}\noutput = json\ns3 =\n    addressing_style = path\n"
        )
        creds = self._credentials
        (aws_dir / "credentials").write_text(
            f"[default]\naws_access_key_id = {creds['AccessKeyId']}\n"
            f"aws_secret_access_key = {creds['SecretAccessKey']}\naws_session_token = {creds['SessionToken']}\n"
        )
        bin_dir = str(Path(sys.prefix) / "bin")
        base = {k: os.environ[k] for k in INHERITED if k in os.environ}
        base["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH") or os.defpath])
        base["TMPDIR"] = str(self._dir / "tmp")
        codebuild = {
            "CODEBUILD_BUILD_ID": self.id,
            "CODEBUILD_BUILD_ARN": self.arn,
            "CODEBUILD_BUILD_NUMBER": str(self.number),
            "CODEBUILD_INITIATOR": self.initiator,
            "CODEBUILD_SRC_DIR": str(self._src),
            "CODEBUILD_SOURCE_VERSION": self.source_version or "",
            "CODEBUILD_RESOLVED_SOURCE_VERSION": self.resolved_source_version or "",
            "CODEBUILD_BUILD_IMAGE": (self.project.get("environment") or {}).get("image", ""),
            "CODEBUILD_KMS_KEY_ID": self.project.get("encryptionKey") or "",
            "CODEBUILD_LOG_PATH": self.log.stream or "",
            "CODEBUILD_START_TIME": str(int(self.start_time.timestamp() * 1000)),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }
        if self.pipeline is not None:
            for name in self.pipeline.secondary:
                codebuild[f"CODEBUILD_SRC_DIR_{name}"] = str(self._dir / f"src_{name}")
        sandbox = {
            "AWS_ENDPOINT_URL": _gateway_url(),
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
            "AWS_CONFIG_FILE": str(aws_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws_dir / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        return bs.environment(base, variables, codebuild, sandbox)

    def _upload_artifacts(self) -> None:
        spec = self._spec.artifacts
        wants = (
            self.pipeline.wants_artifact if self.pipeline else (self.project.get("artifacts") or {}).get("type") == "S3"
        )
        if not wants:
            return
        if spec is None:
            raise PhaseFailed(
                "CLIENT_ERROR", "the build has an output artifact, but the buildspec has no artifacts section"
            )
        paths = [p.relative_to(self._src).as_posix() for p in self._src.rglob("*") if p.is_file()]
        try:
            chosen = bs.select_artifacts(paths, spec)
        except bs.BuildspecError as e:
            raise PhaseFailed("CLIENT_ERROR", str(e)) from None
        files = [(self._src / path, name) for path, name in chosen]
        self._say(f"Uploading {len(files)} artifact file(s)")
        if self.pipeline is not None:
            self.artifact = _zip(files)
            return
        self._upload_s3(files, spec)

    def _upload_s3(self, files: list[tuple[Path, str]], spec: bs.Artifacts) -> None:
        cfg = self.project.get("artifacts") or {}
        name = (spec.name if cfg.get("overrideArtifactName") and spec.name else None) or cfg.get("name") or self.uuid
        parts = [cfg.get("path"), self.uuid if cfg.get("namespaceType") == "BUILD_ID" else None, name]
        key = "/".join(p.strip("/") for p in parts if p)
        bucket = cfg.get("location")
        s3 = internal_client("s3", self.region, self.account, credentials=self._credentials)
        try:
            if cfg.get("packaging") == "ZIP":
                s3.put_object(Bucket=bucket, Key=key, Body=_zip(files))
            else:
                for path, inner in files:
                    s3.put_object(Bucket=bucket, Key=f"{key}/{inner}", Body=path.read_bytes())
        except Exception as e:
            raise PhaseFailed(
                "CLIENT_ERROR", f"Could not upload artifacts to s3://{bucket}/{key}: {describe(e)}"
            ) from None
        with self.lock:
            self.artifact_location = f"arn:aws:s3:::{bucket}/{key}"

    # --- commands -----------------------------------------------------------------------

    def _wrapper(self) -> str:
        """The script that runs one command in the state the previous one left."""
        state = self._dir / "shell"
        forced = {k: v for k, v in self._env.items() if k.startswith(bs.RESERVED_PREFIX) or k.startswith("AWS_")}
        forced["CODEBUILD_BUILD_SUCCEEDING"] = "0" if self.failed else "1"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in forced.items())
        if self._spec.shell == "bash":
            save_vars = (
                "  for __relay_n in $(compgen -v); do\n"
                "    case $__relay_n in __relay_*|BASH*|EUID|PPID|UID|SHELLOPTS|PIPESTATUS|FUNCNAME|GROUPS|DIRSTACK|"
                "RANDOM|SRANDOM|SECONDS|LINENO|EPOCH*|HISTCMD|_|PWD|OLDPWD|SHLVL|OPTIND|OPTARG|OPTERR|IFS|PS?|"
                "COLUMNS|LINES|CODEBUILD_*) continue;; esac\n"
                '    __relay_a="${!__relay_n@a}"\n'
                "    case $__relay_a in *r*) continue;; *[aA]*) declare -p $__relay_n;; "
                '*) printf "%s\\n" "${!__relay_n@A}";; esac\n'
                f"  done > {shlex.quote(str(state / 'vars.sh'))}\n"
                f"  shopt -p >> {shlex.quote(str(state / 'options.raw'))}\n"
            )
        else:
            save_vars = f"  export -p > {shlex.quote(str(state / 'vars.sh'))}\n"
        q = shlex.quote
        return (
            f"[ -f {q(str(state / 'vars.sh'))} ] && . {q(str(state / 'vars.sh'))}\n"
            f"{exports}"
            "__relay_save() {\n"
            f"  set +o > {q(str(state / 'options.raw'))}\n"
            "  set +e +u\n"
            f"  pwd > {q(str(state / 'cwd'))}\n"
            f"{save_vars}"
            "}\n"
            "trap '__relay_rc=$?; trap - EXIT; __relay_save; exit $__relay_rc' EXIT\n"
            f"[ -f {q(str(state / 'options.sh'))} ] && . {q(str(state / 'options.sh'))}\n"
            f". {q(str(state / 'command.sh'))}\n"
        )

    def _command(self, command: str) -> str | None:
        """Run one command; the failure context, or None when it succeeded (or was interrupted)."""
        state = self._dir / "shell"
        self._say(f"Running command {command}")
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self._interrupt("TIMED_OUT")
            return None
        (state / "command.sh").write_text(command + "\n")
        (state / "run.sh").write_text(self._wrapper())
        cwd_file = state / "cwd"
        cwd = Path(cwd_file.read_text().strip()) if cwd_file.exists() else self._src
        proc = subprocess.Popen(
            [self._spec.shell, str(state / "run.sh")],
            cwd=cwd if cwd.is_dir() else self._src,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: StopBuild and the timeout kill it all
        )
        with self.lock:
            self._procs.append(proc)
            interrupted = self.interrupt
        if interrupted:
            self._kill_all()
        pump = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        pump.start()
        try:
            rc = proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            self._interrupt("TIMED_OUT")
            rc = proc.wait()
        # a background process the command started may keep the pipe open: do not wait for it
        pump.join(timeout=1)
        options = state / "options.raw"
        if options.exists():
            (state / "options.sh").write_text(bs.carried_options(options.read_text()))
        if self.interrupt or rc == 0:
            return None
        self._say(f"Command did not exit successfully {command} exit status {rc}")
        return f"Error while executing command: {command}. Reason: exit status {rc}"

    def _pump(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.log.write(line.decode("utf-8", "replace"))
        stream.close()
