"""Hand-off (`t`), editor (`e`) and run anywhere (`!`) from the dashboard, driven by Pilot on
real repos. Pilot has no real terminal: `t`/`e` say so in a toast; where the program itself
is the point, `suspend` is made a no-op and the (fake) tool runs for real."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from gitwatch_tui.core.config import SavedCommand
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.run import OutputScreen, RunScreen
from tests.processes import marked, new_marker
from tests.ui.conftest import RepoSet, all_read, dashboard, make_app, plain, row_text, table, until


@pytest.fixture(autouse=True)
def no_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_EDITOR", "VISUAL", "EDITOR", "NO_COLOR", "TEXTUAL_THEME"):
        monkeypatch.delenv(var, raising=False)


def toasts(app: GitwatchApp) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


async def on_row(pilot: object, app: GitwatchApp, name: str) -> None:
    table(app).move_cursor(row=table(app).order.index(name))


def cells(app: GitwatchApp) -> dict[str, str]:
    screen = app.screen
    assert isinstance(screen, RunScreen)
    grid = screen.query_one(DataTable)
    return {name: " | ".join(str(cell) for cell in grid.get_row(name)[1:]) for name in screen.names}


def run_over(app: GitwatchApp) -> bool:
    screen = app.screen
    return isinstance(screen, RunScreen) and screen.command_run is not None and not screen.running


# -- t and e ------------------------------------------------------------------------------------


async def test_t_and_e_without_a_real_terminal_say_so(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "api")
        await pilot.press("t")
        await until(pilot, lambda: any("cannot be handed over" in t for t in toasts(app)))
        await pilot.press("e")
        await until(pilot, lambda: len([t for t in toasts(app) if "handed over" in t]) == 2)
        assert isinstance(app.screen, DashboardScreen)
        assert all(t.startswith("api ") for t in toasts(app) if "handed over" in t)


async def test_t_runs_the_first_installed_tool_in_the_repo_and_reads_the_row_again(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    tig = tools / "tig"  # the "tool" commits in the folder it was opened in
    tig.write_text("#!/bin/sh\ngit commit -q --allow-empty -m from-the-tool\n")
    tig.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    config = replace(repo_set.config, handoff=("lazygit-not-installed", "tig"))
    app = make_app(config, tmp_path)
    monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "api")
        assert "↑" not in row_text(app, "api")
        await pilot.press("t")
        await until(pilot, lambda: "↑1" in row_text(app, "api"))


async def test_e_opens_the_repo_folder_in_the_editor_and_reads_the_row_again(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "editor" writes a new file in the folder it is given.
    monkeypatch.setenv("EDITOR", "sh -c 'echo x > \"$1/from-editor.txt\"' editor")
    app = make_app(repo_set.config, tmp_path)
    monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "api")
        await pilot.press("e")
        await until(pilot, lambda: "?1" in row_text(app, "api"))
    assert (repo_set.clones["api"] / "from-editor.txt").read_text() == "x\n"


async def test_an_editor_that_is_not_installed_is_said(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_EDITOR", "no-such-editor-here")
    app = make_app(repo_set.config, tmp_path)
    monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "api")
        await pilot.press("e")
        await until(
            pilot, lambda: any("'no-such-editor-here': not found" in t for t in toasts(app))
        )


# -- run anywhere -------------------------------------------------------------------------------


async def test_bang_runs_a_typed_command_in_the_selected_repo_and_enter_shows_its_output(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "tools")
        await pilot.press("exclamation_mark")
        assert isinstance(app.screen, RunScreen) and app.screen.names == ["tools"]
        await pilot.press(*"git log -1 --format=%s; exit 4", "enter")
        await until(pilot, lambda: run_over(app))
        assert cells(app)["tools"].startswith("✗ exit 4 | <1s | Add a tool")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen))
        assert plain(app.screen.query_one("#run-output")).startswith("Add a tool\n── exit 4")
        await pilot.press("escape")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_picked_repos_and_a_saved_command_from_the_list(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    saved = (SavedCommand("branch", "git branch --show-current"), SavedCommand("ls", "ls"))
    app = make_app(replace(repo_set.config, commands=saved), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        for name in ("api", "docs"):
            await on_row(pilot, app, name)
            await pilot.press("space")
        await pilot.press("exclamation_mark")
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.names == ["api", "docs"]
        await pilot.press("tab", "enter")  # from the input to the saved list: the first one
        await until(pilot, lambda: run_over(app))
        assert screen.query_one(Input).value == "git branch --show-current"
        assert cells(app) == {"api": "✓ exit 0 | <1s | main", "docs": "✓ exit 0 | <1s | main"}


async def test_a_group_row_runs_in_its_repos(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "group:frontend")
        await pilot.press("exclamation_mark")
        assert isinstance(app.screen, RunScreen) and app.screen.names == ["docs", "web"]


async def test_in_the_filter_box_an_exclamation_mark_is_typed_not_run(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("slash", "exclamation_mark", *"api")
        await until(pilot, lambda: dashboard(app).query_text == "!api")
        assert isinstance(app.screen, DashboardScreen)


async def test_escape_cancels_every_command_and_closing_the_screen_does_too(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = new_marker()
    monkeypatch.setenv(*next(iter(marker.items())))
    hang = "sleep 300 & echo $! > ../$(basename $PWD).child; sleep 300"
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "group:frontend")
        await pilot.press("exclamation_mark", *hang, "enter")
        children = [repo_set.base / "docs.child", repo_set.base / "web.child"]
        await until(pilot, lambda: all(p.exists() and p.read_text() for p in children))
        assert len(marked(marker, program="sleep")) == 4
        await pilot.press("escape")
        await until(pilot, lambda: run_over(app))
        assert isinstance(app.screen, RunScreen)
        assert all(line.startswith("⊘ cancelled") for line in cells(app).values())
        assert marked(marker, program="sleep") == []

        for child in children:
            child.unlink()
        await pilot.press("shift+tab", "enter")  # back in the input: the same command again
        await until(pilot, lambda: all(p.exists() and p.read_text() for p in children))
        app.pop_screen()
        await until(pilot, lambda: not marked(marker, program="sleep"))


async def test_the_palette_offers_each_saved_command(repo_set: RepoSet, tmp_path: Path) -> None:
    saved = (SavedCommand("status", "git status -s"),)
    app = make_app(replace(repo_set.config, commands=saved), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "docs")
        titles = {c.title: c for c in app.get_system_commands(dashboard(app))}
        assert "Run: status" in titles and "Run anywhere" in titles
        assert "Hand off" in titles and "Editor" in titles
        titles["Run: status"].callback()
        await until(pilot, lambda: run_over(app))
        assert cells(app)["docs"].startswith("✓ exit 0 | <1s |  M README.md ⏎ ?? notes.txt")


# -- the run screen, as it looks ----------------------------------------------------------------


def test_snapshot_of_the_run_screen(snap_compare, repo_set, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A group row's two repos, after a command that fails in one of them."""
    command = "git status -s; git log -1 --format=%s; [ ! -f notes.txt ] || exit 3"

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        await until(pilot, lambda: all_read(app))
        await on_row(pilot, app, "group:frontend")
        await pilot.press("exclamation_mark", *command, "enter")
        await until(pilot, lambda: run_over(app))

    saved = (SavedCommand("status", "git status -s"),)
    app = make_app(replace(repo_set.config, commands=saved), tmp_path)
    assert snap_compare(app, terminal_size=(100, 20), run_before=run_before)
