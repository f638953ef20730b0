"""The daemon's JSON log: lines in order, and a slow stream never holds up the caller."""

from __future__ import annotations

import io
import json
import threading
import time

from gitwatch_tui.server.daemon import JsonLog


class SlowStream(io.StringIO):
    """A pipe to a busy journald: every write waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(10)
        return super().write(text)


def test_lines_are_written_in_order_and_close_writes_what_is_left() -> None:
    stream = SlowStream()
    log = JsonLog(stream)
    started = time.monotonic()
    for n in range(200):
        log.write("info", "tick", n=n)
    # The stream is stuck, yet 200 writes returned at once (they would wait 200 times).
    assert time.monotonic() - started < 5 and stream.getvalue() == ""
    stream.release.set()
    log.close()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["n"] for r in records] == list(range(200))
    assert {r["event"] for r in records} == {"tick"} and all("ts" in r for r in records)


def test_after_close_lines_are_written_directly() -> None:
    stream = io.StringIO()
    log = JsonLog(stream)
    log.close()
    log.write("error", "daemon-crashed", error="boom")
    assert json.loads(stream.getvalue())["error"] == "boom"
