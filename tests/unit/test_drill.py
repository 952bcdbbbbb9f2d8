"""`relay drill`: its two configurations (before and after promoting a home), its arguments and its table.

The drills themselves run on the emulator (`tox -e drill`); these tests need none.
"""

from __future__ import annotations

import os

import pytest

from regions.delivery import decisions
from tools import deploy, drill


@pytest.fixture
def drills() -> drill.Drills:
    return drill.Drills(drill.PORT, {k: v for k, v in os.environ.items() if k != "RELAY_OVERRIDES"})


def strategies(config) -> dict[str, str]:
    return {d.region: d.strategy.value for d in decisions(config)}


def test_the_drill_environment_is_the_release_path_with_one_region_of_each_kind(drills):
    config = drills.config
    assert config.home_region == drill.HOME
    assert strategies(config) == {
        drill.BESPOKE: "bespoke",
        drill.CLOUDTRAIL_BESPOKE: "bespoke",
        drill.NATIVE: "native",
    }
    assert config.trigger_mode(drill.CLOUDTRAIL_BESPOKE).value == "cloudtrail"
    assert not (config.platform.enabled or config.application.enabled or config.has_edge)
    assert config.emulator.endpoint == f"http://127.0.0.1:{drill.PORT}"


def test_the_promoted_configuration_makes_the_native_region_home_and_drops_its_target_stack(drills):
    before, after = drills.config, drills.promoted
    assert after.home_region == drill.NATIVE
    assert drill.HOME not in after.target_regions and drill.NATIVE not in after.target_regions
    assert strategies(after) == {drill.BESPOKE: "bespoke", drill.CLOUDTRAIL_BESPOKE: "bespoke"}
    gone = set(deploy.stack_names(before)) - set(deploy.stack_names(after))
    assert gone == {before.names.target_stack(drill.NATIVE)}
    # the same stack names, so the promoted home's stacks get states of their own (one per home region)
    assert after.names.home_stack() == before.names.home_stack()


def test_use_points_this_process_at_a_configuration(drills, monkeypatch):
    # set first, so that monkeypatch puts the process's own values back afterwards
    monkeypatch.setenv("RELAY_OVERRIDES", "{}")
    monkeypatch.setenv("RELAY_ENV", "local")
    drills.use(drills.promoted)
    from config import load_config

    assert load_config().home_region == drill.NATIVE
    drills.use(drills.config)
    assert load_config().home_region == drill.HOME


@pytest.mark.parametrize("raw", ["nope", "target-down,nope", ","])
def test_an_unknown_drill_is_refused_with_the_allowed_names(raw, capsys):
    with pytest.raises(SystemExit) as exit_info:
        drill.main(["--only", raw])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "allowed: target-down, releases-in-order, home-down, promote-home, restart" in err


def test_the_table_has_a_row_per_drill_with_its_result_and_recovery():
    text = drill.table(
        [
            drill.Outcome("target-down", True, "4.2 s", "PENDING while down"),
            drill.Outcome("home-down", False, "-", "the re-run failed"),
        ]
    )
    lines = text.splitlines()
    assert lines[0].split() == ["DRILL", "RESULT", "RECOVERY", "DETAIL"]
    assert lines[1].split()[:4] == ["target-down", "ok", "4.2", "s"]
    assert lines[2].split()[:3] == ["home-down", "FAILED", "-"]
