"""CloudFormation creates, updates and deletes the application tier for real: launch template, Auto Scaling
group and scaling policy, Application Load Balancer, target group and listener (the plugin's resource
providers, cfn_app_tier.py), with an instance role and profile, subnets from an SSM list parameter and the
AMI from AWS's public parameter."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import client, network

from tools.wait import wait_for

pytestmark = pytest.mark.emulator

REGION = "eu-central-1"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  VpcId:
    Type: String
  Subnets:
    Type: AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>
  GroupSubnets:
    Type: CommaDelimitedList
  SecurityGroup:
    Type: String
  AmiId:
    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>
    Default: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
  LoadBalancerName:
    Type: String
  Release:
    Type: String
  Desired:
    Type: String
  AppPort:
    Type: Number
    Default: 8080
Resources:
  InstanceRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: ec2.amazonaws.com}
            Action: sts:AssumeRole
  InstanceProfile:
    Type: AWS::IAM::InstanceProfile
    Properties:
      Roles: [!Ref InstanceRole]
  LaunchTemplate:
    Type: AWS::EC2::LaunchTemplate
    Properties:
      LaunchTemplateData:
        ImageId: !Ref AmiId
        InstanceType: t3.micro
        IamInstanceProfile:
          Arn: !GetAtt InstanceProfile.Arn
        SecurityGroupIds: [!Ref SecurityGroup]
        MetadataOptions:
          HttpTokens: required
          HttpPutResponseHopLimit: 2
        TagSpecifications:
          - ResourceType: instance
            Tags:
              - Key: relay:release
                Value: !Ref Release
        UserData: !Base64
          Fn::Sub: |
            #!/bin/bash
            echo 'release ${Release}' > /etc/relay-release
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: !Ref LoadBalancerName
      Type: application
      Scheme: internet-facing
      Subnets: !Ref Subnets
      SecurityGroups: [!Ref SecurityGroup]
      LoadBalancerAttributes:
        - Key: idle_timeout.timeout_seconds
          Value: "60"
  TargetGroup:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      VpcId: !Ref VpcId
      TargetType: instance
      Protocol: HTTP
      Port: !Ref AppPort
      HealthCheckEnabled: true
      HealthCheckProtocol: HTTP
      HealthCheckPath: /healthz
      HealthCheckIntervalSeconds: 10
      HealthyThresholdCount: 2
      UnhealthyThresholdCount: 2
      Matcher:
        HttpCode: "200"
      TargetGroupAttributes:
        - Key: deregistration_delay.timeout_seconds
          Value: "30"
  HttpListener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - Type: forward
          TargetGroupArn: !Ref TargetGroup
  RedirectListener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 8081
      Protocol: HTTP
      DefaultActions:
        - Type: redirect
          RedirectConfig:
            Protocol: HTTP
            Port: "80"
            StatusCode: HTTP_301
  AutoScalingGroup:
    Type: AWS::AutoScaling::AutoScalingGroup
    DependsOn: HttpListener
    Properties:
      VPCZoneIdentifier: !Ref GroupSubnets
      LaunchTemplate:
        LaunchTemplateId: !Ref LaunchTemplate
        Version: !GetAtt LaunchTemplate.LatestVersionNumber
      MinSize: !Ref Desired
      MaxSize: "2"
      DesiredCapacity: !Ref Desired
      TargetGroupARNs: [!Ref TargetGroup]
      HealthCheckType: ELB
      HealthCheckGracePeriod: 120
      Tags:
        - Key: Name
          Value: !Sub "${AWS::StackName}-app"
          PropagateAtLaunch: true
  ScalingPolicy:
    Type: AWS::AutoScaling::ScalingPolicy
    Properties:
      AutoScalingGroupName: !Ref AutoScalingGroup
      PolicyType: TargetTrackingScaling
      TargetTrackingConfiguration:
        PredefinedMetricSpecification:
          PredefinedMetricType: ASGAverageCPUUtilization
        TargetValue: 50
Outputs:
  LoadBalancerArn:
    Value: !Ref LoadBalancer
  DnsName:
    Value: !GetAtt LoadBalancer.DNSName
  ZoneId:
    Value: !GetAtt LoadBalancer.CanonicalHostedZoneID
  FullName:
    Value: !GetAtt LoadBalancer.LoadBalancerFullName
  LbName:
    Value: !GetAtt LoadBalancer.LoadBalancerName
  TargetGroupArn:
    Value: !Ref TargetGroup
  TargetGroupFullName:
    Value: !GetAtt TargetGroup.TargetGroupFullName
  TargetGroupName:
    Value: !GetAtt TargetGroup.TargetGroupName
  Listener:
    Value: !Ref HttpListener
  GroupName:
    Value: !Ref AutoScalingGroup
  PolicyArn:
    Value: !Ref ScalingPolicy
  LaunchTemplateId:
    Value: !Ref LaunchTemplate
  LatestVersion:
    Value: !GetAtt LaunchTemplate.LatestVersionNumber
  DefaultVersion:
    Value: !GetAtt LaunchTemplate.DefaultVersionNumber
"""


