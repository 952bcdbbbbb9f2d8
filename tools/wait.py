"""The one bounded wait: poll until something is true, or fail naming what was awaited.

Standard library only, so every runtime of the repository uses it: the app's tools, the emulator
launcher (which runs outside the app's environment), the emulator plugin's suite and its benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """A bounded wait ran out. The message names what was awaited, the last value seen and, when the
    probe raised, the last exception (also chained as `__cause__`)."""

    def __init__(self, message: str, last: Any = None):
        super().__init__(message)
        self.last = last


def wait_for(
    what: str,
    probe: Callable[[], T],
    *,
    timeout: float = 60.0,
    interval: float = 0.25,
    retry_on: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `probe` until it returns something truthy and return that value.

    Exceptions listed in `retry_on` count as "not yet" (the last one is kept and becomes the cause of
    the timeout); any other exception propagates at once. The probe always runs at least once, and
    once more after the deadline, so a slow machine never times out without a last look.
    """
    deadline = clock() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        expired = clock() >= deadline
        try:
            last = probe()
            error = None
        except retry_on as exc:
            last, error = None, exc
        if last:
            return last
        if expired:
            seen = f"last error: {type(error).__name__}: {error}" if error else f"last seen: {last!r}"
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} ({seen})", last) from error
        time.sleep(interval)
