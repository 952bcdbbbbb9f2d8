"""The synthesized stacks: replication, pipelines, trigger, secure defaults and least privilege.

Each configuration is synthesized once per session (tests/conftest.py); these tests only read JSON.
Resources are found by type and attributes, and references to them are built from what is found:
cdktf's logical ids (construct paths with a hash suffix) are never written here.
"""

from __future__ import annotations

import json
import re

import pytest

from config import ConfigError, load_config, paths
from config.deploy_policy import READ_VERBS
from config.paths import PROJECT_ROOT, STACKS_DIR
from modules.cdk_seam import PROVIDER_VERSION, cdk
from stacks.base import local_state_path, state_bucket
from stacks.target import application_parameters

# The shipped `local` environment delivers to four regions: two bespoke (one per trigger mode), one native
# (eu-central-1: CodePipeline and CodeConnections) and one remote (ca-west-1: no CodePipeline).
TARGETS = ["eu-south-2", "ap-southeast-4"]
APP_TIER = (
    ":launch-template/*",
    ":instance/*",
    ":volume/*",
    ":network-interface/*",
    ":subnet/*",
    ":security-group/*",
    ":image/*",
    ":loadbalancer/app/*",
    ":targetgroup/*",
    ":listener/app/*",
)
EVENTBRIDGE_REGION, CLOUDTRAIL_REGION = TARGETS
NATIVE_REGION, REMOTE_REGION = "eu-central-1", "ca-west-1"
ALL_TARGETS = [*TARGETS, NATIVE_REGION, REMOTE_REGION]


def resources(stack: dict, kind: str) -> list[dict]:
    return list(stack.get("resource", {}).get(kind, {}).values())


def data_sources(stack: dict, kind: str) -> list[dict]:
    return list(stack.get("data", {}).get(kind, {}).values())


def policies(stack: dict) -> list[dict]:
    return [json.loads(p["policy"]) for p in resources(stack, "aws_iam_role_policy")]


def address(stack: dict, kind: str, *, data: bool = False, **attributes) -> str:
    """`<kind>.<logical id>` (`data.` first for a data source) of the one block of `kind` whose
    attributes have these values."""
    blocks = stack.get("data" if data else "resource", {}).get(kind, {})
    ids = [i for i, block in blocks.items() if all(block.get(k) == v for k, v in attributes.items())]
    assert len(ids) == 1, (kind, attributes, ids)
    return f"{'data.' if data else ''}{kind}.{ids[0]}"


def ref(stack: dict, kind: str, attribute: str, *, data: bool = False, **attributes) -> str:
    """The Terraform reference `${<address>.<attribute>}` to the one block of `kind` with these attributes."""
    return "${" + address(stack, kind, data=data, **attributes) + f".{attribute}}}"


def account_id(stack: dict) -> str:
    return ref(stack, "aws_caller_identity", "account_id", data=True)


def one(items: list[dict]) -> dict:
    assert len(items) == 1, items
    return items[0]


def release_rules(stack: dict) -> list[dict]:
    """The stack's EventBridge rules on new release objects (not the ones forwarding events home)."""
    return [r for r in resources(stack, "aws_cloudwatch_event_rule") if "-release-" in r["name"]]


def home_bus(stack: dict) -> str:
    """The home region's default bus, which a target's forwarding rules name (an ARN, not a lookup)."""
    return f"arn:aws:events:eu-west-1:{account_id(stack)}:event-bus/default"


def all_stacks(synth) -> list[dict]:
    return [synth.stack(name) for name in synth.stacks]


def bucket_stacks(synth) -> list[dict]:
    """The stacks that own buckets: home and each target region's own stack (replication only reads theirs;
    a remote region has no stack) and the edge's log stack (the CloudFront access logs)."""
    targets = [synth.target(r) for r in synth.config.target_regions if synth.target(r) in synth.stacks]
    edge = [synth.edge_logs] if synth.config.has_edge_logs else []
    return [synth.stack(synth.home), *(synth.stack(name) for name in [*targets, *edge])]


def pipeline_named(stack: dict, name: str) -> dict:
    return one([p for p in resources(stack, "aws_codepipeline") if p["name"] == name])


def statements_of(stack: dict) -> dict[str, dict]:
    """Every inline policy statement of a stack, by Sid."""
    return {s["Sid"]: s for p in policies(stack) for s in p["Statement"] if "Sid" in s}


def release_bucket(stack: dict, region: str) -> str:
    """The release bucket's name as the target stack refers to it."""
    return ref(stack, "aws_s3_bucket", "bucket", bucket=f"relay-local-release-{region}")


def deploy_pipeline_arn(stack: dict, region: str) -> str:
    return ref(stack, "aws_codepipeline", "arn", name=f"relay-local-deploy-{region}")


# --- replication stack (home region) -----------------------------------------------------------


def test_release_bucket_has_one_replication_rule_per_target_region(local):
    replication = local.stack(local.replication)
    config = one(resources(replication, "aws_s3_bucket_replication_configuration"))
    rules = config["rule"]
    assert [r["id"] for r in rules] == [f"release-to-{region}" for region in TARGETS]
    assert sorted(r["priority"] for r in rules) == [1, 2]
    for rule, region in zip(rules, TARGETS, strict=True):
        assert rule["status"] == "Enabled"
        assert rule["filter"] == {"prefix": "release/source.zip"}
        assert rule["delete_marker_replication"] == {"status": "Disabled"}
        assert rule["source_selection_criteria"] == {"sse_kms_encrypted_objects": {"status": "Enabled"}}
        destination = rule["destination"]
        assert destination["bucket"] == ref(
            replication, "aws_s3_bucket", "arn", data=True, bucket=f"relay-local-release-{region}"
        )
        assert destination["encryption_configuration"] == {
            "replica_kms_key_id": ref(
                replication, "aws_kms_alias", "target_key_arn", data=True, name=f"alias/relay-local-{region}"
            )
        }
        assert destination["storage_class"] == "STANDARD"


def test_buckets_and_keys_are_looked_up_by_name_with_each_regions_aliased_provider(local):
    replication = local.stack(local.replication)
    regions = ["eu-west-1", *TARGETS]
    buckets = {b["bucket"]: b["provider"] for b in data_sources(replication, "aws_s3_bucket")}
    assert buckets == {f"relay-local-release-{r}": f"aws.{r.replace('-', '_')}" for r in regions}
    aliases = {a["name"]: a["provider"] for a in data_sources(replication, "aws_kms_alias")}
    assert aliases == {f"alias/relay-local-{r}": f"aws.{r.replace('-', '_')}" for r in regions}
    assert sorted(p["alias"] for p in replication["provider"]["aws"]) == sorted(
        r.replace("-", "_") for r in ["eu-west-1", *TARGETS]
    )


