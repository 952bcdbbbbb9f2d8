"""Start the emulator for a session if it is not running, and stop it afterwards only if we started it.

A thin layer over the launcher `localstack/emulator.py` (loaded from its path: `localstack/` is not a
package), which owns every detail of starting, checking and stopping the emulator.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from urllib.parse import urlparse

from config.schema import RelayConfig

LAUNCHER = Path(__file__).resolve().parent.parent / "localstack" / "emulator.py"


def _load_launcher():
    name = "relay_emulator_launcher"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LAUNCHER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


launcher = _load_launcher()


class EmulatorError(Exception):
    """The emulator could not be started; the message carries the launcher's own explanation."""


class EmulatorSession:
    """Context manager for the configuration's emulator endpoint: starts the emulator when nothing healthy
    answers there. On exit it stops the emulator if this session started it and no other session that
    shares it (a test run side by side) still uses it; set `started = False` to leave it running."""

    def __init__(self, config: RelayConfig, *, echo: bool = False):
        if not config.emulator.enabled:
            raise EmulatorError(f"environment {config.environment!r} does not use the emulator (emulator.enabled)")
        self.echo = echo
        self.emulator = launcher.Emulator(urlparse(config.emulator.endpoint).port or launcher.DEFAULT_PORT, echo=echo)
        self.started = False
        self._started_here = False

    def running(self) -> bool:
        """Whether a healthy emulator with the relay plugin answers at the configured endpoint."""
        return launcher.plugin_ready(self.emulator.health())

    def __enter__(self) -> EmulatorSession:
        try:
            self.started = self._started_here = self.emulator.acquire()
        except launcher.LauncherError as error:
            raise EmulatorError(f"the emulator did not start:\n{error}") from error
        return self

    def __exit__(self, *exc: object) -> None:
        self.emulator.release(keep=self._started_here and not self.started)
        self.started = False
