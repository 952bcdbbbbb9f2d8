"""The regional platform on the emulator, in the session's one deployment: transit gateway peering with
routes both ways, a secret, an image and an item replicated from region to region, and a target region's
platform destroyed and rebuilt on its own while home and the other target keep theirs (`rebuild_platform`, run by
test_release_flow.py beside the rebuild of a bespoke region's pipeline stack)."""

from __future__ import annotations

import uuid

import pytest

from tools import deploy
from tools.platform import Platform
from tools.wait import wait_for

pytestmark = pytest.mark.emulator

REPLICATION_TIMEOUT = 30


@pytest.fixture(scope="module")
def platform(deployed) -> Platform:
    if not deployed.config.platform.enabled:
        pytest.skip(f"the platform is off in {deployed.config.environment}")
    platform = Platform(deployed.config, deployed.clients)
    assert len(platform.targets) >= 2, "the local environment runs the platform in home and two targets"
    return platform


def private_route_tables(platform: Platform, region: str) -> int:
    """How many route tables the application and data subnets of `region` have: one per AZ with a NAT per
    AZ, else one, and one for the data tier."""
    network = platform.config.platform.network
    return (platform.config.platform.network_for(region).az_count if network.nat == "per_az" else 1) + 1


def test_every_target_is_peered_with_home_and_routes_both_ways(platform: Platform):
    cidr = platform.config.platform.network_for
    for region in platform.targets:
        peering = platform.peering(region)
        assert peering.requester_state == "available", peering
        assert peering.accepter_state == "available", peering
        assert peering.requester_route and peering.accepter_route, peering
        # every application and data route table sends the peer's CIDR to the transit gateway
        assert len(platform.vpc_routes_to(region, cidr(platform.home).cidr)) == private_route_tables(platform, region)
        home_tables = private_route_tables(platform, platform.home)
        assert len(platform.vpc_routes_to(platform.home, cidr(region).cidr)) == home_tables


def test_a_secret_updated_in_home_is_readable_in_every_target(platform: Platform):
    for attempt in ("first", "second"):  # the first value and an update of it
        value = f"{attempt}-{uuid.uuid4()}"
        platform.put_secret(value)
        assert platform.read_secret(platform.home) == value
        for region in platform.targets:
            wait_for(
                f"the secret in {region}",
                lambda r=region, v=value: platform.read_secret(r) == v,
                timeout=REPLICATION_TIMEOUT,
            )


def test_an_image_pushed_in_home_is_in_every_target_repository_with_the_same_digest(platform: Platform):
    tag = f"it-{uuid.uuid4().hex[:12]}"
    digest = platform.put_image(tag, seed=tag)
    for region in platform.targets:
        found = wait_for(
            f"the image in {region}", lambda r=region: platform.image_digest(r, tag), timeout=REPLICATION_TIMEOUT
        )
        assert found == digest


def test_an_item_written_in_one_region_is_readable_in_the_others(platform: Platform):
    for writer in (platform.targets[0], platform.home):
        key, payload = f"it-{uuid.uuid4()}", f"from {writer}"
        platform.put_item(writer, key, payload)
        try:
            for region in (r for r in platform.regions if r != writer):
                wait_for(
                    f"the item in {region}",
                    lambda r=region, k=key, p=payload: platform.read_item(r, k) == p,
                    timeout=REPLICATION_TIMEOUT,
                )
        finally:
            platform.delete_item(writer, key)


def rebuild_platform(release, platform: Platform, region: str) -> None:
    """Destroy one target's platform and peering stacks and deploy them again, alone: home and the other
    target stay peered meanwhile. The application tier runs on the platform: its stack goes first, and the
    next release deploys it again. The integration suite runs this beside the rebuild of a bespoke region's
    pipeline stack (test_release_flow.py), which needs nothing of this region."""
    names = platform.names
    stacks = [names.platform_stack(region), names.peering_stack(region)]
    kept = next(target for target in platform.targets if target != region)
    old_vpc = platform.vpc(region)["VpcId"]
    release.delete_deployed_stacks([region])
    try:
        # one stack per run, in dependency order (the peering first on the way down, last on the way up)
        for stack in reversed(stacks):
            deploy.cdktf("destroy", [stack], synth=False)
        assert platform.vpc(region) is None
        assert platform.transit_gateway(region) is None
        # home and the other target are untouched, and still peered
        assert platform.peering(kept).ready
        assert platform.vpc(platform.home) is not None
    finally:
        for stack in stacks:
            deploy.cdktf("deploy", [stack], synth=False)
    assert platform.vpc(region)["VpcId"] != old_vpc
    assert platform.peering(region).ready


def test_seeding_gives_a_secret_without_value_a_value_once_and_never_shows_it(platform: Platform, capsys):
    from config.schema import SecretConfig
    from tools import secrets

    # a secret of this environment created without a value, as the platform stack creates them
    config = platform.config
    settings = config.platform.model_copy(update={"secrets": [SecretConfig(name="seedcheck")]})
    config = config.model_copy(update={"platform": settings})
    name = config.names.secret("seedcheck")
    client = platform.clients("secretsmanager", platform.home)
    client.create_secret(Name=name)
    try:
        assert secrets.seed(config, platform.clients, 40) == [(name, "seeded with 40 random characters")]
        value = client.get_secret_value(SecretId=name)["SecretString"]
        assert len(value) == 40
        assert secrets.seed(config, platform.clients, 40) == [(name, "has a value: left alone")]
        assert client.get_secret_value(SecretId=name)["SecretString"] == value
        assert value not in capsys.readouterr().out
    finally:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
