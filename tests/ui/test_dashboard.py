"""The dashboard driven by Pilot over real repos: every binding, the filter, live updates."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import OptionList

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.repo_view import RepoFilter, RepoRow
from gitwatch_tui.ui.screens.details import DetailScreen
from gitwatch_tui.ui.screens.help import HelpScreen
from gitwatch_tui.ui.themes import REPO_VARIABLES
from tests.conftest import commit_file, git, push_from_elsewhere
from tests.ui.conftest import (
    RepoSet,
    all_read,
    dashboard,
    make_app,
    plain,
    row_text,
    table,
    until,
)
from tests.ui.test_palette import pick


async def test_rows_show_each_repos_state_and_the_header_totals(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        assert table(app).order == [
            "tools", "group:backend", "api", "broken", "group:frontend", "docs", "web",
        ]  # fmt: skip
        assert "↓1" in row_text(app, "web") and "↓ behind" in row_text(app, "web")
        assert "~1 ?1" in row_text(app, "docs") and "● dirty" in row_text(app, "docs")
        assert "↑1" in row_text(app, "tools")
        assert "✓ in sync" in row_text(app, "api") and "origin" in row_text(app, "api")
        assert "✗" in row_text(app, "broken")
        assert "▾ frontend | 2 repos" in row_text(app, "group:frontend")
        summary = plain(dashboard(app).query_one("#summary"))
        assert "5 repos · 1 behind · 1 ahead · 1 dirty · 1 in error" in summary


async def test_filter_by_state_name_and_negation_then_escape_clears(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("slash", *"behind")
        assert table(app).order == ["group:frontend", "web"]
        assert "filter: behind" in plain(dashboard(app).query_one("#summary"))
        await pilot.press("enter")  # back to the table, filter kept
        assert app.focused is table(app)
        assert table(app).order == ["group:frontend", "web"]
        await pilot.press("slash", "ctrl+u", *"!error !dirty")
        assert table(app).order == ["tools", "group:backend", "api", "group:frontend", "web"]
        await pilot.press("ctrl+u", *"group:backend")
        assert table(app).order == ["group:backend", "api", "broken"]
        await pilot.press("ctrl+u", *"zzz")
        empty = dashboard(app).query_one("#empty")
        assert empty.display and not table(app).display
        await pilot.press("escape", "escape")
        assert len(table(app).order) == 7 and table(app).display


async def test_sort_cycles_and_reverses_and_the_cursor_stays_on_its_repo(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("o")  # by branch
        assert dashboard(app).sort_column == "branch"
        await pilot.press("o", "o", "o")  # upstream, ahead/behind, changes
        assert dashboard(app).sort_column == "changes"
        frontend = table(app).order[table(app).order.index("group:frontend") :]
        assert frontend == ["group:frontend", "docs", "web"]  # the dirty one first
        await pilot.press("O")
        frontend = table(app).order[table(app).order.index("group:frontend") :]
        assert frontend == ["group:frontend", "web", "docs"]
        # Put the cursor on "docs", then make "web" dirtier: rows move, the cursor does not.
        table(app).move_cursor(row=table(app).order.index("docs"))
        await pilot.pause()
        for i in range(3):
            (repo_set.clones["web"] / f"new-{i}.txt").write_text("x\n")
        await pilot.press("r")
        await until(pilot, lambda: "?3" in row_text(app, "web"))
        await pilot.press("O")
        assert table(app).order.index("web") < table(app).order.index("docs")
        assert table(app).selected_key == "docs"


async def test_fold_a_group_and_all_groups(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("web"))
        await pilot.press("z")
        assert table(app).order == ["tools", "group:backend", "api", "broken", "group:frontend"]
        assert table(app).selected_key == "group:frontend"
        assert "▸ frontend | 2 repos" in row_text(app, "group:frontend")
        await pilot.press("enter")  # enter on a group header unfolds it
        assert "web" in table(app).order
        await pilot.press("Z")
        assert table(app).order == ["tools", "group:backend", "group:frontend"]
        await pilot.press("Z")
        assert len(table(app).order) == 7


async def test_group_rows_are_summed_in_one_pass_per_redraw_only_with_a_filter_on(
    repo_set: RepoSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each group header used to scan every row: O(repos x groups) a frame. The figures are
    kept as rows change; a filter (which orders every row again anyway) takes one pass."""
    from gitwatch_tui.ui.screens import dashboard as dashboard_module

    passes: list[int] = []
    one_pass = dashboard_module.group_totals

    def counted(rows: Iterable[RepoRow], query: RepoFilter | None = None) -> object:
        passes.append(1)
        return one_pass(rows, query)

    monkeypatch.setattr(dashboard_module, "group_totals", counted)
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        passes.clear()
        dashboard(app)._redraw()  # every row drawn again, both group headers among them
        await pilot.pause()
        assert passes == []
        assert "▾ frontend | 2 repos" in row_text(app, "group:frontend")
        assert "▾ backend | 2 repos" in row_text(app, "group:backend")
        await pilot.press("slash", *"dirty", "enter")  # docs: 1 of the 2 frontend repos
        await until(pilot, lambda: "1 of 2 repos" in row_text(app, "group:frontend"))
        passes.clear()
        dashboard(app)._redraw()
        await pilot.pause()
        assert passes == [1]


