"""Where the engine and the UI keep their state, and the names of what is in it: a module of
its own, so that what the dashboard imports before its first frame (the head start, the app)
does not pull in the history, the snapshot and what they store."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SNAPSHOT_FILENAME = "status-snapshot.sqlite3"  # engine.snapshot's file
DASHBOARD_SNAPSHOT = "dashboard"  # the dashboard's kind of process (the daemon keeps none)


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_STATE_HOME/gitwatch-tui`, else `~/.local/state/gitwatch-tui`.

    A relative `XDG_STATE_HOME` is ignored, as the XDG spec requires.
    """
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "gitwatch-tui"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "gitwatch-tui"
