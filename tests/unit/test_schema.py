"""The JSON schema of cdktf.json's `context.relay` block: committed up to date, the shipped file valid
against it, and the same verdict as the loader on good and bad blocks.

No JSON Schema library is a dependency, so `schema_errors` below implements the keywords the
generated schema uses, and a test fails if the schema ever uses one it does not implement.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_config
from tools import configref

PROJECT_ROOT = Path(__file__).resolve().parents[2]

ANNOTATIONS = {"$schema", "$defs", "title", "description", "default"}
ASSERTIONS = {
    "$ref",
    "type",
    "enum",
    "anyOf",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
    "maxProperties",
}
TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve(root: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def schema_errors(schema: dict, instance: Any, root: dict, at: str = "") -> list[str]:
    """Where `instance` breaks `schema` (JSON Schema 2020-12, the keywords in ASSERTIONS)."""
    where = at or "(document)"
    if "$ref" in schema:
        found = schema_errors(resolve(root, schema["$ref"]), instance, root, at)
        if found:
            return found
    if "type" in schema and not TYPES[schema["type"]](instance):
        return [f"{where}: not of type {schema['type']}"]
    if "enum" in schema and instance not in schema["enum"]:
        return [f"{where}: {instance!r} is not one of {schema['enum']}"]
    if "anyOf" in schema:
        options = [schema_errors(option, instance, root, at) for option in schema["anyOf"]]
        if all(options):
            return [f"{where}: matches no option: {'; '.join(e for errors in options for e in errors)}"]
    errors: list[str] = []
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0) or len(instance) > schema.get("maxLength", len(instance)):
            errors.append(f"{where}: length {len(instance)} out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{where}: {instance!r} does not match {schema['pattern']}")
    if TYPES["number"](instance):
        if instance < schema.get("minimum", instance) or instance > schema.get("maximum", instance):
            errors.append(f"{where}: {instance} out of bounds")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0) or len(instance) > schema.get("maxItems", len(instance)):
            errors.append(f"{where}: {len(instance)} items out of bounds")
        for index, item in enumerate(instance):
            errors += schema_errors(schema.get("items", {}), item, root, f"{at}[{index}]")
    if isinstance(instance, dict):
        if len(instance) > schema.get("maxProperties", len(instance)):
            errors.append(f"{where}: more than {schema['maxProperties']} entries")
        errors += [f"{where}: {name!r} is required" for name in schema.get("required", []) if name not in instance]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, value in instance.items():
            here = f"{at}.{name}" if at else name
            errors += [f"{here} (key): {e}" for e in schema_errors(schema.get("propertyNames", {}), name, root, at)]
            if name in properties:
                errors += schema_errors(properties[name], value, root, here)
            elif extra is False:
                errors.append(f"{here}: unknown field")
            elif isinstance(extra, dict):
                errors += schema_errors(extra, value, root, here)
    return errors


def subschemas(schema: dict):
    """Every schema object inside `schema`, itself included."""
    yield schema
    children = [*schema.get("$defs", {}).values(), *schema.get("properties", {}).values(), *schema.get("anyOf", [])]
    children += [
        schema[k] for k in ("items", "additionalProperties", "propertyNames") if isinstance(schema.get(k), dict)
    ]
    for child in children:
        yield from subschemas(child)


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(configref.SCHEMA.read_text())


def shipped() -> dict:
    return json.loads((PROJECT_ROOT / "cdktf.json").read_text())


def test_the_committed_schema_is_generated_from_the_current_model():
    assert configref.SCHEMA.read_text() == configref.render_schema(), "run: python -m tools.configref"


def test_the_schema_uses_only_keywords_this_validator_implements(schema):
    used = {key for node in subschemas(schema) for key in node}
    assert used <= ASSERTIONS | ANNOTATIONS, used - ASSERTIONS - ANNOTATIONS
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_shipped_cdktf_json_is_valid_against_the_schema(schema):
    document = shipped()
    assert schema_errors(schema, document, schema) == []
    assert set(document["context"]["relay"]["environments"]) == {"local", "prod"}


# (where in context.relay, value, the schema's complaint or None when valid); the loader agrees.
BLOCKS = [
    pytest.param(("environments", "local", "colour"), "blue", "environments.local.colour: unknown field", id="unknown"),
    pytest.param(
        ("environments", "local", "trigger", "mode"), "polling", "environments.local.trigger.mode", id="bad-enum"
    ),
    pytest.param(
        ("environments", "local", "target_regions"),
        "eu-south-2",
        "environments.local.target_regions",
        id="string-not-list",
    ),
    pytest.param(
        ("defaults", "delivery", "regions", "eu-south-2"), "replicated", "defaults.delivery.regions", id="bad-strategy"
    ),
    pytest.param(("environments", "local", "delivery"), {"regions": {"eu-central-1": None}}, None, id="null-strategy"),
    pytest.param(("defaults", "app"), "a" * 17, "defaults.app", id="too-long"),
    pytest.param(("defaults", "tags", "team!"), "x", "defaults.tags.team! (key)", id="bad-tag-key"),
    pytest.param(("environments", "Prod"), {}, "environments.Prod (key)", id="bad-environment-name"),
    pytest.param(
        ("environments", "local", "trigger", "regions", "ap-southeast-4"),
        "sqs",
        "environments.local.trigger.regions.ap-southeast-4",
        id="bad-map-value",
    ),
    pytest.param(("defualts",), {}, "defualts: unknown field", id="typo-in-the-block"),
    pytest.param(("environments", "local", "namespace"), None, None, id="null-removes-a-key"),
    pytest.param(("environments", "local", "trigger", "regions", "ap-southeast-4"), None, None, id="null-map-entry"),
    pytest.param(("environments", "local", "source"), {"branch": "release"}, None, id="partial-object"),
    pytest.param(
        ("environments", "local", "release", "publishers"),
        ["arn:aws:iam::000000000000:root", "arn:aws:iam::12:root"],
        "environments.local.release.publishers[1]: 'arn:aws:iam::12:root' does not match",
        id="bad-principal",
    ),
    pytest.param(
        ("defaults", "deploy", "policy_exceptions"),
        [{"sid": "ManageTheSampleParameter", "rule": "service-wildcard"}],
        "defaults.deploy.policy_exceptions[0]: 'reason' is required",
        id="list-items-are-whole-values",
    ),
    pytest.param(
        ("defaults", "deploy", "policy_exceptions"),
        [{"sid": "ManageTheSampleParameter", "rule": "service-wildcard", "reason": "too short"}],
        "defaults.deploy.policy_exceptions[0].reason: length 9 out of bounds",
        id="short-reason",
    ),
    pytest.param(
        ("environments", "local", "state", "kms_key_id"),
        "alias/relay-state",
        "environments.local.state.kms_key_id: matches no option",
        id="bad-state-key",
    ),
    pytest.param(
        ("environments", "local", "deploy", "permissions_boundary_arn"),
        "arn:aws:iam::111122223333:policy/relay-boundary",
        None,
        id="boundary",
    ),
    pytest.param(("environments", "local", "audit"), {"release_writes": "access_logs"}, None, id="audit-in-emulator"),
    pytest.param(
        ("environments", "local", "keys", "administrators"),
        ["arn:aws:iam::111122223333:role/key-admin"],
        None,
        id="key-administrators",
    ),
    pytest.param(
        ("environments", "local", "platform", "network", "nat"),
        "shared",
        "environments.local.platform.network.nat",
        id="platform-bad-enum",
    ),
    pytest.param(
        ("defaults", "platform", "network", "regions", "eu-west-1"),
        {"az_count": 3},
        None,
        id="platform-network-entry-merges-key-by-key",
    ),
    pytest.param(
        ("environments", "local", "platform", "data", "tables"),
        [{"name": "sessions"}],
        "environments.local.platform.data.tables[0]: 'hash_key' is required",
        id="platform-table-items-are-whole-values",
    ),
    pytest.param(
        ("environments", "local", "platform", "vpn"),
        True,
        "environments.local.platform.vpn: unknown field",
        id="platform-typo",
    ),
    pytest.param(("environments", "local", "platform"), {"enabled": False}, None, id="platform-switched-off"),
]


@pytest.mark.parametrize(("where", "value", "complaint"), BLOCKS)
def test_schema_and_loader_agree_on_a_block(schema, tmp_path, where, value, complaint):
    document = copy.deepcopy(shipped())
    parent = document["context"]["relay"]
    for key in where[:-1]:
        parent = parent.setdefault(key, {})
    parent[where[-1]] = value
    errors = schema_errors(schema, document, schema)
    path = tmp_path / "cdktf.json"
    path.write_text(json.dumps(document))
    (tmp_path / "app" / "sample").mkdir(parents=True)
    (tmp_path / "app" / "sample" / "deploy-policy.json").write_text(
        (PROJECT_ROOT / "app" / "sample" / "deploy-policy.json").read_text()
    )
    if complaint is None:
        assert errors == []
        load_config(path, environ={"RELAY_ENV": "local"})
        return
    assert f"context.relay.{complaint}" in "; ".join(errors), errors
    with pytest.raises(ConfigError):
        load_config(path, environ={"RELAY_ENV": "local"})


# --- the generator's command line ---------------------------------------------------------------


def test_configref_writes_both_files_and_check_passes_on_them(tmp_path, capsys):
    assert configref.main(["--out-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configuration.md", "relay.schema.json"]
    assert configref.main(["--check", "--out-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "relay.schema.json").read_text()) == json.loads(configref.render_schema())


@pytest.mark.parametrize("name", ["configuration.md", "relay.schema.json"])
def test_configref_check_names_a_stale_or_missing_file_and_writes_nothing(tmp_path, capsys, name):
    configref.main(["--out-dir", str(tmp_path)])
    stale = tmp_path / name
    stale.write_text(stale.read_text() + " ")
    (tmp_path / ({"configuration.md", "relay.schema.json"} - {name}).pop()).unlink()
    capsys.readouterr()
    assert configref.main(["--check", "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{stale} is missing or out of date" in err
    assert len(err.splitlines()) == 2
    assert stale.read_text().endswith(" ")


def test_configref_check_passes_on_the_committed_docs():
    assert configref.main(["--check"]) == 0


def test_configref_has_help(capsys):
    with pytest.raises(SystemExit) as exited:
        configref.main(["--help"])
    assert exited.value.code == 0
    assert "--check" in capsys.readouterr().out
