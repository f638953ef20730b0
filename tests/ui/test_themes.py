"""Themes: the shipped YAML files, the loader's reports, the remembered choice, and Textual."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import Theme
from textual.widgets import Static

from gitwatch_tui.core.config import Config
from gitwatch_tui.ui import theme_files
from gitwatch_tui.ui import themes as themes_module
from gitwatch_tui.ui.app import build_app
from gitwatch_tui.ui.theme_files import load_themes, themes_dir
from gitwatch_tui.ui.themes import (
    DEFAULT_THEME,
    FALLBACK_THEME,
    REPO_VARIABLES,
    STARTING_THEME,
    STATE_FILE,
    choose_theme,
    initial_theme,
    save_theme_choice,
)
from tests.ui.conftest import until

SHIPPED = ("gitwatch-dark", "gitwatch-high-contrast", "gitwatch-light")
# Textual registers its built-in themes in every app; these stand in for that list.
AVAILABLE = {*SHIPPED, "textual-dark", "textual-light", "nord"}
HEX = re.compile(r"#[0-9A-F]{6}")

GOOD = 'name: good\nprimary: "#112233"\nvariables:\n  repo-error: "#FF0000"\n'


@pytest.fixture(scope="module")
def shipped() -> dict[str, Theme]:
    themes, problems = load_themes()
    assert problems == []
    return {theme.name: theme for theme in themes}


# -- the shipped files --------------------------------------------------------------------------


def test_shipped_themes_load_cleanly(shipped: dict[str, Theme]) -> None:
    assert tuple(shipped) == SHIPPED
    assert themes_dir() == Path(__file__).resolve().parents[2] / "themes"  # a checkout


def test_the_starting_theme_is_the_default_themes_file(shipped: dict[str, Theme]) -> None:
    """The app starts on the built-in copy and reads the file after its first frame: the
    two must not differ, or the dashboard would change colours a moment after it opens."""
    assert shipped[DEFAULT_THEME] == STARTING_THEME


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_themes_set_every_repo_variable_as_hex(
    shipped: dict[str, Theme], name: str
) -> None:
    theme = shipped[name]
    repo = {key: value for key, value in theme.variables.items() if key.startswith("repo-")}
    assert set(repo) == set(REPO_VARIABLES)
    assert all(HEX.fullmatch(value) for value in repo.values()), repo
    fields = (theme.primary, theme.secondary, theme.accent, theme.warning, theme.error)
    fields += (theme.success, theme.foreground, theme.background, theme.surface, theme.panel)
    assert all(value and HEX.fullmatch(value) for value in fields)
    assert theme.boost  # set, with an alpha: "#RRGGBBAA"


def test_fallbacks_are_the_dark_theme(shipped: dict[str, Theme]) -> None:
    dark = shipped[DEFAULT_THEME].variables
    assert {key: dark[key] for key in REPO_VARIABLES} == REPO_VARIABLES


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(
    ("name", "minimum", "muted_minimum"),
    [("gitwatch-dark", 4.5, 4.5), ("gitwatch-light", 4.5, 4.0), ("gitwatch-high-contrast", 7, 7)],
)
def test_repo_colours_read_well_on_the_background(
    shipped: dict[str, Theme], name: str, minimum: float, muted_minimum: float
) -> None:
    # WCAG contrast ratios; "muted" is dim on purpose, and gets a little less.
    theme = shipped[name]
    assert theme.background is not None
    for key in REPO_VARIABLES:
        ratio = _contrast(theme.variables[key], theme.background)
        assert ratio >= (muted_minimum if key == "repo-muted" else minimum), (key, ratio)


# -- bad theme files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name: x\nprimary: [\n", ["x.yaml:3:1: invalid YAML: "], id="yaml"),
        pytest.param(
            "- a\n", ["x.yaml: expected a mapping of theme fields, got a list"], id="list"
        ),
        pytest.param(
            "", ["x.yaml: expected a mapping of theme fields, got an empty value"], id="empty"
        ),
        pytest.param(
            GOOD + "primay: '#000000'\n",
            ["x.yaml: unknown field 'primay'; did you mean 'primary'?"],
            id="unknown-field",
        ),
        pytest.param(
            'primary: "#000000"\n', ["x.yaml: missing required field 'name'"], id="no-name"
        ),
        pytest.param("name: x\n", ["x.yaml: missing required field 'primary'"], id="no-primary"),
        pytest.param(
            'name: 5\nprimary: "#000000"\n',
            ["x.yaml: name: expected a non-empty string, got 5"],
            id="name-type",
        ),
        pytest.param(
            GOOD + "dark: maybe\n",
            ["x.yaml: dark: expected true or false, got 'maybe'"],
            id="bool-type",
        ),
        pytest.param(
            GOOD + "text_alpha: high\n",
            ["x.yaml: text_alpha: expected a number, got 'high'"],
            id="number-type",
        ),
        pytest.param(
            GOOD + "accent: 12\n",
            ["x.yaml: accent: expected a colour string, got 12"],
            id="colour-type",
        ),
        pytest.param(
            GOOD + "accent: bluish\n",
            ["x.yaml: accent: 'bluish' is not a colour (use \"#RRGGBB\")"],
            id="not-a-colour",
        ),
        pytest.param(
            GOOD + "accent: #FF0000\n",
            ["x.yaml: accent: empty; quote colours: an unquoted # starts a YAML comment"],
            id="unquoted-hash",
        ),
        pytest.param(
            'name: x\nprimary: "#000000"\nvariables: [a]\n',
            ["x.yaml: variables: expected a mapping, got a list"],
            id="variables-type",
        ),
        pytest.param(
            GOOD + "  repo-clean: green-ish\n",
            ["x.yaml: variables: repo-clean: 'green-ish' is not a colour (use \"#RRGGBB\")"],
            id="repo-variable-colour",
        ),
        pytest.param(
            GOOD + '  datatable--cursor: "#FF0000"\n',
            [
                "x.yaml: variables: unknown variable 'datatable--cursor'; Textual has no such"
                " variable, and the dashboard's start with 'repo-'"
            ],
            id="component-class-is-no-variable",
        ),
        pytest.param(
            GOOD + '  footer-key-foregroud: "#FF0000"\n',
            [
                "x.yaml: variables: unknown variable 'footer-key-foregroud'; did you mean"
                " 'footer-key-foreground'?"
            ],
            id="variable-typo",
        ),
        pytest.param(
            GOOD + "colour: red\n",
            ["x.yaml: unknown field 'colour'; valid: name, primary, secondary, warning, error,"],
            id="unknown-field-no-suggestion",
        ),
        pytest.param(
            GOOD + "  block-cursor-text-style: [bold]\n",
            ["x.yaml: variables: block-cursor-text-style: expected a string, got a list"],
            id="textual-variable-type",
        ),
        pytest.param(
            b"name: \xff\n",
            ["x.yaml: not UTF-8 text"],
            id="binary",
        ),
        pytest.param(
            "name: x\nprimary: 5\ndark: 1\n",
            [
                "x.yaml: primary: expected a colour string, got 5",
                "x.yaml: dark: expected true or false, got 1",
            ],
            id="every-problem",
        ),
    ],
)
def test_a_bad_file_is_reported_and_skipped(
    tmp_path: Path, text: str | bytes, expected: list[str]
) -> None:
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD)
    bad = folder / "x.yaml"
    if isinstance(text, bytes):
        bad.write_bytes(text)
    else:
        bad.write_text(text)
    themes, problems = load_themes(folder)
    assert [theme.name for theme in themes] == ["good"]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith("themes/" + start), problem


def test_a_good_theme_file_keeps_every_field(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        GOOD + 'dark: no\nluminosity_spread: 0.2\ntext_alpha: 1\nboost: "#FFFFFF10"\n'
    )
    [theme], problems = load_themes(tmp_path)
    assert problems == []
    assert theme == Theme(
        name="good",
        primary="#112233",
        dark=False,
        luminosity_spread=0.2,
        text_alpha=1,
        boost="#FFFFFF10",
        variables={"repo-error": "#FF0000"},
    )


def test_a_duplicate_name_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a theme")
    themes, problems = load_themes(tmp_path)
    assert len(themes) == 1
    folder = tmp_path.name
    assert problems == [f"{folder}/b.yaml: name 'good' is already used by {folder}/a.yaml"]


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    themes, problems = load_themes(tmp_path / "nowhere")
    assert themes == []
    assert problems == [f"{tmp_path / 'nowhere'}: themes folder not found"]


# -- which theme to start with ------------------------------------------------------------------


def saved(state_dir: Path, data: object) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("config_theme", "state", "expected"),
    [
        pytest.param(None, None, DEFAULT_THEME, id="nothing"),
        pytest.param("gitwatch-light", None, "gitwatch-light", id="config"),
        pytest.param(
            "gitwatch-light",
            {"theme": "nord", "config_theme": "gitwatch-light"},
            "nord",
            id="saved-after-the-config",
        ),
        pytest.param(
            None, {"theme": "nord", "config_theme": None}, "nord", id="saved-without-config"
        ),
        pytest.param(
            "gitwatch-high-contrast",
            {"theme": "nord", "config_theme": "gitwatch-light"},
            "gitwatch-high-contrast",
            id="config-edited-since",
        ),
        pytest.param(
            "gitwatch-light",
            {"theme": "nord", "config_theme": None},
            "gitwatch-light",
            id="config-theme-added-since",
        ),
        pytest.param(
            None,
            {"theme": "nord", "config_theme": "gitwatch-light"},
            DEFAULT_THEME,
            id="config-theme-removed-since",
        ),
    ],
)
def test_initial_theme_rules(
    tmp_path: Path, config_theme: str | None, state: object, expected: str
) -> None:
    if state is not None:
        saved(tmp_path, state)
    assert initial_theme(config_theme, tmp_path, AVAILABLE) == expected
    assert choose_theme(config_theme, tmp_path, AVAILABLE).notice is None


@pytest.mark.parametrize(
    ("config_theme", "state", "notice"),
    [
        pytest.param(
            "solarised",
            None,
            f"theme 'solarised' (from the config) is not available; using {DEFAULT_THEME}",
            id="config",
        ),
        pytest.param(
            None,
            {"theme": "gone", "config_theme": None},
            f"theme 'gone' (last chosen) is not available; using {DEFAULT_THEME}",
            id="saved",
        ),
    ],
)
def test_an_unknown_name_falls_back_with_a_notice(
    tmp_path: Path, config_theme: str | None, state: object, notice: str
) -> None:
    if state is not None:
        saved(tmp_path, state)
    choice = choose_theme(config_theme, tmp_path, AVAILABLE)
    assert (choice.name, choice.notice) == (DEFAULT_THEME, notice)


def test_without_the_default_theme_textuals_own_is_used(tmp_path: Path) -> None:
    choice = choose_theme(None, tmp_path, {"textual-dark", "nord"})
    assert choice.name == FALLBACK_THEME
    assert (
        choice.notice == f"theme '{DEFAULT_THEME}' (default) is not available; using textual-dark"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'"gitwatch-light"',
        b'{"theme": 5, "config_theme": null}',
        b'{"theme": "", "config_theme": null}',
        b'{"theme": "nord"}',  # without config_theme it cannot say which came last
        b'{"theme": "nord", "config_theme": ["a"]}',
    ],
)
def test_a_corrupt_state_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    assert initial_theme(None, tmp_path, AVAILABLE) == DEFAULT_THEME
    assert initial_theme("gitwatch-light", tmp_path, AVAILABLE) == "gitwatch-light"


def test_a_state_file_that_is_a_folder_is_ignored(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).mkdir()
    assert initial_theme("nord", tmp_path, AVAILABLE) == "nord"
    save_theme_choice(tmp_path, "gitwatch-light", "nord")  # cannot replace a folder: no crash
    assert os.listdir(tmp_path) == [STATE_FILE]


# -- saving the choice --------------------------------------------------------------------------


def test_save_then_start_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state" / "gitwatch-tui"  # created on the first save
    save_theme_choice(state_dir, "gitwatch-light", "nord")
    data = json.loads((state_dir / STATE_FILE).read_text())
    assert data == {"theme": "gitwatch-light", "config_theme": "nord"}
    assert os.listdir(state_dir) == [STATE_FILE]  # no temp file left behind
    assert initial_theme("nord", state_dir, AVAILABLE) == "gitwatch-light"
    save_theme_choice(state_dir, "gitwatch-high-contrast", "nord")  # the last change wins
    assert initial_theme("nord", state_dir, AVAILABLE) == "gitwatch-high-contrast"


def test_save_keeps_other_ui_state(tmp_path: Path) -> None:
    saved(tmp_path, {"theme": "nord", "config_theme": None, "sort": "name"})
    save_theme_choice(tmp_path, "gitwatch-light", None)
    data = json.loads((tmp_path / STATE_FILE).read_text())
    assert data == {"theme": "gitwatch-light", "config_theme": None, "sort": "name"}


def test_a_failed_save_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(tmp_path, {"theme": "nord", "config_theme": None})
    before = (tmp_path / STATE_FILE).read_bytes()

    def fail(src: str, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(themes_module.os, "replace", fail)
    save_theme_choice(tmp_path, "gitwatch-light", None)
    assert (tmp_path / STATE_FILE).read_bytes() == before
    assert os.listdir(tmp_path) == [STATE_FILE]


def test_an_unusable_state_dir_is_ignored(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    save_theme_choice(blocker / "state", "gitwatch-light", None)  # a file where a folder goes
    assert initial_theme(None, blocker / "state", AVAILABLE) == DEFAULT_THEME


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_state_dir_is_ignored(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        save_theme_choice(tmp_path, "gitwatch-light", None)
    finally:
        tmp_path.chmod(0o700)
    assert os.listdir(tmp_path) == []


# -- in a Textual app ---------------------------------------------------------------------------

PROBE_CSS = "\n".join(f".{name} {{ color: ${name}; }}" for name in REPO_VARIABLES)


class ThemedApp(App[None]):
    """The smallest app that uses the repo-* variables the way the dashboard does."""

    CSS = PROBE_CSS

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return REPO_VARIABLES

    def compose(self) -> ComposeResult:
        for name in REPO_VARIABLES:
            yield Static(name, classes=name)


async def test_every_theme_applies_in_a_textual_app(shipped: dict[str, Theme]) -> None:
    app = ThemedApp()
    for theme in shipped.values():
        app.register_theme(theme)
    async with app.run_test(size=(40, 20)) as pilot:
        assert app.get_theme_variable_defaults() == REPO_VARIABLES
        for name in (*SHIPPED, "textual-light"):  # a built-in theme uses the fallbacks
            app.theme = name
            await pilot.pause()
            expected = {**REPO_VARIABLES, **app.current_theme.variables}
            for variable in REPO_VARIABLES:
                colour = app.query_one(f".{variable}", Static).styles.color
                assert colour == Color.parse(expected[variable]), (name, variable)
        error = app.query_one(".repo-error", Static).styles.color
        assert error == Color.parse(REPO_VARIABLES["repo-error"])


async def test_the_theme_files_are_read_right_after_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default theme starts from its built-in copy; the files (a bad one among them, said
    in a toast) are read once the dashboard is on screen."""
    folder = tmp_path / "themes"
    folder.mkdir()
    for name in SHIPPED:
        (folder / f"{name}.yaml").write_bytes((themes_dir() / f"{name}.yaml").read_bytes())
    (folder / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    monkeypatch.setattr(theme_files, "themes_dir", lambda: folder)
    app = build_app(Config(), state_dir=tmp_path / "state", watch_files=False)
    assert app.theme == DEFAULT_THEME
    assert "gitwatch-light" not in app.available_themes  # not read yet
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "gitwatch-light" in app.available_themes)
        await until(pilot, lambda: any("broken.yaml" in n.message for n in app._notifications))
        assert app.theme == DEFAULT_THEME
        assert app.current_theme == STARTING_THEME


async def test_another_theme_to_start_with_is_read_from_its_file(tmp_path: Path) -> None:
    save_theme_choice(tmp_path / "state", "gitwatch-light", None)
    app = build_app(Config(), state_dir=tmp_path / "state", watch_files=False)
    assert app.theme == "gitwatch-light"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.current_theme.name == "gitwatch-light"
        assert app.current_theme.background == "#FAFAFA" and not app.current_theme.dark


async def test_a_default_theme_file_that_differs_from_the_copy_wins_after_the_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edited gitwatch-dark.yaml (an installed file changed by hand) is applied as soon as
    it is read, not only at the next theme change."""
    folder = tmp_path / "themes"
    folder.mkdir()
    text = (themes_dir() / f"{DEFAULT_THEME}.yaml").read_text(encoding="utf-8")
    edited = text.replace('background: "#16191F"', 'background: "#101010"')
    assert edited != text
    (folder / f"{DEFAULT_THEME}.yaml").write_text(edited, encoding="utf-8")
    monkeypatch.setattr(theme_files, "themes_dir", lambda: folder)
    app = build_app(Config(), state_dir=tmp_path / "state", watch_files=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.styles.background == Color.parse("#101010"))
        assert app.current_theme.background == "#101010"
