"""The regional platform's configuration: off by default, defaults applied per region, every bad value reported
at once with its field, and the names of everything it creates computed and checked in one place."""

from __future__ import annotations

import copy
import json
import zlib

import pytest

from config import ConfigError, load_config
from config.loader import merge_patch, validate
from config.naming import InvalidName, Names
from config.schema import RegionNetwork, default_asn
from regions import catalog

CONNECTION = "arn:aws:codeconnections:eu-west-1:111122223333:connection/7d2b1c9e-0f4a-4b8e-9c3d-5a6f7e8d9c0b"
LAMBDA = "arn:aws:lambda:eu-west-1:111122223333:function:rotate-app"
VALID = {
    "app": "relay",
    "environment": "test",
    "home_region": "eu-west-1",
    "target_regions": ["eu-south-2", "ap-southeast-4", "eu-central-1"],
    "source": {
        "connection_arn": CONNECTION,
        "repository": "example-org/sample-app",
        "branch": "main",
    },
    "deploy": {"stack_name": "sample-app"},
    "platform": {
        "enabled": True,
        "regions": ["eu-central-1", "eu-south-2"],
        "network": {
            "regions": {
                "eu-west-1": {"cidr": "10.10.0.0/16"},
                "eu-south-2": {"cidr": "10.20.0.0/16", "az_count": 3, "asn": 65000},
                "eu-central-1": {"cidr": "10.30.0.0/20"},
            }
        },
        "secrets": [{"name": "app", "rotation": {"lambda_arn": LAMBDA}}],
        "images": {"repositories": ["sample-app", "tools/migrate"]},
        "data": {"tables": [{"name": "sessions", "hash_key": "pk", "range_key": "sk", "ttl_attribute": "expires"}]},
    },
}


def settings(**changes):
    return merge_patch(copy.deepcopy(VALID), changes)


def platform(**changes):
    return settings(platform=changes)


def problems(change) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validate(change)
    return str(raised.value).splitlines()


# --- the typed model and its defaults -----------------------------------------------------------------


def test_the_platform_is_off_by_default_and_has_no_regions_then():
    config = validate(settings(platform=None))
    assert config.platform.enabled is False
    assert config.platform_regions == [] and config.platform_targets == []
    network = config.platform.network
    assert (network.az_count, network.nat) == (2, "per_az")
    assert network.gateway_endpoints == ["s3", "dynamodb"] and network.interface_endpoints == []
    assert network.ingress_cidrs == ["0.0.0.0/0"] and network.listener_ports == [80, 443]
    assert (network.app_port, network.data_port, network.flow_logs_retention_days) == (8080, 5432, 365)
    assert config.platform.secrets == [] and config.platform.images.repositories == []
    images = config.platform.images
    assert (images.scan_on_push, images.keep_tagged, images.expire_untagged_days) == (True, 30, 7)
    data = config.platform.data
    assert data.tables == [] and data.point_in_time_recovery and data.deletion_protection


def test_platform_regions_are_home_then_the_chosen_targets_in_target_order():
    config = validate(VALID)
    assert config.platform_regions == ["eu-west-1", "eu-south-2", "eu-central-1"]
    assert config.platform_targets == ["eu-south-2", "eu-central-1"]


def test_without_platform_regions_every_target_region_has_a_platform():
    regions = {"ap-southeast-4": {"cidr": "10.40.0.0/16"}}
    config = validate(platform(regions=None, network={"regions": regions}))
    assert config.platform_regions == ["eu-west-1", "eu-south-2", "ap-southeast-4", "eu-central-1"]


def test_network_for_applies_the_defaults_of_each_region():
    config = validate(VALID)
    assert config.platform.network_for("eu-west-1") == RegionNetwork("10.10.0.0/16", 2, default_asn("eu-west-1"))
    assert config.platform.network_for("eu-south-2") == RegionNetwork("10.20.0.0/16", 3, 65000)
    assert config.platform.network_for("eu-central-1").az_count == 2
    with pytest.raises(KeyError):
        config.platform.network_for("ap-southeast-4")


