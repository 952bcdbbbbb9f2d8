"""Fixtures of the emulator plugin suite.

Two kinds of tests live here. The pure-core tests (``test_core_*.py``) import the plugin's
``relay_emulator.core`` modules, which need neither LocalStack nor an emulator. The emulator
tests talk to a running emulator with boto3; they request it through the ``emulator`` fixture
(directly or through ``aws`` / ``res``), and every test that does is marked ``emulator``, so
``pytest localstack/tests -m "not emulator"`` runs the pure tests without starting anything.

The ``emulator`` session fixture uses the launcher's ``running()``: it starts the emulator when
nothing healthy answers on the configured port, and stops it at the end only in that case, so
a developer's running emulator is left alone.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
LOCALSTACK_DIR = HERE.parent
# the tests' helpers, the plugin's pure cores, the launcher, and the repository's stdlib tools
for path in (HERE, LOCALSTACK_DIR / "plugin", LOCALSTACK_DIR, LOCALSTACK_DIR.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import emulator as launcher  # noqa: E402
from emulator_helpers import Resources, client  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "emulator: needs the local LocalStack emulator (started on demand)")


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs the emulator, whatever fixture brought it in."""
    for item in items:
        if "emulator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.emulator)


@pytest.fixture(scope="session")
def emulator():
    """The emulator's endpoint for the whole session (started if nothing healthy answers)."""
    try:
        with launcher.running() as endpoint:
            yield endpoint
    except launcher.LauncherError as e:
        pytest.exit(f"could not start the emulator: {e}", returncode=1)


@pytest.fixture
def aws(emulator):
    """aws("s3", "eu-south-2") -> boto3 client for the emulator."""
    return client


@pytest.fixture
def uid():
    return uuid.uuid4().hex[:10]


@pytest.fixture
def res(emulator, uid):
    """Uniquely named resources in the emulator, removed at teardown even after failures."""
    r = Resources(uid)
    yield r
    r.cleanup()
