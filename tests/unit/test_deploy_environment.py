"""The cdktf CLI's environment: relay's Terraform arguments, and a caller's added to them."""

from __future__ import annotations

from tools import deploy

PARALLELISM = f"-parallelism={deploy.EMULATOR_TERRAFORM_PARALLELISM}"


def test_against_the_emulator_terraform_runs_more_operations_at_once(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "local")
    monkeypatch.delenv("RELAY_OVERRIDES", raising=False)
    env = deploy.cli_environment()
    assert env["TF_CLI_ARGS_apply"] == PARALLELISM
    assert env["TF_CLI_ARGS_destroy"] == PARALLELISM


def test_a_callers_terraform_arguments_add_to_relays_and_other_values_replace(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "local")
    monkeypatch.delenv("RELAY_OVERRIDES", raising=False)
    env = deploy.cli_environment({"TF_CLI_ARGS_destroy": "-refresh=false", "FORCE_COLOR": "1"})
    assert env["TF_CLI_ARGS_destroy"] == f"{PARALLELISM} -refresh=false"
    assert env["TF_CLI_ARGS_apply"] == PARALLELISM
    assert env["FORCE_COLOR"] == "1"


def test_against_aws_terraform_keeps_its_default_parallelism(monkeypatch):
    monkeypatch.setenv("RELAY_ENV", "prod")
    monkeypatch.delenv("RELAY_OVERRIDES", raising=False)
    env = deploy.cli_environment({"TF_CLI_ARGS_destroy": "-refresh=false"})
    assert "TF_CLI_ARGS_apply" not in env
    assert env["TF_CLI_ARGS_destroy"] == "-refresh=false"
