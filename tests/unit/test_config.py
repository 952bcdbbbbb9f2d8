"""Configuration rules: every bad value fails, in one message that names each field, the layer its value
came from and what is allowed; layers merge as JSON merge patches."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config
from config.loader import environment_layers, merge_layers, merge_patch, validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]

CONNECTION = "arn:aws:codeconnections:eu-west-1:111122223333:connection/7d2b1c9e-0f4a-4b8e-9c3d-5a6f7e8d9c0b"
VALID = {
    "app": "relay",
    "environment": "test",
    "home_region": "eu-west-1",
    "target_regions": ["eu-south-2", "ap-southeast-4"],
    "source": {
        "connection_arn": CONNECTION,
        "repository": "example-org/sample-app",
        "branch": "main",
    },
    "deploy": {"stack_name": "sample-app"},
}


STATE_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def settings(**changes):
    return merge_patch(copy.deepcopy(VALID), changes)


def test_valid_settings_give_a_typed_config_with_documented_defaults():
    config = validate(VALID)
    assert config.regions == ["eu-west-1", "eu-south-2", "ap-southeast-4"]
    assert config.release.object_key == "release/source.zip"
    assert config.trigger.mode.value == "eventbridge"
    assert config.replication.delete_marker_replication is False
    assert config.buckets.noncurrent_version_expiration_days == 90
    assert config.emulator.enabled is False
    assert config.release.publishers == [] and config.keys.administrators == []
    assert config.deploy.policy_exceptions == [] and config.deploy.permissions_boundary_arn is None
    assert config.audit.release_writes is None and config.audit_mode == "access_logs"
    assert config.state.kms_key_id is None


def test_the_release_guard_audit_keys_and_state_settings_are_typed():
    config = validate(
        settings(
            release={"publishers": ["arn:aws:iam::000000000000:root", "arn:aws:iam::111122223333:role/ops/releaser"]},
            keys={"administrators": ["arn:aws:iam::444455556666:role/key-admin"]},
            deploy={"permissions_boundary_arn": "arn:aws:iam::111122223333:policy/boundaries/deploy"},
            state={
                "backend": "s3",
                "bucket": "state",
                "kms_key_id": "arn:aws:kms:eu-west-1:111122223333:alias/relay-state",
            },
        )
    )
    assert config.release.publishers[1] == "arn:aws:iam::111122223333:role/ops/releaser"
    assert config.keys.administrators == ["arn:aws:iam::444455556666:role/key-admin"]
    assert config.deploy.permissions_boundary_arn.endswith(":policy/boundaries/deploy")
    assert config.state.kms_key_id == "arn:aws:kms:eu-west-1:111122223333:alias/relay-state"


@pytest.mark.parametrize(
    ("emulator", "release_writes", "mode"),
    [
        (False, None, "access_logs"),
        (True, None, "off"),
        (True, "access_logs", "access_logs"),
        (True, "cloudtrail", "cloudtrail"),
        (False, "cloudtrail", "cloudtrail"),
        (False, "off", "off"),
    ],
)
def test_release_writes_are_audited_by_default_outside_the_emulator(emulator, release_writes, mode):
    config = validate(settings(emulator={"enabled": emulator}, audit={"release_writes": release_writes}))
    assert config.audit_mode == mode


BAD = [
    pytest.param(
        {"home_region": "eu-atlantis-1"}, ["home_region", "unknown region", "eu-west-1"], id="unknown-home-region"
    ),
    pytest.param(
        {"target_regions": ["mars-1"]}, ["target_regions[0]", "unknown region", "eu-south-2"], id="unknown-target"
    ),
    pytest.param(
        {"target_regions": ["eu-west-1"]}, ["target_regions", "'eu-west-1' is the home_region"], id="home-is-target"
    ),
    pytest.param(
        {"target_regions": ["eu-south-2", "eu-south-2"]}, ["target_regions", "listed twice"], id="duplicate-target"
    ),
    pytest.param({"target_regions": []}, ["target_regions", "at least 1"], id="no-targets"),
    pytest.param(
        {"target_regions": ["ca-west-1"], "delivery": {"strategy": "bespoke"}},
        ["target_regions[0]/delivery.strategy", "no CodePipeline endpoint", "strategies that work there: remote"],
        id="bespoke-target-without-codepipeline",
    ),
    pytest.param(
        {"target_regions": ["us-gov-west-1"]},
        ["target_regions[0]", "partition", "no delivery strategy crosses partitions"],
        id="cross-partition",
    ),
    pytest.param(
        {"delivery": {"strategy": "replicated"}},
        ["delivery.strategy", "'auto', 'native', 'bespoke' or 'remote'"],
        id="unknown-delivery-strategy",
    ),
    pytest.param(
        {"delivery": {"regions": {"us-east-1": "native"}}},
        ["delivery.regions.us-east-1", "not a target region", '{"delivery": {"regions": {"us-east-1": null}}}'],
        id="delivery-override-of-a-region-that-is-no-target",
    ),
    pytest.param(
        {"delivery": {"regions": {"eu-south-2": "native"}}, "trigger": {"regions": {"eu-south-2": "cloudtrail"}}},
        ["trigger.regions.eu-south-2", "delivered native (as configured)", "only a region delivered bespoke"],
        id="trigger-mode-of-a-native-region",
    ),
    pytest.param(
        {
            "home_region": "eu-south-2",
            "target_regions": ["eu-west-1"],
            "source": {"connection_arn": VALID["source"]["connection_arn"].replace("eu-west-1", "eu-south-2")},
        },
        ["home_region", "codestar-connections", "eu-west-1"],
        id="home-without-connections",
    ),
    pytest.param({"source": {"branch": ""}}, ["source.branch", "at least 1 character"], id="empty-branch"),
    pytest.param({"source": {"branch": "   "}}, ["source.branch", "must not be empty or blank"], id="blank-branch"),
    pytest.param(
        {"source": {"branch": "feature..x"}}, ["source.branch", "not a valid git branch name"], id="bad-branch"
    ),
    pytest.param(
        {"source": {"connection_arn": "arn:aws:codestar:eu-west-1:1:connection/x"}},
        ["source", "malformed", "arn:aws:codeconnections"],
        id="malformed-arn",
    ),
    pytest.param(
        {"source": {"connection_arn": VALID["source"]["connection_arn"].replace("eu-west-1", "us-east-1")}},
        ["source.connection_arn", "us-east-1", "home region"],
        id="connection-in-other-region",
    ),
    pytest.param({"source": {"repository": "no-owner"}}, ["source", "owner/name"], id="repository-without-owner"),
    pytest.param(
        {"source": {"provider": "github"}},
        ["source.provider", "connection", "codecommit"],
        id="unknown-source-provider",
    ),
    pytest.param({"trigger": {"mode": "polling"}}, ["trigger.mode", "eventbridge"], id="unknown-trigger-mode"),
    pytest.param({"app": "Relay"}, ["app", "pattern"], id="uppercase-app"),
    pytest.param({"app": "a-very-long-application-name"}, ["app", "at most 16"], id="long-app"),
    pytest.param(
        {"namespace": "n" * 20, "app": "a" * 16, "environment": "e" * 10},
        ["bucket name", "at most 63"],
        id="bucket-name-too-long",
    ),
    pytest.param(
        {"deploy": {"stack_name": "1stack"}}, ["deploy.stack_name", "CloudFormation stack name"], id="bad-stack-name"
    ),
    pytest.param(
        {"deploy": {"template_path": "../x.yaml"}}, ["deploy.template_path", "relative path"], id="template-outside-zip"
    ),
    pytest.param(
        {"deploy": {"policy_file": "missing.json"}}, ["deploy.policy_file", "does not exist"], id="missing-policy-file"
    ),
    pytest.param(
        {"release": {"object_key": "/abs.zip"}}, ["release.object_key", "safe S3 object key"], id="bad-object-key"
    ),
    pytest.param(
        {"buckets": {"noncurrent_version_expiration_days": 0}},
        ["buckets.noncurrent_version_expiration_days", "greater than or equal to 1"],
        id="zero-expiry",
    ),
    pytest.param(
        {"replication": {"storage_class": "GLACIER"}},
        ["replication.storage_class", "STANDARD_IA"],
        id="bad-storage-class",
    ),
    pytest.param({"tags": {"aws:owner": "x"}}, ["tags", "reserved 'aws:' prefix"], id="reserved-tag"),
    pytest.param({"state": {"backend": "s3"}}, ["state", "bucket is required"], id="s3-state-without-bucket"),
    pytest.param({"emulator": {"endpoint": "localhost"}}, ["emulator.endpoint", "pattern"], id="bad-endpoint"),
    pytest.param(
        {"release": {"publishers": ["arn:aws:iam::111122223333:user/alice"]}},
        ["release.publishers[0]: 'arn:aws:iam::111122223333:user/alice' is not an IAM principal ARN; allowed: a role"],
        id="publisher-not-a-role-or-root",
    ),
    pytest.param(
        {"release": {"publishers": ["arn:aws-cn:iam::111122223333:root"]}},
        ["release.publishers[0]: 'arn:aws-cn:iam::111122223333:root' is in partition 'aws-cn' but the home region"],
        id="publisher-in-another-partition",
    ),
    pytest.param(
        {"keys": {"administrators": ["arn:aws:iam::111122223333:role/admin", "111122223333"]}},
        ["keys.administrators[1]: '111122223333' is not an IAM principal ARN"],
        id="key-administrator-not-an-arn",
    ),
    pytest.param(
        {"deploy": {"permissions_boundary_arn": "arn:aws:iam::111122223333:role/boundary"}},
        ["deploy.permissions_boundary_arn: 'arn:aws:iam::111122223333:role/boundary' is not a managed policy ARN"],
        id="boundary-not-a-policy",
    ),
    pytest.param(
        {"deploy": {"policy_exceptions": [{"sid": "A", "rule": "anything-goes", "reason": "x" * 20}]}},
        ["deploy.policy_exceptions[0].rule", "'service-wildcard', 'resource-wildcard' or 'passrole-unconditioned'"],
        id="exception-for-an-unknown-rule",
    ),
    pytest.param(
        {"deploy": {"policy_exceptions": [{"sid": "A", "rule": "service-wildcard", "reason": "because"}]}},
        ["deploy.policy_exceptions[0].reason: a reason of at least 20 characters is required (got 7)"],
        id="exception-without-a-real-reason",
    ),
    pytest.param(
        {"deploy": {"policy_exceptions": [{"sid": "A", "rule": "service-wildcard", "reason": "x" * 20}]}},
        ["deploy.policy_exceptions[0]: names Sid 'A', but deploy.policy_file is not set"],
        id="exception-without-a-policy-file",
    ),
    pytest.param(
        {"audit": {"release_writes": "s3"}},
        ["audit.release_writes", "'access_logs', 'cloudtrail' or 'off'"],
        id="unknown-audit-mode",
    ),
    pytest.param(
        {"state": {"kms_key_id": STATE_KEY}},
        ["state.kms_key_id/state.backend: a state key is for the s3 backend only"],
        id="state-key-with-local-backend",
    ),
    pytest.param(
        {"state": {"backend": "s3", "bucket": "state", "kms_key_id": "alias/state"}},
        ["state.kms_key_id: 'alias/state' is not a KMS key or alias ARN; allowed: arn:aws:kms:<region>"],
        id="state-key-not-an-arn",
    ),
    pytest.param(
        {"state": {"backend": "s3", "bucket": "state", "kms_key_id": STATE_KEY.replace("eu-west-1", "us-east-1")}},
        [
            "state.kms_key_id/home_region: the key is in 'us-east-1' but the state bucket is in 'eu-west-1' "
            "(the home region (state.region is not set))"
        ],
        id="state-key-in-another-region-than-home",
    ),
    pytest.param(
        {"state": {"backend": "s3", "bucket": "state", "region": "eu-central-1", "kms_key_id": STATE_KEY}},
        ["state.kms_key_id/state.region: the key is in 'eu-west-1' but the state bucket is in 'eu-central-1'"],
        id="state-key-in-another-region-than-the-bucket",
    ),
    pytest.param({"colour": "blue"}, ["colour", "unknown field", "allowed:", "target_regions"], id="unknown-field"),
    pytest.param({"source": {"brnch": "main"}}, ["source.brnch", "unknown field", "branch"], id="unknown-nested-field"),
]


@pytest.mark.parametrize(("change", "expected"), BAD)
def test_bad_value_fails_with_a_message_naming_field_and_allowed_values(change, expected):
    with pytest.raises(ConfigError) as raised:
        validate(settings(**change))
    message = str(raised.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message


def test_every_problem_is_reported_in_the_one_message():
    with pytest.raises(ConfigError) as raised:
        validate(settings(app="X", deploy={"stack_name": "-"}))
    lines = str(raised.value).splitlines()
    assert any(line.startswith("app:") for line in lines)
    assert any(line.startswith("deploy.stack_name:") for line in lines)


def test_without_a_connection_arn_the_home_stack_creates_one_whose_name_must_fit():
    config = validate(settings(source={"connection_arn": None}))
    assert config.source.connection_arn is None
    assert config.source.connection_provider_type == "GitHub"
    long_names = {"app": "aaaaaaaaaaaaaaaa", "environment": "eeeeeeeeee"}
    with pytest.raises(ConfigError, match="connection name 'aaaaaaaaaaaaaaaa-eeeeeeeeee-source' has 34 characters"):
        validate(settings(source={"connection_arn": None}, **long_names))
    # an existing connection is used as it is: the name relay would give one does not matter
    assert validate(settings(**long_names)).source.connection_arn == CONNECTION


def test_codecommit_source_needs_no_connection_and_a_plain_repository_name():
    config = validate(settings(source={"provider": "codecommit", "connection_arn": None, "repository": "sample-app"}))
    assert config.source.connection_arn is None
    with pytest.raises(ConfigError, match="must not be set when provider is 'codecommit'"):
        validate(settings(source={"provider": "codecommit", "repository": "sample-app"}))


def test_environment_settings_override_defaults_key_by_key():
    relay = {
        "defaults": {"app": "relay", "buckets": {"force_destroy": False, "noncurrent_version_expiration_days": 30}},
        "environments": {"local": {"buckets": {"force_destroy": True}}},
    }
    name, layers = environment_layers(relay, "local")
    merged, _ = merge_layers(layers)
    assert name == "local"
    assert [layer for layer, _ in layers] == ["defaults", "environments.local"]
    assert merged["buckets"] == {"force_destroy": True, "noncurrent_version_expiration_days": 30}


def test_unknown_environment_lists_the_defined_ones():
    with pytest.raises(ConfigError, match=r"environment 'staging' is not defined.*allowed: local, prod"):
        load_config(environ={"RELAY_ENV": "staging"})


def test_overrides_must_be_a_json_object():
    with pytest.raises(ConfigError, match="RELAY_OVERRIDES: not valid JSON"):
        load_config(environ={"RELAY_OVERRIDES": "{target_regions: x}"})
    with pytest.raises(ConfigError, match="RELAY_OVERRIDES: expected a JSON object"):
        load_config(environ={"RELAY_OVERRIDES": "[]"})


def test_shipped_environments_are_valid_and_local_targets_the_emulator():
    local = load_config(environ={"RELAY_ENV": "local"})
    prod = load_config(environ={"RELAY_ENV": "prod"})
    assert local.emulator.enabled and local.buckets.force_destroy
    assert not prod.emulator.enabled and prod.state.backend == "s3"


def test_main_rejects_a_bad_config_with_exit_2_one_message_and_nothing_synthesized(tmp_path):
    overrides = {"target_regions": ["eu-west-1", "ca-west-1"], "delivery": {"strategy": "native"}}
    environ = {"RELAY_OVERRIDES": json.dumps(overrides)}
    with pytest.raises(ConfigError) as raised:
        load_config(environ=environ)
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "main.py")],
        cwd=tmp_path,
        env={**environ, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == f"relay: configuration error\n{raised.value}\n"
    # The home region as a target, native into ca-west-1 without CodePipeline, the stale trigger.regions entry,
    # the two platform.regions of the local environment that are no longer targets.
    assert len(result.stderr.splitlines()) == 6
    assert list(tmp_path.iterdir()) == []


def test_configuration_reference_is_generated_from_the_current_schema():
    from tools import configref

    assert configref.REFERENCE.read_text() == configref.render(), "run: python -m tools.configref"


def test_trigger_mode_can_be_overridden_per_target_region():
    config = validate(settings(trigger={"mode": "cloudtrail", "regions": {"eu-south-2": "eventbridge"}}))
    assert config.trigger_mode("eu-south-2").value == "eventbridge"
    assert config.trigger_mode("ap-southeast-4").value == "cloudtrail"
    with pytest.raises(
        ConfigError, match=r"trigger.regions.eu-west-1: 'eu-west-1' is not a target region; allowed: eu-"
    ):
        validate(settings(trigger={"regions": {"eu-west-1": "cloudtrail"}}))


# --- layers: JSON merge patch -------------------------------------------------------------------

MERGES = [
    pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}, {"a": {"b": 1, "c": 3}}, id="objects-merge-key-by-key"),
    pytest.param({"a": {"b": 1}}, {"a": {}}, {"a": {"b": 1}}, id="empty-object-changes-nothing"),
    pytest.param({"a": {"b": 1}, "d": 4}, {"a": None}, {"d": 4}, id="null-removes-a-map"),
    pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}, {"a": {"c": 2}}, id="null-removes-one-entry"),
    pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="list-replaces"),
    pytest.param({"a": [1, 2]}, {"a": None}, {}, id="null-removes-a-list"),
    pytest.param({"a": "x"}, {"a": {"b": 1}}, {"a": {"b": 1}}, id="object-replaces-a-scalar"),
    pytest.param({"a": {"b": 1}}, {"a": "x"}, {"a": "x"}, id="scalar-replaces-an-object"),
    pytest.param({}, {"a": None}, {}, id="null-for-an-absent-key-is-no-op"),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGES)
def test_each_layer_is_applied_as_a_json_merge_patch(target, patch, expected):
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


SOURCES = [
    pytest.param(("app",), ["defaults"], id="set-once"),
    pytest.param(("buckets", "force_destroy"), ["environments.e"], id="overridden-by-the-environment"),
    pytest.param(("buckets",), ["defaults", "environments.e"], id="object-set-by-two-layers"),
    pytest.param(("target_regions", 1), ["RELAY_OVERRIDES"], id="list-item-of-a-replaced-list"),
    pytest.param(("trigger", "regions"), ["RELAY_OVERRIDES"], id="removed-by-null"),
    pytest.param(("tags", "team"), ["environments.e"], id="map-entry"),
    pytest.param(("namespace",), [], id="never-set"),
]


@pytest.mark.parametrize(("loc", "expected"), SOURCES)
def test_every_value_knows_the_layer_it_came_from(loc, expected):
    _, sources = merge_layers(
        [
            (
                "defaults",
                {"app": "relay", "buckets": {"force_destroy": False, "noncurrent_version_expiration_days": 30}},
            ),
            ("environments.e", {"buckets": {"force_destroy": True}, "tags": {"team": "x"}, "trigger": {"regions": {}}}),
            ("RELAY_OVERRIDES", {"target_regions": ["eu-south-2", "ap-southeast-4"], "trigger": {"regions": None}}),
        ]
    )
    assert sources.of(loc) == expected


# The shipped `local` environment sets trigger.regions for ap-southeast-4; `None` means valid.
# The shipped local environment has a platform in eu-south-2 and eu-central-1: an override that moves the
# targets away from them switches the platform off (a disabled platform's regions are not checked).
PLATFORM_OFF = {"platform": {"enabled": False}}
SHIPPED_OVERRIDES = [
    pytest.param(
        {"target_regions": ["eu-central-2"]},
        [
            "trigger.regions.ap-southeast-4 (from environments.local): 'ap-southeast-4' is not a target region",
            "platform.regions[0] (from environments.local): 'eu-south-2' is not a target region; allowed: eu-central-2",
            "platform.regions[1] (from environments.local): 'eu-central-1' is not a target region",
        ],
        id="a-stale-trigger-region-and-stale-platform-regions-name-their-environment",
    ),
    pytest.param(
        {"target_regions": ["eu-central-2"], "trigger": {"regions": None}, **PLATFORM_OFF},
        None,
        id="null-replaces-the-whole-map",
    ),
    pytest.param(
        {"target_regions": ["eu-central-2"], "trigger": {"regions": {"ap-southeast-4": None}}, **PLATFORM_OFF},
        None,
        id="null-removes-one-entry",
    ),
    pytest.param(
        {"target_regions": ["eu-central-2"], "trigger": {"regions": {}}, **PLATFORM_OFF},
        ["trigger.regions.ap-southeast-4 (from environments.local)"],
        id="an-empty-object-merges-and-clears-nothing",
    ),
    pytest.param(
        {"target_regions": ["ca-west-1", "us-gov-west-1"], "delivery": {"strategy": "sideways"}, **PLATFORM_OFF},
        [
            "delivery.strategy (from RELAY_OVERRIDES): Input should be 'auto', 'native', 'bespoke' or 'remote'",
            "target_regions[1] (from RELAY_OVERRIDES): 'us-gov-west-1' is in partition 'aws-us-gov'",
            "trigger.regions.ap-southeast-4 (from environments.local)",
        ],
        id="a-model-error-does-not-hide-a-region-error",
    ),
    pytest.param(
        {
            "target_regions": ["eu-west-1", "ca-west-1"],
            "delivery": {"regions": {"ca-west-1": "bespoke"}},
            **PLATFORM_OFF,
        },
        [
            "target_regions (from RELAY_OVERRIDES): 'eu-west-1' is the home_region",
            "target_regions[1]/delivery.regions.ca-west-1 (from RELAY_OVERRIDES): 'ca-west-1' has no CodePipeline "
            "endpoint, so 'bespoke' cannot work there",
            "trigger.regions.ap-southeast-4 (from environments.local)",
        ],
        id="home-as-target-and-bespoke-into-a-region-without-codepipeline",
    ),
    pytest.param(
        {
            "target_regions": ["eu-central-1", "ca-west-1"],
            "trigger": {"regions": {"ca-west-1": "cloudtrail"}},
            **PLATFORM_OFF,
        },
        [
            "trigger.regions.ap-southeast-4 (from environments.local): 'ap-southeast-4' is not a target region",
            "trigger.regions.ca-west-1 (from RELAY_OVERRIDES): 'ca-west-1' is delivered remote (decided by auto)",
        ],
        id="trigger-modes-of-a-stale-and-of-a-remote-region",
    ),
    pytest.param(
        {"app": None, "source": {"branch": "a..b"}, "colour": "blue"},
        [
            "app (from RELAY_OVERRIDES): is required",
            "source.branch (from RELAY_OVERRIDES): 'a..b' is not a valid git branch name",
            "colour (from RELAY_OVERRIDES): unknown field",
        ],
        id="null-removes-a-required-field",
    ),
    pytest.param(
        {"home_region": "eu-south-2", **PLATFORM_OFF},
        [
            "home_region (from RELAY_OVERRIDES): 'eu-south-2' has no codestar-connections endpoint",
            "target_regions (from environments.local): 'eu-south-2' is the home_region",
        ],
        id="a-new-home-region-checked-against-values-from-other-layers",
    ),
    pytest.param(
        {"deploy": {"stack_name": "1x", "policy_file": "missing.json"}},
        [
            "deploy.stack_name (from RELAY_OVERRIDES): '1x' is not a CloudFormation stack name",
            "deploy.policy_file (from RELAY_OVERRIDES): 'missing.json' does not exist",
        ],
        id="a-bad-field-does-not-hide-a-bad-file-next-to-it",
    ),
    pytest.param(
        {"app": "a" * 16, "namespace": "n" * 20, "target_regions": ["mars-1", "ap-southeast-4"], **PLATFORM_OFF},
        [
            "target_regions[0] (from RELAY_OVERRIDES): unknown region 'mars-1'",
            "app/environment/namespace (from environments.local, RELAY_OVERRIDES): the bucket name "
            f"'{'n' * 20}-{'a' * 16}-local-",
        ],
        id="names-are-checked-next-to-an-unknown-region",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), SHIPPED_OVERRIDES)
def test_overrides_of_the_shipped_environment_report_every_problem_with_its_source(overrides, expected):
    environ = {"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)}
    if expected is None:
        config = load_config(environ=environ)
        assert config.target_regions == ["eu-central-2"]
        assert config.trigger.regions == {}
        return
    with pytest.raises(ConfigError) as raised:
        load_config(environ=environ)
    lines = str(raised.value).splitlines()
    for fragment in expected:
        assert any(line.startswith(fragment) for line in lines), f"{fragment!r} starts none of {lines}"
    assert len(lines) == len(expected), lines


def write_cdktf_json(tmp_path: Path, relay: dict) -> Path:
    """A cdktf.json with this `context.relay` block, next to a copy of the shipped deploy policy."""
    (tmp_path / "app" / "sample").mkdir(parents=True)
    policy = PROJECT_ROOT / "app" / "sample" / "deploy-policy.json"
    (tmp_path / "app" / "sample" / "deploy-policy.json").write_text(policy.read_text())
    path = tmp_path / "cdktf.json"
    path.write_text(json.dumps({"context": {"relay": relay}}))
    return path


def shipped_relay() -> dict:
    return json.loads((PROJECT_ROOT / "cdktf.json").read_text())["context"]["relay"]


LAYER_SOURCES = [
    pytest.param(
        ("defaults", "deploy", "stack_name"),
        "-x",
        "deploy.stack_name (from defaults): '-x' is not a CloudFormation stack name",
        id="defaults",
    ),
    pytest.param(
        ("environments", "local", "buckets", "noncurrent_version_expiration_days"),
        0,
        "buckets.noncurrent_version_expiration_days (from environments.local): Input should be greater than",
        id="environment",
    ),
    pytest.param(
        ("environments", "local", "trigger", "regions", "us-east-1"),
        "cloudtrail",
        "trigger.regions.us-east-1 (from environments.local): 'us-east-1' is not a target region",
        id="environment-map-entry",
    ),
    pytest.param(
        ("environments", "local", "source"),
        {"repository": None},
        "source.repository (from environments.local): is required",
        id="removed-by-the-environment",
    ),
]


@pytest.mark.parametrize(("path", "value", "expected"), LAYER_SOURCES)
def test_errors_name_the_layer_of_cdktf_json_their_value_came_from(tmp_path, path, value, expected):
    relay = shipped_relay()
    parent = relay
    for key in path[:-1]:
        parent = parent.setdefault(key, {})
    parent[path[-1]] = value
    with pytest.raises(ConfigError) as raised:
        load_config(write_cdktf_json(tmp_path, relay), environ={"RELAY_ENV": "local"})
    lines = str(raised.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), lines


CONTEXT_SHAPES = [
    pytest.param({"defualts": {}}, "context.relay.defualts: unknown field; allowed: default_environment", id="typo"),
    pytest.param(
        {"environments": {"Prod": {}}}, "context.relay.environments.Prod.[key]: String should match", id="name"
    ),
    pytest.param(
        {"environments": {"local": []}}, "context.relay.environments.local: Input should be a valid dict", id="list"
    ),
]


@pytest.mark.parametrize(("change", "expected"), CONTEXT_SHAPES)
def test_the_context_block_itself_is_validated(tmp_path, change, expected):
    relay = {**shipped_relay(), **change}
    with pytest.raises(ConfigError) as raised:
        load_config(write_cdktf_json(tmp_path, relay), environ={"RELAY_ENV": "local"})
    assert str(raised.value).startswith(expected), str(raised.value)


def test_a_valid_environment_from_another_file_loads_with_the_environment_name_from_its_key(tmp_path):
    relay = merge_patch(shipped_relay(), {"environments": {"staging": {"namespace": "acme"}}})
    config = load_config(write_cdktf_json(tmp_path, relay), environ={"RELAY_ENV": "staging"})
    assert (config.environment, config.namespace, config.emulator.enabled) == ("staging", "acme", False)


WIDE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Wide", "Effect": "Allow", "Action": ["iam:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:${AWS::Partition}:ssm:*:*:parameter/x"},
    ],
}


def test_the_deploy_ceiling_and_the_new_rules_report_every_problem_at_once_with_its_layer(tmp_path):
    relay = merge_patch(
        shipped_relay(),
        {
            "defaults": {"deploy": {"policy_file": "app/wide.json"}},
            "environments": {
                "local": {
                    "deploy": {
                        "policy_exceptions": [
                            {"sid": "Wide", "rule": "service-wildcard", "reason": "the template manages many roles"},
                            {"sid": "Gone", "rule": "resource-wildcard", "reason": "left over from an older file"},
                        ]
                    }
                }
            },
        },
    )
    path = write_cdktf_json(tmp_path, relay)
    (tmp_path / "app" / "wide.json").write_text(json.dumps(WIDE_POLICY))
    overrides = {"release": {"publishers": ["arn:aws-cn:iam::111122223333:root"]}, "state": {"kms_key_id": STATE_KEY}}
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={"RELAY_ENV": "local", "RELAY_OVERRIDES": json.dumps(overrides)})
    lines = str(raised.value).splitlines()
    expected = [
        "deploy.policy_file (from defaults): in 'app/wide.json', statement 'Wide' allows the write actions 'iam:*' "
        "on '*', every resource (rule resource-wildcard)",
        "deploy.policy_file (from defaults): in 'app/wide.json', statement 'Wide' allows 'iam:*', which passes roles "
        "to services, without an iam:PassedToService condition (rule passrole-unconditioned)",
        "deploy.policy_exceptions[1] (from environments.local): names Sid 'Gone', which no statement of the policy "
        "file has; Sids in the file: 'Wide'",
        "state.kms_key_id/state.backend (from RELAY_OVERRIDES): a state key is for the s3 backend only",
        "release.publishers[0] (from RELAY_OVERRIDES): 'arn:aws-cn:iam::111122223333:root' is in partition 'aws-cn' "
        "but the home region 'eu-west-1' is in 'aws'",
    ]
    assert len(lines) == len(expected), lines
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith(fragment), (line, fragment)


def test_an_exception_with_too_short_a_reason_is_reported_once_and_not_as_an_uncovered_statement_too(tmp_path):
    (tmp_path / "wide.json").write_text(json.dumps(WIDE_POLICY))
    exceptions = [
        {"sid": "Wide", "rule": rule, "reason": "needed"}
        for rule in ("service-wildcard", "resource-wildcard", "passrole-unconditioned")
    ]
    with pytest.raises(ConfigError) as raised:
        validate(settings(deploy={"policy_file": "wide.json", "policy_exceptions": exceptions}), tmp_path)
    assert str(raised.value).splitlines() == [
        f"deploy.policy_exceptions[{index}].reason: a reason of at least 20 characters is required (got 6); say why "
        "the statement needs to break the rule"
        for index in range(3)
    ]


def test_exceptions_with_reasons_let_a_statement_past_the_ceiling(tmp_path):
    (tmp_path / "wide.json").write_text(json.dumps(WIDE_POLICY))
    exceptions = [
        {"sid": "Wide", "rule": rule, "reason": "a bootstrap stack that creates the account's roles"}
        for rule in ("service-wildcard", "resource-wildcard", "passrole-unconditioned")
    ]
    config = validate(settings(deploy={"policy_file": "wide.json", "policy_exceptions": exceptions}), tmp_path)
    assert [entry.rule for entry in config.deploy.policy_exceptions] == [e["rule"] for e in exceptions]


def test_the_shipped_deploy_policy_passes_the_ceiling_and_keeps_its_placeholders():
    policy = json.loads((PROJECT_ROOT / "app" / "sample" / "deploy-policy.json").read_text())
    assert policy["Statement"][0]["Resource"].startswith("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:")
    validate(settings(deploy={"policy_file": "app/sample/deploy-policy.json"}))


def test_exception_problems_name_the_entry_by_its_place_in_the_configuration(tmp_path):
    (tmp_path / "wide.json").write_text(json.dumps(WIDE_POLICY))
    reason = "the template manages many roles"
    exceptions = [
        {"sid": "Wide", "rule": "everything", "reason": reason},
        {"sid": "Wide", "rule": "service-wildcard"},
        {"sid": "Wide", "rule": "service-wildcard", "reason": reason},
    ]
    with pytest.raises(ConfigError) as raised:
        validate(settings(deploy={"policy_file": "wide.json", "policy_exceptions": exceptions}), tmp_path)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("deploy.policy_exceptions[0].rule: Input should be 'service-wildcard'")
    assert lines[1] == "deploy.policy_exceptions[1].reason: is required"
    assert lines[-1] == (
        "deploy.policy_exceptions[2]: repeats the exception for Sid 'Wide' and rule 'service-wildcard' of "
        "deploy.policy_exceptions[1]; remove one"
    )
    assert len(lines) == 5, lines  # and the two uncovered rules of 'Wide': resource-wildcard, passrole
