"""Pipeline artifacts in the artifact store of an action's region, as CodePipeline keeps them.

Every object is written ``<pipeline>/<artifact>/<random>`` into the store of the region it is for,
with SSE-KMS under the store's ``encryptionKey`` when it names one. The key (key id, key ARN, alias
name or alias ARN) is resolved through KMS in the store's region first: LocalStack's S3 accepts
any key id or alias without checking that it exists (and reports an alias as a made-up
``key/alias/...`` ARN), while S3 in AWS refuses a key it cannot use and reports the key's ARN. So
a missing, disabled or other-region key fails the write naming it, and HeadObject's
``SSEKMSKeyId`` is the key's ARN, as in AWS.

A cross-region action reads copies: ``copy_to_region`` copies an input artifact into the action
region's store under the same key (the engine does it before the action runs, once per artifact,
region and execution), as CodePipeline replicates a cross-region action's input artifacts.

Writes are made as the role that makes them in AWS, with its credentials from LocalStack's STS:
the pipeline's ``roleArn`` (copies, and outputs of actions without a ``roleArn`` of their own),
the action's ``roleArn``, or the CodeBuild project's service role for a build's output. The
store's bucket policy is evaluated for that role first (``write_guard``): a ``Deny`` fails the
action naming the bucket, the action and the statement's Sid.
"""

from __future__ import annotations

import dataclasses
import io
import random
import string
import zipfile

from relay_emulator import write_guard
from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.common import describe, internal_client, role_credentials, session_name
from relay_emulator.core.bucket_policy import Principal, requested_actions
from relay_emulator.core.pipeline_declaration import artifact_store, key_region, split_artifact_path


def _random_key(n: int = 7) -> str:
    # naming only, like CodePipeline's artifact keys; not a secret
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))  # noqa: S311


def _store(declaration: dict, region: str) -> dict:
    store = artifact_store(declaration, region)
    if not store:
        raise ActionFailed(f"No artifact store is configured for region {region}")
    return store


def _encryption(account: str, region: str, store: dict) -> dict:
    """PutObject's SSE parameters for the store (none without a KMS ``encryptionKey``)."""
    enc = store.get("encryptionKey") or {}
    if not enc.get("id") or enc.get("type", "KMS") != "KMS":
        return {}
    key = enc["id"]
    try:
        metadata = internal_client("kms", region, account).describe_key(KeyId=key)["KeyMetadata"]
    except Exception as e:
        raise ActionFailed(f"KMS in {region} cannot resolve the store's encryption key {key}: {describe(e)}") from None
    arn, home = metadata["Arn"], key_region(metadata["Arn"])
    if home != region:
        raise ActionFailed(
            f"the store's encryption key {key} is a key of {home}; a store in {region} needs one of {region}"
        )
    if not metadata.get("Enabled", True):
        raise ActionFailed(f"the store's encryption key {key} is {metadata.get('KeyState') or 'disabled'}")
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": arn}


@dataclasses.dataclass(frozen=True)
class Writer:
    """The role an artifact write is made as, and the name of its session."""

    role_arn: str
    session: str


def pipeline_writer(declaration: dict, action: dict | None = None) -> Writer:
    """The action's own ``roleArn`` if it has one, else the pipeline's role."""
    role = (action or {}).get("roleArn") or declaration.get("roleArn") or ""
    return Writer(role, session_name("codepipeline", declaration.get("name") or ""))


def _check_policy(bucket: str, key: str, params: dict, writer: Writer) -> None:
    denial = write_guard.check(
        bucket, key, requested_actions("PutObject", params), Principal.role(writer.role_arn, writer.session)
    )
    if denial is not None:
        raise ActionFailed(
            f"AccessDenied: the bucket policy of {bucket} denies {denial.action} to {writer.role_arn} "
            f"({denial.statement.name})"
        )