def test_the_default_asn_is_the_same_for_a_region_every_time_and_private():
    assert default_asn("eu-west-1") == 64512 + zlib.crc32(b"eu-west-1") % 1000 == 64698
    for region in catalog.partitions():
        assert 64512 <= default_asn(region) <= 65511


def test_secrets_images_and_tables_are_typed():
    config = validate(VALID)
    (secret,) = config.platform.secrets
    assert secret.description == "" and secret.rotation.lambda_arn == LAMBDA and secret.rotation.days == 30
    (table,) = config.platform.data.tables
    assert (table.hash_key, table.hash_key_type, table.range_key, table.range_key_type) == ("pk", "S", "sk", "S")
    assert table.ttl_attribute == "expires"


def test_the_shipped_local_environment_has_a_platform_in_home_and_two_targets():
    config = load_config(environ={"RELAY_ENV": "local"})
    assert config.platform_regions == ["eu-west-1", "eu-south-2", "eu-central-1"]
    assert [config.platform.network_for(r).cidr for r in config.platform_regions] == [
        "10.10.0.0/16",
        "10.20.0.0/16",
        "10.30.0.0/16",
    ]
    assert {config.platform.network_for(r).az_count for r in config.platform_regions} == {2}
    assert config.platform.network.nat == "single"
    assert [s.name for s in config.platform.secrets] == ["app"]
    assert config.platform.images.repositories == ["sample-app"]
    assert [t.name for t in config.platform.data.tables] == ["sessions"]
    assert config.platform.data.deletion_protection is False
    assert load_config(environ={"RELAY_ENV": "prod"}).platform_regions == []


def test_the_catalog_knows_where_a_new_account_has_two_availability_zones():
    assert catalog.availability_zones("us-west-1") == 2
    assert catalog.availability_zones("eu-west-1") == 3
    assert catalog.TWO_AVAILABILITY_ZONES in catalog.FACTS and catalog.THREE_AVAILABILITY_ZONES in catalog.FACTS


# --- validation -----------------------------------------------------------------------------------------

