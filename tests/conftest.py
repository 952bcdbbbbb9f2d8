"""Session fixtures: each configuration is synthesized once per test session (jsii start-up is slow)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from config import RelayConfig, load_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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

    @property
    def home(self) -> str:
        return self.config.names.home_stack()

    def target(self, region: str) -> str:
        return self.config.names.target_stack(region)


def synthesize(config: RelayConfig, outdir: Path) -> Synthesized:
    from stacks import build_app

    app, _, _ = build_app(config, outdir=str(outdir))
    app.synth()
    stacks = {p.name: (p / "cdk.tf.json").read_text() for p in sorted((outdir / "stacks").iterdir())}
    return Synthesized(config, outdir, stacks)


def environment_config(name: str, **overrides) -> RelayConfig:
    environ = {"RELAY_ENV": name}
    if overrides:
        environ["RELAY_OVERRIDES"] = json.dumps(overrides)
    return load_config(environ=environ)


@pytest.fixture(scope="session")
def local(tmp_path_factory) -> Synthesized:
    """The embedded default environment (emulator), as shipped in cdktf.json."""
    return synthesize(environment_config("local"), tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory) -> Synthesized:
    """The AWS environment of cdktf.json, with delete-marker replication and a CodeCommit source."""
    config = environment_config(
        "prod",
        replication={"delete_marker_replication": True, "storage_class": "STANDARD_IA"},
        source={"provider": "codecommit", "connection_arn": None, "repository": "sample-app", "branch": "release/v2"},
    )
    return synthesize(config, tmp_path_factory.mktemp("prod"))
