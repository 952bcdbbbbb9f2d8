"""CodePipeline declarations and CloudFormation deploy decisions, without an emulator
(``relay_emulator.core.pipeline_declaration`` and ``relay_emulator.core.stack_deploy``)."""

from __future__ import annotations

import copy
import json

import pytest
from relay_emulator.core.pipeline_declaration import (
    DeclarationError,
    action_kind,
    action_region,
    artifact_store,
    check_regions,
    check_structure,
    key_region,
    normalise,
    split_artifact_path,
)
from relay_emulator.core.stack_deploy import (
    ConfigurationError,
    change_set_name,
    change_set_outcome,
    failure_reason,
    is_done,
    is_failed,
    is_replaced_on_failure,
    stack_request,
)


def action(name, category, provider="S3", **extra):
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        **extra,
    }


DECL = {
    "name": "p",
    "roleArn": "arn:aws:iam::000000000000:role/p",
    "artifactStore": {"type": "S3", "location": "art"},
    "stages": [
        {"name": "Source", "actions": [action("Source", "Source")]},
        {"name": "Deploy", "actions": [action("Deploy", "Deploy", "CloudFormation")]},
    ],
}


def changed(**top):
    decl = copy.deepcopy(DECL)
    decl.update(top)
    return {k: v for k, v in decl.items() if v is not None}


def test_normalise_adds_aws_defaults_and_keeps_the_declaration():
    decl = normalise(DECL, 3)
    assert decl["version"] == 3 and decl["pipelineType"] == "V1" and decl["executionMode"] == "SUPERSEDED"
    first = decl["stages"][0]["actions"][0]
    assert first["runOrder"] == 1 and first["configuration"] == {}
    assert first["inputArtifacts"] == [] and first["outputArtifacts"] == []
    assert "version" not in DECL and "runOrder" not in DECL["stages"][0]["actions"][0]
    given = normalise(changed(pipelineType="V2", executionMode="QUEUED"), 1)
    assert (given["pipelineType"], given["executionMode"]) == ("V2", "QUEUED")


def test_a_valid_declaration_passes():
    check_structure(DECL)


@pytest.mark.parametrize(
    "decl, code, message",
    [
        (changed(name=None), "ValidationException", "Value null at 'pipeline.name'"),
        (changed(roleArn=None), "ValidationException", "Value null at 'pipeline.roleArn'"),
        (changed(artifactStore=None), "InvalidStructureException", "either an artifactStore or artifactStores"),
        (
            changed(artifactStores={"eu-south-2": {"type": "S3", "location": "a"}}),
            "InvalidStructureException",
            "cannot have both",
        ),
        (changed(stages=DECL["stages"][:1]), "InvalidStructureException", "fewer than 2 stages"),
        (
            changed(stages=[DECL["stages"][0], {"name": "Source", "actions": [action("D", "Deploy")]}]),
            "InvalidStructureException",
            "duplicate stage name: Source",
        ),
        (
            changed(stages=[DECL["stages"][0], {"name": "Empty", "actions": []}]),
            "InvalidStructureException",
            "Stage Empty must contain at least one action",
        ),
        (
            changed(stages=[{"name": "First", "actions": [action("B", "Build")]}, DECL["stages"][1]]),
            "InvalidStructureException",
            "first stage must contain only source actions",
        ),
        (
            changed(stages=[DECL["stages"][0], {"name": "Late", "actions": [action("S2", "Source")]}]),
            "InvalidStructureException",
            "Source actions must be in the first stage",
        ),
    ],
    ids=[
        "no-name",
        "no-role",
        "no-store",
        "both-stores",
        "one-stage",
        "duplicate-stage",
        "empty-stage",
        "non-source-first",
        "source-later",
    ],
)
def test_structure_errors(decl, code, message):
    with pytest.raises(DeclarationError) as err:
        check_structure(decl)
    assert err.value.code == code and message in err.value.message


