"""Load a deployment's configuration from `cdktf.json` and validate it before anything is built.

The settings are merged from layers, lowest first: `context.relay.defaults`, the chosen environment's
block `context.relay.environments.<name>` (`RELAY_ENV`, default `context.relay.default_environment`)
and `RELAY_OVERRIDES` (a JSON object, for one-off changes without editing the file). Each layer is
applied as a JSON merge patch (RFC 7396): an object merges key by key, `null` removes the key (the
field falls back to its default), anything else (a list, a string, a number) replaces.

Validation reports every problem at once, each naming the field and the layer its value came from:
the model's own rules first, then the rules that combine fields or need region data, which run on
every field that is valid by itself even when others are not.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from config import deploy_policy
from config.naming import InvalidName, Names
from config.paths import PROJECT_ROOT
from config.schema import (
    ASN_RANGES,
    CertificateArn,
    DeliveryStrategy,
    NetworkRegionConfig,
    PolicyException,
    PrincipalArn,
    RelayConfig,
    RelayContext,
    SecretConfig,
    SourceProvider,
    TriggerMode,
    arn_partition,
    arn_region,
    connection_region,
    default_asn,
)
from regions import catalog, delivery

OVERRIDES = "RELAY_OVERRIDES"
"""The environment variable, and the name of its layer in error messages."""
DEFAULTS = "defaults"
"""The name of the `context.relay.defaults` layer in error messages."""

Loc = tuple[str | int, ...]
"""Where a value sits in the settings: keys and list indexes, e.g. `("target_regions", 0)`."""


class ConfigError(Exception):
    """A configuration problem; the message names each bad field, where it came from and what is allowed."""


def environment_layer(name: str) -> str:
    """The name of an environment's layer in error messages."""
    return f"environments.{name}"


@dataclass
class Sources:
    """Which layer set (or removed with `null`) each value of the merged settings."""

    layers: list[str] = field(default_factory=list)
    """Layer names, lowest first."""
    _set_by: dict[Loc, str] = field(default_factory=dict)

    def record(self, loc: Loc, layer: str) -> None:
        """`layer` set or removed the value at `loc`, replacing whatever was below it."""
        for known in [k for k in self._set_by if k[: len(loc)] == loc]:
            del self._set_by[known]
        self._set_by[loc] = layer

    def of(self, loc: Sequence[str | int]) -> list[str]:
        """The layers the value at `loc` came from, lowest first: the layer that last set it (or the
        value enclosing it), and every layer that set a part of it."""
        loc = tuple(loc)
        enclosing = [key for key in self._set_by if key == loc[: len(key)]]
        found = {self._set_by[max(enclosing, key=len)]} if enclosing else set()
        found |= {layer for key, layer in self._set_by.items() if key[: len(loc)] == loc}
        return [layer for layer in self.layers if layer in found]


def merge_patch(
    target: Mapping[str, Any],
    patch: Mapping[str, Any],
    *,
    layer: str = "",
    sources: Sources | None = None,
    at: Loc = (),
) -> dict[str, Any]:
    """Apply `patch` to `target` as a JSON merge patch (RFC 7396), recording in `sources` what `layer` set.

    Objects merge key by key, `null` removes a key, anything else replaces. Neither input is changed.
    """
    merged = dict(target)
    for key, value in patch.items():
        here = (*at, key)
        below = merged.get(key)
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            if not isinstance(below, Mapping):
                below = {}
                if sources is not None:
                    sources.record(here, layer)
            merged[key] = merge_patch(below, value, layer=layer, sources=sources, at=here)
            continue
        else:
            merged[key] = value
        if sources is not None:
            sources.record(here, layer)
    return merged


def merge_layers(layers: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], Sources]:
    """Merge named layers, lowest first; return the settings and where each value came from."""
    settings: dict[str, Any] = {}
    sources = Sources()
    for name, patch in layers:
        if name not in sources.layers:
            sources.layers.append(name)
        settings = merge_patch(settings, patch, layer=name, sources=sources)
    return settings, sources