def _write(account: str, declaration: dict, region: str, key: str, data: bytes, what: str, writer: Writer) -> dict:
    """Write ``data`` to ``key`` in the artifact store of ``region`` as ``writer``; its location."""
    store = _store(declaration, region)
    target = f"s3://{store['location']}/{key} in {region}"
    try:
        params = {"Bucket": store["location"], "Key": key, "Body": data, **_encryption(account, region, store)}
        _check_policy(store["location"], key, params, writer)
        credentials = role_credentials(writer.role_arn, writer.session, region)
        internal_client("s3", region, account, credentials=credentials).put_object(**params)
    except ActionFailed as e:
        raise ActionFailed(f"Could not write {what} to {target}: {e}") from None
    except Exception as e:
        raise ActionFailed(f"Could not write {what} to {target}: {describe(e)}") from None
    return {"bucket": store["location"], "key": key, "region": region}


def put_artifact(run: ActionRun, name: str, data: bytes, writer: Writer | None = None) -> dict:
    """Write an output artifact to the store of the action's region as ``writer`` (default: the
    action's or the pipeline's role); its location ``{bucket, key, region}``."""
    key = f"{run.pipeline_name[:20]}/{name[:20]}/{_random_key()}"
    writer = writer or pipeline_writer(run.declaration, run.action)
    return _write(run.account, run.declaration, run.region, key, data, f"artifact {name}", writer)


def copy_to_region(account: str, declaration: dict, name: str, location: dict, region: str) -> dict:
    """Copy the artifact at ``location`` into the store of ``region`` (same key) as the pipeline's
    role; the copy's location.

    Fails naming the source, the destination bucket and region, and the reason."""
    source = f"s3://{location['bucket']}/{location['key']} ({location['region']})"
    try:
        obj = internal_client("s3", location["region"], account).get_object(
            Bucket=location["bucket"], Key=location["key"]
        )
        data = obj["Body"].read()
    except Exception as e:
        raise ActionFailed(
            f"Could not read input artifact {name} at {source} to copy it to {region}: {describe(e)}"
        ) from None
    what = f"input artifact {name} from {source}"
    return _write(account, declaration, region, location["key"], data, what, pipeline_writer(declaration))


def read_artifact_file(run: ActionRun, path: str) -> bytes:
    """Content of ``Artifact::file/in/zip`` from the execution's artifacts."""
    artifact, inner = split_artifact_path(path, run.input_names)
    loc = run.artifacts.get(artifact)
    if loc is None:
        raise ActionFailed(f"Input artifact {artifact} is not available (from path {path})")
    s3 = internal_client("s3", loc["region"], run.account)
    try:
        data = s3.get_object(Bucket=loc["bucket"], Key=loc["key"])["Body"].read()
    except Exception as e:
        raise ActionFailed(f"Could not read artifact {artifact}: {describe(e)}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.read(inner)
    except KeyError:
        raise ActionFailed(f"File {inner} does not exist in artifact {artifact}") from None
    except zipfile.BadZipFile:
        raise ActionFailed(f"Artifact {artifact} is not a zip file") from None


def source_result(
    run: ActionRun,
    data: bytes,
    *,
    revision: str,
    summary: str,
    created: object,
    url: str,
    url_in_source_revision: bool = False,
) -> ActionResult:
    """A source action's result: `data` written as each output artifact, and the revision recorded as
    CodePipeline records it (artifact revision, and the execution's source revision)."""
    outputs = run.action.get("outputArtifacts") or []
    artifacts = {out["name"]: put_artifact(run, out["name"], data) for out in outputs}
    name = outputs[0]["name"] if outputs else run.action["name"]
    source_revision = {"actionName": run.action["name"], "revisionId": revision, "revisionSummary": summary}
    if url_in_source_revision:
        source_revision["revisionUrl"] = url
    return ActionResult(
        summary=summary,
        revision=revision,
        external_id=revision,
        artifacts=artifacts,
        artifact_revisions=[
            {"name": name, "revisionId": revision, "revisionSummary": summary, "created": created, "revisionUrl": url}
        ],
        source_revisions=[source_revision],
    )
