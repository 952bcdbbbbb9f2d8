"""Fixtures for the emulator plugin suite: boto3 against a running emulator, nothing else.

The session fixture starts the emulator through the launcher when nothing healthy answers
(and stops it at the end only in that case), so `pytest localstack/tests` works from a
cold machine and leaves a developer's running emulator alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_helpers import ACCOUNT, ENDPOINT, Resources, client

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE.parent / "emulator.py"
PLUGIN_SERVICES = ("codepipeline", "codebuild", "cloudtrail", "codestar-connections")


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator: needs the local LocalStack emulator (started on demand)")


def _healthy() -> bool:
    try:
        with urllib.request.urlopen(ENDPOINT + "/_localstack/health", timeout=3) as r:  # noqa: S310 - fixed http URL
            services = json.loads(r.read().decode()).get("services", {})
    except (OSError, ValueError):
        return False
    return all(services.get(s) in ("available", "running") for s in PLUGIN_SERVICES)


@pytest.fixture(scope="session", autouse=True)
def session():
    """Ensure the emulator runs for the whole session; stop it after if we started it."""
    started = False
    if not _healthy():
        proc = subprocess.run([sys.executable, str(LAUNCHER), "start"], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.exit(f"could not start the emulator:\n{proc.stdout}\n{proc.stderr}", returncode=1)
        started = True
    yield {"endpoint": ENDPOINT, "account": ACCOUNT}
    if started:
        subprocess.run([sys.executable, str(LAUNCHER), "stop"], capture_output=True, text=True)


@pytest.fixture
def aws():
    """aws("s3", "eu-south-2") -> boto3 client for the emulator."""
    return client


@pytest.fixture
def uid():
    return uuid.uuid4().hex[:10]


@pytest.fixture
def res(uid):
    r = Resources(uid)
    yield r
    r.cleanup()
