"""Integration session: emulator up, every stack deployed with cdktf, destroyed at the end, nothing left.

Terraform and its provider are checked first, so a machine that cannot install the provider stops the
session in seconds, before the emulator starts. The deploy happens once per session; the finalizer
destroys everything even when a test failed and then checks the emulator for anything of this app left
behind (a leftover fails the run).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config import load_config, paths
from tests.conftest import environment_config, synthesize_shared
from tools import deploy, terraform
from tools.application import Application
from tools.emulator_session import EmulatorSession
from tools.platform import Platform
from tools.release import Release, SourceRepository
from tools.wait import WaitTimeout, wait_for

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="session", autouse=True)
def provider_source() -> terraform.ProviderSource:
    """Where Terraform installs its provider from; without one, the whole session stops with one message."""
    try:
        return terraform.preflight()
    except terraform.TerraformError as error:
        pytest.exit(f"relay: {error}")


@pytest.fixture(scope="session")
def config():
    environ = dict(os.environ)
    environ.setdefault("RELAY_ENV", "local")
    return load_config(environ=environ)


@pytest.fixture(scope="session")
def emulator(config, provider_source):
    with ThreadPoolExecutor(max_workers=2) as pool:
        # the cdktf CLI and the synthesis, while the emulator starts
        prepared = [pool.submit(deploy.ensure_cli), pool.submit(synthesize_for_deploy, config)]
        with EmulatorSession(config) as session:
            for job in prepared:
                job.result()
            yield session


def synthesize_for_deploy(config) -> None:
    """cdktf.out for the deploy. For the shipped `local` environment as it is (no overrides, the default state
    dir), the session-shared synthesis (tests/conftest.py) copied there: the unit, validate and policy suites
    running beside this one need the same, and one of them, or this suite, synthesizes it once for all. Any other
    environment is synthesized on its own, and so is the shipped one while another suite is synthesizing it:
    those suites run at the lowest CPU priority in `make test`, and waiting would hold the deploy back at it."""
    shipped = not os.environ.get("RELAY_STATE_DIR") and config == environment_config("local")
    shared = synthesize_shared("local", config, wait=False) if shipped else None
    if shared is None:
        deploy.synthesize(deploy.cli_environment())
        return
    shutil.rmtree(paths.STACKS_DIR.parent, ignore_errors=True)
    shutil.copytree(shared.outdir, paths.STACKS_DIR.parent)


@pytest.fixture(scope="session")
def deployed(config, emulator, tmp_path_factory):
    """Every stack deployed, the application tier by a first release, and the edge on it; yields the release
    helper; destroys and checks for leftovers afterwards.

    Every stack but the edge deploys in one cdktf run, as `relay deploy` does: each starts as soon as the
    stacks it depends on are done, so the platform's replicated data and peerings deploy while the pipeline
    stacks wait for their buckets' lifecycle configurations. Then a `git push` whose release creates the load
    balancers, followed by the edge that routes to them."""
    release = Release(config)
    synthesized = False
    try:
        synthesized = True  # by the emulator fixture
        deploy.cdktf("deploy", deploy.stack_names(config, edge=False), ignore_missing=False, synth=False)
        first_release(release, tmp_path_factory.mktemp("first-release"))
        yield release
    finally:
        # a test that failed half-way may have left executions running, which would redeploy the stacks
        try:
            wait_for("the running executions to finish", lambda: not release.running_executions(), timeout=180)
        except WaitTimeout as timeout:
            print(f"clean-up goes on: {timeout}")
        # The state is the session's own and fresh, so the clean-up skips Terraform's refresh (the
        # provider re-reads every lifecycle configuration with pauses); the leftover check below
        # looks at the emulator itself, so anything the state missed still fails the run.
        env = deploy.cli_environment({"TF_CLI_ARGS_destroy": "-refresh=false"})
        # Without the refresh, the edge reads no load balancer: it is destroyed with the rest, side by side.
        release.delete_deployed_stacks()
        stacks = deploy.stack_names(config)
        deploy.cdktf("destroy", stacks, env=env, synth=not synthesized, ignore_missing=False)
        leftovers = find_leftovers(release)
        assert not leftovers, f"left behind after destroy: {leftovers}"


@pytest.fixture
def settled(deployed: Release) -> Release:
    """The deployment with no execution running in home or any bespoke region, so that a test counts only
    the executions it starts itself (a test that failed half-way may have left one running)."""
    wait_for("the running executions to finish", lambda: not deployed.running_executions(), timeout=120)
    return deployed


@pytest.fixture
def repository(settled: Release, tmp_path) -> SourceRepository:
    """A working clone of the emulator's repository behind the home pipeline's connection."""
    return SourceRepository(settled.config, tmp_path / "clone")


FIRST_RELEASE = "first"
"""The label of the session's first release (the application tier's stacks are created by it)."""


def first_release(release: Release, workdir: Path) -> None:
    """With the application tier: push the first release, wait until every application region serves it, then
    deploy the edge on its load balancers."""
    config = release.config
    if not config.has_application:
        return
    application = Application(config, release.clients)
    SourceRepository(config, workdir / "clone").push(FIRST_RELEASE)
    wait_for(
        "the first release served in every application region",
        lambda: all(application.serving(region, FIRST_RELEASE) for region in application.regions),
        timeout=180,
    )
    if config.has_edge:
        deploy.deploy_edge(config)


def find_leftovers(release: Release) -> list[str]:
    """Anything named for this app and environment that still exists in any of its regions."""
    config, names = release.config, release.config.names
    prefix = f"{config.app}-{config.environment}-"
    found: list[str] = []
    for region in config.regions:
        s3 = release.clients("s3", region)
        found += [f"bucket {b['Name']}" for b in s3.list_buckets().get("Buckets", []) if prefix in b["Name"]]
        pipelines = release.clients("codepipeline", region).list_pipelines()["pipelines"]
        found += [f"pipeline {p['name']} ({region})" for p in pipelines if p["name"].startswith(prefix)]
        rules = release.clients("events", region).list_rules(NamePrefix=prefix)["Rules"]
        found += [f"rule {r['Name']} ({region})" for r in rules]
        aliases = release.clients("kms", region).list_aliases()["Aliases"]
        found += [f"kms {a['AliasName']} ({region})" for a in aliases if a["AliasName"] == names.kms_alias(region)]
        trails = release.clients("cloudtrail", region).describe_trails()["trailList"]
        found += [f"trail {t['Name']} ({region})" for t in trails if t["Name"].startswith(prefix)]
        if release.deployed_stack(region):
            found.append(f"stack {config.deploy.stack_name} ({region})")
    found += platform_leftovers(release)
    found += application_leftovers(release)
    found += watch_leftovers(release)
    connections = release.clients("codestar-connections", config.home_region).list_connections()["Connections"]
    found += [f"connection {c['ConnectionName']}" for c in connections if c["ConnectionName"] == names.connection()]
    roles = release.clients("iam", config.home_region).list_roles()["Roles"]
    found += [f"role {r['RoleName']}" for r in roles if r["RoleName"].startswith(prefix)]
    return found


def platform_leftovers(release: Release) -> list[str]:
    """What the platform stacks create, where it may be left: networks, gateways, keys, secrets, images,
    tables, parameters."""
    config, names = release.config, release.config.names
    if not config.platform.enabled:
        return []
    platform = Platform(config, release.clients)
    found: list[str] = []
    aliases = {names.data_kms_alias()}
    for region in platform.regions:
        if vpc := platform.vpc(region):
            found.append(f"vpc {vpc['VpcId']} ({region})")
        if gateway := platform.transit_gateway(region):
            found.append(f"transit gateway {gateway['TransitGatewayId']} ({region})")
        kms = release.clients("kms", region).list_aliases()["Aliases"]
        wanted = aliases | {names.platform_kms_alias(region)}
        found += [f"kms {a['AliasName']} ({region})" for a in kms if a["AliasName"] in wanted]
        secrets = release.clients("secretsmanager", region).list_secrets()["SecretList"]
        found += [f"secret {s['Name']} ({region})" for s in secrets if s["Name"].startswith(names.secret(""))]
        repositories = release.clients("ecr", region).describe_repositories()["repositories"]
        prefix = names.repository_prefix()
        found += [
            f"repository {r['repositoryName']} ({region})"
            for r in repositories
            if r["repositoryName"].startswith(prefix)
        ]
        tables = release.clients("dynamodb", region).list_tables()["TableNames"]
        found += [f"table {t} ({region})" for t in tables if t.startswith(names.resource_prefix())]
        ssm = release.clients("ssm", region)
        parameters = ssm.get_parameters_by_path(Path=names.parameter_prefix(), Recursive=True)["Parameters"]
        found += [f"parameter {p['Name']} ({region})" for p in parameters]
    return found


def application_leftovers(release: Release) -> list[str]:
    """What the application tier's stacks and the edge create: load balancers, groups, instances, launch
    templates; the hosted zone, health checks and the distribution."""
    config, names = release.config, release.config.names
    found: list[str] = []
    for region in config.application_regions:
        balancers = release.clients("elbv2", region).describe_load_balancers()["LoadBalancers"]
        found += [f"load balancer {b['LoadBalancerName']} ({region})" for b in balancers]
        groups = release.clients("autoscaling", region).describe_auto_scaling_groups()["AutoScalingGroups"]
        found += [f"group {g['AutoScalingGroupName']} ({region})" for g in groups]
        ec2 = release.clients("ec2", region)
        filters = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        reservations = ec2.describe_instances(Filters=filters)["Reservations"]
        found += [f"instance {i['InstanceId']} ({region})" for r in reservations for i in r["Instances"]]
        templates = ec2.describe_launch_templates()["LaunchTemplates"]
        found += [f"launch template {t['LaunchTemplateName']} ({region})" for t in templates]
    if config.has_edge:
        route53 = release.clients("route53", config.home_region)
        zones = route53.list_hosted_zones()["HostedZones"]
        found += [f"hosted zone {z['Name']}" for z in zones if z["Name"].rstrip(".") == config.edge.domain]
        found += [f"health check {c['Id']}" for c in route53.list_health_checks()["HealthChecks"]]
        cloudfront = release.clients("cloudfront", config.home_region)
        items = cloudfront.list_distributions().get("DistributionList", {}).get("Items", [])
        found += [f"distribution {d['Id']}" for d in items if d.get("Comment", "").startswith(names.resource_prefix())]
        aliases = release.clients("kms", config.home_region).list_aliases()["Aliases"]
        found += [f"kms {a['AliasName']}" for a in aliases if a["AliasName"] == names.edge_kms_alias()]
    return found


def watch_leftovers(release: Release) -> list[str]:
    """What observability and governance create: the topic, dashboard and alarms in home; each region's Config
    recorder, delivery channel and rules, and Security Hub (with home's finding aggregator)."""
    config, names = release.config, release.config.names
    prefix = names.resource_prefix()
    home = config.home_region
    found: list[str] = []
    topics = release.clients("sns", home).list_topics()["Topics"]
    found += [f"topic {t['TopicArn']}" for t in topics if t["TopicArn"].endswith(":" + names.notification_topic())]
    cloudwatch = release.clients("cloudwatch", home)
    found += [
        f"dashboard {d['DashboardName']}"
        for d in cloudwatch.list_dashboards(DashboardNamePrefix=prefix)["DashboardEntries"]
    ]
    found += [f"alarm {a['AlarmName']}" for a in cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]]
    for region in config.regions:
        service = release.clients("config", region)
        recorders = service.describe_configuration_recorders()["ConfigurationRecorders"]
        found += [f"config recorder {r['name']} ({region})" for r in recorders if r["name"] == names.config_recorder()]
        channels = service.describe_delivery_channels()["DeliveryChannels"]
        found += [
            f"delivery channel {c['name']} ({region})" for c in channels if c["name"] == names.config_delivery_channel()
        ]
        rules = service.describe_config_rules()["ConfigRules"]
        found += [
            f"config rule {r['ConfigRuleName']} ({region})" for r in rules if r["ConfigRuleName"].startswith(prefix)
        ]
        hub = release.clients("securityhub", region)
        try:
            hub.describe_hub()
        except hub.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "InvalidAccessException":  # not enabled: nothing of it is left
                raise
            continue
        found.append(f"security hub ({region})")
        aggregators = hub.list_finding_aggregators()["FindingAggregators"]
        found += [f"finding aggregator {a['FindingAggregatorArn']}" for a in aggregators]
    return found
