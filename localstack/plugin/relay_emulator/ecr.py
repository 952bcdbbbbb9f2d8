"""ECR (not in LocalStack's community edition): moto's ECR behind our provider, with ECR's
digests and tag immutability on PutImage, AWS's replication configuration quotas, and registry
replication.

* **Digests**: PutImage gives an image ``sha256`` of its manifest's exact bytes (moto hashes
  the layer digests); an ``imageDigest`` that differs is ``ImageDigestDoesNotMatchException``.
* **Immutable tags**: a tag on another digest in an ``IMMUTABLE`` repository (or outside the
  exclusion filters of ``IMMUTABLE_WITH_EXCLUSION``) is ``ImageTagAlreadyExistsException``;
  the same digest and tag again is ``ImageAlreadyExistsException``.
* **Replication**: an image put in a repository whose name matches a rule of the registry's
  replication configuration (``PREFIX_MATCH`` filters; a rule without filters matches every
  repository) is put, with the same manifest, digest, media type and tag, into the repository of
  the same name in every destination (region, registry), which is created when missing with
  ECR's defaults for replicated repositories. Asynchronous, in order, from one queue: a
  transient failure is retried (``RELAY_REPLICATION_ATTEMPTS``, ``RELAY_REPLICATION_BACKOFF``),
  a permanent one (a destination tag that is immutable and on another digest) is an ``ERROR``
  log line naming image and destination. DescribeImageReplicationStatus answers per destination
  ``IN_PROGRESS``, ``COMPLETE`` or ``FAILED`` (``REPLICATION_FAILED``). Replicas are not
  replicated further. Only PutImage is emulated as the way an image arrives (no docker
  registry endpoint: the layer upload APIs answer as moto does, not implemented).

Decisions are in ``core/ecr.py``; state is moto's ECR backends (per account and region).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field

from localstack.aws.api import RequestContext, handler
from localstack.services.moto import call_moto
from moto.core.exceptions import ServiceException as MotoServiceException
from moto.ecr.models import ecr_backends

from relay_emulator.common import LOG, describe, err, internal_client
from relay_emulator.core import ecr as core

# PutImage checks and writes (home and replicas) are atomic against each other
_LOCK = threading.RLock()


def _attempts() -> int:
    return max(1, int(os.environ.get("RELAY_REPLICATION_ATTEMPTS", "3")))


def _backoff() -> float:
    return float(os.environ.get("RELAY_REPLICATION_BACKOFF", "0.3"))


class _Refused(Exception):
    """A replica ECR refuses for good (not retried)."""


@dataclass
class Ticket:
    """One image to put into one destination."""

    source_region: str
    account: str
    region: str
    registry: str
    repository: str
    manifest: str
    media_type: str | None
    digest: str
    tag: str | None
    # the source image's replication statuses: (region, registry) -> (status, failure code)
    statuses: dict = field(default_factory=dict)
    queued: float = field(default_factory=time.monotonic)

    def settle(self, status: str, failure: str | None = None) -> None:
        with _LOCK:
            self.statuses[(self.region, self.registry)] = (status, failure)


def _repository(backend, name: str, registry: str):
    """The named repository of the registry (ECR's RepositoryNotFoundException otherwise)."""
    repo = backend.repositories.get(name)
    if repo is None or repo.registry_id != registry:
        raise err(
            "RepositoryNotFoundException",
            f"The repository with name '{name}' does not exist in the registry with id '{registry}'",
        )
    return repo


def _images(repo) -> dict[str, list[str]]:
    return {image.get_image_digest(): list(image.image_tags) for image in repo.images}


def _is_immutable(repo, tag: str | None) -> bool:
    if tag is None:
        return False
    return core.tag_is_immutable(repo.image_tag_mutability, repo.image_tag_mutability_exclusion_filters, tag)


class Replicator:
    """The replication queue and its worker thread (started with the first ticket)."""

    def __init__(self):
        self._queue: queue.Queue[Ticket] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, ticket: Ticket) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="relay-ecr-replication", daemon=True)
                self._thread.start()
        self._queue.put(ticket)

    def _run(self) -> None:
        while True:
            ticket = self._queue.get()
            try:
                self._deliver(ticket)
            except Exception:  # never let the worker die
                LOG.exception("ECR replication worker: unexpected failure")
            finally:
                self._queue.task_done()

    def _deliver(self, ticket: Ticket) -> None:
        what = (
            f"image {ticket.digest} (tag {ticket.tag!r}) of {ticket.repository} from {ticket.source_region} "
            f"to registry {ticket.registry} in {ticket.region}"
        )
        for attempt in range(1, _attempts() + 1):
            try:
                replicate(ticket)
                ticket.settle("COMPLETE")
                LOG.debug("ECR replicated %s in %.1f ms", what, (time.monotonic() - ticket.queued) * 1000)
                return
            except _Refused as e:
                ticket.settle("FAILED", "REPLICATION_FAILED")  # not ACCESS_DENIED, the other code ECR has
                LOG.error("ECR replication FAILED for %s: %s", what, e)
                return
            except Exception as e:
                if attempt == _attempts():
                    ticket.settle("FAILED", "REPLICATION_FAILED")
                    LOG.error("ECR replication FAILED for %s after %d attempts: %s", what, attempt, describe(e))
                    return
                time.sleep(_backoff() * 2 ** (attempt - 1))


