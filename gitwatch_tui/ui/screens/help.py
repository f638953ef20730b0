"""`?`: every key, what the symbols and colours mean, and how the filter works."""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widget import Widget

from gitwatch_tui.ui.repo_view import STATE_WORDS

WIDE_FROM = 114  # terminal columns from which the help is two columns wide
WIDE_BOX, NARROW_BOX = 112, 66  # the help box's width, two columns or one


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            keys = "/".join(_key_name(k) for k in binding.key.split(","))
            rows.append((keys, binding.description))
    return rows


def _dedupe(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One entry per description, its keys joined (`s` and `enter` both stash & switch)."""
    keys_by_what: dict[str, list[str]] = {}
    for keys, what in rows:
        keys_by_what.setdefault(what, []).append(keys)
    return [("/".join(dict.fromkeys(keys)), what) for what, keys in keys_by_what.items()]


# Said once under "Every panel" instead of in each panel's line.
_EVERY_PANEL = {
    *("Back", "Close", "Scroll down", "Scroll up", "Page down", "Page up"),
    *("Next branch", "Previous branch", "Next stash / scroll down", "Previous stash / scroll up"),
    *("Next commit / scroll down", "Previous commit / scroll up"),
}


def _key_name(key: str) -> str:
    names = {"slash": "/", "question_mark": "?", "escape": "esc", "down": "↓", "up": "↑"}
    names["exclamation_mark"] = "!"
    return names.get(key, key.replace("pagedown", "pgdn").replace("pageup", "pgup"))


class HelpScreen(ModalScreen[None]):
    """A modal listing the dashboard's bindings (read from the screens themselves, so the
    list cannot drift from what the keys do)."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
    ]

    _composed_wide: bool | None = None

    def compose(self) -> ComposeResult:
        self._composed_wide = self._wide
        body = Vertical(id="help-body")
        body.border_title = "gitwatch-tui · keys and symbols"
        body.border_subtitle = "esc closes"
        # Textual cannot size a box to a Rich table's width ("auto" measures 0 inside an
        # "auto" box), so the box is as wide as the layout needs.
        body.styles.width = WIDE_BOX if self._wide else NARROW_BOX
        with body:
            yield HelpText(self._wide, id="help-text")

    @property
    def _wide(self) -> bool:
        return self.app.size.width >= WIDE_FROM

    def on_screen_resume(self) -> None:
        self._fit_layout()  # built once and kept: the terminal may have changed size since

    def on_resize(self) -> None:
        self._fit_layout()

    def _fit_layout(self) -> None:
        if self._composed_wide is not None and self._wide != self._composed_wide:
            self.refresh(recompose=True)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-body", Vertical).scroll_relative(y=lines, animate=False)


