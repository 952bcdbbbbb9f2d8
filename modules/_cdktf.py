"""The one place that imports CDK for Terraform and its prebuilt AWS bindings.

cdktf was archived upstream on 2025-12-10; its maintained fork is CDK Terrain (`cdktn`,
`cdktn-provider-aws`). Every other file imports from here, so moving is a change to these lines.
"""

import cdktf as cdk
import cdktf_cdktf_provider_aws as aws
from constructs import Construct

PROVIDER_VERSION = "5.100.0"
"""hashicorp/aws version bound by cdktf-cdktf-provider-aws 20.1.0; synthesized as an exact pin."""

__all__ = ["PROVIDER_VERSION", "Construct", "aws", "cdk"]
