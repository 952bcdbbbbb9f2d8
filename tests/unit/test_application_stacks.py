"""The application tier and the edge in the synthesized `local` environment (application regions eu-south-2 on
standby and eu-central-1 active): what each region's pipeline deploys with which parameters, the platform
parameters the template reads, and the edge's records, health checks and distribution. Read from the
session's one synthesis (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from config.paths import PROJECT_ROOT
from stacks.platform import application_values
from stacks.target import APPLICATION_PARAMETERS, application_parameters, stack_deploy
from tests.conftest import environment_config
from tests.unit.test_stacks import account_id, data_sources, one, ref, resources

ACTIVE, STANDBY = "eu-central-1", "eu-south-2"
APPLICATION_REGIONS = [STANDBY, ACTIVE]
PREFIX = "/relay/local/platform"


def deploy_actions(stack: dict) -> dict[str, dict]:
    """The CloudFormation deploy actions of a stack's pipelines, by action name."""
    found = {}
    for pipeline in resources(stack, "aws_codepipeline"):
        for stage in pipeline["stage"]:
            for action in stage["action"]:
                if action["category"] == "Deploy" and action["provider"] == "CloudFormation":
                    found[action["name"]] = action
    return found


def platform_parameters(stack: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in resources(stack, "aws_ssm_parameter")}


def test_the_application_runs_in_the_platform_targets_one_active_one_standby(local):
    config = local.config
    assert config.application_regions == APPLICATION_REGIONS
    assert config.active_regions == [ACTIVE] and config.standby_regions == [STANDBY]


def test_the_bespoke_pipeline_deploys_the_application_tier_with_the_platform_parameter_names(local):
    action = one(list(deploy_actions(local.stack(local.target(STANDBY))).values()))
    configuration = action["configuration"]
    assert configuration["TemplatePath"].endswith("::app-tier.yaml")
    assert configuration["Capabilities"] == "CAPABILITY_IAM"
    overrides = json.loads(configuration["ParameterOverrides"])
    # the instance role gets the deploy role's boundary (the only roles the deploy role may create)
    boundary = overrides.pop("PermissionsBoundaryArn")
    stack = local.stack(local.target(STANDBY))
    assert boundary == f"arn:aws:iam::{account_id(stack)}:policy/relay-local-deploy-boundary-{STANDBY}"
    assert one([r for r in resources(stack, "aws_iam_policy") if r["name"] == boundary.rsplit("/", 1)[1]])
    # names only: CloudFormation resolves them in the region at deploy time
    assert all(value.startswith(f"{PREFIX}/") for value in overrides.values())
    assert overrides["Standby"] == f"{PREFIX}/app-standby"
    assert overrides["SecretName"] == f"{PREFIX}/secret-app"
    assert overrides["TableName"] == f"{PREFIX}/table-sessions"
    assert overrides["ImageRepositoryUrl"] == f"{PREFIX}/image-sample-app"


def test_the_home_pipeline_deploys_the_application_tier_in_the_native_region_and_the_release_elsewhere(local):
    actions = deploy_actions(local.stack(local.home))
    by_region = {a["region"]: a["configuration"] for a in actions.values()}
    assert by_region[ACTIVE]["TemplatePath"].endswith("::app-tier.yaml")
    overrides = json.loads(by_region[ACTIVE]["ParameterOverrides"])
    boundary = f"arn:aws:iam::{account_id(local.stack(local.home))}:policy/relay-local-deploy-boundary-{ACTIVE}"
    assert overrides == {**application_parameters(local.config), "PermissionsBoundaryArn": boundary}
    # a target without a platform deploys the release's own template, as before
    other = local.stack(local.target("ap-southeast-4"))
    configuration = one(list(deploy_actions(other).values()))["configuration"]
    assert configuration["TemplatePath"].endswith("::template.yaml")
    assert "ParameterOverrides" not in configuration and "Capabilities" not in configuration


def test_every_parameter_the_pipeline_names_is_published_by_the_regions_platform(local):
    for region in APPLICATION_REGIONS:
        published = platform_parameters(local.stack(local.platform(region)))
        for name in application_parameters(local.config).values():
            assert name in published, f"{region}: {name} is not a platform parameter"


@pytest.mark.parametrize(("region", "standby"), [(ACTIVE, "false"), (STANDBY, "true")])
def test_the_platform_publishes_the_regions_standby_flag_and_capacities(local, region, standby):
    published = platform_parameters(local.stack(local.platform(region)))
    application = local.config.application
    assert published[f"{PREFIX}/app-standby"] == standby
    assert published[f"{PREFIX}/app-min-size"] == str(application.capacity.min_size)
    assert published[f"{PREFIX}/app-desired-capacity"] == str(application.capacity.desired)
    assert published[f"{PREFIX}/app-standby-capacity"] == str(application.standby_capacity)
    assert published[f"{PREFIX}/app-certificate-arn"] == "none"
    assert published[f"{PREFIX}/app-load-balancer-name"] == "relay-local-app"


def test_home_publishes_no_application_parameters(local):
    published = platform_parameters(local.stack(local.platform(local.config.home_region)))
    settings = application_values(local.config, ACTIVE)
    assert not [key for key in settings if f"{PREFIX}/{key}" in published]


def test_promoting_the_standby_region_is_one_configuration_change():
    promoted = environment_config("local", application={"enabled": True, "standby_regions": [ACTIVE]})
    assert promoted.active_regions == [STANDBY] and promoted.standby_regions == [ACTIVE]
    # the pipelines keep their definitions: only the regions' platform parameters change
    for region in APPLICATION_REGIONS:
        assert stack_deploy(promoted, region) == stack_deploy(environment_config("local"), region)