def test_delete_marker_replication_and_storage_class_follow_the_configuration(prod):
    rules = one(resources(prod.stack(prod.replication), "aws_s3_bucket_replication_configuration"))["rule"]
    assert {r["delete_marker_replication"]["status"] for r in rules} == {"Enabled"}
    assert {r["destination"]["storage_class"] for r in rules} == {"STANDARD_IA"}


def test_replication_role_is_scoped_to_the_release_object_and_the_exact_keys(local):
    replication = local.stack(local.replication)
    role = next(r for r in resources(replication, "aws_iam_role") if r["name"] == "relay-local-replication-eu-west-1")
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    policy = next(p for p in policies(replication) if any(s.get("Sid") == "WriteReplicas" for s in p["Statement"]))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadSourceVersions"]["Resource"] == ["arn:aws:s3:::relay-local-release-eu-west-1/release/source.zip"]
    assert by_sid["WriteReplicas"]["Resource"] == [
        ref(replication, "aws_s3_bucket", "arn", data=True, bucket=f"relay-local-release-{r}") + "/release/source.zip"
        for r in TARGETS
    ]
    assert by_sid["DecryptSource"]["Resource"] == [
        ref(replication, "aws_kms_alias", "target_key_arn", data=True, name="alias/relay-local-eu-west-1")
    ]
    assert by_sid["DecryptSource"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    encrypt = [s for sid, s in by_sid.items() if sid.startswith("EncryptReplicas")]
    assert sorted(s["Resource"] for s in encrypt) == sorted(
        [ref(replication, "aws_kms_alias", "target_key_arn", data=True, name=f"alias/relay-local-{r}")] for r in TARGETS
    )


def test_home_and_targets_stand_alone_and_replication_is_deployed_after_them(local):
    home = local.stack(local.home)
    assert not resources(home, "aws_s3_bucket_replication_configuration")
    assert set(home.get("data", {})) == {"aws_caller_identity"}, "home reads nothing of other stacks"
    assert [p["alias"] for p in home["provider"]["aws"]] == ["eu_west_1"]
    replication = local.stack(local.replication)
    config = one(resources(replication, "aws_s3_bucket_replication_configuration"))
    assert config["bucket"] == ref(
        replication, "aws_s3_bucket", "id", data=True, bucket="relay-local-release-eu-west-1"
    )
    manifest = json.loads((local.outdir / "manifest.json").read_text())
    assert sorted(manifest["stacks"][local.replication]["dependencies"]) == sorted(
        [local.home, *(local.target(r) for r in TARGETS)]
    )
    # The home pipeline names the native region's artifact store, so that region's stack deploys first.
    assert manifest["stacks"][local.home]["dependencies"] == [local.target(NATIVE_REGION)]


# --- home region: source and build ------------------------------------------------------------


def test_home_creates_the_connection_when_none_is_given_and_uses_it(local, prod):
    home = local.stack(local.home)
    connection = one(resources(home, "aws_codestarconnections_connection"))
    assert connection["name"] == "relay-local-source"
    assert connection["provider_type"] == "GitHub"
    arn = ref(home, "aws_codestarconnections_connection", "arn", name="relay-local-source")
    source = one(resources(home, "aws_codepipeline"))["stage"][0]["action"][0]
    assert source["configuration"]["ConnectionArn"] == arn
    use = [s for p in policies(home) for s in p["Statement"] if s.get("Sid") == "UseConnection"]
    assert [s["Resource"] for s in use] == [[arn]]
    assert home["output"]["connection_arn"]["value"] == arn
    assert not resources(prod.stack(prod.home), "aws_codestarconnections_connection")


def test_home_pipeline_is_started_by_pushes_to_the_configured_branch_only(local):
    pipeline = one(resources(local.stack(local.home), "aws_codepipeline"))
    assert pipeline["pipeline_type"] == "V2"
    source = pipeline["stage"][0]["action"][0]
    assert source["provider"] == "CodeStarSourceConnection"
    assert source["configuration"]["BranchName"] == "main"
    assert source["configuration"]["FullRepositoryId"] == "example-org/sample-app"
    push = pipeline["trigger"][0]["git_configuration"]["push"]
    assert push == [{"branches": {"includes": ["main"]}}]
    build = pipeline["stage"][1]["action"][0]
    assert (build["provider"], build["input_artifacts"]) == ("CodeBuild", ["SourceArtifact"])


def test_codebuild_zips_the_source_and_publishes_it_under_the_release_key(local):
    home = local.stack(local.home)
    project = one([p for p in resources(home, "aws_codebuild_project") if p["name"] == "relay-local-package-eu-west-1"])
    variables = {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}
    assert variables["RELEASE_BUCKET"] == ref(home, "aws_s3_bucket", "bucket", bucket="relay-local-release-eu-west-1")
    assert variables["RELEASE_KEY"] == "release/source.zip"
    buildspec = project["source"]["buildspec"]
    assert """zip -q -r -X "$release_zip" .""" in buildspec
    # The shell's ${VAR} reaches Terraform escaped, so it stays a literal for bash.
    assert "s3://$${RELEASE_BUCKET}/$${RELEASE_KEY}" in buildspec
    assert project["encryption_key"] == ref(home, "aws_kms_key", "arn")


def test_build_role_may_write_only_the_release_object(local):
    statements = [s for p in policies(local.stack(local.home)) for s in p["Statement"]]
    publish = one([s for s in statements if s.get("Sid") == "PublishRelease"])
    assert publish["Action"] == ["s3:PutObject"]
    assert publish["Resource"] == ["arn:aws:s3:::relay-local-release-eu-west-1/release/source.zip"]


def test_codecommit_source_does_not_poll_and_is_started_by_an_event_rule_on_the_branch(prod):
    home = prod.stack(prod.home)
    pipeline = one(resources(home, "aws_codepipeline"))
    source = pipeline["stage"][0]["action"][0]
    assert source["provider"] == "CodeCommit"
    assert source["configuration"]["PollForSourceChanges"] == "false"
    assert "trigger" not in pipeline
    rule = one([r for r in resources(home, "aws_cloudwatch_event_rule") if "-source-push-" in r["name"]])
    pattern = json.loads(rule["event_pattern"])
    assert pattern["detail"]["referenceName"] == ["release/v2"]
    assert pattern["resources"] == [f"arn:aws:codecommit:eu-west-1:{account_id(home)}:sample-app"]


# --- target regions ---------------------------------------------------------------------------


@pytest.mark.parametrize("region", TARGETS)
def test_target_pipeline_reads_the_replicated_object_without_polling(local, region):
    raw = local.raw(local.target(region))
    assert cdk.Testing.to_have_resource_with_properties(
        raw, "aws_codepipeline", {"name": f"relay-local-deploy-{region}", "pipeline_type": "V2"}
    )
    pipeline = one(resources(json.loads(raw), "aws_codepipeline"))
    source = pipeline["stage"][0]["action"][0]
    assert source["provider"] == "S3"
    assert source["configuration"]["PollForSourceChanges"] == "false"
    assert source["configuration"]["S3ObjectKey"] == "release/source.zip"
    stack = json.loads(raw)
    artifacts = ref(stack, "aws_s3_bucket", "bucket", bucket=f"relay-local-artifacts-{region}")
    assert pipeline["artifact_store"][0]["location"] == artifacts
    assert pipeline["artifact_store"][0]["encryption_key"] == {"id": ref(stack, "aws_kms_key", "arn"), "type": "KMS"}


@pytest.mark.parametrize("region", TARGETS)
def test_target_pipeline_deploys_the_template_with_cloudformation_under_its_own_role(local, region):
    stack = local.stack(local.target(region))
    pipeline = one(resources(stack, "aws_codepipeline"))
    deploy = pipeline["stage"][2]["action"][0]  # after Select (tests/unit/test_release_order.py)
    assert (deploy["category"], deploy["provider"]) == ("Deploy", "CloudFormation")
    configuration = deploy["configuration"]
    assert configuration["ActionMode"] == "CREATE_UPDATE"
    assert configuration["StackName"] == "relay-sample-app"
    # a region with the platform deploys the application tier (tests/unit/test_application_stacks.py)
    template = "app-tier.yaml" if region in local.config.application_regions else "template.yaml"
    assert configuration["TemplatePath"] == f"ReleaseArtifact::{template}"
    assert configuration["RoleArn"] == ref(stack, "aws_iam_role", "arn", name=f"relay-local-deploy-{region}")


def test_eventbridge_rule_matches_object_created_for_the_exact_bucket_and_key_for_any_reason(local):
    region = EVENTBRIDGE_REGION
    stack = local.stack(local.target(region))
    rule = one(release_rules(stack))
    assert json.loads(rule["event_pattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [release_bucket(stack, region)]},
            "object": {"key": ["release/source.zip"]},
        },
    }
    assert "reason" not in rule["event_pattern"]
    target = one([t for t in resources(stack, "aws_cloudwatch_event_target") if t["target_id"] == "deploy-pipeline"])
    assert target["arn"] == deploy_pipeline_arn(stack, region)
    assert target["role_arn"] == ref(stack, "aws_iam_role", "arn", name=f"relay-local-trigger-{region}")


def test_only_the_release_bucket_of_an_eventbridge_region_sends_events_to_eventbridge(local):
    region = EVENTBRIDGE_REGION
    raw = local.raw(local.target(region))
    stack = json.loads(raw)
    notification = one(resources(stack, "aws_s3_bucket_notification"))
    assert notification["eventbridge"] is True
    assert notification["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=f"relay-local-release-{region}")
    artifacts = ref(stack, "aws_s3_bucket", "id", bucket=f"relay-local-artifacts-{region}")
    assert not cdk.Testing.to_have_resource_with_properties(raw, "aws_s3_bucket_notification", {"bucket": artifacts})
    assert not resources(stack, "aws_cloudtrail")


def test_cloudtrail_region_has_no_bucket_notifications_and_a_rule_on_the_api_calls(local):
    region = CLOUDTRAIL_REGION
    stack = local.stack(local.target(region))
    assert not resources(stack, "aws_s3_bucket_notification")
    rule = one(release_rules(stack))
    assert json.loads(rule["event_pattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["s3.amazonaws.com"],
            "eventName": ["PutObject", "CopyObject", "CompleteMultipartUpload"],
            "requestParameters": {"bucketName": [release_bucket(stack, region)], "key": ["release/source.zip"]},
        },
    }
    target = one([t for t in resources(stack, "aws_cloudwatch_event_target") if t["target_id"] == "deploy-pipeline"])
    assert target["arn"] == deploy_pipeline_arn(stack, region)


def test_trail_logs_only_write_data_events_of_the_release_object(local):
    region = CLOUDTRAIL_REGION
    stack = local.stack(local.target(region))
    trail = one(resources(stack, "aws_cloudtrail"))
    assert trail["name"] == "relay-local-release-ap-southeast-4"
    assert (trail["is_multi_region_trail"], trail["include_global_service_events"]) == (False, False)
    assert trail["enable_logging"] is True and trail["enable_log_file_validation"] is True
    assert trail["kms_key_id"] == ref(stack, "aws_kms_key", "arn")
    assert trail["s3_bucket_name"] == ref(stack, "aws_s3_bucket", "bucket", bucket=f"relay-local-trail-{region}")
    assert "event_selector" not in trail
    selectors = {f["field"]: f["equals"] for f in one(trail["advanced_event_selector"])["field_selector"]}
    assert selectors == {
        "eventCategory": ["Data"],
        "resources.type": ["AWS::S3::Object"],
        "resources.ARN": [f"arn:aws:s3:::{release_bucket(stack, region)}/release/source.zip"],
        "readOnly": ["false"],
    }


def test_trail_bucket_policy_lets_only_this_trail_check_the_acl_and_write_logs(local):
    stack = local.stack(local.target(CLOUDTRAIL_REGION))
    account = account_id(stack)
    trail_arn = f"arn:aws:cloudtrail:ap-southeast-4:{account}:trail/relay-local-release-ap-southeast-4"
    log_bucket = "arn:aws:s3:::relay-local-trail-ap-southeast-4"
    log_bucket_id = ref(stack, "aws_s3_bucket", "id", bucket="relay-local-trail-ap-southeast-4")
    policy = json.loads(
        one([p for p in resources(stack, "aws_s3_bucket_policy") if p["bucket"] == log_bucket_id])["policy"]
    )
    deny, acl, write = policy["Statement"]
    assert deny["Sid"] == "DenyInsecureTransport"
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Resource"] == log_bucket
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn}}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"{log_bucket}/AWSLogs/{account}/*"
    assert write["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}
    }
    assert {acl["Principal"]["Service"], write["Principal"]["Service"]} == {"cloudtrail.amazonaws.com"}


