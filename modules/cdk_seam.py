"""The one import seam for CDK for Terraform, its prebuilt AWS bindings and the provider version.

Every other file of the app and its tests imports cdktf, the AWS bindings and `constructs` from
here, never directly. cdktf was archived upstream on 2025-12-10; its maintained fork is CDK Terrain
(`cdktn`, `cdktn-provider-aws`), so moving to it is a change to these imports and to the pins.
"""

import cdktf as cdk
import cdktf_cdktf_provider_aws as aws
from constructs import Construct, IValidation

PROVIDER_VERSION = "5.100.0"
"""hashicorp/aws version bound by cdktf-cdktf-provider-aws 20.1.0, synthesized as an exact pin in
every stack. Tests and documentation checks take the version from here."""

__all__ = ["PROVIDER_VERSION", "Construct", "IValidation", "aws", "cdk"]
