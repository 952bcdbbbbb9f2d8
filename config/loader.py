"""Load a deployment's configuration from `cdktf.json` and validate it before anything is built.

`cdktf.json` `context.relay` holds `defaults` and one block per environment under `environments`;
the environment is chosen with `RELAY_ENV` (default: `context.relay.default_environment`), and
`RELAY_OVERRIDES` (a JSON object) is merged last, for one-off changes without editing the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.naming import InvalidName
from config.schema import RelayConfig, SourceProvider
from regions import catalog

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration problem; the message names each bad field and what is allowed."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` into `base`: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_context(cdktf_json: Path) -> dict[str, Any]:
    try:
        document = json.loads(cdktf_json.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{cdktf_json}: file not found; run from the project root") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{cdktf_json}: not valid JSON ({error})") from None
    relay = document.get("context", {}).get("relay")
    if not isinstance(relay, dict):
        raise ConfigError(f"{cdktf_json}: context.relay is missing; it holds 'defaults' and 'environments'")
    return relay


def select_environment(relay: Mapping[str, Any], environment: str | None) -> tuple[str, dict[str, Any]]:
    """Return the chosen environment's name and its settings merged over the defaults."""
    environments = relay.get("environments") or {}
    name = environment or relay.get("default_environment")
    if not name:
        raise ConfigError("no environment chosen: set RELAY_ENV or context.relay.default_environment")
    if name not in environments:
        allowed = ", ".join(sorted(environments)) or "(none defined)"
        raise ConfigError(f"environment {name!r} is not defined in context.relay.environments; allowed: {allowed}")
    return name, deep_merge(relay.get("defaults") or {}, environments[name] or {})


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields allowed at `loc` (the parent of an unknown field)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(model.model_fields)


def _format_validation(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_fields(RelayConfig, loc[:-1]))
            message = f"unknown field; allowed: {allowed}"
        elif item["type"] == "missing":
            message = "is required"
        lines.append(f"{field}: {message}")
    return "\n".join(lines)


def _check_regions(config: RelayConfig) -> list[str]:
    problems: list[str] = []
    known = catalog.partitions()
    home = config.home_region
    if home not in known:
        aws = ", ".join(catalog.regions_with("codepipeline"))
        return [f"home_region: unknown region {home!r}; allowed (partition aws): {aws}"]
    partition = known[home]
    source_service = "codecommit" if config.source.provider is SourceProvider.CODECOMMIT else "connection"
    for service in ("codepipeline", "codebuild", source_service):
        allowed = catalog.regions_with(service, partition)
        if home not in allowed:
            problems.append(
                f"home_region: {home!r} has no {catalog.SERVICE_ENDPOINT_NAMES[service]} endpoint, which the "
                f"home pipeline needs; allowed: {', '.join(allowed)}"
            )
    connection_region = config.source.connection_region
    if connection_region and connection_region != home:
        problems.append(
            f"source.connection_arn: the connection is in {connection_region!r} but the home pipeline is in "
            f"{home!r}; create the connection in the home region"
        )
    pipeline_regions = catalog.regions_with("codepipeline", partition)
    for index, region in enumerate(config.target_regions):
        field = f"target_regions[{index}]"
        if region not in known:
            problems.append(f"{field}: unknown region {region!r}; allowed: {', '.join(pipeline_regions)}")
        elif known[region] != partition:
            problems.append(
                f"{field}: {region!r} is in partition {known[region]!r} but the home region is in "
                f"{partition!r}; S3 replication never crosses partitions"
            )
        elif region not in pipeline_regions:
            problems.append(
                f"{field}: {region!r} has no CodePipeline endpoint, so it cannot host the target pipeline; "
                f"allowed: {', '.join(pipeline_regions)}"
            )
    return problems


def _check_policy_file(config: RelayConfig, root: Path) -> list[str]:
    if not config.deploy.policy_file:
        return []
    path = root / config.deploy.policy_file
    try:
        policy = json.loads(path.read_text())
    except FileNotFoundError:
        return [f"deploy.policy_file: {config.deploy.policy_file!r} does not exist (relative to {root})"]
    except json.JSONDecodeError as error:
        return [f"deploy.policy_file: {config.deploy.policy_file!r} is not JSON ({error})"]
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if not isinstance(statements, list) or not statements:
        return [f"deploy.policy_file: {config.deploy.policy_file!r} must be an IAM policy with a Statement list"]
    for statement in statements:
        if statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Action")):
            return [f"deploy.policy_file: {config.deploy.policy_file!r} allows Action '*'; list the actions"]
    return []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def validate(settings: Mapping[str, Any], root: Path = PROJECT_ROOT) -> RelayConfig:
    """Validate raw settings into a RelayConfig, or raise ConfigError listing every problem."""
    try:
        config = RelayConfig.model_validate(dict(settings))
    except ValidationError as error:
        raise ConfigError(_format_validation(error)) from None
    problems = _check_regions(config)
    problems += _check_policy_file(config, root)
    if not problems:
        try:
            config.names.all_for(config.home_region, config.target_regions)
        except InvalidName as error:
            problems.append(f"app/environment/namespace: {error}")
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_config(
    cdktf_json: Path = PROJECT_ROOT / "cdktf.json", environ: Mapping[str, str] | None = None
) -> RelayConfig:
    """Load the environment chosen by RELAY_ENV from cdktf.json, apply RELAY_OVERRIDES, validate."""
    environ = os.environ if environ is None else environ
    name, settings = select_environment(_read_context(cdktf_json), environ.get("RELAY_ENV"))
    overrides = environ.get("RELAY_OVERRIDES")
    if overrides:
        try:
            parsed = json.loads(overrides)
        except json.JSONDecodeError as error:
            raise ConfigError(f"RELAY_OVERRIDES: not valid JSON ({error}); expected a JSON object") from None
        if not isinstance(parsed, dict):
            raise ConfigError('RELAY_OVERRIDES: expected a JSON object such as {"target_regions": ["eu-south-2"]}')
        settings = deep_merge(settings, parsed)
    settings.setdefault("environment", name)
    return validate(settings, cdktf_json.parent)