@dataclass(frozen=True)
class Problem:
    """One configuration problem: the fields it concerns and what is wrong, with what is allowed."""

    fields: tuple[Loc, ...]
    message: str

    def render(self, sources: Sources | None = None) -> str:
        """`field (from layer, ...): message`; the layers are named when they are known."""
        names = "/".join(_field_name(loc) for loc in self.fields) or "(top level)"
        found = {layer for loc in self.fields for layer in (sources.of(loc) if sources else [])}
        layers = [layer for layer in sources.layers if layer in found] if sources else []
        origin = f" (from {', '.join(layers)})" if layers else ""
        return f"{names}{origin}: {self.message}"


def _field_name(loc: Loc) -> str:
    """`target_regions[0]`, `trigger.regions.eu-south-2`: keys joined by dots, list indexes in brackets."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _read_context(cdktf_json: Path) -> dict[str, Any]:
    try:
        document = json.loads(cdktf_json.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{cdktf_json}: file not found; run from the project root") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{cdktf_json}: not valid JSON ({error})") from None
    relay = document.get("context", {}).get("relay") if isinstance(document, dict) else None
    if not isinstance(relay, dict):
        raise ConfigError(f"{cdktf_json}: context.relay is missing; it holds 'defaults' and 'environments'")
    try:
        RelayContext.model_validate(relay)
    except ValidationError as error:
        problems = _model_problems(error, RelayContext, prefix=("context", "relay"))
        raise ConfigError("\n".join(p.render() for p in problems)) from None
    return relay


def environment_names(cdktf_json: Path = PROJECT_ROOT / "cdktf.json") -> list[str]:
    """The environments defined in cdktf.json's `context.relay.environments`, in the file's order."""
    return list(_read_context(cdktf_json).get("environments") or {})


def environment_layers(
    relay: Mapping[str, Any], environment: str | None
) -> tuple[str, list[tuple[str, Mapping[str, Any]]]]:
    """The chosen environment's name and its layers, lowest first: `defaults`, then its own block."""
    environments = relay.get("environments") or {}
    name = environment or relay.get("default_environment")
    if not name:
        raise ConfigError("no environment chosen: set RELAY_ENV or context.relay.default_environment")
    if name not in environments:
        allowed = ", ".join(sorted(environments)) or "(none defined)"
        raise ConfigError(f"environment {name!r} is not defined in context.relay.environments; allowed: {allowed}")
    return name, [(DEFAULTS, relay.get("defaults") or {}), (environment_layer(name), environments[name])]


