"""`?`: every key, what the symbols and colours mean, and how the filter works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gitwatch_tui.ui.repo_view import STATE_WORDS


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            keys = ", ".join(_key_name(k) for k in binding.key.split(","))
            rows.append((keys, binding.description))
    return rows


def _key_name(key: str) -> str:
    return {"slash": "/", "question_mark": "?", "escape": "esc", "enter": "enter"}.get(key, key)


class HelpScreen(ModalScreen[None]):
    """A modal listing the dashboard's bindings (read from the screens themselves, so the
    list cannot drift from what the keys do)."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._content(), id="help-text")

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=lines, animate=False)

    def _content(self) -> Table:
        from gitwatch_tui.ui.screens.dashboard import DashboardScreen
        from gitwatch_tui.ui.screens.details import DetailScreen

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        sections = [
            ("Dashboard", _keys(DashboardScreen.BINDINGS)),
            (
                "Moving",
                [("↑ ↓, j k", "previous / next row"), ("g G, pgup pgdn", "first / last row, page")],
            ),
            ("Details screen", _keys(DetailScreen.BINDINGS)),
            (
                "Anywhere",
                [
                    ("ctrl+p", "command palette: every action, sort by any column, themes"),
                    ("ctrl+c", "quit"),
                ],
            ),
        ]
        for title, rows in sections:
            grid.add_row(Text(title, "bold underline"), "")
            for keys, description in rows:
                grid.add_row(keys, description)
            grid.add_row("", "")
        grid.add_row(Text("Columns", "bold underline"), "")
        grid.add_row("↑3 ↓2", "commits ahead of / behind the upstream")
        grid.add_row("!1 +2 ~3 ?4", "conflicted, staged, changed but not staged, untracked files")
        grid.add_row("$1", "stashes (its own column on wide terminals)")
        grid.add_row("(abc1234)", "detached HEAD at that commit")
        grid.add_row("origin", "the upstream is the same-named branch on that remote")
        grid.add_row("", "")
        grid.add_row(Text("State", "bold underline"), "")
        grid.add_row("✓ in sync", "clean, nothing to push or pull")
        grid.add_row("⠋ fetching", "a fetch (or clone, pull) is running")
        grid.add_row("↻ retry in 1m", "the last fetch failed; the engine backs off")
        grid.add_row("⊘ circuit open", "the server keeps failing: polls pause until it recovers")
        grid.add_row("✗ …", "the repo cannot be read, or its upstream is gone")
        grid.add_row("⚠ merge", "a merge, rebase or cherry-pick is in progress")
        grid.add_row("", "")
        grid.add_row(Text("Filter (/)", "bold underline"), "")
        grid.add_row("words", "all must match: text in the name, branch or group,")
        grid.add_row("", "or a state: " + ", ".join(STATE_WORDS))
        grid.add_row("group:NAME", "one group's repos")
        grid.add_row("!word", "everything that does not match")
        return grid
