"""Every synthesized stack passes `terraform validate` against the pinned provider (offline with a mirror)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tools import terraform

pytestmark = pytest.mark.terraform


@pytest.fixture(scope="module")
def tf_env():
    terraform.terraform_binary()
    return terraform.environment()


@pytest.mark.parametrize(
    ("environment", "count"),
    # local: home, two bespoke, one native and one remote region's stack (the remote one holds its event
    # forwarding and governance), replication, and the regional platform: a platform stack per platform region
    # (home and two targets), the global platform stack, a peering stack per platform target, and the
    # application's edge and its access log bucket's stack; prod: home, two bespoke regions' stacks, replication
    [("local", 14), ("prod", 4)],
)
def test_every_stack_is_valid_terraform(environment, count, tf_env, request):
    synth = request.getfixturevalue(environment)
    stacks = terraform.stack_dirs(stacks_dir=synth.outdir / "stacks")
    assert len(stacks) == count
    # Validation loads the provider schema (CPU-bound, in the provider process): two at a time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: terraform.validate(s, tf_env), stacks))
    for stack, result in zip(stacks, results, strict=True):
        report = json.loads(result.stdout)
        assert report["valid"] is True, (stack.name, report["diagnostics"])
        assert report["error_count"] == 0
        lock = (stack / ".terraform.lock.hcl").read_text()
        # read from modules/cdk_seam.py without importing it: the AWS bindings take seconds to load
        assert f'version     = "{terraform.provider_version()}"' in lock


def test_validate_reports_an_invalid_stack(local, tf_env, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    stack = json.loads(local.raw(local.target("eu-south-2")))
    next(iter(stack["resource"]["aws_codepipeline"].values()))["stage"] = []
    del stack["terraform"]["backend"]
    (broken / "cdk.tf.json").write_text(json.dumps(stack))
    result = terraform.validate(broken, tf_env)
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert any("stage" in d["summary"] + d.get("detail", "") for d in report["diagnostics"])


def test_a_mirror_that_is_not_a_mirror_is_refused(tmp_path):
    with pytest.raises(terraform.TerraformError, match="is not a provider mirror"):
        terraform.cli_config(str(tmp_path))
