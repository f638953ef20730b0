"""The input thread's wait: a pending Escape is reported when its delay is up, not at the next
0.1 s poll (the real driver in a terminal is exercised by tests/ui/test_tmux.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from textual._time import get_time
from textual._xterm_parser import XTermParser

from gitwatch_tui.ui.driver import select_timeout


def test_with_nothing_pending_the_thread_waits_the_usual_poll() -> None:
    parser = XTermParser()
    list(parser.feed("q"))
    assert select_timeout(parser, now=get_time()) == 0.1


def test_a_lone_escape_wakes_the_thread_when_its_delay_is_up() -> None:
    parser = XTermParser()
    assert not list(parser.feed("\x1b"))  # maybe the start of a sequence: not reported yet
    deadline = parser._timeout_time
    assert deadline is not None
    assert select_timeout(parser, now=deadline - 0.03) == pytest.approx(0.03)
    assert select_timeout(parser, now=deadline - 5) == 0.1  # never longer than the poll
    assert select_timeout(parser, now=deadline + 1) == 0.0
    time.sleep(max(0.0, deadline - get_time()))
    assert [getattr(event, "key", None) for event in parser.tick()] == ["escape"]


STOP_SCRIPT = """
import asyncio, sys, threading
from gitwatch_tui.ui import driver
driver._POLL_SECONDS = 60.0  # Textual's thread saw its stop flag only at a poll

failed = []
threading.excepthook = lambda args: failed.append(args.exc_value)

async def main():
    terminal = driver.PromptEscapeDriver(app=None)  # no key comes: the app is never used
    for _ in ("started", "resumed after a suspend (the hand-off)"):
        thread = threading.Thread(target=terminal.run_input_thread, daemon=True)
        thread.start()
        terminal.exit_event.set()
        thread.join(20)
        print("stopped" if not thread.is_alive() else "still waiting", *failed, flush=True)
        terminal.exit_event.clear()  # as disable_input does
        terminal.close()  # as suspend_application_mode does

asyncio.run(main())
"""


def test_the_input_thread_stops_when_told_not_at_its_next_poll() -> None:
    """A quit waits for the input thread: it is woken by its stop flag (a pipe in its
    `select`), where it used to notice at its next poll and then wait one more. The poll is
    made a minute long here; stdin is a pipe that stays open and silent. Twice: a suspend
    (the hand-off) closes the driver and starts its thread again."""
    result = subprocess.run(
        [sys.executable, "-c", STOP_SCRIPT],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.split() == ["stopped", "stopped"], result.stderr
