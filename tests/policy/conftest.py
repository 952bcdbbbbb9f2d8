"""checkov in a venv of its own: its pins conflict with the app's (checkov 3.3.30 requires boto3 1.35.49, the app
1.43.11), so it cannot share the test environment that synthesizes the stacks.

The venv is built with uv from requirements-policy.txt on first use, under `<state root>/checkov/<digest of
that file>`, and built again when the file changes; sessions running side by side share it (a lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import paths
from config.paths import PROJECT_ROOT

REQUIREMENTS = PROJECT_ROOT / "requirements-policy.txt"


def uv_command() -> list[str]:
    """How to run uv: the module of this interpreter (requirements-test.txt pins it), or uv on PATH."""
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    if not found:
        pytest.fail("the checkov venv is built with uv: install requirements-test.txt (it pins uv) or put uv on PATH")
    return [found]


def build(venv: Path) -> None:
    uv = uv_command()
    python = venv / "bin" / "python"
    for step, args in (
        ("create the venv", ["venv", "--quiet", "--python", sys.executable, str(venv)]),
        (
            "install requirements-policy.txt",
            ["pip", "install", "--quiet", "--python", str(python), "-r", str(REQUIREMENTS)],
        ),
    ):
        result = subprocess.run([*uv, *args], capture_output=True, text=True, check=False)
        if result.returncode:
            pytest.fail(f"could not {step} for checkov at {venv}:\n{result.stderr or result.stdout}")


@pytest.fixture(scope="session")
def checkov() -> Path:
    """The checkov executable, of the version requirements-policy.txt pins."""
    root = paths.state_root() / "checkov"
    root.mkdir(parents=True, exist_ok=True)
    venv = root / hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    complete = venv / ".complete"
    with (root / "venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.is_file():
            # A venv is not relocatable, so it is built where it stays; `.complete` marks a finished build.
            for old in root.iterdir():
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            build(venv)
            complete.touch()
    return venv / "bin" / "checkov"
