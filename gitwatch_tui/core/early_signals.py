"""Stop signals that come before the program's event loop can take them.

Between the start of the daemon and its loop's own handlers it imports aiohttp and the engine
and reads its config, about half a second; the dashboard forks its head start, then imports
Textual and draws its first frame. A SIGTERM or a hang-up there used to kill either one on the
spot (the daemon with no log line, exit 143). From `catch` on, the signal is only noted; the
program acts on it as soon as its loop runs: a clean stop (or, in the daemon, a reload for
SIGHUP). This module imports nothing of ours, so it can come first.
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
