"""What the stash and conflict panels share: one change at a time, run through the engine to
its end, and results said in the panel itself. A key pressed while a change runs (or while the
panel reads the repo again after it) is not lost: it waits its turn, and the keys run in the
order they were pressed."""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar, cast

from rich.text import Text
from textual import work
from textual.widgets import Static

from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.host import HostedScreen

WIDE = 100  # from this width a panel's list sits beside what it shows, else above it
Action = TypeVar("Action", bound=Callable[..., None])


def in_turn(action: Action) -> Action:
    """For a panel's action: run now when the panel is settled, else after what runs before it."""

    @functools.wraps(action)
    def run(panel: ChangePanel, *args: Any) -> None:
        if panel.settled:
            action(panel, *args)
        else:
            panel.queued.append(functools.partial(action, panel, *args))

    return cast(Action, run)


class ChangePanel(HostedScreen):
    """A panel over repo `repo` whose changes go through `engine.change`. Subclasses draw
    their title (showing `busy`) and name the Static that `say` writes to."""

    MESSAGE_ID: ClassVar[str] = ""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.repo = name
        self.busy: str | None = None  # what is running, while a change runs
        self.reading = True  # the repo is being read (first, or again after a change)
        self.queued: deque[Callable[[], None]] = deque()  # keys pressed meanwhile, in order

    @property
    def settled(self) -> bool:
        """Nothing runs, nothing is read, no key waits: a key may act now."""
        return not self.busy and not self.reading and not self.queued

    def _read_done(self) -> None:
        """Subclasses call this when a read of the repo has ended and is on screen."""
        self.reading = False
        self._run_queued()

    def _run_queued(self) -> None:
        """Run the keys that waited, in order, until one starts a change (or a read)."""
        while self.queued and not self.busy and not self.reading:
            self.queued.popleft()()

    def _draw_title(self) -> None:
        raise NotImplementedError

    def _fit_width(self) -> bool:
        """Set the `-wide` class for the panel's width now; True when it changed."""
        wide = self.size.width >= WIDE
        changed = wide != self.has_class("-wide")
        self.set_class(wide, "-wide")
        return changed

    def say(self, message: str, level: str = "info") -> None:
        """Show a result or a refusal in the panel itself (a toast would be missed)."""
        p = self.gw_app.palette()
        colour = {"error": p["repo-error"], "ok": p["repo-clean"]}.get(level, "")
        mark = {"error": "✗ ", "ok": "✓ "}.get(level, "")
        box = self.query_one(f"#{self.MESSAGE_ID}", Static)
        box.update(Text(mark + message, colour))
        box.display = bool(message)

    def _idle(self) -> bool:
        """True when no change is running (the keys wait their turn: see `in_turn`)."""
        return not self.busy

    def _run(
        self, what: str, call: Callable[[], Awaitable[Any]], done: Callable[[Any], None]
    ) -> None:
        self.busy = what
        self._draw_title()
        self.say(f"{what[:1].upper()}{what[1:]} …")
        self._change(call, done)

    @work(group="panel-change")
    async def _change(
        self, call: Callable[[], Awaitable[Any]], done: Callable[[Any], None]
    ) -> None:
        try:
            # Shielded: the change runs to its end, history entry included, even when the
            # panel is closed meanwhile (closing cancels the panel's workers).
            result = await asyncio.shield(call())
        except RepoBusy as busy:
            self.say(f"Nothing changed: {busy}. Try again in a moment.", "error")
            self.queued.clear()  # the keys after it meant to follow it
            return
        except UnknownRepo:
            self.say(f"Nothing changed: {self.repo} is no longer watched.", "error")
            self.queued.clear()
            return
        finally:
            self.busy = None
            if self in self.app.screen_stack:  # not when the panel was closed meanwhile
                self._draw_title()
        done(result)  # which reads the repo again, mostly: the keys waiting run after that
        self._run_queued()
