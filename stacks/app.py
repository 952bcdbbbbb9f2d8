"""Build the app's stacks from a validated configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.paths import PROJECT_ROOT
from config.schema import DeliveryStrategy, RelayConfig
from modules import policy_checks
from modules.cdk_seam import cdk
from regions.delivery import decisions
from stacks.edge import EdgeLogsStack, EdgeStack
from stacks.home import HomeStack
from stacks.platform import PeeringStack, PlatformGlobalStack, PlatformStack
from stacks.replication import ReplicationStack
from stacks.target import TargetStack


@dataclass(frozen=True)
class RelayApp:
    """The cdktf app and its stacks."""

    app: cdk.App
    home: HomeStack
    targets: list[TargetStack]
    """The stacks of the target regions that have one (every one; with event forwarding and governance off,
    those delivered `native` or `bespoke`)."""
    replication: ReplicationStack | None
    """Replication to the `bespoke` regions; None when there is none."""
    platform: list[PlatformStack]
    """The regional platform stacks, home first; empty when the platform is off."""
    platform_global: PlatformGlobalStack | None
    """What home replicates to the platform regions; None when the platform is off."""
    peering: list[PeeringStack]
    """One transit gateway peering stack per platform target region."""
    edge: EdgeStack | None = None
    """The application's global edge; None when it is off. It deploys after the first release (see
    stacks/edge.py), so `cdktf deploy '*'` before any release fails there, naming the missing load balancer."""
    edge_logs: EdgeLogsStack | None = None
    """The edge's access log bucket and key (CloudFront on); deployed with the other stacks, before the edge."""

    @property
    def stacks(self) -> list[cdk.TerraformStack]:
        """Every stack of the app."""
        pipeline = [self.home, *self.targets, *([self.replication] if self.replication else [])]
        platform = [*self.platform, *([self.platform_global] if self.platform_global else []), *self.peering]
        edge = [stack for stack in (self.edge_logs, self.edge) if stack is not None]
        return pipeline + platform + edge


def build_app(config: RelayConfig, *, outdir: str | None = None, root: Path = PROJECT_ROOT) -> RelayApp:
    """One stack per target region (a `remote` one only for its event forwarding and governance) and the home
    stack, which stand alone;
    the home stack deploys after the native regions' stacks (its pipeline names their artifact stores),
    beside the bespoke ones. Then the replication stack, which reads the buckets and keys of home and the
    bespoke regions (`cdktf deploy '*'` deploys it last)."""
    app = cdk.App(outdir=outdir, skip_validation=False) if outdir else cdk.App()
    strategies = {d.region: d.strategy for d in decisions(config)}
    targets = [
        TargetStack(app, config=config, region=region, strategy=strategy, root=root)
        for region, strategy in strategies.items()
        if strategy is not DeliveryStrategy.REMOTE or config.every_target_has_stack
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
    platform, platform_global, peering = build_platform(app, config)
    built = RelayApp(
        app=app,
        home=home,
        targets=targets,
        replication=replication,
        platform=platform,
        platform_global=platform_global,
        peering=peering,
        edge=EdgeStack(app, config=config) if config.has_edge else None,
        edge_logs=EdgeLogsStack(app, config=config) if config.has_edge_logs else None,
    )
    if built.edge is not None and built.edge_logs is not None:
        built.edge.add_dependency(built.edge_logs)
    # Every stack is checked at synthesis against relay's policy rules (modules/policy_checks.py).
    for stack in built.stacks:
        policy_checks.attach(stack)
    return built


def build_platform(
    app: cdk.App, config: RelayConfig
) -> tuple[list[PlatformStack], PlatformGlobalStack | None, list[PeeringStack]]:
    """The platform's stacks when it is on: one per platform region (each stands alone); the one home
    replicates from, after them (image replication into a region whose repository does not exist yet would
    create it with ECR's defaults, and the region's stack would then fail to create it); and a peering
    stack per target region after its region's and home's platform stacks."""
    if not config.platform.enabled:
        return [], None, []
    regional = [PlatformStack(app, config=config, region=region) for region in config.platform_regions]
    platform_global = PlatformGlobalStack(app, config=config)
    for stack in regional:
        platform_global.add_dependency(stack)
    peering = []
    for stack in regional[1:]:
        peer = PeeringStack(app, config=config, region=stack.region)
        peer.add_dependency(regional[0])
        peer.add_dependency(stack)
        peering.append(peer)
    return regional, platform_global, peering