def _overrides(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{OVERRIDES}: not valid JSON ({error}); expected a JSON object") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f'{OVERRIDES}: expected a JSON object such as {{"target_regions": ["eu-south-2"]}}')
    return parsed


def _allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """Names of the fields allowed at `loc` (the parent of an unknown field)."""
    for part in loc:
        field_info = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field_info, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return sorted(model.model_fields)


def _model_problems(error: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field; allowed: {', '.join(_allowed_fields(model, loc[:-1]))}"
        elif item["type"] == "missing":
            message = "is required"
        problems.append(Problem(((*prefix, *loc),), message))
    return problems


_UNSET = object()
"""A value that is invalid by itself, or inside an object that is not set."""


@functools.cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    return TypeAdapter(model.model_fields[name].rebuild_annotation())


def _valid_value(settings: Mapping[str, Any], loc: tuple[str, ...]) -> Any:
    """The typed value of the field at `loc` if it is valid by itself (its type and its own rules),
    its default when it is not set, `_UNSET` when it is invalid or an object around it is missing."""
    model: type[BaseModel] = RelayConfig
    raw: Any = settings
    for depth, name in enumerate(loc):
        info = model.model_fields[name]
        if not isinstance(raw, Mapping):
            return _UNSET
        if name not in raw:
            if info.is_required():
                return _UNSET
            value = info.get_default(call_default_factory=True)
            for inner in loc[depth + 1 :]:
                value = getattr(value, inner)
            return value
        raw = raw[name]
        if depth < len(loc) - 1:
            model = info.annotation
    try:
        return _adapter(model, loc[-1]).validate_python(raw)
    except ValidationError:
        return _UNSET


def _check_home_region(home: str) -> list[Problem]:
    known = catalog.partitions()
    if home not in known:
        aws = ", ".join(catalog.regions_with("codepipeline"))
        return [Problem((("home_region",),), f"unknown region {home!r}; allowed (partition aws): {aws}")]
    return _home_needs(home, "codepipeline") + _home_needs(home, "codebuild")


def _home_needs(home: str, service: str) -> list[Problem]:
    allowed = catalog.regions_with(service, catalog.partitions()[home])
    if home in allowed:
        return []
    return [
        Problem(
            (("home_region",),),
            f"{home!r} has no {catalog.SERVICE_ENDPOINT_NAMES[service]} endpoint, which the home pipeline needs; "
            f"allowed: {', '.join(allowed)}",
        )
    ]


def _check_connection_region(home: str, connection_arn: str | None) -> list[Problem]:
    region = connection_region(connection_arn)
    if not region or region == home:
        return []
    return [
        Problem(
            (("source", "connection_arn"),),
            f"the connection is in {region!r} but the home pipeline is in {home!r}; "
            "create the connection in the home region",
        )
    ]


def _check_target_regions(home: str, targets: list[str]) -> list[Problem]:
    """Targets must be known regions; whether a strategy can deliver there is `_check_delivery`'s."""
    partition = catalog.partitions().get(home, "aws")
    allowed = ", ".join(catalog.regions_with("cloudformation", partition))
    return [
        Problem((("target_regions", index),), f"unknown region {region!r}; allowed: {allowed}")
        for index, region in enumerate(targets)
        if region not in catalog.partitions()
    ]


@dataclass(frozen=True)
class _Requested:
    """What the configuration asks for one target region, when that is known."""

    strategy: DeliveryStrategy | None
    """The requested strategy; None when the setting it comes from is invalid."""
    field: Loc | None
    """The setting that asks for it; None for the default `auto`."""


def _requested(region: str, default: Any, overrides: Mapping[str, Any]) -> _Requested:
    if region in overrides:
        value = overrides[region]
        return _Requested(value if isinstance(value, DeliveryStrategy) else None, ("delivery", "regions", region))
    if default is _UNSET:
        return _Requested(None, ("delivery", "strategy"))
    return _Requested(default, ("delivery", "strategy") if default is not DeliveryStrategy.AUTO else None)


def _check_delivery(
    home: str, targets: list[str], requests: Mapping[str, _Requested], provider: SourceProvider | None
) -> tuple[list[Problem], dict[str, DeliveryStrategy]]:
    """Every target region needs a strategy that can deliver there; returns the problems and the decided
    strategy of each region whose decision is known (not when its request or the source provider is invalid,
    as the decision depends on them)."""
    problems: list[Problem] = []
    decided: dict[str, DeliveryStrategy] = {}
    known = catalog.partitions()
    for index, region in enumerate(targets):
        if region not in known:
            continue
        request = requests[region]
        # An invalid request is reported on its own; the rules every strategy shares still apply.
        asked = request.strategy or DeliveryStrategy.AUTO
        try:
            strategy, _ = delivery.decide_region(home, region, asked, provider or SourceProvider.CONNECTION)
        except delivery.DeliveryError as error:
            fields = [("target_regions", index)]
            if request.field and request.strategy is not None and delivery.working_strategies(home, region):
                fields.append(request.field)
            problems.append(Problem(tuple(fields), str(error)))
            continue
        if request.strategy is not None and (provider is not None or asked is not DeliveryStrategy.AUTO):
            decided[region] = strategy
    return problems, decided


def _valid_entries(settings: Mapping[str, Any], loc: tuple[str, ...], kind: type) -> dict[str, Any]:
    """The entries of the map at `loc`, each validated on its own: an invalid entry maps to `_UNSET`."""
    raw: Any = settings
    for name in loc:
        raw = raw.get(name) if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping):
        return {}
    adapter = TypeAdapter(kind)
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            entries[key] = adapter.validate_python(value)
        except ValidationError:
            entries[key] = _UNSET
    return entries


def _check_region_keys(section: str, targets: list[str], overrides: Mapping[str, Any]) -> list[Problem]:
    return [
        Problem(
            ((section, "regions", region),),
            f"{region!r} is not a target region; allowed: {', '.join(targets)} "
            f'(an override removes the entry with {{"{section}": {{"regions": {{"{region}": null}}}}}})',
        )
        for region in overrides
        if region not in targets
    ]


def _check_trigger_strategies(
    home: str,
    overrides: Mapping[str, Any],
    decided: Mapping[str, DeliveryStrategy],
    requests: Mapping[str, _Requested],
) -> list[Problem]:
    """A trigger mode is only for a region delivered `bespoke` (the others have no trigger)."""
    problems = []
    for region in overrides:
        strategy = decided.get(region)
        if strategy is None or strategy is DeliveryStrategy.BESPOKE:
            continue
        how = "as configured" if requests[region].field else "decided by auto"
        fix = f'remove the entry (an override removes it with {{"trigger": {{"regions": {{"{region}": null}}}}}})'
        if DeliveryStrategy.BESPOKE in delivery.working_strategies(home, region):
            fix += f', or deliver it bespoke with {{"delivery": {{"regions": {{"{region}": "bespoke"}}}}}}'
        problems.append(
            Problem(
                (("trigger", "regions", region),),
                f"{region!r} is delivered {strategy.value} ({how}), which has no trigger; only a region delivered "
                f"bespoke has a trigger mode: {fix}",
            )
        )
    return problems


def _raw(settings: Mapping[str, Any], loc: Loc) -> Any:
    """The value at `loc` as the layers set it, None when it or an object around it is missing."""
    raw: Any = settings
    for name in loc:
        raw = raw.get(name) if isinstance(raw, Mapping) else None
    return raw


def _exception_entries(raw: Any) -> list[PolicyException | None]:
    """The `deploy.policy_exceptions` entries that name a statement and a rule, whether or not their reason is
    long enough (a short reason is reported on its own; the entry still says which statement it means to
    cover); None in place of the others, so that positions stay those of the configuration."""
    entries: list[PolicyException | None] = []
    for entry in raw if isinstance(raw, list) else []:
        sid, rule = (entry.get("sid"), entry.get("rule")) if isinstance(entry, Mapping) else (None, None)
        named = isinstance(sid, str) and sid and rule in deploy_policy.EXCEPTABLE_RULES
        entries.append(
            PolicyException.model_construct(sid=sid, rule=rule, reason=entry.get("reason")) if named else None
        )
    return entries


def _check_policy_file(policy_file: str | None, raw_exceptions: Any, root: Path) -> list[Problem]:
    """The deploy role's ceiling (config.deploy_policy) on the policy file, and the exceptions to it."""
    loc = ("deploy", "policy_file")
    entries = _exception_entries(raw_exceptions)
    if not policy_file:
        return [
            Problem(
                (("deploy", "policy_exceptions", index),),
                f"names Sid {entry.sid!r}, but deploy.policy_file is not set, so the exception covers nothing; "
                "remove the entry",
            )
            for index, entry in enumerate(entries)
            if entry is not None
        ]
    try:
        policy = deploy_policy.read_policy(root, policy_file)
    except deploy_policy.PolicyFileError as error:
        return [Problem((loc,), str(error))]
    return [
        Problem((loc,), f"in {policy_file!r}, {finding.message}")
        if finding.exception is None
        else Problem((("deploy", "policy_exceptions", finding.exception),), finding.message)
        for finding in deploy_policy.check(policy, entries)
    ]


def _check_state_key(valid: Callable[..., Any]) -> list[Problem]:
    """state.kms_key_id is for the s3 backend, in the state bucket's region (and its partition)."""
    key = valid("state", "kms_key_id")
    if key is _UNSET or key is None:
        return []
    loc = ("state", "kms_key_id")
    if valid("state", "backend") == "local":
        return [
            Problem(
                (loc, ("state", "backend")),
                "a state key is for the s3 backend only (local state files are not encrypted by KMS); "
                "set state.backend to 's3' or remove state.kms_key_id",
            )
        ]
    explicit = valid("state", "region")
    region = explicit if explicit is not None else valid("home_region")
    if region is _UNSET:
        return []
    where = "state.region" if explicit is not None else "the home region (state.region is not set)"
    fields = (loc, ("state", "region") if explicit is not None else ("home_region",))
    if arn_region(key) != region:
        return [
            Problem(
                fields,
                f"the key is in {arn_region(key)!r} but the state bucket is in {region!r} ({where}); "
                f"S3 encrypts with a key of the bucket's own region: use a key in {region!r}",
            )
        ]
    partition = catalog.partitions().get(region)
    if partition and arn_partition(key) != partition:
        return [Problem(fields, f"the key's partition is {arn_partition(key)!r} but {region!r} is in {partition!r}")]
    return []


def _check_principals(settings: Mapping[str, Any], loc: Loc, home: str) -> list[Problem]:
    """Each valid principal ARN of the list at `loc` is in the home region's partition (any account)."""
    raw = _raw(settings, loc)
    partition = catalog.partitions()[home]
    adapter = TypeAdapter(PrincipalArn)
    problems = []
    for index, value in enumerate(raw if isinstance(raw, list) else []):
        try:
            arn = adapter.validate_python(value)
        except ValidationError:
            continue
        if arn_partition(arn) != partition:
            problems.append(
                Problem(
                    ((*loc, index),),
                    f"{arn!r} is in partition {arn_partition(arn)!r} but the home region {home!r} is in "
                    f"{partition!r}; allowed: arn:{partition}:iam::<account>:...",
                )
            )
    return problems


NETWORK_REGIONS = ("platform", "network", "regions")
"""Where the per-region networks of the platform are configured."""


def _platform_targets(chosen: list[str] | None, home: str, targets: list[str]) -> tuple[list[Problem], list[str]]:
    """`platform.regions` must name target regions; returns the problems and the platform targets in target order."""
    problems = []
    for index, region in enumerate(chosen or []):
        if region == home:
            why = "is the home region, which always has a platform; list target regions only"
        elif region not in targets:
            allowed = ", ".join(target for target in targets if target != home)
            why = (
                f"is not a target region; allowed: {allowed} (or switch the platform off with "
                '{"platform": {"enabled": false}})'
            )
        else:
            continue
        problems.append(Problem((("platform", "regions", index),), f"{region!r} {why}"))
    return problems, [region for region in targets if region != home and (chosen is None or region in chosen)]


def _check_network_entries(raw: Mapping[str, Any], regions: list[str]) -> list[Problem]:
    """One `platform.network.regions` entry for every platform region, and none for another region."""
    problems = [
        Problem(
            ((*NETWORK_REGIONS, region),),
            f"{region!r} is not a platform region; allowed: {', '.join(regions)} (an override removes the entry "
            f'with {{"platform": {{"network": {{"regions": {{"{region}": null}}}}}}}})',
        )
        for region in raw
        if region not in regions
    ]
    problems += [
        Problem(
            ((*NETWORK_REGIONS, region),),
            f"is required: {region!r} is a platform region, so it needs its network's CIDR block, e.g. "
            f'{{"{region}": {{"cidr": "10.{10 * (index + 1) % 256}.0.0/16"}}}}, overlapping no other region\'s',
        )
        for index, region in enumerate(regions)
        if region not in raw
    ]
    return problems


def _check_az_counts(networks: Mapping[str, NetworkRegionConfig], default: Any) -> list[Problem]:
    """A network spans no more Availability Zones than its region offers a new account (regions.catalog)."""
    problems = []
    for region, entry in networks.items():
        own = entry.az_count is not None
        wanted = entry.az_count if own else default
        if wanted is _UNSET or wanted <= (offered := catalog.availability_zones(region)):
            continue
        loc = (*NETWORK_REGIONS, region, "az_count") if own else ("platform", "network", "az_count")
        fix = (
            f"set its az_count to {offered} or fewer"
            if own
            else f'lower network.az_count to {offered}, or give {region} its own {{"az_count": {offered}}}'
        )
        problems.append(
            Problem(
                (loc,),
                f"{region!r} offers {offered} Availability Zones to most accounts (regions/catalog.py), so its "
                f"network cannot span {wanted}: {fix}",
            )
        )
    return problems


def _check_zone_ids(networks: Mapping[str, NetworkRegionConfig], default: Any) -> list[Problem]:
    """Pinned zones name exactly as many zones as the network spans (an entry's own az_count is checked by
    the model)."""
    problems = []
    for region, entry in networks.items():
        if entry.zone_ids is None or entry.az_count is not None or default is _UNSET:
            continue
        if len(entry.zone_ids) != default:
            problems.append(
                Problem(
                    ((*NETWORK_REGIONS, region, "zone_ids"),),
                    f"names {len(entry.zone_ids)} zones; the network spans network.az_count = {default}: name "
                    f"{default} zone IDs, or give {region} its own az_count (2 or 3) and as many zone IDs",
                )
            )
    return problems


def _check_overlaps(networks: Mapping[str, NetworkRegionConfig]) -> list[Problem]:
    """No two platform regions' CIDR blocks overlap: each transit gateway routes a peer's block to it."""
    problems = []
    regions = list(networks)
    for index, first in enumerate(regions):
        for second in regions[index + 1 :]:
            a, b = networks[first].cidr, networks[second].cidr
            if ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b)):
                problems.append(
                    Problem(
                        ((*NETWORK_REGIONS, first, "cidr"), (*NETWORK_REGIONS, second, "cidr")),
                        f"{a} ({first}) overlaps {b} ({second}); the transit gateways route each region's block "
                        "to that region, so every platform region needs a range of its own",
                    )
                )
    return problems


