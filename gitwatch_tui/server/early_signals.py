"""Signals that reach the daemon before its event loop can take them.

Between the start of the process and the loop's own handlers the daemon imports aiohttp and
the engine and reads its config, about half a second. A SIGTERM there used to kill it with no
log line (exit 143). From the first line of the program on, these handlers only note the
signal; the daemon then acts on it as soon as its loop runs: a stop with its log lines and
exit status 0, or a reload. This module imports nothing of ours, so it can come first.
"""

from __future__ import annotations

import signal
from types import FrameType

HELD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_caught: list[signal.Signals] = []


def catch() -> None:
    """Note SIGTERM, SIGINT and SIGHUP instead of acting on them (the loop takes over)."""
    for sig in HELD:
        signal.signal(sig, _note)


def caught() -> list[signal.Signals]:
    """The signals noted so far, oldest first."""
    return list(_caught)


def _note(signum: int, _frame: FrameType | None) -> None:
    _caught.append(signal.Signals(signum))
