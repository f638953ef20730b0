"""Push (`P`) driven by keys from the dashboard, on real repos with real bare remotes: the
panel, its refusals and their next steps, force with lease after its confirm, and the bulk
push over a group row (a snapshot of its results; commit dates are fixed, so are the shas)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.bulk import BulkScreen
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.screens.pull import PullScreen
from gitwatch_tui.ui.screens.push import PushScreen
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.ui.conftest import all_read, dashboard, make_app, plain, table, until

NOW = 1_700_000_000.0
COMMIT_DATE = "@1699990000 +0000"


@pytest.fixture(autouse=True)
def fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_DATE", COMMIT_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", COMMIT_DATE)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


def team(base: Path) -> tuple[Config, dict[str, Path], dict[str, Path]]:
    """One group of four: app ahead, site diverged, lib in sync, tool on a new branch."""
    remotes, clones = {}, {}
    for name in ("app", "site", "lib", "tool"):
        remotes[name], clones[name] = make_remote_and_clone(base, name)
    commit_file(clones["app"], "app.py", "print('app')\n", "Add the app")
    commit_file(clones["site"], "index.html", "<p>mine</p>\n", "My page")
    push_from_elsewhere(remotes["site"], base)
    git(clones["site"], "fetch", "-q")
    git(clones["tool"], "switch", "-q", "-c", "feature")
    commit_file(clones["tool"], "tool.py", "print('tool')\n", "Add a tool")
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    specs = tuple(RepoSpec(path=clones[n], name=n, group="team") for n in clones)
    return Config(defaults=defaults, repos=specs), remotes, clones


async def open_push(pilot: Pilot[int], app: GitwatchApp, name: str) -> PushScreen:
    await until(pilot, lambda: all_read(app))
    table(app).move_cursor(row=table(app).order.index(name))
    await pilot.press("P")
    await until(pilot, lambda: isinstance(app.screen, PushScreen) and app.screen.preview)
    screen = app.screen
    assert isinstance(screen, PushScreen)
    return screen


def finished(app: GitwatchApp) -> bool:
    screen = app.screen
    return isinstance(screen, BulkScreen) and len(screen.results) == len(screen.names)


async def test_p_shows_what_goes_out_and_enter_pushes_it(tmp_path: Path) -> None:
    config, remotes, clones = team(tmp_path)
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_push(pilot, app, "app")
        shown = plain(screen.query_one("#push-commits", Static))
        assert "To push (1)" in shown and "Add the app" in shown
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, PushScreen))
        await until(pilot, lambda: dashboard(app).rows["app"].status.ahead == 0)  # type: ignore[union-attr]
        history = await app.engine.recent_history("app", limit=1)
    assert git(remotes["app"], "rev-parse", "main") == git(clones["app"], "rev-parse", "HEAD")
    assert history[0].action == "push" and history[0].ok


async def test_a_diverged_branch_is_refused_and_enter_opens_the_pull_panel(
    tmp_path: Path,
) -> None:
    config, remotes, _ = team(tmp_path)
    before = git(remotes["site"], "rev-parse", "main")
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_push(pilot, app, "site")
        said = plain(screen.query_one("#push-refusal", Static))
        assert "diverged" in said and "enter for the pull panel" in said
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PullScreen))
        assert isinstance(app.screen, PullScreen) and app.screen.repo == "site"
    assert git(remotes["site"], "rev-parse", "main") == before


async def test_force_with_lease_asks_first_showing_what_it_drops(tmp_path: Path) -> None:
    config, remotes, clones = team(tmp_path)
    before = git(remotes["site"], "rev-parse", "main")
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_push(pilot, app, "site")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "change upstream-other-0.txt" in confirm.body
        await pilot.press("n")  # no: nothing happens
        await until(pilot, lambda: isinstance(app.screen, PushScreen))
        assert git(remotes["site"], "rev-parse", "main") == before
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, (PushScreen, ConfirmScreen)))
    assert git(remotes["site"], "rev-parse", "main") == git(clones["site"], "rev-parse", "HEAD")


async def test_a_new_branch_is_pushed_with_u(tmp_path: Path) -> None:
    config, remotes, clones = team(tmp_path)
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_push(pilot, app, "tool")
        assert "push -u origin feature" in plain(screen.query_one("#push-refusal", Static))
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, PushScreen))
    assert git(remotes["tool"], "rev-parse", "feature") == git(clones["tool"], "rev-parse", "HEAD")
    assert git(clones["tool"], "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/feature"


async def test_p_on_a_group_row_pushes_what_can_be_and_skips_the_rest(tmp_path: Path) -> None:
    config, remotes, clones = team(tmp_path)
    site_before = git(remotes["site"], "rev-parse", "main")
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("group:team"))
        await pilot.press("P")
        await until(pilot, lambda: finished(app))
        screen = app.screen
        assert isinstance(screen, BulkScreen) and "Push · team" in screen.title_text
        grid = screen.query_one(DataTable)
        lines = {name: str(grid.get_cell(name, "result")) for name in screen.names}
        assert lines["app"].startswith("✓ pushed")
        assert lines["lib"].startswith("⊘ nothing to push")
        assert lines["site"].startswith("⊘") and "diverged" in lines["site"]
        assert lines["tool"].startswith("⊘") and "no upstream" in lines["tool"]
        grid.move_cursor(row=screen.names.index("tool"))
        await pilot.press("enter")  # a skipped repo's own panel offers its next step
        await until(pilot, lambda: isinstance(app.screen, PushScreen))
    assert git(remotes["app"], "rev-parse", "main") == git(clones["app"], "rev-parse", "HEAD")
    assert git(remotes["site"], "rev-parse", "main") == site_before


def test_snapshot_bulk_push_results(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, _, _ = team(tmp_path)

    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, GitwatchApp)
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("group:team"))
        await pilot.press("P")
        await until(pilot, lambda: finished(app))

    app = make_app(config, tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(100, 16), run_before=run_before)


async def test_details_list_unpushed_branches_besides_heads(tmp_path: Path) -> None:
    config, _, clones = team(tmp_path)
    lib = clones["lib"]
    git(lib, "switch", "-q", "--track", "-c", "wip", "origin/main")
    commit_file(lib, "wip.txt", "wip\n", "Half done")
    git(lib, "switch", "-q", "main")  # HEAD's branch is in sync
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("lib"))
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "details", None) is not None)
        shown = plain(app.screen.query_one("#detail-sync", Static))
    assert "Unpushed branches (1)" in shown and "wip  ↑1 not on origin/main" in shown


async def test_the_palette_offers_push(tmp_path: Path) -> None:
    from tests.ui.test_palette import open_palette, pick

    config, _, _ = team(tmp_path)
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("app"))
        assert "Push" in await open_palette(pilot, app, {"Push", "Pull"})
        await pick(pilot, app, "push", "Push")
        await until(pilot, lambda: isinstance(app.screen, PushScreen))


def test_snapshot_panel_refuses_a_diverged_branch(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config, _, _ = team(tmp_path)

    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, GitwatchApp)
        await open_push(pilot, app, "site")

    app = make_app(config, tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(100, 20), run_before=run_before)
