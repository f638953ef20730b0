"""UI test set-up: real repos with real remotes, and the app driven by Textual's Pilot."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp, build_app
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.widgets.repo_table import RepoTable
from tests.conftest import commit_file, make_remote_and_clone, push_from_elsewhere
from tests.ui.tmux import Terminal


@dataclass
class RepoSet:
    config: Config
    base: Path
    remotes: dict[str, Path]
    clones: dict[str, Path]


@pytest.fixture()
def repo_set(tmp_path: Path) -> RepoSet:
    """Five repos in two groups plus one ungrouped: in sync, behind, dirty, ahead, and a
    folder that is not a repo at all."""
    base = tmp_path / "repos"
    remotes, clones = {}, {}
    for name in ("api", "web", "docs", "tools"):
        remotes[name], clones[name] = make_remote_and_clone(base, name)
    push_from_elsewhere(remotes["web"], base)
    from tests.conftest import git

    git(clones["web"], "fetch", "-q")
    (clones["docs"] / "README.md").write_text("edited\n")
    (clones["docs"] / "notes.txt").write_text("new\n")
    commit_file(clones["tools"], "tool.py", "print()\n", "Add a tool")
    broken = base / "broken"
    broken.mkdir()
    (broken / ".git").write_text("gitdir: /nonexistent/nowhere\n")
    groups = {"api": "backend", "web": "frontend", "docs": "frontend", "tools": None}
    specs = [RepoSpec(path=clones[n], name=n, group=g) for n, g in groups.items()]
    specs.append(RepoSpec(path=broken, name="broken", group="backend"))
    # Long intervals: nothing polls on its own while a test runs.
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    return RepoSet(Config(defaults=defaults, repos=tuple(specs)), base, remotes, clones)


def make_app(config: Config, tmp_path: Path, **options: object) -> GitwatchApp:
    options.setdefault("watch_files", False)
    options.setdefault("theme", "gitwatch-dark")
    options.setdefault("clock", lambda: 1_700_000_000.0)
    return build_app(config, state_dir=tmp_path / "state", **options)


async def until(
    pilot: Pilot[object], predicate: Callable[[], object], within: float = 10.0
) -> None:
    """Let the app run until `predicate()` holds (fails the test after `within` seconds)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.05)
    await pilot.pause()


def dashboard(app: GitwatchApp) -> DashboardScreen:
    screen = app.screen_stack[0]  # the app's own first screen: panels are pushed over it
    assert isinstance(screen, DashboardScreen)
    return screen


def table(app: GitwatchApp) -> RepoTable:
    return dashboard(app).query_one(RepoTable)


def row_text(app: GitwatchApp, key: str) -> str:
    """A row's cells as the user reads them, joined by ` | `."""
    cells = table(app).get_row(key)
    return " | ".join(str(cell) for cell in cells)


def all_read(app: GitwatchApp) -> bool:
    rows = dashboard(app).rows
    return bool(rows) and all(r.status is not None for r in rows.values())


async def settle(pilot: Pilot[object]) -> None:
    await asyncio.sleep(0)
    await pilot.pause()


def plain(widget: object) -> str:
    """What a Static (or a widget that renders itself) shows, as plain text (its content may
    be any Rich renderable)."""
    from rich.console import Console
    from textual.widget import Widget
    from textual.widgets import Static

    assert isinstance(widget, Widget)
    content = widget.content if isinstance(widget, Static) else widget.render()
    console = Console(width=120, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    with console.file:
        console.print(content)
    return console.export_text()


@pytest.fixture()
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    """A tmux server of this test's own (named by process and test, so parallel runs never
    share one), ended after it."""
    term = Terminal(f"gitwatch-test-{os.getpid()}-{tmp_path.name}")
    yield term
    term.tmux("kill-server")
