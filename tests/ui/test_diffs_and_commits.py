"""The details screen's file diffs and the commit log (`L`), driven by Pilot over real repos."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens import commit_log
from gitwatch_tui.ui.screens.commit_log import CommitLogScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.details import DetailScreen
from gitwatch_tui.ui.screens.help import HelpScreen
from gitwatch_tui.ui.widgets.patch_lines import PatchLines
from tests.conftest import commit_file, git
from tests.ui.conftest import RepoSet, all_read, make_app, plain, table, until


def options(app: GitwatchApp, selector: str) -> list[str]:
    listing = app.screen.query_one(selector, OptionList)
    return [str(o.prompt) for o in listing.options]


def shown(view: PatchLines) -> str:
    return view.text.plain


def highlighted(app: GitwatchApp, selector: str) -> str | None:
    option = app.screen.query_one(selector, OptionList).highlighted_option
    return option.id if option is not None else None


async def open_row(app: GitwatchApp, pilot, name: str, key: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: all_read(app))
    table(app).move_cursor(row=table(app).order.index(name))
    await pilot.press(key)


async def test_details_list_the_files_and_show_each_ones_diff(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    docs = repo_set.clones["docs"]
    (docs / "README.md").write_text("edited\nstaged\n")
    git(docs, "add", "README.md")
    (docs / "README.md").write_text("edited\nstaged\nnot yet\n")
    (docs / "logo.png").write_bytes(b"\x89PNG\0" * 4000)
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "docs", "enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(pilot, lambda: "README.md" in " ".join(options(app, "#detail-file-list")))
        assert options(app, "#detail-file-list") == [
            "Staged (1)", " M README.md",
            "Not staged (1)", " M README.md",
            "Untracked (2)", " ? logo.png", " ? notes.txt",
        ]  # fmt: skip
        assert app.focused is screen.query_one("#detail-file-list")
        patch = screen.query_one("#detail-diff", PatchLines)
        await until(pilot, lambda: "+staged" in shown(patch))
        assert "README.md  staged" in shown(patch) and "not yet" not in shown(patch)
        await pilot.press("j")  # the heading is skipped
        await until(pilot, lambda: "+not yet" in shown(patch))
        assert "-edited" not in shown(patch)
        await pilot.press("down")
        await until(pilot, lambda: "binary, 19 KB" in shown(patch))
        await pilot.press("down")
        await until(pilot, lambda: "+new" in shown(patch))
        await pilot.press("tab")
        assert app.focused is screen.query_one("#detail-diff")
        await pilot.press("escape")  # from the diff back to the list, then out
        assert app.focused is screen.query_one("#detail-file-list")
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_a_clean_repos_details_say_so_without_a_file_list(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "api", "enter")
        screen = app.screen
        await until(
            pilot, lambda: "working tree is clean" in plain(screen.query_one("#detail-files"))
        )
        assert not screen.query_one("#detail-changes").display


async def test_the_commit_log_marks_search_and_shows_a_commit(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    web = repo_set.clones["web"]  # one commit behind its upstream
    mine = commit_file(web, "mine.txt", "mine\n", "my own work")
    theirs = git(web, "rev-parse", "origin/main")
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "web", "L")
        screen = app.screen
        assert isinstance(screen, CommitLogScreen)
        await until(pilot, lambda: screen.commits is not None)
        lines = options(app, "#clog-list")
        assert any("↑ " in line and "my own work" in line for line in lines)
        assert any("↓ " in line and "change upstream-other-0.txt" in line for line in lines)
        title = plain(screen.query_one("#clog-title"))
        assert "origin/main · ↑1 not pushed · ↓1 not pulled" in title
        assert highlighted(app, "#clog-list") in (mine, theirs)  # the newest first

        await pilot.press("slash", *"upstream-other", "enter")
        assert highlighted(app, "#clog-list") == theirs
        assert "/upstream-other: 1 found" in plain(screen.query_one("#clog-title"))
        await pilot.press("slash", "ctrl+u", *"e", "enter")  # in every subject: n moves on
        at = highlighted(app, "#clog-list")
        await pilot.press("n")
        assert highlighted(app, "#clog-list") != at
        await pilot.press("N")
        assert highlighted(app, "#clog-list") == at

        await pilot.press("slash", "ctrl+u", *"my own", "enter", "enter")
        show = screen.query_one("#clog-show", PatchLines)
        await until(pilot, lambda: f"commit {mine}" in shown(show))
        assert "mine.txt | 1 +" in shown(show) and "+mine" in shown(show)
        await pilot.press("escape")  # closes the commit, then the screen
        assert not screen.query_one("#clog-show").display
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_the_details_open_the_commit_log_and_help_names_events_and_commits(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "tools", "enter")
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, CommitLogScreen) and screen.repo == "tools"
        await until(pilot, lambda: screen.commits is not None)
        assert any("↑ " in line and "Add a tool" in line for line in options(app, "#clog-list"))
        await pilot.press("escape", "escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#help-text"))
        assert "Events" in text and "Commits" in text and "Events  l" in text


async def test_the_diff_follows_the_file_and_a_huge_one_keeps_the_keys_answering(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    docs = repo_set.clones["docs"]
    (docs / "README.md").write_text("".join(f"line {i}\n" for i in range(40_000)))
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "docs", "enter")
        screen = app.screen
        patch = screen.query_one("#detail-diff", PatchLines)
        await until(pilot, lambda: "first 2,000 shown" in shown(patch))
        await pilot.press("tab")  # to the diff: the keys scroll it at once
        diff = screen.query_one("#detail-diff")
        await pilot.press(*"jjj")
        assert diff.scroll_y == 3
        (docs / "README.md").write_text("short now\n")
        await pilot.press("r")
        await until(pilot, lambda: "+short now" in shown(patch))
        assert "first 2,000 shown" not in shown(patch)


async def test_m_reads_more_commits_when_the_log_was_cut(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit_log, "PAGE", 1)
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_row(app, pilot, "tools", "L")
        screen = app.screen
        assert isinstance(screen, CommitLogScreen)
        await until(pilot, lambda: screen.commits is not None)
        lines = options(app, "#clog-list")
        assert len(lines) == 2 and "Add a tool" in lines[0] and "m reads 1 more" in lines[1]
        await pilot.press("m")
        await until(pilot, lambda: any("initial" in line for line in options(app, "#clog-list")))
        assert not any("more commits" in line for line in options(app, "#clog-list"))