def test_only_the_cloudtrail_regions_key_lets_cloudtrail_encrypt_and_only_for_its_trail(local):
    def key_policy(region):
        return json.loads(one(resources(local.stack(local.target(region)), "aws_kms_key"))["policy"])

    statements = {s["Sid"]: s for s in key_policy(CLOUDTRAIL_REGION)["Statement"]}
    encrypt = statements["AllowCloudTrailLogEncryption"]
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringEquals"]["aws:SourceArn"].endswith(":trail/relay-local-release-ap-southeast-4")
    assert all("CloudTrail" not in s["Sid"] for s in key_policy(EVENTBRIDGE_REGION)["Statement"])


def test_the_aws_environment_uses_eventbridge_everywhere(prod):
    for name in prod.stacks:
        assert not resources(prod.stack(name), "aws_cloudtrail")


@pytest.mark.parametrize("region", TARGETS)
def test_trigger_role_may_only_start_that_one_pipeline(local, region):
    stack = local.stack(local.target(region))
    role = one([r for r in resources(stack, "aws_iam_role") if r["name"] == f"relay-local-trigger-{region}"])
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    start = one([p for p in policies(stack) if p["Statement"][0].get("Sid") == "StartPipeline"])
    assert start["Statement"] == [
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": ["codepipeline:StartPipelineExecution"],
            "Resource": [deploy_pipeline_arn(stack, region)],
        }
    ]