NET = ("platform", "network")
BAD = [
    pytest.param(
        platform(regions=["eu-west-1", "us-east-1"]),
        [
            "platform.regions[0]: 'eu-west-1' is the home region, which always has a platform; list target regions",
            "platform.regions[1]: 'us-east-1' is not a target region; allowed: eu-south-2, ap-southeast-4, eu-central-",
        ],
        id="platform-regions-are-targets",
    ),
    pytest.param(
        platform(regions=["eu-south-2", "eu-south-2"]),
        ["platform.regions: region 'eu-south-2' is listed twice; each may appear once"],
        id="platform-region-twice",
    ),
    pytest.param(
        platform(network={"regions": None}),
        [
            "platform.network.regions.eu-west-1: is required: 'eu-west-1' is a platform region, so it needs its "
            'network\'s CIDR block, e.g. {"eu-west-1": {"cidr": "10.10.0.0/16"}}',
            "platform.network.regions.eu-south-2: is required: 'eu-south-2' is a platform region",
            "platform.network.regions.eu-central-1: is required: 'eu-central-1' is a platform region",
        ],
        id="enabled-without-networks-names-each-missing-region",
    ),
    pytest.param(
        platform(network={"regions": {"ap-southeast-4": {"cidr": "10.40.0.0/16"}}}),
        [
            "platform.network.regions.ap-southeast-4: 'ap-southeast-4' is not a platform region; allowed: eu-west-1, "
            'eu-south-2, eu-central-1 (an override removes the entry with {"platform": {"network": {"regions": '
            '{"ap-southeast-4": null}}}})'
        ],
        id="network-of-a-region-without-a-platform",
    ),
    pytest.param(
        platform(network={"regions": {"eu-central-1": {"cidr": "10.10.128.0/17"}}}),
        [
            "platform.network.regions.eu-west-1.cidr/platform.network.regions.eu-central-1.cidr: 10.10.0.0/16 "
            "(eu-west-1) overlaps 10.10.128.0/17 (eu-central-1); the transit gateways route each region's block to "
            "that region, so every platform region needs a range of its own"
        ],
        id="overlapping-cidrs-name-both-regions",
    ),
    pytest.param(
        platform(network={"regions": {"eu-west-1": {"cidr": "10.20.0.0/24"}, "eu-central-1": {"cidr": "10.0.0.0/8"}}}),
        [
            "platform.network.regions.eu-west-1.cidr/platform.network.regions.eu-south-2.cidr: 10.20.0.0/24 "
            "(eu-west-1) overlaps 10.20.0.0/16 (eu-south-2)",
            "platform.network.regions.eu-central-1.cidr: '10.0.0.0/8' is a /8; allowed: /16 to /24",
        ],
        id="every-overlapping-pair",
    ),
    pytest.param(
        platform(
            network={
                "regions": {
                    "eu-west-1": {"cidr": "8.8.8.0/24"},
                    "eu-south-2": {"cidr": "10.20.0.1/16"},
                    "eu-central-1": {"cidr": "10.30.0.0"},
                }
            }
        ),
        [
            "platform.network.regions.eu-west-1.cidr: '8.8.8.0/24' is not a private IPv4 range; allowed: inside "
            "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) or 100.64.0.0/10 (RFC 6598)",
            "platform.network.regions.eu-south-2.cidr: '10.20.0.1/16' is not an IPv4 CIDR block with its host bits "
            "zero",
            "platform.network.regions.eu-central-1.cidr: '10.30.0.0' is not an IPv4 CIDR block",
        ],
        id="cidrs-private-and-well-formed",
    ),
    pytest.param(
        platform(network={"regions": {"eu-central-1": {"cidr": "100.64.0.0/16", "asn": 65000}}}),
        [
            "platform.network.regions.eu-south-2.asn/platform.network.regions.eu-central-1.asn: ASN 65000 is used by "
            "eu-south-2 (set), eu-central-1 (set); each transit gateway needs its own: set asn (64512-65534 or "
            "4200000000-4294967294) on all but one of them"
        ],
        id="asns-unique",
    ),
    pytest.param(
        platform(network={"regions": {"eu-west-1": {"asn": default_asn("eu-central-1")}}}),
        [
            "platform.network.regions.eu-west-1.asn/platform.network.regions.eu-central-1.asn: ASN 64679 is used by "
            "eu-west-1 (set), eu-central-1 (default)"
        ],
        id="a-set-asn-colliding-with-a-default-one",
    ),
    pytest.param(
        platform(network={"regions": {"eu-west-1": {"asn": 64511}, "eu-south-2": {"asn": 4294967295}}}),
        [
            "platform.network.regions.eu-west-1.asn: 64511 is not a private ASN a transit gateway accepts; allowed: "
            "64512-65534 or 4200000000-4294967294",
            "platform.network.regions.eu-south-2.asn: 4294967295 is not a private ASN",
        ],
        id="asn-ranges",
    ),
    pytest.param(
        settings(
            target_regions=["us-west-1", "eu-south-2"],
            platform={
                "regions": None,
                "network": {
                    "az_count": 3,
                    "regions": {"eu-central-1": None, "us-west-1": {"cidr": "10.40.0.0/16"}},
                },
            },
        ),
        [
            "platform.network.az_count: 'us-west-1' offers 2 Availability Zones to most accounts (regions/catalog.py), "
            'so its network cannot span 3: lower network.az_count to 2, or give us-west-1 its own {"az_count": 2}'
        ],
        id="az-count-above-the-regions-own",
    ),
    pytest.param(
        settings(
            target_regions=["us-west-1"],
            platform={
                "regions": None,
                "network": {
                    "regions": {
                        "eu-central-1": None,
                        "eu-south-2": None,
                        "us-west-1": {"cidr": "10.40.0.0/16", "az_count": 3},
                    }
                },
            },
        ),
        [
            "platform.network.regions.us-west-1.az_count: 'us-west-1' offers 2 Availability Zones to most accounts "
            "(regions/catalog.py), so its network cannot span 3: set its az_count to 2 or fewer"
        ],
        id="a-regions-own-az-count-above-its-count",
    ),
    pytest.param(
        platform(network={"az_count": 4, "regions": {"eu-west-1": {"az_count": 1}}}),
        [
            "platform.network.az_count: Input should be less than or equal to 3",
            "platform.network.regions.eu-west-1.az_count: Input should be greater than or equal to 2",
        ],
        id="az-count-2-or-3",
    ),
    pytest.param(
        platform(
            network={
                "nat": "shared",
                "gateway_endpoints": ["s3", "ec2"],
                "interface_endpoints": ["logs", "ecr.api", "logs", "sqs"],
            }
        ),
        [
            "platform.network.nat: Input should be 'per_az', 'single' or 'none'",
            "platform.network.gateway_endpoints[1]: Input should be 's3' or 'dynamodb'",
            "platform.network.interface_endpoints[3]: Input should be 'secretsmanager', 'ecr.api', 'ecr.dkr', 'logs', "
            "'kms', 'sts' or 'ssm'",
        ],
        id="nat-and-endpoints",
    ),
    pytest.param(
        platform(network={"interface_endpoints": ["logs", "logs"], "gateway_endpoints": ["s3", "s3"]}),
        [
            "platform.network.gateway_endpoints: gateway_endpoints entry 's3' is listed twice; each may appear once",
            "platform.network.interface_endpoints: interface_endpoints entry 'logs' is listed twice",
        ],
        id="endpoints-once",
    ),
    pytest.param(
        platform(
            network={
                "ingress_cidrs": ["0.0.0.0/0", "192.168.1.1/24", "::/0"],
                "listener_ports": [443, 0, 65536],
                "app_port": 0,
                "flow_logs_retention_days": 10,
            }
        ),
        [
            "platform.network.ingress_cidrs[1]: '192.168.1.1/24' is not an IPv4 CIDR block with its host bits zero",
            "platform.network.ingress_cidrs[2]: '::/0' is not an IPv4 CIDR block",
            "platform.network.listener_ports[1]: Input should be greater than or equal to 1",
            "platform.network.listener_ports[2]: Input should be less than or equal to 65535",
            "platform.network.app_port: Input should be greater than or equal to 1",
            "platform.network.flow_logs_retention_days: 10 is not a retention CloudWatch Logs accepts; allowed: 1, 3, "
            "5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
        ],
        id="ingress-ports-and-retention",
    ),
    pytest.param(
        platform(network={"app_port": 5432}),
        ["platform.network: app_port and data_port are both 5432; the tiers need different ports"],
        id="tiers-on-different-ports",
    ),
    pytest.param(
        platform(
            secrets=[
                {"name": "App"},
                {"name": "db", "rotation": {"lambda_arn": "arn:aws:lambda:eu-west-1:1:function:x", "days": 366}},
                {"name": "ok", "rotation": {"lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:rotate"}},
            ]
        ),
        [
            "platform.secrets[0].name: String should match pattern '^[a-z0-9-]{1,32}$'",
            "platform.secrets[1].rotation.lambda_arn: 'arn:aws:lambda:eu-west-1:1:function:x' is not a Lambda function "
            "ARN; allowed: arn:aws:lambda:<region>:<12-digit account>:function:<name>[:<alias or version>]",
            "platform.secrets[1].rotation.days: Input should be less than or equal to 365",
            "platform.secrets[2].rotation.lambda_arn: the function is in 'us-east-1' (aws) but the secret is in the "
            "home region 'eu-west-1'; Secrets Manager invokes a rotation function of the secret's own region: use "
            "one in 'eu-west-1'",
        ],
        id="secret-names-and-rotation",
    ),
    pytest.param(
        platform(secrets=[{"name": "app"}, {"name": "app", "description": "again"}]),
        ["platform.secrets: secret 'app' is listed twice; each may appear once"],
        id="secret-names-unique",
    ),
    pytest.param(
        platform(images={"repositories": ["Sample", "a", "x//y", "sample-app", "sample-app"], "keep_tagged": 0}),
        [
            "platform.images.repositories[0]: String should match pattern",
            "platform.images.repositories[1]: String should have at least 2 characters",
            "platform.images.repositories[2]: String should match pattern",
            "platform.images.keep_tagged: Input should be greater than or equal to 1",
        ],
        id="repository-names",
    ),
    pytest.param(
        platform(images={"repositories": ["sample-app", "sample-app"]}),
        ["platform.images.repositories: repository 'sample-app' is listed twice; each may appear once"],
        id="repository-names-unique",
    ),
    pytest.param(
        platform(
            data={
                "tables": [
                    {"name": "Sessions", "hash_key": "pk", "hash_key_type": "BOOL"},
                    {"name": "orders", "hash_key": "", "range_key_type": "M"},
                ]
            }
        ),
        [
            "platform.data.tables[0].name: String should match pattern '^[a-z0-9][a-z0-9_.-]*$'",
            "platform.data.tables[0].hash_key_type: Input should be 'S', 'N' or 'B'",
            "platform.data.tables[1].hash_key: String should have at least 1 character",
            "platform.data.tables[1].range_key_type: Input should be 'S', 'N' or 'B'",
        ],
        id="table-names-and-key-types",
    ),
    pytest.param(
        platform(data={"tables": [{"name": "s", "hash_key": "pk"}, {"name": "s", "hash_key": "id"}]}),
        ["platform.data.tables: table 's' is listed twice; each may appear once"],
        id="table-names-unique",
    ),
    pytest.param(
        platform(data={"tables": [{"name": "s", "hash_key": "pk", "range_key": "pk"}]}),
        ["platform.data.tables[0]: range_key 'pk' is the hash_key; the sort key must be another attribute"],
        id="sort-key-differs-from-partition-key",
    ),
    pytest.param(
        platform(colour="blue", network={"vpn": True}),
        [
            "platform.colour: unknown field; allowed: data, enabled, images, network, regions, secrets",
            "platform.network.vpn: unknown field; allowed: app_port, az_count, data_port, flow_logs_retention_days,",
        ],
        id="unknown-fields",
    ),
]


