"""IAM policy documents as plain data, rendered to JSON at synthesis.

Statements are dicts so tests can read the synthesized JSON back and check every resource is an
exact ARN. Resource attributes (ARNs) are cdktf string tokens; cdktf turns a token embedded in a
string into a Terraform reference, so `json.dumps` of a document containing them is safe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from modules.cdk_seam import Construct, aws

Statement = dict[str, Any]


def allow(sid: str, actions: Sequence[str], resources: Sequence[str], **extra: Any) -> Statement:
    """An Allow statement on exact resources."""
    if not resources:
        raise ValueError(f"statement {sid} has no resources; scope every statement to exact ARNs")
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources), **extra}


def document(*statements: Statement) -> str:
    """A policy document as a JSON string."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role(
    service: str, *, source_account: str | None = None, source_arn: str | Sequence[str] | None = None
) -> str:
    """Trust policy letting one AWS service assume the role, optionally only on behalf of one account and
    one resource (the confused-deputy conditions AWS recommends)."""
    statement: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, dict[str, Any]] = {}
    if source_account:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn if isinstance(source_arn, str) else list(source_arn)}
    if condition:
        statement["Condition"] = condition
    return document(statement)


class ServiceRole(Construct):
    """An IAM role one AWS service assumes (on behalf of this account only), with one inline policy of
    exact-resource statements (none when there are no statements)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        service: str,
        description: str,
        statements: Sequence[Statement],
        provider: aws.provider.AwsProvider,
        source_account: str | None = None,
        source_arn: str | Sequence[str] | None = None,
        policy_name: str = "access",
        permissions_boundary: str | None = None,
    ):
        super().__init__(scope, id)
        self.role = aws.iam_role.IamRole(
            self,
            "this",
            provider=provider,
            name=name,
            description=description,
            assume_role_policy=assume_role(service, source_account=source_account, source_arn=source_arn),
            permissions_boundary=permissions_boundary,
        )
        # A role may legitimately need no permission of its own (e.g. a deploy role for a template of
        # resources that need none); an empty policy document would be rejected by IAM.
        self.policy = (
            aws.iam_role_policy.IamRolePolicy(
                self, "policy", provider=provider, role=self.role.id, name=policy_name, policy=document(*statements)
            )
            if statements
            else None
        )

    @property
    def arn(self) -> str:
        """ARN of the role."""
        return self.role.arn
