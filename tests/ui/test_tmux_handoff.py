"""End to end in a real terminal (tmux): `t` suspends the dashboard and hands the terminal to a
shell in the selected repo; what is done there shows on the row once the shell exits."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git
from tests.ui.conftest import RepoSet
from tests.ui.test_tmux import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture()
def term(tmp_path: Path) -> Iterator[Terminal]:
    session = Terminal(f"gitwatch-handoff-{os.getpid()}-{tmp_path.name}")
    yield session
    session.tmux("kill-server")


def _row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if f" {name} " in line), "")


def test_t_suspends_to_a_shell_in_the_repo_and_the_row_is_read_again(
    repo_set: RepoSet, tmp_path: Path, term: Terminal
) -> None:
    config = tmp_path / "config.yaml"
    # No tool of the list: the hand-off is the shell.
    lines = ["defaults:", "  poll_interval: 3600", "handoff: []", "repos:"]
    lines += [f"  - path: {repo_set.clones['api']}", "    name: api"]
    config.write_text("\n".join(lines) + "\n")
    term.start(
        "",
        (100, 24),
        GITWATCH_TUI_CONFIG=str(config),
        XDG_STATE_HOME=str(tmp_path / "state"),
        SHELL="/bin/sh",
        PS1="handed-over:",
    )
    screen = term.wait_for(lambda s: "1 repo" in s and "✓ in sync" in _row(s, "api"))
    term.keys("t")
    term.wait_for(lambda s: "handed-over" in s and "1 repo" not in s)
    term.keys_at_once("git commit -q --allow-empty -m from-the-shell; exit", "Enter")
    screen = term.wait_for(lambda s: "1 repo" in s and "↑1" in _row(s, "api"))
    assert "↑ ahead" in _row(screen, "api")
    assert git(repo_set.clones["api"], "log", "-1", "--format=%s") == "from-the-shell"
    term.quit()
    assert not term.alive()
