"""The input thread's wait: a pending Escape is reported when its delay is up, not at the next
0.1 s poll (the real driver in a terminal is exercised by tests/ui/test_tmux.py)."""

from __future__ import annotations

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
