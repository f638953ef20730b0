"""Dashboard themes: the one the app starts with, the remembered choice, and the repo-*
colours every theme resolves.

The theme files (`themes/*.yaml`) are read by `ui.theme_files`. The app starts on
`STARTING_THEME`, the default theme built in, when that is the theme to show: reading the
files (PyYAML's import, three files checked) took 20-25 ms of the first frame, so they are
read right after it. Another theme to start with is read from its file before the first frame.
The app uses this module like this:

    requested, _ = requested_theme(config.theme, state_dir)
    if requested == DEFAULT_THEME:
        self.register_theme(STARTING_THEME)    # the files come after the first frame
    ...
    choice = choose_theme(config.theme, state_dir, self.available_themes)
    self.theme = choice.name             # choice.notice: say why, if it fell back
    ...
    save_theme_choice(state_dir, self.theme, config.theme)   # when the user picks one

and returns `REPO_VARIABLES` from `get_theme_variable_defaults()`, so CSS that says
`$repo-error` resolves under any theme, Textual's built-in ones included.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from textual.theme import Theme

DEFAULT_THEME = "gitwatch-dark"
# Used when even the default theme failed to load: Textual always registers this one.
FALLBACK_THEME = "textual-dark"
STATE_FILE = "ui.json"

# Every repo-* variable the dashboard's CSS may use, with gitwatch-dark's values: the app's
# `get_theme_variable_defaults()` returns these, so a theme that lacks one (a built-in theme,
# an older theme file) still resolves. A test keeps them equal to themes/gitwatch-dark.yaml.
REPO_VARIABLES: dict[str, str] = {
    "repo-clean": "#5FD787",  # in sync ✓
    "repo-staged": "#3FC1C9",  # staged count
    "repo-unstaged": "#FFAF00",  # unstaged count
    "repo-dirty": "#FFAF00",  # any uncommitted change (the `-dirty` row class)
    "repo-untracked": "#FF87AF",  # untracked count
    "repo-conflict": "#FF5F5F",  # conflicts
    "repo-ahead": "#5FAFFF",  # ahead arrows
    "repo-behind": "#F5D76E",  # behind arrows
    "repo-stash": "#B48EFF",  # stash count
    "repo-busy": "#C9D1D9",  # fetching spinner
    "repo-error": "#F28B82",  # error text
    "repo-muted": "#7D8696",  # dim text: "never", "—"
    "repo-group": "#9CDCFE",  # group label
}
REPO_VARIABLE_PREFIX = "repo-"

# themes/gitwatch-dark.yaml, as the app starts with it when it is the theme to show; the file
# is read after the first frame. tests/ui/test_themes.py keeps the two equal.
STARTING_THEME = Theme(
    name=DEFAULT_THEME,
    dark=True,
    primary="#5FAFFF",
    secondary="#7AA2F7",
    accent="#FFAF00",
    warning="#FFAF00",
    error="#FF5F5F",
    success="#5FD787",
    foreground="#D8DEE9",
    background="#16191F",
    surface="#1C2028",
    panel="#252B36",
    boost="#FFFFFF0A",
    variables={
        **REPO_VARIABLES,
        "block-cursor-background": "#142074",
        "block-cursor-foreground": "#FFFFFF",
        "block-cursor-blurred-background": "#14207480",
        "footer-key-foreground": "#FFAF00",
    },
)


ThemeSource = Literal["saved", "config", "default"]


@dataclass(frozen=True, slots=True)
class ThemeChoice:
    """The theme to start with, and what the rules asked for before checking it exists."""

    name: str
    requested: str | None
    source: ThemeSource

    @property
    def notice(self) -> str | None:
        """A message for the user when the requested theme is unavailable, else None."""
        if self.requested is None or self.requested == self.name:
            return None
        where = {"saved": "last chosen", "config": "from the config", "default": "default"}
        return (
            f"theme '{self.requested}' ({where[self.source]}) is not available; using {self.name}"
        )


def requested_theme(config_theme: str | None, state_dir: Path) -> tuple[str, ThemeSource]:
    """The start-up theme asked for, and by what: the last change, in the app or in the
    config, wins. The app's choice is saved with the config's theme at that moment. If the
    config's theme has changed since, the user edited the config later, so the config wins;
    otherwise the saved choice; then the config's theme; then DEFAULT_THEME."""
    saved = _saved_choice(_read_state(state_dir))
    if saved is not None and saved[1] == config_theme:
        return saved[0], "saved"
    if config_theme:
        return config_theme, "config"
    return DEFAULT_THEME, "default"


def choose_theme(
    config_theme: str | None, state_dir: Path, available: Collection[str]
) -> ThemeChoice:
    """Pick the start-up theme: `requested_theme` if it is in `available`; else DEFAULT_THEME
    (FALLBACK_THEME if that is missing too), and `notice` says so."""
    return theme_choice(*requested_theme(config_theme, state_dir), available)


def theme_choice(requested: str, source: ThemeSource, available: Collection[str]) -> ThemeChoice:
    """`choose_theme` for a request already read (`requested_theme`)."""
    if requested in available:
        return ThemeChoice(requested, requested, source)
    name = DEFAULT_THEME if DEFAULT_THEME in available else FALLBACK_THEME
    return ThemeChoice(name, requested, source)


def initial_theme(config_theme: str | None, state_dir: Path, available: Collection[str]) -> str:
    """The name from `choose_theme`; use that instead to tell the user about a fallback."""
    return choose_theme(config_theme, state_dir, available).name


def save_theme_choice(state_dir: Path, theme: str, config_theme: str | None) -> None:
    """Remember the user's pick in `state_dir/ui.json`, with the config's theme at this moment.

    Other keys in the file are kept. The write is atomic (a temp file, then os.replace), and
    any failure is ignored: losing a preference must never crash the UI.
    """
    state = _read_state(state_dir)
    state.update(theme=theme, config_theme=config_theme)
    text = json.dumps(state, indent=2, sort_keys=True) + "\n"
    temp: str | None = None
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=state_dir, prefix=f".{STATE_FILE}.", suffix=".tmp")
        # No fsync: it can stall the UI for a while on a busy disk, and a file lost in a crash
        # is read as no saved choice.
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, state_dir / STATE_FILE)
        temp = None
    except OSError:
        pass
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


# -- helpers ------------------------------------------------------------------------------------


def _read_state(state_dir: Path) -> dict[str, Any]:
    """The saved UI state; empty when missing, unreadable or corrupt."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError covers bad JSON and bad UTF-8
        return {}
    return data if isinstance(data, dict) else {}


def _saved_choice(state: dict[str, Any]) -> tuple[str, str | None] | None:
    theme, config_theme = state.get("theme"), state.get("config_theme", 0)
    if not isinstance(theme, str) or not theme:
        return None
    if config_theme is not None and not isinstance(config_theme, str):  # 0: the key is missing
        return None
    return theme, config_theme