@pytest.mark.parametrize(("change", "expected"), BAD)
def test_each_bad_platform_value_is_reported_with_its_field_and_what_is_allowed(change, expected):
    lines = problems(change)
    for fragment in expected:
        assert any(line.startswith(fragment) for line in lines), f"{fragment!r} starts none of {lines}"
    assert len(lines) == len(expected), lines


def test_every_platform_problem_is_reported_at_once_next_to_the_others():
    change = settings(
        app="X",
        platform={
            "regions": ["eu-south-2"],
            "network": {
                "nat": "both",
                "regions": {
                    "eu-west-1": {"cidr": "10.20.0.0/17"},
                    "eu-central-1": {"cidr": "10.30.0.0/16"},
                },
            },
            "secrets": [{"name": "a b"}],
        },
    )
    lines = problems(change)
    starts = [line.split(":")[0] for line in lines]
    assert starts == [
        "app",
        "platform.network.nat",
        "platform.secrets[0].name",
        "platform.network.regions.eu-central-1",
        "platform.network.regions.eu-west-1.cidr/platform.network.regions.eu-south-2.cidr",
    ], lines


def test_a_disabled_platform_is_checked_for_its_shape_only():
    # Switching the platform off is one setting: its regions and networks are kept, and not checked.
    off = platform(enabled=False, regions=["us-east-1"], network={"regions": {"eu-west-1": {"cidr": "10.20.0.0/16"}}})
    assert validate(off).platform_regions == []
    assert problems(platform(enabled=False, network={"nat": "both"})) == [
        "platform.network.nat: Input should be 'per_az', 'single' or 'none'"
    ]


