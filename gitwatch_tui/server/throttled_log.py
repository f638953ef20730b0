"""Log lines that an attacker can provoke, at most one per kind a while.

A flood of bad requests, slow connections or accept errors must not become a flood of log
lines: the log is written by one thread to a pipe that may be slow (journald), and an operator
needs one line that says what is going on, not ten thousand.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gitwatch_tui.engine.events import LogLevel

# Kinds remembered at once; the oldest is forgotten first (kinds include provider and status).
_MAX_KINDS = 256


class ThrottledLog:
    """One line per kind per `every` seconds; the next line says how many were held back."""

    def __init__(
        self,
        log: Callable[[LogLevel, str], None],
        *,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._every = every
        self._clock = clock
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last written, held back since)

    def warning(self, kind: str, message: str, *, every: float | None = None) -> bool:
        """Write `message` unless a line of this kind was written less than `every` seconds
        ago (then count it); True when written."""
        now = self._clock()
        last, held = self._kinds.pop(kind, (float("-inf"), 0))
        if now - last < (self._every if every is None else every):
            self._kinds[kind] = (last, held + 1)
            return False
        if held:
            message += f" ({held} more like it in the last {now - last:.0f} s)"
        self._kinds[kind] = (now, 0)
        if len(self._kinds) > _MAX_KINDS:
            del self._kinds[next(iter(self._kinds))]
        self._log("warning", message)
        return True