class HelpText(Widget):
    """The help's text: its Rich table laid out once per width and kept as plain styled lines
    (measuring the nested tables took a few hundred ms at each layout of the first `?`)."""

    DEFAULT_CSS = "HelpText { height: auto; }"

    def __init__(self, wide: bool, *, id: str | None = None) -> None:  # noqa: A002 (Textual's)
        super().__init__(id=id)
        self._wide = wide

    def render(self) -> Text:
        return help_lines(self._wide, self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(help_lines(self._wide, width).split())


def prepare_help(app_width: int) -> None:
    """Lay the help out now for the widths its box gives it at this terminal width, with a
    scroll bar and without (the first `?` then finds it done)."""
    wide = app_width >= WIDE_FROM
    inner = (WIDE_BOX if wide else NARROW_BOX) - 4  # the border and padding
    for width in (inner, inner - 2):
        help_lines(wide, width)


@lru_cache(maxsize=8)
def help_lines(wide: bool, width: int) -> Text:
    """The help laid out `width` cells wide (the app prepares the likely widths when idle)."""
    console = Console(width=max(width, 1), no_color=False, color_system="truecolor")
    lines = console.render_lines(help_content(wide), console.options, pad=False)
    text = Text(no_wrap=True)
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        for segment in line:
            text.append(segment.text, segment.style)
    return text


def help_content(wide: bool) -> Table:
    """The dashboard's keys on the left; how to read the table, then the panels' keys, on
    the right. Stacked when narrow."""
    right = Table.grid()
    right.add_row(_legend_part())
    right.add_row("")
    right.add_row(_panels_part(wide))
    layout = Table.grid(padding=(0, 4))
    if wide:
        layout.add_row(_keys_part(), right)
    else:
        layout.add_row(_keys_part())
        layout.add_row(right)
    return layout


def _panels_part(wide: bool) -> Table:
    from gitwatch_tui.ui.screens.commit_log import CommitLogScreen
    from gitwatch_tui.ui.screens.conflicts import ConflictScreen
    from gitwatch_tui.ui.screens.log import LogScreen
    from gitwatch_tui.ui.screens.pull import PullScreen
    from gitwatch_tui.ui.screens.push import PushScreen
    from gitwatch_tui.ui.screens.run import RunScreen
    from gitwatch_tui.ui.screens.stashes import StashScreen
    from gitwatch_tui.ui.screens.switch import SwitchScreen

    panels: list[tuple[str, list[tuple[str, str]]]] = [
        ("Pull  p", _keys(PullScreen.BINDINGS)),
        ("Push  P", _keys(PushScreen.BINDINGS)),
        ("Branch  b s", [("type", "filter"), *_keys(SwitchScreen.BINDINGS)]),
        ("Stashes  S", _keys(StashScreen.BINDINGS)),
        ("Conflicts  c", _keys(ConflictScreen.BINDINGS)),
        ("Events  l", _keys(LogScreen.BINDINGS)),
        ("Commits  L", _keys(CommitLogScreen.BINDINGS)),
        ("Run  !", [("enter", "run it"), *_keys(RunScreen.BINDINGS)]),
        ("Picked rows", [("space a", "pick"), ("f p P b", "fetch / pull / push / switch them")]),
        ("Every panel", [("esc", "back"), ("↑ ↓ j k", "move or scroll")]),
    ]
    grid = _grid()
    grid.add_row(Text("Panels", "bold underline"), "")
    width = 112 - 4 - 46 - 16 if wide else 66 - 16  # box, keys column, titles
    for title, rows in panels:
        # One line of "key what · key what" per panel (wrapped): the panels' footers show
        # their main keys, this lists them all, hidden ones included.
        line = Text(overflow="fold")
        for keys, what in _dedupe(rows):
            if what not in _EVERY_PANEL:
                line.append(" · " if line else "").append(keys, "bold").append(f" {what}")
        grid.add_row(title, line)
    grid.columns[1].max_width = width
    return grid


def _keys_part() -> Table:
    from gitwatch_tui.ui.screens.dashboard import DashboardScreen
    from gitwatch_tui.ui.screens.details import DetailScreen

    grid = _grid()
    sections = [
        ("Dashboard", _keys(DashboardScreen.BINDINGS)),
        ("Moving", [("↑ ↓, j k", "previous / next row"), ("g G", "first / last row")]),
        ("Details screen", _keys(DetailScreen.BINDINGS)),
        (
            "Anywhere",
            [("ctrl+p", "command palette: every action,"), ("", "sort by any column, themes")],
        ),
    ]
    for i, (title, rows) in enumerate(sections):
        if i:
            grid.add_row("", "")
        grid.add_row(Text(title, "bold underline"), "")
        for keys, description in rows:
            grid.add_row(keys, description)
    return grid


def _legend_part() -> Table:
    grid = _grid()
    rows: list[tuple[str, str]] = [
        ("↑3 ↓2", "commits ahead of / behind upstream"),
        ("!1 +2", "conflicted, staged files"),
        ("~3 ?4", "unstaged, untracked files"),
        ("$1", "stashes (own column when wide)"),
        ("(abc1234)", "detached HEAD at that commit"),
        ("origin", "tracks the same-named branch there"),
        ("✗ 2m", "Fetched: failed 2m ago, none since"),
    ]
    states: list[tuple[str, str]] = [
        ("✓ in sync", "clean, nothing to push or pull"),
        ("⠋ fetching", "a fetch, clone or pull is running"),
        ("↻ retry in 1m", "fetches failing; backing off"),
        ("⊘ circuit open", "server keeps failing: polls pause"),
        ("✗ …", "cannot be read, upstream gone, pipeline"),
        ("⚠ merge", "merge / rebase / cherry-pick going on"),
        ("◐ ∅ ▪", "stale submodules, no commits, bare"),
        ("· …", "detached, no remote, no upstream"),
    ]
    words = ", ".join(STATE_WORDS)
    filters: list[tuple[str, str]] = [
        ("words", "all must match: name, branch, group"),
        ("", "or a state word:"),
        *[("", line) for line in _wrap(words, 36)],
        ("group:NAME", "one group's repos"),
        ("!word", "everything that does not match"),
    ]
    for i, (title, part) in enumerate(
        (("Columns", rows), ("State", states), ("Filter  /", filters))
    ):
        if i:
            grid.add_row("", "")
        grid.add_row(Text(title, "bold underline"), "")
        for left, right in part:
            grid.add_row(left, right)
    return grid


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    return grid


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)