def _check_asns(networks: Mapping[str, NetworkRegionConfig]) -> list[Problem]:
    """Every platform region's transit gateway has its own ASN (set, or the region's default)."""
    by_asn: dict[int, list[str]] = {}
    for region, entry in networks.items():
        by_asn.setdefault(entry.asn if entry.asn is not None else default_asn(region), []).append(region)
    ranges = " or ".join(f"{low}-{high}" for low, high in ASN_RANGES)
    problems = []
    for asn, regions in by_asn.items():
        if len(regions) < 2:
            continue
        how = ", ".join(f"{r} ({'set' if networks[r].asn is not None else 'default'})" for r in regions)
        problems.append(
            Problem(
                tuple((*NETWORK_REGIONS, region, "asn") for region in regions),
                f"ASN {asn} is used by {how}; each transit gateway needs its own: set asn ({ranges}) on all "
                "but one of them",
            )
        )
    return problems


def _check_rotations(settings: Mapping[str, Any], home: str) -> list[Problem]:
    """A rotation function is in the home region (Secrets Manager invokes it from the secret's own region)."""
    raw = _raw(settings, ("platform", "secrets"))
    adapter = TypeAdapter(SecretConfig)
    problems = []
    for index, value in enumerate(raw if isinstance(raw, list) else []):
        try:
            secret = adapter.validate_python(value)
        except ValidationError:
            continue
        if secret.rotation is None:
            continue
        arn = secret.rotation.lambda_arn
        partition = catalog.partitions()[home]
        if arn_region(arn) != home or arn_partition(arn) != partition:
            problems.append(
                Problem(
                    (("platform", "secrets", index, "rotation", "lambda_arn"),),
                    f"the function is in {arn_region(arn)!r} ({arn_partition(arn)}) but the secret is in the home "
                    f"region {home!r}; Secrets Manager invokes a rotation function of the secret's own region: "
                    f"use one in {home!r}",
                )
            )
    return problems