def test_actions_run_in_their_region_with_its_artifact_store():
    cross = action("D", "Deploy", "CloudFormation", region="eu-south-2")
    assert action_region(cross, "eu-west-1") == "eu-south-2"
    assert action_region(action("D", "Deploy"), "eu-west-1") == "eu-west-1"
    assert action_kind(cross) == ("Deploy", "AWS", "CloudFormation")
    stores = {"eu-west-1": {"location": "home"}, "eu-south-2": {"location": "target"}}
    assert artifact_store({"artifactStores": stores}, "eu-south-2") == {"location": "target"}
    assert artifact_store({"artifactStores": stores}, "ap-southeast-4") is None
    assert artifact_store({"artifactStore": {"location": "one"}}, "anywhere") == {"location": "one"}


HOME = "eu-west-1"
# CodePipeline's regions of the aws partition as a caller passes them (a few suffice here)
CODEPIPELINE_REGIONS = frozenset({"eu-west-1", "eu-central-1", "eu-south-2", "us-east-1"})


def cross_region(stores: dict | None, *actions: dict, store: dict | None = None) -> dict:
    """DECL with `actions` in its second stage and the given artifact store(s)."""
    decl = copy.deepcopy(DECL)
    decl.pop("artifactStore")
    if stores is not None:
        decl["artifactStores"] = {r: {"type": "S3", "location": f"art-{r}"} for r in stores}
    if store is not None:
        decl["artifactStore"] = store
    decl["stages"][1]["actions"] = list(actions)
    return decl


DEPLOY_EC1 = action("Deploy", "Deploy", "CloudFormation", region="eu-central-1")


@pytest.mark.parametrize(
    "decl, region",
    [
        (cross_region([HOME, "eu-central-1"], DEPLOY_EC1), HOME),
        (cross_region([HOME], action("Deploy", "Deploy", "CloudFormation", region=HOME)), HOME),
        (cross_region(None, action("Deploy", "Deploy"), store={"type": "S3", "location": "a"}), HOME),
        (cross_region([HOME, "eu-central-1", "eu-south-2"], DEPLOY_EC1), HOME),
        # a request served in a region proves CodePipeline there, whatever botocore's data says
        (cross_region(["ca-west-1"], action("Deploy", "Deploy")), "ca-west-1"),
    ],
    ids=["cross-region-with-store", "own-region-named", "single-store", "unused-store", "own-region-unlisted"],
)
def test_valid_cross_region_declarations_pass(decl, region):
    check_structure(decl)
    check_regions(decl, region, CODEPIPELINE_REGIONS)


@pytest.mark.parametrize(
    "decl, code, message",
    [
        (
            cross_region([HOME, "ca-west-1"], action("Deploy", "Deploy", "CloudFormation", region="ca-west-1")),
            "ValidationException",
            "The region ca-west-1 specified in 'pipeline.artifactStores' is not a valid AWS Region.",
        ),
        (
            cross_region([HOME, "cn-north-1"], action("Deploy", "Deploy", "CloudFormation", region="cn-north-1")),
            "ValidationException",
            "The region cn-north-1 specified in 'pipeline.artifactStores' is not a valid AWS Region.",
        ),
        (
            cross_region(["eu-central-1"], DEPLOY_EC1),
            "InvalidStructureException",
            "must contain an artifact store for the pipeline's region eu-west-1; it has eu-central-1",
        ),
        (
            cross_region([HOME], DEPLOY_EC1),
            "InvalidStructureException",
            "Action Deploy in stage Deploy has region eu-central-1, but pipeline.artifactStores has no artifact "
            "store for eu-central-1; it has eu-west-1",
        ),
        (
            cross_region(None, DEPLOY_EC1, store={"type": "S3", "location": "a"}),
            "InvalidStructureException",
            "a cross-region action needs pipeline.artifactStores (an artifact store per region) instead of "
            "pipeline.artifactStore",
        ),
        (
            {
                **cross_region([HOME, "eu-central-1"], DEPLOY_EC1),
                "stages": [
                    {"name": "Source", "actions": [action("Source", "Source", region="eu-central-1")]},
                    {"name": "Deploy", "actions": [DEPLOY_EC1]},
                ],
            },
            "InvalidStructureException",
            "Action Source in stage Source has region eu-central-1: source actions run in the pipeline's region",
        ),
        (
            cross_region(
                [HOME, "eu-central-1"],
                {
                    **action("Test", "Test", "Runner", region="eu-central-1"),
                    "actionTypeId": {"category": "Test", "owner": "ThirdParty", "provider": "Runner", "version": "1"},
                },
            ),
            "InvalidStructureException",
            "ThirdParty actions run in the pipeline's region eu-west-1",
        ),
    ],
    ids=[
        "store-without-codepipeline",
        "store-in-another-partition",
        "no-store-for-pipeline-region",
        "no-store-for-action-region",
        "single-store-cross-region-action",
        "cross-region-source",
        "cross-region-third-party",
    ],
)
def test_cross_region_errors(decl, code, message):
    check_structure(decl)  # structurally fine: only the regions are wrong
    with pytest.raises(DeclarationError) as err:
        check_regions(decl, HOME, CODEPIPELINE_REGIONS)
    assert err.value.code == code and message in err.value.message, err.value.message


