"""The synthesized platform stacks of the shipped `local` environment (home eu-west-1, platform targets
eu-south-2 and eu-central-1): one stack per region that stands alone, the stack home replicates from, and
one peering stack per target. Read from the session's one synthesis (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from config.naming import PLATFORM_TAG
from tests.unit.test_stacks import data_sources, one, ref, resources

HOME = "eu-west-1"
PLATFORM_TARGETS = ["eu-south-2", "eu-central-1"]
PLATFORM_REGIONS = [HOME, *PLATFORM_TARGETS]


def providers(stack: dict) -> list[str]:
    return sorted(p["region"] for p in stack["provider"]["aws"])


def provider_ref(stack: dict, region: str) -> str:
    alias = one([p for p in stack["provider"]["aws"] if p["region"] == region])["alias"]
    return f"aws.{alias}"


def test_the_local_environment_has_the_platform_in_home_and_two_targets(local):
    assert list(local.config.platform_regions) == PLATFORM_REGIONS
    expected = {local.platform(r) for r in PLATFORM_REGIONS} | {local.platform_global}
    expected |= {local.peering(r) for r in PLATFORM_TARGETS}
    assert expected <= set(local.stacks)


def test_prod_has_no_platform_stacks(prod):
    assert not prod.config.platform.enabled
    assert not [name for name in prod.stacks if "-platform" in name or "-peering-" in name]


@pytest.mark.parametrize("region", PLATFORM_REGIONS)
def test_a_regional_platform_stack_reads_nothing_of_another_region(local, region):
    stack = local.stack(local.platform(region))
    assert providers(stack) == [region]
    assert "terraform_remote_state" not in stack.get("data", {})
    assert set(stack.get("data", {})) <= {"aws_caller_identity", "aws_availability_zones"}
    manifest = json.loads((local.outdir / "manifest.json").read_text())
    assert manifest["stacks"][local.platform(region)]["dependencies"] == []


@pytest.mark.parametrize("region", PLATFORM_REGIONS)
def test_the_network_has_three_tiers_per_az_and_the_configured_nat(local, region):
    stack = local.stack(local.platform(region))
    network = local.config.platform.network_for(region)
    vpc = one(resources(stack, "aws_vpc"))
    assert vpc["cidr_block"] == network.cidr
    assert vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]
    assert len(resources(stack, "aws_subnet")) == 3 * network.az_count
    assert not any(s.get("map_public_ip_on_launch") for s in resources(stack, "aws_subnet"))
    nat = local.config.platform.network.nat
    expected = {"per_az": network.az_count, "single": 1, "none": 0}[nat]
    assert len(resources(stack, "aws_nat_gateway")) == expected
    endpoints = {e["service_name"].rsplit(".", 1)[-1] for e in resources(stack, "aws_vpc_endpoint")}
    assert set(local.config.platform.network.gateway_endpoints) <= endpoints


def test_tiers_only_admit_the_tier_in_front(local):
    stack = local.stack(local.platform(HOME))
    groups = {g["name"]: g for g in resources(stack, "aws_security_group")}
    assert len(groups) == 3
    ingress = resources(stack, "aws_vpc_security_group_ingress_rule")
    # only the load balancer's group admits addresses; the app's admits the load balancer's group, the data's
    # the app's
    open_rules = [r for r in ingress if "cidr_ipv4" in r]
    assert {r["security_group_id"] for r in open_rules} == {r["security_group_id"] for r in open_rules[:1]}
    referencing = [r for r in ingress if "referenced_security_group_id" in r]
    assert len(referencing) == 2
    assert all(r["referenced_security_group_id"] != r["security_group_id"] for r in referencing)
    assert resources(stack, "aws_default_security_group")
    assert not any(r.get("ingress") or r.get("egress") for r in resources(stack, "aws_default_security_group"))


@pytest.mark.parametrize("region", PLATFORM_REGIONS)
def test_flow_logs_go_to_an_encrypted_log_group_with_retention(local, region):
    stack = local.stack(local.platform(region))
    flow = one(resources(stack, "aws_flow_log"))
    assert flow["traffic_type"] == "ALL"
    group = one(resources(stack, "aws_cloudwatch_log_group"))
    assert group["name"] == local.config.names.flow_log_group(region)
    assert group["retention_in_days"] == local.config.platform.network.flow_logs_retention_days
    assert group["kms_key_id"] == ref(stack, "aws_kms_key", "arn")


@pytest.mark.parametrize("region", PLATFORM_REGIONS)
def test_vpc_routes_send_the_peer_cidrs_to_the_transit_gateway(local, region):
    stack = local.stack(local.platform(region))
    gateway = one(resources(stack, "aws_ec2_transit_gateway"))
    assert gateway["tags"][PLATFORM_TAG] == "relay-local"
    peers = PLATFORM_TARGETS if region == HOME else [HOME]
    cidrs = {local.config.platform.network_for(p).cidr for p in peers}
    routes = [r for r in resources(stack, "aws_route") if r.get("transit_gateway_id")]
    assert {r["destination_cidr_block"] for r in routes} == cidrs
    assert all(r["transit_gateway_id"] == ref(stack, "aws_ec2_transit_gateway", "id") for r in routes)
    attachment = one(resources(stack, "aws_ec2_transit_gateway_vpc_attachment"))
    assert len(attachment["subnet_ids"]) == local.config.platform.network_for(region).az_count


@pytest.mark.parametrize("region", PLATFORM_REGIONS)
def test_image_repositories_are_immutable_scanned_encrypted_and_expire(local, region):
    stack = local.stack(local.platform(region))
    repository = one(resources(stack, "aws_ecr_repository"))
    assert repository["name"] == local.config.names.repository("sample-app")
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert repository["image_scanning_configuration"]["scan_on_push"] is True
    assert repository["encryption_configuration"][0]["encryption_type"] == "KMS"
    assert repository["encryption_configuration"][0]["kms_key"] == ref(stack, "aws_kms_key", "arn")
    rules = json.loads(one(resources(stack, "aws_ecr_lifecycle_policy"))["policy"])["rules"]
    assert {r["selection"]["tagStatus"] for r in rules} >= {"untagged"}


def test_the_application_reads_its_region_from_parameters(local):
    stack = local.stack(local.platform("eu-south-2"))
    names = {p["name"] for p in resources(stack, "aws_ssm_parameter")}
    prefix = local.config.names.parameter_prefix()
    for key in ("vpc-id", "app-subnet-ids", "lb-security-group-id", "secret-app", "table-sessions", "image-sample-app"):
        assert f"{prefix}/{key}" in names
    assert all(p["type"] == "String" for p in resources(stack, "aws_ssm_parameter"))


def test_home_creates_the_multi_region_key_and_its_replicas(local):
    stack = local.stack(local.platform_global)
    assert providers(stack) == sorted(PLATFORM_REGIONS)
    primary = one(resources(stack, "aws_kms_key"))
    assert primary["multi_region"] is True and primary["enable_key_rotation"] is True
    replicas = resources(stack, "aws_kms_replica_key")
    assert sorted(r["provider"] for r in replicas) == sorted(provider_ref(stack, r) for r in PLATFORM_TARGETS)
    assert all(r["primary_key_arn"] == ref(stack, "aws_kms_key", "arn") for r in replicas)


def test_secrets_replicate_to_every_target_with_its_replica_key_and_hold_no_value(local):
    stack = local.stack(local.platform_global)
    secret = one(resources(stack, "aws_secretsmanager_secret"))
    assert secret["name"] == local.config.names.secret("app")
    assert secret["recovery_window_in_days"] == 0, "local deletes it at once: the home stack can be rebuilt"
    assert sorted(r["region"] for r in secret["replica"]) == sorted(PLATFORM_TARGETS)
    assert all(r["kms_key_id"].startswith("${aws_kms_replica_key.") for r in secret["replica"])
    # no value in code, plan, state or outputs: the value is set outside Terraform (`relay secrets seed`)
    for name in local.stacks:
        assert "secret_string" not in local.raw(name)


def test_the_table_is_global_with_customer_keys_and_point_in_time_recovery(local):
    stack = local.stack(local.platform_global)
    table = one(resources(stack, "aws_dynamodb_table"))
    assert table["name"] == local.config.names.table("sessions")
    assert table["stream_enabled"] is True and table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert table["server_side_encryption"]["kms_key_arn"] == ref(stack, "aws_kms_key", "arn")
    assert table["point_in_time_recovery"]["enabled"] is True
    replicas = table["replica"]
    assert sorted(r["region_name"] for r in replicas) == sorted(PLATFORM_TARGETS)
    assert all(r["point_in_time_recovery"] is True and r["kms_key_arn"] for r in replicas)


def test_images_replicate_from_home_to_every_target_for_this_environment_only(local):
    stack = local.stack(local.platform_global)
    rule = one(one(resources(stack, "aws_ecr_replication_configuration"))["replication_configuration"]["rule"])
    assert sorted(d["region"] for d in rule["destination"]) == sorted(PLATFORM_TARGETS)
    assert rule["repository_filter"] == [
        {"filter": local.config.names.repository_prefix(), "filter_type": "PREFIX_MATCH"}
    ]


@pytest.mark.parametrize("region", PLATFORM_TARGETS)
def test_peering_is_requested_by_the_target_and_accepted_in_home(local, region):
    stack = local.stack(local.peering(region))
    attachment = one(resources(stack, "aws_ec2_transit_gateway_peering_attachment"))
    assert attachment["provider"] == provider_ref(stack, region)
    assert attachment["peer_region"] == HOME
    accepter = one(resources(stack, "aws_ec2_transit_gateway_peering_attachment_accepter"))
    assert accepter["provider"] == provider_ref(stack, HOME)
    routes = resources(stack, "aws_ec2_transit_gateway_route")
    cidr = local.config.platform.network_for
    assert sorted(r["destination_cidr_block"] for r in routes) == sorted([cidr(HOME).cidr, cidr(region).cidr])
    gateways = data_sources(stack, "aws_ec2_transit_gateway")
    assert len(gateways) == 2
    manifest = json.loads((local.outdir / "manifest.json").read_text())
    assert sorted(manifest["stacks"][local.peering(region)]["dependencies"]) == sorted(
        [local.platform(HOME), local.platform(region)]
    )


def test_home_replicates_into_repositories_the_regions_created_first(local):
    manifest = json.loads((local.outdir / "manifest.json").read_text())
    assert sorted(manifest["stacks"][local.platform_global]["dependencies"]) == sorted(
        local.platform(r) for r in PLATFORM_REGIONS
    )