REPLICATOR = Replicator()


def replicate(ticket: Ticket) -> None:
    """Put the ticket's image into its destination repository (created when missing)."""
    backend = ecr_backends[ticket.registry][ticket.region]
    with _LOCK:
        repo = backend.repositories.get(ticket.repository)
        if repo is None:
            settings = core.replica_repository_settings()
            repo = backend.create_repository(
                repository_name=ticket.repository,
                registry_id=None,
                encryption_config=settings["encryptionConfiguration"],
                image_scan_config=settings["imageScanningConfiguration"],
                image_tag_mutability=settings["imageTagMutability"],
                tags=[],
            )
        outcome, holder = core.put_image_outcome(
            _images(repo), ticket.digest, ticket.tag, _is_immutable(repo, ticket.tag)
        )
        if outcome == core.TAG_IMMUTABLE:
            raise _Refused(
                f"the tag {ticket.tag!r} is on {holder} in the destination repository, whose tags are immutable"
            )
        if outcome != core.PUT:
            return
        backend.put_image(ticket.repository, ticket.manifest, ticket.tag, ticket.media_type, ticket.digest)


def _statuses(image) -> dict:
    """The replication statuses kept on moto's image (they live and go with it)."""
    return image.__dict__.setdefault("relay_replication_statuses", {})


def _aws_error(e: MotoServiceException):
    return err(e.code, e.message)


