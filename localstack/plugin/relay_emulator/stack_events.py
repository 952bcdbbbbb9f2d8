"""CloudFormation's EventBridge events: ``CloudFormation Stack Status Change``.

LocalStack 4.14's v2 engine (the default CloudFormation provider) changes a stack's status in
one place, ``Stack.set_stack_status`` (``services/cloudformation/v2/entities.py``): CreateStack,
UpdateStack, change sets (create, execute, failed checks), DeleteStack and the executor's
rollback statuses all go through it. The patch lets it do its work, then, when the status
differs from the last one reported, hands a ``CloudFormation Stack Status Change`` event to the emitter
(``service_events``) for the default bus of the stack's account and region: ``resources`` the
stack id, ``detail`` ``stack-id``, ``status-details`` (``status``, ``status-reason``: the reason
given with that status, else "") and ``client-request-token``.

The token is the ``ClientRequestToken`` of the operation that started the change (CreateStack,
UpdateStack, DeleteStack, ExecuteChangeSet; "" without one, as AWS sends it): a request handler
notes it for the request's thread, and the first status that operation sets remembers it on the
stack for the statuses its background deployment sets later.

Not emulated: ``CloudFormation Resource Status Change`` and drift events; the legacy engine
(``PROVIDER_OVERRIDE_CLOUDFORMATION=engine-legacy``) emits nothing.
"""

from __future__ import annotations

import logging
import threading

from localstack.utils.patch import Patches

from relay_emulator.common import now
from relay_emulator.core import service_events as shapes
from relay_emulator.service_events import EMITTER

LOG = logging.getLogger("relay_emulator.stack_events")
PATCHES = Patches()
_REQUEST = threading.local()
_TOKEN_OPERATIONS = frozenset({"CreateStack", "UpdateStack", "DeleteStack", "ExecuteChangeSet"})
_TOKEN_ATTRIBUTE = "_relay_client_request_token"  # noqa: S105 - an attribute name
_LAST_ATTRIBUTE = "_relay_reported_status"


def _note_request(chain, context, response) -> None:
    """Request handler: the ClientRequestToken of a CloudFormation request, for its thread."""
    service = context.service
    if service is None or service.service_name != "cloudformation":
        return
    operation = context.operation.name if context.operation else None
    request = context.service_request or {}
    _REQUEST.token = (request.get("ClientRequestToken") or "") if operation in _TOKEN_OPERATIONS else None


def _token_of(stack) -> str:
    token = getattr(_REQUEST, "token", None)
    if token is not None:  # set in this request's thread: this operation's token
        setattr(stack, _TOKEN_ATTRIBUTE, token)
        return token
    return getattr(stack, _TOKEN_ATTRIBUTE, "")


def install() -> None:
    """Patch the v2 engine's ``Stack.set_stack_status`` and note tokens (idempotent)."""
    if PATCHES.patches:
        return
    from localstack.aws.handlers import serve_custom_service_request_handlers
    from localstack.services.cloudformation.v2.entities import Stack

    def set_stack_status(original, self, status, reason=None):
        result = original(self, status, reason)
        # LocalStack sets some statuses twice (a new stack is made CREATE_IN_PROGRESS, then set to
        # it): one event per change of what was last reported
        if status != getattr(self, _LAST_ATTRIBUTE, None):
            setattr(self, _LAST_ATTRIBUTE, status)
            try:
                detail = shapes.stack_detail(self.stack_id, str(status), reason, _token_of(self))
                EMITTER.put(self.account_id, self.region_name, shapes.stack_entry(self.stack_id, detail, now()))
            except Exception:  # an event must never break a deployment
                LOG.exception("could not emit the status change of stack %s", getattr(self, "stack_id", "?"))
        return result

    PATCHES.function(Stack.set_stack_status, set_stack_status)
    PATCHES.apply()
    serve_custom_service_request_handlers.append(_note_request)
    LOG.info("relay CloudFormation stack status events installed")
