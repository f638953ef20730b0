"""When the dashboard's process runs the cyclic garbage collector.

At 10,000 repos the dashboard keeps about 220,000 objects that the collector tracks (rows,
statuses, specs, widgets, modules). A full pass over them took 100-150 ms, and while statuses
were read one came every few seconds: a key pressed then waited for it. So:

- `gitwatch-tui dashboard` starts with the collector off (`__main__`), so no pass slows the
  first frame or the start's 10,000 rows;
- once those rows are in, what the start made is frozen (`gc.freeze`) and the collector is
  turned on: its passes cover only what was made since (10-30 ms at 10,000 repos);
- every few seconds, if the collector has made a full pass since the last freeze (enough new
  objects have lived on: the rows of a first sweep, say), the survivors are frozen too, so
  that passes stay short;
- now and then, when no key has been pressed for a while, everything is unfrozen, collected
  in one pass and frozen again: cycles that died while frozen (a closed panel's widgets) are
  freed.

Only the command line's dashboard runs this: an app in the tests leaves the collector alone.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

CHECK_EVERY = 5.0  # s between looks at whether to freeze, or to collect in full
QUIET_FOR = 2.0  # s without a key before a full collection (150 ms at 10,000 repos)
FULL_AT_MOST_EVERY = 120.0  # s


def _full_passes() -> int:
    return int(gc.get_stats()[2]["collections"])


class Collector:
    """The dashboard's collector policy; the app calls `start`, `key_pressed` and `check`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_key = float("-inf")
        self._collected_at = clock()  # the start counts as one: nothing is frozen before it
        self._passes_at_freeze = 0

    def pause(self) -> None:
        """Nothing is collected until `start` (the launcher may have done this already)."""
        gc.disable()

    def start(self) -> None:
        """The start's objects are made: freeze them and turn the collector on."""
        self._freeze()
        gc.enable()

    def key_pressed(self) -> None:
        self._last_key = self._clock()

    def check(self) -> str | None:
        """After a full pass of the collector since the last freeze: freeze its survivors, or
        collect everything in full if the user is not typing and the last full collection is
        old enough. Returns what it did: "freeze", "full" or None."""
        if not gc.isenabled() or _full_passes() == self._passes_at_freeze:
            return None  # not started yet, or not much made since the last freeze
        now = self._clock()
        if now - self._last_key >= QUIET_FOR and now - self._collected_at >= FULL_AT_MOST_EVERY:
            gc.unfreeze()
            gc.collect()
            self._collected_at = now
            self._freeze()
            return "full"
        self._freeze()
        return "freeze"

    def _freeze(self) -> None:
        gc.freeze()
        self._passes_at_freeze = _full_passes()
