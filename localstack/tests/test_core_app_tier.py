"""The application tier's CloudFormation properties in API shapes (``relay_emulator.core.app_tier``), without
an emulator: generated names, list properties, Auto Scaling tags, launch template specs, attributes,
full names, listener actions, and when an update replaces instances."""

from __future__ import annotations

from relay_emulator.core.app_tier import (
    as_list,
    asg_tags,
    attributes,
    full_name,
    launch_template_spec,
    listener_actions,
    physical_name,
    pick,
    replaces_instances,
    targets,
)


def test_physical_name_within_limit_and_unique():
    name = physical_name("relay-app-tier-eu-south-2-with-a-long-name", "LoadBalancer", 32)
    assert len(name) <= 32 and name.startswith("relay-app") and "-LoadBal" in name
    assert physical_name("s", "Group", 255) != physical_name("s", "Group", 255)
    assert physical_name("stack", "Group", 255).startswith("stack-Group-")


def test_lists_from_strings_and_lists():
    assert as_list(None) == []
    assert as_list("subnet-a, subnet-b,") == ["subnet-a", "subnet-b"]
    assert as_list(["subnet-a"]) == ["subnet-a"]


def test_pick_drops_unset_keys():
    assert pick({"A": 1, "B": None, "C": 0}, ["A", "B", "C", "D"]) == {"A": 1, "C": 0}


def test_asg_tags_in_api_shape():
    tags = asg_tags("g", [{"Key": "Name", "Value": "app", "PropagateAtLaunch": "true"}, {"Key": "k", "Value": 1}])
    assert tags == [
        {
            "ResourceId": "g",
            "ResourceType": "auto-scaling-group",
            "Key": "Name",
            "Value": "app",
            "PropagateAtLaunch": True,
        },
        {"ResourceId": "g", "ResourceType": "auto-scaling-group", "Key": "k", "Value": "1", "PropagateAtLaunch": False},
    ]


def test_launch_template_spec_and_replacement():
    assert launch_template_spec(None) is None
    assert launch_template_spec({"LaunchTemplateId": "lt-1", "Version": 2}) == {
        "LaunchTemplateId": "lt-1",
        "Version": "2",
    }
    assert not replaces_instances(
        {"LaunchTemplateId": "lt-1", "Version": "1"}, {"LaunchTemplateId": "lt-1", "Version": 1}
    )
    assert replaces_instances(
        {"LaunchTemplateId": "lt-1", "Version": "1"}, {"LaunchTemplateId": "lt-1", "Version": "2"}
    )
    assert replaces_instances({"LaunchTemplateId": "lt-1"}, {"LaunchTemplateId": "lt-2"})


def test_attributes_are_strings():
    assert attributes([{"Key": "a", "Value": True}, {"Key": "b", "Value": 60}, {"Key": "c", "Value": "x"}]) == [
        {"Key": "a", "Value": "true"},
        {"Key": "b", "Value": "60"},
        {"Key": "c", "Value": "x"},
    ]
    assert attributes(None) == []


def test_full_names():
    lb = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:loadbalancer/app/relay-app/50dc6c495c0c9188"
    tg = "arn:aws:elasticloadbalancing:eu-west-1:000000000000:targetgroup/relay-tg/73e2d6bc24d8a067"
    assert full_name(lb, "loadbalancer") == "app/relay-app/50dc6c495c0c9188"
    assert full_name(tg, "targetgroup") == "relay-tg/73e2d6bc24d8a067"


def test_targets_and_actions():
    assert targets([{"Id": "i-1", "Port": 80, "Other": 1}, {"Id": "i-2"}]) == [{"Id": "i-1", "Port": 80}, {"Id": "i-2"}]
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    forward = {"Type": "forward", "TargetGroupArn": "arn:tg", "Order": 1, "AuthenticateOidcConfig": None}
    assert listener_actions([redirect, forward]) == [
        redirect,
        {"Type": "forward", "TargetGroupArn": "arn:tg", "Order": 1},
    ]
