"""Deploy and destroy the stacks through the CDK for Terraform CLI, the same path as `cdktf deploy`.

The CLI comes from npm (`package.json` pins cdktf-cli); it synthesizes with `python main.py`, so the
environment chosen by RELAY_ENV / RELAY_OVERRIDES applies. Terraform runs with the CLI configuration
`tools.terraform` chooses, after its preflight: a machine where Terraform cannot install its provider
stops in seconds, before npm or synthesis start.

    relay deploy [STACK ...]     # python -m tools.deploy deploy; default: every stack ('*'), replication last
    relay destroy [STACK ...]    # python -m tools.deploy destroy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from config.paths import PROJECT_ROOT, state_name, terraform_state_dir
from tools import terraform

if TYPE_CHECKING:
    from config.schema import RelayConfig

CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"


def stack_names(config: RelayConfig, *, edge: bool = True) -> list[str]:
    """Every stack of the configuration, in deploy order: the target regions' stacks, home, replication, the
    platform (each region's stack, what home replicates, the peerings), the edge's access log bucket, then the
    edge (`edge=False` leaves it out: it deploys after the first release, which creates the load balancers it
    routes to)."""
    # Imported here: the decisions need boto3's region data, which `relay deploy --help` does not.
    from config.schema import DeliveryStrategy
    from regions.delivery import decisions

    names = config.names
    strategies = {d.region: d.strategy for d in decisions(config)}
    return [
        *(
            names.target_stack(r)
            for r, s in strategies.items()
            if s is not DeliveryStrategy.REMOTE or config.every_target_has_stack
        ),
        names.home_stack(),
        *([names.replication_stack()] if DeliveryStrategy.BESPOKE in strategies.values() else []),
        *(names.platform_stack(r) for r in config.platform_regions),
        *([names.platform_global_stack()] if config.platform_regions else []),
        *(names.peering_stack(r) for r in config.platform_regions[1:]),
        *([names.edge_logs_stack()] if config.has_edge_logs else []),
        *([names.edge_stack()] if edge and config.has_edge else []),
    ]


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


def synthesize(env: dict[str, str] | None = None) -> None:
    """`python main.py` with this interpreter into cdktf.out, as `cdktf synth` would."""
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise terraform.TerraformError(f"synthesis (python main.py) failed:\n{result.stderr or result.stdout}")


def prepare() -> None:
    """The cdktf CLI installed (npm, once) and the stacks synthesized, side by side: then `cdktf(...,
    synth=False)` starts at once (the integration suite does this while the emulator starts)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(ensure_cli), pool.submit(synthesize, cli_environment())]
        for job in jobs:
            job.result()


def cli_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of the cdktf CLI: relay's Terraform set-up, no telemetry, the venv's python first.

    With the local backend, `terraform init` re-points a stack at the state path just synthesized
    (`-reconfigure`): that path follows the environment and `RELAY_STATE_DIR`, and a stack directory of
    `cdktf.out` initialized for another one would otherwise stop with "Backend configuration changed".
    State is never migrated between them; an S3 backend is never re-pointed silently.
    """
    from config import load_config

    env = terraform.environment()
    if load_config().state.backend == "local":
        env["TF_CLI_ARGS_init"] = "-reconfigure"
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


def adopt_legacy_state(config: RelayConfig | None = None) -> list[Path]:
    """Local backend: rename the state files of the stacks that follow the home region from `<stack>.tfstate`
    (before they were kept per home region) to `<stack>.<home>.tfstate`, once; return the new paths."""
    from config import load_config

    config = config or load_config()
    if config.state.backend != "local":
        return []
    folder = terraform_state_dir("emulator" if config.emulator.enabled else "aws", config.environment)
    adopted = []
    for stack in (config.names.home_stack(), config.names.replication_stack()):
        legacy = folder / f"{stack}.tfstate"
        current = folder / f"{state_name(stack, config.home_region)}.tfstate"
        if legacy.is_file() and not current.exists():
            legacy.rename(current)
            adopted.append(current)
    return adopted


def emulator_state(endpoint: str) -> dict | None:
    """The emulator's persistence report (`GET /_relay/persistence`), or None when it does not answer one."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/_relay/persistence", timeout=5) as response:  # noqa: S310 - the configured emulator endpoint
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def follow_emulator(config: RelayConfig | None = None) -> Path | None:
    """Keep the emulator environment's Terraform state in step with what the emulator holds.

    The emulator names its state with an instance id that survives a stop / start and changes when its
    state starts afresh (`relay emulator clean`, a snapshot it could not read; at every start with
    `RELAY_EMULATOR_PERSIST=0`). The id is recorded beside the Terraform state; when the emulator answers
    another one (or a state without a recorded id meets an emulator whose state is fresh), every resource in
    that state is gone, so the state files are moved aside (into `lost-<old id>/`, returned) and the next
    deploy creates everything again instead of planning against resources that no longer exist. What a
    restart could not keep of a service the emulator lists (`relay emulator status`); Terraform's refresh
    finds those resources missing and creates them again."""
    from config import load_config

    config = config or load_config()
    if not config.emulator.enabled or config.state.backend != "local":
        return None
    report = emulator_state(config.emulator.endpoint)
    if not report or not report.get("instance"):
        return None
    folder = terraform_state_dir("emulator", config.environment)
    marker = folder / ".emulator-instance"
    recorded = marker.read_text().strip() if marker.is_file() else None
    moved = None
    stale = recorded != report["instance"] if recorded else bool(report.get("fresh"))
    if stale:
        states = sorted(folder.glob("*.tfstate*"))
        if states:
            moved = folder / f"lost-{recorded or 'unrecorded'}"
            moved.mkdir(parents=True, exist_ok=True)
            for state in states:
                state.rename(moved / state.name)
            print(
                f"relay: the emulator at {config.emulator.endpoint} started with fresh state (instance "
                f"{report['instance']}, was {recorded or 'not recorded'}); its Terraform state moved to {moved}",
                file=sys.stderr,
            )
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(report["instance"] + "\n")
    return moved