@pytest.mark.parametrize("region", TARGETS)
def test_target_stack_stands_alone_without_the_home_region(local, region):
    stack = local.stack(local.target(region))
    assert [p["region"] for p in stack["provider"]["aws"]] == [region]
    assert "terraform_remote_state" not in stack.get("data", {})
    # The names of home it holds: the replication role its release bucket lets write, and the home bus its
    # events are forwarded to (names, not lookups).
    writer = f"arn:aws:iam::{account_id(stack)}:role/relay-local-replication-eu-west-1"
    assert "eu-west-1" not in json.dumps(stack).replace(writer, "").replace(home_bus(stack), "")


# --- secure defaults, everywhere --------------------------------------------------------------


def test_every_bucket_is_versioned_kms_encrypted_private_tls_only_and_expires_old_versions(local, prod):
    for synth in (local, prod):
        platform = [n for n in synth.stacks if "-platform" in n or "-peering-" in n]
        assert not any(resources(synth.stack(name), "aws_s3_bucket") for name in platform), "the platform has no bucket"
        edge = [synth.edge] if synth.config.has_edge else []
        assert not any(resources(synth.stack(name), "aws_s3_bucket") for name in edge), "the edge reads its log bucket"
        assert len(synth.stacks) == len(bucket_stacks(synth)) + 1 + len(platform) + len(edge)
        for stack in bucket_stacks(synth):
            buckets = resources(stack, "aws_s3_bucket")
            assert 1 <= len(buckets) <= 5
            for kind in ("versioning", "server_side_encryption_configuration", "public_access_block", "policy"):
                assert len(resources(stack, f"aws_s3_bucket_{kind}")) == len(buckets), kind
            for versioning in resources(stack, "aws_s3_bucket_versioning"):
                assert versioning["versioning_configuration"]["status"] == "Enabled"
            for encryption in resources(stack, "aws_s3_bucket_server_side_encryption_configuration"):
                rule = encryption["rule"][0]
                bucket = one(
                    [
                        b
                        for b in buckets
                        if encryption["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=b["bucket"])
                    ]
                )
                if bucket["tags"]["relay:role"] == "logs":
                    # S3 delivers server access logs only to an SSE-S3 bucket: suppressed, with the reason
                    assert rule["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
                    assert "customer-key" in [s["rule"] for s in bucket["//"]["relay_suppressions"]]
                    continue
                assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
                assert rule["apply_server_side_encryption_by_default"]["kms_master_key_id"] == ref(
                    stack, "aws_kms_key", "arn"
                )
                assert rule["bucket_key_enabled"] is True
            for block in resources(stack, "aws_s3_bucket_public_access_block"):
                assert all(
                    block[k] is True
                    for k in (
                        "block_public_acls",
                        "block_public_policy",
                        "ignore_public_acls",
                        "restrict_public_buckets",
                    )
                )
            for policy in resources(stack, "aws_s3_bucket_policy"):
                deny = json.loads(policy["policy"])["Statement"][0]
                assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for lifecycle in resources(stack, "aws_s3_bucket_lifecycle_configuration"):
                assert lifecycle["rule"][0]["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]
            key = one(resources(stack, "aws_kms_key"))
            assert key["enable_key_rotation"] is True


def test_force_destroy_is_only_on_in_the_emulator_environment(local, prod):
    assert {b["force_destroy"] for s in all_stacks(local) for b in resources(s, "aws_s3_bucket")} == {True}
    assert {b["force_destroy"] for s in all_stacks(prod) for b in resources(s, "aws_s3_bucket")} == {False}


def test_no_iam_policy_grants_a_wildcard_action_or_resource(local, prod):
    for synth in (local, prod):
        for stack in all_stacks(synth):
            for policy in policies(stack):
                for statement in policy["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    resources_ = (
                        statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    )
                    if all(a.split(":")[1].startswith(READ_VERBS) for a in actions):
                        # reads only (Describe* has no resource-level permissions): the deploy ceiling's rule
                        continue
                    assert all("*" not in a for a in actions), statement
                    for arn in resources_:
                        assert arn != "*", statement
                        # A trailing /* is only allowed on the pipelines' own artifact buckets, one stack's id,
                        # the CLI's change sets, the deploy policy's parameters and the resources of the
                        # application tier (the region's launch templates, instances, volumes, network
                        # interfaces, subnets, security groups, images, load balancers); a key found by its alias
                        # is granted on the region's keys only under a condition naming that alias.
                        if arn.endswith(":key/*"):
                            assert statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
                        elif arn.endswith("/*"):
                            allowed = (
                                "artifacts",
                                "stack/",
                                "parameter/",
                                "changeSet/relay-deploy-",
                                "/Config/",
                                *APP_TIER,
                            )
                            assert any(part in arn for part in allowed), statement


def test_every_role_is_named_deterministically_with_its_region(local):
    for stack in all_stacks(local):
        for role in resources(stack, "aws_iam_role"):
            regions = "|".join(["eu-west-1", *ALL_TARGETS])
            assert re.fullmatch(rf"relay-local-[a-z-]+-({regions})", role["name"]), role["name"]
            assert "name_prefix" not in role


def test_required_provider_is_pinned_to_the_exact_bound_version(local):
    for stack in all_stacks(local):
        assert stack["terraform"]["required_providers"]["aws"]["version"] == PROVIDER_VERSION


def test_documents_name_the_provider_version_the_stacks_pin():
    mention = re.compile(r"hashicorp/aws`?\s+(\d+\.\d+\.\d+)")
    documents = [
        "README.md",
        "requirements.txt",
        "localstack/README.md",
        *sorted(p.relative_to(PROJECT_ROOT) for p in (PROJECT_ROOT / "docs").glob("*.md")),
    ]
    found = {str(d): mention.findall((PROJECT_ROOT / d).read_text()) for d in documents}
    assert found["README.md"], "README.md names no hashicorp/aws version"
    assert {v for versions in found.values() for v in versions} == {PROVIDER_VERSION}, found


def test_every_output_has_a_description(local):
    for stack in all_stacks(local):
        assert stack["output"]
        assert all(output.get("description") for output in stack["output"].values())


# --- emulator mode ------------------------------------------------------------------------------


def test_emulator_mode_points_every_provider_at_the_emulator_with_test_credentials(local):
    for name in local.stacks:
        stack = local.stack(name)
        for provider in stack["provider"]["aws"]:
            assert (provider["access_key"], provider["secret_key"]) == ("test", "test")
            assert provider["s3_use_path_style"] is True
            assert provider["skip_credentials_validation"] is True
            endpoints = provider["endpoints"][0]
            assert set(endpoints.values()) == {"http://127.0.0.1:4566"}
            assert {"s3", "codepipeline", "events", "iam", "kms", "sts"} <= set(endpoints)
        home = local.config.home_region if name in follows_home(local.config) else None
        assert stack["terraform"]["backend"]["local"]["path"] == local_state_path(local.config, name, home_region=home)


def test_aws_mode_has_no_emulator_settings_and_uses_the_s3_backend_with_locking(prod):
    for name in prod.stacks:
        stack = prod.stack(name)
        for provider in stack["provider"]["aws"]:
            assert not {
                "access_key",
                "secret_key",
                "endpoints",
                "s3_use_path_style",
                "skip_credentials_validation",
            } & set(provider)
            assert provider["default_tags"][0]["tags"] == {"app": "relay", "environment": "prod", "project": "relay"}
        backend = stack["terraform"]["backend"]["s3"]
        per_home = f".{prod.config.home_region}" if name in follows_home(prod.config) else ""
        assert backend["key"] == f"relay/prod/{name}{per_home}.tfstate"
        # each stack's state in its own region's bucket: nothing of a target depends on home, its state included
        region = stack["provider"]["aws"][0]["region"]
        assert (backend["bucket"], backend["region"]) == (f"example-org-terraform-state-{region}", region)
        assert backend["use_lockfile"] is True and backend["encrypt"] is True
        assert all(b["bucket"].startswith("example-org-relay-prod-") for b in resources(stack, "aws_s3_bucket"))


STATE_PATHS = [
    pytest.param({}, "../../../.relay/state/emulator/local/{stack}.tfstate", id="default-state-root"),
    pytest.param(
        {"RELAY_STATE_DIR": str(PROJECT_ROOT / "elsewhere")},
        "../../../elsewhere/state/emulator/local/{stack}.tfstate",
        id="state-root-inside-the-repository",
    ),
    pytest.param(
        {"RELAY_STATE_DIR": "/srv/relay-state"},
        "/srv/relay-state/state/emulator/local/{stack}.tfstate",
        id="state-root-elsewhere",
    ),
]


def follows_home(config) -> set[str]:
    """The stacks that live in whatever region is home: one state per home region."""
    return {config.names.home_stack(), config.names.replication_stack()}


@pytest.mark.parametrize(("environ", "expected"), STATE_PATHS)
def test_local_state_lives_under_relay_state_dir_as_seen_from_the_stack_directory(local, environ, expected):
    stack = local.target("eu-south-2")
    path = local_state_path(local.config, stack, environ)
    assert path == expected.format(stack=stack)
    # Terraform runs in cdktf.out/stacks/<stack>; the path must land in the state root from there.
    landed = (STACKS_DIR / stack / path).resolve()
    assert landed == paths.terraform_state_dir("emulator", "local", environ).resolve() / f"{stack}.tfstate"


def test_the_home_stacks_keep_one_state_per_home_region_so_a_promoted_home_starts_its_own(local):
    for stack in follows_home(local.config):
        path = local.stack(stack)["terraform"]["backend"]["local"]["path"]
        assert path.endswith(f"/{stack}.eu-west-1.tfstate")
    promoted = local.config.model_copy(update={"home_region": "eu-central-1"})
    assert local_state_path(promoted, local.home, home_region="eu-central-1").endswith(
        f"/{local.home}.eu-central-1.tfstate"
    )


def test_a_state_bucket_named_with_region_keeps_each_stack_in_its_own_region():
    per_region = '{"state": {"bucket": "example-org-tf-{region}", "region": null}}'
    config = load_config(environ={"RELAY_ENV": "prod", "RELAY_OVERRIDES": per_region})
    assert state_bucket(config, "eu-south-2") == ("example-org-tf-eu-south-2", "eu-south-2")
    assert state_bucket(config, "eu-west-1") == ("example-org-tf-eu-west-1", "eu-west-1")
    with pytest.raises(ConfigError, match=r"omit region and kms_key_id"):
        load_config(
            environ={
                "RELAY_ENV": "prod",
                "RELAY_OVERRIDES": '{"state": {"bucket": "example-org-tf-{region}", "region": "eu-west-1"}}',
            }
        )


# --- delivery strategies: native and remote regions ---------------------------------------------


def test_stacks_follow_each_regions_delivery_strategy(local, prod):
    edge = (local.edge, local.edge_logs)
    pipeline = [n for n in local.stacks if "-platform" not in n and "-peering-" not in n and n not in edge]
    assert sorted(pipeline) == sorted(
        [local.home, local.replication, *(local.target(r) for r in [*TARGETS, NATIVE_REGION, REMOTE_REGION])]
    ), "every target region has a stack of its own"
    assert {local.stack(local.target(r))["output"]["delivery"]["value"] for r in TARGETS} == {"bespoke"}
    assert local.stack(local.target(NATIVE_REGION))["output"]["delivery"]["value"] == "native"
    remote = local.stack(local.target(REMOTE_REGION))
    assert remote["output"]["delivery"]["value"] == "remote"
    assert not resources(remote, "aws_codepipeline"), "what deploys a remote region is in the home stack"
    assert {prod.stack(prod.target(r))["output"]["delivery"]["value"] for r in TARGETS} == {"bespoke"}


def test_native_region_stack_holds_only_the_artifact_store_and_the_deploy_role(local):
    stack = local.stack(local.target(NATIVE_REGION))
    assert [b["bucket"] for b in resources(stack, "aws_s3_bucket")] == [
        "relay-local-artifacts-eu-central-1",
        "relay-local-config-eu-central-1",
    ], "the artifact store, and AWS Config's delivery bucket (governance)"
    assert one(resources(stack, "aws_kms_alias"))["name"] == "alias/relay-local-eu-central-1"
    assert not resources(stack, "aws_codepipeline")
    rules = [r["name"] for r in resources(stack, "aws_cloudwatch_event_rule")]
    assert rules == ["relay-local-forward-stack-eu-central-1"], "its only rule forwards the stack's events home"
    role = one([r for r in resources(stack, "aws_iam_role") if r["name"] == "relay-local-deploy-eu-central-1"])
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account_id(stack)}}
    deploy_policy = json.loads(
        one(
            [
                p
                for p in resources(stack, "aws_iam_role_policy")
                if p["role"] == ref(stack, "aws_iam_role", "id", name=role["name"])
            ]
        )["policy"]
    )
    assert deploy_policy["Statement"][0]["Resource"] == (
        f"arn:aws:ssm:eu-central-1:{account_id(stack)}:parameter/relay-sample-app/*"
    ), "the deploy policy's placeholders are filled for the region"
    assert "${AWS::" not in json.dumps(deploy_policy)
    assert role["permissions_boundary"] == ref(
        stack, "aws_iam_policy", "arn", name="relay-local-deploy-boundary-eu-central-1"
    )
    # The one name of home it holds: the home pipeline's role, the only writer of its artifact store.
    writer = f"arn:aws:iam::{account_id(stack)}:role/relay-local-pipeline-eu-west-1"
    assert "eu-west-1" not in json.dumps(stack).replace(writer, "").replace(home_bus(stack), ""), (
        "the native region's stack reads nothing of home"
    )


def test_home_pipeline_deploys_a_native_region_with_a_cross_region_cloudformation_action(local):
    home = local.stack(local.home)
    account = account_id(home)
    pipeline = pipeline_named(home, "relay-local-release-eu-west-1")
    stores = {s["region"]: s for s in pipeline["artifact_store"]}
    assert sorted(stores) == ["eu-central-1", "eu-west-1"], "one store per region the pipeline acts in"
    assert stores["eu-west-1"]["encryption_key"]["id"] == ref(home, "aws_kms_key", "arn")
    assert stores["eu-central-1"]["location"] == "relay-local-artifacts-eu-central-1"
    assert stores["eu-central-1"]["encryption_key"] == {
        "id": f"arn:aws:kms:eu-central-1:{account}:alias/relay-local-eu-central-1",
        "type": "KMS",
    }
    build = pipeline["stage"][1]["action"][0]
    assert build["output_artifacts"] == ["ReleaseArtifact"]
    deploy = pipeline["stage"][2]
    assert deploy["name"] == "Deploy"
    actions = {a["name"]: a for a in deploy["action"]}
    assert sorted(actions) == ["Deploy-ca-west-1", "Deploy-eu-central-1"], "bespoke regions deploy themselves"
    native = actions["Deploy-eu-central-1"]
    assert (native["provider"], native["region"], native["input_artifacts"]) == (
        "CloudFormation",
        "eu-central-1",
        ["ReleaseArtifact"],
    )
    role_arn = f"arn:aws:iam::{account}:role/relay-local-deploy-eu-central-1"
    assert native["configuration"] == {
        "ActionMode": "CREATE_UPDATE",
        "StackName": "relay-sample-app",
        # the native region runs the application tier (tests/unit/test_application_stacks.py)
        "TemplatePath": "ReleaseArtifact::app-tier.yaml",
        "Capabilities": "CAPABILITY_IAM",
        "ParameterOverrides": json.dumps(
            {
                **application_parameters(local.config),
                "PermissionsBoundaryArn": f"arn:aws:iam::{account}:policy/relay-local-deploy-boundary-eu-central-1",
            },
            sort_keys=True,
        ),
        "RoleArn": role_arn,
    }
    by_sid = statements_of(home)
    assert by_sid["Artifactseucentral1"]["Resource"] == ["arn:aws:s3:::relay-local-artifacts-eu-central-1/*"]
    assert by_sid["UseKeyeucentral1"]["Resource"] == [f"arn:aws:kms:eu-central-1:{account}:key/*"]
    assert by_sid["UseKeyeucentral1"]["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/relay-local-eu-central-1"},
        "StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
    }
    assert by_sid["DeployStackeucentral1"]["Resource"] == [
        f"arn:aws:cloudformation:eu-central-1:{account}:stack/relay-sample-app/*"
    ]
    assert by_sid["PassDeployRoleeucentral1"]["Resource"] == [role_arn]
    assert by_sid["PassDeployRoleeucentral1"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }


