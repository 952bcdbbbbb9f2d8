"""CodeBuild build action (``Build/AWS/CodeBuild``).

Starts a build of ``ProjectName`` in the action's region with the action's input artifacts as
its source (the first, or ``PrimarySource``, in ``CODEBUILD_SRC_DIR``; others in
``CODEBUILD_SRC_DIR_<artifact>``) and ``EnvironmentVariables`` as overrides, waits for it, and
fails naming the build id and the failed phase, or writes the buildspec's artifacts as the
action's output artifact (as the project's service role, which uploads it in CodeBuild). The
build id is the action's external execution id. The source revision the build resolves is the
input artifact's revision (the commit of a connection source, the object version of an S3 source).
"""

from __future__ import annotations

from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.codepipeline.actions.artifacts import Writer, put_artifact
from relay_emulator.common import LOG


def run(run: ActionRun) -> ActionResult:
    """Run the project's build on the input artifacts and wait for it."""
    from relay_emulator.codebuild import runner
    from relay_emulator.core.buildspec import BuildspecError, pipeline_variables

    cfg = run.configuration
    project = cfg.get("ProjectName")
    if not project:
        raise ActionFailed("CodeBuild action needs ProjectName")
    if str(cfg.get("BatchEnabled", "false")).lower() == "true":
        raise ActionFailed("Batch builds (BatchEnabled) are not emulated; set BatchEnabled to false")
    inputs = run.input_names
    if not inputs:
        raise ActionFailed("CodeBuild action needs an input artifact")
    primary = cfg.get("PrimarySource") or inputs[0]
    if primary not in inputs:
        raise ActionFailed(f"PrimarySource {primary} is not one of the input artifacts: {', '.join(inputs)}")
    locations = {}
    for name in inputs:
        if name not in run.artifacts:
            raise ActionFailed(f"Input artifact {name} is not available")
        locations[name] = run.artifacts[name]
    try:
        overrides = pipeline_variables(cfg.get("EnvironmentVariables"))
    except BuildspecError as e:
        raise ActionFailed(str(e)) from None
    outputs = [o["name"] for o in run.action.get("outputArtifacts") or []]
    if len(outputs) > 1:
        raise ActionFailed("More than one output artifact (secondary artifacts) is not emulated")
    pipeline_input = runner.PipelineInput(
        pipeline_name=run.pipeline_name,
        primary=locations[primary],
        secondary={name: loc for name, loc in locations.items() if name != primary},
        revision=run.revisions.get(primary),
        wants_artifact=bool(outputs),
    )
    request = {"projectName": project, "environmentVariablesOverride": overrides}
    try:
        build = runner.start_build(
            run.account, run.region, request, initiator=f"codepipeline/{run.pipeline_name}", pipeline=pipeline_input
        )
    except Exception as e:  # the API's own errors (missing project, bad overrides)
        message = getattr(e, "message", None) or str(e)
        raise ActionFailed(f"Could not start a build of {project}: {message}") from None
    build.done.wait()
    status = build.describe()["buildStatus"]
    if status != "SUCCEEDED":
        phase, reason = build.failure()
        raise ActionFailed(f"Build {build.id} {status} in phase {phase}: {reason}", external_id=build.id)
    artifacts = {}
    if outputs:
        if build.artifact is None:
            raise ActionFailed(f"Build {build.id} produced no artifact for {outputs[0]}", external_id=build.id)
        # CodeBuild uploads a build's output artifact to the pipeline's store as its service role
        writer = Writer(build.service_role, build.session)
        artifacts[outputs[0]] = put_artifact(run, outputs[0], build.artifact, writer)
    LOG.info("pipeline %s: build %s succeeded", run.pipeline_name, build.id)
    return ActionResult(summary=f"Build {build.id} succeeded", external_id=build.id, artifacts=artifacts)
