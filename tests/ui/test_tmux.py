"""End to end: the real `gitwatch-tui` in a real terminal (tmux), driven by keys and read back
with `capture-pane`, on real repos with real remotes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import push_from_elsewhere
from tests.ui.conftest import RepoSet

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


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
        self.tmux(
            "new-session", "-d", "-s", "gw", "-x", str(width), "-y", str(height),
            f"env {exports} {sys.executable} -m gitwatch_tui {args}",
        )  # fmt: skip

    def quit(self) -> None:
        """Press q and wait for the program (and so the session) to end."""
        self.keys("q")
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", "gw"], capture_output=True
            ).returncode
            == 0
        )


@pytest.fixture()
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"gitwatch-test-{os.getpid()}-{tmp_path.name}")
    yield term
    term.tmux("kill-server")


def _row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if f" {name} " in line), "")


def test_the_real_program_in_a_terminal(
    repo_set: RepoSet, tmp_path: Path, terminal: Terminal
) -> None:
    config = tmp_path / "config.yaml"
    lines = ["defaults:", "  poll_interval: 3600", "repos:"]
    for name, clone in repo_set.clones.items():
        lines += [f"  - path: {clone}", f"    name: {name}"]
    config.write_text("\n".join(lines) + "\n")
    terminal.start(
        "", (100, 24), GITWATCH_TUI_CONFIG=str(config), XDG_STATE_HOME=str(tmp_path / "state")
    )
    screen = terminal.wait_for(lambda s: "4 repos" in s and "↓1" in _row(s, "web"))
    assert "~1 ?1" in _row(screen, "docs") and "↑1" in _row(screen, "tools")
    assert "r Refresh" in screen and "? Help" in screen  # the footer, at 100 columns

    terminal.keys("/", *"behind", "Enter")
    screen = terminal.wait_for(lambda s: "filter: behind" in s and not _row(s, "api"))
    assert _row(screen, "web")
    terminal.keys("Escape")
    terminal.wait_for(lambda s: _row(s, "api") and "filter:" not in s)

    terminal.keys("?")
    terminal.wait_for(lambda s: "Fetch all" in s and "keys and symbols" in s)
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "keys and symbols" not in s)

    push_from_elsewhere(repo_set.remotes["api"], repo_set.base)
    terminal.keys("F")
    terminal.wait_for(lambda s: "↓1" in _row(s, "api"))

    # An arrow comes as ESC [ A: read whole it moves the cursor; split, it would be Escape.
    terminal.keys("Up", "Enter")  # from web (the filter's row) to tools
    terminal.wait_for(lambda s: "Outgoing (1)" in s and "Add a tool" in s)
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Outgoing" not in s)
    terminal.keys("Down", "Enter")  # back to web
    terminal.wait_for(lambda s: "Incoming (1)" in s)
    # A key right after Escape would read as alt+key: wait for Escape to be seen first.
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Incoming" not in s)
    terminal.quit()
    assert not terminal.alive(), terminal.screen()


def test_demo_shows_its_sandbox_lets_rows_change_and_removes_it_on_quit(
    tmp_path: Path, terminal: Terminal
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    # TMPDIR: where the sandbox goes, so the test can see it go
    terminal.start("--demo", (120, 35), TMPDIR=str(temp), XDG_STATE_HOME=str(tmp_path / "state"))
    screen = terminal.wait_for(lambda s: "13 repos" in s and "scanning" not in s)
    assert "conflict-me" in screen and "legacy-tools" in screen
    assert any(p.name.startswith("gitwatch-demo-") for p in temp.iterdir())
    # Fetch everything: the pusher's commits arrive, the unreachable remote fails.
    terminal.keys("F")
    screen = terminal.wait_for(lambda s: "retry" in _row(s, "offsite-backup"), within=20)
    terminal.quit()
    assert not terminal.alive()
    assert list(temp.iterdir()) == []  # the sandbox and the pusher are gone


def test_a_conflict_made_in_the_demo_is_resolved_with_keys_only(
    tmp_path: Path, terminal: Terminal
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    terminal.start("--demo", (100, 30), TMPDIR=str(temp), XDG_STATE_HOME=str(tmp_path / "state"))
    terminal.wait_for(lambda s: "13 repos" in s and "diverged" in _row(s, "conflict-me"), 30)
    (repo,) = temp.glob("gitwatch-demo-*/work/apps/conflict-me")
    terminal.keys("/", *"conflict-me", "Enter")
    terminal.wait_for(lambda s: "conflict-me" in s and "mobile-api" not in s)
    terminal.keys("j", "p")  # past the group row to the repo; the pull panel
    terminal.wait_for(lambda s: "Pull  conflict-me" in s and "Incoming commits (1)" in s)
    terminal.keys("3")  # merge mode
    terminal.wait_for(lambda s: "3 [merge]" in s)
    terminal.keys("p")
    terminal.wait_for(lambda s: "merging · 0/1 resolved" in s and "hunk 1/1" in s)
    # Back to back, no waiting: take theirs for the hunk (the file's last, so it is marked
    # resolved by itself), then continue. Keys pressed while a change runs wait their turn.
    terminal.keys_at_once("t", "C")
    terminal.wait_for(lambda s: "merge continued" in s and "↑ ahead" in _row(s, "conflict-me"))
    parents = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%P"], capture_output=True, text=True
    ).stdout.split()
    assert len(parents) == 2  # a merge commit
    settings = (repo / "src" / "conflict_me" / "settings.py").read_text()
    assert "REQUEST_TIMEOUT = 45" in settings and "<<<<<<<" not in settings
    terminal.quit()
    assert not terminal.alive()