def test_home_builds_the_remote_regions_deployment_with_a_role_scoped_to_that_stack(local):
    home = local.stack(local.home)
    account = account_id(home)
    project = one([p for p in resources(home, "aws_codebuild_project") if p["name"] == "relay-local-deploy-ca-west-1"])
    variables = {v["name"]: v["value"] for v in project["environment"]["environment_variable"]}
    deploy_role = one([r for r in resources(home, "aws_iam_role") if r["name"] == "relay-local-deploy-ca-west-1"])
    assert json.loads(deploy_role["assume_role_policy"])["Statement"][0]["Principal"] == {
        "Service": "cloudformation.amazonaws.com"
    }
    deploy_role_arn = ref(home, "aws_iam_role", "arn", name="relay-local-deploy-ca-west-1")
    assert variables == {
        "DEPLOY_REGION": "ca-west-1",
        "STACK_NAME": "relay-sample-app",
        "TEMPLATE_PATH": "template.yaml",
        "DEPLOY_ROLE_ARN": deploy_role_arn,
        "CHANGE_SET_PREFIX": "relay-deploy-",
        "PARAMETER_OVERRIDES": "{}",
    }
    assert "cfn create-change-set" in project["source"]["buildspec"]
    assert project["encryption_key"] == ref(home, "aws_kms_key", "arn")
    build_role = one([r for r in resources(home, "aws_iam_role") if r["name"] == "relay-local-remote-deploy-ca-west-1"])
    build_role_name = ref(home, "aws_iam_role", "id", name=build_role["name"])
    policy = one([p for p in resources(home, "aws_iam_role_policy") if p["role"] == build_role_name])
    by_sid = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    assert by_sid["DeployStack"]["Resource"] == [f"arn:aws:cloudformation:ca-west-1:{account}:stack/relay-sample-app/*"]
    assert by_sid["ChangeSets"]["Resource"] == [
        f"arn:aws:cloudformation:ca-west-1:{account}:changeSet/relay-deploy-*/*"
    ]
    assert by_sid["PassDeployRole"]["Resource"] == [deploy_role_arn]
    assert by_sid["PassDeployRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
    }
    assert "s3:PutObject" not in json.dumps(policy), "the deploy build only reads the release"
    action = {a["name"]: a for a in pipeline_named(home, "relay-local-release-eu-west-1")["stage"][2]["action"]}[
        "Deploy-ca-west-1"
    ]
    assert (action["provider"], action.get("region"), action["input_artifacts"]) == (
        "CodeBuild",
        None,
        ["ReleaseArtifact"],
    )
    assert action["configuration"] == {"ProjectName": ref(home, "aws_codebuild_project", "name", name=project["name"])}
    assert statements_of(home)["DeployBuildcawest1"]["Resource"] == [
        f"arn:aws:codebuild:eu-west-1:{account}:project/relay-local-deploy-ca-west-1"
    ]


