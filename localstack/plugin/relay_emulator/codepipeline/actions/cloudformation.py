"""CloudFormation deploy action (``Deploy/AWS/CloudFormation``), one function per ActionMode.

The stack is deployed in the emulator's CloudFormation in the action's region with the
action's ``RoleArn``, ``Capabilities``, ``ParameterOverrides`` and ``TemplateConfiguration``
(``TemplatePath`` and ``TemplateConfiguration`` are ``Artifact::file`` paths into the input
artifacts). The action waits for the stack and fails with the reason of the stack's first
failed event when the stack fails, so a template with a resource type the emulator cannot
create fails the execution naming that type. A no-op update succeeds.
"""

from __future__ import annotations

import logging

from relay_emulator.codepipeline.actions import ActionFailed, ActionResult, ActionRun
from relay_emulator.codepipeline.actions.artifacts import read_artifact_file
from relay_emulator.common import describe, internal_client, wait_until
from relay_emulator.core import stack_deploy

LOG = logging.getLogger("relay_emulator.codepipeline")

STACK_POLL_SECONDS = 0.5
STACK_TIMEOUT_SECONDS = 900


class _Deploy:
    """One deploy action's stack, client and configuration."""

    def __init__(self, run: ActionRun):
        self.run = run
        self.cfg = run.configuration
        self.stack = self.cfg.get("StackName")
        if not self.stack:
            raise ActionFailed("CloudFormation action needs StackName")
        self.cfn = internal_client("cloudformation", run.region, run.account)

    def result(self, summary: str) -> ActionResult:
        return ActionResult(summary=summary, external_id=self.stack)

    def failed(self, message: str) -> ActionFailed:
        return ActionFailed(message, self.stack)

    def request(self) -> dict:
        """The stack request: template and parameters from the input artifacts and configuration."""
        template = self.cfg.get("TemplatePath")
        template_configuration = self.cfg.get("TemplateConfiguration")
        try:
            return stack_deploy.stack_request(
                self.cfg,
                self.stack,
                read_artifact_file(self.run, template).decode() if template else None,
                read_artifact_file(self.run, template_configuration) if template_configuration else None,
            )
        except stack_deploy.ConfigurationError as e:
            raise self.failed(str(e)) from None

    def status(self) -> str | None:
        """The stack's status; None when it does not exist (or was deleted)."""
        try:
            stacks = self.cfn.describe_stacks(StackName=self.stack)["Stacks"]
        except Exception as e:
            if "does not exist" in describe(e):
                return None
            raise
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return stacks[0]["StackStatus"]

    def wait(self, deleting: bool = False) -> None:
        """Wait for the stack's operation to end; ActionFailed naming the cause when it failed."""

        def settled():
            status = self.status()
            if stack_deploy.is_done(status, deleting):
                return "done"
            if stack_deploy.is_failed(status):
                raise self.failed(f"Stack {self.stack} is in state {status}: {self.failure_reason()}")
            return None

        try:
            wait_until(f"stack {self.stack}", settled, timeout=STACK_TIMEOUT_SECONDS, interval=STACK_POLL_SECONDS)
        except TimeoutError:
            raise self.failed(f"Timed out waiting for stack {self.stack}") from None

    def failure_reason(self) -> str:
        try:
            events = self.cfn.describe_stack_events(StackName=self.stack)["StackEvents"]
            stacks = self.cfn.describe_stacks(StackName=self.stack)["Stacks"]
        except Exception as e:
            return f"the stack events could not be read ({describe(e)})"
        return stack_deploy.failure_reason(events, stacks[0].get("StackStatusReason") if stacks else None)

    def delete(self) -> None:
        self.cfn.delete_stack(StackName=self.stack)
        self.wait(deleting=True)

    def wait_change_set(self, name: str) -> str:
        """Wait until the change set is created: "ready" or "no changes"; ActionFailed naming
        CloudFormation's reason when it failed (for example a resource type it cannot create)."""

        def created():
            found = self.cfn.describe_change_set(StackName=self.stack, ChangeSetName=name)
            outcome = stack_deploy.change_set_outcome(found.get("Status"), found.get("StatusReason"))
            if outcome == "failed":
                raise self.failed(f"Change set {name} of stack {self.stack} failed: {found.get('StatusReason')}")
            return outcome

        try:
            return wait_until(f"change set {name}", created, timeout=STACK_TIMEOUT_SECONDS, interval=STACK_POLL_SECONDS)
        except TimeoutError:
            raise self.failed(f"Timed out waiting for change set {name} of stack {self.stack}") from None


