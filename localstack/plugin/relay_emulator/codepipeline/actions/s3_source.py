"""S3 source action (``Source/AWS/S3``).

Reads ``S3Bucket``/``S3ObjectKey`` in the action's region (the latest version, or the version
an execution's ``sourceRevisions`` names), records the version id as the revision and writes
the object as the output artifact. The bucket must be versioned, as in CodePipeline.
"""

from __future__ import annotations

from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.codepipeline.actions.artifacts import source_result
from relay_emulator.common import describe, internal_client

REVISION_SUMMARY_METADATA = "codepipeline-artifact-revision-summary"


def run(run: ActionRun) -> ActionResult:
    """Fetch the source object and publish it as the action's output artifacts."""
    cfg = run.configuration
    bucket, key = cfg.get("S3Bucket"), cfg.get("S3ObjectKey")
    if not bucket or not key:
        raise ActionFailed("S3 source action needs S3Bucket and S3ObjectKey")
    params = {"Bucket": bucket, "Key": key}
    override = run.source_override
    if override and override.get("revisionType") == "S3_OBJECT_VERSION_ID":
        params["VersionId"] = override["revisionValue"]
    try:
        obj = internal_client("s3", run.region, run.account).get_object(**params)
        data = obj["Body"].read()
    except Exception as e:
        raise ActionFailed(f"Could not read s3://{bucket}/{key}: {describe(e)}") from None
    version_id = obj.get("VersionId")
    if not version_id:
        raise ActionFailed(f"Bucket {bucket} must have versioning enabled for the S3 source action")
    summary = (obj.get("Metadata") or {}).get(REVISION_SUMMARY_METADATA) or f"Amazon S3 version id: {version_id}"
    return source_result(
        run,
        data,
        revision=version_id,
        summary=summary,
        created=obj.get("LastModified"),
        url=f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}",
    )
