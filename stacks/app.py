"""Build the app's stacks from a validated configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import RelayConfig
from modules.cdk_seam import cdk
from stacks.home import HomeStack
from stacks.replication import ReplicationStack
from stacks.target import TargetStack


@dataclass(frozen=True)
class RelayApp:
    """The cdktf app and its stacks."""

    app: cdk.App
    home: HomeStack
    targets: list[TargetStack]
    replication: ReplicationStack


def build_app(config: RelayConfig, *, outdir: str | None = None, root: Path = PROJECT_ROOT) -> RelayApp:
    """The home stack and one stack per target region, which stand alone and deploy side by side, then the
    replication stack, which reads the buckets and keys of all of them (`cdktf deploy '*'` deploys it last)."""
    app = cdk.App(outdir=outdir, skip_validation=False) if outdir else cdk.App()
    targets = [TargetStack(app, config=config, region=region, root=root) for region in config.target_regions]
    home = HomeStack(app, config=config, root=root)
    replication = ReplicationStack(app, config=config)
    for stack in (home, *targets):
        replication.add_dependency(stack)
    return RelayApp(app=app, home=home, targets=targets, replication=replication)
