"""Session fixtures: each configuration is synthesized at most once per test session (jsii start-up is
slow), and sessions running side by side (`make test` runs unit and validate in parallel) share it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from config import RelayConfig, load_config, paths

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SYNTH_INPUTS = ("cdktf.json", "requirements.txt", "config", "modules", "regions", "stacks", "app", "buildspec")
"""Everything a synthesis reads besides the configuration itself."""


def pytest_addoption(parser: pytest.Parser) -> None:
    # An option, not an environment variable: tox passes RELAY_* through, so a variable left set in a
    # shell would silently rewrite golden files in every later run.
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden files that differ from the current output; those tests then fail, so review "
        "the diff and run again without this option",
    )


@dataclass
class Synthesized:
    """A synthesized app: its config, its output directory and each stack's JSON."""

    config: RelayConfig
    outdir: Path
    stacks: dict[str, str]

    def stack(self, name: str) -> dict:
        """A stack's Terraform JSON as a dict."""
        return json.loads(self.stacks[name])

    def raw(self, name: str) -> str:
        """A stack's Terraform JSON as text (what cdktf Testing matchers take)."""
        return self.stacks[name]

    def stack_dependencies(self, name: str) -> list[str]:
        """The stacks cdktf deploys before this one (the synthesis's manifest)."""
        manifest = json.loads((self.outdir / "manifest.json").read_text())
        return manifest["stacks"][name]["dependencies"]

    @property
    def home(self) -> str:
        return self.config.names.home_stack()

    def target(self, region: str) -> str:
        return self.config.names.target_stack(region)

    @property
    def replication(self) -> str:
        return self.config.names.replication_stack()

    def platform(self, region: str) -> str:
        return self.config.names.platform_stack(region)

    @property
    def platform_global(self) -> str:
        return self.config.names.platform_global_stack()

    def peering(self, region: str) -> str:
        return self.config.names.peering_stack(region)

    @property
    def edge(self) -> str:
        return self.config.names.edge_stack()

    @property
    def edge_logs(self) -> str:
        return self.config.names.edge_logs_stack()


def synthesize(config: RelayConfig, outdir: Path) -> Synthesized:
    from stacks import build_app

    build_app(config, outdir=str(outdir)).app.synth()
    return read_synthesized(config, outdir)


def read_synthesized(config: RelayConfig, outdir: Path) -> Synthesized:
    stacks = {p.name: (p / "cdk.tf.json").read_text() for p in sorted((outdir / "stacks").iterdir())}
    return Synthesized(config, outdir, stacks)


def inputs_digest(config: RelayConfig) -> str:
    """Digest of the configuration and of every file a synthesis reads."""
    digest = hashlib.sha256(config.model_dump_json().encode())
    for entry in SYNTH_INPUTS:
        path = PROJECT_ROOT / entry
        files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
        for file in files if path.is_dir() else [path]:
            digest.update(str(file.relative_to(PROJECT_ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def synthesize_shared(name: str, config: RelayConfig, *, wait: bool = True) -> Synthesized | None:
    """The synthesis of `config` under `<state root>/synth/`, keyed by the digest of its inputs: the first
    session to need it synthesizes (under a lock), sessions at the same time or later with the same
    inputs read it. A change to any input is a new key; older syntheses of `name` are removed.

    `wait=False`: None, instead of waiting, while another session holds the lock and the synthesis is not
    there yet (that session may run at a lower CPU priority, which the waiting one would then share)."""
    root = paths.state_root() / "synth"
    root.mkdir(parents=True, exist_ok=True)
    outdir = root / f"{name}-{inputs_digest(config)}"
    with (root / f"{name}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # the directory appears whole (renamed into place) or not at all
            return read_synthesized(config, outdir) if (outdir / "manifest.json").is_file() else None
        if not (outdir / "manifest.json").is_file():
            for old in root.glob(f"{name}-*"):
                shutil.rmtree(old, ignore_errors=True)
            work = root / f".{outdir.name}.tmp"
            shutil.rmtree(work, ignore_errors=True)
            synthesize(config, work)
            work.rename(outdir)
    return read_synthesized(config, outdir)


def environment_config(name: str, **overrides) -> RelayConfig:
    environ = {"RELAY_ENV": name}
    if overrides:
        environ["RELAY_OVERRIDES"] = json.dumps(overrides)
    return load_config(environ=environ)


@pytest.fixture(scope="session")
def local() -> Synthesized:
    """The embedded default environment (emulator), as shipped in cdktf.json."""
    return synthesize_shared("local", environment_config("local"))


@pytest.fixture(scope="session")
def prod() -> Synthesized:
    """The AWS environment of cdktf.json, with delete-marker replication, a CodeCommit source, a subscription to
    the notification topic and Replication Time Control."""
    config = environment_config(
        "prod",
        replication={"delete_marker_replication": True, "storage_class": "STANDARD_IA"},
        source={"provider": "codecommit", "connection_arn": None, "repository": "sample-app", "branch": "release/v2"},
        observability={
            "subscriptions": [{"protocol": "email", "endpoint": "platform-team@example.org"}],
            "replication_time_control": True,
        },
    )
    return synthesize_shared("prod", config)


@pytest.fixture(scope="session")
def hardened() -> Synthesized:
    """The AWS environment with every release-integrity option set: CloudTrail audit of release writes, key
    administrators, a state key and a permissions boundary of the user's own; and what an organisation that
    watches and governs centrally sets: no observability, the account's own Config recorder, no Security Hub."""
    config = environment_config(
        "prod",
        audit={"release_writes": "cloudtrail"},
        keys={"administrators": ["arn:aws:iam::111122223333:role/platform-admin"]},
        # one state bucket, out of the home region, encrypted with its region's key
        state={
            "bucket": "example-org-terraform-state",
            "region": "eu-central-1",
            "kms_key_id": "arn:aws:kms:eu-central-1:111122223333:alias/terraform-state",
        },
        deploy={"permissions_boundary_arn": "arn:aws:iam::111122223333:policy/platform-boundary"},
        observability={"enabled": False},
        governance={"config": {"recorder": "existing"}, "security_hub": {"enabled": False}},
    )
    return synthesize_shared("hardened", config)
