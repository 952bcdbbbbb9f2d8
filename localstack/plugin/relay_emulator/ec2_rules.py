"""Security group rules that keep their description when they reference another group.

LocalStack 4.14 serves EC2 from moto (5.1). moto stores the description of a rule whose peer is a
security group (``UserIdGroupPairs``) in the rule's ``source_group``, but its ``SecurityGroupRule``
reads the description from ``ip_range`` only, so ``DescribeSecurityGroupRules`` answers no
``Description`` for such a rule (``DescribeSecurityGroups`` shows it). Terraform's
``aws_vpc_security_group_ingress_rule`` / ``egress_rule`` read rules back through
``DescribeSecurityGroupRules``: every plan after an apply wanted to add the description again
(``+ description = "From the load balancer"``), and applying it changed nothing.

The patch reads the description from ``ip_range`` first (CIDR rules, and where moto's
``ModifySecurityGroupRules`` writes it) and then from ``source_group``. Nothing else of EC2 changes.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch

LOG = logging.getLogger("relay_emulator.ec2_rules")

_INSTALLED = False


def rule_description(ip_range: dict, source_group: dict) -> str | None:
    """The description of a rule: its CIDR range's, else its referenced group's."""
    return ip_range.get("Description") or source_group.get("Description")


def install() -> None:
    """Patch moto's ``SecurityGroupRule.description`` (class level, once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.ec2.models.security_groups import SecurityGroupRule

    Patch(
        SecurityGroupRule,
        "description",
        property(lambda rule: rule_description(rule.ip_range, rule.source_group)),
    ).apply()
    _INSTALLED = True
    LOG.info("relay EC2 security group rule descriptions installed")