@pytest.fixture
def tier(res):
    """A VPC with two subnets (their ids in an SSM StringList parameter) and a security group."""
    net = network(res, REGION, 43, "app")
    ssm = client("ssm", REGION)
    parameter = f"/relay/test/{res.uid}/subnets"
    ssm.put_parameter(Name=parameter, Type="StringList", Value=",".join(net["subnets"]))
    res.defer(ssm.delete_parameter, Name=parameter)
    return {**net, "parameter": parameter}


def parameters(tier: dict, lb_name: str, release: str, desired: str, group_subnets=None) -> list[dict]:
    values = {
        "VpcId": tier["vpc"],
        "Subnets": tier["parameter"],
        "GroupSubnets": ",".join(group_subnets or tier["subnets"]),
        "SecurityGroup": tier["group"],
        "LoadBalancerName": lb_name,
        "Release": release,
        "Desired": desired,
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def settled(cfn, name: str) -> dict:
    def done():
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return found if not found["StackStatus"].endswith("_IN_PROGRESS") else None

    return wait_for(f"stack {name} to settle", done, timeout=90, interval=0.3)


def outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deleted(cfn, stack_id: str) -> bool:
    try:
        return cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    except ClientError as e:
        if "does not exist" in str(e):
            return True
        raise


def failure_reasons(cfn, name: str) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return " | ".join(e.get("ResourceStatusReason", "") for e in events if "FAILED" in e["ResourceStatus"])


def group_of(name: str) -> dict:
    return client("autoscaling", REGION).describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]


def healthy(target_group: str) -> list[str]:
    described = client("elbv2", REGION).describe_target_health(TargetGroupArn=target_group)
    return sorted(
        d["Target"]["Id"] for d in described["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"
    )


def states(ids: list[str]) -> dict[str, str]:
    found = client("ec2", REGION).describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}