@pytest.mark.parametrize(
    "key_id, region",
    [
        ("arn:aws:kms:eu-central-1:000000000000:key/1234", "eu-central-1"),
        ("arn:aws:kms:eu-central-1:000000000000:alias/relay", "eu-central-1"),
        ("arn:aws-cn:kms:cn-north-1:000000000000:key/1234", "cn-north-1"),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", None),
        ("alias/relay", None),
    ],
    ids=["key-arn", "alias-arn", "other-partition", "key-id", "alias-name"],
)
def test_key_region(key_id, region):
    assert key_region(key_id) == region


@pytest.mark.parametrize(
    "path, inputs, expected",
    [
        ("SourceArtifact::template.yaml", ["Other"], ("SourceArtifact", "template.yaml")),
        ("A::dir/with::colons.yaml", [], ("A", "dir/with::colons.yaml")),
        ("template.yaml", ["First", "Second"], ("First", "template.yaml")),
        ("template.yaml", [], ("", "template.yaml")),
    ],
    ids=["named", "first-separator", "first-input", "no-input"],
)
def test_artifact_paths(path, inputs, expected):
    assert split_artifact_path(path, inputs) == expected


# ---------------------------------------------------------------------- CloudFormation deploy


@pytest.mark.parametrize(
    "cfg, template, template_configuration, expected",
    [
        ({}, None, None, {"StackName": "s"}),
        ({}, "Resources: {}", None, {"StackName": "s", "TemplateBody": "Resources: {}"}),
        (
            {"ParameterOverrides": json.dumps({"Message": "hi", "Count": 3})},
            None,
            None,
            {
                "StackName": "s",
                "Parameters": [
                    {"ParameterKey": "Message", "ParameterValue": "hi"},
                    {"ParameterKey": "Count", "ParameterValue": "3"},
                ],
            },
        ),
        (
            {"ParameterOverrides": json.dumps({"Message": "override"})},
            None,
            json.dumps({"Parameters": {"Message": "file", "Other": "x"}, "Tags": {"team": "relay"}}).encode(),
            {
                "StackName": "s",
                "Tags": [{"Key": "team", "Value": "relay"}],
                "Parameters": [
                    {"ParameterKey": "Message", "ParameterValue": "override"},
                    {"ParameterKey": "Other", "ParameterValue": "x"},
                ],
            },
        ),
        (
            {"Capabilities": "CAPABILITY_IAM, CAPABILITY_NAMED_IAM,", "RoleArn": "arn:aws:iam::1:role/cfn"},
            None,
            None,
            {
                "StackName": "s",
                "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                "RoleARN": "arn:aws:iam::1:role/cfn",
            },
        ),
    ],
    ids=["bare", "template", "overrides", "configuration-file-then-overrides", "capabilities-and-role"],
)
def test_stack_request(cfg, template, template_configuration, expected):
    assert stack_request(cfg, "s", template, template_configuration) == expected


