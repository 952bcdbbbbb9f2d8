"""Pipeline artifacts in the artifact store of an action's region, as CodePipeline keeps them."""

from __future__ import annotations

import io
import random
import string
import zipfile

from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.common import describe, internal_client
from relay_emulator.core.pipeline_declaration import artifact_store, split_artifact_path


def _random_key(n: int = 7) -> str:
    # naming only, like CodePipeline's artifact keys; not a secret
    return "".join(random.choices(string.ascii_letters + string.digits, k=n))  # noqa: S311


def put_artifact(run: ActionRun, name: str, data: bytes) -> dict:
    """Write an output artifact (``<pipeline>/<artifact>/<random>``, SSE-KMS with the store's
    ``encryptionKey``) and return its location ``{bucket, key, region}``."""
    store = artifact_store(run.declaration, run.region)
    if not store:
        raise ActionFailed(f"No artifact store is configured for region {run.region}")
    key = f"{run.pipeline_name[:20]}/{name[:20]}/{_random_key()}"
    params = {"Bucket": store["location"], "Key": key, "Body": data}
    enc = store.get("encryptionKey")
    if enc and enc.get("type", "KMS") == "KMS" and enc.get("id"):
        params["ServerSideEncryption"] = "aws:kms"
        params["SSEKMSKeyId"] = enc["id"]
    try:
        internal_client("s3", run.region, run.account).put_object(**params)
    except Exception as e:
        raise ActionFailed(
            f"Could not write artifact {name} to s3://{store['location']}/{key}: {describe(e)}"
        ) from None
    return {"bucket": store["location"], "key": key, "region": run.region}


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
