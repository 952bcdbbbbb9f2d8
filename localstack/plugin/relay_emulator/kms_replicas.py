"""Multi-Region replica keys that keep the policy and tags their ReplicateKey request gave them.

LocalStack 4.14's ``ReplicateKey`` copies the primary key and sets the replica's description and ARN,
but drops the request's ``Policy`` and ``Tags``: the replica answers the primary's policy and no tags.
Terraform's ``aws_kms_replica_key`` sends both and then waits until ``GetKeyPolicy`` and
``ListResourceTags`` in the replica region answer what it sent, so it waited forever (the apply hung
in "Still creating..."), and a replica's key policy was not the one declared. AWS applies both
(ReplicateKey: "Policy", "Tags").

The patch applies the request's policy (else keeps the copied one, as AWS keeps the primary's) and tags
to the replica in its own region. Nothing else of KMS changes.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch

LOG = logging.getLogger("relay_emulator.kms_replicas")

_INSTALLED = False


def replica_tags(request: dict) -> dict[str, str]:
    """The tags of a ReplicateKey request as a mapping."""
    return {tag["TagKey"]: tag["TagValue"] for tag in request.get("Tags") or []}


def install() -> None:
    """Patch ``KmsKey.replicate_metadata`` (class level, once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from localstack.services.kms.models import KmsKey, kms_stores

    def replicate_metadata(original, self, request, account_id, replica_region):
        original(self, request, account_id, replica_region)
        if request.get("Policy"):
            self.policy = request["Policy"]
        if tags := replica_tags(request):
            kms_stores[account_id][replica_region].tags.update_tags(self.metadata["Arn"], tags)

    Patch.function(KmsKey.replicate_metadata, replicate_metadata).apply()
    _INSTALLED = True
    LOG.info("relay KMS replica key policy and tags installed")
