"""How each target region receives and deploys a release: the delivery strategy, and the `auto` policy
that decides it from the region catalog.

Strategies:

* `native`: the home pipeline deploys into the region with AWS's integrated cross-region CloudFormation
  action, through an artifact store in that region. Needs CodePipeline there.
* `bespoke`: the release bucket replicates into the region, where a trigger starts the region's own
  pipeline. Needs CodePipeline there. The region keeps deploying its last release while home is down.
* `remote`: a CodeBuild action of the home pipeline deploys into the region with CloudFormation. Needs
  CloudFormation there (and CodeBuild in home, which the home pipeline needs anyway). The region
  depends on the home region, and its template is limited to 51,200 bytes.

The `auto` policy, per target region:

1. another partition than home, or no CloudFormation: an error (no strategy works there);
2. no CodePipeline: `remote` (no pipeline or artifact store can exist there);
3. CodePipeline, but not the source service (CodeConnections for a `connection` source, CodeCommit for
   `codecommit`) or no CodeBuild: `bespoke`. The region can never run the source stage, so it can never
   be promoted to home; its own pipeline and its own copy of the release keep it deploying while home
   is down (static stability, where it is the only recovery);
4. otherwise `native`: one pipeline, fewer resources and cost; if home is lost, the region can itself be
   promoted to home.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.schema import DeliveryStrategy, RelayConfig, SourceProvider, TriggerMode
from regions import catalog

DECIDED = (DeliveryStrategy.NATIVE, DeliveryStrategy.BESPOKE, DeliveryStrategy.REMOTE)
"""The strategies a decision can take (`auto` is decided into one of them)."""


@dataclass(frozen=True)
class Decision:
    """The delivery strategy of one target region, and why."""

    region: str
    strategy: DeliveryStrategy
    """`native`, `bespoke` or `remote`; never `auto`."""
    requested: DeliveryStrategy
    """What the configuration asked for the region (may be `auto`)."""
    reason: str
    """One sentence, shown in `relay delivery` and the plan report."""
    trigger_mode: TriggerMode | None
    """How the replicated release starts the region's pipeline: `bespoke` only, else None."""


class DeliveryError(ValueError):
    """No requested strategy can deliver to a region; the message names the region, why, and the
    strategies that work there."""


_REMOTE_LIMITS = f"templates up to {catalog.REMOTE_TEMPLATE_MAX_BYTES:,} bytes; it depends on the home region"
"""What a `remote` region gives up, stated in each of its reasons."""

_EXPLICIT = {
    DeliveryStrategy.NATIVE: "a cross-region CloudFormation action of the home pipeline, through an artifact "
    "store in the region",
    DeliveryStrategy.BESPOKE: "the release replicates into the region, where a trigger starts its own pipeline "
    "(it keeps deploying its last release while home is down)",
    DeliveryStrategy.REMOTE: "a CodeBuild action of the home pipeline deploys it with CloudFormation "
    f"({_REMOTE_LIMITS})",
}
"""How each explicitly requested strategy delivers, for the reason of its decision."""


def _source_service(provider: SourceProvider) -> str:
    return "codecommit" if provider is SourceProvider.CODECOMMIT else "connection"


def working_strategies(home: str, region: str) -> list[DeliveryStrategy]:
    """The explicit strategies that can deliver from `home` to `region` (empty when none can)."""
    partitions = catalog.partitions()
    if region not in partitions or partitions.get(home) != partitions[region]:
        return []
    if not catalog.has("cloudformation", region):
        return []
    if not catalog.has("codepipeline", region):
        return [DeliveryStrategy.REMOTE]
    return list(DECIDED)


def _works_there(home: str, region: str) -> str:
    working = working_strategies(home, region)
    if not working:
        return "no strategy works there"
    return f"strategies that work there: {', '.join(working)} (or auto)"


