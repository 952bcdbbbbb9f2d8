#!/usr/bin/env python3
"""Launcher for relay's local AWS emulator (open-source LocalStack + the relay plugin).

Standard library only, runnable by any Python >= 3.9 (the project's tox envs use 3.11),
while LocalStack itself needs Python >= 3.12: the launcher finds such an interpreter,
builds a dedicated venv for the emulator and runs LocalStack from it, on the host
(no Docker).

Verbs::

    python localstack/emulator.py start    # ensure venv, start in background, wait until healthy
    python localstack/emulator.py stop     # terminate the emulator's process group
    python localstack/emulator.py status   # exit 0 when running, 3 when stopped
    python localstack/emulator.py logs     # print the last lines of the emulator log (-n N)
    python localstack/emulator.py wait     # wait until healthy (does not start)
    python localstack/emulator.py clean    # stop, delete logs and state (--all: the venv too)

Environment:
    RELAY_STATE_DIR          state root (default <repo>/.relay); files live in <root>/emulator/
    RELAY_EMULATOR_PORT      port on 127.0.0.1 (default 4566)
    RELAY_EMULATOR_PYTHON    Python >= 3.12 to build the venv with (else searched)
    RELAY_EMULATOR_TIMEOUT   seconds to wait for health on start (default 180)
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
REQUIREMENTS = HERE / "requirements.txt"
PLUGIN_DIR = HERE / "plugin"

# Services the relay plugin adds; start waits until LocalStack lists all of them, which
# proves the plugin distribution is installed and its entry points were discovered.
PLUGIN_SERVICES = ("codepipeline", "codebuild", "cloudtrail", "codestar-connections")
MIN_PY = (3, 12)
VERBS = ("start", "stop", "status", "logs", "wait", "clean")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3


class LauncherError(Exception):
    """An error reported to the user as one clear line (plus optional log tail)."""


# --------------------------------------------------------------------------- paths


def state_dir() -> Path:
    root = os.environ.get("RELAY_STATE_DIR")
    base = Path(root).expanduser().resolve() if root else REPO_ROOT / ".relay"
    return base / "emulator"


def port() -> int:
    raw = os.environ.get("RELAY_EMULATOR_PORT", "4566")
    try:
        value = int(raw)
    except ValueError:
        raise LauncherError(f"RELAY_EMULATOR_PORT must be an integer, got {raw!r}") from None
    if not 0 < value < 65536:
        raise LauncherError(f"RELAY_EMULATOR_PORT out of range: {value}")
    return value


def endpoint() -> str:
    return f"http://127.0.0.1:{port()}"


def paths() -> dict:
    d = state_dir()
    return {
        "dir": d,
        "venv": d / "venv",
        "stamp": d / "venv" / ".relay-stamp",
        "log": d / "localstack.log",
        "pid": d / "localstack.pid",
        "volume": d / "volume",
        "build": d / "plugin-build",
    }


def say(msg: str) -> None:
    print(f"[emulator] {msg}", flush=True)


# --------------------------------------------------------------------------- python discovery


def _python_version(exe: str) -> tuple | None:
    """Return (major, minor) if `exe` really runs (pyenv shims exist but may fail)."""
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
    seen, unique = set(), []
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


def find_python() -> str:
    """Find a Python >= 3.12 for the emulator venv (LocalStack 4.14 needs 3.12 syntax)."""
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


def _run(cmd: list, what: str, log: Path) -> None:
    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(str(c) for c in cmd) + "\n").encode())
        fh.flush()
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if rc != 0:
        raise LauncherError(f"{what} failed (exit {rc}); see {log}\n" + tail(log, 15))


def ensure_venv(p: dict) -> Path:
    """Create/refresh the emulator venv; reinstall when requirements or plugin change."""
    venv, stamp = p["venv"], p["stamp"]
    vpy = venv / "bin" / "python"
    req_hash, plugin_hash = _source_hashes()
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        recorded = {}
    if vpy.exists() and recorded == {"requirements": req_hash, "plugin": plugin_hash}:
        return vpy
    p["dir"].mkdir(parents=True, exist_ok=True)
    install_log = p["dir"] / "install.log"
    if not vpy.exists() or _python_version(str(vpy)) is None:
        base = find_python()
        if venv.exists():
            shutil.rmtree(venv)
        say(f"creating emulator venv at {venv} with {base}")
        _run([base, "-m", "venv", str(venv)], "creating the venv", install_log)
        recorded = {}
    if recorded.get("requirements") != req_hash:
        say("installing pinned requirements (first time takes about a minute)")
        _run(
            [str(vpy), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
            "installing localstack/requirements.txt",
            install_log,
        )
        # record progress so a failing plugin install does not redo the requirements
        stamp.write_text(json.dumps({"requirements": req_hash, "plugin": None}))
    # Build from a copy so pip/setuptools never write build/ or *.egg-info into the repo.
    build = p["build"]
    if build.exists():
        shutil.rmtree(build)
    shutil.copytree(
        PLUGIN_DIR,
        build,
        ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"),
    )
    say("installing the relay plugin")
    _run(
        [
            str(vpy),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--force-reinstall",
            str(build),
        ],
        "installing localstack/plugin",
        install_log,
    )
    shutil.rmtree(build, ignore_errors=True)
    stamp.write_text(json.dumps({"requirements": req_hash, "plugin": plugin_hash}))
    return vpy


# --------------------------------------------------------------------------- process helpers


def tail(path: Path, n: int = 20, since: int = 0) -> str:
    """Last n lines of a file, only from byte offset `since` on (this start's output)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(since, size - 64 * 1024, 0))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no log yet)"
    return "\n".join("    " + line for line in lines[-n:])


def health() -> dict | None:
    """Return LocalStack's health document, or None if nothing LocalStack-like answers."""
    try:
        with urllib.request.urlopen(endpoint() + "/_localstack/health", timeout=3) as r:  # noqa: S310 - fixed http URL
            doc = json.loads(r.read().decode())
            return doc if isinstance(doc, dict) and "services" in doc else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def plugin_ready(doc: dict | None) -> bool:
    if not doc:
        return False
    services = doc.get("services", {})
    return all(services.get(s) in ("available", "running") for s in PLUGIN_SERVICES)


def port_in_use() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port())) == 0