def test_a_pipeline_without_home_delivered_regions_keeps_one_store_and_no_deploy_stage(prod):
    pipeline = one(resources(prod.stack(prod.home), "aws_codepipeline"))
    assert [s["name"] for s in pipeline["stage"]] == ["Source", "Package"]
    assert len(pipeline["artifact_store"]) == 1 and "region" not in pipeline["artifact_store"][0]
    assert "output_artifacts" not in pipeline["stage"][1]["action"][0]


# --- release integrity: write guards, roles, keys, audit -----------------------------------------


def guard_of(stack: dict, bucket: str, sid: str) -> dict:
    policy = one(
        [
            p
            for p in resources(stack, "aws_s3_bucket_policy")
            if p["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=bucket)
        ]
    )
    return one([s for s in json.loads(policy["policy"])["Statement"] if s["Sid"] == sid])


GUARDED = [
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
]


def test_only_the_build_and_the_publishers_may_write_the_home_release_object(local, prod):
    home = local.stack(local.home)
    account = account_id(home)
    guard = guard_of(home, "relay-local-release-eu-west-1", "ReleaseWriteGuard")
    assert (guard["Effect"], guard["Principal"], guard["Action"]) == ("Deny", "*", GUARDED)
    assert guard["Resource"] == "arn:aws:s3:::relay-local-release-eu-west-1/release/source.zip"
    assert guard["Condition"] == {
        "ArnNotEquals": {
            "aws:PrincipalArn": [
                f"arn:aws:iam::{account}:role/relay-local-build-eu-west-1",
                "arn:aws:iam::000000000000:root",
            ]
        }
    }
    prod_home = prod.stack(prod.home)
    writers = guard_of(prod_home, "example-org-relay-prod-release-eu-west-1", "ReleaseWriteGuard")["Condition"]
    assert writers == {
        "ArnNotEquals": {"aws:PrincipalArn": [f"arn:aws:iam::{account_id(prod_home)}:role/relay-prod-build-eu-west-1"]}
    }, "no publishers unless configured"


@pytest.mark.parametrize("region", TARGETS)
def test_only_replication_and_the_publishers_may_write_a_bespoke_regions_release_object(local, region):
    stack = local.stack(local.target(region))
    guard = guard_of(stack, f"relay-local-release-{region}", "ReleaseWriteGuard")
    assert guard["Resource"] == f"arn:aws:s3:::relay-local-release-{region}/release/source.zip"
    assert guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        f"arn:aws:iam::{account_id(stack)}:role/relay-local-replication-eu-west-1",
        "arn:aws:iam::000000000000:root",
    ]


