"""The branch switch (`b`) and stash-and-switch (`s`) panels driven by keys from the dashboard,
on real repos with bare remotes; every switch is checked on disk.

Commit dates are fixed per commit, and the app's clock too, so the snapshots do not move.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from gitwatch_tui.core.config import Config
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.switch import SwitchScreen
from tests.conftest import git, make_remote_and_clone
from tests.ui.conftest import all_read, make_app, plain, table, until
from tests.ui.test_pull_panel import config_of, fixed_dates

__all__ = ["fixed_dates"]  # autouse: set-up commits without a date of their own get a fixed one

NOW = 1_700_000_000.0
DAY = 86_400
SIZES = [(80, 24), (120, 35)]
needs_conflict_panel = pytest.mark.skipif(
    importlib.util.find_spec("gitwatch_tui.ui.screens.conflicts") is None,
    reason="the conflict panel is not written yet",
)


def commit_at(repo: Path, days_ago: float, files: dict[str, str], message: str) -> None:
    """Commit `files` dated `days_ago` before the test clock."""
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(repo, "add", "--", name)
    when = f"@{int(NOW - days_ago * DAY)} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        ["git", "commit", "-q", "-m", message], cwd=repo, env=env, check=True,
        stdin=subprocess.DEVNULL, capture_output=True,
    )  # fmt: skip


def branchy_repo(base: Path) -> tuple[Path, Path]:
    """main; feature/login pushed and one commit ahead; fix/typo local only (it changes
    README.md); release/2.0 only on the remote."""
    remote, clone = make_remote_and_clone(base, "app")
    git(clone, "switch", "-q", "-c", "feature/login")
    commit_at(clone, 5, {"login.py": "def login(): ...\n"}, "Add the login form")
    git(clone, "push", "-q", "-u", "origin", "feature/login")
    commit_at(clone, 2, {"login.py": "def login(user): ...\n"}, "Log in by user name")
    git(clone, "switch", "-q", "-c", "fix/typo", "main")
    commit_at(clone, 1, {"README.md": "hello, world\n"}, "Fix the greeting")
    git(clone, "switch", "-q", "-c", "release/2.0", "main")
    commit_at(clone, 3, {"CHANGES.md": "2.0\n"}, "Release notes for 2.0")
    git(clone, "push", "-q", "origin", "release/2.0")
    git(clone, "switch", "-q", "main")
    git(clone, "branch", "-q", "-D", "release/2.0")  # now only origin/release/2.0
    return remote, clone


def current(repo: Path) -> str:
    return git(repo, "branch", "--show-current")


def stashes(repo: Path) -> list[str]:
    listed = git(repo, "stash", "list", "--format=%gs")
    return listed.splitlines() if listed else []


def panel_text(app: GitwatchApp) -> str:
    return "\n".join(plain(widget) for widget in app.screen.query(Static))


def rows(app: GitwatchApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, SwitchScreen)
    return [entry.name for entry, _ in screen.shown]


async def open_switch(pilot: Pilot[int], app: GitwatchApp, key: str = "b") -> SwitchScreen:
    """Press `key` on the (only) repo's row; wait for the branch list."""
    await until(pilot, lambda: all_read(app))
    table(app).move_cursor(row=0)
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, SwitchScreen) and app.screen.listing)
    screen = app.screen
    assert isinstance(screen, SwitchScreen)
    assert app.focused is screen.query_one(Input)
    return screen