def create_update(deploy: _Deploy) -> ActionResult:
    """Create the stack, or update it; "No updates are to be performed" succeeds."""
    current = deploy.status()
    if current == stack_deploy.NEEDS_REPLACEMENT:
        raise deploy.failed(f"Stack {deploy.stack} is in {current} state and can not be updated")
    params = deploy.request()
    try:
        if current is None:
            deploy.cfn.create_stack(**params)
        else:
            deploy.cfn.update_stack(**params)
    except Exception as e:
        message = describe(e)
        if "No updates are to be performed" in message:
            return deploy.result(f"Stack {deploy.stack} is up to date (no changes)")
        raise deploy.failed(f"Stack {deploy.stack}: {message}") from None
    deploy.wait()
    return deploy.result(f"Stack {deploy.stack} {'created' if current is None else 'updated'}")


def replace_on_failure(deploy: _Deploy) -> ActionResult:
    """Like CREATE_UPDATE, after deleting a stack whose last operation failed."""
    if stack_deploy.is_replaced_on_failure(deploy.status()):
        deploy.delete()
    return create_update(deploy)


def delete_only(deploy: _Deploy) -> ActionResult:
    """Delete the stack (a missing stack is nothing to delete)."""
    if deploy.status() is None:
        return deploy.result(f"Stack {deploy.stack} does not exist; nothing to delete")
    deploy.delete()
    return deploy.result(f"Stack {deploy.stack} deleted")


def change_set_replace(deploy: _Deploy) -> ActionResult:
    """Create the change set ``ChangeSetName``, replacing one of that name."""
    name = stack_deploy.change_set_name(deploy.cfg, deploy.stack)
    current = deploy.status()
    if current is not None:
        try:
            deploy.cfn.delete_change_set(StackName=deploy.stack, ChangeSetName=name)
        except Exception as e:  # no previous change set of that name: nothing to replace
            LOG.debug("no change set %s to replace on %s: %s", name, deploy.stack, describe(e))
    params = deploy.request()
    params["ChangeSetName"] = name
    params["ChangeSetType"] = "UPDATE" if current and current != "REVIEW_IN_PROGRESS" else "CREATE"
    try:
        deploy.cfn.create_change_set(**params)
    except Exception as e:
        raise deploy.failed(f"Could not create change set {name}: {describe(e)}") from None
    if deploy.wait_change_set(name) == "no changes":
        return deploy.result(f"Change set {name} of stack {deploy.stack} contains no changes")
    return deploy.result(f"Change set {name} created for stack {deploy.stack}")


def change_set_execute(deploy: _Deploy) -> ActionResult:
    """Execute the change set ``ChangeSetName`` and wait for the stack."""
    name = stack_deploy.change_set_name(deploy.cfg, deploy.stack)
    try:
        deploy.cfn.execute_change_set(StackName=deploy.stack, ChangeSetName=name)
    except Exception as e:
        raise deploy.failed(f"Could not execute change set {name}: {describe(e)}") from None
    deploy.wait()
    return deploy.result(f"Change set {name} executed on stack {deploy.stack}")


MODES = {
    "CREATE_UPDATE": create_update,
    "REPLACE_ON_FAILURE": replace_on_failure,
    "DELETE_ONLY": delete_only,
    "CHANGE_SET_REPLACE": change_set_replace,
    "CHANGE_SET_EXECUTE": change_set_execute,
}


def run(run: ActionRun) -> ActionResult:
    """Deploy with the action's ``ActionMode`` (default CREATE_UPDATE)."""
    mode = run.configuration.get("ActionMode") or stack_deploy.DEFAULT_ACTION_MODE
    handler = MODES.get(mode)
    if handler is None:
        raise ActionFailed(f"Unsupported ActionMode {mode}; use one of {', '.join(MODES)}")
    return handler(_Deploy(run))