async def test_an_update_of_one_row_of_many_counts_that_row_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's totals were counted from every row at each update: at 10,000 repos that
    held the event loop for most of each update, and a key pressed meanwhile waited."""
    from gitwatch_tui.core.config import Defaults
    from gitwatch_tui.core.models import RepoStatus
    from gitwatch_tui.ui import repo_view
    from gitwatch_tui.ui.messages import EngineStarted, EngineUpdate

    counted: list[str] = []
    has_error = repo_view.has_error
    monkeypatch.setattr(repo_view, "has_error", lambda r: counted.append(r.name) or has_error(r))

    def status(name: str, behind: int = 0) -> RepoStatus:
        return RepoStatus(name, f"/r/{name}", branch="main", upstream="o/main", behind=behind)

    app = make_app(Config(defaults=Defaults(poll_interval=3600)), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: dashboard(app).started)
        screen = dashboard(app)
        names = [f"repo-{i:03d}" for i in range(300)]
        screen.on_engine_started(EngineStarted(dict.fromkeys(names)))
        screen.on_engine_update(EngineUpdate(statuses={n: status(n) for n in names}))
        counted.clear()
        screen.on_engine_update(EngineUpdate(statuses={"repo-007": status("repo-007", 2)}))
        assert counted == ["repo-007"]
        await pilot.pause()
        assert "300 repos · 1 behind · 0 dirty" in plain(screen.query_one("#summary"))


async def test_the_header_says_how_many_trees_are_polled_over_the_watch_budget(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    from gitwatch_tui.engine.engine import Engine

    # A budget of 0: git dirs are watched all the same, no work tree is.
    engine = Engine(repo_set.config, state_dir=tmp_path / "state", watch_budget=0)
    app = make_app(repo_set.config, tmp_path, engine=engine)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: engine.watching, within=20)
        assert engine.unwatched_trees() == {"api", "web", "docs", "tools", "broken"}
        await until(pilot, lambda: "5 trees polled" in plain(dashboard(app).query_one("#summary")))


async def test_fetch_one_then_fetch_all(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        push_from_elsewhere(repo_set.remotes["api"], repo_set.base, name="a")
        push_from_elsewhere(repo_set.remotes["docs"], repo_set.base, name="b")
        table(app).move_cursor(row=table(app).order.index("api"))
        await pilot.press("f")
        await until(pilot, lambda: "↓1" in row_text(app, "api"))
        assert "↓" not in row_text(app, "docs")  # only the selected repo was fetched
        await pilot.press("F")
        await until(pilot, lambda: "↓1" in row_text(app, "docs"))
        # The broken repo's fetch fails: its state is an error, the others are fine.
        assert dashboard(app).rows["api"].state.last_success is not None


async def test_f_on_a_group_header_fetches_the_group(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        push_from_elsewhere(repo_set.remotes["docs"], repo_set.base)
        push_from_elsewhere(repo_set.remotes["api"], repo_set.base)
        table(app).move_cursor(row=table(app).order.index("group:frontend"))
        await pilot.press("f")
        await until(pilot, lambda: "↓1" in row_text(app, "docs"))
        assert "↓" not in row_text(app, "api")


async def test_refresh_rereads_every_status(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        (repo_set.clones["api"] / "scratch.txt").write_text("x\n")
        await pilot.pause(0.3)
        assert "?1" not in row_text(app, "api")  # no file watching in this test
        await pilot.press("r")
        await until(pilot, lambda: "?1" in row_text(app, "api"))
        await until(pilot, lambda: dashboard(app).last_full_refresh is not None)
        assert "refreshed 0s ago" in plain(dashboard(app).query_one("#summary"))


async def test_enter_opens_details_and_escape_returns(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("web"))
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen) and app.screen.repo == "web"
        screen = app.screen
        await until(pilot, lambda: screen.details is not None)
        text = plain(screen.query_one("#detail-sync"))
        assert "Incoming (1)" in text and "change upstream-other-0.txt" in text
        assert "Outgoing: none" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        table(app).move_cursor(row=table(app).order.index("docs"))
        await pilot.press("enter")
        screen = app.screen
        await until(pilot, lambda: screen.details is not None)
        await until(pilot, lambda: screen.query_one("#detail-file-list", OptionList).option_count)
        files = [o.prompt for o in screen.query_one("#detail-file-list", OptionList).options]
        assert [str(f) for f in files] == [
            "Not staged (1)",
            " M README.md",
            "Untracked (1)",
            " ? notes.txt",
        ]


async def test_an_idle_repo_says_when_it_is_polled_next(repo_set: RepoSet, tmp_path: Path) -> None:
    # The engine's real clock: the next poll is a time.time() the engine planned.
    app = make_app(repo_set.config, tmp_path, clock=time.time)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        # Known from the start: the first polls are planned before any of them ran.
        await until(pilot, lambda: "✓ in sync · next poll in " in row_text(app, "api"))
        table(app).move_cursor(row=table(app).order.index("api"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        await until(
            pilot, lambda: re.search(r"Next poll +in \d+", plain(screen.query_one("#detail-sync")))
        )
    narrow = make_app(repo_set.config, tmp_path / "narrow", clock=time.time)
    async with narrow.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all_read(narrow))
        assert row_text(narrow, "api").endswith("| ✓ in sync")  # no room for it at 80


async def test_details_show_the_full_error(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("broken"))
        await pilot.press("enter")
        text = plain(app.screen.query_one("#detail-error"))
        assert "Last error" in text and "nowhere" in text


async def test_details_update_live_and_show_sync_history(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("api"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        push_from_elsewhere(repo_set.remotes["api"], repo_set.base)
        await pilot.press("f")
        await until(pilot, lambda: "Incoming (1)" in plain(screen.query_one("#detail-sync")))
        await until(pilot, lambda: "fetch" in plain(screen.query_one("#detail-history")))


async def test_help_lists_every_binding(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#help-text"))
        for binding in dashboard(app).BINDINGS:
            assert binding.description in text  # type: ignore[union-attr]
        for word in ("behind", "dirty", "error", "command palette"):
            assert word in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_help_fits_the_terminal_each_time_it_opens(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("question_mark")
        assert app.screen.query_one("#help-body").size.width > 100  # two columns
        await pilot.press("escape")
        await pilot.resize_terminal(80, 24)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query_one("#help-body").size.width <= 66  # stacked
        await pilot.resize_terminal(120, 35)  # and while it is open
        await pilot.pause()
        assert app.screen.query_one("#help-body").size.width > 100


async def test_q_quits_and_stops_the_engine(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert app.engine.events._queues == [] and app._stopped  # noqa: SLF001


async def test_command_palette_offers_the_same_actions(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        push_from_elsewhere(repo_set.remotes["api"], repo_set.base)
        await pilot.press("ctrl+p")
        await pick(pilot, app, "fetch all", "Fetch all")
        await until(pilot, lambda: "↓1" in row_text(app, "api"))
        await pilot.press("ctrl+p")
        await pick(pilot, app, "sort by changes", "Sort by changes")
        await until(pilot, lambda: dashboard(app).sort_column == "changes")


async def test_theme_from_the_palette_is_remembered(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path, theme=None)
    async with app.run_test(size=(120, 35)) as pilot:
        assert app.theme == "gitwatch-dark"
        await pilot.press("ctrl+p")
        await pick(pilot, app, "theme: light", "Theme: light")
        await until(pilot, lambda: app.theme == "gitwatch-light")
        # Cells are re-drawn in the new theme's colours.
        assert dashboard(app).palette == app.palette()
        await until(pilot, lambda: all_read(app))
        state_cell = table(app).get_row("api")[-1]
        assert str(state_cell) == "✓ in sync"
        assert state_cell.style == app.palette()["repo-clean"]
        assert app.palette()["repo-clean"] != REPO_VARIABLES["repo-clean"]  # not the dark one
    again = make_app(repo_set.config, tmp_path, theme=None)
    async with again.run_test(size=(120, 35)):
        assert again.theme == "gitwatch-light"


def trusting(config: Config, name: str) -> Config:
    """The config with repo `name` trusted: its own slow filter then runs in the background."""
    repos = tuple(replace(spec, trust=True) if spec.name == name else spec for spec in config.repos)
    return replace(config, repos=repos)


async def test_a_hung_repo_does_not_stall_the_keys(
    repo_set: RepoSet, tmp_path: Path, silent_server: str
) -> None:
    """A repo whose status hangs (a clean filter that sleeps) and one whose fetch hangs (a
    server that never answers): keys are still answered at once, the others still load."""
    slow = repo_set.clones["api"]
    git(slow, "config", "filter.slow.clean", "sleep 30; cat")
    (slow / ".gitattributes").write_text("*.txt filter=slow\n")
    (slow / "a.txt").write_text("x\n")
    git(slow, "add", ".gitattributes")
    git(repo_set.clones["web"], "remote", "set-url", "origin", silent_server)
    app = make_app(trusting(repo_set.config, "api"), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: dashboard(app).started)
        await pilot.press("F")  # the hung fetch starts
        await until(pilot, lambda: dashboard(app).rows["web"].state.phase == "fetching")
        await pilot.press("r")  # and a refresh that includes the hung status
        for key, check in (
            ("j", lambda: table(app).cursor_row == 1),
            ("question_mark", lambda: isinstance(app.screen, HelpScreen)),
            ("escape", lambda: not isinstance(app.screen, HelpScreen)),
            ("slash", lambda: app.focused is dashboard(app).query_one("#filter")),
        ):
            started = time.monotonic()
            await pilot.press(key)
            await until(pilot, check, within=2)
            assert time.monotonic() - started < 1.0, f"{key} took too long"
        assert dashboard(app).rows["web"].state.phase == "fetching"  # still hung


async def test_while_repos_are_unread_updates_are_gathered_and_the_last_one_is_shown_at_once(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    """During the first sweep a frame per status batch would take CPU from git: the bridge
    gathers events for 0.2 s then, and hands over the sweep's last status without waiting."""
    from gitwatch_tui.engine.events import LogLine, StatusChanged
    from gitwatch_tui.ui.messages import EngineUpdate

    slow = repo_set.clones["api"]
    (slow / ".gitattributes").write_text("*.txt filter=slow\n")
    (slow / "a.txt").write_text("x\n")
    git(slow, "add", ".")
    git(slow, "commit", "-qm", "A file behind a filter")
    git(slow, "config", "filter.slow.clean", "sleep 2; cat")
    (slow / "a.txt").write_text("y\n")  # same size: git must filter it to compare: 2 s
    app = make_app(trusting(repo_set.config, "api"), tmp_path)
    posted: list[tuple[float, set[str]]] = []
    read_at: dict[str, float] = {}
    post = app._post

    def recording(message: object) -> None:
        if isinstance(message, EngineUpdate):
            posted.append((time.monotonic(), set(message.statuses)))
        post(message)  # type: ignore[arg-type]

    app._post = recording  # type: ignore[method-assign]
    app.engine.subscribe(
        lambda e: (
            read_at.setdefault(e.status.name, time.monotonic())
            if isinstance(e, StatusChanged)
            else None
        )
    )
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: dashboard(app).started)
        for n in range(12):  # an event every 50 ms while api is unread
            app.engine.events.publish(LogLine("info", f"event {n}"))
            await pilot.pause(0.05)
        assert "api" not in read_at
        await until(pilot, lambda: all_read(app), within=15)
    scanning = [at for at, _ in posted if at < read_at["api"]]
    assert len(scanning) >= 3
    assert min(b - a for a, b in itertools.pairwise(scanning)) > 0.15
    shown = next(at for at, names in posted if "api" in names)
    assert shown - read_at["api"] < 0.01  # in the same call, not after a timer


