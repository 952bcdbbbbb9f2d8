"""Build the app's stacks from a validated configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import DeliveryStrategy, RelayConfig
from modules import policy_checks
from modules.cdk_seam import cdk
from regions.delivery import decisions
from stacks.home import HomeStack
from stacks.replication import ReplicationStack
from stacks.target import TargetStack


@dataclass(frozen=True)
class RelayApp:
    """The cdktf app and its stacks."""

    app: cdk.App
    home: HomeStack
    targets: list[TargetStack]
    """The stacks of the target regions that have one (delivered `native` or `bespoke`)."""
    replication: ReplicationStack | None
    """Replication to the `bespoke` regions; None when there is none."""


def build_app(config: RelayConfig, *, outdir: str | None = None, root: Path = PROJECT_ROOT) -> RelayApp:
    """One stack per target region that needs one (`native`, `bespoke`) and the home stack, which stand alone;
    the home stack deploys after the native regions' stacks (its pipeline names their artifact stores),
    beside the bespoke ones. Then the replication stack, which reads the buckets and keys of home and the
    bespoke regions (`cdktf deploy '*'` deploys it last)."""
    app = cdk.App(outdir=outdir, skip_validation=False) if outdir else cdk.App()
    strategies = {d.region: d.strategy for d in decisions(config)}
    targets = [
        TargetStack(app, config=config, region=region, strategy=strategy, root=root)
        for region, strategy in strategies.items()
        if strategy is not DeliveryStrategy.REMOTE
    ]
    home = HomeStack(app, config=config, root=root)
    for target in targets:
        if target.strategy is DeliveryStrategy.NATIVE:
            home.add_dependency(target)
    replication = None
    if DeliveryStrategy.BESPOKE in strategies.values():
        replication = ReplicationStack(app, config=config)
        for stack in (home, *targets):
            if stack is home or stack.strategy is DeliveryStrategy.BESPOKE:
                replication.add_dependency(stack)
    # Every stack is checked at synthesis against relay's policy rules (modules/policy_checks.py).
    for stack in (home, *targets, *([replication] if replication else [])):
        policy_checks.attach(stack)
    return RelayApp(app=app, home=home, targets=targets, replication=replication)
