"""Branches made, deleted and renamed in the switch panel (the create row, ctrl+n, ctrl+d,
ctrl+r) and `u` on the dashboard, driven by keys on real repos with bare remotes; every
change is checked on disk."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.switch import BranchNameInput, SwitchScreen
from tests.conftest import git
from tests.ui.conftest import make_app, plain, table, until
from tests.ui.test_pull_panel import config_of, fixed_dates
from tests.ui.test_switch_panel import NOW, branchy_repo, current, open_switch

__all__ = ["fixed_dates"]  # autouse: set-up commits get a fixed date


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").splitlines()


def confirm_text(app: GitwatchApp) -> tuple[str, str]:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return str(screen.query_one("#confirm-box").border_title), plain(
        screen.query_one("#confirm-body")
    )


async def said(pilot: Pilot[int], app: GitwatchApp, words: str) -> None:
    """Wait until the switch panel's message says `words`."""
    await until(pilot, lambda: words in plain(app.screen.query_one("#switch-message")))


async def answer_name(pilot: Pilot[int], app: GitwatchApp, name: str) -> str:
    """Type `name` into the name box (replacing what it offers); what it offered."""
    await until(pilot, lambda: isinstance(app.screen, BranchNameInput))
    box = app.screen.query_one(Input)
    offered = box.value
    box.value = name
    await pilot.press("enter")
    return offered


async def test_a_new_name_gets_a_create_row_that_creates_and_switches(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    head = git(clone, "rev-parse", "HEAD")
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_switch(pilot, app)
        await pilot.press(*"topic")
        assert screen.create_name == "topic"
        await pilot.press("up", "enter")  # the create row, above the best match
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert any("created topic" in n.message for n in app._notifications)
    assert current(clone) == "topic" and git(clone, "rev-parse", "topic") == head


async def test_ctrl_n_on_a_remote_branch_makes_a_local_branch_tracking_it(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"rel", "ctrl+n")
        assert await answer_name(pilot, app, "release/2.0") == "release/2.0"
        await said(pilot, app, "✓ created release/2.0")
        assert isinstance(app.screen, SwitchScreen)
        assert "release/2.0" in [entry.name for entry in app.screen.entries]
    assert current(clone) == "main"
    assert git(clone, "rev-parse", "--abbrev-ref", "release/2.0@{upstream}") == "origin/release/2.0"


async def test_ctrl_d_deletes_a_merged_branch_after_one_confirm(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    git(clone, "branch", "done")
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"done", "ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title, body = confirm_text(app)
        assert title == "Delete branch done?" and "every commit of it is on another" in body
        await pilot.press("y")
        await said(pilot, app, "✓ deleted done")
    assert "done" not in branches(clone)


async def test_ctrl_d_on_an_unmerged_branch_needs_a_second_confirm(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"fix/typo", "ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title, body = confirm_text(app)
        assert title == "⚠ Delete unmerged branch fix/typo?" and "Fix the greeting" in body
        await pilot.press("y")
        await until(pilot, lambda: confirm_text(app)[0] == "⚠ Really drop 1 commit?")
        await pilot.press("n")
        await said(pilot, app, "fix/typo is kept")
        assert "fix/typo" in branches(clone)

        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: confirm_text(app)[0] == "⚠ Really drop 1 commit?")
        await pilot.press("y")
        await said(pilot, app, "✓ deleted fix/typo")
    assert "fix/typo" not in branches(clone)


async def test_ctrl_d_refuses_the_current_branch_without_asking(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"main", "ctrl+d")
        await said(pilot, app, "main is the branch you are on; switch to another branch first")
        assert isinstance(app.screen, SwitchScreen)
    assert "main" in branches(clone)


async def test_ctrl_r_renames_and_refuses_an_existing_name(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    sha = git(clone, "rev-parse", "fix/typo")
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"fix/typo", "ctrl+r")
        assert await answer_name(pilot, app, "main") == "fix/typo"
        await said(pilot, app, "a branch main exists already")
        await pilot.press("ctrl+r")
        await answer_name(pilot, app, "fix/greeting")
        await said(pilot, app, "✓ renamed fix/typo to fix/greeting")
    assert git(clone, "rev-parse", "fix/greeting") == sha
    assert "fix/typo" not in branches(clone)


async def test_an_upstream_gone_row_suggests_the_clean_up(tmp_path: Path) -> None:
    remote, clone = branchy_repo(tmp_path)
    git(remote, "branch", "-D", "feature/login")
    git(clone, "fetch", "-q", "--prune")
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_switch(pilot, app)
        await pilot.press(*"login")
        listing = app.screen.query_one(OptionList)
        row = str(listing.get_option_at_index(1).prompt)
        assert "feature/login" in row and "gone" in row
        assert "upstream gone · ctrl+d deletes" in row


async def switch_to_login(pilot: Pilot[int], app: GitwatchApp) -> None:
    await open_switch(pilot, app)
    await pilot.press(*"feature/login", "enter")
    await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_u_undoes_the_switch_after_a_confirm_and_not_twice(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await switch_to_login(pilot, app)
        assert current(clone) == "feature/login"
        table(app).move_cursor(row=0)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        title, body = confirm_text(app)
        assert title == "Undo the switch in app?"
        assert "switch from feature/login back to main" in body and "git switch -- main" in body
        await pilot.press("y")
        await until(pilot, lambda: any(n.title == "app: undone" for n in app._notifications))
        assert current(clone) == "main"

        await pilot.press("u")
        await until(pilot, lambda: any("undone already" in n.message for n in app._notifications))
        assert isinstance(app.screen, DashboardScreen)
    assert current(clone) == "main"


async def test_u_declined_changes_nothing(tmp_path: Path) -> None:
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await switch_to_login(pilot, app)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert current(clone) == "feature/login"


# --- snapshots of the new confirms -------------------------------------------------------------


def _unmerged_delete_confirm():  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, GitwatchApp)
        screen = await open_switch(pilot, app)
        screen.query_one(Input).cursor_blink = False
        await pilot.press(*"fix/typo", "ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.1)

    return run


def _undo_confirm():  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, GitwatchApp)
        await switch_to_login(pilot, app)
        app.clear_notifications()
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.1)

    return run


def test_snapshot_unmerged_delete_confirm(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_unmerged_delete_confirm())


def test_snapshot_undo_confirm(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, clone = branchy_repo(tmp_path)
    app = make_app(config_of({"app": clone}), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_undo_confirm())
