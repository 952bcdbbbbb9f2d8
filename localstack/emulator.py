#!/usr/bin/env python3
"""Launcher for relay's local AWS emulator (open-source LocalStack + the relay plugin).

Standard library only, runnable by any Python >= 3.9 (the system's python3, outside the app's
environment), while LocalStack itself needs Python >= 3.12: the launcher finds such an
interpreter, builds a dedicated venv for the emulator and runs LocalStack from it, on the host
(no Docker). `python localstack/emulator.py VERB --help` describes each verb::

    start    build the venv if needed, start in the background, wait until healthy
    stop     stop the emulator this state dir started (a few seconds), children included
    status   exit 0 when running, 3 when stopped
    logs     print the last lines of the emulator log (-n LINES)
    wait     wait until healthy (does not start)
    clean    stop, delete logs and data (--all: the venv too); git repositories are kept
    repo     create the local git repository behind a connection (owner/name), print its push URL
    region   inject faults: `region down|up REGION`, `region delay REGION SECONDS [--count N]`
    faults   print the injected faults (--clear: remove them all)

Every verb takes `--port` (default `RELAY_EMULATOR_PORT`, else 4566).

Environment:
    RELAY_STATE_DIR          state root (default <repo>/.relay); this emulator's files live in <root>/emulator/
    RELAY_EMULATOR_PORT      port on 127.0.0.1 (default 4566)
    RELAY_EMULATOR_VENV      the emulator's venv (default <root>/emulator/venv); several state dirs may share one
    RELAY_EMULATOR_PYTHON    Python >= 3.12 to build the venv with (else searched)
    RELAY_EMULATOR_TIMEOUT   seconds to wait for health on start (default 180)
    RELAY_EMULATOR_PERSIST   0: the emulator's state is not saved at stop nor restored at start (default 1)

Set-up: the venv is built with uv when it is available (`uv` on PATH, or `python -m uv` in the
interpreter running the launcher), else with pip. A stamp in the venv records hashes of
`requirements.txt` and of the plugin source; a change reinstalls what changed.

Own folder: LocalStack decides that it runs in a container on hosts that look like one (a
container marker, a docker cgroup, a containerd root mount), and then ignores
`LOCALSTACK_VOLUME_DIR`, keeps its files in /var/lib/localstack and /tmp/localstack and wipes
/tmp/localstack at start-up, so a second emulator on the machine would destroy the first one's
files. The launcher therefore starts LocalStack with `OVERRIDE_IN_DOCKER=0`, which selects its
host layout rooted at `FILESYSTEM_ROOT=<root>/emulator/filesystem` (LocalStack re-roots its
temporary folder there too, hence the repeated path below it), with its own
`TMPDIR=<root>/emulator/tmp` for everything LocalStack and its libraries put in temporary files
(LocalStack logs a deprecation warning for TMPDIR, a variable it once read itself: harmless), and
with `XDG_CACHE_HOME=<root>/emulator/cache` for its plugin index. LocalStack's S3 spools object
bodies to a fixed /tmp/localstack-s3-storage; the relay plugin moves that into LocalStack's
temporary folder (`relay_emulator.storage`). Two state dirs with two ports are two independent
emulators.

Stop: SIGTERM starts LocalStack's orderly shutdown (usually 1-3 s); what still runs after a few
seconds, the process and every process of its group or below it, is killed. Only the process the
pid file names, and only while its command line is LocalStack's and its working directory is this
state dir's, counts as this emulator.

Git host: `repo owner/name` creates the bare repository `<root>/emulator/git/<owner>/<name>.git`
(with the hook that tells the running emulator about pushes) and prints the URL plain `git push`
accepts; it works whether or not the emulator runs. LocalStack gets the folder as
`RELAY_EMULATOR_GIT_ROOT`; the plugin's connection source action and push triggers read it.

Launch settings: `CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0` unless the caller's environment sets
it, so that CloudFormation fails a stack with a resource type LocalStack cannot create instead
of reporting CREATE_COMPLETE for a resource that does not exist. `PROVIDER_OVERRIDE_DYNAMODB=relay`
and `PROVIDER_OVERRIDE_DYNAMODBSTREAMS=relay`: the plugin's moto-backed DynamoDB and DynamoDB Streams
(LocalStack's DynamoDB downloads DynamoDB Local at first use). `RELAY_HEALTH_CHECK_INTERVAL_SECONDS=1`
unless the caller's environment sets it: Route 53 health checks probe every second instead of their
RequestInterval (10 or 30 s). `PERSISTENCE=0` (LocalStack's own persistence, which the community
edition does not implement) and `RELAY_EMULATOR_PERSISTENCE_DIR=<root>/emulator/persistence`: the
plugin saves every service's state there (at `stop`, and every few seconds while running, with a
journal of S3 object writes for `kill -9`) and `start` restores it (see the plugin's persistence.py);
`clean` deletes it; `RELAY_EMULATOR_PERSIST=0` turns it off (state in memory only, discarded at stop).

Importable API (for the tools, the plugin suite and the benchmark)::

    health(endpoint=None) -> dict | None    LocalStack's health document, None when nothing answers
    plugin_ready(doc) -> bool               the document lists every relay plugin service as usable
    endpoint() -> str                       http://127.0.0.1:<RELAY_EMULATOR_PORT>
    with running(echo=False) as url: ...    start unless a healthy emulator answers; on exit, stop it
                                            if it was started this way and no parallel session uses it
    Emulator(port=None, echo=False)         one state dir's emulator: acquire(), release(), stop(), ...
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
# The launcher runs outside the app's environment; these two helpers of the repository are stdlib-only.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from config.paths import emulator_dir  # noqa: E402
from tools.wait import WaitTimeout, wait_for  # noqa: E402

REQUIREMENTS = HERE / "requirements.txt"
PLUGIN_DIR = HERE / "plugin"

# Services the relay plugin adds; start waits until LocalStack lists all of them, which
# proves the plugin distribution is installed and its entry points were discovered.
PLUGIN_SERVICES = ("codepipeline", "codebuild", "cloudtrail", "codestar-connections")
MIN_PY = (3, 12)
VERBS = ("start", "stop", "status", "logs", "wait", "clean", "repo", "region", "faults")
DEFAULT_PORT = 4566

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3

# LocalStack's SIGTERM handler stops its services, then gives the gateway's worker threads up to
# 10 s to finish, and the interpreter then still waits for any worker (a non-daemon thread) that
# is busy. Past this grace the process tree is killed: with PERSISTENCE=0 there is nothing left
# to save, and the launcher removes the temporary files itself.
STOP_GRACE = 3.0
# With persistence on, SIGTERM first waits (at most this long) for the plugin to save the state.
SAVE_GRACE = float(os.environ.get("RELAY_EMULATOR_SAVE_TIMEOUT", "120"))
KILL_GRACE = 5.0


class LauncherError(Exception):
    """An error reported to the user as one clear message (plus, where useful, the log's tail)."""


# --------------------------------------------------------------------------- configuration


def port_from_env(environ: dict | None = None) -> int:
    """`RELAY_EMULATOR_PORT` as a port number (default 4566)."""
    raw = (os.environ if environ is None else environ).get("RELAY_EMULATOR_PORT", str(DEFAULT_PORT))
    try:
        return _checked_port(int(raw))
    except ValueError:
        raise LauncherError(f"RELAY_EMULATOR_PORT must be a port number (1-65535), got {raw!r}") from None


def _checked_port(value: int) -> int:
    if not 0 < value < 65536:
        raise LauncherError(f"port must be between 1 and 65535, got {value}")
    return value


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def endpoint() -> str:
    """The emulator's URL on 127.0.0.1 at the configured port (`RELAY_EMULATOR_PORT`, default 4566)."""
    return _url(port_from_env())


def _timeout() -> float:
    raw = os.environ.get("RELAY_EMULATOR_TIMEOUT", "180")
    try:
        return float(raw)
    except ValueError:
        raise LauncherError(f"RELAY_EMULATOR_TIMEOUT must be a number of seconds, got {raw!r}") from None


# --------------------------------------------------------------------------- health


def health(endpoint: str | None = None) -> dict | None:
    """LocalStack's health document at `endpoint` (default: `endpoint()`), or None if nothing LocalStack-like
    answers there within 3 s."""
    url = (endpoint or _url(port_from_env())).rstrip("/") + "/_localstack/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - a local http URL we build
            doc = json.loads(response.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "services" in doc else None


def plugin_ready(doc: dict | None) -> bool:
    """True when the health document lists every service of the relay plugin as available or running."""
    if not doc:
        return False
    services = doc.get("services", {})
    return all(services.get(s) in ("available", "running") for s in PLUGIN_SERVICES)


def _missing_services(doc: dict | None) -> str:
    if doc is None:
        return "health endpoint not answering"
    services = doc.get("services", {})
    return "plugin services missing: " + ", ".join(
        s for s in PLUGIN_SERVICES if services.get(s) not in ("available", "running")
    )


def _port_in_use(port: int) -> bool:
    """Whether LocalStack could not bind the port: binding asks exactly that, without connecting to whatever
    listens there (a connection can hang on a full backlog)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as LocalStack's server: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


# --------------------------------------------------------------------------- python discovery


def _python_version(exe: str) -> tuple | None:
    """(major, minor) if `exe` really runs (pyenv shims exist but may fail)."""
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        major, minor = out.stdout.strip().split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def _pyenv_roots() -> list:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                roots.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    roots.append(os.path.expanduser("~/.pyenv"))
    return list(dict.fromkeys(roots))


def find_python() -> str:
    """A Python >= 3.12 for the emulator venv (LocalStack 4.14 needs 3.12 syntax)."""
    explicit = os.environ.get("RELAY_EMULATOR_PYTHON")
    if explicit:
        v = _python_version(explicit)
        if v is None or v < MIN_PY:
            raise LauncherError(f"RELAY_EMULATOR_PYTHON={explicit} does not run or is older than 3.12 ({v})")
        return explicit
    candidates = []
    for name in ("python3.13", "python3.12"):
        exe = shutil.which(name)
        if exe:
            candidates.append(exe)
    for root in _pyenv_roots():
        found = glob.glob(os.path.join(root, "versions", "3.1[2-9]*", "bin", "python"))
        candidates.extend(sorted(found, reverse=True))
    if sys.version_info[:2] >= MIN_PY:
        candidates.append(sys.executable)
    for exe in candidates:
        v = _python_version(exe)
        if v is not None and v >= MIN_PY:
            return exe
    raise LauncherError(
        "no Python >= 3.12 found (tried python3.13, python3.12 on PATH and pyenv versions); "
        "install one or set RELAY_EMULATOR_PYTHON"
    )


def find_uv() -> list | None:
    """The command that runs uv (on PATH, or as a module of this interpreter), or None."""
    exe = shutil.which("uv")
    if exe:
        return [exe]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    return None


# --------------------------------------------------------------------------- venv


def _hash_files(files: list) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(HERE)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _source_hashes() -> tuple:
    """(requirements hash, plugin source hash): a change triggers the matching reinstall."""
    plugin_files = []
    for p in sorted(PLUGIN_DIR.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(PLUGIN_DIR).parts
        if any(part in ("__pycache__", "build", "dist") or part.endswith(".egg-info") for part in rel):
            continue
        plugin_files.append(p)
    return _hash_files([REQUIREMENTS]), _hash_files(plugin_files)


def tail(path: Path, n: int = 20, since: int = 0) -> str:
    """The last n lines of a file, from byte offset `since` on, indented for an error message."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(since, size - 64 * 1024, 0))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "    (no log yet)"
    return "\n".join("    " + line for line in lines[-n:])


# What LocalStack 4.14's server logs when it cannot bind its port; the runtime then keeps running without
# a gateway, so only the log tells.
_LISTEN_FAILURE = "CannotListenError"


def _read_from(path: Path, offset: int) -> str:
    """The text of a file from byte `offset` on (empty when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock between launcher processes (two starts, or two state dirs building one venv)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- one emulator


class Emulator:
    """The emulator of one state dir (`RELAY_STATE_DIR`/emulator) on one port of 127.0.0.1.

    `port` defaults to `RELAY_EMULATOR_PORT` (else 4566); with `echo`, progress lines are printed.
    """

    def __init__(self, port: int | None = None, *, echo: bool = False, environ: dict | None = None):
        env = dict(os.environ if environ is None else environ)
        self.port = port_from_env(env) if port is None else _checked_port(port)
        self.echo = echo
        self.environ = env
        self.dir = emulator_dir(env)
        shared_venv = env.get("RELAY_EMULATOR_VENV")
        self.venv = Path(shared_venv).expanduser().resolve() if shared_venv else self.dir / "venv"
        self.log = self.dir / "localstack.log"
        self.pid_file = self.dir / "localstack.pid"
        self.install_log = self.dir / "install.log"
        self.filesystem = self.dir / "filesystem"
        self.tmp = self.dir / "tmp"
        self.cache = self.dir / "cache"
        self.build = self.dir / "plugin-build"
        self.git_root = self.dir / "git"
        self.persistence = self.dir / "persistence"  # snapshots and the S3 journal (plugin's persistence.py)
        self.lock_file = self.dir / "launcher.lock"
        self.users = self.dir / "users"
        self.started_for_users = self.dir / "started-for-users"
        self._child: subprocess.Popen | None = None
        self._lease: Path | None = None

    @property
    def endpoint(self) -> str:
        """This emulator's URL."""
        return _url(self.port)

    def say(self, message: str) -> None:
        """Print a progress line when `echo` is on."""
        if self.echo:
            try:
                print(f"[emulator] {message}", flush=True)
            except (BrokenPipeError, ValueError):  # stdout closed (`... | head`): the work goes on (stop included)
                pass

    def health(self) -> dict | None:
        """The health document of whatever answers on this emulator's port."""
        return health(self.endpoint)

    # ---------------------------------------------------------------- process identity

    def pid(self) -> int | None:
        """The pid of the LocalStack this state dir started, if it is alive (guards against recycled pids)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        if not _exists(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            return sys.platform != "linux"  # no /proc (macOS): trust the pid file
        # The launcher starts LocalStack with this state dir as working directory: a LocalStack of
        # another clone or state dir that got the recorded pid is not ours.
        return b"localstack.runtime.main" in cmdline and cwd == self.dir

    # ---------------------------------------------------------------- set-up

    def _run(self, cmd: list, what: str) -> None:
        with open(self.install_log, "ab") as fh:
            fh.write(("\n$ " + " ".join(str(c) for c in cmd) + "\n").encode())
            fh.flush()
            rc = subprocess.call(
                cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._clean_env()
            )
        if rc != 0:
            raise LauncherError(f"{what} failed (exit {rc}); see {self.install_log}\n" + tail(self.install_log, 15))

    def _clean_env(self) -> dict:
        """The caller's environment without what would point a child interpreter at the caller's venv."""
        return {
            k: v
            for k, v in self.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYENV_VERSION", "UV_PYTHON")
        }

    def ensure_venv(self) -> Path:
        """Create or refresh the emulator venv; reinstall when the requirements or the plugin changed."""
        with _locked(self.venv.with_name(self.venv.name + ".lock")):
            return self._ensure_venv()

    def _ensure_venv(self) -> Path:
        venv, stamp = self.venv, self.venv / ".relay-stamp"
        vpy = venv / "bin" / "python"
        req_hash, plugin_hash = _source_hashes()
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = {}
        if vpy.exists() and recorded == {"requirements": req_hash, "plugin": plugin_hash}:
            return vpy
        self.dir.mkdir(parents=True, exist_ok=True)
        uv = find_uv()
        tool = "uv" if uv else "pip"
        began = time.monotonic()
        if not vpy.exists() or _python_version(str(vpy)) is None:
            base = find_python()
            if venv.exists():
                shutil.rmtree(venv)
            self.say(f"creating the emulator venv at {venv} with {base} ({tool})")
            if uv:
                self._run([*uv, "venv", "--quiet", "--python", base, str(venv)], "creating the venv")
            else:
                self._run([base, "-m", "venv", str(venv)], "creating the venv")
            recorded = {}
        if not uv and not (venv / "bin" / "pip").exists():
            # a venv that uv built has no pip of its own
            self._run([str(vpy), "-m", "ensurepip", "--default-pip"], "installing pip into the venv")
        if recorded.get("requirements") != req_hash:
            self.say(f"installing LocalStack and its pinned requirements with {tool} (first time: about a minute)")
            if uv:
                cmd = [*uv, "pip", "install", "--quiet", "--python", str(vpy), "-r", str(REQUIREMENTS)]
            else:
                cmd = [str(vpy), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
            self._run(cmd, "installing localstack/requirements.txt")
            # record progress so a failing plugin install does not redo the requirements
            stamp.write_text(json.dumps({"requirements": req_hash, "plugin": None}))
        # Build from a copy so that no build/ or *.egg-info is ever written into the repository.
        shutil.rmtree(self.build, ignore_errors=True)
        shutil.copytree(
            PLUGIN_DIR, self.build, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info")
        )
        self.say("installing the relay plugin")
        if uv:
            cmd = [*uv, "pip", "install", "--quiet", "--python", str(vpy), "--reinstall"]
        else:
            cmd = [str(vpy), "-m", "pip", "install", "-q", "--force-reinstall"]
        self._run([*cmd, "--no-deps", "--no-build-isolation", str(self.build)], "installing localstack/plugin")
        shutil.rmtree(self.build, ignore_errors=True)
        stamp.write_text(json.dumps({"requirements": req_hash, "plugin": plugin_hash}))
        ready = f"emulator venv ready in {time.monotonic() - began:.0f} s ({tool})"
        with open(self.install_log, "a") as fh:
            fh.write(ready + "\n")
        self.say(ready)
        return vpy

    # ---------------------------------------------------------------- start

    def launch_environment(self) -> dict:
        """The environment LocalStack runs with (see the module docstring for why each setting is there)."""
        env = self._clean_env()
        env.setdefault("CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES", "0")
        # Route 53 health checks probe every second (AWS: every 10 or 30 s), see the plugin's route53_health.py
        env.setdefault("RELAY_HEALTH_CHECK_INTERVAL_SECONDS", "1")
        env.update(
            {
                "OVERRIDE_IN_DOCKER": "0",
                "FILESYSTEM_ROOT": str(self.filesystem),
                "TMPDIR": str(self.tmp),
                "XDG_CACHE_HOME": str(self.cache),
                "RELAY_EMULATOR_GIT_ROOT": str(self.git_root),
                "RELAY_EMULATOR_PERSISTENCE_DIR": str(self.persistence),
                "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
                "LOCALSTACK_HOST": f"localhost.localstack.cloud:{self.port}",
                "PERSISTENCE": "0",
                "DNS_ADDRESS": "0",  # no DNS server: it needs privileges and is not used here
                "SKIP_SSL_CERT_DOWNLOAD": "1",  # offline machines: use a self-signed cert
                "DISABLE_EVENTS": "1",  # no analytics calls
                "LOCALSTACK_TELEMETRY": "0",
                "EAGER_SERVICE_LOADING": "0",
                # the plugin's moto-backed DynamoDB (with global tables): LocalStack's own downloads
                # DynamoDB Local and Java at first use, impossible offline
                "PROVIDER_OVERRIDE_DYNAMODB": "relay",
                "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "relay",  # moto's, reading that DynamoDB's streams
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def ensure_running(self) -> bool:
        """Start the emulator unless a healthy one with the relay plugin answers on the port.

        Returns True when this call started it, False when one was already running. Raises LauncherError
        with the reason (and the log's tail) when it cannot start.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock_file):
            return self._ensure_running()

    def _ensure_running(self) -> bool:
        pid = self.pid()
        # a free port has nothing to ask (and a silent program on it would cost the health check's timeout)
        doc = self.health() if pid is not None or _port_in_use(self.port) else None
        if plugin_ready(doc):
            how = f"pid {pid}" if pid else "not started from this state dir"
            self.say(f"already running ({how}) at {self.endpoint}; nothing to do")
            return False
        if pid is not None:
            self.say(f"emulator process {pid} exists; waiting for it to become healthy")
            self.wait_healthy(_timeout())
            self.say(f"ready at {self.endpoint}")
            return False
        if doc is not None:
            raise LauncherError(
                f"port {self.port} is used by a LocalStack without the relay plugin; "
                "stop it or choose another port (--port or RELAY_EMULATOR_PORT)"
            )
        if _port_in_use(self.port):
            raise LauncherError(
                f"port {self.port} on 127.0.0.1 is already in use by another program; "
                "free it or choose another port (--port or RELAY_EMULATOR_PORT)"
            )
        self._start(self.ensure_venv())
        return True

    # ---------------------------------------------------------------- shared use

    def acquire(self) -> bool:
        """Make sure the emulator runs, and count this caller among its users until `release()`.

        Returns True when this call started it. Sessions running side by side (tox environments, test
        runs) share the emulator of one state dir: the last of them to release it stops it, if it was
        started for one of them; an emulator started by hand is never stopped this way.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock_file):
            started = self._ensure_running()
            if started:
                self.started_for_users.touch()
            self.users.mkdir(exist_ok=True)
            self._lease = self.users / f"{os.getpid()}-{_start_time(os.getpid()) or 0}-{uuid.uuid4().hex[:12]}"
            self._lease.touch()
        return started

    def release(self, *, keep: bool = False) -> bool:
        """Stop counting this caller among the users; stop the emulator when no other user is left and it
        was started for a user. With `keep`, leave it running for good. True when this call stopped it."""
        with _locked(self.lock_file):
            if self._lease is not None:
                self._lease.unlink(missing_ok=True)
                self._lease = None
            if keep:
                self.started_for_users.unlink(missing_ok=True)
            if self._other_users() or not self.started_for_users.exists():
                return False
            return self.stop()

    def _other_users(self) -> list:
        """The users still alive (the leases of processes that ended are removed)."""
        alive = []
        for lease in self.users.glob("*-*-*"):
            pid, start = lease.name.split("-")[:2]
            if _holder_alive(int(pid), start):
                alive.append(lease)
            else:
                lease.unlink(missing_ok=True)
        return alive

    def _start(self, vpy: Path) -> None:
        # What a previous run left in its temporary folder is of no use to a new one (PERSISTENCE=0).
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        # plux's entry point index: one built before the plugin gained an entry point was seen to hide it
        # (e.g. dynamodb:relay, so that LocalStack fell back to its downloading provider); rebuilt in ~0.1 s
        shutil.rmtree(self.cache / "plux", ignore_errors=True)
        self.filesystem.mkdir(parents=True, exist_ok=True)
        try:  # keep one previous log when the current one has grown large
            if self.log.stat().st_size > 20 * 1024 * 1024:
                self.log.replace(self.log.with_name("localstack.log.1"))
        except OSError:
            pass
        self.say(f"starting LocalStack at {self.endpoint} (log: {self.log})")
        began = time.monotonic()
        with open(self.log, "ab") as log:
            since = log.tell()
            log.write(f"\n===== relay emulator start {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [str(vpy), "-m", "localstack.runtime.main"],
                cwd=str(self.dir),
                env=self.launch_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._child = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        try:
            self.wait_healthy(_timeout(), proc, since)
        except BaseException:
            self._shut_down(proc.pid)
            raise
        self.say(f"ready at {self.endpoint} in {time.monotonic() - began:.1f} s (pid {proc.pid})")
        self.say(self.persistence_summary())

    def persist(self) -> bool:
        """Whether the emulator keeps its state across stop / start (`RELAY_EMULATOR_PERSIST=0`: no)."""
        return self.environ.get("RELAY_EMULATOR_PERSIST", "1").strip().lower() not in ("0", "false", "no", "off")

    def persistence_summary(self) -> str:
        """One line on what the start restored (the plugin's `GET /_relay/persistence`)."""
        if not self.persist():
            return "persistence off (RELAY_EMULATOR_PERSIST=0): state is discarded at stop"
        try:
            with urllib.request.urlopen(self.endpoint + "/_relay/persistence", timeout=5) as response:  # noqa: S310
                doc = json.loads(response.read())
        except (OSError, ValueError) as e:
            return f"persistence state unknown ({e})"
        if doc.get("fresh"):
            return f"fresh state (instance {doc.get('instance')}), saved to {self.persistence}"
        line = (
            f"restored {len(doc.get('restored') or [])} services, {doc.get('objects', 0)} objects from "
            f"{self.persistence} (instance {doc.get('instance')}, {doc.get('journal_replayed', 0)} journal records)"
        )
        for lost in doc.get("lost") or []:
            line += f"\n[emulator]   not restored: {lost.get('service')}: {lost.get('reason')}"
        return line

    def wait_healthy(self, timeout: float, proc: subprocess.Popen | None = None, since: int = 0) -> None:
        """Wait until the plugin's services are listed; fail early when `proc` (a starting emulator) exits."""
        last_note = [time.monotonic()]

        def ready() -> bool:
            if proc is not None and proc.poll() is not None:
                raise LauncherError(
                    f"emulator exited during start (exit {proc.returncode}); log: {self.log}\n"
                    + tail(self.log, since=since)
                )
            if proc is not None and _LISTEN_FAILURE in _read_from(self.log, since):
                raise LauncherError(
                    f"LocalStack could not listen on 127.0.0.1:{self.port} (taken after the launcher checked it); "
                    f"free it or choose another port (--port or RELAY_EMULATOR_PORT); log: {self.log}\n"
                    + tail(self.log, since=since)
                )
            if time.monotonic() - last_note[0] > 15:
                self.say("still waiting for the emulator to become healthy ...")
                last_note[0] = time.monotonic()
            return plugin_ready(self.health())

        try:
            wait_for(f"the emulator at {self.endpoint}", ready, timeout=timeout, interval=0.5)
        except WaitTimeout:
            raise LauncherError(
                f"emulator not healthy after {timeout:g} s ({_missing_services(self.health())}); log: {self.log}\n"
                + tail(self.log, since=since)
            ) from None

    # ---------------------------------------------------------------- stop

    def stop(self) -> bool:
        """Stop the emulator this state dir started; True if one was stopped. Never touches another process."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            if self.health() is not None:
                self.say(f"an emulator not started from this state dir answers at {self.endpoint}; leaving it alone")
            else:
                self.say("not running; nothing to stop")
            return False
        self.say(f"stopping the emulator (pid {pid})")
        began = time.monotonic()
        self._shut_down(pid)
        self.say(f"stopped in {time.monotonic() - began:.1f} s")
        return True

    def _shut_down(self, pid: int) -> None:
        """SIGTERM (LocalStack's orderly shutdown), then SIGKILL for the whole tree after a short grace."""
        child = self._child if self._child is not None and self._child.pid == pid else None
        tree = _process_tree(pid, _start_time(pid))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if self.persist() and self.persistence.is_dir():
            # the plugin saves every service before LocalStack stops them, then writes stopped-<pid>
            marker = self.persistence / f"stopped-{pid}"
            with contextlib.suppress(WaitTimeout):
                wait_for(
                    "the emulator to save its state",
                    lambda: marker.exists() or not _alive(pid, tree.get(pid)),
                    timeout=SAVE_GRACE,
                    interval=0.1,
                )
            marker.unlink(missing_ok=True)
        if not _wait_gone(pid, tree, child, STOP_GRACE):
            for member, start in {**tree, **_process_tree(pid, tree.get(pid))}.items():
                if _alive(member, start):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(member, signal.SIGKILL)
            if not tree:  # no /proc: the process group is all one can see
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            if not _wait_gone(pid, tree, child, KILL_GRACE):
                raise LauncherError(f"emulator process {pid} did not exit after SIGKILL")
        self._child = None
        self.pid_file.unlink(missing_ok=True)
        self.started_for_users.unlink(missing_ok=True)
        shutil.rmtree(self.users, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------------------------------------------------------------- clean

    def clean(self, *, venv: bool = False) -> None:
        """Stop, then remove logs and data (and the venv when asked and it is this state dir's own)."""
        self.stop()
        for f in (self.log, self.log.with_name("localstack.log.1"), self.pid_file, self.install_log):
            f.unlink(missing_ok=True)
        for d in (self.filesystem, self.tmp, self.cache, self.build, self.persistence):
            shutil.rmtree(d, ignore_errors=True)
        if not venv:
            self.say(f"removed logs and data under {self.dir} (venv kept; --all removes it)")
        elif self.venv.parent == self.dir:
            shutil.rmtree(self.venv, ignore_errors=True)
            self.say(f"removed logs, data and the venv under {self.dir}")
        else:
            self.say(f"removed logs and data under {self.dir}; the shared venv {self.venv} is kept")


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> list | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...); None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot): tells a process from a later one given the same number."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _process_tree(pid: int, leader_start: str | None) -> dict:
    """The members of the process group `pid` leads and all their descendants, with their start times.

    `pid` itself (and what descends from it) counts only while it is the process that started at
    `leader_start`; with None, only the group. Empty without /proc.
    """
    try:
        stats = {int(e): f for e in os.listdir("/proc") if e.isdigit() and (f := _stat(int(e)))}
    except OSError:
        return {}
    tree = {p for p, f in stats.items() if int(f[2]) == pid}
    if leader_start is not None and pid in stats and stats[pid][19] == leader_start:
        tree.add(pid)
    frontier = list(tree)
    while frontier:
        parent = frontier.pop()
        for child, f in stats.items():
            if int(f[1]) == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return {p: stats[p][19] for p in tree}


def _alive(pid: int, start: str | None = None) -> bool:
    """Whether `pid` (the one that started at `start`, when given) still runs; a zombie has exited, only its
    parent has not collected it yet."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and (start is None or fields[19] == start)


def _exists(pid: int) -> bool:
    """Whether a process with this number exists (of any user; a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _holder_alive(pid: int, start: str) -> bool:
    """Whether the process that took a lease still runs (`start` "0": its start time was unknown)."""
    if os.path.isdir("/proc"):
        return _alive(pid, None if start == "0" else start)
    return _exists(pid)


def _wait_gone(pid: int, tree: dict, child: subprocess.Popen | None, grace: float) -> bool:
    """Wait until `pid`, its process group and `tree` have exited; False when `grace` ran out first."""

    def gone() -> bool:
        if child is not None and child.poll() is None:
            return False
        if not os.path.isdir("/proc"):  # without /proc the process group is all one can see
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        members = {**tree, **_process_tree(pid, tree.get(pid))}
        return not any(_alive(p, start) for p, start in members.items())

    try:
        wait_for(f"emulator process {pid} to exit", gone, timeout=grace, interval=0.1)
    except WaitTimeout:
        return False
    return True


# --------------------------------------------------------------------------- context manager


@contextlib.contextmanager
def running(*, echo: bool = False) -> Iterator[str]:
    """Make sure the emulator of the configured state dir and port runs for the body; yields its endpoint.

    Starts it when nothing healthy answers on the port, and stops it on exit only if it was started this
    way and no other such session (another process running tests side by side) still uses it; an emulator
    started by hand keeps running. Raises LauncherError when it cannot start.
    """
    emulator = Emulator(echo=echo)
    emulator.acquire()
    try:
        yield emulator.endpoint
    finally:
        emulator.release()


# --------------------------------------------------------------------------- command line


def _cmd_start(emulator: Emulator, args: argparse.Namespace) -> int:
    emulator.ensure_running()
    return 0


def _cmd_stop(emulator: Emulator, args: argparse.Namespace) -> int:
    emulator.stop()
    return 0


def _cmd_status(emulator: Emulator, args: argparse.Namespace) -> int:
    pid, doc = emulator.pid(), emulator.health()
    if pid and plugin_ready(doc):
        print(f"running (pid {pid}) at {emulator.endpoint}; log: {emulator.log}")
        _print_faults(emulator.endpoint)
        return 0
    if pid:
        print(f"starting or unhealthy (pid {pid}) at {emulator.endpoint}; log: {emulator.log}")
        return EXIT_STOPPED
    if plugin_ready(doc):
        print(f"running (not started from this state dir) at {emulator.endpoint}")
        _print_faults(emulator.endpoint)
        return 0
    print("stopped")
    return EXIT_STOPPED


def _cmd_logs(emulator: Emulator, args: argparse.Namespace) -> int:
    if not emulator.log.exists():
        print(f"[emulator] no log yet at {emulator.log}")
        return 0
    print(f"==> {emulator.log} <==")
    print("\n".join(line[4:] for line in tail(emulator.log, args.lines).splitlines()))
    return 0


def _cmd_wait(emulator: Emulator, args: argparse.Namespace) -> int:
    if emulator.pid() is None and emulator.health() is None:
        raise LauncherError("the emulator is not running; use `start`")
    emulator.wait_healthy(_timeout())
    emulator.say(f"ready at {emulator.endpoint}")
    return 0


def _cmd_clean(emulator: Emulator, args: argparse.Namespace) -> int:
    emulator.clean(venv=args.all)
    return 0


def _git_repos():
    """The plugin's git host module (standard library only, importable without LocalStack)."""
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    from relay_emulator import git_repos

    return git_repos


def _cmd_repo(emulator: Emulator, args: argparse.Namespace) -> int:
    git_repos = _git_repos()
    try:
        path, created = git_repos.ensure_repository(emulator.git_root, args.repository)
    except (git_repos.RepositoryIdError, git_repos.GitError) as error:
        raise LauncherError(str(error)) from None
    emulator.say(f"repository {args.repository} {'created' if created else 'exists'} at {path}")
    print(git_repos.url_of(path))
    return 0


# --------------------------------------------------------------------------- fault injection


class FaultInputError(LauncherError):
    """The emulator refused a fault (unknown region, seconds or count out of range): exit 2."""


def _fault_core():
    """The plugin's pure fault core (standard library only)."""
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    from relay_emulator.core import faults

    return faults


def _faults_call(endpoint: str, method: str, path: str = "", body: dict | None = None) -> dict:
    """One call to the emulator's fault API (`/_relay/faults...`); its JSON answer."""
    url = endpoint.rstrip("/") + "/_relay/faults" + path
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - local http URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local http URL we build
            return json.loads(response.read().decode() or "{}")
    except urllib.error.HTTPError as error:
        try:
            doc = json.loads(error.read().decode() or "{}")
        except ValueError:
            doc = {}
        if error.code == 400:
            raise FaultInputError(doc.get("error") or f"the emulator refused the fault ({error.code})") from None
        if error.code == 404:
            raise LauncherError(
                f"the emulator at {endpoint} has no fault injection (/_relay/faults): restart it with the "
                "current plugin"
            ) from None
        raise LauncherError(f"the emulator's fault API answered {error.code}: {doc or error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise LauncherError(
            f"the emulator is not running at {endpoint} ({reason}); start it with `relay emulator start`"
        ) from None


def faults(endpoint: str) -> dict:
    """The injected faults: {"regions_down": [...], "replication_delays": [{"region", "seconds", "remaining"}]}."""
    return _faults_call(endpoint, "GET")


def set_region(endpoint: str, region: str, down: bool) -> dict:
    """Take `region` down (every API call there answers 503 ServiceUnavailable) or bring it up again."""
    return _faults_call(endpoint, "POST", f"/regions/{urllib.parse.quote(region, safe='')}", {"down": bool(down)})


def delay_replication(endpoint: str, region: str, seconds: float, count: int = 1) -> dict:
    """Make the next `count` replications into `region` wait `seconds` before their replica is written."""
    return _faults_call(endpoint, "POST", "/replication-delays", {"region": region, "seconds": seconds, "count": count})


def clear_faults(endpoint: str) -> dict:
    """Remove every injected fault (all regions up, no delays)."""
    return _faults_call(endpoint, "DELETE")


def fault_lines(doc: dict) -> list:
    """One line per injected fault, or ["no faults injected"]."""
    return _fault_core().describe(doc) or ["no faults injected"]


def _print_faults(endpoint: str) -> None:
    """`status`: the injected faults (a plugin without fault injection says so)."""
    try:
        doc = faults(endpoint)
    except LauncherError as error:
        print(f"faults: unknown ({error})")
        return
    for line in fault_lines(doc):
        print(f"faults: {line}")


def _cmd_region(emulator: Emulator, args: argparse.Namespace) -> int:
    if args.action == "delay":
        doc = delay_replication(emulator.endpoint, args.region, args.seconds, args.count)
    else:
        doc = set_region(emulator.endpoint, args.region, args.action == "down")
    for line in fault_lines(doc):
        print(line)
    return 0


def _cmd_faults(emulator: Emulator, args: argparse.Namespace) -> int:
    doc = clear_faults(emulator.endpoint) if args.clear else faults(emulator.endpoint)
    for line in fault_lines(doc):
        print(line)
    return 0


def _delay_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {raw!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds > 0 and <= 3600, got {raw}")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _port(raw: str) -> int:
    try:
        return _checked_port(_positive_int(raw))
    except LauncherError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line: one sub-command per verb, each with its own `--help`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="relay's local AWS emulator: LocalStack with the relay plugin, on 127.0.0.1, on the host.",
        epilog="Environment: RELAY_STATE_DIR, RELAY_EMULATOR_PORT, RELAY_EMULATOR_VENV, RELAY_EMULATOR_PYTHON, "
        "RELAY_EMULATOR_TIMEOUT (see the module docstring of localstack/emulator.py).",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="{" + "|".join(VERBS) + "}", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--port", type=_port, default=None, help="port on 127.0.0.1 (default: RELAY_EMULATOR_PORT, else 4566)"
    )
    helps = {
        "start": (
            "build the venv if needed, start the emulator in the background and wait until it is healthy",
            "Does nothing when a healthy emulator with the relay plugin already answers on the port. "
            "Exit 0 when healthy, 1 with the reason (and the log's tail) otherwise.",
        ),
        "stop": (
            "stop the emulator this state dir started",
            "Asks LocalStack to shut down, kills what is left of its process tree after a few seconds and "
            "removes its temporary files. An emulator started from another state dir is left alone. Exit 0.",
        ),
        "status": ("report whether the emulator runs", "Exit 0 when running and healthy, 3 otherwise."),
        "logs": ("print the last lines of the emulator log", None),
        "wait": ("wait until the running emulator is healthy (does not start it)", "Exit 1 when it is not running."),
        "clean": (
            "stop the emulator and delete its logs and data",
            "The git repositories of `repo` are kept (they hold your commits).",
        ),
        "repo": (
            "create the local git repository behind a connection and print the URL to push to",
            "REPOSITORY is a connection's FullRepositoryId, owner/name. Creates the bare repository "
            "<state>/emulator/git/<owner>/<name>.git unless it exists (with a hook that tells the running "
            "emulator about each push), then prints its file URL: `git push <url> main`. Works whether or "
            "not the emulator runs.",
        ),
        "region": (
            "inject a fault into a region of the running emulator: down, up, delay",
            "`region down REGION`: every API call to REGION answers 503 ServiceUnavailable, replication into "
            "and out of it stays PENDING and events for it wait, until `region up REGION`. `region delay REGION "
            "SECONDS [--count N]`: the next N replications into REGION wait SECONDS (later versions of the same "
            "key may overtake them, as S3 allows). Exit 0 ok, 1 emulator not running, 2 bad arguments.",
        ),
        "faults": (
            "print the faults injected into the running emulator",
            "One line per fault, or `no faults injected`; --clear removes them all. Exit 1 when not running.",
        ),
    }
    handlers: dict[str, Callable[[Emulator, argparse.Namespace], int]] = {
        "start": _cmd_start,
        "stop": _cmd_stop,
        "status": _cmd_status,
        "logs": _cmd_logs,
        "wait": _cmd_wait,
        "clean": _cmd_clean,
        "repo": _cmd_repo,
        "region": _cmd_region,
        "faults": _cmd_faults,
    }
    for verb in VERBS:
        summary, details = helps[verb]
        sub = verbs.add_parser(
            verb, parents=[common], help=summary, description=summary + "." + (" " + details if details else "")
        )
        sub.set_defaults(handler=handlers[verb])
        if verb == "logs":
            sub.add_argument("-n", "--lines", type=_positive_int, default=100, help="how many lines (default 100)")
        if verb == "clean":
            sub.add_argument("--all", action="store_true", help="remove the venv too (only this state dir's own)")
        if verb == "repo":
            sub.add_argument("repository", metavar="REPOSITORY", help="owner/name (the connection's FullRepositoryId)")
        if verb == "faults":
            sub.add_argument("--clear", action="store_true", help="remove every injected fault")
        if verb == "region":
            _region_actions(sub)
    return parser


def _region_actions(sub: argparse.ArgumentParser) -> None:
    """`region down|up REGION`, `region delay REGION SECONDS [--count N]` (each also takes --port)."""
    port = argparse.ArgumentParser(add_help=False)
    port.add_argument("--port", type=_port, default=argparse.SUPPRESS, help="port on 127.0.0.1")
    actions = sub.add_subparsers(dest="action", metavar="{down|up|delay}", required=True)
    for action, summary in (
        ("down", "take REGION down: every API call there answers 503 ServiceUnavailable"),
        ("up", "bring REGION up again: held replications and events resume"),
        ("delay", "delay the next N replications into REGION by SECONDS"),
    ):
        parser = actions.add_parser(action, parents=[port], help=summary, description=summary + ".")
        parser.add_argument("region", metavar="REGION", help="a region name, e.g. eu-west-1")
        if action == "delay":
            parser.add_argument("seconds", metavar="SECONDS", type=_delay_seconds, help="seconds (> 0, at most 3600)")
            parser.add_argument("--count", type=_positive_int, default=1, help="how many replications (default 1)")


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run one verb; returns the exit code (0 ok, 1 error, 2 usage, 3 status: stopped)."""
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already explained
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        return args.handler(Emulator(args.port, echo=True), args)
    except FaultInputError as error:
        print(f"[emulator] error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LauncherError as error:
        print(f"[emulator] error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("[emulator] interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