def _check_platform(
    settings: Mapping[str, Any], valid: Callable[..., Any], home: str, targets: list[str]
) -> tuple[list[Problem], list[str] | None]:
    """The rules of an enabled platform that combine its fields with the regions; returns the problems and the
    platform regions (home first), None when they are not known. A disabled platform is not checked further."""
    if valid("platform", "enabled") is not True:
        return [], None
    chosen = valid("platform", "regions")
    if chosen is _UNSET:
        return [], None
    problems, platform_targets = _platform_targets(chosen, home, targets)
    regions = [home, *platform_targets]
    raw = _raw(settings, NETWORK_REGIONS)
    raw = raw if isinstance(raw, Mapping) else {}
    # Which entries belong is unknown while platform.regions is wrong (reported there or by the model).
    if not problems and (chosen is None or len(set(chosen)) == len(chosen)):
        problems += _check_network_entries(raw, regions)
    entries = _valid_entries(settings, NETWORK_REGIONS, NetworkRegionConfig)
    networks = {region: entries[region] for region in regions if entries.get(region, _UNSET) is not _UNSET}
    problems += _check_az_counts(networks, valid("platform", "network", "az_count"))
    problems += _check_zone_ids(networks, valid("platform", "network", "az_count"))
    problems += _check_overlaps(networks)
    problems += _check_asns(networks)
    problems += _check_rotations(settings, home)
    return problems, regions


