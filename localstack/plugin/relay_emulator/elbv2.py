"""Elastic Load Balancing v2 and Auto Scaling: moto's backends behind the plugin's providers.

LocalStack 4.14 community answers 501 for both services; the plugin serves them from moto (``providers.py``,
``elbv2`` and ``autoscaling``), whose Auto Scaling launches its instances in moto's EC2 (the EC2 LocalStack
serves) and registers them in moto's ELBv2 target groups. What moto misses and this module patches:

* an instance the Auto Scaling group terminates itself (scale-in by ``SetDesiredCapacity`` /
  ``UpdateAutoScalingGroup``, ``DeleteAutoScalingGroup``, ``TerminateInstanceInAutoScalingGroup``) stayed
  registered, "healthy", in its target groups: moto only deregisters instances terminated through EC2's
  ``TerminateInstances`` API. Every termination in moto's EC2 backend now deregisters the instance from the
  region's target groups, as the API path does;
* a registered instance that is not running (terminated, shutting down, stopped, pending) is never reported
  ``healthy``;
* ``PutScalingPolicy`` answered ``PolicyArn`` where the API's shape says ``PolicyARN``: clients saw no ARN;
* ``CreateLaunchTemplateVersion`` kept ``UserData`` unparsed (``CreateLaunchTemplate`` parses it): a group then
  failed (500) to launch any instance from such a version. The version's user data is parsed as at creation.

Target health is otherwise moto's: a registered, running instance target is ``healthy`` (nothing probes
port 8080 or the health check path). ``healthy_targets`` reads that state for other modules (Route 53's
alias target-health evaluation).
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patches

LOG = logging.getLogger("relay_emulator.elbv2")
PATCHES = Patches()

NOT_SERVING = {
    "terminated": ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "shutting-down": ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "stopped": ("unused", "Target.InvalidState", "Target is in the stopped state"),
    "stopping": ("unused", "Target.InvalidState", "Target is in the stopping state"),
    "pending": ("initial", "Elb.RegistrationInProgress", "Target registration is in progress"),
}


def install() -> None:
    """Patch moto's EC2 instance termination and ELBv2 target health (idempotent)."""
    if PATCHES.patches:
        return
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult
    from moto.core.types import Base64EncodedString
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends

    def terminate_instances(original, self, instance_ids):
        result = original(self, instance_ids)
        ids = [instance.id for instance, _ in result]
        if ids:
            elbv2_backends[self.account_id][self.region_name].notify_terminate_instances(ids)
        return result

    def health_for(original, self, target, ec2_backend):
        status = original(self, target, ec2_backend)
        if status.status == "healthy" and str(status.instance_id).startswith("i-"):
            instance = _instance(ec2_backend, status.instance_id)
            state = getattr(instance, "state", None) if instance is not None else "terminated"
            if state in NOT_SERVING:
                code, reason, description = NOT_SERVING[state]
                return FakeHealthStatus(
                    status.instance_id, status.port, status.health_check_port, code, reason, description
                )
        return status

    def put_scaling_policy(original, self):
        result = original(self)
        body = getattr(result, "result", None)
        if isinstance(body, dict) and "PolicyArn" in body:
            body = {("PolicyARN" if k == "PolicyArn" else k): v for k, v in body.items()}
            return ActionResult(body)
        return result

    def create_version(original, self, data, description):
        user_data = (data or {}).get("UserData")
        if user_data is not None and not isinstance(user_data, Base64EncodedString):
            data = {**data, "UserData": parse_user_data(user_data)}
        return original(self, data, description)

    PATCHES.function(InstanceBackend.terminate_instances, terminate_instances)
    PATCHES.function(LaunchTemplate.create_version, create_version)
    PATCHES.function(AutoScalingResponse.put_scaling_policy, put_scaling_policy)
    PATCHES.function(FakeTargetGroup.health_for, health_for)
    PATCHES.apply()
    LOG.info("relay ELBv2 / Auto Scaling patches installed (terminated instances leave their target groups)")


def _instance(ec2_backend, instance_id: str):
    try:
        return ec2_backend.get_instance_by_id(instance_id)
    except Exception:  # moto raises InvalidInstanceID.NotFound for unknown ids
        return None


def healthy_targets(account_id: str, region: str, load_balancer_arn: str) -> list[dict]:
    """The healthy targets behind a load balancer, from moto's ELBv2 backend in that account and region.

    Every target group attached to the load balancer (through a listener's or rule's action) counts; each
    entry is ``{"TargetGroupArn", "Id", "Port"}``. An unknown load balancer gives ``[]`` (no healthy target).
    """
    from moto.elbv2.models import elbv2_backends

    install()  # a termination before either provider was loaded cannot have happened; cheap when installed
    backend = elbv2_backends[account_id][region]
    if load_balancer_arn not in backend.load_balancers:
        return []
    healthy = []
    for group in list(backend.target_groups.values()):
        if load_balancer_arn not in group.load_balancer_arns:
            continue
        for target in list(group.targets.values()):
            status = group.health_for(target, backend.ec2_backend)
            if status.status == "healthy":
                healthy.append({"TargetGroupArn": group.arn, "Id": target["Id"], "Port": target.get("Port")})
    return healthy
