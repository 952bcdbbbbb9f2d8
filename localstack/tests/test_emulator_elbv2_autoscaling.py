"""ELBv2 and Auto Scaling from the plugin (moto behind our providers): an Auto Scaling group behind an
Application Load Balancer runs instances EC2 shows, registers them healthy in its target group, and a
scale-in to zero terminates and deregisters them (no healthy target left)."""

from __future__ import annotations

import pytest
from emulator_helpers import ACCOUNT, TARGET_A, client, network

pytestmark = pytest.mark.emulator

REGION = TARGET_A
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def image(region: str = REGION) -> str:
    return client("ssm", region).get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]


def healthy(elbv2, target_group: str) -> list[str]:
    described = elbv2.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
    return sorted(d["Target"]["Id"] for d in described if d["TargetHealth"]["State"] == "healthy")


def states(ec2, ids: list[str]) -> dict[str, str]:
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}


@pytest.mark.parametrize("region", ["eu-south-2", "eu-central-1", "eu-west-1"])
def test_public_ami_parameter_runs(region, res):
    ami = image(region)
    assert ami.startswith("ami-")
    ec2 = client("ec2", region)
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    assert instance["ImageId"] == ami


def test_group_behind_load_balancer_scales_to_zero_and_back(res):
    net = network(res, REGION, 42, "alb")
    ec2, elbv2, autoscaling = client("ec2", REGION), client("elbv2", REGION), client("autoscaling", REGION)

    lb = elbv2.create_load_balancer(
        Name=res.name("alb")[:32], Subnets=net["subnets"], SecurityGroups=[net["group"]], Type="application"
    )["LoadBalancers"][0]
    res.defer(elbv2.delete_load_balancer, LoadBalancerArn=lb["LoadBalancerArn"])
    assert lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/")
    assert lb["DNSName"].endswith(f".{REGION}.elb.amazonaws.com") and lb["CanonicalHostedZoneId"]

    tg = elbv2.create_target_group(
        Name=res.name("tg")[:32],
        Protocol="HTTP",
        Port=8080,
        VpcId=net["vpc"],
        TargetType="instance",
        HealthCheckPath="/healthz",
    )["TargetGroups"][0]["TargetGroupArn"]
    res.defer(elbv2.delete_target_group, TargetGroupArn=tg)
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]
    res.defer(elbv2.delete_listener, ListenerArn=listener["ListenerArn"])

    template = ec2.create_launch_template(
        LaunchTemplateName=res.name("lt"), LaunchTemplateData={"ImageId": image(), "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    res.defer(ec2.delete_launch_template, LaunchTemplateId=template)

    name = res.name("asg")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=2,
        MaxSize=2,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(net["subnets"]),
        TargetGroupARNs=[tg],
        HealthCheckType="ELB",
    )
    res.defer(autoscaling.delete_auto_scaling_group, AutoScalingGroupName=name, ForceDelete=True)

    def members() -> list[str]:
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return sorted(i["InstanceId"] for i in group["Instances"])

    first = members()
    assert len(first) == 2
    assert set(states(ec2, first).values()) == {"running"}
    assert healthy(elbv2, tg) == first

    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0)
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    assert members() == []
    assert set(states(ec2, first).values()) == {"terminated"}
    assert healthy(elbv2, tg) == []
    # asked about by id, a terminated target is no longer healthy either
    asked = elbv2.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": i} for i in first])
    assert {d["TargetHealth"]["State"] for d in asked["TargetHealthDescriptions"]} <= {"draining", "unused"}

    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    second = members()
    assert len(second) == 2 and not set(second) & set(first)
    assert healthy(elbv2, tg) == second

    # deleting the group terminates its instances and leaves the target group empty
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    assert set(states(ec2, second).values()) == {"terminated"}
    assert healthy(elbv2, tg) == []