@pytest.mark.parametrize(
    "cfg, template_configuration, message",
    [
        ({"ParameterOverrides": "{not json"}, None, "ParameterOverrides is not valid JSON"),
        ({}, b"{not json", "TemplateConfiguration is not valid JSON"),
    ],
    ids=["overrides", "template-configuration"],
)
def test_stack_request_errors_name_the_setting(cfg, template_configuration, message):
    with pytest.raises(ConfigurationError, match=message):
        stack_request(cfg, "s", None, template_configuration)


def test_change_set_name_defaults_to_the_stack():
    assert change_set_name({}, "app") == "app-changeset"
    assert change_set_name({"ChangeSetName": "release"}, "app") == "release"


@pytest.mark.parametrize(
    "status, done, done_deleting, failed, replaced",
    [
        (None, False, True, False, False),
        ("CREATE_IN_PROGRESS", False, False, False, False),
        ("CREATE_COMPLETE", True, True, False, False),
        ("UPDATE_COMPLETE", True, True, False, False),
        ("CREATE_FAILED", False, False, True, True),
        ("ROLLBACK_COMPLETE", False, False, True, True),
        ("UPDATE_ROLLBACK_COMPLETE", False, False, True, False),
        ("UPDATE_ROLLBACK_FAILED", False, False, True, True),
        ("DELETE_FAILED", False, False, True, True),
    ],
)
def test_stack_status_reading(status, done, done_deleting, failed, replaced):
    assert is_done(status) is done
    assert is_done(status, deleting=True) is done_deleting
    assert is_failed(status) is failed
    assert is_replaced_on_failure(status) is replaced


@pytest.mark.parametrize(
    "status, reason, expected",
    [
        ("CREATE_PENDING", None, None),
        ("CREATE_IN_PROGRESS", None, None),
        ("CREATE_COMPLETE", None, "ready"),
        ("FAILED", "The submitted information didn't contain changes.", "no changes"),
        ("FAILED", "Unsupported resources detected: AWS::ElasticLoadBalancingV2::LoadBalancer", "failed"),
        ("FAILED", None, "failed"),
    ],
)
def test_change_set_outcome(status, reason, expected):
    assert change_set_outcome(status, reason) == expected


def event(logical, status, reason=None):
    return {"LogicalResourceId": logical, "ResourceStatus": status, "ResourceStatusReason": reason}


@pytest.mark.parametrize(
    "events, stack_reason, expected",
    [
        # newest first, as DescribeStackEvents lists them: the oldest failure is the cause
        (
            [
                event("app", "ROLLBACK_COMPLETE"),
                event("Second", "CREATE_FAILED", "Resource creation cancelled"),
                event("First", "CREATE_FAILED", "Bucket name is invalid"),
                event("app", "CREATE_IN_PROGRESS", "User Initiated"),
            ],
            None,
            "First: Bucket name is invalid",
        ),
        # a failed event without a reason: the rollback event names the cause
        (
            [
                event("app", "CREATE_FAILED"),
                event("app", "ROLLBACK_IN_PROGRESS", "Unsupported resources detected: AWS::EC2::LaunchTemplate"),
            ],
            None,
            "app: Unsupported resources detected: AWS::EC2::LaunchTemplate",
        ),
        ([event("app", "CREATE_FAILED")], "Template error: unresolved", "Template error: unresolved"),
        ([], None, "see the stack events"),
    ],
    ids=["first-failure", "rollback-reason", "stack-reason", "nothing"],
)
def test_failure_reason(events, stack_reason, expected):
    assert failure_reason(events, stack_reason) == expected
