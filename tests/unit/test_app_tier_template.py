"""The application tier's template (app/sample/app-tier.yaml), read with cfn-lint's decoder: the parameter
contract with the pipeline, the standby and certificate conditions, least privilege of the instance role, the
outputs tools read; and the deploy policy (app/sample/deploy-policy.json) allowing what CloudFormation does
for it, on the names it gives, and nothing on every resource but reads. cfn-lint itself runs in the lint step."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from config.deploy_policy import problems, read_policy, render

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_ROOT / "app" / "sample" / "app-tier.yaml"
SSM = "AWS::SSM::Parameter::Value<{}>"


@pytest.fixture(scope="module")
def template() -> dict:
    decoded, matches = decode_str(TEMPLATE.read_text())
    assert not matches, [str(match) for match in matches]
    return json.loads(json.dumps(decoded))


def resource(template: dict, name: str) -> dict:
    return template["Resources"][name]


CONTRACT = {
    "ReleaseLabel": ("String", "initial"),
    "VpcId": (SSM.format("AWS::EC2::VPC::Id"), None),
    "PublicSubnetIds": (SSM.format("List<AWS::EC2::Subnet::Id>"), None),
    "AppSubnetIds": (SSM.format("List<AWS::EC2::Subnet::Id>"), None),
    "LoadBalancerSecurityGroupId": (SSM.format("AWS::EC2::SecurityGroup::Id"), None),
    "AppSecurityGroupId": (SSM.format("AWS::EC2::SecurityGroup::Id"), None),
    **{
        name: (SSM.format("String"), None)
        for name in (
            "SecretName",
            "TableName",
            "ImageRepositoryUrl",
            "ImageTag",
            "LoadBalancerName",
            "InstanceType",
            "Standby",
            "MinSize",
            "MaxSize",
            "DesiredCapacity",
            "StandbyCapacity",
            "CertificateArn",
        )
    },
    "AmiId": (
        SSM.format("AWS::EC2::Image::Id"),
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    ),
    "AppPort": ("Number", 8080),
    "HealthCheckPath": ("String", "/healthz"),
    "PermissionsBoundaryArn": ("String", "none"),
}


def test_every_parameter_of_the_contract_has_its_type_and_default_and_a_description(template):
    parameters = template["Parameters"]
    assert set(parameters) == set(CONTRACT)
    for name, (kind, default) in CONTRACT.items():
        assert parameters[name]["Type"] == kind, name
        assert parameters[name].get("Default") == default, name
        assert parameters[name]["Description"], name


def test_the_release_label_default_is_the_one_line_the_build_stamps():
    text = TEMPLATE.read_text()
    assert text.count("Default: initial") == 1
    assert re.search(r"\n  ReleaseLabel:\n    Type: String\n    Default: initial\n", text)


def test_the_release_label_pattern_keeps_quotes_and_spaces_out_of_the_user_data(template):
    pattern = re.compile(template["Parameters"]["ReleaseLabel"]["AllowedPattern"])
    assert pattern.fullmatch("initial") and pattern.fullmatch("r042315") and pattern.fullmatch("v1.2.3+build-7")
    assert not any(pattern.fullmatch(label) for label in ("r1'; reboot", "two words", "", "-x", "a" * 129))


def test_standby_and_certificate_conditions(template):
    assert template["Conditions"]["IsStandby"] == {"Fn::Equals": [{"Ref": "Standby"}, "true"]}
    assert template["Conditions"]["HasCertificate"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, "none"]}]
    }


def test_the_resources_are_exactly_the_tier_and_nothing_else(template):
    assert {name: body["Type"] for name, body in template["Resources"].items()} == {
        "InstanceRole": "AWS::IAM::Role",
        "InstanceProfile": "AWS::IAM::InstanceProfile",
        "LaunchTemplate": "AWS::EC2::LaunchTemplate",
        "LoadBalancer": "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "TargetGroup": "AWS::ElasticLoadBalancingV2::TargetGroup",
        "HttpListener": "AWS::ElasticLoadBalancingV2::Listener",
        "HttpsListener": "AWS::ElasticLoadBalancingV2::Listener",
        "AutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup",
        "ScalingPolicy": "AWS::AutoScaling::ScalingPolicy",
    }


def test_a_standby_region_runs_the_standby_capacity_for_all_three_sizes(template):
    group = resource(template, "AutoScalingGroup")
    properties = group["Properties"]
    for size in ("MinSize", "MaxSize", "DesiredCapacity"):
        assert properties[size] == {"Fn::If": ["IsStandby", {"Ref": "StandbyCapacity"}, {"Ref": size}]}, size
    assert template["Outputs"]["Capacity"]["Value"] == {
        "Fn::If": ["IsStandby", {"Ref": "StandbyCapacity"}, {"Ref": "DesiredCapacity"}]
    }
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling == {"MinInstancesInService": {"Fn::If": ["IsStandby", 0, {"Ref": "MinSize"}]}, "MaxBatchSize": 1}


def test_the_group_runs_the_latest_template_version_in_the_app_subnets_checked_by_the_load_balancer(template):
    properties = resource(template, "AutoScalingGroup")["Properties"]
    assert properties["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": "LaunchTemplate"},
        "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]},
    }
    assert properties["VPCZoneIdentifier"] == {"Ref": "AppSubnetIds"}
    assert properties["TargetGroupARNs"] == [{"Ref": "TargetGroup"}]
    assert (properties["HealthCheckType"], properties["HealthCheckGracePeriod"]) == ("ELB", 120)
    tags = {tag["Key"]: tag for tag in properties["Tags"]}
    assert set(tags) == {"Name", "relay:release"} and all(tag["PropagateAtLaunch"] for tag in tags.values())
    assert tags["relay:release"]["Value"] == {"Ref": "ReleaseLabel"}
    policy = resource(template, "ScalingPolicy")["Properties"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
        "TargetValue": 50,
    }


def test_https_only_with_a_certificate_and_http_then_redirects(template):
    https = resource(template, "HttpsListener")
    assert https["Condition"] == "HasCertificate"
    assert https["Properties"]["Port"] == 443 and https["Properties"]["Protocol"] == "HTTPS"
    assert https["Properties"]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert https["Properties"]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Properties"]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    http = resource(template, "HttpListener")
    assert "Condition" not in http
    assert (http["Properties"]["Port"], http["Properties"]["Protocol"]) == (80, "HTTP")
    condition, with_certificate, without = http["Properties"]["DefaultActions"]["Fn::If"]
    assert condition == "HasCertificate"
    assert with_certificate == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ]
    assert without == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert template["Outputs"]["ListenerProtocol"]["Value"] == {"Fn::If": ["HasCertificate", "HTTPS", "HTTP"]}


def test_load_balancer_and_target_group_settings(template):
    balancer = resource(template, "LoadBalancer")["Properties"]
    assert (balancer["Name"], balancer["Type"], balancer["Scheme"]) == (
        {"Ref": "LoadBalancerName"},
        "application",
        "internet-facing",
    )
    assert balancer["Subnets"] == {"Ref": "PublicSubnetIds"}
    assert balancer["SecurityGroups"] == [{"Ref": "LoadBalancerSecurityGroupId"}]
    assert {a["Key"]: a["Value"] for a in balancer["LoadBalancerAttributes"]} == {
        "routing.http.drop_invalid_header_fields.enabled": "true",
        "deletion_protection.enabled": "false",
        "idle_timeout.timeout_seconds": "60",
    }
    group = resource(template, "TargetGroup")["Properties"]
    assert (group["Protocol"], group["Port"], group["TargetType"], group["VpcId"]) == (
        "HTTP",
        {"Ref": "AppPort"},
        "instance",
        {"Ref": "VpcId"},
    )
    assert (group["HealthCheckPath"], group["Matcher"], group["HealthCheckIntervalSeconds"]) == (
        {"Ref": "HealthCheckPath"},
        {"HttpCode": "200"},
        10,
    )
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 2)
    assert group["TargetGroupAttributes"] == [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]


def test_the_launch_template_requires_imdsv2_encrypts_its_volume_and_runs_the_image_with_its_environment(template):
    data = resource(template, "LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "AmiId"} and data["InstanceType"] == {"Ref": "InstanceType"}
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}}
    assert data["SecurityGroupIds"] == [{"Ref": "AppSecurityGroupId"}]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    assert [m["Ebs"]["VolumeType"] for m in data["BlockDeviceMappings"]] == ["gp3"]
    assert all(m["Ebs"]["Encrypted"] is True for m in data["BlockDeviceMappings"])
    assert data["Monitoring"] == {"Enabled": True}
    instance_tags = next(spec for spec in data["TagSpecifications"] if spec["ResourceType"] == "instance")
    assert instance_tags["Tags"] == [{"Key": "relay:release", "Value": {"Ref": "ReleaseLabel"}}]
    script, variables = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert script.startswith("#!/bin/bash\nset -euo pipefail\n")
    assert "docker login --username AWS --password-stdin '${Registry}'" in script
    assert variables == {"Registry": {"Fn::Select": [0, {"Fn::Split": ["/", {"Ref": "ImageRepositoryUrl"}]}]}}
    assert "--restart always --publish '${AppPort}:8080'" in script
    for variable, value in [
        ("AWS_REGION", "AWS::Region"),
        ("RELEASE_LABEL", "ReleaseLabel"),
        ("STANDBY", "Standby"),
        ("SECRET_NAME", "SecretName"),
        ("TABLE_NAME", "TableName"),
    ]:
        assert f"--env '{variable}=${{{value}}}'" in script, variable
    assert script.rstrip().endswith("'${ImageRepositoryUrl}:${ImageTag}'")


def test_the_instance_role_is_for_ec2_of_this_account_with_no_managed_policies(template):
    role = resource(template, "InstanceRole")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    assert "ManagedPolicyArns" not in role
    assert role["PermissionsBoundary"] == {
        "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
    }
    assert resource(template, "InstanceProfile")["Properties"]["Roles"] == [{"Ref": "InstanceRole"}]


def instance_statements(template: dict) -> dict[str, dict]:
    (policy,) = resource(template, "InstanceRole")["Properties"]["Policies"]
    return {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}


def test_the_instance_role_reads_only_its_secret_and_table_and_pulls_only_its_image(template):
    statements = instance_statements(template)
    assert all(statement["Effect"] == "Allow" for statement in statements.values())
    wildcards = [sid for sid, statement in statements.items() if statement["Resource"] == "*"]
    assert wildcards == ["LogInToTheRegistry"]
    assert statements["LogInToTheRegistry"]["Action"] == "ecr:GetAuthorizationToken"
    assert statements["ReadTheSecret"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretName}-??????"
    }
    assert sorted(statements["UseTheTable"]["Action"]) == [
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    table = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
    assert statements["UseTheTable"]["Resource"] == [{"Fn::Sub": table}, {"Fn::Sub": f"{table}/index/*"}]
    decrypt = statements["DecryptThroughTheSecretAndTheTable"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [
                {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
                {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
            ]
        }
    }
    pull = statements["PullTheImage"]
    assert sorted(pull["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert pull["Resource"]["Fn::Sub"] == [
        "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${Repository}",
        {"Repository": {"Fn::Select": [1, {"Fn::Split": [".amazonaws.com/", {"Ref": "ImageRepositoryUrl"}]}]}},
    ]
    listed = [statement["Action"] for statement in statements.values()]
    actions = [action for entry in listed for action in (entry if isinstance(entry, list) else [entry])]
    assert len(actions) == 12 and not [action for action in actions if "*" in action]


def test_the_outputs_tools_read(template):
    outputs = template["Outputs"]
    assert set(outputs) == {
        "ReleaseLabel",
        "LoadBalancerArn",
        "LoadBalancerDnsName",
        "LoadBalancerHostedZoneId",
        "TargetGroupArn",
        "AutoScalingGroupName",
        "Standby",
        "Capacity",
        "ListenerProtocol",
    }
    assert outputs["ReleaseLabel"]["Value"] == {"Ref": "ReleaseLabel"}
    assert outputs["LoadBalancerDnsName"]["Value"] == {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}
    assert outputs["LoadBalancerHostedZoneId"]["Value"] == {"Fn::GetAtt": ["LoadBalancer", "CanonicalHostedZoneID"]}
    assert all(output["Description"] for output in outputs.values())


ACCOUNT, REGION = "111122223333", "eu-south-2"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/relay-sample-app-InstanceRole-1A2B3C4D5E6F"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/relay-sample-app-InstanceProfile-1A2B3C4D5E6F"
BALANCER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/relay-app/50dc6c495c0c9188"
GROUP = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:6d3c:autoScalingGroupName/relay-sample-app-ASG-X1"
TEMPLATE_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-0abcd1234"
CALLS = [
    ("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/relay/network/vpc-id", None),
    ("ssm:GetParameters", f"arn:aws:ssm:{REGION}::parameter/aws/service/ami-amazon-linux-latest/al2023", None),
    ("iam:CreateRole", ROLE, None),
    ("iam:PutRolePolicy", ROLE, None),
    ("iam:CreateInstanceProfile", PROFILE, None),
    ("iam:AddRoleToInstanceProfile", PROFILE, None),
    ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("ec2:CreateLaunchTemplate", TEMPLATE_ARN, None),
    ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-0123", None),
    ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/subnet-1", None),
    ("elasticloadbalancing:CreateLoadBalancer", BALANCER, None),
    (
        "elasticloadbalancing:CreateTargetGroup",
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/t/1",
        None,
    ),
    ("elasticloadbalancing:CreateListener", BALANCER, None),
    ("elasticloadbalancing:ModifyLoadBalancerAttributes", BALANCER, None),
    ("autoscaling:CreateAutoScalingGroup", GROUP, None),
    ("autoscaling:PutScalingPolicy", GROUP, None),
    ("autoscaling:DescribeAutoScalingGroups", "*", None),
    (
        "iam:CreateServiceLinkedRole",
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        {"iam:AWSServiceName": "autoscaling.amazonaws.com"},
    ),
]
DENIED = [
    ("iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/relay-local-pipeline-eu-west-1", None),
    ("ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-1", None),
    ("autoscaling:DeleteAutoScalingGroup", GROUP.replace("relay-sample-app-", "other-"), None),
    ("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/relay/network/vpc-id", None),
    ("ec2:TerminateInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1", None),
]


def allowed(statements, action: str, arn: str, context: dict | None) -> bool:
    """Whether an Allow statement matches (actions, resources and StringEquals conditions only)."""
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in actions):
            continue
        if not any(fnmatchcase(arn, pattern) for pattern in resources):
            continue
        tests = statement.get("Condition", {})
        assert set(tests) <= {"StringEquals"}, tests
        wanted = tests.get("StringEquals", {})
        if all((context or {}).get(key) in ([v] if isinstance(v, str) else v) for key, v in wanted.items()):
            return True
    return False


@pytest.fixture(scope="module")
def deploy_statements() -> tuple[dict, ...]:
    document = read_policy(PROJECT_ROOT, "app/sample/deploy-policy.json")
    assert problems(document) == []
    return render(document["Statement"], region=REGION, account_id=ACCOUNT, partition="aws")


@pytest.mark.parametrize(("action", "arn", "context"), CALLS, ids=[f"{a} {r.rsplit(':', 1)[-1]}" for a, r, _ in CALLS])
def test_the_deploy_policy_allows_what_cloudformation_does_for_the_tier(deploy_statements, action, arn, context):
    assert allowed(deploy_statements, action, arn, context)


@pytest.mark.parametrize(("action", "arn", "context"), DENIED, ids=[a for a, _, _ in DENIED])
def test_the_deploy_policy_allows_nothing_else(deploy_statements, action, arn, context):
    assert not allowed(deploy_statements, action, arn, context)


def test_the_deploy_policy_keeps_the_sample_parameter_statement_first_and_writes_on_named_resources_only():
    document = read_policy(PROJECT_ROOT, "app/sample/deploy-policy.json")
    assert document["Statement"][0]["Sid"] == "ManageTheSampleParameter"
    for statement in document["Statement"]:
        if statement["Resource"] == "*":
            actions = statement["Action"]
            assert all(re.match(r"[a-z0-9]+:Describe", action) for action in actions), statement["Sid"]