def test_errors_name_the_layer_of_the_shipped_environment():
    with pytest.raises(ConfigError) as raised:
        load_config(environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": '{"platform": {"network": {"regions": null}}}'})
    assert (
        str(raised.value)
        .splitlines()[0]
        .startswith("platform.network.regions.eu-west-1 (from RELAY_OVERRIDES): is required")
    )


# --- names ----------------------------------------------------------------------------------------------


def test_the_platform_names_follow_the_app_and_environment():
    names = Names("relay", "local", "example-org")
    assert names.platform_stack("eu-south-2") == "relay-local-platform-eu-south-2"
    assert names.platform_global_stack() == "relay-local-platform"
    assert names.peering_stack("eu-south-2") == "relay-local-peering-eu-south-2"
    assert names.platform_kms_alias("eu-west-1") == "alias/relay-local-platform-eu-west-1"
    assert names.data_kms_alias() == "alias/relay-local-data"
    assert names.secret("app") == "relay/local/app"
    assert names.repository("sample-app") == "relay-local/sample-app"
    assert names.repository_prefix() == "relay-local/"
    assert names.repository("sample-app").startswith(names.repository_prefix())
    assert names.table("sessions") == "relay-local-sessions"
    assert names.flow_log_group("eu-west-1") == "/relay/local/flow-logs/eu-west-1"
    assert names.role("flow-logs", "eu-west-1") == "relay-local-flow-logs-eu-west-1"
    assert names.parameter_prefix() == "/relay/local/platform"
    assert names.network("eu-west-1") == "relay-local-eu-west-1"
    assert names.platform_tag() == "relay-local"
    # Secrets, repositories and tables are unique per account and region, not globally: no namespace.
    assert "example-org" not in names.secret("app") + names.repository("a") + names.table("t")


def test_platform_names_are_checked_against_aws_rules():
    names = Names("relay", "local")
    with pytest.raises(InvalidName, match="ecr repository name 'relay-local/Sample'"):
        names.repository("Sample")
    with pytest.raises(InvalidName, match="secret name 'relay/local/a b'"):
        names.secret("a b")


def test_every_platform_name_is_computed_with_the_deployment_when_enabled():
    names = Names("relay", "local")
    without = names.all_for("eu-west-1", {"eu-south-2": "bespoke"})
    platform_names = {
        "regions": ["eu-west-1", "eu-south-2"],
        "secrets": ["app"],
        "repositories": ["sample-app"],
        "tables": ["sessions"],
    }
    with_platform = names.all_for("eu-west-1", {"eu-south-2": "bespoke"}, platform=platform_names)
    added = with_platform[len(without) :]
    assert with_platform[: len(without)] == without
    assert {"relay-local-platform", "relay-local-platform-eu-west-1", "relay-local-peering-eu-south-2"} <= set(added)
    assert "relay-local-peering-eu-west-1" not in added
    assert {"relay/local/app", "relay-local/sample-app", "relay-local-sessions"} <= set(added)
    assert names.platform_all([]) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"cidr": "10.10.0.0/16", "zone_ids": ["euw1-az1"]},
            "platform.network.regions.eu-west-1.zone_ids (from RELAY_OVERRIDES): names 1 zones; the network spans "
            "network.az_count = 2: name 2 zone IDs, or give eu-west-1 its own az_count (2 or 3) and as many zone IDs",
        ),
        (
            {"cidr": "10.10.0.0/16", "az_count": 3, "zone_ids": ["euw1-az1", "euw1-az2"]},
            "zone_ids names 2 zones; az_count is 3: name as many",
        ),
        ({"cidr": "10.10.0.0/16", "zone_ids": ["euw1-az1", "euw1-az1"]}, "zone id"),
        ({"cidr": "10.10.0.0/16", "zone_ids": ["eu-west-1a", "euw1-az2"]}, "zone_ids[0]"),
    ],
)
def test_pinned_zones_are_zone_ids_as_many_as_the_network_spans(entry, message):
    overrides = {"platform": {"network": {"regions": {"eu-west-1": entry}}}}
    with pytest.raises(ConfigError) as error:
        load_config(environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)})
    assert message in str(error.value)


def test_pinned_zones_reach_the_network():
    overrides = {"platform": {"network": {"regions": {"eu-west-1": {"zone_ids": ["euw1-az3", "euw1-az1"]}}}}}
    config = load_config(environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)})
    assert config.platform.network_for("eu-west-1").zone_ids == ("euw1-az3", "euw1-az1")
    assert config.platform.network_for("eu-south-2").zone_ids == ()


@pytest.mark.parametrize("days", [1, 6, 31])
def test_a_secret_recovery_window_is_0_or_7_to_30_days(days):
    overrides = {"platform": {"secrets": [{"name": "app", "recovery_window_days": days}]}}
    with pytest.raises(ConfigError) as error:
        load_config(environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)})
    assert "platform.secrets[0].recovery_window_days" in str(error.value)


def test_the_local_secret_is_deleted_at_once_so_the_home_stack_can_be_rebuilt():
    config = load_config(environ={"RELAY_ENV": "local"})
    assert [s.recovery_window_days for s in config.platform.secrets] == [0]