def test_artifact_stores_are_written_only_by_their_pipelines_roles(local):
    home, native = local.stack(local.home), local.stack(local.target(NATIVE_REGION))
    bespoke = local.stack(local.target(EVENTBRIDGE_REGION))
    role = "arn:aws:iam::{}:role/relay-local-{}"
    cases = [
        (home, "relay-local-artifacts-eu-west-1", "relay-local-release-", ["pipeline-eu-west-1", "build-eu-west-1"]),
        (native, "relay-local-artifacts-eu-central-1", "relay-local-release-", ["pipeline-eu-west-1"]),
        # the Select build's role uploads the newest release as its output artifact
        (
            bespoke,
            "relay-local-artifacts-eu-south-2",
            "relay-local-deploy-e",
            ["pipeline-eu-south-2", "select-eu-south-2"],
        ),
    ]
    for stack, bucket, prefix, writers in cases:
        guard = guard_of(stack, bucket, "ArtifactWriteGuard")
        assert guard["Resource"] == f"arn:aws:s3:::{bucket}/{prefix}/*", "the pipeline's own artifact prefix"
        assert guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
            role.format(account_id(stack), w) for w in writers
        ]


def test_every_bucket_is_tagged_with_its_role(local, prod):
    for synth in (local, prod):
        for stack in bucket_stacks(synth):
            for bucket in resources(stack, "aws_s3_bucket"):
                role = bucket["tags"]["relay:role"]
                assert role in ("release", "artifacts", "trail", "logs", "edge-logs", "config"), bucket["bucket"]
                assert f"-{role}-" in bucket["bucket"], bucket["bucket"]


