"""The default permissions boundary of a deploy role: the ceiling of what a deployed template can do.

CloudFormation runs the release's template under the deploy role, so the deploy policy (what the
template creates) is written by the application's authors. The boundary caps it whatever it says: the
role can never touch this app's own roles, policies, buckets, keys, pipelines, builds, rules or trails
(the release path itself), nor create a role or user that escapes the same boundary, nor remove a
boundary. Users who run a boundary of their own name it in `deploy.permissions_boundary_arn` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from modules import iam
from modules.cdk_seam import Construct, aws
from modules.policy_checks import suppress


@dataclass(frozen=True)
class DeployBoundaryProps:
    """Props of :class:`DeployBoundary`."""

    name: str
    """Managed policy name (from config.naming; IAM is global, so it names its region). Required."""
    account_id: str
    """Account of the app. Required."""
    partition: str
    """AWS partition. Required."""
    resource_prefix: str
    """Prefix of the app's account-unique names, `<app>-<env>-`. Required."""
    bucket_prefix: str
    """Prefix of the app's bucket names (with the namespace). Required."""


class DeployBoundary(Construct):
    """A managed policy used as the deploy role's permissions boundary."""

    def __init__(self, scope: Construct, id: str, *, props: DeployBoundaryProps, provider: aws.provider.AwsProvider):
        super().__init__(scope, id)
        p = props
        arn, account, prefix = f"arn:{p.partition}", p.account_id, p.resource_prefix
        self.arn = f"{arn}:iam::{account}:policy/{p.name}"

        def regional(service: str, resource: str) -> str:
            return f"{arn}:{service}:*:{account}:{resource}"

        statements = [
            {
                # A boundary grants nothing by itself: the role's own policy does, within this ceiling.
                "Sid": "CeilingOfTheDeployPolicy",
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
            },
            {
                "Sid": "NotTheAppsOwnIdentities",
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": [f"{arn}:iam::{account}:role/{prefix}*", f"{arn}:iam::{account}:policy/{prefix}*"],
            },
            {
                "Sid": "NewIdentitiesKeepThisBoundary",
                "Effect": "Deny",
                "Action": [
                    "iam:CreateRole",
                    "iam:PutRolePermissionsBoundary",
                    "iam:CreateUser",
                    "iam:PutUserPermissionsBoundary",
                ],
                "Resource": "*",
                "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": self.arn}},
            },
            {
                "Sid": "BoundariesStay",
                "Effect": "Deny",
                "Action": ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
                "Resource": "*",
            },
            {
                "Sid": "NotTheReleasePath",
                "Effect": "Deny",
                "Action": ["s3:*", "codepipeline:*", "codebuild:*", "events:*", "cloudtrail:*", "logs:*"],
                "Resource": [
                    f"{arn}:s3:::{p.bucket_prefix}*",
                    f"{arn}:s3:::{p.bucket_prefix}*/*",
                    regional(service="codepipeline", resource=f"{prefix}*"),
                    regional(service="codebuild", resource=f"project/{prefix}*"),
                    regional(service="events", resource=f"rule/{prefix}*"),
                    regional(service="cloudtrail", resource=f"trail/{prefix}*"),
                    regional(service="logs", resource=f"log-group:/aws/codebuild/{prefix}*"),
                ],
            },
            {
                "Sid": "NotTheAppsKeys",
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": f"alias/{prefix}*"}},
            },
        ]
        self.policy = aws.iam_policy.IamPolicy(
            self,
            "this",
            provider=provider,
            name=p.name,
            description="Permissions boundary of the CloudFormation deploy role: never the app's own release path",
            policy=iam.document(*statements),
        )
        reason = (
            "a permissions boundary grants nothing: its Allow * is the ceiling the role's own, exact policy is "
            "intersected with, and its Deny statements keep the release path out of reach"
        )
        # relay's own rule, and checkov's: full admin (CKV_AWS_62, CKV2_AWS_40), wildcard actions (CKV_AWS_63)
        for rule in ("wildcard-resource-write", "CKV_AWS_62", "CKV_AWS_63", "CKV2_AWS_40"):
            suppress(self.policy, rule, reason)
