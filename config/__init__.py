"""Configuration: load from cdktf.json context, validate into a typed config, name every resource."""

from config.loader import ConfigError, load_config
from config.naming import Names
from config.schema import RelayConfig

__all__ = ["ConfigError", "Names", "RelayConfig", "load_config"]