def cdktf(
    verb: str,
    stacks: list[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    parallelism: int = 8,
    synth: bool = True,
    ignore_missing: bool | None = None,
) -> str:
    """Run `cdktf <verb> <stacks> --auto-approve` (`diff`: one stack's plan, nothing applied), streaming lines
    to `on_line`; return the output.

    `synth=False` reuses cdktf.out from the previous run (synthesis takes ~17 s, jsii start-up).
    `ignore_missing` (default: when `stacks` are named) deploys them without the stacks they depend on; name
    one stack then (cdktf, given two dependent stacks with it, can start the same run over and over); a list
    that holds every dependency of its stacks needs no such flag.
    Raises TerraformError, before anything starts, when Terraform cannot install its provider.
    """
    if verb not in ("deploy", "destroy", "diff"):
        raise DeployError(f"unknown verb {verb!r}; allowed: deploy, destroy, diff")
    source = terraform.preflight()
    adopt_legacy_state()
    follow_emulator()
    env = env or cli_environment()
    # Stacks deploy side by side: their inits must find the provider in the cache, not fill it together.
    terraform.warm_plugin_cache(env)
    args = [str(ensure_cli()), verb, *(stacks or ["*"])]
    if verb != "diff":
        args += ["--auto-approve", f"--parallelism={parallelism}"]
    if not synth:
        args.append("--skip-synth")
    if not source.needs_registry:
        # `terraform providers lock` asks the registry for checksums whatever the CLI configuration says,
        # and the provider comes from elsewhere here; init already recorded its checksums in the lock file.
        args.append("--skip-provider-lock")
    if stacks and ignore_missing is not False and verb != "diff":
        # One target region is deployed or destroyed on its own, without the stacks around it.
        args.append("--ignore-missing-stack-dependencies")
    process = subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
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
        raise DeployError(
            f"cdktf {verb} {' '.join(stacks or ['*'])} failed (exit {process.returncode}):\n{failure_excerpt(lines)}"
        )
    return output


def deploy_all(
    config: RelayConfig, *, env: dict[str, str] | None = None, on_line: Callable[[str], None] | None = None
) -> str:
    """Deploy every stack but the edge (it deploys after the first release: `deploy_edge`)."""
    return cdktf("deploy", stack_names(config, edge=False), env=env, on_line=on_line, ignore_missing=False)


def deploy_edge(
    config: RelayConfig, *, env: dict[str, str] | None = None, on_line: Callable[[str], None] | None = None
) -> str:
    """Deploy the edge alone, from the stacks already synthesized (after the first release)."""
    return cdktf("deploy", [config.names.edge_stack()], env=env, on_line=on_line, synth=False)


def destroy_all(
    config: RelayConfig,
    *,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    synth: bool = True,
    after_edge: Callable[[], object] | None = None,
) -> str:
    """Destroy every stack: the edge first, while the load balancers it reads still exist, then `after_edge`
    (deleting the application stacks the pipelines deployed), then the rest."""
    output = ""
    if config.has_edge:
        output += cdktf("destroy", [config.names.edge_stack()], env=env, on_line=on_line, synth=synth)
        synth = False
    if after_edge is not None:
        after_edge()
    stacks = stack_names(config, edge=False)
    return output + cdktf("destroy", stacks, env=env, on_line=on_line, synth=synth, ignore_missing=False)


def failure_excerpt(lines: list[str], *, context: int = 8, tail: int = 15) -> str:
    """Terraform's error blocks and the last lines of the output.

    With several stacks the output interleaves, so the error of one stack is rarely among the last
    lines: every line that names an error is kept with what follows it, then the tail.
    """
    keep: set[int] = set()
    for index, line in enumerate(lines):
        if "Error" in line or "error:" in line:
            keep.update(range(index, min(index + context, len(lines))))
    keep.update(range(max(0, len(lines) - tail), len(lines)))
    excerpt, previous = [], -1
    for index in sorted(keep):
        if previous >= 0 and index != previous + 1:
            excerpt.append("...\n")
        excerpt.append(lines[index])
        previous = index
    return "".join(excerpt)


def main(argv: list[str] | None = None, *, prog: str = "relay deploy|destroy") -> int:
    """`relay deploy|destroy`: exit 0 on success, 1 when cdktf failed, 2 when Terraform cannot run here."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Deploy or destroy stacks with the cdktf CLI (synthesizes first; RELAY_ENV picks the environment).",
        epilog="Home and the targets deploy side by side, then replication; naming one stack deploys or destroys it "
        "on its own.",
    )
    parser.add_argument("verb", choices=["deploy", "destroy"], help="what to do with the stacks")
    parser.add_argument(
        "stacks",
        nargs="*",
        help="stack names (default: every stack; deploy leaves the edge for after the first release, destroy "
        "takes it first)",
    )
    options = parser.parse_args(argv)
    from config import ConfigError, load_config

    try:
        if options.stacks:
            cdktf(options.verb, options.stacks, on_line=print)
        elif options.verb == "destroy":
            destroy_all(load_config(), on_line=print)
        else:
            config = load_config()
            deploy_all(config, on_line=print)
            if config.has_edge:
                print(
                    f"relay: the edge deploys once the first release has created the load balancers: "
                    f"relay deploy {config.names.edge_stack()}"
                )
    except ConfigError as error:
        print(f"relay: configuration error\n{error}", file=sys.stderr)
        return 2
    except terraform.TerraformError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    except DeployError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
