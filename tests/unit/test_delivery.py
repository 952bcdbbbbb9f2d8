"""Delivery strategies: the region catalog and its documented facts, the `auto` policy for every region,
explicit strategies and their errors, validation in the loader, and `relay delivery`."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import pytest

from config import ConfigError, load_config
from config.loader import merge_patch, validate
from config.schema import DeliveryStrategy, SourceProvider, TriggerMode
from regions import catalog
from regions.delivery import DeliveryError, decide, decide_region, decisions, strategy_of, working_strategies
from tools import delivery as command

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NATIVE, BESPOKE, REMOTE, AUTO = (
    DeliveryStrategy.NATIVE,
    DeliveryStrategy.BESPOKE,
    DeliveryStrategy.REMOTE,
    DeliveryStrategy.AUTO,
)
CONNECTION, CODECOMMIT = SourceProvider.CONNECTION, SourceProvider.CODECOMMIT
HOME = "eu-west-1"
CONNECTION_ARN = f"arn:aws:codeconnections:{HOME}:111122223333:connection/7d2b1c9e-0f4a-4b8e-9c3d-5a6f7e8d9c0b"

VALID = {
    "app": "relay",
    "environment": "test",
    "home_region": HOME,
    "target_regions": ["eu-south-2", "eu-central-1", "ca-west-1"],
    "source": {
        "connection_arn": CONNECTION_ARN,
        "repository": "example-org/sample-app",
        "branch": "main",
    },
    "deploy": {"stack_name": "sample-app"},
}


def settings(**changes):
    return merge_patch(copy.deepcopy(VALID), changes)


def problems(**changes) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validate(settings(**changes))
    return str(raised.value).splitlines()


# --- the catalog ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fact", catalog.FACTS, ids=lambda fact: fact.statement[:40])
def test_every_documented_fact_has_a_source_and_a_date(fact):
    assert fact.statement.strip() and fact.source.strip()
    assert "https://" in fact.source or "Guide" in fact.source or "Reference" in fact.source
    assert datetime.date.fromisoformat(fact.date) <= datetime.date.today()
    assert all(region in catalog.partitions() for region in fact.regions), fact.regions


def test_documented_codeconnections_exceptions_agree_with_botocore():
    documented = catalog.CODECONNECTIONS_UNAVAILABLE.regions
    assert len(documented) == 12
    for region in documented:
        assert not catalog.has("connection", region), f"botocore lists CodeConnections in {region}"
    # eu-south-1 has CodeConnections, with one more step for GitHub.
    assert catalog.has("connection", "eu-south-1")


def test_every_opt_in_region_is_a_commercial_region():
    assert {catalog.partition_of(region) for region in catalog.OPT_IN_REGIONS.regions} == {"aws"}
    assert catalog.is_opt_in("eu-south-2") and not catalog.is_opt_in("eu-west-1")


def test_has_reads_botocore_endpoint_data():
    assert catalog.has("cloudformation", "ca-west-1")
    assert not catalog.has("codepipeline", "ca-west-1")
    assert catalog.has("codepipeline", "eu-south-2") and not catalog.has("connection", "eu-south-2")
    assert not catalog.has("cloudformation", "mars-1")
    assert catalog.REMOTE_TEMPLATE_MAX_BYTES == 51_200


# --- the auto policy, region by region -----------------------------------------------------------

NO_CODEPIPELINE = {"ap-east-2", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "mx-central-1"}
NO_CODECONNECTIONS = {
    "af-south-1",
    "ap-east-1",
    "ap-northeast-3",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
}
NO_CODECOMMIT = {"ap-southeast-4", "ap-southeast-5", "eu-central-2", "eu-south-2"}


def commercial_targets() -> list[str]:
    return sorted(r for r, p in catalog.partitions().items() if p == "aws" and r != HOME)


@pytest.mark.parametrize(
    ("provider", "bespoke"), [(CONNECTION, NO_CODECONNECTIONS), (CODECOMMIT, NO_CODECOMMIT)], ids=str
)
def test_auto_decides_every_commercial_region(provider, bespoke):
    decided = {region: decide_region(HOME, region, AUTO, provider)[0] for region in commercial_targets()}
    expected = {
        region: REMOTE if region in NO_CODEPIPELINE else BESPOKE if region in bespoke else NATIVE
        for region in commercial_targets()
    }
    assert decided == expected
    assert len(decided) == 33


@pytest.mark.parametrize(
    ("region", "strategy"),
    [("eu-south-2", BESPOKE), ("ap-southeast-4", BESPOKE), ("eu-central-1", NATIVE), ("ca-west-1", REMOTE)],
)
def test_auto_for_the_regions_of_the_shipped_environment(region, strategy):
    assert decide_region(HOME, region, AUTO, CONNECTION)[0] is strategy


def test_auto_follows_the_endpoint_data_in_every_partition():
    """Every region of every partition, from a home in its partition: a strategy, or an error saying none works."""
    homes = {}
    for region, partition in catalog.partitions().items():
        homes.setdefault(partition, region)
    for region, partition in catalog.partitions().items():
        strategy, reason = decide_region(homes[partition], region, AUTO, CONNECTION)
        assert reason
        if not catalog.has("codepipeline", region):
            assert strategy is REMOTE
        elif not (catalog.has("connection", region) and catalog.has("codebuild", region)):
            assert strategy is BESPOKE
        else:
            assert strategy is NATIVE


REASONS = [
    pytest.param(
        "eu-central-1",
        CONNECTION,
        "CodePipeline, CodeConnections and CodeBuild: AWS's integrated cross-region CloudFormation action (one "
        "pipeline, fewer resources), and it can be promoted to home if home is lost",
        id="native",
    ),
    pytest.param(
        "eu-south-2",
        CONNECTION,
        "no CodeConnections, so it can never run the source stage nor be promoted to home: its own pipeline and "
        "copy of the release keep it deploying while home is down; opt-in region: enable it in the account",
        id="bespoke-opt-in",
    ),
    pytest.param(
        "eu-south-2",
        CODECOMMIT,
        "no CodeCommit, so it can never run the source stage nor be promoted to home: its own pipeline and copy of "
        "the release keep it deploying while home is down; opt-in region: enable it in the account",
        id="bespoke-codecommit",
    ),
    pytest.param(
        "ca-west-1",
        CONNECTION,
        "no CodePipeline, so no pipeline or artifact store can exist there (aws-cdk#15650): a CodeBuild action of "
        "the home pipeline deploys it with CloudFormation (templates up to 51,200 bytes; it depends on the home "
        "region); opt-in region: enable it in the account",
        id="remote",
    ),
    pytest.param(
        "eu-south-1",
        CONNECTION,
        "CodePipeline, CodeConnections and CodeBuild: AWS's integrated cross-region CloudFormation action (one "
        "pipeline, fewer resources), and it can be promoted to home if home is lost; as home it would need the "
        "region-specific GitHub app; opt-in region: enable it in the account",
        id="native-needing-the-github-app-as-home",
    ),
]


@pytest.mark.parametrize(("region", "provider", "reason"), REASONS)
def test_each_decision_says_why(region, provider, reason):
    assert decide_region(HOME, region, AUTO, provider)[1] == reason


# --- explicit strategies and their errors --------------------------------------------------------


@pytest.mark.parametrize("requested", [NATIVE, BESPOKE, REMOTE])
def test_an_explicit_strategy_is_kept_where_it_works(requested):
    strategy, reason = decide_region(HOME, "eu-central-1", requested, CONNECTION)
    assert strategy is requested
    assert reason.startswith(f"{requested.value} as configured: ")
    assert decide_region(HOME, "ca-west-1", REMOTE, CONNECTION)[0] is REMOTE


@pytest.mark.parametrize("requested", [NATIVE, BESPOKE])
def test_native_or_bespoke_into_a_region_without_codepipeline_is_an_error(requested):
    with pytest.raises(DeliveryError) as raised:
        decide_region(HOME, "ca-west-1", requested, CONNECTION)
    assert str(raised.value) == (
        f"'ca-west-1' has no CodePipeline endpoint, so '{requested.value}' cannot work there: no pipeline or "
        "artifact store can exist there (aws-cdk#15650); strategies that work there: remote (or auto)"
    )


@pytest.fixture
def without_cloudformation(monkeypatch):
    """Pretend botocore lists no CloudFormation endpoint in ca-west-1 (no real region lacks one)."""
    has = catalog.has
    monkeypatch.setattr(catalog, "has", lambda s, r: False if (s, r) == ("cloudformation", "ca-west-1") else has(s, r))


@pytest.mark.parametrize("requested", [AUTO, REMOTE, NATIVE])
def test_no_strategy_works_in_a_region_without_cloudformation(requested, without_cloudformation):
    with pytest.raises(DeliveryError) as raised:
        decide_region(HOME, "ca-west-1", requested, CONNECTION)
    assert str(raised.value) == (
        "'ca-west-1' has no CloudFormation endpoint, and every strategy deploys with CloudFormation: "
        "no strategy works there"
    )
    assert working_strategies(HOME, "ca-west-1") == []


@pytest.mark.parametrize("requested", list(DeliveryStrategy))
def test_no_strategy_crosses_partitions(requested):
    with pytest.raises(DeliveryError) as raised:
        decide_region(HOME, "us-gov-west-1", requested, CONNECTION)
    assert str(raised.value) == (
        "'us-gov-west-1' is in partition 'aws-us-gov' but the home region 'eu-west-1' is in 'aws', and no delivery "
        "strategy crosses partitions: no strategy works there; choose a region of partition 'aws'"
    )


def test_an_unknown_region_has_no_strategy():
    with pytest.raises(DeliveryError, match=r"^unknown region 'mars-1'; no strategy works there$"):
        decide_region(HOME, "mars-1", AUTO, CONNECTION)


def test_decisions_of_a_configuration_follow_its_overrides_in_target_order():
    config = validate(
        settings(
            delivery={"regions": {"eu-central-1": "bespoke"}},
            trigger={"mode": "cloudtrail", "regions": {"eu-south-2": "eventbridge"}},
        )
    )
    assert config.requested_delivery("eu-central-1") is BESPOKE
    assert config.requested_delivery("ca-west-1") is AUTO
    assert [(d.region, d.strategy, d.requested, d.trigger_mode) for d in decisions(config)] == [
        ("eu-south-2", BESPOKE, AUTO, TriggerMode.EVENTBRIDGE),
        ("eu-central-1", BESPOKE, BESPOKE, TriggerMode.CLOUDTRAIL),
        ("ca-west-1", REMOTE, AUTO, None),
    ]
    assert decide(config, "ca-west-1").trigger_mode is None
    assert strategy_of(config, "eu-central-1") is BESPOKE


def test_a_default_strategy_applies_to_every_region_without_an_override():
    config = validate(settings(delivery={"strategy": "remote", "regions": {"eu-south-2": "auto"}}))
    assert [d.strategy for d in decisions(config)] == [BESPOKE, REMOTE, REMOTE]


# --- validation in the loader --------------------------------------------------------------------


def test_every_delivery_problem_is_reported_at_once_with_unrelated_ones():
    lines = problems(
        app="X",
        target_regions=["eu-south-2", "eu-central-1", "ca-west-1", "us-gov-west-1", "mx-central-1"],
        delivery={"strategy": "native", "regions": {"mx-central-1": "bespoke", "us-east-1": "remote"}},
        trigger={"regions": {"eu-central-1": "cloudtrail"}},
        deploy={"stack_name": "1x"},
    )
    assert lines == [
        "app: String should have at least 2 characters",
        "deploy.stack_name: '1x' is not a CloudFormation stack name; allowed: a letter, then letters, digits and "
        "'-', at most 128 characters",
        "target_regions[2]/delivery.strategy: 'ca-west-1' has no CodePipeline endpoint, so 'native' cannot work "
        "there: no pipeline or artifact store can exist there (aws-cdk#15650); strategies that work there: remote "
        "(or auto)",
        "target_regions[3]: 'us-gov-west-1' is in partition 'aws-us-gov' but the home region 'eu-west-1' is in "
        "'aws', and no delivery strategy crosses partitions: no strategy works there; choose a region of partition "
        "'aws'",
        "target_regions[4]/delivery.regions.mx-central-1: 'mx-central-1' has no CodePipeline endpoint, so "
        "'bespoke' cannot work there: no pipeline or artifact store can exist there (aws-cdk#15650); strategies "
        "that work there: remote (or auto)",
        "delivery.regions.us-east-1: 'us-east-1' is not a target region; allowed: eu-south-2, eu-central-1, "
        'ca-west-1, us-gov-west-1, mx-central-1 (an override removes the entry with {"delivery": {"regions": '
        '{"us-east-1": null}}})',
        "trigger.regions.eu-central-1: 'eu-central-1' is delivered native (as configured), which has no trigger; "
        "only a region delivered bespoke has a trigger mode: remove the entry (an override removes it with "
        '{"trigger": {"regions": {"eu-central-1": null}}}), or deliver it bespoke with {"delivery": {"regions": '
        '{"eu-central-1": "bespoke"}}}',
    ]


def test_remote_into_a_region_without_cloudformation_is_an_error(without_cloudformation):
    assert problems(delivery={"regions": {"ca-west-1": "remote"}}) == [
        "target_regions[2]: 'ca-west-1' has no CloudFormation endpoint, and every strategy deploys with "
        "CloudFormation: no strategy works there"
    ]


def test_a_trigger_mode_of_a_remote_region_says_what_its_strategy_is():
    assert problems(trigger={"regions": {"ca-west-1": "cloudtrail"}}) == [
        "trigger.regions.ca-west-1: 'ca-west-1' is delivered remote (decided by auto), which has no trigger; only "
        'a region delivered bespoke has a trigger mode: remove the entry (an override removes it with {"trigger": '
        '{"regions": {"ca-west-1": null}}})'
    ]


def test_an_invalid_request_hides_no_rule_every_strategy_shares():
    lines = problems(
        target_regions=["eu-central-1", "us-gov-west-1"],
        delivery={"regions": {"eu-central-1": "sideways"}},
        trigger={"regions": {"eu-central-1": "cloudtrail"}},
    )
    assert [line.split(":")[0] for line in lines] == ["delivery.regions.eu-central-1", "target_regions[1]"]


def test_names_are_checked_for_each_regions_strategy():
    long = {"namespace": "n" * 20, "app": "a" * 16, "environment": "e" * 10}
    (line,) = problems(target_regions=["ca-west-1"], **long)
    assert line.startswith("app/environment/namespace: ")


# --- relay delivery ------------------------------------------------------------------------------


def write_cdktf_json(tmp_path: Path, environments: dict) -> Path:
    (tmp_path / "app" / "sample").mkdir(parents=True)
    policy = PROJECT_ROOT / "app" / "sample" / "deploy-policy.json"
    (tmp_path / "app" / "sample" / "deploy-policy.json").write_text(policy.read_text())
    defaults = {**VALID, "deploy": {"stack_name": "sample-app", "policy_file": "app/sample/deploy-policy.json"}}
    del defaults["environment"]
    path = tmp_path / "cdktf.json"
    relay = {"default_environment": "dev", "defaults": defaults, "environments": environments}
    path.write_text(json.dumps({"context": {"relay": relay}}))
    return path


@pytest.fixture
def project(tmp_path) -> Path:
    return write_cdktf_json(
        tmp_path,
        {
            "dev": {"trigger": {"regions": {"eu-south-2": "cloudtrail"}}},
            "broken": {"delivery": {"regions": {"ca-west-1": "native"}}},
            "eu": {"target_regions": ["eu-central-1"], "delivery": {"strategy": "bespoke"}},
        },
    )


def auto_reason(region: str) -> str:
    return decide_region(HOME, region, AUTO, CONNECTION)[1]


def run(project: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = command.main(list(argv), prog="relay delivery", cdktf_json=project, environ={})
    out, err = capsys.readouterr()
    return code, out, err


def test_delivery_prints_every_valid_environment_and_exits_2_for_an_invalid_one(project, capsys):
    code, out, err = run(project, capsys)
    assert code == 2
    assert out.splitlines()[:6] == [
        "dev (app relay, home eu-west-1)",
        "REGION        ROLE    STRATEGY  REQUESTED  TRIGGER     REASON",
        "eu-west-1     home    -         -          -           the home pipeline: source (CodeConnections), build "
        "(CodeBuild) and the release bucket",
        f"eu-south-2    target  bespoke   auto       cloudtrail  {auto_reason('eu-south-2')}",
        f"eu-central-1  target  native    auto       -           {auto_reason('eu-central-1')}",
        f"ca-west-1     target  remote    auto       -           {auto_reason('ca-west-1')}",
    ]
    assert out.splitlines()[6:9] == [
        "",
        "eu (app relay, home eu-west-1)",
        "REGION        ROLE    STRATEGY  REQUESTED  TRIGGER      REASON",
    ]
    assert out.splitlines()[-1].startswith(
        "eu-central-1  target  bespoke   bespoke    eventbridge  bespoke as configured"
    )
    assert err.splitlines() == [
        "relay: configuration error in environment 'broken'",
        "target_regions[2]/delivery.regions.ca-west-1 (from defaults, environments.broken): 'ca-west-1' has no "
        "CodePipeline "
        "endpoint, so 'native' cannot work there: no pipeline or artifact store can exist there (aws-cdk#15650); "
        "strategies that work there: remote (or auto)",
    ]


def test_delivery_env_chooses_environments_and_exits_0_when_they_are_valid(project, capsys):
    code, out, err = run(project, capsys, "--env", "eu", "--env", "dev", "--env", "eu")
    assert code == 0 and err == ""
    assert [line for line in out.splitlines() if "(app relay" in line] == [
        "eu (app relay, home eu-west-1)",
        "dev (app relay, home eu-west-1)",
    ]


def test_delivery_json_is_for_scripts(project, capsys):
    code, out, err = run(project, capsys, "--json", "--env", "dev", "--env", "broken", "--env", "staging")
    assert code == 2 and err == ""
    document = json.loads(out)
    dev, broken, staging = document["environments"]
    assert dev["environment"] == "dev" and dev["valid"] and dev["home_region"] == HOME and not dev["emulator"]
    assert dev["regions"][0] == {
        "region": HOME,
        "role": "home",
        "strategy": None,
        "requested": None,
        "trigger": None,
        "reason": "the home pipeline: source (CodeConnections), build (CodeBuild) and the release bucket",
    }
    assert [(r["region"], r["strategy"], r["requested"], r["trigger"]) for r in dev["regions"][1:]] == [
        ("eu-south-2", "bespoke", "auto", "cloudtrail"),
        ("eu-central-1", "native", "auto", None),
        ("ca-west-1", "remote", "auto", None),
    ]
    assert (broken["valid"], broken["regions"], len(broken["errors"])) == (False, [], 1)
    assert staging["errors"] == [
        "environment 'staging' is not defined in context.relay.environments; allowed: broken, dev, eu"
    ]


def test_delivery_applies_relay_overrides_to_each_environment(project, capsys):
    code = command.main(
        ["--json", "--env", "dev"],
        cdktf_json=project,
        environ={"RELAY_OVERRIDES": json.dumps({"delivery": {"strategy": "remote"}, "trigger": {"regions": None}})},
    )
    dev = json.loads(capsys.readouterr().out)["environments"][0]
    assert code == 0
    assert {r["strategy"] for r in dev["regions"][1:]} == {"remote"}


def test_delivery_without_a_cdktf_json_exits_2(tmp_path, capsys):
    code, out, err = run(tmp_path / "cdktf.json", capsys)
    assert (code, out) == (2, "")
    assert "file not found" in err


def test_delivery_rows_of_the_shipped_environments():
    for name in ("local", "prod"):
        config = load_config(environ={"RELAY_ENV": name})
        rows = command.rows(config)
        assert rows[0].role == "home" and [r.region for r in rows[1:]] == config.target_regions
        assert all(r.trigger is None for r in rows[1:] if r.strategy != "bespoke")
