"""Deploy and destroy the stacks through the CDK for Terraform CLI, the same path as `cdktf deploy`.

The CLI comes from npm (`package.json` pins cdktf-cli); it synthesizes with `python main.py`, so the
environment chosen by RELAY_ENV / RELAY_OVERRIDES applies. Terraform runs with the project's CLI
configuration (tools.terraform), so an offline provider mirror works here too.

    python -m tools.deploy deploy [STACK ...]    # default: every stack ('*'), targets first
    python -m tools.deploy destroy [STACK ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tools import terraform

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"


class DeployError(Exception):
    """The CLI is missing or a deploy/destroy failed; the message says which and where to look."""


def ensure_cli() -> Path:
    """Install cdktf-cli from package-lock.json once (about 40 s), then reuse it."""
    if CDKTF.exists():
        return CDKTF
    npm = shutil.which("npm")
    if not npm:
        raise DeployError("npm is not on PATH; install Node.js >= 20 (it brings npm)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode or not CDKTF.exists():
        raise DeployError(f"npm ci failed:\n{result.stderr or result.stdout}")
    return CDKTF


def cli_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of the cdktf CLI: our Terraform config, no telemetry, the venv's python first."""
    env = terraform.environment()
    env.update(
        CDKTF_DISABLE_PLUGIN_CACHE_ENV="1",
        CHECKPOINT_DISABLE="1",
        DISABLE_VERSION_CHECK="1",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=env.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"),
        FORCE_COLOR="0",
        # Plain line output instead of the interactive progress display.
        CI="1",
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def cdktf(
    verb: str,
    stacks: list[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    parallelism: int = 2,
    synth: bool = True,
) -> str:
    """Run `cdktf <verb> <stacks> --auto-approve`, streaming lines to `on_line`; return the output.

    `synth=False` reuses cdktf.out from the previous run (synthesis takes ~17 s, jsii start-up).
    """
    if verb not in ("deploy", "destroy"):
        raise DeployError(f"unknown verb {verb!r}; allowed: deploy, destroy")
    if not terraform.plugin_cache_warm():
        # Parallel stacks would fill the empty plugin cache concurrently, which Terraform does not survive.
        parallelism = 1
    args = [str(ensure_cli()), verb, *(stacks or ["*"]), "--auto-approve", f"--parallelism={parallelism}"]
    if not synth:
        args.append("--skip-synth")
    if os.environ.get("RELAY_TF_MIRROR"):
        # `terraform providers lock` asks the registry for checksums, which a mirror-only machine cannot
        # reach; init already recorded the mirror's checksums in the lock file.
        args.append("--skip-provider-lock")
    if stacks:
        # One target region is deployed or destroyed on its own, without the stacks around it.
        args.append("--ignore-missing-stack-dependencies")
    process = subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env or cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if on_line:
            on_line(line.rstrip("\n"))
    output = "".join(lines)
    if process.wait():
        tail = "".join(lines[-40:])
        raise DeployError(f"cdktf {verb} {' '.join(stacks or ['*'])} failed (exit {process.returncode}):\n{tail}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=["deploy", "destroy"])
    parser.add_argument("stacks", nargs="*", help="stack names (default: every stack)")
    options = parser.parse_args(argv)
    try:
        cdktf(options.verb, options.stacks or None, on_line=print)
    except (DeployError, terraform.TerraformError) as error:
        print(f"relay: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