def test_replication_role_is_assumed_by_s3_only_for_the_release_bucket_and_deletes_only_when_configured(local, prod):
    replication = local.stack(local.replication)
    role = one([r for r in resources(replication, "aws_iam_role") if r["name"] == "relay-local-replication-eu-west-1"])
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account_id(replication)},
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::relay-local-release-eu-west-1"},
    }
    write = statements_of(replication)["WriteReplicas"]
    assert write["Action"] == ["s3:ReplicateObject", "s3:ReplicateTags"], "delete markers do not replicate in local"
    assert "s3:ReplicateDelete" in statements_of(prod.stack(prod.replication))["WriteReplicas"]["Action"]


def test_role_key_statements_hold_only_through_s3_or_codebuild(local):
    for stack in all_stacks(local):
        for sid, statement in statements_of(stack).items():
            if sid.startswith("UseKey"):
                via = statement["Condition"]["StringEquals"]["kms:ViaService"]
                services = {v.split(".")[0] for v in (via if isinstance(via, list) else [via])}
                assert services <= {"s3", "codebuild"}, (sid, via)


def test_cloudwatch_logs_may_use_the_home_key_only_for_the_build_log_groups(local):
    home = local.stack(local.home)
    key = one(resources(home, "aws_kms_key"))
    logs = one([s for s in json.loads(key["policy"])["Statement"] if s["Sid"] == "AllowCloudWatchLogs"])
    account = account_id(home)
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/codebuild/relay-local-package-eu-west-1",
                f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/codebuild/relay-local-deploy-ca-west-1",
            ]
        }
    }
    flow_logs = local.config.platform.network.flow_logs_retention_days
    for stack in all_stacks(local):
        for group in resources(stack, "aws_cloudwatch_log_group"):
            # build logs keep 90 days; the platform's flow logs keep what `platform.network` says
            retention = flow_logs if "/flow-logs/" in group["name"] else 90
            assert group["retention_in_days"] == retention and group["kms_key_id"]


def test_every_deploy_role_has_the_default_boundary_which_keeps_the_release_path_out_of_reach(local):
    boundaries = 0
    for stack in all_stacks(local):
        for role in resources(stack, "aws_iam_role"):
            if not role["name"].startswith("relay-local-deploy-"):
                continue
            region = role["name"].removeprefix("relay-local-deploy-")
            name = f"relay-local-deploy-boundary-{region}"
            assert role["permissions_boundary"] == ref(stack, "aws_iam_policy", "arn", name=name)
            boundary = one([p for p in resources(stack, "aws_iam_policy") if p["name"] == name])
            by_sid = {s["Sid"]: s for s in json.loads(boundary["policy"])["Statement"]}
            assert by_sid["NotTheAppsOwnIdentities"]["Resource"] == [
                f"arn:aws:iam::{account_id(stack)}:role/relay-local-*",
                f"arn:aws:iam::{account_id(stack)}:policy/relay-local-*",
            ]
            assert by_sid["NewIdentitiesKeepThisBoundary"]["Condition"] == {
                "StringNotEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{account_id(stack)}:policy/{name}"}
            }
            assert by_sid["NotTheAppsKeys"]["Condition"] == {
                "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/relay-local-*"}
            }
            assert [s["rule"] for s in boundary["//"]["relay_suppressions"]] == [
                "wildcard-resource-write",
                "CKV_AWS_62",
                "CKV_AWS_63",
                "CKV2_AWS_40",
            ]
            boundaries += 1
    assert boundaries == 4, "two bespoke regions, one native and one remote"


def test_release_writes_are_audited_with_access_logs_by_default_on_aws(prod):
    for stack in bucket_stacks(prod):
        release = [b["bucket"] for b in resources(stack, "aws_s3_bucket") if b["tags"]["relay:role"] == "release"]
        logs = [b["bucket"] for b in resources(stack, "aws_s3_bucket") if b["tags"]["relay:role"] == "logs"]
        assert len(release) == len(logs) == 1
        logging = one(resources(stack, "aws_s3_bucket_logging"))
        assert logging["bucket"] == ref(stack, "aws_s3_bucket", "id", bucket=release[0])
        assert (logging["target_bucket"], logging["target_prefix"]) == (logs[0], f"{release[0]}/")
        delivery = guard_of(stack, logs[0], "S3ServerAccessLogs")
        assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert delivery["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{release[0]}"}


def test_the_emulator_environment_audits_nothing_and_cloudtrail_audit_adds_a_trail_per_region(local, hardened):
    assert not any(
        resources(s, "aws_s3_bucket_logging") or resources(s, "aws_cloudtrail") for s in [local.stack(local.home)]
    )
    for stack in bucket_stacks(hardened):
        trail = one(resources(stack, "aws_cloudtrail"))
        selectors = trail["advanced_event_selector"][0]["field_selector"]
        assert {"field": "readOnly", "equals": ["false"]} in selectors
        assert not resources(stack, "aws_s3_bucket_logging")


def test_key_administrators_administer_and_iam_policies_only_use_the_keys(hardened, prod):
    for stack in bucket_stacks(hardened):
        policy = json.loads(one(resources(stack, "aws_kms_key"))["policy"])
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        assert by_sid["KeyAdministration"]["Principal"] == {"AWS": ["arn:aws:iam::111122223333:role/platform-admin"]}
        assert not [a for a in by_sid["KeyAdministration"]["Action"] if a in ("kms:Decrypt", "kms:Encrypt")]
        assert "kms:*" not in json.dumps(by_sid["EnableIamPoliciesForKeyUse"]["Action"])
    default = json.loads(one(resources(prod.stack(prod.home), "aws_kms_key"))["policy"])["Statement"][0]
    assert (default["Sid"], default["Action"]) == ("EnableIamPolicies", "kms:*")


def test_state_key_and_a_boundary_of_the_users_own(hardened):
    home = hardened.stack(hardened.home)
    backend = home["terraform"]["backend"]["s3"]
    assert backend["kms_key_id"] == "arn:aws:kms:eu-central-1:111122223333:alias/terraform-state"
    assert (backend["bucket"], backend["region"]) == ("example-org-terraform-state", "eu-central-1")
    assert not any(resources(s, "aws_iam_policy") for s in all_stacks(hardened))
    for stack in all_stacks(hardened):
        for role in resources(stack, "aws_iam_role"):
            if role["name"].startswith("relay-prod-deploy-"):
                assert role["permissions_boundary"] == "arn:aws:iam::111122223333:policy/platform-boundary"
