"""The application tier and its edge on the emulator, in the session's one deployment: a `git push` (the session's
first release, tests/integration/conftest.py) deploys the tier in every application region with its capacity (the
standby region limited), the edge deploys after that release, Route 53 answers the active region, and when the
active region's targets go out of service the answer moves to the standby region within the health check's
threshold, and back."""

from __future__ import annotations

import pytest

from tools.application import Application
from tools.release import Release
from tools.wait import wait_for

pytestmark = pytest.mark.emulator

PIPELINE_TIMEOUT = 180


@pytest.fixture(scope="module")
def application(deployed: Release) -> Application:
    """The application tier the session's first release deployed (tests/integration/conftest.py), with the
    edge on it."""
    config = deployed.config
    if not config.has_application:
        pytest.skip(f"the application tier is off in {config.environment}")
    application = Application(config, deployed.clients)
    wait_for("the running executions to finish", lambda: not deployed.running_executions(), timeout=PIPELINE_TIMEOUT)
    return application


def test_every_application_region_runs_the_release_with_its_capacity(application: Application):
    config = application.config
    assert config.active_regions and config.standby_regions, "local runs one active and one standby region"
    for region in application.regions:
        state = application.state(region)
        minimum, desired, maximum = application.expected_capacity(region)
        assert (state.minimum, state.desired, state.maximum) == (minimum, desired, maximum), state
        assert state.instances == desired, state
        assert state.healthy_targets == desired, state
        assert state.protocol == ("HTTPS" if region in config.application.certificate_arns else "HTTP"), state
        # the group's instances are EC2 instances of the region, tagged with the release they run
        ec2 = application.clients("ec2", region)
        group = application.group(region)
        ids = [i["InstanceId"] for i in group["Instances"]]
        reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        instances = [i for r in reservations for i in r["Instances"]]
        assert {i["State"]["Name"] for i in instances} == {"running"}, instances
        for instance in instances:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            assert tags.get("relay:release") == state.release, tags
    standby = config.standby_regions[0]
    active = config.active_regions[0]
    assert application.state(standby).desired == config.application.standby_capacity
    assert application.state(standby).desired < application.state(active).desired


def test_route53_answers_the_active_region_then_the_standby_while_it_is_down_and_the_active_again(
    application: Application,
):
    config = application.config
    if not config.has_edge:
        pytest.skip("the edge is off")
    active, standby = config.active_regions[0], config.standby_regions[0]
    # probes every second on the emulator (RELAY_HEALTH_CHECK_INTERVAL_SECONDS), a status change after
    # failure_threshold of them; twice that, and a margin for the group to scale
    threshold = 2 * config.edge.health_check.failure_threshold + 10
    wait_for("every health check healthy", lambda: set(application.health_checks().values()) == {"healthy"}, timeout=30)
    assert application.answering_region() == active
    assert application.answering_region(f"{standby}.{application.record_name}") == standby
    try:
        application.scale(active, 0)
        wait_for(f"no healthy target in {active}", lambda: not application.healthy_targets(active), timeout=30)
        wait_for(
            f"the answer to move to {standby}", lambda: application.answering_region() == standby, timeout=threshold
        )
        wait_for(
            f"the health check of {active} to fail",
            lambda: application.health_checks().get(active) == "unhealthy",
            timeout=threshold,
        )
    finally:
        application.scale(active)
    wait_for(
        f"the answer to come back to {active}", lambda: application.answering_region() == active, timeout=threshold
    )
    wait_for(f"{active} healthy again", lambda: application.health_checks().get(active) == "healthy", timeout=threshold)


def test_cloudfront_fails_over_from_the_active_to_the_standby_load_balancer(application: Application):
    config = application.config
    if not (config.has_edge and config.edge.cloudfront.enabled):
        pytest.skip("CloudFront is off")
    distribution = application.distribution()
    assert distribution is not None and distribution["Status"] == "Deployed"
    settings = distribution["DistributionConfig"]
    origins = {o["Id"]: o["DomainName"] for o in settings["Origins"]["Items"]}
    groups = settings["OriginGroups"]["Items"]
    assert len(groups) == 1
    members = [m["OriginId"] for m in groups[0]["Members"]["Items"]]
    regions = [application.region_of(origins[member]) for member in members]
    assert regions == [config.active_regions[0], config.standby_regions[0]]
    assert sorted(groups[0]["FailoverCriteria"]["StatusCodes"]["Items"]) == [500, 502, 503, 504]
    assert settings["DefaultCacheBehavior"]["TargetOriginId"] == groups[0]["Id"]
    assert settings["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert settings["Logging"]["Enabled"] is True
