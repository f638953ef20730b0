"""Dashboard themes: YAML files of `textual.theme.Theme` fields, and the remembered choice.

Textual has no theme file loader, so `load_themes` reads `themes/*.yaml` (shipped in the
wheel as `gitwatch_tui/themes`) into `Theme` objects, checking every field first: a bad file
is reported and skipped, never raised, so a typo in a theme cannot stop the dashboard.

The app uses it like this:

    themes, problems = load_themes()
    for theme in themes:
        self.register_theme(theme)
    choice = choose_theme(config.theme, state_dir, self.available_themes)
    self.theme = choice.name             # choice.notice: say why, if it fell back
    ...
    save_theme_choice(state_dir, self.theme, config.theme)   # when the user picks one

and returns `REPO_VARIABLES` from `get_theme_variable_defaults()`, so CSS that says
`$repo-error` resolves under any theme, Textual's built-in ones included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from textual.color import Color, ColorParseError
from textual.design import ColorSystem
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
_APP_VARIABLE_PREFIX = "repo-"
# libyaml's loader when PyYAML has it: the pure-Python one took 30 ms of the first frame.
_SAFE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

_COLOUR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_BOOL_FIELDS = ("dark", "ansi")
_NUMBER_FIELDS = ("luminosity_spread", "text_alpha")
_THEME_FIELDS = tuple(f.name for f in dataclasses.fields(Theme))
_QUOTE_HINT = "quote colours: an unquoted # starts a YAML comment"


def themes_dir() -> Path:
    """The shipped themes: `gitwatch_tui/themes` when installed, else the checkout's `themes/`."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "themes"  # put there by hatch force-include
    return installed if installed.is_dir() else package.parent / "themes"


def load_themes(directory: Path | None = None) -> tuple[list[Theme], list[str]]:
    """Read every `*.yaml` in `directory` (default: `themes_dir()`) into a Theme.

    Returns:
        The themes that loaded, in file-name order, and one "themes/x.yaml: what is wrong"
        line per problem; a file with any problem is skipped. Never raises.
    """
    directory = themes_dir() if directory is None else directory
    try:
        paths = sorted(p for p in directory.glob("*.yaml") if p.is_file())
    except OSError as exc:
        return [], [f"{directory}: cannot list themes: {exc.strerror or exc}"]
    if not paths and not directory.is_dir():
        return [], [f"{directory}: themes folder not found"]
    themes: list[Theme] = []
    problems: list[str] = []
    first_file: dict[str, str] = {}
    for path in paths:
        label = f"{directory.name}/{path.name}"
        theme, found = _load_theme(path, label)
        if theme is not None and theme.name in first_file:
            found = [f"{label}: name '{theme.name}' is already used by {first_file[theme.name]}"]
        if found or theme is None:
            problems.extend(found)
            continue
        first_file[theme.name] = label
        themes.append(theme)
    return themes, problems


@dataclass(frozen=True, slots=True)
class ThemeChoice:
    """The theme to start with, and what the rules asked for before checking it exists."""

    name: str
    requested: str | None
    source: Literal["saved", "config", "default"]

    @property
    def notice(self) -> str | None:
        """A message for the user when the requested theme is unavailable, else None."""
        if self.requested is None or self.requested == self.name:
            return None
        where = {"saved": "last chosen", "config": "from the config", "default": "default"}
        return (
            f"theme '{self.requested}' ({where[self.source]}) is not available; using {self.name}"
        )


def choose_theme(
    config_theme: str | None, state_dir: Path, available: Collection[str]
) -> ThemeChoice:
    """Pick the start-up theme: the last change, in the app or in the config, wins.

    The app's choice is saved with the config's theme at that moment. If the config's theme
    has changed since, the user edited the config later, so the config wins; otherwise the
    saved choice; then the config's theme; then DEFAULT_THEME. A name not in `available`
    falls back to DEFAULT_THEME (FALLBACK_THEME if that is missing too), and `notice` says so.
    """
    saved = _saved_choice(_read_state(state_dir))
    source: Literal["saved", "config", "default"]
    if saved is not None and saved[1] == config_theme:
        requested, source = saved[0], "saved"
    elif config_theme:
        requested, source = config_theme, "config"
    else:
        requested, source = DEFAULT_THEME, "default"
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


