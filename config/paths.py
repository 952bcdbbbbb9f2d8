"""Where relay keeps its local files, in one place: everything lives under the state root.

The state root is `RELAY_STATE_DIR` when set, otherwise `<repo>/.relay`. This module uses the
standard library only, so the emulator launcher (which runs outside the app's environment) can
import it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (where `cdktf.json` and `main.py` are)."""

STACKS_DIR = PROJECT_ROOT / "cdktf.out" / "stacks"
"""Where `cdktf synth` writes one folder per stack."""


def state_root(environ: Mapping[str, str] | None = None) -> Path:
    """`RELAY_STATE_DIR` (made absolute) or `<repo>/.relay`."""
    env = os.environ if environ is None else environ
    root = env.get("RELAY_STATE_DIR")
    return Path(root).expanduser().resolve() if root else PROJECT_ROOT / ".relay"


def terraform_state_dir(kind: str, environment: str, environ: Mapping[str, str] | None = None) -> Path:
    """Local Terraform state of one environment; `kind` is `emulator` or `aws`, never mixed."""
    return state_root(environ) / "state" / kind / environment


def state_name(stack_name: str, home_region: str | None = None) -> str:
    """What names a stack's state (file or object, without `.tfstate`).

    A stack that lives in whatever region is home (`home_region` given: the home and replication stacks)
    keeps one state per home region. Promoting another region to home then starts a new state there instead
    of planning to destroy resources in a region that may be unreachable, and failing back finds the old home's
    state again (docs/runbooks/promote-home.md).
    """
    return f"{stack_name}.{home_region}" if home_region else stack_name


def plans_dir(environment: str, environ: Mapping[str, str] | None = None) -> Path:
    """Saved plans and the plan report of one environment."""
    return state_root(environ) / "plans" / environment


def emulator_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The emulator's venv, data, temporary files, log and pid file."""
    return state_root(environ) / "emulator"


def plugin_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Terraform's shared provider plugin cache (one provider copy for every stack)."""
    return state_root(environ) / "plugin-cache"


def terraformrc(environ: Mapping[str, str] | None = None) -> Path:
    """The Terraform CLI configuration relay writes and runs Terraform with."""
    return state_root(environ) / "terraformrc"
