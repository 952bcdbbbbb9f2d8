"""What the plugin's CloudFormation resource providers (``cfn_app_tier``, ``cfn_route53``) share: their
schemas, their answers, a delete by one identifying property, and the plugin class of an entry point.

A provider has no ``read`` of its own: LocalStack's ``ResourceProvider.read`` raises NotImplementedError.
"""

from __future__ import annotations

from collections.abc import Callable

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)


def schema(primary: str, create_only=(), read_only=()) -> dict:
    return {
        "primaryIdentifier": [f"/properties/{primary}"],
        "createOnlyProperties": [f"/properties/{p}" for p in create_only],
        "readOnlyProperties": [f"/properties/{p}" for p in read_only],
    }


def previous_state(request: ResourceRequest) -> dict:
    return dict(request.previous_state or {})


def done(model: dict) -> ProgressEvent:
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


def removed() -> ProgressEvent:
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})


def delete_named(request: ResourceRequest, key: str, delete: Callable[[], Callable]) -> ProgressEvent:
    """Delete the resource that property ``key`` names, when it has one (a create that failed early has not):
    ``delete()`` gives the API call, which takes the property under the same name."""
    value = request.desired_state.get(key)
    if value:
        delete()(**{key: value})
    return removed()


def provider_plugin(provider: type[ResourceProvider]) -> type[CloudFormationResourceProviderPlugin]:
    """The plugin class an entry point names (``<Type>Plugin``): it loads ``provider`` for its type."""

    class Plugin(CloudFormationResourceProviderPlugin):
        name = provider.TYPE

        def __init__(self):
            self.factory = None

        def load(self):
            self.factory = provider

    Plugin.__name__ = Plugin.__qualname__ = provider.__name__.replace("Provider", "Plugin")
    return Plugin