def _application_entry(
    valid: Callable[..., Any], field: str, where: tuple[str, ...], listed: list[str], what: str
) -> list[Problem]:
    """An application setting that names a platform entry (secret, table, image): it must exist; unset, the
    platform needs at least one."""
    chosen = valid("application", field)
    if chosen is _UNSET:
        return []
    if chosen is None and not listed:
        message = f"the application tier needs a {what}; configure one under {'.'.join(where)}"
        return [Problem((("application", field), where), message)]
    if chosen is not None and chosen not in listed:
        allowed = ", ".join(listed) or "none configured"
        return [Problem((("application", field),), f"{chosen!r} is not a platform {what}; allowed: {allowed}")]
    return []


def _check_application(
    settings: Mapping[str, Any], valid: Callable[..., Any], platform_regions: list[str] | None
) -> list[Problem]:
    """An enabled application tier runs on the platform: its regions are the platform targets, at least one of
    them active; what it reads exists in the platform; each certificate is in its own region. The edge needs
    the application tier and a domain."""
    problems: list[Problem] = []
    enabled = valid("application", "enabled") is True
    edge = valid("edge", "enabled") is True
    if edge and not enabled:
        problems.append(
            Problem(
                (("edge", "enabled"), ("application", "enabled")),
                "the edge routes to the application tier; enable application too",
            )
        )
    if edge and valid("edge", "domain") is None:
        problems.append(
            Problem((("edge", "domain"),), "an enabled edge needs the domain of its hosted zone, e.g. example.com")
        )
    # With the platform off, the tier is off too (and not checked against the platform)
    if not enabled or valid("platform", "enabled") is not True or platform_regions is None:
        return problems
    regions = platform_regions[1:]  # never empty: platform.regions lists one at least, or every target
    allowed = ", ".join(regions)
    standby = valid("application", "standby_regions")
    if standby is not _UNSET:
        for index, region in enumerate(standby):
            if region not in regions:
                problems.append(
                    Problem(
                        (("application", "standby_regions", index),),
                        f"{region!r} is not an application region; allowed: {allowed}",
                    )
                )
        if set(regions) <= set(standby):
            problems.append(
                Problem(
                    (("application", "standby_regions"),),
                    "every application region is on standby; keep at least one active (remove it from standby_regions)",
                )
            )
    certificates = _valid_entries(settings, ("application", "certificate_arns"), CertificateArn)
    for region, arn in certificates.items():
        if region not in regions:
            problems.append(
                Problem(
                    (("application", "certificate_arns", region),),
                    f"{region!r} is not an application region; allowed: {allowed}",
                )
            )
        elif arn is not _UNSET and arn_region(arn) != region:
            problems.append(
                Problem(
                    (("application", "certificate_arns", region),),
                    f"the certificate is in {arn_region(arn)!r}; a load balancer uses a certificate of its own "
                    f"region ({region!r})",
                )
            )
    listed = _platform_names(valid, platform_regions) or {}
    problems += _application_entry(valid, "secret", ("platform", "secrets"), listed.get("secrets", []), "secret")
    problems += _application_entry(valid, "table", ("platform", "data", "tables"), listed.get("tables", []), "table")
    repositories = listed.get("repositories", [])
    problems += _application_entry(
        valid, "image", ("platform", "images", "repositories"), repositories, "image repository"
    )
    return problems


