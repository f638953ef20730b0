"""Theme files: YAML files of `textual.theme.Theme` fields, read into themes.

Textual has no theme file loader, so `load_themes` reads `themes/*.yaml` (shipped in the
wheel as `gitwatch_tui/themes`) into `Theme` objects, checking every field first: a bad file
is reported and skipped, never raised, so a typo in a theme cannot stop the dashboard. A
module of its own, imported after the first frame (`ui.themes` says why).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.design import ColorSystem
from textual.theme import Theme

from gitwatch_tui.ui.themes import REPO_VARIABLE_PREFIX

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
        elif name.startswith(REPO_VARIABLE_PREFIX):
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
