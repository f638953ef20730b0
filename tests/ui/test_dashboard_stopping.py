"""The real dashboard in a real terminal (tmux), stopped during its first sweep: whatever stops
it (SIGHUP, SIGTERM, SIGINT, SIGKILL, the terminal closed), no git process it started remains.

The sweep never ends on its own: `git status` blocks on a FIFO in two of the repos. Every
process the dashboard starts carries the test's marker in its environment (tests.processes).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import make_remote_and_clone
from tests.processes import (
    blocking_repo,
    described,
    kill_marked,
    marked,
    new_marker,
    wait_until,
)
from tests.ui.tmux import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

WAYS = {
    "SIGHUP": signal.SIGHUP,
    "SIGTERM": signal.SIGTERM,
    "SIGINT": signal.SIGINT,
    "SIGKILL": signal.SIGKILL,
    "terminal closed": None,
}


def blocked_config(tmp_path: Path) -> Path:
    """Two repos whose status never ends and one that is fine; statuses may take ten minutes."""
    repos = [blocking_repo(tmp_path / "repos" / name) for name in ("stuck1", "stuck2")]
    repos.append(make_remote_and_clone(tmp_path / "repos", "fine")[1])
    lines = ["defaults: {poll_interval: 1h, status_timeout: 10m}", "repos:"]
    lines += [f"  - {{path: '{repo}', name: {repo.name}}}" for repo in repos]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_dashboard(terminal: Terminal, tmp_path: Path, env: dict[str, str]) -> Path:
    """The real dashboard in a tmux pane, under a shell that writes its exit status to the
    returned file (tmux's own account of how a pane ended is not always ready)."""
    status = tmp_path / "status"
    variables = {"TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).parents[2]),
                 "GITWATCH_TUI_CONFIG": str(blocked_config(tmp_path)),
                 "XDG_STATE_HOME": str(tmp_path / "state"), **env}  # fmt: skip
    exports = " ".join(f"{name}={value}" for name, value in variables.items())
    command = f"env {exports} {sys.executable} -m gitwatch_tui; echo $? > {status}"
    terminal.tmux("new-session", "-d", "-s", "gw", "-x", "100", "-y", "24", command)
    terminal.tmux("set-option", "-w", "-t", "gw", "remain-on-exit", "on")
    return status


def dashboard_pid(terminal: Terminal, env: dict[str, str]) -> int:
    """The dashboard: the program the pane's shell started (its head start is its child)."""
    shell = terminal.tmux("display", "-p", "-t", "gw", "#{pane_pid}").strip()
    [pid] = [
        pid
        for pid in marked(env, program="python")
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == shell
    ]
    return pid


@pytest.mark.parametrize("way", list(WAYS))
def test_no_git_remains_whatever_stops_the_dashboard_mid_sweep(
    tmp_path: Path, terminal: Terminal, way: str
) -> None:
    env = new_marker()
    status = start_dashboard(terminal, tmp_path, env)
    try:
        wait_until(
            lambda: len(marked(env, program="git", args=" status")) == 2,
            what="two statuses blocked in the first sweep",
        )
        sig = WAYS[way]
        if sig is None:
            terminal.tmux("kill-session", "-t", "gw")  # its pty closes under the program
        else:
            os.kill(dashboard_pid(terminal, env), sig)
        try:
            wait_until(lambda: not marked(env), within=15, what="the dashboard and its git gone")
        except AssertionError as failed:  # say what was left (seen once in CI under load)
            raise AssertionError(f"{failed}: {described(marked(env))}") from None
        if sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            # A clean stop, as with `q`: status 0, the terminal's own screen back.
            wait_until(status.exists, what="the exit status")
            assert status.read_text().strip() == "0", terminal.screen()
            alternate = terminal.tmux("display", "-p", "-t", "gw", "#{alternate_on}").strip()
            assert alternate == "0", terminal.screen()
    finally:
        kill_marked(env)