def _platform_names(valid: Callable[..., Any], regions: list[str] | None) -> dict[str, list[str]] | None:
    """The names `Names.platform_all` computes, from the platform settings that are valid."""
    if not regions:
        return None

    def listed(*loc: str) -> list[Any]:
        value = valid("platform", *loc)
        return [] if value is _UNSET else value

    return {
        "regions": regions,
        "secrets": [secret.name for secret in listed("secrets")],
        "repositories": listed("images", "repositories"),
        "tables": [table.name for table in listed("data", "tables")],
    }


def _check_names(
    names: Names,
    home: str,
    decided: Mapping[str, DeliveryStrategy],
    *,
    connection: bool,
    platform: Mapping[str, list[str]] | None = None,
) -> list[Problem]:
    # Names embed the regions and depend on each region's strategy; a region without a decision (unknown,
    # undeliverable or with an invalid request) is reported on its own and would only add noise here.
    try:
        names.all_for(
            home,
            {region: strategy.value for region, strategy in decided.items()},
            connection=connection,
            platform=platform,
        )
    except InvalidName as error:
        return [Problem((("app",), ("environment",), ("namespace",)), str(error))]
    return []


def _cross_field_problems(settings: Mapping[str, Any], root: Path) -> list[Problem]:
    """The rules that combine fields or need region data, each run when the fields it reads are
    valid by themselves, whatever else is wrong."""

    def valid(*loc: str) -> Any:
        return _valid_value(settings, loc)

    problems: list[Problem] = []
    home, targets = valid("home_region"), valid("target_regions")
    if home is not _UNSET:
        problems += _check_home_region(home)
    home_known = home is not _UNSET and home in catalog.partitions()
    if home_known:
        provider = valid("source", "provider")
        if provider is not _UNSET:
            problems += _home_needs(home, "codecommit" if provider is SourceProvider.CODECOMMIT else "connection")
        if (arn := valid("source", "connection_arn")) is not _UNSET:
            problems += _check_connection_region(home, arn)
    delivery_regions = _valid_entries(settings, ("delivery", "regions"), DeliveryStrategy)
    trigger_regions = _valid_entries(settings, ("trigger", "regions"), TriggerMode)
    decided: dict[str, DeliveryStrategy] = {}
    requests: dict[str, _Requested] = {}
    if home is not _UNSET and targets is not _UNSET:
        problems += _check_target_regions(home, targets)
    if home_known and targets is not _UNSET:
        default = valid("delivery", "strategy")
        requests = {region: _requested(region, default, delivery_regions) for region in targets}
        provider = valid("source", "provider")
        found, decided = _check_delivery(home, targets, requests, None if provider is _UNSET else provider)
        problems += found
    if targets is not _UNSET:
        problems += _check_region_keys("delivery", targets, delivery_regions)
        problems += _check_region_keys("trigger", targets, trigger_regions)
    problems += _check_trigger_strategies(home, trigger_regions, decided, requests)
    if (policy_file := valid("deploy", "policy_file")) is not _UNSET:
        problems += _check_policy_file(policy_file, _raw(settings, ("deploy", "policy_exceptions")), root)
    problems += _check_state_key(valid)
    if home_known:
        problems += _check_principals(settings, ("release", "publishers"), home)
        problems += _check_principals(settings, ("keys", "administrators"), home)
    platform_regions = None
    if home_known and targets is not _UNSET:
        found, platform_regions = _check_platform(settings, valid, home, targets)
        problems += found
    # Which regions run the application is unknown while platform.regions is wrong (reported above).
    wrong_regions = any(loc[:2] == ("platform", "regions") for problem in problems for loc in problem.fields)
    problems += _check_application(settings, valid, None if wrong_regions else platform_regions)
    parts = (valid("app"), valid("environment"), valid("namespace"))
    if home_known and targets is not _UNSET and _UNSET not in parts:
        creates_connection = (
            valid("source", "provider") is SourceProvider.CONNECTION and valid("source", "connection_arn") is None
        )
        problems += _check_names(
            Names(*parts),
            home,
            decided,
            connection=creates_connection,
            platform=_platform_names(valid, platform_regions),
        )
    return problems


