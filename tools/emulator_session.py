"""Start the emulator for a session if it is not running, and stop it afterwards only if we started it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from config.schema import RelayConfig

LAUNCHER = Path(__file__).resolve().parent.parent / "localstack" / "emulator.py"


class EmulatorError(Exception):
    """The emulator could not be started; the message carries the launcher's own explanation."""


class EmulatorSession:
    """Context manager around `localstack/emulator.py` for the configuration's emulator endpoint."""

    def __init__(self, config: RelayConfig, *, echo: bool = False):
        if not config.emulator.enabled:
            raise EmulatorError(f"environment {config.environment!r} does not use the emulator (emulator.enabled)")
        port = urlparse(config.emulator.endpoint).port or 4566
        self.env = {**os.environ, "RELAY_EMULATOR_PORT": str(port)}
        self.echo = echo
        self.started = False

    def _launcher(self, verb: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(LAUNCHER), verb], env=self.env, capture_output=not self.echo, text=True, check=False
        )

    def running(self) -> bool:
        return self._launcher("status").returncode == 0

    def __enter__(self) -> EmulatorSession:
        if not self.running():
            result = self._launcher("start")
            if result.returncode:
                raise EmulatorError(f"the emulator did not start:\n{result.stderr or result.stdout}")
            self.started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self._launcher("stop")
