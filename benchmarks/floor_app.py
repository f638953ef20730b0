"""The floor for dashboard_bench.py's first frame and key latency: a bare Textual app.

    python benchmarks/floor_app.py

It draws what the bench looks for in the dashboard, and nothing else: a line with " gitwatch "
in it, a footer with Quit, and on `?` a full-screen modal whose text has "Moving" in it (as the
help screen does); Escape closes it, `q` quits. It imports no gitwatch_tui code, so in the same
terminal, on the same machine and under the same git load, its timings are what Textual, Python
and tmux cost by themselves: what is left over in the dashboard's timings is the dashboard's.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

# About the help screen's size: two columns of keys and what they do, 30 lines.
_TEXT = "\n".join(
    f"{'Moving' if i == 12 else 'Section'}  key {i:2}   what it does, in a few words"
    f"        key {i + 30:2}   and what this one does, in some more words"
    for i in range(30)
)


class FloorModal(ModalScreen[None]):
    """Stands in for the help screen: an opaque screen with a bordered box of text."""

    DEFAULT_CSS = """
    FloorModal { align: center middle; background: $background; }
    #box { width: 112; height: auto; max-height: 100%; border: round $primary;
           padding: 0 1; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Static(_TEXT)


class FloorApp(App[None]):
    SCREENS = {"floor": FloorModal}  # made at the first `?` and kept, as the help screen is
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("question_mark", "help", "Help")]

    def compose(self) -> ComposeResult:
        yield Static(" gitwatch  the floor: a bare Textual app")
        yield Footer()

    def action_help(self) -> None:
        self.push_screen("floor")


if __name__ == "__main__":
    FloorApp().run()
