"""An asciinema recording (asciicast v2) of the real program on the demo sandbox, driven by keys.

`python -m gitwatch_tui.ui.screenshots FOLDER --cast` writes `FOLDER/demo.cast`. The program
runs in a tmux pane under util-linux `script`, which logs what it writes with the timing; the
keys go in with `tmux send-keys`, each once the screen (read with `capture-pane`) shows that the
step before it is done. Play it with `asciinema play demo.cast`. Needs tmux and `script`.
"""

from __future__ import annotations

import codecs
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

WIDTH, HEIGHT = 100, 30
STEP_LIMIT = 60.0  # seconds a step may take before the recording is given up


@dataclass(frozen=True, slots=True)
class Step:
    """Send `keys` (tmux key names), then wait until `ready(screen text)`; `pause` seconds
    after it, so a viewer can read the screen."""

    keys: tuple[str, ...]
    ready: Callable[[str], bool]
    what: str
    pause: float = 1.0


class CastError(RuntimeError):
    """A step's screen never came: the last screen is in the message."""


def record(out: Path, steps: Sequence[Step], *, home: Path) -> None:
    """Run `gitwatch-tui --demo`, drive it through `steps`, quit, and write the cast to `out`."""
    with tempfile.TemporaryDirectory(prefix="gitwatch-cast-") as temp:
        raw, timing = Path(temp) / "raw", Path(temp) / "timing"
        program = shlex.join([sys.executable, "-m", "gitwatch_tui", "--demo"])
        command = shlex.join(
            ["script", "-q", "-m", "advanced", "-O", str(raw), "-T", str(timing), "-c", program]
        )
        socket = f"gitwatch-cast-{os.getpid()}"
        env = {**os.environ, "HOME": str(home), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        env.pop("GITWATCH_TUI_CONFIG", None)
        env.pop("TMUX", None)

        def tmux(*args: str) -> str:
            return subprocess.run(
                ["tmux", "-L", socket, *args], env=env, capture_output=True, text=True, check=True
            ).stdout

        tmux("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", "cast", command)
        tmux("set-option", "-t", "cast", "status", "off")
        try:
            for step in steps:
                if step.keys:
                    tmux("send-keys", "-t", "cast", *step.keys)
                _wait(lambda: tmux("capture-pane", "-p", "-t", "cast"), step)
                time.sleep(step.pause)
            tmux("send-keys", "-t", "cast", "q")
            deadline = time.monotonic() + STEP_LIMIT
            while time.monotonic() < deadline and _alive(tmux):
                time.sleep(0.1)
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], env=env, capture_output=True)
        out.write_text(to_asciicast(raw.read_bytes(), timing.read_text()), encoding="utf-8")


def _wait(screen: Callable[[], str], step: Step) -> None:
    deadline = time.monotonic() + STEP_LIMIT
    text = ""
    while time.monotonic() < deadline:
        text = screen()
        if step.ready(text):
            return
        time.sleep(0.05)
    raise CastError(f"{step.what}: not on screen within {STEP_LIMIT:g}s; last screen:\n{text}")


def _alive(tmux: Callable[..., str]) -> bool:
    try:
        tmux("has-session", "-t", "cast")
    except subprocess.CalledProcessError:
        return False
    return True


def to_asciicast(raw: bytes, timing: str) -> str:
    """`script`'s output log and its advanced timing log as asciicast v2 (one JSON header
    line, then `[seconds, "o", text]` per chunk written)."""
    output = raw[raw.index(b"\n") + 1 :]  # after script's own "Script started" line
    header = {
        "version": 2, "width": WIDTH, "height": HEIGHT, "timestamp": int(time.time()),
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
    }  # fmt: skip
    lines = [json.dumps(header)]
    at, offset = 0.0, 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span two
    for entry in timing.splitlines():
        kind, delay, size, *_ = entry.split(" ", 3) + [""]
        if kind != "O":
            continue
        at += float(delay)
        chunk = output[offset : offset + int(size)]
        offset += int(size)
        lines.append(json.dumps([round(at, 6), "o", decoder.decode(chunk)]))
    return "\n".join(lines) + "\n"
