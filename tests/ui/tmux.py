"""The real program in a real terminal: a tmux session of its own, driven by keys and read back
with `capture-pane` (the tmux tests share it; the `terminal` fixture is in conftest)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class Terminal:
    """One tmux session on its own server socket, so nothing touches the user's tmux."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        ).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "gw", key)
            time.sleep(0.15)

    def keys_at_once(self, *keys: str) -> None:
        """Every key in one write, as a fast typist's keys come."""
        self.tmux("send-keys", "-t", "gw", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "gw")

    def styled_screen(self) -> str:
        """The screen with its SGR escapes (colours, reverse video) kept."""
        return self.tmux("capture-pane", "-p", "-e", "-t", "gw")

    def wait_for(self, check: Callable[[str], bool], within: float = 15.0) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched; last screen:\n{screen}")
            time.sleep(0.1)

    def start(self, args: str, size: tuple[int, int], **env: str) -> None:
        """Run `python -m gitwatch_tui ARGS` in a new session of this size, with `env` set."""
        env = {"TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).parents[2]), **env}
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        width, height = size
        # stty: the program may start before tmux gives the pane its size (it then drew at
        # 80x24 in a 120x35 window), so the pane's own terminal is told the size first.
        command = f"env {exports} {sys.executable} -m gitwatch_tui {args}"
        self.tmux(
            "new-session", "-d", "-s", "gw", "-x", str(width), "-y", str(height),
            f"stty cols {width} rows {height}; {command}",
        )  # fmt: skip
        # The pane outlives the program: a program that ends by itself leaves its last words
        # (a traceback) on the screen a failing wait prints.
        self.tmux("set-option", "-w", "-t", "gw", "remain-on-exit", "on")

    def quit(self) -> None:
        """Press q and wait for the program (and so the session) to end."""
        self.keys("q")
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def alive(self) -> bool:
        """The program still runs in the pane (which stays after it: see `start`)."""
        return self.tmux("display", "-p", "-t", "gw", "#{pane_dead}").strip() == "0"


def row(screen: str, name: str) -> str:
    """The screen's line of the repo `name` (empty when it has none)."""
    return next((line for line in screen.splitlines() if f" {name} " in line), "")
