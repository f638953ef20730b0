"""`l`: the engine's log as it happens: failed fetches, back-off and circuit changes, refusals,
auto-syncs and pulls (one line per change, see `SyncLog`), warnings, errors and pipeline output.

It opens on the selected repo's lines (or everyone's from a group row) and follows new lines
while scrolled to the bottom; `a` switches between this repo and all repos.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import RichLog, Static

from gitwatch_tui.engine.events import LogLine
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.messages import EngineUpdate, FollowsEngine
from gitwatch_tui.ui.widgets.footer import Footer

_LEVEL_STYLE = {"info": "repo-muted", "warning": "repo-behind", "error": "repo-error"}
_LEVEL_MARK = {"info": " ", "warning": "!", "error": "✗"}


def log_text(received: float, line: LogLine, palette: dict[str, str], *, with_repo: bool) -> Text:
    """One log line: time, level mark, repo (when showing all), the step, then the message."""
    clock = time.strftime("%H:%M:%S", time.localtime(received))
    text = Text(no_wrap=False)
    text.append(f"{clock} ", palette.get("repo-muted", ""))
    text.append(_LEVEL_MARK[line.level] + " ", palette.get(_LEVEL_STYLE[line.level], ""))
    if with_repo and line.repo:
        text.append(f"{line.repo} ", "bold")
    if line.step:
        text.append(f"[{line.step}] ", palette.get("repo-ahead", ""))
    style = palette.get(_LEVEL_STYLE[line.level], "") if line.level != "info" else ""
    text.append(line.message.rstrip("\n"), style)
    return text


class LogScreen(FollowsEngine, HostedScreen):
    """The engine's log lines, live; one repo's or every repo's."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("a", "toggle_all", "This repo / all"),
        Binding("G", "end", "Follow", show=False),
    ]
    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; padding: 0 1; background: $panel; }
    LogScreen RichLog { height: 1fr; padding: 0 1; overflow-y: auto; }
    """

    def __init__(self, repo: str | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.show_all = repo is None

    def compose(self) -> ComposeResult:
        yield Static(id="log-title")
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=5000)
        yield Footer()

    def on_mount(self) -> None:
        self._fill()

    def _wanted(self, line: LogLine) -> bool:
        return self.show_all or line.repo == self.repo

    def _fill(self) -> None:
        view = self.query_one(RichLog)
        view.clear()
        lines = [(t, line) for t, line in self.gw_app.log_lines if self._wanted(line)]
        self._write(lines)
        whose = "all repos" if self.show_all else self.repo
        title = Text.assemble((" log ", "bold reverse"), f"  {whose} · {len(lines)} lines")
        if not lines:
            title.append("  (nothing yet: sync failures and results, warnings and pipeline output)")
        self.query_one("#log-title", Static).update(title)

    def _write(self, lines: Iterable[tuple[float, LogLine]]) -> None:
        view, palette = self.query_one(RichLog), self.gw_app.palette()
        for received, line in lines:
            view.write(log_text(received, line, palette, with_repo=self.show_all))

    def on_engine_update(self, message: EngineUpdate) -> None:
        new = [line for line in message.log_entries if self._wanted(line)]
        if new:
            now = time.time()
            self._write((now, line) for line in new)

    def action_toggle_all(self) -> None:
        if self.repo is not None:
            self.show_all = not self.show_all
            self._fill()

    def action_end(self) -> None:
        self.query_one(RichLog).scroll_end(animate=False)
