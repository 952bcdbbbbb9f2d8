"""The emulator launcher on its own: its command line, its importable API, and two emulators of two
state dirs side by side. None of these tests needs the suite's shared emulator: the ones that run
LocalStack start their own, on free ports, from the suite's venv (one build serves every state dir)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from emulator_helpers import free_port

LAUNCHER = Path(__file__).resolve().parent.parent / "emulator.py"
_spec = importlib.util.spec_from_file_location("relay_emulator_launcher", LAUNCHER)
launcher = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launcher)

# Where LocalStack puts its files when it believes it runs in a container, and where its S3 keeps
# object bodies: nothing of an emulator started by the launcher may appear there.
FOREIGN_ROOTS = (
    Path(tempfile.gettempdir(), "localstack"),
    Path("/var/lib/localstack"),
    Path("/tmp/localstack-s3-storage"),  # noqa: S108 - LocalStack's own fixed path, checked, never written
)


def run(*args, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, env=full_env)


# --------------------------------------------------------------------------- command line


def test_usage_lists_verbs():
    out = run("explode")
    assert out.returncode == 2
    assert "start|stop|status|logs|wait|clean" in out.stderr
    assert run().returncode == 2


@pytest.mark.parametrize("verb", launcher.VERBS)
def test_every_verb_explains_itself(verb):
    out = run(verb, "--help")
    assert out.returncode == 0, out.stderr
    assert f"usage: emulator.py {verb}" in out.stdout and "--port PORT" in out.stdout


def test_main_returns_exit_codes_for_an_embedding_command(capsys):
    assert launcher.main(["--help"], prog="relay emulator") == 0
    assert "usage: relay emulator" in capsys.readouterr().out
    assert launcher.main(["explode"]) == 2
    assert launcher.main(["status", "--port", "70000"]) == 2
    assert "between 1 and 65535" in capsys.readouterr().err


def test_status_and_stop_on_empty_state(tmp_path):
    env = {"RELAY_STATE_DIR": str(tmp_path), "RELAY_EMULATOR_PORT": str(free_port())}
    status = run("status", **env)
    assert status.returncode == 3 and "stopped" in status.stdout
    stop = run("stop", **env)
    assert stop.returncode == 0 and "nothing to stop" in stop.stdout
    flagged = run("status", "--port", str(free_port()), RELAY_STATE_DIR=str(tmp_path))
    assert flagged.returncode == 3 and "stopped" in flagged.stdout


@contextlib.contextmanager
def another_program() -> Iterator[int]:
    """A web server that is not LocalStack on a free port (it answers every request with 501)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_port_in_use_is_a_clear_error(tmp_path):
    with another_program() as port:
        by_env = run("start", RELAY_STATE_DIR=str(tmp_path), RELAY_EMULATOR_PORT=str(port))
        by_flag = run("start", "--port", str(port), RELAY_STATE_DIR=str(tmp_path))
    for out in (by_env, by_flag):
        assert out.returncode == 1
        assert f"port {port}" in out.stderr and "in use" in out.stderr
    assert not (tmp_path / "emulator" / "venv").exists()


