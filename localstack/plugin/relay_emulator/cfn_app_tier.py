"""CloudFormation resource providers for the application tier: launch template, Auto Scaling, ELBv2.

LocalStack 4.14 community has no resource provider for these types (``cloudformation.py`` makes a stack
that uses one fail instead of "deploying" it as a fallback). The plugin registers one provider per type in
LocalStack's ``localstack.cloudformation.resource_providers`` namespace (entry points in ``pyproject.toml``);
each calls the emulator's own APIs (EC2 from LocalStack, ELBv2 and Auto Scaling from the plugin's moto
providers) through the resource request's internal clients, so creation really creates, and any error of
the API fails the resource (and the stack). Updates are in place where AWS updates in place:

* ``AWS::EC2::LaunchTemplate``: Ref = LaunchTemplateId; GetAtt LatestVersionNumber, DefaultVersionNumber,
  LaunchTemplateId. A changed ``LaunchTemplateData`` creates a new version and makes it the default.
* ``AWS::AutoScaling::AutoScalingGroup``: Ref = group name. LaunchTemplate, sizes, subnets, health check,
  target groups (attach / detach) and tags update in place; delete terminates its instances.
* ``AWS::AutoScaling::ScalingPolicy``: Ref = policy ARN (GetAtt Arn, PolicyName); updates re-put the policy.
* ``AWS::ElasticLoadBalancingV2::LoadBalancer``: Ref = ARN; GetAtt DNSName, CanonicalHostedZoneID,
  LoadBalancerFullName, LoadBalancerName, LoadBalancerArn, SecurityGroups. Subnets, security groups and
  attributes update in place; Name, Scheme and Type replace.
* ``AWS::ElasticLoadBalancingV2::TargetGroup``: Ref = ARN; GetAtt TargetGroupFullName, TargetGroupName,
  TargetGroupArn, LoadBalancerArns. Health check settings, matcher, attributes and targets update in place.
* ``AWS::ElasticLoadBalancingV2::Listener``: Ref = ARN (GetAtt ListenerArn); port, protocol, certificates,
  SSL policy and default actions (forward, redirect, fixed-response) update in place.

Only the properties listed in each provider are read; any other property of the type is ignored.
"""

from __future__ import annotations

from localstack.services.cloudformation.resource_provider import ProgressEvent, ResourceProvider, ResourceRequest

from relay_emulator.cfn_providers import delete_named, done, previous_state, provider_plugin, removed, schema
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

# --------------------------------------------------------------------------- EC2 launch template


class LaunchTemplateProvider(ResourceProvider[dict]):
    TYPE = "AWS::EC2::LaunchTemplate"
    SCHEMA = schema(
        "LaunchTemplateId",
        create_only=["LaunchTemplateName"],
        read_only=["LaunchTemplateId", "LatestVersionNumber", "DefaultVersionNumber"],
    )

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        ec2 = request.aws_client_factory.ec2
        name = model.get("LaunchTemplateName") or physical_name(request.stack_name, request.logical_resource_id, 128)
        params = {"LaunchTemplateName": name, "LaunchTemplateData": model.get("LaunchTemplateData") or {}}
        if model.get("VersionDescription"):
            params["VersionDescription"] = model["VersionDescription"]
        if model.get("TagSpecifications"):
            params["TagSpecifications"] = model["TagSpecifications"]
        template = ec2.create_launch_template(**params)["LaunchTemplate"]
        model.update(self._ids(template, name))
        return done(model)

    @staticmethod
    def _ids(template: dict, name: str) -> dict:
        return {
            "LaunchTemplateId": template["LaunchTemplateId"],
            "LaunchTemplateName": name,
            "LatestVersionNumber": str(template["LatestVersionNumber"]),
            "DefaultVersionNumber": str(template["DefaultVersionNumber"]),
        }

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        ec2 = request.aws_client_factory.ec2
        template_id = previous["LaunchTemplateId"]
        keep = pick(previous, ["LaunchTemplateId", "LaunchTemplateName", "LatestVersionNumber", "DefaultVersionNumber"])
        if model.get("LaunchTemplateData") != previous.get("LaunchTemplateData") or model.get(
            "VersionDescription"
        ) != previous.get("VersionDescription"):
            params = {"LaunchTemplateId": template_id, "LaunchTemplateData": model.get("LaunchTemplateData") or {}}
            if model.get("VersionDescription"):
                params["VersionDescription"] = model["VersionDescription"]
            version = ec2.create_launch_template_version(**params)["LaunchTemplateVersion"]["VersionNumber"]
            ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
        template = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
        model.update(keep)
        model.update(self._ids(template, keep.get("LaunchTemplateName") or template["LaunchTemplateName"]))
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return delete_named(request, "LaunchTemplateId", lambda: request.aws_client_factory.ec2.delete_launch_template)


