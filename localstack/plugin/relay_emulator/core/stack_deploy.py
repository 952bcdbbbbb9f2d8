"""CloudFormation deploy action decisions: the stack request an action's configuration asks
for, how a stack status reads, and which stack event explains a failure."""

from __future__ import annotations

import json

DEFAULT_ACTION_MODE = "CREATE_UPDATE"

TERMINAL_OK = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE", "DELETE_COMPLETE"})
# Terminal statuses whose stack holds the previous state (or nothing) after a failure.
TERMINAL_ROLLED_BACK = frozenset({"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
# A stack CloudFormation will not update: it must be deleted and created again.
NEEDS_REPLACEMENT = "ROLLBACK_COMPLETE"


class ConfigurationError(ValueError):
    """The action's configuration cannot be turned into a stack request."""


def stack_request(cfg: dict, stack: str, template: str | None, template_configuration: bytes | None) -> dict:
    """CreateStack / UpdateStack / CreateChangeSet parameters of a deploy action.

    ``template`` is the text of ``TemplatePath`` and ``template_configuration`` the content of
    ``TemplateConfiguration`` (both already read from the input artifacts, or None). Parameters
    come from the template configuration, then ``ParameterOverrides`` (which win); tags from the
    template configuration; ``Capabilities`` is a comma-separated list; ``RoleArn`` becomes the
    stack's service role.
    """
    params: dict = {"StackName": stack}
    if template is not None:
        params["TemplateBody"] = template
    overrides: dict = {}
    if template_configuration is not None:
        try:
            tc = json.loads(template_configuration)
        except ValueError:
            raise ConfigurationError("TemplateConfiguration is not valid JSON") from None
        overrides.update(tc.get("Parameters") or {})
        if tc.get("Tags"):
            params["Tags"] = [{"Key": k, "Value": v} for k, v in tc["Tags"].items()]
    if cfg.get("ParameterOverrides"):
        try:
            overrides.update(json.loads(cfg["ParameterOverrides"]))
        except ValueError:
            raise ConfigurationError("ParameterOverrides is not valid JSON") from None
    if overrides:
        params["Parameters"] = [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in overrides.items()]
    if cfg.get("Capabilities"):
        params["Capabilities"] = [c.strip() for c in cfg["Capabilities"].split(",") if c.strip()]
    if cfg.get("RoleArn"):
        params["RoleARN"] = cfg["RoleArn"]
    return params


def change_set_name(cfg: dict, stack: str) -> str:
    """The action's ``ChangeSetName`` (default ``<stack>-changeset``)."""
    return cfg.get("ChangeSetName") or f"{stack}-changeset"


def is_failed(status: str | None) -> bool:
    """A terminal status that means the last operation on the stack failed."""
    return status is not None and (status.endswith("_FAILED") or status in TERMINAL_ROLLED_BACK)


def is_replaced_on_failure(status: str | None) -> bool:
    """A stack REPLACE_ON_FAILURE deletes before creating it again (a failed state)."""
    return status is not None and (status.endswith("_FAILED") or status == NEEDS_REPLACEMENT)


def change_set_outcome(status: str | None, reason: str | None) -> str | None:
    """ "ready", "no changes" or "failed" once a change set is created; None while it is."""
    if status == "CREATE_COMPLETE":
        return "ready"
    if status == "FAILED":
        text = reason or ""
        if "didn't contain changes" in text or "No updates are to be performed" in text:
            return "no changes"
        return "failed"
    return None


def is_done(status: str | None, deleting: bool = False) -> bool:
    """A terminal status that means the operation succeeded (a deleted stack has no status)."""
    return (deleting and status is None) or status in TERMINAL_OK


def failure_reason(events: list, stack_reason: str | None = None) -> str:
    """What made a stack fail, from its events (newest first, as DescribeStackEvents lists them).

    The oldest failed event with a reason is the cause (``Logical: reason``); without one, the
    oldest rollback event with a reason (CloudFormation names the failed resources there), then
    the stack's own status reason.
    """
    oldest_first = list(reversed(events))
    for ev in oldest_first:
        if ev.get("ResourceStatus", "").endswith("_FAILED") and ev.get("ResourceStatusReason"):
            return f"{ev.get('LogicalResourceId')}: {ev['ResourceStatusReason']}"
    for ev in oldest_first:
        if "ROLLBACK" in ev.get("ResourceStatus", "") and ev.get("ResourceStatusReason"):
            return f"{ev.get('LogicalResourceId')}: {ev['ResourceStatusReason']}"
    return stack_reason or "see the stack events"