async def test_the_list_then_a_fuzzy_filter_and_enter_switches(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_switch(pilot, app)
        assert rows(app) == ["main", "fix/typo", "feature/login", "origin/release/2.0"]
        listing = screen.query_one(OptionList)
        assert listing.highlighted == 1  # the current branch is first, the cursor below it
        lines = [str(listing.get_option_at_index(i).prompt) for i in range(4)]
        assert lines[0].startswith("● main") and "✓" in lines[0]
        assert "On main → origin/main  ✓ in sync" in panel_text(app)
        assert "feature/login" in lines[2] and "↑1" in lines[2] and "2d ago" in lines[2]
        assert "Log in by user name" in lines[2]
        assert "local" in lines[1] and "1d ago" in lines[1]
        assert "origin/release/2.0 (remote)" in lines[3] and "3d ago" in lines[3]
        await pilot.press("down", "down", "up")
        assert listing.highlighted == 2 and app.focused is screen.query_one(Input)
        await pilot.press(*"fl")
        # "fl" names no branch: a create row heads the list, the best match is highlighted.
        assert rows(app)[0] == "feature/login" and listing.highlighted == 1
        assert str(listing.get_option_at_index(0).prompt) == "+ create fl from main"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert any("switched to feature/login" in n.message for n in app._notifications)
    assert current(clone) == "feature/login"
    assert (clone / "login.py").read_text() == "def login(user): ...\n"


async def test_a_remote_only_branch_gets_a_tracking_branch(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"rel", "enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert current(clone) == "release/2.0"
    assert git(clone, "rev-parse", "--abbrev-ref", "release/2.0@{upstream}") == "origin/release/2.0"
    assert (clone / "CHANGES.md").read_text() == "2.0\n"


def make_dirty(clone: Path) -> dict[str, bytes]:
    """Local work on main: an edit to README.md (which fix/typo changes), a staged new file,
    and untracked files, binary included. Returns every file's bytes."""
    work = {
        "README.md": b"my edit\r\nwith CRLF\r\n",
        "staged.txt": b"staged\n",
        "notes/todo.txt": b"\x00\x01 binary \xff\n",
        "scratch.md": b"untracked\n",
    }
    for name, content in work.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(content)
    git(clone, "add", "--", "staged.txt")
    return work


async def test_dirty_switch_is_refused_with_files_then_s_stashes_and_back_reapplies_exactly(
    tmp_path: Path,
) -> None:
    _, clone = branchy_repo(tmp_path)
    work = make_dirty(clone)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_switch(pilot, app)
        assert screen.check_action("stash_switch", ()) is False  # `s` types into the filter
        await pilot.press(*"typo", "enter")
        await until(pilot, lambda: screen.offer is not None)
        text = panel_text(app)
        assert "✗ Not switched: switching to fix/typo would overwrite" in text
        assert (
            "1 file with local changes: README.md;" in text and "    README.md" not in text
        )  # once
        assert "press s to stash your changes" in text
        assert current(clone) == "main" and (clone / "README.md").read_bytes() == work["README.md"]
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert current(clone) == "fix/typo"
        assert (clone / "README.md").read_text() == "hello, world\n"
        assert not (clone / "notes").exists() and not (clone / "scratch.md").exists()
        assert stashes(clone) == ["On main: gitwatch: on main before switching to fix/typo"]

        await open_switch(pilot, app)
        await pilot.press(*"main", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Re-apply your changes on main?" in str(
            app.screen.query_one("#confirm-box").border_title
        )
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert current(clone) == "main"
    for name, content in work.items():
        assert (clone / name).read_bytes() == content, name
    assert git(clone, "diff", "--cached", "--name-only") == "staged.txt"
    assert stashes(clone) == []


async def test_declining_the_reapply_keeps_the_stash(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    make_dirty(clone)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_switch(pilot, app, key="s")  # stash & switch from the start
        assert "Stash & switch" in plain(screen.query_one("#switch-title"))
        await pilot.press(*"typo", "enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert current(clone) == "fix/typo" and len(stashes(clone)) == 1
        await open_switch(pilot, app)
        await pilot.press(*"main", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert current(clone) == "main"
    assert (clone / "README.md").read_text() == "hello\n"  # not re-applied
    assert stashes(clone) == ["On main: gitwatch: on main before switching to fix/typo"]


@needs_conflict_panel
async def test_a_conflicting_reapply_keeps_the_stash_and_opens_the_conflict_panel(
    tmp_path: Path,
) -> None:
    _, clone = branchy_repo(tmp_path)
    make_dirty(clone)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app, key="s")
        await pilot.press(*"typo", "enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        # Meanwhile main's README.md changes, so the stashed edit no longer applies cleanly.
        git(clone, "switch", "-q", "main")
        commit_at(clone, 0, {"README.md": "changed on main\n"}, "Change the README on main")
        git(clone, "switch", "-q", "fix/typo")
        await open_switch(pilot, app)
        await pilot.press(*"main", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: type(app.screen).__name__ == "ConflictScreen")
        assert not any(isinstance(s, SwitchScreen) for s in app.screen_stack)
        assert any("the stash is kept" in n.message for n in app._notifications)
    assert current(clone) == "main"
    assert stashes(clone) == ["On main: gitwatch: on main before switching to fix/typo"]
    assert "<<<<<<<" in (clone / "README.md").read_text()


# --- snapshots ---------------------------------------------------------------------------------


def _panel(key: str, *typed: str):  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        screen = await open_switch(pilot, pilot.app, key)  # type: ignore[arg-type]
        screen.query_one(Input).cursor_blink = False
        await pilot.press(*typed)
        if "enter" in typed:
            await until(pilot, lambda: screen.offer is not None)
        await pilot.pause(0.1)

    return run


def _config(tmp_path: Path, dirty: bool = False) -> Config:
    _, clone = branchy_repo(tmp_path)
    if dirty:
        make_dirty(clone)
    return config_of({"app": clone})


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_list(snap_compare, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_config(tmp_path), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=_panel("b"))


def test_snapshot_refused_offers_stash(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_config(tmp_path, dirty=True), tmp_path, clock=lambda: NOW)
    keys = ("t", "y", "p", "o", "enter")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_panel("b", *keys))


def test_snapshot_stash_and_switch_filtered(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_config(tmp_path, dirty=True), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(120, 35), run_before=_panel("s", "f", "e"))
