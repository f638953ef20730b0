"""Bulk actions: pick repos with space (or every match of a filter), then fetch, pull or switch
them all, with one result line per repo; unsafe repos are skipped with their reason."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.bulk import BulkScreen
from gitwatch_tui.ui.screens.pull import PullScreen
from tests.conftest import git
from tests.ui.conftest import RepoSet, all_read, dashboard, make_app, row_text, table, until


def results(app: GitwatchApp) -> dict[str, str]:
    screen = app.screen
    assert isinstance(screen, BulkScreen)
    grid = screen.query_one(DataTable)
    return {name: str(grid.get_cell(name, "result")) for name in screen.names}


def finished(app: GitwatchApp) -> bool:
    screen = app.screen
    return isinstance(screen, BulkScreen) and len(screen.results) == len(screen.names)


async def test_space_picks_repos_and_pull_runs_on_them_all(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    web_before = git(repo_set.clones["web"], "rev-parse", "HEAD")
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        for name in ("api", "web", "docs"):
            table(app).move_cursor(row=table(app).order.index(name))
            await pilot.press("space")
        assert dashboard(app).selection == {"api", "web", "docs"}
        assert row_text(app, "web").startswith("● web")
        await pilot.press("p")
        await until(pilot, lambda: finished(app))
        lines = results(app)

    assert "fast-forwarded" in lines["web"] and lines["web"].startswith("✓")
    assert "already up to date" in lines["api"]
    assert git(repo_set.clones["web"], "rev-parse", "HEAD") != web_before
    # docs has local edits but nothing to pull: skipped, and its edits are untouched
    assert lines["docs"].startswith("⊘")
    assert (repo_set.clones["docs"] / "README.md").read_text() == "edited\n"


async def test_bulk_switch_skips_repos_without_the_branch(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    git(repo_set.clones["api"], "branch", "release")
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("slash", *"api", "enter", "a")  # filter, then pick every match
        assert dashboard(app).selection == {"api"}
        await pilot.press("escape")  # the filter goes, the pick stays
        table(app).move_cursor(row=table(app).order.index("tools"))
        await pilot.press("space")
        assert dashboard(app).selection == {"api", "tools"}
        await pilot.press("b")
        await pilot.press(*"release", "enter")
        await until(pilot, lambda: finished(app))
        lines = results(app)
        await pilot.press("escape")
        await pilot.press("escape")  # clears the selection
        assert dashboard(app).selection == set()

    assert lines["api"].startswith("✓") and "on release" in lines["api"]
    assert lines["tools"].startswith("⊘")
    assert git(repo_set.clones["api"], "branch", "--show-current") == "release"
    assert git(repo_set.clones["tools"], "branch", "--show-current") == "main"


async def test_bulk_fetch_reports_each_repo(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("group:frontend"))
        await pilot.press("space")  # a group row picks its members
        assert dashboard(app).selection == {"web", "docs"}
        await pilot.press("f")
        await until(pilot, lambda: finished(app))
        assert set(results(app)) == {"web", "docs"}
        assert all(line.startswith("✓ fetched") for line in results(app).values())


async def test_p_on_a_group_row_pulls_its_repos_and_enter_opens_a_skipped_ones_panel(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    web_before = git(repo_set.clones["web"], "rev-parse", "HEAD")
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("group:frontend"))
        await pilot.press("p")  # no pick: the group row stands for its repos
        await until(pilot, lambda: finished(app))
        screen = app.screen
        assert isinstance(screen, BulkScreen)
        assert screen.names == ["docs", "web"] and "frontend" in screen.title_text
        lines = results(app)
        assert lines["web"].startswith("✓ fast-forwarded")
        assert lines["docs"].startswith("⊘") and "enter opens its panel" in lines["docs"]
        screen.query_one(DataTable).move_cursor(row=screen.names.index("docs"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PullScreen))
        assert isinstance(app.screen, PullScreen) and app.screen.repo == "docs"
        assert dashboard(app).selection == set()  # nothing was picked for it

    assert git(repo_set.clones["web"], "rev-parse", "HEAD") != web_before
