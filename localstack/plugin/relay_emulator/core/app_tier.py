"""The application tier's CloudFormation properties in the shapes of the EC2, Auto Scaling and ELBv2 APIs.

Standard library only (see ``core/__init__.py``); ``relay_emulator.cfn_app_tier`` (the resource providers)
is the glue.
"""

from __future__ import annotations

import uuid


def physical_name(stack_name: str, logical_id: str, limit: int) -> str:
    """A name as CloudFormation generates one (stack-Logical-RANDOM), within the type's length limit."""
    suffix = uuid.uuid4().hex[:12].upper()
    logical = logical_id[: max(1, (limit - len(suffix) - 2) // 2)]
    stack = stack_name[: limit - len(suffix) - len(logical) - 2]
    return f"{stack}-{logical}-{suffix}".strip("-")[:limit]


def pick(model: dict, keys) -> dict:
    """The keys of ``model`` that are set (not None)."""
    return {k: model[k] for k in keys if model.get(k) is not None}


def as_list(value) -> list:
    """A CloudFormation list property (a comma-joined string is accepted, as AWS does for subnet lists)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def asg_tags(name: str, tags) -> list[dict]:
    """CloudFormation's ASG Tags (Key, Value, PropagateAtLaunch) in the Auto Scaling API's shape."""
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": t["Key"],
            "Value": str(t.get("Value", "")),
            "PropagateAtLaunch": str(t.get("PropagateAtLaunch", False)).lower() == "true",
        }
        for t in tags or []
    ]


def launch_template_spec(spec: dict | None) -> dict | None:
    """The group's LaunchTemplate property as the API takes it (Version as a string)."""
    if not spec:
        return None
    result = pick(spec, ["LaunchTemplateId", "LaunchTemplateName"])
    if spec.get("Version") is not None:
        result["Version"] = str(spec["Version"])
    return result


def attributes(items) -> list[dict]:
    """LoadBalancerAttributes / TargetGroupAttributes as the API takes them: every value a string."""
    result = []
    for item in items or []:
        value = item["Value"]
        result.append({"Key": item["Key"], "Value": str(value).lower() if isinstance(value, bool) else str(value)})
    return result


def full_name(arn: str, marker: str) -> str:
    """The ARN's resource part after ``<marker>/``: ``app/name/id`` of a load balancer (LoadBalancerFullName)."""
    return arn.split(f":{marker}/", 1)[1] if f":{marker}/" in arn else arn


def targets(items) -> list[dict]:
    """A target group's Targets property as RegisterTargets takes it."""
    return [pick(t, ["Id", "Port", "AvailabilityZone"]) for t in items or []]


def listener_actions(actions) -> list[dict]:
    """DefaultActions as the API takes them (forward, redirect, fixed-response; Order kept)."""
    result = []
    for action in actions or []:
        item = pick(
            action,
            ["Type", "TargetGroupArn", "Order", "ForwardConfig", "RedirectConfig", "FixedResponseConfig"],
        )
        result.append(item)
    return result


def replaces_instances(before: dict | None, after: dict | None) -> bool:
    """Whether a group's update changes its launch template (id, name or version): a release, whose
    instances the emulator replaces one at a time (as an AutoScalingRollingUpdate policy does)."""
    return launch_template_spec(before) != launch_template_spec(after)
