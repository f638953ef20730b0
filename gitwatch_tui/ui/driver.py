"""The terminal driver: Textual's Linux driver, with Escape delivered when its delay is up,
and an exit that does not hang when the terminal has gone.

A lone ESC byte may be the start of a key sequence (an arrow is ESC [ A), so the parser waits
`ESCDELAY` for more before it reports Escape. Textual's input thread checks that wait only when
its `select` returns, every 0.1 s, so Escape took 100-200 ms whatever the delay. This thread
wakes when the wait is over.

When the terminal closes, Textual's writer thread dies on the first failed write, and every
later write (restoring the terminal on the way out) waited forever for room in its queue: the
dashboard never exited. Writes are dropped once that thread is gone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

# Textual's own input poll: how often the thread looks at `exit_event` when no key comes.
_POLL_SECONDS = 0.1


def select_timeout(parser: XTermParser, now: float) -> float:
    """How long the input thread may wait for input: until the parser's pending wait ends
    (an ESC waiting for the rest of its sequence), and never longer than the usual poll."""
    deadline = parser._timeout_time  # noqa: SLF001  (Textual keeps no public accessor)
    if deadline is None:
        return _POLL_SECONDS
    return min(_POLL_SECONDS, max(0.0, deadline - now))


class _WakingEvent(threading.Event):
    """The input thread's stop flag, which also wakes the thread's `select`: Textual's thread
    saw it at its next 0.1 s poll, then slept another 0.1 s, and a quit waited for both. Its
    pipe lives as long as the driver: a suspend (the hand-off, `t`) closes the driver and
    starts it again."""

    def __init__(self) -> None:
        super().__init__()
        self.wakes, self._wake = os.pipe()

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):
            os.write(self._wake, b"\0")


class PromptEscapeDriver(LinuxDriver):
    """`LinuxDriver` whose input thread wakes when a pending Escape is due and when it is
    told to stop, and whose output is dropped once the terminal is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_event: _WakingEvent = _WakingEvent()

    def write(self, data: str) -> None:
        self._put(data)

    def close(self) -> None:
        writer = self._writer_thread
        if writer is not None:
            self._put(None)  # the writer's end mark, as its `stop` sends
            writer.join()

    def _put(self, data: str | None) -> None:
        """Queue `data` for the writer thread, unless that thread has died (a write to the
        terminal failed: it has gone), which Textual's own write would wait for forever."""
        writer = self._writer_thread
        assert writer is not None, "Driver must be in application mode"
        while writer.is_alive():
            with contextlib.suppress(queue.Full):
                writer._queue.put(data, timeout=_POLL_SECONDS)  # noqa: SLF001
                return

    def run_input_thread(self) -> None:
        # Textual 8.2's loop, but for the select timeout and the stop flag's pipe.
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self.exit_event.wakes, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for index, (key, mask) in enumerate(events):
                if key.fd == self.exit_event.wakes:
                    os.read(key.fd, 512)
                elif mask & selectors.EVENT_READ:
                    last = index == len(events) - 1
                    data = decode(os.read(self.fileno, 4096), final=final and last)
                    if not data:
                        break  # stdin piped and at its end
                    for event in parser.feed(data):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process(selector.select(select_timeout(parser, get_time())))
            # Textual's loop then waited 0.1 s in a `select` on no file at all.
            process([], final=True)
        finally:
            selector.close()
            try:
                for _event in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
