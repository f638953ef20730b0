"""When the dashboard's process runs the cyclic garbage collector.

At 10,000 repos the dashboard keeps about 220,000 objects that the collector tracks (rows,
statuses, specs, widgets, modules). A full pass over them took 100-150 ms, and while statuses
were read one came every few seconds: a key pressed then waited for it. So:

- `gitwatch-tui dashboard` starts with the collector off (`__main__`), so no pass slows the
  first frame or the start's 10,000 rows;
- once those rows are in, what the start made is frozen (`gc.freeze`) and the collector is
  turned on: its passes cover only what was made since (10-30 ms at 10,000 repos);
- now and then, when no key has been pressed for a while and the collector has made a full
  pass since (the kept objects have changed), everything is unfrozen, collected in one pass
  and frozen again: cycles that died while frozen (a closed panel's widgets) are freed, and
  the passes stay short.

Only the command line's dashboard runs this: an app in the tests leaves the collector alone.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

CHECK_EVERY = 30.0  # s between looks at whether to collect in full
QUIET_FOR = 2.0  # s without a key before a full collection (150 ms at 10,000 repos)
FULL_AT_MOST_EVERY = 120.0  # s


def _full_passes() -> int:
    return int(gc.get_stats()[2]["collections"])


class Collector:
    """The dashboard's collector policy; the app calls `start`, `key_pressed` and `check`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_key = float("-inf")
        self._frozen_at = float("-inf")
        self._passes_at_freeze = 0
        self.full_collections = 0  # made by `check`

    def pause(self) -> None:
        """Nothing is collected until `start` (the launcher may have done this already)."""
        gc.disable()

    def start(self) -> None:
        """The start's objects are made: freeze them and turn the collector on."""
        self._freeze()
        gc.enable()

    def key_pressed(self) -> None:
        self._last_key = self._clock()

    def check(self) -> bool:
        """Collect in full if the user is not typing, the kept objects have changed and the
        last full collection is old enough. Returns whether it did."""
        now = self._clock()
        if (
            not gc.isenabled()  # not started yet
            or now - self._last_key < QUIET_FOR
            or now - self._frozen_at < FULL_AT_MOST_EVERY
            or _full_passes() == self._passes_at_freeze
        ):
            return False
        gc.unfreeze()
        gc.collect()
        self._freeze()
        self.full_collections += 1
        return True

    def _freeze(self) -> None:
        gc.freeze()
        self._frozen_at = self._clock()
        self._passes_at_freeze = _full_passes()
