"""End to end in a real terminal (tmux): `t` suspends the dashboard and hands the terminal to a
shell in the selected repo; what is done there shows on the row once the shell exits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import git
from tests.ui.conftest import RepoSet
from tests.ui.tmux import Terminal, row

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_t_suspends_to_a_shell_in_the_repo_and_the_row_is_read_again(
    repo_set: RepoSet, tmp_path: Path, terminal: Terminal
) -> None:
    config = tmp_path / "config.yaml"
    # No tool of the list: the hand-off is the shell.
    lines = ["defaults:", "  poll_interval: 3600", "handoff: []", "repos:"]
    lines += [f"  - path: {repo_set.clones['api']}", "    name: api"]
    config.write_text("\n".join(lines) + "\n")
    terminal.start(
        "",
        (100, 24),
        GITWATCH_TUI_CONFIG=str(config),
        XDG_STATE_HOME=str(tmp_path / "state"),
        SHELL="/bin/sh",
        PS1="handed-over:",
    )
    screen = terminal.wait_for(lambda s: "1 repo" in s and "✓ in sync" in row(s, "api"))
    terminal.keys("t")
    terminal.wait_for(lambda s: "handed-over" in s and "1 repo" not in s)
    terminal.keys_at_once("git commit -q --allow-empty -m from-the-shell; exit", "Enter")
    screen = terminal.wait_for(lambda s: "1 repo" in s and "↑1" in row(s, "api"))
    assert "↑ ahead" in row(screen, "api")
    assert git(repo_set.clones["api"], "log", "-1", "--format=%s") == "from-the-shell"
    terminal.quit()
    assert not terminal.alive()