class ECRProvider:
    """ECR handlers of our own; every other operation goes to moto (``_moto_fallback_table``)."""

    service = "ecr"
    version = "2015-09-21"

    def accept_state_visitor(self, visitor) -> None:
        visitor.visit(ecr_backends)

    @handler("CreateRepository", expand=False)
    def create_repository(self, context: RequestContext, request: dict):
        encryption = request.get("encryptionConfiguration") or {}
        key = encryption.get("kmsKey")
        if encryption.get("encryptionType") == "AES256" and key:
            raise err(
                "InvalidParameterException",
                "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: "
                "'kmsKey can only be specified when encryptionType is KMS'",
            )
        if encryption.get("encryptionType") == "KMS" and key:
            kms = internal_client("kms", context.region, context.account_id)
            try:
                kms.describe_key(KeyId=key)
            except Exception as e:
                raise err("KmsException", f"The KMS key {key} cannot be used: {describe(e)}") from e
        return call_moto(context)

    @handler("PutImage", expand=False)
    def put_image(self, context: RequestContext, request: dict):
        backend = ecr_backends[context.account_id][context.region]
        name = request["repositoryName"]
        registry = request.get("registryId") or context.account_id
        manifest = request["imageManifest"]
        tag = request.get("imageTag")
        media_type = request.get("imageManifestMediaType")
        digest = core.manifest_digest(manifest)
        given = request.get("imageDigest")
        if given and given != digest:
            raise err(
                "ImageDigestDoesNotMatchException",
                f"The image digest '{given}' does not match the digest '{digest}' of the manifest",
            )
        with _LOCK:
            repo = _repository(backend, name, registry)
            outcome, _ = core.put_image_outcome(_images(repo), digest, tag, _is_immutable(repo, tag))
            if outcome == core.TAG_IMMUTABLE:
                raise err(
                    "ImageTagAlreadyExistsException",
                    f"The image tag '{tag}' already exists in the '{name}' repository and cannot be "
                    "overwritten because the repository is immutable.",
                )
            if outcome == core.ALREADY_EXISTS:
                raise err(
                    "ImageAlreadyExistsException",
                    f"Image with digest '{digest}' and tag '{tag}' already exists in the repository with name "
                    f"'{name}' in registry with id '{registry}'",
                )
            if outcome == core.PUT:
                try:
                    image = backend.put_image(name, manifest, tag, media_type, digest)
                except MotoServiceException as e:
                    raise _aws_error(e) from e
                media_type = image.image_manifest_media_type
            else:
                image = next(i for i in repo.images if i.get_image_digest() == digest)
                media_type = image.image_manifest_media_type
            statuses = _statuses(image)
            destinations = core.replication_destinations(backend.replication_config, name, context.region, registry)
            for region, dest_registry in destinations:
                statuses[(region, dest_registry)] = ("IN_PROGRESS", None)
                ticket = Ticket(
                    context.region, registry, region, dest_registry, name, manifest, media_type, digest, tag, statuses
                )
                REPLICATOR.submit(ticket)
        image_id = {"imageDigest": digest}
        if tag is not None:
            image_id["imageTag"] = tag
        result = {
            "registryId": registry,
            "repositoryName": name,
            "imageId": image_id,
            "imageManifest": manifest,
        }
        if media_type:
            result["imageManifestMediaType"] = media_type
        return {"image": result}

    @handler("PutReplicationConfiguration", expand=False)
    def put_replication_configuration(self, context: RequestContext, request: dict):
        config = request["replicationConfiguration"]
        reason = core.check_replication_configuration(config, context.region, context.account_id)
        if reason:
            raise err("InvalidParameterException", reason)
        backend = ecr_backends[context.account_id][context.region]
        with _LOCK:
            backend.replication_config = config
        return {"replicationConfiguration": config}

    @handler("DescribeImageReplicationStatus", expand=False)
    def describe_image_replication_status(self, context: RequestContext, request: dict):
        backend = ecr_backends[context.account_id][context.region]
        name = request["repositoryName"]
        registry = request.get("registryId") or context.account_id
        wanted = request["imageId"]
        with _LOCK:
            repo = _repository(backend, name, registry)
            image = next(
                (
                    i
                    for i in repo.images
                    if (not wanted.get("imageDigest") or i.get_image_digest() == wanted["imageDigest"])
                    and (not wanted.get("imageTag") or wanted["imageTag"] in i.image_tags)
                ),
                None,
            )
            if image is None:
                raise err(
                    "ImageNotFoundException",
                    f"The image with imageId {wanted} does not exist within the repository with name '{name}' "
                    f"in the registry with id '{registry}'",
                )
            statuses = []
            for (region, dest_registry), (status, failure) in _statuses(image).items():
                entry = {"region": region, "registryId": dest_registry, "status": status}
                if failure:
                    entry["failureCode"] = failure
                statuses.append(entry)
        image_id = {"imageDigest": image.get_image_digest()}
        if wanted.get("imageTag"):
            image_id["imageTag"] = wanted["imageTag"]
        return {"repositoryName": name, "imageId": image_id, "replicationStatuses": statuses}

    # moto answers made-up findings; nothing is scanned here, so say so instead
    @handler("StartImageScan", expand=False)
    def start_image_scan(self, context: RequestContext, request: dict):
        raise err("ValidationException", "Image scanning is not emulated (relay emulator): no scan was started")

    @handler("DescribeImageScanFindings", expand=False)
    def describe_image_scan_findings(self, context: RequestContext, request: dict):
        raise err(
            "ScanNotFoundException",
            f"Image scan does not exist for the image with '{request.get('imageId')}' in the repository with name "
            f"'{request['repositoryName']}' (image scanning is not emulated)",
        )
