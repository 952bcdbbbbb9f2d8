"""Configuration rules: every bad value fails with one message naming the field and what is allowed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_config
from config.loader import deep_merge, select_environment, validate

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


def settings(**changes):
    return deep_merge(copy.deepcopy(VALID), changes)


def test_valid_settings_give_a_typed_config_with_documented_defaults():
    config = validate(VALID)
    assert config.regions == ["eu-west-1", "eu-south-2", "ap-southeast-4"]
    assert config.release.object_key == "release/source.zip"
    assert config.trigger.mode.value == "eventbridge"
    assert config.replication.delete_marker_replication is False
    assert config.buckets.noncurrent_version_expiration_days == 90
    assert config.emulator.enabled is False


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
        {"target_regions": ["ca-west-1"]},
        ["target_regions[0]", "no CodePipeline endpoint", "eu-south-2"],
        id="target-without-codepipeline",
    ),
    pytest.param(
        {"target_regions": ["us-gov-west-1"]}, ["target_regions[0]", "partition", "never crosses"], id="cross-partition"
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
    pytest.param({"source": {"connection_arn": None}}, ["source", "connection_arn is required"], id="missing-arn"),
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
    name, merged = select_environment(relay, "local")
    assert name == "local"
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


def test_main_rejects_a_bad_config_with_exit_2_and_synthesizes_nothing(tmp_path):
    overrides = json.dumps({"target_regions": ["eu-west-1"]})
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "main.py")],
        cwd=tmp_path,
        env={"RELAY_OVERRIDES": overrides, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("relay: configuration error\ntarget_regions: 'eu-west-1' is the home_region")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_configuration_reference_is_generated_from_the_current_schema():
    from tools import configref

    assert configref.REFERENCE.read_text() == configref.render(), "run: python -m tools.configref"


def test_trigger_mode_can_be_overridden_per_target_region():
    config = validate(settings(trigger={"mode": "cloudtrail", "regions": {"eu-south-2": "eventbridge"}}))
    assert config.trigger_mode("eu-south-2").value == "eventbridge"
    assert config.trigger_mode("ap-southeast-4").value == "cloudtrail"
    with pytest.raises(ConfigError, match=r"trigger: .*regions.eu-west-1: not a target region; allowed: eu-south-2"):
        validate(settings(trigger={"regions": {"eu-west-1": "cloudtrail"}}))