# --------------------------------------------------------------------------- Auto Scaling group

ASG_SETTINGS = (
    "MinSize",
    "MaxSize",
    "DesiredCapacity",
    "HealthCheckType",
    "HealthCheckGracePeriod",
    "DefaultCooldown",
    "LaunchConfigurationName",
    "NewInstancesProtectedFromScaleIn",
    "CapacityRebalance",
    "MaxInstanceLifetime",
    "TerminationPolicies",
    "AvailabilityZones",
)


def group_instances(autoscaling, name: str) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return [i["InstanceId"] for group in groups for i in group["Instances"]]


class AutoScalingGroupProvider(ResourceProvider[dict]):
    TYPE = "AWS::AutoScaling::AutoScalingGroup"
    SCHEMA = schema("AutoScalingGroupName", create_only=["AutoScalingGroupName", "InstanceId"])

    @staticmethod
    def _check_subnets(request: ResourceRequest, subnets: list[str]) -> None:
        # fail loudly on a subnet that does not exist (DescribeSubnets answers InvalidSubnetID.NotFound)
        if subnets:
            request.aws_client_factory.ec2.describe_subnets(SubnetIds=subnets)

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        autoscaling = request.aws_client_factory.autoscaling
        name = model.get("AutoScalingGroupName") or physical_name(request.stack_name, request.logical_resource_id, 255)
        subnets = as_list(model.get("VPCZoneIdentifier"))
        self._check_subnets(request, subnets)
        params = pick(model, ASG_SETTINGS)
        params["AutoScalingGroupName"] = name
        if model.get("LaunchTemplate"):
            params["LaunchTemplate"] = launch_template_spec(model["LaunchTemplate"])
        if model.get("MixedInstancesPolicy"):
            params["MixedInstancesPolicy"] = model["MixedInstancesPolicy"]
        if subnets:
            params["VPCZoneIdentifier"] = ",".join(subnets)
        if model.get("TargetGroupARNs"):
            params["TargetGroupARNs"] = as_list(model["TargetGroupARNs"])
        if model.get("Tags"):
            params["Tags"] = asg_tags(name, model["Tags"])
        autoscaling.create_auto_scaling_group(**params)
        model["AutoScalingGroupName"] = name
        return done(model)

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        autoscaling = request.aws_client_factory.autoscaling
        name = previous["AutoScalingGroupName"]
        subnets = as_list(model.get("VPCZoneIdentifier"))
        self._check_subnets(request, subnets)
        params = pick(model, ASG_SETTINGS)
        params["AutoScalingGroupName"] = name
        if model.get("LaunchTemplate"):
            params["LaunchTemplate"] = launch_template_spec(model["LaunchTemplate"])
        if subnets:
            params["VPCZoneIdentifier"] = ",".join(subnets)
        autoscaling.update_auto_scaling_group(**params)
        if replaces_instances(previous.get("LaunchTemplate"), model.get("LaunchTemplate")):
            # a new launch template (version) replaces the running instances one at a time, as the
            # AutoScalingRollingUpdate policy of a release does (MaxBatchSize 1)
            for instance in group_instances(autoscaling, name):
                autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance, ShouldDecrementDesiredCapacity=False
                )

        before = set(as_list(previous.get("TargetGroupARNs")))
        after = set(as_list(model.get("TargetGroupARNs")))
        if before - after:
            autoscaling.detach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(before - after)
            )
        if after - before:
            autoscaling.attach_load_balancer_target_groups(
                AutoScalingGroupName=name, TargetGroupARNs=sorted(after - before)
            )

        old_tags = {t["Key"] for t in previous.get("Tags") or []}
        new_tags = model.get("Tags") or []
        gone = old_tags - {t["Key"] for t in new_tags}
        if gone:
            autoscaling.delete_tags(
                Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k} for k in sorted(gone)]
            )
        if new_tags:
            autoscaling.create_or_update_tags(Tags=asg_tags(name, new_tags))
        model["AutoScalingGroupName"] = name
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        name = request.desired_state.get("AutoScalingGroupName")
        if name:
            autoscaling = request.aws_client_factory.autoscaling
            if autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
                autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
        return removed()


# --------------------------------------------------------------------------- Auto Scaling policy

