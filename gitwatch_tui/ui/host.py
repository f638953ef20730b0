"""What the screens use of the app they run in, as a small interface (like the engine's
`PipelineHost`): the screens then depend on it, not on `GitwatchApp`, which imports them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from rich.console import RenderableType
from textual.screen import Screen
from textual.widgets import Static

from gitwatch_tui.core.config import Config
from gitwatch_tui.engine.events import LogLine

if TYPE_CHECKING:  # made by the app after its first frame, and its modules imported then
    from gitwatch_tui.engine.engine import Engine


class Host(Protocol):
    """The dashboard app, as its screens see it."""

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Callable[[], float]:
        """Now, in Unix seconds (fixed in tests and screenshots)."""

    @property
    def log_lines(self) -> deque[tuple[float, LogLine]]:
        """What the log screen shows: the latest lines, each with the time it came."""

    @property
    def state_dir(self) -> Path:
        """Where the engine and the UI keep their state (history, remembered folders)."""

    def open_demo(self) -> None:
        """Leave the dashboard for the demo sandbox."""

    def palette(self) -> dict[str, str]:
        """The current theme's repo-* colours, for cells drawn as Rich text."""

    def config_reloaded(self, config: Config) -> None:
        """A new config is in force."""

    def open_conflicts(self, name: str) -> None:
        """Push the conflict panel for repo `name`."""

    def show_help(self) -> None:
        """Push the help screen."""

    async def shut_down(self) -> None:
        """Stop the engine and leave."""


class HostedScreen(Screen[None]):
    """A screen whose `gw_app` is the app it runs in, as a `Host`."""

    @property
    def gw_app(self) -> Host:
        # Only GitwatchApp runs these screens, and ui/app.py has mypy check that it is a Host.
        return cast(Host, self.app)

    def fill_sections(self, sections: Mapping[str, RenderableType]) -> None:
        """Put each content in the Static of its `#id`; an empty one is hidden, so that it
        leaves no blank margin (the pull and push panels are drawn so)."""
        for selector, content in sections.items():
            section = self.query_one(selector, Static)
            section.update(content)
            section.display = content != ""
