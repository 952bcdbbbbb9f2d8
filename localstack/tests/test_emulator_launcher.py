"""The launcher's error paths that need no emulator: usage, status of an empty state dir,
and a port taken by another program."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.emulator
LAUNCHER = Path(__file__).resolve().parent.parent / "emulator.py"


def run(*args, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, env=full_env)


def test_usage_lists_verbs():
    out = run("explode")
    assert out.returncode == 2
    assert "start|stop|status|logs|wait|clean" in out.stderr


def test_status_and_stop_on_empty_state(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    env = {"RELAY_STATE_DIR": str(tmp_path), "RELAY_EMULATOR_PORT": str(free_port)}
    status = run("status", **env)
    assert status.returncode == 3 and "stopped" in status.stdout
    stop = run("stop", **env)
    assert stop.returncode == 0 and "nothing to stop" in stop.stdout


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = run("start", RELAY_STATE_DIR=str(tmp_path), RELAY_EMULATOR_PORT=str(port))
    assert out.returncode == 1
    assert f"port {port}" in out.stderr and "in use" in out.stderr
    assert not (tmp_path / "emulator" / "venv").exists()