async def test_config_hot_reload_adds_rows_applies_the_theme_and_reports_a_bad_edit(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    from gitwatch_tui.core.config_file import load_config

    path = tmp_path / "config.yaml"
    api, web = repo_set.clones["api"], repo_set.clones["web"]
    path.write_text(f"defaults:\n  poll_interval: 1h\nrepos:\n  - path: {api}\n    name: api\n")
    app = make_app(load_config(path), tmp_path, theme=None)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        assert table(app).order == ["api"] and app.theme == "gitwatch-dark"
        path.write_text(
            "theme: gitwatch-light\ndefaults:\n  poll_interval: 1h\nrepos:\n"
            f"  - path: {api}\n    name: api\n  - path: {web}\n    name: web\n"
        )
        await until(pilot, lambda: "web" in table(app).order and all_read(app), within=15)
        await until(pilot, lambda: app.theme == "gitwatch-light")
        path.write_text("defaults:\n  poll_interval: [\n")
        await until(
            pilot,
            lambda: any("config not reloaded" in n.message for n in app._notifications),
            within=15,
        )  # noqa: SLF001
        assert table(app).order == ["api", "web"]  # the last good config stays


async def test_a_filtered_view_follows_live_changes(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("slash", *"dirty", "enter")
        assert table(app).order == ["group:frontend", "docs"]
        (repo_set.clones["api"] / "new.txt").write_text("x\n")
        await app.engine.refresh("api")
        await until(pilot, lambda: "api" in table(app).order)
        assert table(app).order == ["group:backend", "api", "group:frontend", "docs"]
        # And a repo that is no longer dirty leaves the filtered view.
        git(repo_set.clones["docs"], "checkout", "--", "README.md")
        (repo_set.clones["docs"] / "notes.txt").unlink()
        await app.engine.refresh("docs")
        await until(pilot, lambda: "docs" not in table(app).order)


def fetches_ended(app: GitwatchApp) -> bool:
    return not [w for w in app.workers if w.group.startswith("fetch ") and w.is_running]


async def test_fetch_all_skips_repos_without_a_remote_quietly(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    local = repo_set.base / "scratch"
    local.mkdir()
    git(local, "init", "-q", "-b", "main")
    commit_file(local, "notes.txt", "mine\n")
    config = replace(
        repo_set.config, repos=(*repo_set.config.repos, RepoSpec(path=local, name="scratch"))
    )
    app = make_app(config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("F")
        await until(pilot, lambda: fetches_ended(app))
        said = [f"{n.title} {n.message}" for n in app._notifications]
        table(app).move_cursor(row=table(app).order.index("scratch"))
        await pilot.press("f")  # asked for this one repo: it says why nothing happens
        await until(pilot, lambda: any("scratch has no remote" in n.message
                                       for n in app._notifications))  # fmt: skip

    assert not [line for line in said if "scratch" in line or "broken" in line], said
    assert not [line for line in said if "fetch failed" in line], said


async def test_c_without_a_conflict_and_s_without_stashes_say_so_in_one_line(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("api"))
        await pilot.press("c", "S")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert app.screen is dashboard(app)

    assert "api has no conflict in progress" in said
    assert "api has no stashes" in said
