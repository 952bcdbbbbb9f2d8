"""CloudFormation in the emulator never reports a resource it did not create.

LocalStack 4.14 deploys a resource type it has no resource provider for "as a fallback": the
stack ends CREATE_COMPLETE and the resource has physical id ``unknown``, while nothing exists.
Its setting ``CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES`` (default on) governs that fallback. What
LocalStack does with the setting off, and what the plugin changes:

* v2 engine (the default provider): CreateStack, UpdateStack and CreateChangeSet first check
  every resource type of the template against LocalStack's service catalog, and fail the change
  set and the stack (CREATE_FAILED / UPDATE_ROLLBACK_FAILED, with a ROLLBACK_IN_PROGRESS event
  whose reason names each unsupported type). Offline, LocalStack cannot download its remote
  catalog and falls back to a catalog that knows no resource type at all, so with the setting
  off *every* template fails, even AWS::SSM::Parameter. The plugin answers that check from the
  resource providers LocalStack actually has (the same lookup the engine deploys with).
* v2 engine, execution: a type without a provider fails its resource ("Resource type X not
  supported") instead of succeeding.
* v2 engine, UpdateStack: LocalStack runs an internal change set and ignores both a failed
  support check (it deploys the template anyway) and a failed execution: the stack ends
  UPDATE_COMPLETE. The plugin stops a change set that failed its check from being deployed and
  makes a failed execution fail the update, which LocalStack then reports as UPDATE_FAILED (the
  events keep the reason that names the type or the failed resource).
* legacy engine (``PROVIDER_OVERRIDE_CLOUDFORMATION=engine-legacy``): a type without a provider
  fails the stack, but with an empty reason; the plugin names the type.

The plugin enforces the guarantee whatever the environment says: it turns the fallback off (and
empties LocalStack's per-type fallback lists ``CFN_IGNORE_UNSUPPORTED_TYPE_CREATE/UPDATE``),
logging a warning when the environment had asked for it. A user's template can therefore never
"deploy" in the emulator while a resource does not exist.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patch, Patches

LOG = logging.getLogger("relay_emulator.cloudformation")
PATCHES = Patches()


class StackUpdateFailed(Exception):
    """An UpdateStack whose change set failed its checks or its execution."""


def unsupported(resource_type: str) -> str:
    """The reason a stack event gives for a type the emulator cannot create."""
    return (
        f"Resource type {resource_type} is not supported by the emulator (no resource provider): it cannot be created"
    )


def _disable_fallback() -> None:
    from localstack import config

    asked = []
    if config.CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES:
        asked.append("CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES")
        PATCHES.add(Patch(config, "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES", False))
    for name in ("CFN_IGNORE_UNSUPPORTED_TYPE_CREATE", "CFN_IGNORE_UNSUPPORTED_TYPE_UPDATE"):
        if any(t.strip() for t in getattr(config, name)):
            asked.append(name)
            PATCHES.add(Patch(config, name, []))
    if asked:
        LOG.warning("%s ignored: relay's emulator fails stacks with resource types it cannot create", ", ".join(asked))


def install() -> None:
    """Patch LocalStack's CloudFormation engines (idempotent)."""
    if PATCHES.patches:
        return
    from localstack.aws.api.cloudformation import ChangeSetStatus, ExecutionStatus, StackStatus
    from localstack.services.cloudformation.engine.template_deployer import TemplateDeployer
    from localstack.services.cloudformation.engine.v2.change_set_model_executor import ChangeSetModelExecutor
    from localstack.services.cloudformation.engine.v2.change_set_resource_support_checker import (
        ChangeSetResourceSupportChecker,
    )
    from localstack.services.cloudformation.resource_provider import NoResourceProvider, ResourceProviderExecutor
    from localstack.utils.catalog.common import CloudFormationResourcesSupportAtRuntime

    def resource_support_status(original, self, resource_type: str):
        if ResourceProviderExecutor.try_load_resource_provider(resource_type) is not None:
            return CloudFormationResourcesSupportAtRuntime.AVAILABLE
        return original(self, resource_type)

    def execute(original, self):
        change_set = self._change_set
        # UpdateStack's internal change set: never executed through ExecuteChangeSet, stack updating
        in_update_stack = (
            change_set.execution_status != ExecutionStatus.EXECUTE_IN_PROGRESS
            and change_set.stack.status == StackStatus.UPDATE_IN_PROGRESS
        )
        if in_update_stack and change_set.status == ChangeSetStatus.FAILED:
            raise StackUpdateFailed(change_set.status_reason)
        result = original(self)
        if in_update_stack and result.failure_message:
            raise StackUpdateFailed(result.failure_message)
        return result

    def apply_change(original, self, change, stack):
        try:
            return original(self, change, stack)
        except NoResourceProvider as e:
            if str(e):
                raise
            logical_id = change["ResourceChange"]["LogicalResourceId"]
            resource_type = (stack.resources.get(logical_id) or {}).get("Type", "?")
            raise NoResourceProvider(unsupported(resource_type)) from None

    _disable_fallback()
    PATCHES.function(ChangeSetResourceSupportChecker._resource_support_status, resource_support_status)
    PATCHES.function(ChangeSetModelExecutor.execute, execute)
    PATCHES.function(TemplateDeployer.apply_change, apply_change)
    PATCHES.apply()
    LOG.info("relay CloudFormation guard installed: unsupported resource types fail their stack")
