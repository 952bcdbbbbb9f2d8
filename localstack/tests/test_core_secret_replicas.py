"""Pure tests of relay_emulator.core.secret_replicas (no emulator)."""

from __future__ import annotations

import pytest
from relay_emulator.core import secret_replicas as core

ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:app/eu-west-1/db-AbCdEf"


def test_replica_arn_replaces_only_the_region_field():
    assert core.replica_arn(ARN, "eu-south-2") == (
        "arn:aws:secretsmanager:eu-south-2:000000000000:secret:app/eu-west-1/db-AbCdEf"
    )
    with pytest.raises(ValueError):
        core.replica_arn("app/db", "eu-south-2")


@pytest.mark.parametrize(
    ("requested", "existing", "problem"),
    [
        ([{"Region": "eu-south-2"}, {"Region": "ap-southeast-4"}], [], None),
        ([{"Region": "eu-west-1"}], [], "Invalid replica region."),
        ([{}], [], "Invalid replica region."),
        ([{"Region": "eu-south-2"}, {"Region": "eu-south-2"}], [], "Duplicate replica region eu-south-2."),
        ([{"Region": "eu-south-2"}], ["eu-south-2"], "Secret is already replicated to region eu-south-2."),
    ],
)
def test_check_replica_regions(requested, existing, problem):
    assert core.check_replica_regions("eu-west-1", existing, requested) == problem


def test_kms_key_problem():
    key_arn = "arn:aws:kms:eu-south-2:000000000000:key/1234"
    assert core.kms_key_problem(None, "eu-south-2", False, None) is None
    assert core.kms_key_problem(core.DEFAULT_KMS_KEY, "eu-south-2", False, None) is None
    assert core.kms_key_problem(key_arn, "eu-south-2", True, "Enabled") is None
    assert core.kms_key_problem("alias/app", "eu-south-2", True, "Enabled") is None
    other_region = core.kms_key_problem(key_arn, "ap-southeast-4", True, "Enabled")
    assert other_region.startswith("Replication failed") and "ap-southeast-4" in other_region
    missing = core.kms_key_problem("1234", "eu-south-2", False, None)
    assert "1234" in missing and "does not exist" in missing
    assert "Disabled" in core.kms_key_problem(key_arn, "eu-south-2", True, "Disabled")
    assert "PendingDeletion" in core.kms_key_problem(key_arn, "eu-south-2", True, "PendingDeletion")


def test_refused_operations_are_writes_only():
    assert core.refused_on_replica("PutSecretValue")
    assert core.refused_on_replica("RemoveRegionsFromReplication")
    for read in core.REPLICA_READ_OPERATIONS:
        assert not core.refused_on_replica(read)
    assert not core.REPLICA_READ_OPERATIONS & core.REPLICA_REFUSED_OPERATIONS


def test_status_entry_and_replica_description():
    assert core.status_entry("eu-south-2", None, core.IN_SYNC) == {
        "Region": "eu-south-2",
        "KmsKeyId": "alias/aws/secretsmanager",
        "Status": "InSync",
        "StatusMessage": "Replication succeeded",
    }
    failed = core.status_entry("eu-south-2", "k", core.FAILED, "Replication failed: x")
    assert failed["KmsKeyId"] == "k" and failed["StatusMessage"] == "Replication failed: x"

    primary = {
        "ARN": ARN,
        "Name": "app/eu-west-1/db",
        "KmsKeyId": "primary-key",
        "ReplicationStatus": [failed],
        "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
    }
    replica = core.replica_description(primary, "arn:replica", "eu-west-1", "replica-key")
    assert replica == {
        "ARN": "arn:replica",
        "Name": "app/eu-west-1/db",
        "KmsKeyId": "replica-key",
        "PrimaryRegion": "eu-west-1",
        "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
    }
    assert "KmsKeyId" not in core.replica_description(primary, "arn:replica", "eu-west-1", None)
    assert primary["ReplicationStatus"]  # the primary's own description is left alone


def test_percentile():
    values = [float(v) for v in range(1, 101)]
    assert core.percentile(values, 50) == 50
    assert core.percentile(values, 95) == 95
    assert core.percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError):
        core.percentile([], 50)
