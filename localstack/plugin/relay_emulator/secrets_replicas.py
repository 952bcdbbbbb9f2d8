"""Secrets Manager replicas that behave as AWS documents them.

LocalStack 4.14 keeps Secrets Manager in moto's backend. moto's ``ReplicaSecret`` (the object a
replica region's backend holds) lacks ``kms_key_id`` and ``account_id``, which LocalStack's
``GetSecretValue`` / ``PutSecretValue`` handlers read first (``_raise_if_default_kms_key``), so
every read in a replica region answered 500 (``'ReplicaSecret' object has no attribute
'kms_key_id'``). moto also ignores the replica's ``KmsKeyId`` (every ``ReplicationStatus`` entry
names ``alias/aws/secretsmanager``), never checks the key, builds the replica's ARN by replacing
the region everywhere in the primary's ARN (a name containing the region broke), names a
literal ``simple`` in its "name already exists" message, and refuses writes on a replica with
``InvalidParameterException`` where AWS answers ``InvalidRequestException`` (or a 500 when
LocalStack's own handler does not expect moto's error).

What this module does (``core.secret_replicas`` holds the decisions):

* **Replicas read the primary.** moto's ``ReplicaSecret`` already delegates ``versions``,
  ``default_version_id``, name, description and tags to its primary, so a replica answers the
  primary's current versions (same ``VersionId`` and staging labels) the moment the primary's
  request returns: replication here is synchronous, it cannot lose or reorder an update, and
  ``ReplicationStatus`` never stays ``InProgress``. The patch gives the replica its own
  ``kms_key_id`` (the ``AddReplicaRegions`` entry's, None for the default key, as moto stores
  the primary's), the primary's ``account_id``, and its own ``DescribeSecret`` shape
  (``PrimaryRegion``, the replica's ``KmsKeyId``, no ``ReplicationStatus``).
* **The replica's key.** ``create_replicas`` (``CreateSecret``'s and
  ``ReplicateSecretToRegions``' ``AddReplicaRegions``) looks the key up in LocalStack's KMS
  store of the replica region: a key that does not exist there, is in another region, or is not
  ``Enabled`` makes that replica ``Failed`` with a message, and no replica exists in that
  region (as AWS reports ``ReplicationStatus``). A read in a replica region re-checks the key:
  if it has since been disabled or scheduled for deletion, ``GetSecretValue`` answers AWS's
  ``DecryptionFailure`` and the primary's ``ReplicationStatus`` for that region turns ``Failed``.
  Values are not encrypted at rest (LocalStack does not encrypt primaries either); the key
  decides, as on AWS, whether the replica can be read.
* **Writes on a replica** (``core.secret_replicas.REPLICA_REFUSED_OPERATIONS``) are refused
  before the provider by a handler in LocalStack's ``serve_custom_service_request_handlers``
  with ``InvalidRequestException`` and AWS's message.
* ``RemoveRegionsFromReplication`` and ``DeleteSecret`` are moto's: removing a region deletes
  its replica; a primary with replicas cannot be deleted (``InvalidParameterException``).
* ``StopReplicationToReplica`` (moto has none; LocalStack answered 501) promotes the replica, in
  its region, to a standalone secret with the replica's ARN, versions and key, as AWS does.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch, Patches

from relay_emulator.common import err
from relay_emulator.core import secret_replicas as core

LOG = logging.getLogger("relay_emulator.secrets_replicas")

PATCHES = Patches()
_INSTALLED = False


def _key_state(account: str, region: str, key_ref: str) -> tuple[bool, str | None]:
    """(found, KeyState) of ``key_ref`` (id, ARN, alias or alias ARN) in LocalStack's KMS store
    of ``account`` / ``region``."""
    from localstack.services.kms.provider import KmsProvider

    try:
        key = KmsProvider._get_kms_key(account, region, key_ref, any_key_state_allowed=True)
    except Exception:  # NotFoundException, an ARN of another region, a malformed id
        return False, None
    return True, key.metadata.get("KeyState")


def key_problem(account: str, region: str, key_ref: str | None) -> str | None:
    """Why a replica in ``region`` cannot use ``key_ref`` (None: it can)."""
    if key_ref is None or key_ref == core.DEFAULT_KMS_KEY:
        return None
    found, state = _key_state(account, region, key_ref)
    return core.kms_key_problem(key_ref, region, found, state)


def _set_status(replica, status: str, message: str | None = None) -> None:
    replica.status = status
    replica.message = message or (core.SUCCEEDED_MESSAGE if status == core.IN_SYNC else "")
    replica.config = core.status_entry(replica.region, replica.kms_key_id, status, replica.message)


def create_replicas(self, replica_regions, force_overwrite):
    """``FakeSecret.create_replicas``: one replica per ``AddReplicaRegions`` entry, with its key."""
    from moto.secretsmanager.exceptions import InvalidParameterException
    from moto.secretsmanager.models import ReplicaSecret, secretsmanager_backends

    requested = list(replica_regions or [])
    existing = [r.region for r in getattr(self, "replicas", None) or []]
    problem = core.check_replica_regions(self.region, existing, requested)
    if problem:
        raise InvalidParameterException(problem)
    replicas = []
    for entry in requested:
        region = entry["Region"]
        key_ref = entry.get("KmsKeyId") or None
        backend = secretsmanager_backends[self.account_id][region]
        failure = None
        if self.name in backend.secrets and not force_overwrite:
            failure = core.name_taken_message(self.name, region)
        else:
            failure = key_problem(self.account_id, region, key_ref)
        replica = ReplicaSecret(self, region, core.FAILED if failure else None, failure)
        replica.kms_key_id = key_ref
        if failure:
            _set_status(replica, core.FAILED, failure)
        else:
            if self.name in backend.secrets:  # force_overwrite: the region's own secret goes
                backend.secrets.pop(self.name)
            backend.secrets[replica.arn] = replica
            _set_status(replica, core.IN_SYNC)
        replicas.append(replica)
    return replicas


def stop_replication_to_replica(original, self, context, request):
    """``StopReplicationToReplica`` (called in the replica's region): the replica becomes a
    standalone secret there with the replica's ARN, versions and key; the primary no longer lists
    that region. moto has no such operation."""
    import copy

    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    secret_id = request["SecretId"]
    replica = _find_replica(context, secret_id)
    if replica is None:
        try:
            found = secretsmanager_backends[context.account_id][context.region].secrets.get(secret_id)
        except Exception:
            found = None
        if found is None:
            raise err("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        raise err("InvalidRequestException", "StopReplicationToReplica can only be called on a replica secret.")
    source = replica.source
    backend = secretsmanager_backends[replica.account_id][replica.region]
    standalone = FakeSecret(
        account_id=replica.account_id,
        region_name=replica.region,
        secret_id=source.secret_id,
        secret_version={},
        version_id="",
        description=source.description,
        tags=copy.deepcopy(source.tags),
        kms_key_id=replica.kms_key_id,
        last_changed_date=source.last_changed_date,
        created_date=source.created_date,
    )
    standalone.arn = replica.arn
    standalone.versions = copy.deepcopy(source.versions)
    standalone.default_version_id = source.default_version_id
    current = standalone.versions.get(source.default_version_id) or {}
    standalone.secret_string = current.get("secret_string")
    standalone.secret_binary = current.get("secret_binary")
    dict.pop(backend.secrets, replica.arn, None)
    backend.secrets[standalone.secret_id] = standalone
    source.replicas = [r for r in source.replicas if r is not replica]
    return {"ARN": standalone.arn}


def install() -> None:
    """Patch moto's secrets (class level) and add the replica write guard to the handler chain."""
    global _INSTALLED
    if _INSTALLED:
        return
    from localstack.aws.handlers import serve_custom_service_request_handlers
    from moto.secretsmanager.models import FakeSecret, ReplicaSecret

    def replica_init(original, self, source, region, status=None, message=None):
        original(self, source, region, status, message)
        self.arn = core.replica_arn(source.arn, region)
        self.account_id = source.account_id
        self.kms_key_id = None
        self.config = core.status_entry(region, None, self.status, self.message)

    def replica_to_dict(self):
        return core.replica_description(self.source.to_dict(), self.arn, self.source.region, self.kms_key_id)

    def replica_guard(chain, context, response):
        operation = context.operation
        service = context.service
        if operation is None or service is None or service.service_name != "secretsmanager":
            return
        name = operation.name
        if name != "GetSecretValue" and not core.refused_on_replica(name):
            return
        secret_id = (context.service_request or {}).get("SecretId")
        if not secret_id:
            return
        replica = _find_replica(context, secret_id)
        if replica is None:
            return
        if core.refused_on_replica(name):
            raise err("InvalidRequestException", core.REFUSED_ON_REPLICA_MESSAGE)
        problem = key_problem(replica.account_id, replica.region, replica.kms_key_id)
        if problem:
            _set_status(replica, core.FAILED, problem)
            raise err(
                "DecryptionFailure",
                "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
            )
        if replica.status != core.IN_SYNC:  # the key is usable again
            _set_status(replica, core.IN_SYNC)

    from localstack.services.secretsmanager.provider import SecretsmanagerProvider

    PATCHES.add(Patch.function(SecretsmanagerProvider.stop_replication_to_replica, stop_replication_to_replica))
    PATCHES.add(Patch.function(ReplicaSecret.__init__, replica_init))
    PATCHES.add(Patch.function(ReplicaSecret.to_dict, replica_to_dict, pass_target=False))
    PATCHES.add(Patch.function(FakeSecret.create_replicas, create_replicas, pass_target=False))
    PATCHES.apply()
    serve_custom_service_request_handlers.append(replica_guard)
    _INSTALLED = True
    LOG.info("relay Secrets Manager replicas installed (reads, keys, statuses, refused writes)")


def _find_replica(context, secret_id: str):
    """The ``ReplicaSecret`` the request names in its region (an ARN names its own), or None."""
    from moto.secretsmanager.models import ReplicaSecret, secretsmanager_backends

    account, region = context.account_id, context.region
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":")
        if len(parts) > 5:
            region, account = parts[3] or region, parts[4] or account
    try:
        secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    except Exception:  # an unknown region or a malformed partial ARN: the provider answers
        return None
    return secret if isinstance(secret, ReplicaSecret) else None