def test_tier_created_updated_deleted(tier, res):
    cfn, ec2, elbv2 = client("cloudformation", REGION), client("ec2", REGION), client("elbv2", REGION)
    autoscaling = client("autoscaling", REGION)
    name, lb_name = res.name("tier"), res.name("alb")[:32]
    res.defer(cfn.delete_stack, StackName=name)

    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=parameters(tier, lb_name, "r1", "2"),
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = settled(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, name)
    out = outputs(stack)

    lb = elbv2.describe_load_balancers(Names=[lb_name])["LoadBalancers"][0]
    assert out["LoadBalancerArn"] == lb["LoadBalancerArn"]
    assert out["DnsName"] == lb["DNSName"] and out["ZoneId"] == lb["CanonicalHostedZoneId"]
    assert out["LbName"] == lb_name and out["FullName"] == lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    assert out["FullName"].startswith(f"app/{lb_name}/")
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(tier["subnets"])
    assert lb["SecurityGroups"] == [tier["group"]]
    attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in attrs

    tg = elbv2.describe_target_groups(TargetGroupArns=[out["TargetGroupArn"]])["TargetGroups"][0]
    assert (tg["Port"], tg["Protocol"], tg["HealthCheckPath"], tg["Matcher"]["HttpCode"]) == (
        8080,
        "HTTP",
        "/healthz",
        "200",
    )
    assert out["TargetGroupFullName"] == "targetgroup/" + out["TargetGroupArn"].split(":targetgroup/")[1]
    assert out["TargetGroupName"] == tg["TargetGroupName"]
    tg_attrs = elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in tg_attrs
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    actions = {listener["Port"]: listener["DefaultActions"][0] for listener in listeners}
    assert actions[80]["Type"] == "forward" and actions[80]["TargetGroupArn"] == tg["TargetGroupArn"]
    assert actions[8081]["Type"] == "redirect" and actions[8081]["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert out["Listener"] in {listener["ListenerArn"] for listener in listeners}

    ami = client("ssm", REGION).get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    template = ec2.describe_launch_templates(LaunchTemplateIds=[out["LaunchTemplateId"]])["LaunchTemplates"][0]
    assert (out["LatestVersion"], out["DefaultVersion"]) == ("1", "1")
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"], Versions=["1"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    assert data["ImageId"] == ami["Parameter"]["Value"]

    group = group_of(out["GroupName"])
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 2, 2)
    assert group["TargetGroupARNs"] == [tg["TargetGroupArn"]] and group["HealthCheckType"] == "ELB"
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template["LaunchTemplateId"]
    assert {"Key": "Name", "Value": f"{name}-app"} in [{"Key": t["Key"], "Value": t["Value"]} for t in group["Tags"]]
    first = sorted(i["InstanceId"] for i in group["Instances"])
    assert len(first) == 2 and set(states(first).values()) == {"running"}
    assert healthy(tg["TargetGroupArn"]) == first
    policies = autoscaling.describe_policies(AutoScalingGroupName=out["GroupName"])["ScalingPolicies"]
    assert [p["PolicyARN"] for p in policies] == [out["PolicyArn"]]
    assert policies[0]["PolicyType"] == "TargetTrackingScaling"
    assert policies[0]["TargetTrackingConfiguration"]["TargetValue"] == 50

    # a release: new user data (a new launch template version, made default) and one instance
    cfn.update_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=parameters(tier, lb_name, "r2", "1"),
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = settled(cfn, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", failure_reasons(cfn, name)
    out = outputs(stack)
    assert (out["LatestVersion"], out["DefaultVersion"]) == ("2", "2")
    assert out["LoadBalancerArn"] == lb["LoadBalancerArn"] and out["TargetGroupArn"] == tg["TargetGroupArn"]
    template = ec2.describe_launch_templates(LaunchTemplateIds=[out["LaunchTemplateId"]])["LaunchTemplates"][0]
    assert (template["LatestVersionNumber"], template["DefaultVersionNumber"]) == (2, 2)
    group = group_of(out["GroupName"])
    assert (group["MinSize"], group["DesiredCapacity"]) == (1, 1)
    assert group["LaunchTemplate"]["Version"] == "2"
    serving = sorted(i["InstanceId"] for i in group["Instances"])
    assert len(serving) == 1 and not set(serving) & set(first)  # the release replaced the instances
    assert healthy(tg["TargetGroupArn"]) == serving
    assert set(states(first).values()) == {"terminated"}

    cfn.delete_stack(StackName=name)
    wait_for(f"stack {name} deleted", lambda: deleted(cfn, stack["StackId"]), timeout=60, interval=0.3)
    assert set(states(first + serving).values()) == {"terminated"}
    assert not autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[out["GroupName"]])["AutoScalingGroups"]
    with pytest.raises(ClientError):
        elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])
    with pytest.raises(ClientError):
        elbv2.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])
    remaining = ec2.describe_launch_templates()["LaunchTemplates"]
    assert out["LaunchTemplateId"] not in {t["LaunchTemplateId"] for t in remaining}


def test_nonexistent_subnet_fails_the_stack(tier, res):
    cfn = client("cloudformation", REGION)
    name, lb_name = res.name("broken"), res.name("alb")[:32]
    res.defer(cfn.delete_stack, StackName=name)
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=parameters(tier, lb_name, "r1", "2", group_subnets=["subnet-00000000000000000"]),
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = settled(cfn, name)
    assert stack["StackStatus"] in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"), stack["StackStatus"]
    reasons = failure_reasons(cfn, name)
    assert "subnet-00000000000000000" in reasons, reasons
    # nothing of the group runs
    groups = client("autoscaling", REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    assert not [g for g in groups if g["AutoScalingGroupName"].startswith(name)]