def test_repo_creates_a_bare_repository_with_its_hook_without_an_emulator(tmp_path):
    env = {"RELAY_STATE_DIR": str(tmp_path), "RELAY_EMULATOR_PORT": str(free_port())}
    first = run("repo", "acme/app", **env)
    assert first.returncode == 0, first.stderr
    bare = tmp_path / "emulator" / "git" / "acme" / "app.git"
    assert first.stdout.splitlines()[-1] == bare.resolve().as_uri()
    assert "created" in first.stdout and (bare / "HEAD").exists()
    hook = bare / "hooks" / "post-receive"
    assert os.access(hook, os.X_OK) and "acme/app" in hook.read_text()
    again = run("repo", "acme/app", **env)
    assert again.returncode == 0 and "exists" in again.stdout
    assert again.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    # plain git pushes to the printed URL; with no emulator the hook says so and the push succeeds
    work = tmp_path / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for cmd in (["init", "-q", "-b", "main", str(work)], ["-C", str(work), "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run([*git, *cmd], check=True, env=clean_env)
    push = subprocess.run(
        [*git, "-C", str(work), "push", first.stdout.splitlines()[-1], "main"],
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert push.returncode == 0, push.stderr
    assert "has not run for this git host; push stored" in push.stderr


@pytest.mark.parametrize("repository", ["app", "a/b/c", "acme/app.git", "acme-/app", "acme/../x"])
def test_repo_rejects_an_invalid_repository_id_saying_what_is_allowed(tmp_path, repository):
    out = run("repo", repository, RELAY_STATE_DIR=str(tmp_path))
    assert out.returncode == 1
    assert "owner/name" in out.stderr and repr(repository) in out.stderr
    assert not (tmp_path / "emulator" / "git").exists() or not any((tmp_path / "emulator" / "git").rglob("HEAD"))


# --------------------------------------------------------------------------- importable API


def test_health_is_none_where_no_emulator_answers():
    assert launcher.health(f"http://127.0.0.1:{free_port()}") is None


def test_plugin_ready_needs_every_plugin_service():
    every = {s: "available" for s in launcher.PLUGIN_SERVICES}
    assert launcher.plugin_ready({"services": every})
    assert launcher.plugin_ready({"services": {**every, "codepipeline": "running"}})
    assert not launcher.plugin_ready({"services": {**every, "cloudtrail": "disabled"}})
    assert not launcher.plugin_ready({"services": {"s3": "running"}})
    assert not launcher.plugin_ready(None)


def test_endpoint_follows_the_configured_port(monkeypatch):
    monkeypatch.setenv("RELAY_EMULATOR_PORT", "4999")
    assert launcher.endpoint() == "http://127.0.0.1:4999"
    monkeypatch.setenv("RELAY_EMULATOR_PORT", "http")
    with pytest.raises(launcher.LauncherError, match="RELAY_EMULATOR_PORT"):
        launcher.endpoint()


def test_running_refuses_a_port_taken_by_another_program(tmp_path, monkeypatch):
    monkeypatch.setenv("RELAY_STATE_DIR", str(tmp_path))
    with another_program() as port:
        monkeypatch.setenv("RELAY_EMULATOR_PORT", str(port))
        with pytest.raises(launcher.LauncherError, match="in use"), launcher.running():
            pytest.fail("the body must not run without an emulator")
    assert not (tmp_path / "emulator" / "venv").exists()


def test_launch_environment_gives_localstack_its_own_folders(tmp_path):
    environ = {"RELAY_STATE_DIR": str(tmp_path), "PYTHONPATH": "/elsewhere", "VIRTUAL_ENV": "/app-venv"}
    env = launcher.Emulator(4600, environ=environ).launch_environment()
    own = tmp_path / "emulator"
    assert env["OVERRIDE_IN_DOCKER"] == "0"
    assert {env["FILESYSTEM_ROOT"], env["TMPDIR"], env["XDG_CACHE_HOME"]} == {
        str(own / "filesystem"),
        str(own / "tmp"),
        str(own / "cache"),
    }
    assert env["GATEWAY_LISTEN"] == "127.0.0.1:4600"
    assert env["RELAY_EMULATOR_GIT_ROOT"] == str(own / "git")
    assert env["CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES"] == "0"
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env
    chosen = launcher.Emulator(4600, environ={**environ, "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1"})
    assert chosen.launch_environment()["CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES"] == "1"


# A LocalStack stand-in for what the real one does only now and then: it ignores SIGTERM and has a child in a
# session of its own that ignores it too. The last argument makes its command line read like LocalStack's.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def test_stop_ends_the_whole_tree_within_seconds_and_only_its_own(tmp_path):
    own = tmp_path / "emulator"
    own.mkdir()
    leader = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, "localstack.runtime.main"], cwd=own, stdout=subprocess.PIPE, text=True
    )
    child = int(leader.stdout.readline())
    # the same command line, but started from another state dir: not this emulator's
    bystander = subprocess.Popen([sys.executable, "-c", STUBBORN, "localstack.runtime.main"], cwd=tmp_path)
    try:
        emulator = launcher.Emulator(free_port(), environ={"RELAY_STATE_DIR": str(tmp_path)})
        (own / "localstack.pid").write_text(f"{leader.pid}\n")
        assert emulator.stop()
        assert leader.wait(timeout=1) == -signal.SIGKILL
        assert not launcher._alive(child)
        assert not (own / "localstack.pid").exists()

        (own / "localstack.pid").write_text(f"{bystander.pid}\n")
        assert not emulator.stop()
        assert bystander.poll() is None
    finally:
        for proc in (leader, bystander):
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_sessions_side_by_side_share_one_emulator_and_the_last_one_out_stops_it(tmp_path):
    """Two sessions on one state dir (say two tox environments in parallel): the first starts the emulator,
    the second uses it; it runs until the last one leaves. One started by hand outlives its sessions."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RELAY_STATE_DIR": str(tmp_path), "RELAY_EMULATOR_VENV": str(launcher.emulator_dir() / "venv")}
    first, second = launcher.Emulator(port, environ=env), launcher.Emulator(port, environ=env)
    try:
        assert first.acquire()
        assert not second.acquire()
        assert not first.release()
        assert launcher.plugin_ready(launcher.health(url))
        assert second.release()
        assert launcher.health(url) is None

        assert run("start", "--port", str(port), **env).returncode == 0
        assert not first.acquire()
        assert not first.release()
        assert launcher.plugin_ready(launcher.health(url))
    finally:
        first.stop()


# --------------------------------------------------------------------------- two emulators


def s3_of(port: int):
    return boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106 - the emulator's fixed test credentials
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def open_files_outside(pid: int, allowed: tuple[Path, ...]) -> list[str]:
    """Files the process tree of `pid` holds open that are not under one of the `allowed` folders."""
    outside = []
    for member in launcher._process_tree(pid, launcher._start_time(pid)):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{member}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{member}/fd/{fd}").removesuffix(" (deleted)")
                    if target.startswith("/") and not target.startswith(("/dev/", "/proc/", "/sys/")):
                        if not any(Path(target).is_relative_to(root) for root in allowed):
                            outside.append(target)
    return outside


def named_in(root: Path, name: str) -> list[Path]:
    return list(root.rglob(name)) if root.is_dir() else []


@pytest.mark.emulator  # starts two emulators of its own (not the suite's shared one)
def test_two_state_dirs_run_side_by_side_and_keep_to_their_own_folders(tmp_path):
    """Two emulators (two state dirs, two ports) start together, each serves only its own buckets and
    keeps every file in its own folder; stopping one takes a few seconds, ends its whole process tree,
    and leaves the other answering with its files intact. A file in LocalStack's container
    temporary folder, which LocalStack wipes when it starts, survives both."""
    venv = launcher.emulator_dir() / "venv"
    canary_dir = FOREIGN_ROOTS[0]
    made_canary_dir = not canary_dir.exists()
    canary_dir.mkdir(parents=True, exist_ok=True)
    canary = canary_dir / f"relay-launcher-canary-{uuid.uuid4().hex}"
    canary.write_text("kept")
    uid = uuid.uuid4().hex[:10]
    emulators = {}
    for name in ("a", "b"):
        port = free_port()
        env = {"RELAY_STATE_DIR": str(tmp_path / name), "RELAY_EMULATOR_VENV": str(venv)}
        emulators[name] = {
            "port": port,
            "env": env,
            "dir": tmp_path / name / "emulator",
            "bucket": f"side-{name}-{uid}",
        }
    try:
        starts = {
            name: subprocess.Popen(
                [sys.executable, str(LAUNCHER), "start", "--port", str(e["port"])],
                env=dict(os.environ, **e["env"]),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name, e in emulators.items()
        }
        for name, proc in starts.items():
            output = proc.communicate(timeout=600)[0]
            assert proc.returncode == 0, f"emulator {name} did not start:\n{output}"

        large = os.urandom(1024 * 1024)  # above the size LocalStack keeps in memory: a file on disk
        for e in emulators.values():
            e["pid"] = int((e["dir"] / "localstack.pid").read_text())
            e["tree"] = launcher._process_tree(e["pid"], launcher._start_time(e["pid"]))
            s3 = s3_of(e["port"])
            s3.create_bucket(Bucket=e["bucket"], CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            s3.put_object(Bucket=e["bucket"], Key="large", Body=large)
        for name, e in emulators.items():
            other = emulators["b" if name == "a" else "a"]
            buckets = {b["Name"] for b in s3_of(e["port"]).list_buckets()["Buckets"]}
            assert e["bucket"] in buckets and other["bucket"] not in buckets
            for root in FOREIGN_ROOTS:
                assert not named_in(root, e["bucket"]), f"{name}: S3 data written to {root}"
            assert named_in(e["dir"], e["bucket"]), f"{name}: its S3 data is not in its own folder"
            assert not named_in(other["dir"], e["bucket"]), f"{name}: its S3 data is in the other's folder"
            assert (e["dir"] / "filesystem" / "var" / "lib" / "localstack" / "cache").is_dir()
            assert list((e["dir"] / "cache" / "plux").iterdir()), f"{name}: plugin index not in its own folder"
            assert open_files_outside(e["pid"], (e["dir"], venv)) == []

        a, b = emulators["a"], emulators["b"]
        stop = run("stop", "--port", str(a["port"]), **a["env"])
        assert stop.returncode == 0, stop.stderr
        assert not any(launcher._alive(p, start) for p, start in a["tree"].items())
        assert launcher.health(f"http://127.0.0.1:{a['port']}") is None
        assert not (a["dir"] / "tmp").exists()

        assert launcher.plugin_ready(launcher.health(f"http://127.0.0.1:{b['port']}"))
        body = s3_of(b["port"]).get_object(Bucket=b["bucket"], Key="large")["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(large).digest()
        assert named_in(b["dir"], b["bucket"])
        assert canary.read_text() == "kept"
    finally:
        for e in emulators.values():
            run("stop", "--port", str(e["port"]), **e["env"])
        canary.unlink(missing_ok=True)
        if made_canary_dir:
            with contextlib.suppress(OSError):
                canary_dir.rmdir()
    for e in emulators.values():
        assert not any(launcher._alive(p, start) for p, start in e.get("tree", {}).items())