POLICY_SETTINGS = (
    "PolicyType",
    "AdjustmentType",
    "ScalingAdjustment",
    "Cooldown",
    "MinAdjustmentMagnitude",
    "MetricAggregationType",
    "StepAdjustments",
    "EstimatedInstanceWarmup",
    "TargetTrackingConfiguration",
    "PredictiveScalingConfiguration",
)


class ScalingPolicyProvider(ResourceProvider[dict]):
    TYPE = "AWS::AutoScaling::ScalingPolicy"
    SCHEMA = schema("Arn", create_only=["AutoScalingGroupName"], read_only=["Arn", "PolicyName"])

    @staticmethod
    def _put(request: ResourceRequest, model: dict, name: str) -> dict:
        autoscaling = request.aws_client_factory.autoscaling
        group = model["AutoScalingGroupName"]
        # AWS refuses a policy for a group that does not exist; so does the emulator
        if not autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]:
            raise ValueError(f"Auto Scaling group {group} not found")
        params = pick(model, POLICY_SETTINGS)
        arn = autoscaling.put_scaling_policy(AutoScalingGroupName=group, PolicyName=name, **params)["PolicyARN"]
        model.update({"Arn": arn, "PolicyName": name})
        return model

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        name = physical_name(request.stack_name, request.logical_resource_id, 255)
        return done(self._put(request, model, name))

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        return done(self._put(request, dict(request.desired_state), previous["PolicyName"]))

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = request.desired_state
        if model.get("PolicyName") and model.get("AutoScalingGroupName"):
            autoscaling = request.aws_client_factory.autoscaling
            groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[model["AutoScalingGroupName"]])
            if groups["AutoScalingGroups"]:
                autoscaling.delete_policy(
                    AutoScalingGroupName=model["AutoScalingGroupName"], PolicyName=model["PolicyName"]
                )
        return removed()


# --------------------------------------------------------------------------- ELBv2


class LoadBalancerProvider(ResourceProvider[dict]):
    TYPE = "AWS::ElasticLoadBalancingV2::LoadBalancer"
    SCHEMA = schema(
        "LoadBalancerArn",
        create_only=["Name", "Scheme", "Type"],
        read_only=["LoadBalancerArn", "DNSName", "CanonicalHostedZoneID", "LoadBalancerFullName", "LoadBalancerName"],
    )

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        elbv2 = request.aws_client_factory.elbv2
        name = model.get("Name") or physical_name(request.stack_name, request.logical_resource_id, 32)
        params = pick(model, ["Scheme", "Type", "IpAddressType", "SubnetMappings", "Tags"])
        params["Name"] = name
        if model.get("Subnets"):
            params["Subnets"] = as_list(model["Subnets"])
            request.aws_client_factory.ec2.describe_subnets(SubnetIds=params["Subnets"])
        if model.get("SecurityGroups"):
            params["SecurityGroups"] = as_list(model["SecurityGroups"])
        lb = elbv2.create_load_balancer(**params)["LoadBalancers"][0]
        arn = lb["LoadBalancerArn"]
        if model.get("LoadBalancerAttributes"):
            elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=attributes(model["LoadBalancerAttributes"])
            )
        model.update(self._read(lb))
        return done(model)

    @staticmethod
    def _read(lb: dict) -> dict:
        arn = lb["LoadBalancerArn"]
        return {
            "LoadBalancerArn": arn,
            "DNSName": lb["DNSName"],
            "CanonicalHostedZoneID": lb["CanonicalHostedZoneId"],
            "LoadBalancerFullName": full_name(arn, "loadbalancer"),
            "LoadBalancerName": lb["LoadBalancerName"],
            "SecurityGroups": lb.get("SecurityGroups") or [],
        }

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        elbv2 = request.aws_client_factory.elbv2
        arn = previous["LoadBalancerArn"]
        subnets = as_list(model.get("Subnets"))
        if subnets and set(subnets) != set(as_list(previous.get("Subnets"))):
            request.aws_client_factory.ec2.describe_subnets(SubnetIds=subnets)
            elbv2.set_subnets(LoadBalancerArn=arn, Subnets=subnets)
        groups = as_list(model.get("SecurityGroups"))
        if groups and set(groups) != set(as_list(previous.get("SecurityGroups"))):
            elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=groups)
        if model.get("LoadBalancerAttributes"):
            elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=attributes(model["LoadBalancerAttributes"])
            )
        lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        model.update(self._read(lb))
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return delete_named(request, "LoadBalancerArn", lambda: request.aws_client_factory.elbv2.delete_load_balancer)


