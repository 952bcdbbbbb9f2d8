"""JSON Schema of the `context.relay` block of cdktf.json, generated from the typed configuration.

The schema describes cdktf.json as a whole (its other keys are cdktf's own and left open), so an
editor can validate the file directly. `defaults` and each block under `environments` are partial
configurations: the layers are merged before the model validates the result, so every field is
optional in a layer, and `null` is allowed wherever a value is, since it removes a key when the
layers are merged; the items of a list are complete values (a list replaces the one below it whole).
`python -m tools.configref` writes it to docs/relay.schema.json.
"""

from __future__ import annotations

import copy
from typing import Any

from config.schema import RelayConfig, RelayContext

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ANNOTATIONS = ("description", "default")
NULL = {"type": "null"}
SETTINGS_REF = {"$ref": "#/$defs/Settings"}

Schema = dict[str, Any]


def _keys_as_property_names(schema: Schema) -> None:
    """Turn pydantic's `patternProperties` for a constrained map key into `propertyNames`, so a key
    that breaks the pattern is an error (as it is for the model) rather than an unchecked extra."""
    patterns = schema.get("patternProperties")
    if not isinstance(patterns, dict) or len(patterns) != 1:
        return
    ((pattern, values),) = patterns.items()
    del schema["patternProperties"]
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
    schema["additionalProperties"] = values


def _tidy(node: Any) -> None:
    """Drop pydantic's generated titles, fold docstring line breaks, constrain map keys (in place)."""
    if isinstance(node, dict):
        if isinstance(node.get("title"), str):
            del node["title"]
        if isinstance(node.get("description"), str):
            node["description"] = " ".join(node["description"].split())
        _keys_as_property_names(node)
        for key, value in node.items():
            if key != "default":
                _tidy(value)
    elif isinstance(node, list):
        for item in node:
            _tidy(item)


def _nullable(schema: Schema) -> Schema:
    """`schema` or null (null removes the key when the layers are merged)."""
    core = {k: v for k, v in schema.items() if k not in ANNOTATIONS}
    options = core["anyOf"] if list(core) == ["anyOf"] else [core]
    if NULL in options:
        return schema
    return {"anyOf": [*options, NULL], **{k: schema[k] for k in ANNOTATIONS if k in schema}}


def _partial(schema: Schema) -> None:
    """Make one object schema of the configuration partial: nothing required, null allowed (in place)."""
    schema.pop("required", None)
    properties = schema.get("properties", {})
    for name, prop in properties.items():
        properties[name] = _nullable(prop)
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _nullable(schema["additionalProperties"])
    for value in properties.values():
        for option in value.get("anyOf", []):
            if isinstance(option.get("additionalProperties"), dict):
                option["additionalProperties"] = _nullable(option["additionalProperties"])


def _list_items(node: Any) -> set[str]:
    """Names of the definitions `node` uses as list items: a list replaces the one below it whole, so its
    items are complete values, not partial layers."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("items", {}).get("$ref") if isinstance(node.get("items"), dict) else None
        if isinstance(ref, str):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _list_items(value)
    elif isinstance(node, list):
        for item in node:
            found |= _list_items(item)
    return found


def relay_json_schema() -> Schema:
    """The JSON Schema of cdktf.json with its `context.relay` block described in full."""
    settings = copy.deepcopy(RelayConfig.model_json_schema())
    definitions: dict[str, Schema] = settings.pop("$defs")
    _tidy(settings)
    _tidy(definitions)
    whole = _list_items([settings, definitions])
    for name, schema in [("", settings), *definitions.items()]:
        if name not in whole:
            _partial(schema)
    settings["description"] = (
        "Settings of one layer (`defaults` or one environment): any part of the configuration, every field "
        "optional; objects merge key by key over the layer below, null removes a key, anything else replaces. "
        "Reference: docs/configuration.md."
    )
    context = copy.deepcopy(RelayContext.model_json_schema())
    _tidy(context)
    defaults = context["properties"]["defaults"]
    context["properties"]["defaults"] = {**SETTINGS_REF, **{k: defaults[k] for k in ANNOTATIONS if k in defaults}}
    context["properties"]["environments"]["additionalProperties"] = SETTINGS_REF
    definitions.update(Settings=settings, RelayContext=context)
    return {
        "$schema": DIALECT,
        "title": "cdktf.json of a relay project",
        "description": (
            "Validates the `context.relay` block (generated from config/schema.py by `python -m tools.configref`); "
            "the other keys belong to cdktf and are not checked here."
        ),
        "type": "object",
        "properties": {
            "context": {
                "type": "object",
                "properties": {"relay": {"$ref": "#/$defs/RelayContext"}},
            }
        },
        "$defs": dict(sorted(definitions.items())),
    }