def _known_textual_variables() -> frozenset[str]:
    names: set[str] = set()
    for ansi in (False, True):  # the ANSI variant sets a few names of its own
        names.update(ColorSystem(primary="#000000", ansi=ansi).generate())
    return frozenset(names)


_TEXTUAL_VARIABLES = _known_textual_variables()


def _describe(value: object) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(name: str, valid: Collection[str], what: str, otherwise: str) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"unknown {what} '{name}'; " + (f"did you mean '{close[0]}'?" if close else otherwise)


def _check_colour(field: str, value: object, problems: list[str]) -> None:
    if value is None:
        problems.append(f"{field}: empty; {_QUOTE_HINT}")
    elif not isinstance(value, str):
        problems.append(f"{field}: expected a colour string, got {_describe(value)}")
    else:
        try:
            Color.parse(value)
        except ColorParseError:
            problems.append(f"{field}: '{value}' is not a colour (use \"#RRGGBB\")")


def _check_variables(value: object, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"variables: expected a mapping, got {_describe(value)}")
        return
    for name, item in value.items():
        if not isinstance(name, str):
            problems.append(f"variables: names must be strings, got {_describe(name)}")
        elif name.startswith(_APP_VARIABLE_PREFIX):
            # The dashboard's own variables are all colours; check them here rather than have
            # the stylesheet fail at start-up.
            _check_colour(f"variables: {name}", item, problems)
        elif name not in _TEXTUAL_VARIABLES:
            # Textual has about 200 variables: too many to list in a message.
            otherwise = "Textual has no such variable, and the dashboard's start with 'repo-'"
            problems.append(
                "variables: " + _unknown(name, _TEXTUAL_VARIABLES, "variable", otherwise)
            )
        elif item is None:
            problems.append(f"variables: {name}: empty; {_QUOTE_HINT}")
        elif not isinstance(item, str):
            problems.append(f"variables: {name}: expected a string, got {_describe(item)}")


def _check_fields(data: dict[Any, Any]) -> list[str]:
    problems: list[str] = []
    for key, value in data.items():
        if key not in _THEME_FIELDS:
            problems.append(
                _unknown(str(key), _THEME_FIELDS, "field", "valid: " + ", ".join(_THEME_FIELDS))
            )
        elif key == "name":
            if not isinstance(value, str) or not value.strip():
                problems.append(f"name: expected a non-empty string, got {_describe(value)}")
        elif key in _COLOUR_FIELDS:
            _check_colour(key, value, problems)
        elif key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                problems.append(f"{key}: expected true or false, got {_describe(value)}")
        elif key in _NUMBER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{key}: expected a number, got {_describe(value)}")
        elif key == "variables":
            _check_variables(value, problems)
    problems.extend(
        f"missing required field '{key}'" for key in ("name", "primary") if key not in data
    )
    return problems


def _load_theme(path: Path, label: str) -> tuple[Theme | None, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [f"{label}: cannot read: {exc.strerror or exc}"]
    except UnicodeDecodeError:
        return None, [f"{label}: not UTF-8 text"]
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        return None, [f"{where}: invalid YAML: {exc.problem or exc.context}"]
    except yaml.YAMLError as exc:
        return None, [f"{label}: invalid YAML: {exc}"]
    if not isinstance(data, dict):
        return None, [f"{label}: expected a mapping of theme fields, got {_describe(data)}"]
    problems = _check_fields(data)
    if problems:
        return None, [f"{label}: {problem}" for problem in problems]
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()  # what App does on `app.theme = name`
    except Exception as exc:  # the checks above should leave nothing, but never raise
        return None, [f"{label}: {exc}"]
    return theme, []