TG_HEALTH = (
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckEnabled",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)


class TargetGroupProvider(ResourceProvider[dict]):
    TYPE = "AWS::ElasticLoadBalancingV2::TargetGroup"
    SCHEMA = schema(
        "TargetGroupArn",
        create_only=["Name", "Port", "Protocol", "ProtocolVersion", "TargetType", "VpcId", "IpAddressType"],
        read_only=["TargetGroupArn", "TargetGroupFullName", "TargetGroupName", "LoadBalancerArns"],
    )

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        elbv2 = request.aws_client_factory.elbv2
        name = model.get("Name") or physical_name(request.stack_name, request.logical_resource_id, 32)
        params = pick(
            model, ("Protocol", "ProtocolVersion", "Port", "VpcId", "TargetType", "IpAddressType", "Tags", *TG_HEALTH)
        )
        params["Name"] = name
        group = elbv2.create_target_group(**params)["TargetGroups"][0]
        arn = group["TargetGroupArn"]
        if model.get("TargetGroupAttributes"):
            elbv2.modify_target_group_attributes(
                TargetGroupArn=arn, Attributes=attributes(model["TargetGroupAttributes"])
            )
        if model.get("Targets"):
            elbv2.register_targets(TargetGroupArn=arn, Targets=targets(model["Targets"]))
        model.update(self._read(group))
        return done(model)

    @staticmethod
    def _read(group: dict) -> dict:
        arn = group["TargetGroupArn"]
        return {
            "TargetGroupArn": arn,
            "TargetGroupFullName": "targetgroup/" + full_name(arn, "targetgroup"),  # targetgroup/name/id
            "TargetGroupName": group["TargetGroupName"],
            "LoadBalancerArns": group.get("LoadBalancerArns") or [],
        }

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        elbv2 = request.aws_client_factory.elbv2
        arn = previous["TargetGroupArn"]
        health = pick(model, TG_HEALTH)
        if health:
            elbv2.modify_target_group(TargetGroupArn=arn, **health)
        if model.get("TargetGroupAttributes"):
            elbv2.modify_target_group_attributes(
                TargetGroupArn=arn, Attributes=attributes(model["TargetGroupAttributes"])
            )
        before = {t["Id"]: t for t in targets(previous.get("Targets"))}
        after = {t["Id"]: t for t in targets(model.get("Targets"))}
        if set(before) - set(after):
            elbv2.deregister_targets(TargetGroupArn=arn, Targets=[before[i] for i in sorted(set(before) - set(after))])
        if set(after) - set(before):
            elbv2.register_targets(TargetGroupArn=arn, Targets=[after[i] for i in sorted(set(after) - set(before))])
        group = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
        model.update(self._read(group))
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return delete_named(request, "TargetGroupArn", lambda: request.aws_client_factory.elbv2.delete_target_group)


class ListenerProvider(ResourceProvider[dict]):
    TYPE = "AWS::ElasticLoadBalancingV2::Listener"
    SCHEMA = schema("ListenerArn", create_only=["LoadBalancerArn"], read_only=["ListenerArn"])

    def create(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        model = dict(request.desired_state)
        elbv2 = request.aws_client_factory.elbv2
        params = pick(model, ["LoadBalancerArn", "Protocol", "Port", "SslPolicy", "Certificates", "AlpnPolicy"])
        params["DefaultActions"] = listener_actions(model.get("DefaultActions"))
        listener = elbv2.create_listener(**params)["Listeners"][0]
        model["ListenerArn"] = listener["ListenerArn"]
        return done(model)

    def update(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        previous = previous_state(request)
        model = dict(request.desired_state)
        params = pick(model, ["Protocol", "Port", "SslPolicy", "Certificates", "AlpnPolicy"])
        params["DefaultActions"] = listener_actions(model.get("DefaultActions"))
        request.aws_client_factory.elbv2.modify_listener(ListenerArn=previous["ListenerArn"], **params)
        model["ListenerArn"] = previous["ListenerArn"]
        return done(model)

    def delete(self, request: ResourceRequest[dict]) -> ProgressEvent[dict]:
        return delete_named(request, "ListenerArn", lambda: request.aws_client_factory.elbv2.delete_listener)


# --------------------------------------------------------------------------- plugins (entry points)


LaunchTemplatePlugin = provider_plugin(LaunchTemplateProvider)
AutoScalingGroupPlugin = provider_plugin(AutoScalingGroupProvider)
ScalingPolicyPlugin = provider_plugin(ScalingPolicyProvider)
LoadBalancerPlugin = provider_plugin(LoadBalancerProvider)
TargetGroupPlugin = provider_plugin(TargetGroupProvider)
ListenerPlugin = provider_plugin(ListenerProvider)