def validate(settings: Mapping[str, Any], root: Path = PROJECT_ROOT, *, sources: Sources | None = None) -> RelayConfig:
    """Validate merged settings into a RelayConfig, or raise ConfigError listing every problem, each
    with the layer its value came from when `sources` is given."""
    problems: list[Problem] = []
    try:
        config = RelayConfig.model_validate(dict(settings))
    except ValidationError as error:
        problems += _model_problems(error, RelayConfig)
    problems += _cross_field_problems(settings, root)
    if problems:
        raise ConfigError("\n".join(problem.render(sources) for problem in problems))
    return config


def load_config(
    cdktf_json: Path = PROJECT_ROOT / "cdktf.json", environ: Mapping[str, str] | None = None
) -> RelayConfig:
    """Load the environment chosen by RELAY_ENV from cdktf.json, apply RELAY_OVERRIDES, validate."""
    environ = os.environ if environ is None else environ
    name, layers = environment_layers(_read_context(cdktf_json), environ.get("RELAY_ENV"))
    if environ.get(OVERRIDES):
        layers.append((OVERRIDES, _overrides(environ[OVERRIDES])))
    settings, sources = merge_layers(layers)
    if "environment" not in settings:
        # The environment's name is its key under `environments`, unless a layer sets one.
        settings["environment"] = name
        sources.record(("environment",), environment_layer(name))
    return validate(settings, cdktf_json.parent, sources=sources)