def read_pid(p: dict) -> int | None:
    try:
        pid = int(p["pid"].read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_our_process(pid) else None


def _is_our_process(pid: int) -> bool:
    """True if pid is alive and is a LocalStack runtime (guards against recycled pids)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"localstack.runtime.main" in cmdline
    except OSError:
        return True  # no /proc (macOS): trust the pid file


# --------------------------------------------------------------------------- verbs


def wait_healthy(p: dict, timeout: float, proc: subprocess.Popen | None = None, since: int = 0) -> None:
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while time.monotonic() < deadline:
        if plugin_ready(health()):
            return
        if proc is not None and proc.poll() is not None:
            raise LauncherError(
                f"emulator exited during start (exit {proc.returncode}); log: {p['log']}\n"
                + tail(p["log"], since=since)
            )
        if time.monotonic() - last_note > 15:
            say("still waiting for the emulator to become healthy ...")
            last_note = time.monotonic()
        time.sleep(0.5)
    doc = health()
    detail = (
        "health endpoint not answering"
        if doc is None
        else (
            "plugin services missing: "
            + ", ".join(s for s in PLUGIN_SERVICES if doc.get("services", {}).get(s) not in ("available", "running"))
        )
    )
    raise LauncherError(
        f"emulator not healthy after {timeout:g}s ({detail}); log: {p['log']}\n" + tail(p["log"], since=since)
    )


def cmd_start(args: list) -> int:
    p = paths()
    pid = read_pid(p)
    doc = health()
    if pid and plugin_ready(doc):
        say(f"already running (pid {pid}) at {endpoint()}; nothing to do")
        return 0
    if pid is None and doc is not None:
        if plugin_ready(doc):
            say(f"an emulator with the relay plugin already answers at {endpoint()}; nothing to do")
            return 0
        raise LauncherError(
            f"port {port()} is used by a LocalStack without the relay plugin; stop it or set RELAY_EMULATOR_PORT"
        )
    if pid is None and port_in_use():
        raise LauncherError(
            f"port {port()} on 127.0.0.1 is already in use by another program; free it or set RELAY_EMULATOR_PORT"
        )
    if pid is not None:
        # Our process exists but is not (yet) healthy: maybe still starting.
        say(f"emulator process {pid} exists; waiting for it to become healthy")
        wait_healthy(p, _timeout())
        say(f"ready at {endpoint()}")
        return 0

    vpy = ensure_venv(p)
    p["volume"].mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for k in list(env):  # the caller's venv must not leak into LocalStack's interpreter
        if k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYENV_VERSION"):
            env.pop(k)
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port()}",
            "LOCALSTACK_HOST": f"localhost.localstack.cloud:{port()}",
            "LOCALSTACK_VOLUME_DIR": str(p["volume"]),
            "PERSISTENCE": "0",
            "DNS_ADDRESS": "0",  # no DNS server: it needs privileges and is not used here
            "SKIP_SSL_CERT_DOWNLOAD": "1",  # offline machines: use a self-signed cert
            "DISABLE_EVENTS": "1",  # no analytics calls
            "LOCALSTACK_TELEMETRY": "0",
            "EAGER_SERVICE_LOADING": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    try:  # keep one previous log when the current one has grown large
        if p["log"].stat().st_size > 20 * 1024 * 1024:
            p["log"].replace(p["log"].with_name("localstack.log.1"))
    except OSError:
        pass
    say(f"starting LocalStack at {endpoint()} (log: {p['log']})")
    with open(p["log"], "ab") as log:
        since = log.tell()
        log.write(f"\n===== relay emulator start {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [str(vpy), "-m", "localstack.runtime.main"],
            cwd=str(p["dir"]),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    p["pid"].write_text(f"{proc.pid}\n")
    try:
        wait_healthy(p, _timeout(), proc, since)
    except LauncherError:
        _terminate(proc.pid)
        p["pid"].unlink(missing_ok=True)
        raise
    say(f"ready at {endpoint()} (pid {proc.pid})")
    return 0


def _timeout() -> float:
    return float(os.environ.get("RELAY_EMULATOR_TIMEOUT", "180"))


def _terminate(pid: int) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                # reap if it is our child (start failure path), else just probe
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                pass
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def cmd_stop(args: list) -> int:
    p = paths()
    pid = read_pid(p)
    if pid is None:
        p["pid"].unlink(missing_ok=True)
        if health() is not None:
            say(f"an emulator not started by this launcher answers at {endpoint()}; leaving it alone")
        else:
            say("not running; nothing to stop")
        return 0
    say(f"stopping emulator (pid {pid})")
    _terminate(pid)
    p["pid"].unlink(missing_ok=True)
    say("stopped")
    return 0


def cmd_status(args: list) -> int:
    p = paths()
    pid = read_pid(p)
    doc = health()
    if pid and plugin_ready(doc):
        print(f"running (pid {pid}) at {endpoint()}; log: {p['log']}")
        return 0
    if pid:
        print(f"starting or unhealthy (pid {pid}) at {endpoint()}; log: {p['log']}")
        return EXIT_STOPPED
    if plugin_ready(doc):
        print(f"running (not started by this launcher) at {endpoint()}")
        return 0
    print("stopped")
    return EXIT_STOPPED


def cmd_logs(args: list) -> int:
    n = 100
    if len(args) == 2 and args[0] == "-n" and args[1].isdigit():
        n = int(args[1])
    elif args:
        raise LauncherError("usage: emulator.py logs [-n LINES]")
    p = paths()
    if not p["log"].exists():
        say(f"no log yet at {p['log']}")
        return 0
    print(f"==> {p['log']} <==")
    print("\n".join(line[4:] for line in tail(p["log"], n).splitlines()))
    return 0


def cmd_wait(args: list) -> int:
    p = paths()
    if read_pid(p) is None and health() is None:
        raise LauncherError("emulator is not running; use `start`")
    wait_healthy(p, _timeout())
    say(f"ready at {endpoint()}")
    return 0


def cmd_clean(args: list) -> int:
    if args not in ([], ["--all"]):
        raise LauncherError("usage: emulator.py clean [--all]")
    cmd_stop([])
    p = paths()
    for key in ("log", "pid"):
        p[key].unlink(missing_ok=True)
    p["log"].with_name("localstack.log.1").unlink(missing_ok=True)
    for key in ("volume", "build"):
        shutil.rmtree(p[key], ignore_errors=True)
    (p["dir"] / "install.log").unlink(missing_ok=True)
    if args == ["--all"]:
        shutil.rmtree(p["venv"], ignore_errors=True)
        say(f"removed state and venv under {p['dir']}")
    else:
        say(f"removed logs and state under {p['dir']} (venv kept; --all removes it)")
    return 0


def main(argv: list) -> int:
    if not argv or argv[0] not in VERBS:
        print(
            f"usage: {Path(sys.argv[0]).name} {{{'|'.join(VERBS)}}}  (got: {' '.join(argv) or 'nothing'})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    verb, rest = argv[0], argv[1:]
    if verb in ("start", "stop", "status", "wait") and rest:
        print(f"usage: {verb} takes no arguments (got: {' '.join(rest)})", file=sys.stderr)
        return EXIT_USAGE
    try:
        return globals()[f"cmd_{verb}"](rest)
    except LauncherError as e:
        print(f"[emulator] error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("[emulator] interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