def test_the_template_reads_every_parameter_the_pipeline_sets(local):
    template = (PROJECT_ROOT / "app" / "sample" / local.config.application.template_path).read_text()
    for parameter in [*APPLICATION_PARAMETERS, "SecretName", "TableName", "ImageRepositoryUrl"]:
        assert f"\n  {parameter}:\n" in template, parameter


def test_the_edge_finds_each_load_balancer_by_name_in_its_region(local):
    stack = local.stack(local.edge)
    balancers = data_sources(stack, "aws_lb")
    assert sorted(b["name"] for b in balancers) == ["relay-local-app"] * 2
    assert sorted(p["region"] for p in stack["provider"]["aws"]) == sorted(
        [local.config.home_region, *APPLICATION_REGIONS]
    )


def test_the_edge_fails_over_from_the_active_latency_records_to_the_standby_ones(local):
    stack = local.stack(local.edge)
    records = resources(stack, "aws_route53_record")
    by_name: dict[str, list[dict]] = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    name = "app.relay-local.example.com"
    failover = {r["failover_routing_policy"]["type"]: r for r in by_name[name]}
    assert failover["PRIMARY"]["alias"]["name"] == f"active.{name}"
    assert failover["SECONDARY"]["alias"]["name"] == f"standby.{name}"
    assert all(r["alias"]["evaluate_target_health"] for r in records)
    for group, regions in (("active", [ACTIVE]), ("standby", [STANDBY])):
        latency = by_name[f"{group}.{name}"]
        assert [r["latency_routing_policy"]["region"] for r in latency] == regions
        assert all(r["health_check_id"].startswith("${aws_route53_health_check.") for r in latency)
    for region in APPLICATION_REGIONS:
        assert one(by_name[f"{region}.{name}"])["alias"]["name"] == f"${{data.aws_lb.load-balancer-{region}.dns_name}}"
    checks = resources(stack, "aws_route53_health_check")
    assert len(checks) == 2
    for check in checks:
        assert (check["type"], check["port"], check["resource_path"]) == ("HTTP", 80, "/healthz")
        assert (check["request_interval"], check["failure_threshold"]) == (10, 3)


def test_the_distribution_fails_over_on_5xx_from_the_active_to_the_standby_origin_over_https(local):
    stack = local.stack(local.edge)
    distribution = one(resources(stack, "aws_cloudfront_distribution"))
    origins = {o["origin_id"]: o for o in distribution["origin"]}
    assert set(origins) == {f"primary-{ACTIVE}", f"secondary-{STANDBY}"}
    group = one(distribution["origin_group"])
    assert [m["origin_id"] for m in group["member"]] == [f"primary-{ACTIVE}", f"secondary-{STANDBY}"]
    assert group["failover_criteria"]["status_codes"] == [500, 502, 503, 504]
    behaviour = distribution["default_cache_behavior"]
    assert behaviour["target_origin_id"] == group["origin_id"]
    assert behaviour["viewer_protocol_policy"] == "redirect-to-https"
    assert behaviour["response_headers_policy_id"]
    # the log bucket's own domain name, read by name: the edge-logs stack, which the edge depends on, created the
    # bucket and its ownership (ACLs on) before the distribution
    assert not resources(stack, "aws_s3_bucket")
    bucket = one(data_sources(stack, "aws_s3_bucket"))["bucket"]
    assert bucket == "relay-local-edge-logs-eu-west-1"
    assert distribution["logging_config"]["bucket"] == ref(stack, "aws_s3_bucket", "bucket_domain_name", data=True)
    assert local.stack_dependencies(local.edge) == [local.edge_logs]
    assert local.stack(local.edge_logs)["output"]["log_bucket"]["value"] == bucket
    assert distribution["viewer_certificate"] == {"cloudfront_default_certificate": True}


def test_the_edge_log_bucket_is_encrypted_with_its_key_and_owner_preferred(local):
    stack = local.stack(local.edge_logs)
    ownership = one(resources(stack, "aws_s3_bucket_ownership_controls"))
    assert ownership["rule"]["object_ownership"] == "BucketOwnerPreferred"
    encryption = one(resources(stack, "aws_s3_bucket_server_side_encryption_configuration"))
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    key = one(resources(stack, "aws_kms_key"))
    statement = [s for s in json.loads(key["policy"])["Statement"] if s.get("Sid") == "AllowLogDelivery"]
    assert one(statement)["Condition"]["StringEquals"]["aws:SourceAccount"]


def test_a_regions_certificate_is_published_for_its_load_balancer_only():
    config = environment_config(
        "local",
        edge={
            "enabled": True,
            "domain": "relay-local.example.com",
            "cloudfront": {
                "certificate_arn": "arn:aws:acm:us-east-1:000000000000:certificate/abc",
                "aliases": ["www.example.com"],
                "minimum_protocol_version": "TLSv1.3_2025",
            },
        },
        application={
            "enabled": True,
            "standby_regions": [STANDBY],
            "certificate_arns": {ACTIVE: "arn:aws:acm:eu-central-1:000000000000:certificate/x"},
        },
    )
    assert config.edge.cloudfront.minimum_protocol_version == "TLSv1.3_2025"
    arn = "arn:aws:acm:eu-central-1:000000000000:certificate/x"
    assert application_values(config, ACTIVE)["app-certificate-arn"][0] == arn
    assert application_values(config, STANDBY)["app-certificate-arn"][0] == "none"
