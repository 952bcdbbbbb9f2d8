"""CloudFormation UpdateStack keeps the request's stack tags, as in AWS.

LocalStack 4.14's v2 engine ignores ``Tags`` in UpdateStack: a stack keeps the tags it was
created with, and an update that changes only the tags answers "No updates are to be
performed". In AWS, UpdateStack with ``Tags`` replaces the stack's tags (without ``Tags`` it
leaves them; an empty list removes them), a tags-only change is an update of its own
(UPDATE_IN_PROGRESS -> UPDATE_COMPLETE), and a failed update rolls the tags back with the rest.

The patch: the request's tags become the stack's when the update is accepted; a failed update
(UPDATE_FAILED, or a rollback status) puts the previous tags back; a tags-only change is an
update of its own with its two statuses (and their events). Not emulated: AWS propagates stack
tags to the stack's resources; here only the stack carries them.

relay's target pipelines record the deployed release in stack tags (``relay:release-seq``, ...,
``modules/release_select.py``): without this patch the stack would keep the first release's.
"""

from __future__ import annotations

import logging

from localstack.utils.patch import Patches

LOG = logging.getLogger("relay_emulator.stack_tags")
PATCHES = Patches()
_PREVIOUS = "_relay_previous_tags"
_FAILED = ("UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED")


def tags_differ(current: list | None, requested: list | None) -> bool:
    """Whether the requested tags change the stack's (order does not matter)."""

    def as_map(tags):
        return {t.get("Key"): t.get("Value") for t in tags or []}

    return as_map(current) != as_map(requested)


def _stack_of(provider, context, name_or_id: str):
    """The active v2 stack UpdateStack names (by name or ARN), or None."""
    from localstack.services.cloudformation.v2.provider import get_cloudformation_store

    stacks = get_cloudformation_store(context.account_id, context.region).stacks_v2
    if name_or_id in stacks:
        return stacks[name_or_id]
    active = [s for s in stacks.values() if s.stack_name == name_or_id and provider._stack_status_is_active(s.status)]
    return active[0] if len(active) == 1 else None


def install() -> None:
    """Patch the v2 provider's UpdateStack and the stack status setter (idempotent)."""
    if PATCHES.patches:
        return
    from localstack.aws.api.cloudformation import StackStatus, UpdateStackOutput
    from localstack.services.cloudformation.v2.entities import Stack
    from localstack.services.cloudformation.v2.provider import CloudformationProviderV2

    def update_stack(original, self, context, request):
        requested = request.get("Tags")
        if requested is None:  # without Tags, UpdateStack leaves the stack's tags
            return original(self, context, request)
        stack = _stack_of(self, context, request.get("StackName") or "")
        if stack is None:  # no such stack: LocalStack answers
            return original(self, context, request)
        previous = list(stack.tags or [])
        # before the update starts: its worker may fail it (and restore them) before UpdateStack returns
        setattr(stack, _PREVIOUS, previous)
        stack.tags = list(requested)
        try:
            return original(self, context, request)
        except Exception as e:
            # not accepted: the stack keeps its tags, unless only they change
            stack.tags = previous
            setattr(stack, _PREVIOUS, None)
            if "No updates are to be performed" not in str(e) or not tags_differ(previous, requested):
                raise
        stack.set_stack_status(StackStatus.UPDATE_IN_PROGRESS)
        stack.tags = list(requested)
        stack.set_stack_status(StackStatus.UPDATE_COMPLETE)
        LOG.info("stack %s: tags updated (no other change)", stack.stack_name)
        return UpdateStackOutput(StackId=stack.stack_id)

    def set_stack_status(original, self, status, reason=None):
        previous = getattr(self, _PREVIOUS, None)
        if previous is not None and str(status) in _FAILED:
            self.tags = previous  # a failed update keeps the tags of the stack it leaves
            setattr(self, _PREVIOUS, None)
        elif previous is not None and str(status) == "UPDATE_COMPLETE":
            setattr(self, _PREVIOUS, None)
        return original(self, status, reason)

    PATCHES.function(CloudformationProviderV2.update_stack, update_stack)
    PATCHES.function(Stack.set_stack_status, set_stack_status)
    PATCHES.apply()
    LOG.info("relay CloudFormation stack tags installed: UpdateStack keeps the request's tags")
