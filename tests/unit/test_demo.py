"""The demo's step runner and closing lines: every failure is a failed step, and nothing is claimed that
did not happen. The last test runs the demo itself on a machine where Terraform cannot install its
provider: it stops in seconds, before anything starts."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from config import load_config
from config.paths import PROJECT_ROOT
from regions.delivery import decisions
from tools import demo
from tools.release import Release as RealRelease
from tools.wait import WaitTimeout, wait_for

DEPLOY = "deploy 4 stacks with cdktf (replication and peerings last)"
DESTROY = "destroy the deployed application and every stack"


def failing(error: Exception):
    def action():
        raise error

    return action


def test_a_failed_wait_is_a_failed_step_not_a_traceback(capsys):
    report = demo.Report()
    step = report.run("replica", lambda: wait_for("the replica", lambda: None, timeout=0, interval=0))
    assert not step.ok and not report.ok
    assert step.detail.startswith("timed out after 0 s waiting for the replica")
    out, err = capsys.readouterr()
    assert "✗ replica" in out and "Traceback" not in out + err


def test_an_unexpected_error_is_a_failed_step_with_its_traceback(capsys):
    report = demo.Report()
    step = report.run("publish", failing(KeyError("VersionId")))
    assert not step.ok and step.detail == "KeyError: 'VersionId'"
    assert "Traceback" in capsys.readouterr().err


def test_a_result_the_check_rejects_is_a_failed_step():
    report = demo.Report()
    assert report.run("pipeline", lambda: "Failed", check=lambda s: s == "Succeeded").ok is False
    assert report.run("pipeline", lambda: "Succeeded", check=lambda s: s == "Succeeded").ok is True
    assert [s.ok for s in report.steps] == [False, True]


def test_the_summary_counts_failures_and_claims_success_only_when_all_succeeded():
    report = demo.Report()
    assert "the release reached every target region" in report.summary()
    report.run("one", lambda: 1)
    report.run("two", failing(WaitTimeout("timed out")))
    summary = report.summary()
    assert "1 of 2 steps failed" in summary and "reached every target region" not in summary
    assert "FAIL two" in summary and "ok   one" in summary


def test_the_last_wait_of_a_release_is_a_step_too():
    """The replication status of the release, read after the regions, used to raise past the summary."""

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "HeadObject")
    commit = "c0ffee" * 7

    class Repository:
        def push(self, label: str) -> str:
            return commit

    class Release:
        config = load_config(environ={"RELAY_ENV": "local"})

        def home_bucket(self) -> str:
            return "home-bucket"

        def home_execution_for(self, revision: str) -> dict:
            return {"pipelineExecutionId": "e1", "trigger": {"triggerType": "WebhookV2"}}

        def home_execution_status(self, execution_id: str) -> str:
            return "Succeeded"

        def latest_build(self) -> dict:
            moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
            return {"id": "b:1", "buildStatus": "SUCCEEDED", "startTime": moment, "endTime": moment}

        def published(self) -> dict:
            return {"VersionId": "v1", "Metadata": {"source-revision": commit}}

        def replica(self, region: str, version_id: str) -> dict:
            raise denied

        def home_action(self, execution_id: str, region: str) -> dict:
            raise denied

        def source_status(self, version_id: str) -> str:
            raise denied

        regions_delivered = RealRelease.regions_delivered

    report = demo.Report()
    demo.ship(report, Release(), Repository(), "r1")
    first_steps = {
        "bespoke": "replica readable",
        "native": "home pipeline's cross-region CloudFormation action",
        "remote": "home pipeline's CodeBuild deploy build",
    }
    regions = [f"{d.region} ({d.strategy.value}): {first_steps[d.strategy.value]}" for d in decisions(Release.config)]
    assert [s.name for s in report.steps] == [
        "git push: app/sample (release r1) to example-org/sample-app main",
        "home: push -> pipeline execution",
        "home: pipeline (connection source, CodeBuild build and deploy actions)",
        "home: build",
        "home: release object in home-bucket",
        *regions,
        "home: replication status of the release",
    ]
    assert len(regions) == 4
    assert [s.ok for s in report.steps] == [True] * 5 + [False] * (len(regions) + 1)
    assert "AccessDenied" in report.steps[-1].detail


def record(*outcomes: tuple[str, bool]) -> demo.Report:
    report = demo.Report()
    for name, ok in outcomes:
        report.steps.append(demo.Step(name, ok=ok))
    return report


@pytest.mark.parametrize(
    ("outcomes", "destroy", "started", "says", "never"),
    [
        ([(demo.EMULATOR_STEP, False)], False, False, "Nothing was deployed", "deployed ("),
        ([(demo.EMULATOR_STEP, True), (DEPLOY, False)], False, True, "The deploy failed", "stacks deployed"),
        ([(demo.EMULATOR_STEP, True), (DEPLOY, True)], False, True, "with the stacks deployed", "failed"),
        ([(demo.EMULATOR_STEP, True), (DEPLOY, True)], False, False, "already running", "make emulator-stop"),
        ([(demo.EMULATOR_STEP, True), (DEPLOY, True), (DESTROY, True)], True, True, "destroyed. Stopping", "keeps"),
        ([(demo.EMULATOR_STEP, True), (DEPLOY, True), (DESTROY, False)], True, False, "destroy failed", "Stopping"),
    ],
)
def test_the_closing_line_says_only_what_the_steps_prove(outcomes, destroy, started, says, never):
    line = demo.closing(
        record(*outcomes), deploy_step=DEPLOY, destroy_step=DESTROY if destroy else None, started=started
    )
    assert says in line and never not in line


@pytest.mark.parametrize("module", ["tools.demo", "tools.deploy", "tools.release", "tools.push_bench", "tools.status"])
def test_the_verbs_have_help(module):
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("usage: relay ")


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_demo_ends_with_the_status_table_and_its_exit_code_is_the_verdict(capsys, monkeypatch, exit_code):
    class Fleet:
        summary = "the summary line"

    Fleet.exit_code = exit_code
    monkeypatch.setattr(demo.status, "render", lambda fleet: "THE TABLE")
    report = demo.Report()
    demo.status_step(report, config=None, fleet=lambda config: Fleet())
    assert [(s.name, s.ok, s.detail) for s in report.steps] == [(demo.STATUS_STEP, exit_code == 0, "the summary line")]
    assert capsys.readouterr().out.rstrip().endswith("THE TABLE")
    denied = failing(ClientError({"Error": {"Code": "AccessDenied"}}, "HeadObject"))
    report = demo.Report()
    demo.status_step(report, config=None, fleet=lambda config: denied())
    assert not report.ok and "AccessDenied" in report.steps[0].detail
    assert "THE TABLE" not in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["tools.demo"], ["tools.deploy", "deploy"]])
def test_without_a_provider_the_demo_and_deploy_stop_in_seconds_before_starting_anything(tmp_path, argv):
    """RELAY_TF_MIRROR names a folder without the provider, so the outcome does not depend on the network."""
    env = {**os.environ, "RELAY_TF_MIRROR": str(tmp_path), "RELAY_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", *argv], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("relay: ") == 1
    assert f"RELAY_TF_MIRROR={tmp_path} holds neither" in result.stderr
    assert 'README.md, section "Terraform by hand and offline"' in result.stderr
    assert demo.EMULATOR_STEP not in result.stdout and "Summary" not in result.stdout
    assert not (Path(tmp_path) / "state" / "emulator").exists()


def test_the_deploy_step_counts_every_stack_of_the_configuration(local, prod):
    # the same count as the synthesis: pipeline stacks, and with the platform its regions' stacks, home's and
    # one peering per target, the edge's log bucket; the edge deploys on its own after the release
    assert demo.stack_count(local.config) == len(local.stacks) - 1 == 13
    assert local.edge in local.stacks
    assert demo.stack_count(prod.config) == len(prod.stacks) == 4
