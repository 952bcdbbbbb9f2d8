"""CodePipeline declarations: AWS's server-side defaults and the structure and cross-region checks
of CreatePipeline / UpdatePipeline (the role check needs IAM and lives in the provider)."""

from __future__ import annotations

import copy
from collections.abc import Collection

# Owners whose actions AWS never runs in another region (with Source actions): third-party and custom.
LOCAL_ONLY_OWNERS = ("ThirdParty", "Custom")


class DeclarationError(Exception):
    """A declaration AWS rejects, with AWS's error code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _null(field: str) -> DeclarationError:
    return DeclarationError(
        "ValidationException",
        f"1 validation error detected: Value null at 'pipeline.{field}' "
        "failed to satisfy constraint: Member must not be null",
    )


def _structure(message: str) -> DeclarationError:
    return DeclarationError("InvalidStructureException", message)


def normalise(declaration: dict, version: int) -> dict:
    """Copy of the declaration at ``version`` with AWS's defaults filled in (pipelineType V1,
    executionMode SUPERSEDED, runOrder 1, empty configuration and artifact lists)."""
    decl = copy.deepcopy(declaration)
    decl["version"] = version
    decl.setdefault("pipelineType", "V1")
    decl.setdefault("executionMode", "SUPERSEDED")
    for stage in decl.get("stages") or []:
        for action in stage.get("actions") or []:
            action.setdefault("runOrder", 1)
            action.setdefault("configuration", {})
            action.setdefault("outputArtifacts", [])
            action.setdefault("inputArtifacts", [])
    return decl


def check_structure(decl: dict) -> None:
    """Raise the DeclarationError AWS answers for the first structural problem, as AWS does."""
    if not decl.get("name"):
        raise _null("name")
    if not decl.get("roleArn"):
        raise _null("roleArn")
    if not decl.get("artifactStore") and not decl.get("artifactStores"):
        raise _structure("Pipeline must have either an artifactStore or artifactStores")
    if decl.get("artifactStore") and decl.get("artifactStores"):
        raise _structure("Pipeline cannot have both an artifactStore and artifactStores")
    stages = decl.get("stages") or []
    if len(stages) < 2:
        raise _structure("Pipeline has fewer than 2 stages. A pipeline must have at least two stages.")
    seen = set()
    for i, stage in enumerate(stages):
        if stage.get("name") in seen:
            raise _structure(f"Pipeline has duplicate stage name: {stage.get('name')}")
        seen.add(stage.get("name"))
        if not stage.get("actions"):
            raise _structure(f"Stage {stage.get('name')} must contain at least one action")
        for action in stage["actions"]:
            category = (action.get("actionTypeId") or {}).get("category")
            if i == 0 and category != "Source":
                raise _structure("Pipeline's first stage must contain only source actions")
            if i > 0 and category == "Source":
                raise _structure("Source actions must be in the first stage of a pipeline")


def check_regions(decl: dict, region: str, codepipeline_regions: Collection[str]) -> None:
    """Raise the DeclarationError AWS answers for the first cross-region problem of a pipeline in
    ``region``.

    ``codepipeline_regions`` are the regions of ``region``'s partition where CodePipeline has an
    endpoint (botocore's data, passed in so that this stays pure). An artifact store anywhere else
    is AWS's ValidationException (aws-cdk#15650): no pipeline can keep artifacts where CodePipeline
    does not run; the pipeline's own region is exempt (a request that reached the emulator there
    is served there). Then, as AWS documents it: ``artifactStores`` holds the pipeline's region;
    an action in another region is neither a source, third-party nor custom action, and has an
    artifact store in ``artifactStores`` for its region (a single ``artifactStore`` allows no
    cross-region action).
    """
    stores = decl.get("artifactStores") or {}
    for store_region in sorted(stores):
        if store_region != region and store_region not in codepipeline_regions:
            raise DeclarationError(
                "ValidationException",
                f"The region {store_region} specified in 'pipeline.artifactStores' is not a valid AWS Region.",
            )
    if stores and region not in stores:
        raise _structure(
            f"pipeline.artifactStores must contain an artifact store for the pipeline's region {region}; "
            f"it has {', '.join(sorted(stores))}"
        )
    for stage in decl.get("stages") or []:
        for action in stage.get("actions") or []:
            where = action.get("region")
            if not where or where == region:
                continue
            category, owner, _provider = action_kind(action)
            named = f"Action {action.get('name')} in stage {stage.get('name')} has region {where}"
            if category == "Source":
                raise _structure(f"{named}: source actions run in the pipeline's region {region}")
            if owner in LOCAL_ONLY_OWNERS:
                raise _structure(f"{named}: {owner} actions run in the pipeline's region {region}")
            if not stores:
                raise _structure(
                    f"{named}, outside the pipeline's region {region}: a cross-region action needs "
                    "pipeline.artifactStores (an artifact store per region) instead of pipeline.artifactStore"
                )
            if where not in stores:
                raise _structure(
                    f"{named}, but pipeline.artifactStores has no artifact store for {where}; "
                    f"it has {', '.join(sorted(stores))}"
                )


def key_region(key_id: str) -> str | None:
    """Region of a KMS key or alias ARN (None for a bare key id or alias name: the caller's region)."""
    parts = key_id.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms":
        return parts[3]
    return None


def action_kind(action: dict) -> tuple:
    """(category, owner, provider) of an action: what decides how it runs."""
    type_id = action.get("actionTypeId") or {}
    return type_id.get("category"), type_id.get("owner"), type_id.get("provider")


def action_region(action: dict, pipeline_region: str) -> str:
    """Region an action runs in (cross-region actions name theirs)."""
    return action.get("region") or pipeline_region


def artifact_store(decl: dict, region: str) -> dict | None:
    """The artifact store for actions in ``region`` (None when the pipeline has none there)."""
    if decl.get("artifactStores"):
        return decl["artifactStores"].get(region)
    return decl.get("artifactStore")


def split_artifact_path(path: str, inputs: list) -> tuple[str, str]:
    """``Artifact::file/in/zip`` -> (artifact, file); a bare path names the first input artifact."""
    if "::" in path:
        artifact, inner = path.split("::", 1)
        return artifact, inner
    return (inputs[0] if inputs else ""), path
