"""Build the app's stacks from a validated configuration."""

from __future__ import annotations

from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import RelayConfig
from modules.cdk_seam import cdk
from stacks.home import HomeStack
from stacks.target import TargetStack


def build_app(
    config: RelayConfig, *, outdir: str | None = None, root: Path = PROJECT_ROOT
) -> tuple[cdk.App, HomeStack, list[TargetStack]]:
    """One stack per target region, then the home stack, which is deployed after them."""
    app = cdk.App(outdir=outdir, skip_validation=False) if outdir else cdk.App()
    targets = [TargetStack(app, config=config, region=region, root=root) for region in config.target_regions]
    home = HomeStack(app, config=config, root=root)
    for target in targets:
        # The home stack reads each target's bucket and key, so `cdktf deploy '*'` deploys targets first.
        home.add_dependency(target)
    return app, home, targets
