"""Run Terraform on the synthesized stacks with the project's own CLI configuration.

The CLI configuration is written to `.relay/terraformrc` and always sets a shared plugin cache
(one provider copy for every stack). With `RELAY_TF_MIRROR=<dir>` it installs providers only from
that filesystem mirror, for machines without registry access; without it, Terraform uses the
registry as usual.

    python -m tools.terraform validate [STACK ...]   # init (offline-capable) + validate
    python -m tools.terraform plan [STACK ...]       # init + plan (needs credentials or the emulator)
    python -m tools.terraform env                    # print the environment to use terraform by hand
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_ROOT = Path(os.environ.get("RELAY_STATE_DIR", PROJECT_ROOT / ".relay"))
STACKS_DIR = PROJECT_ROOT / "cdktf.out" / "stacks"
MIN_TERRAFORM = (1, 5)
# Two `terraform init`s filling an empty plugin cache at once collide ("file exists"); inits are short,
# so they run one at a time while the slow part (validate, plan) stays parallel.
_INIT_LOCK = threading.Lock()


class TerraformError(Exception):
    """Terraform is missing, too old, or a command failed; the message says which."""


def cli_config(mirror: str | None = None) -> Path:
    """Write the Terraform CLI configuration and return its path."""
    mirror = mirror if mirror is not None else os.environ.get("RELAY_TF_MIRROR") or None
    cache = STATE_ROOT / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    lines = [f'plugin_cache_dir = "{cache}"']
    if mirror:
        if not (Path(mirror) / "registry.terraform.io").is_dir():
            raise TerraformError(
                f"RELAY_TF_MIRROR={mirror} is not a provider mirror: expected {mirror}/registry.terraform.io/"
            )
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            '    include = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            '  direct { exclude = ["registry.terraform.io/hashicorp/*"] }',
            "}",
        ]
    path = STATE_ROOT / "terraformrc"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def plugin_cache_warm() -> bool:
    """Whether the shared plugin cache already holds a provider (concurrent inits are then safe)."""
    return any((STATE_ROOT / "plugin-cache").glob("*/*/*/*/*"))


def environment(mirror: str | None = None) -> dict[str, str]:
    """Process environment for Terraform: our CLI config, no telemetry, no prompts."""
    env = dict(os.environ)
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config(mirror)),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
    )
    return env


def terraform_binary() -> str:
    """Path of a Terraform >= 1.5 on PATH."""
    binary = shutil.which("terraform")
    if not binary:
        raise TerraformError(
            "terraform is not on PATH; install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)"
        )
    output = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, check=False).stdout
    version = output.split('"terraform_version":')[1].split('"')[1] if "terraform_version" in output else "0.0"
    major, minor = (int(part) for part in version.split(".")[:2])
    if (major, minor) < MIN_TERRAFORM:
        raise TerraformError(f"terraform {version} is too old; need >= {'.'.join(map(str, MIN_TERRAFORM))}")
    return binary


def stack_dirs(names: list[str] | None = None, stacks_dir: Path = STACKS_DIR) -> list[Path]:
    """Synthesized stack directories, all or the named ones."""
    if not stacks_dir.is_dir():
        raise TerraformError(f"{stacks_dir} does not exist; synthesize first (python main.py or cdktf synth)")
    available = sorted(p for p in stacks_dir.iterdir() if (p / "cdk.tf.json").is_file())
    if not names:
        return available
    by_name = {p.name: p for p in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise TerraformError(f"unknown stack(s) {', '.join(unknown)}; allowed: {', '.join(by_name)}")
    return [by_name[n] for n in names]


def run(stack: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one terraform command in a stack directory, capturing output."""
    return subprocess.run([terraform_binary(), *args], cwd=stack, env=env, capture_output=True, text=True, check=False)


def init(stack: Path, env: dict[str, str], *, backend: bool = True) -> None:
    """`terraform init`, raising with Terraform's own message on failure."""
    args = ["init", "-input=false", "-no-color"]
    if not backend:
        args.append("-backend=false")
    with _INIT_LOCK:
        result = run(stack, *args, env=env)
    if result.returncode:
        raise TerraformError(f"terraform init failed in {stack.name}:\n{result.stderr or result.stdout}")


def validate(stack: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Offline init (no backend) and `terraform validate -json`."""
    init(stack, env, backend=False)
    return run(stack, "validate", "-json", "-no-color", env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.terraform", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["validate", "plan", "env"])
    parser.add_argument("stacks", nargs="*", help="stack names (default: every synthesized stack)")
    options = parser.parse_args(argv)
    try:
        env = environment()
        if options.command == "env":
            print(f"export TF_CLI_CONFIG_FILE={env['TF_CLI_CONFIG_FILE']} CHECKPOINT_DISABLE=1")
            return 0
        failed = 0
        for stack in stack_dirs(options.stacks):
            if options.command == "validate":
                result = validate(stack, env)
            else:
                init(stack, env)
                result = run(stack, "plan", "-no-color", "-input=false", env=env)
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"{options.command} {stack.name}: {status}")
            if result.returncode:
                failed += 1
                print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        return 1 if failed else 0
    except TerraformError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
