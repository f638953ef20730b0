"""Where the engine and the UI keep their state: a module of its own, so that what the
dashboard imports before its first frame (the head start, the app) does not pull in the
history and what it stores."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_STATE_HOME/gitwatch-tui`, else `~/.local/state/gitwatch-tui`.

    A relative `XDG_STATE_HOME` is ignored, as the XDG spec requires.
    """
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "gitwatch-tui"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "gitwatch-tui"
