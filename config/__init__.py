"""Configuration: load from cdktf.json context, validate into a typed config, name every resource.

The names below are imported on first use, so `config.paths` (standard library only) can be
imported where pydantic is not installed (the emulator launcher).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.loader import ConfigError, load_config
    from config.naming import Names
    from config.schema import RelayConfig

_EXPORTS = {
    "ConfigError": "config.loader",
    "load_config": "config.loader",
    "Names": "config.naming",
    "RelayConfig": "config.schema",
}

__all__ = ["ConfigError", "Names", "RelayConfig", "load_config"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'config' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