def _notes(region: str, strategy: DeliveryStrategy, provider: SourceProvider) -> str:
    notes = []
    if strategy is DeliveryStrategy.NATIVE and provider is SourceProvider.CONNECTION:
        if region in catalog.GITHUB_APP_PER_REGION.regions:
            notes.append("as home it would need the region-specific GitHub app")
    if catalog.is_opt_in(region):
        notes.append("opt-in region: enable it in the account")
    return "".join(f"; {note}" for note in notes)


def _check_reachable(home: str, region: str) -> None:
    """The rules every strategy shares."""
    partitions = catalog.partitions()
    if region not in partitions:
        raise DeliveryError(f"unknown region {region!r}; no strategy works there")
    if partitions.get(home) != partitions[region]:
        raise DeliveryError(
            f"{region!r} is in partition {partitions[region]!r} but the home region {home!r} is in "
            f"{partitions.get(home)!r}, and no delivery strategy crosses partitions: no strategy works there; "
            f"choose a region of partition {partitions.get(home)!r}"
        )
    if not catalog.has("cloudformation", region):
        raise DeliveryError(
            f"{region!r} has no CloudFormation endpoint, and every strategy deploys with CloudFormation: "
            "no strategy works there"
        )


def decide_region(
    home: str, region: str, requested: DeliveryStrategy, source_provider: SourceProvider
) -> tuple[DeliveryStrategy, str]:
    """The strategy delivering from `home` to `region` and the reason, or DeliveryError.

    `home` is assumed valid as a home region (CodePipeline, CodeBuild and the source service; the
    loader checks that on its own).
    """
    _check_reachable(home, region)
    pipeline = catalog.has("codepipeline", region)
    if requested is DeliveryStrategy.AUTO:
        strategy, reason = _auto(region, pipeline, source_provider)
    elif requested is not DeliveryStrategy.REMOTE and not pipeline:
        raise DeliveryError(
            f"{region!r} has no CodePipeline endpoint, so {requested.value!r} cannot work there: no pipeline or "
            f"artifact store can exist there (aws-cdk#15650); {_works_there(home, region)}"
        )
    else:
        strategy, reason = requested, f"{requested.value} as configured: {_EXPLICIT[requested]}"
    return strategy, reason + _notes(region, strategy, source_provider)


def _auto(region: str, pipeline: bool, provider: SourceProvider) -> tuple[DeliveryStrategy, str]:
    if not pipeline:
        return DeliveryStrategy.REMOTE, (
            "no CodePipeline, so no pipeline or artifact store can exist there (aws-cdk#15650): a CodeBuild action "
            f"of the home pipeline deploys it with CloudFormation ({_REMOTE_LIMITS})"
        )
    source = _source_service(provider)
    missing = [catalog.SERVICE_TITLES[s] for s in (source, "codebuild") if not catalog.has(s, region)]
    if missing:
        return DeliveryStrategy.BESPOKE, (
            f"no {' and no '.join(missing)}, so it can never run the source stage nor be promoted to home: its own "
            "pipeline and copy of the release keep it deploying while home is down"
        )
    return DeliveryStrategy.NATIVE, (
        f"CodePipeline, {catalog.SERVICE_TITLES[source]} and CodeBuild: AWS's integrated cross-region CloudFormation "
        "action (one pipeline, fewer resources), and it can be promoted to home if home is lost"
    )


def decide(config: RelayConfig, region: str) -> Decision:
    """The decision for one target region of a valid configuration (DeliveryError if none works)."""
    requested = config.requested_delivery(region)
    strategy, reason = decide_region(config.home_region, region, requested, config.source.provider)
    trigger = config.trigger_mode(region) if strategy is DeliveryStrategy.BESPOKE else None
    return Decision(region=region, strategy=strategy, requested=requested, reason=reason, trigger_mode=trigger)


def decisions(config: RelayConfig) -> list[Decision]:
    """The decision of every target region, in `target_regions` order."""
    return [decide(config, region) for region in config.target_regions]


def strategy_of(config: RelayConfig, region: str) -> DeliveryStrategy:
    """The decided strategy of one target region."""
    return decide(config, region).strategy
