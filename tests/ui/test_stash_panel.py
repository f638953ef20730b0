"""The stash list driven by keys from the dashboard over a real repo: the list and the patch,
apply, pop, drop (confirmed, cancelled, undone), a pop that conflicts; plus its snapshots."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.screens.conflicts import ConflictScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.stashes import StashScreen
from gitwatch_tui.ui.screenshots import wait_until_read
from tests.conftest import commit_file, git
from tests.ui.conftest import all_read, dashboard, make_app, plain, until

NOW = 1_700_000_000.0
OLDER, NEWER = "1699700000 +0000", "1699900000 +0000"  # 3 days and 1 day before NOW
SIZES = [(80, 24), (120, 35)]


@pytest.fixture(autouse=True)
def fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    date(monkeypatch, OLDER)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


def date(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    # Fixed commit and stash dates: the same shas and the same "3d ago" every run.
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, when)


def stashed_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two stashes: stash@{1} "half-done refactor" (app.py and an untracked notes.txt, 3 days
    old) and stash@{0} a WIP of README.md (1 day old). The tree is clean."""
    repo = tmp_path / "api"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "app.py", "def main():\n    return 1\n", "initial")
    commit_file(repo, "README.md", "hello\n", "readme")
    (repo / "app.py").write_text("def main():\n    return 2  # changed\n")
    (repo / "notes.txt").write_text("todo\n")
    git(repo, "stash", "push", "-q", "-u", "-m", "half-done refactor")
    date(monkeypatch, NEWER)
    (repo / "README.md").write_text("hello\nworld\n")
    git(repo, "stash", "-q")
    date(monkeypatch, OLDER)
    return repo


def config_for(repo: Path) -> Config:
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    return Config(defaults=defaults, repos=(RepoSpec(path=repo, name=repo.name),))


def stash_list(repo: Path) -> list[str]:
    listed = git(repo, "stash", "list", "--format=%gs")
    return listed.splitlines() if listed else []


async def open_panel(pilot: Pilot[int]) -> StashScreen:
    app = pilot.app
    await until(pilot, lambda: all_read(app))  # type: ignore[arg-type]
    await pilot.press("S")
    await until(pilot, lambda: isinstance(app.screen, StashScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, StashScreen)
    return screen


async def idle(pilot: Pilot[int], screen: StashScreen) -> None:
    """Until the change running has finished and the list was read again."""
    await until(
        pilot,
        lambda: (
            not screen.busy
            and not any(w.node is screen and not w.is_finished for w in screen.app.workers)
        ),
    )


def rows(screen: StashScreen) -> list[str]:
    table = screen.query_one("#stash-list", DataTable)
    return [" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def message(screen: StashScreen) -> str:
    return plain(screen.query_one("#stash-message"))


async def test_list_patch_and_focus_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_panel(pilot)
        assert rows(screen)[0].startswith("stash@{0} | WIP ")
        assert rows(screen)[0].endswith("| main | 1d ago | 1 file")
        assert rows(screen)[1] == "stash@{1} | half-done refactor | main | 3d ago | 2 files"
        assert "2 stashes" in plain(screen.query_one("#stash-title"))
        await until(pilot, lambda: "+world" in plain(screen.query_one("#stash-patch")))
        assert "M README.md" in plain(screen.query_one("#stash-files"))

        await pilot.press("j")  # the older stash: its files (the untracked one too) and patch
        await until(pilot, lambda: "+todo" in plain(screen.query_one("#stash-patch")))
        files = plain(screen.query_one("#stash-files"))
        assert "M app.py" in files and "? notes.txt" in files
        assert "return 2  # changed" in plain(screen.query_one("#stash-patch"))

        await pilot.press("enter")
        assert app.focused is screen.query_one("#stash-diff")
        await pilot.press("tab")
        assert app.focused is screen.query_one("#stash-list")
        await pilot.press("tab", "escape")  # esc in the patch: back to the list
        assert app.focused is screen.query_one("#stash-list")
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_apply_keeps_and_pop_drops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_panel(pilot)
        await pilot.press("j", "a")  # apply stash@{1}: app.py and the untracked notes.txt
        await idle(pilot, screen)
        assert "applied stash@{1}" in message(screen) and "the stash is kept" in message(screen)
        assert (repo / "app.py").read_text() == "def main():\n    return 2  # changed\n"
        assert (repo / "notes.txt").read_text() == "todo\n"
        assert len(stash_list(repo)) == 2

        await pilot.press("k", "p")  # pop stash@{0}: README.md, then it leaves the list
        await idle(pilot, screen)
        assert (repo / "README.md").read_text() == "hello\nworld\n"
        assert stash_list(repo) == ["On main: half-done refactor"]
        assert "popped stash@{0}" in message(screen) and "git stash store" in message(screen)
        assert len(rows(screen)) == 1

        # A second apply of the same stash would overwrite the changes it made: refused.
        await pilot.press("a")
        await idle(pilot, screen)
        assert "Nothing changed: local changes to" in message(screen)
        assert (repo / "app.py").read_text() == "def main():\n    return 2  # changed\n"


async def test_drop_asks_first_and_says_how_to_undo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    before = git(repo, "rev-parse", "stash@{1}")
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_panel(pilot)
        await pilot.press("j", "d")
        assert isinstance(app.screen, ConfirmScreen)
        assert "half-done refactor" in plain(app.screen.query_one("#confirm-body"))
        await pilot.press("escape")  # cancel: nothing dropped
        assert app.screen is screen and "Drop cancelled" in message(screen)
        assert len(stash_list(repo)) == 2

        await pilot.press("d", "y")
        await idle(pilot, screen)
        assert len(stash_list(repo)) == 1 and len(rows(screen)) == 1
        assert "half-done refactor" not in "".join(stash_list(repo))
        said = message(screen).replace("\n", "")
        assert f"Dropped stash@{{1}} ({before[:10]})" in said
        undo = said.split("To undo: ", 1)[1].strip()
        assert undo == f"git stash store -m 'On main: half-done refactor' {before}"
        command = shlex.split(undo)
        assert command[0] == "git"
        git(repo, *command[1:])
        assert git(repo, "rev-parse", "stash@{0}") == before


async def test_closing_the_panel_during_a_pop_still_finishes_and_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    # A smudge filter that takes its time: the pop is still writing README.md when esc lands.
    git(repo, "config", "filter.slow.smudge", "sleep 1; cat")
    git(repo, "config", "filter.slow.clean", "cat")
    commit_file(repo, ".gitattributes", "README.md filter=slow\n")
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_panel(pilot)
        await pilot.press("p", "escape")  # gone before the pop is done
        assert isinstance(app.screen, DashboardScreen)

        async def logged() -> list[tuple[str, bool]]:
            return [(h.action, h.ok) for h in await app.engine.recent_history("api")]

        for _ in range(100):
            if await logged():
                break
            await pilot.pause(0.05)
        assert await logged() == [("stash-pop", True)]
        assert len(stash_list(repo)) == 1
        assert (repo / "README.md").read_text() == "hello\nworld\n"


async def test_a_drop_after_the_list_changed_is_refused_and_logged_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_panel(pilot)
        # Someone stashes from a shell while the list is open: stash@{0} is another stash now.
        (repo / "app.py").write_text("def main():\n    return 3\n")
        git(repo, "stash", "-q")
        await pilot.press("d", "y")
        await idle(pilot, screen)
        assert "Not dropped: stash@{0} is now another stash" in message(screen)
        assert len(stash_list(repo)) == 3 and len(rows(screen)) == 3  # read again
        history = await app.engine.recent_history("api")
        assert [(h.action, h.ok) for h in history] == [("stash-drop", False)]


async def test_a_pop_that_conflicts_keeps_the_stash_and_opens_the_conflict_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = stashed_repo(tmp_path, monkeypatch)
    commit_file(repo, "README.md", "hello\nthere\n", "README changed since the stash")
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_panel(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.file)
        assert len(stash_list(repo)) == 2  # kept
        assert any("the stash is kept" in n.message for n in app._notifications)
        conflicts = app.screen
        assert isinstance(conflicts, ConflictScreen) and screen not in app.screen_stack
        assert "applying stash · 0/1 resolved" in plain(conflicts.query_one("#conflict-title"))
        assert "<<<<<<<" in (repo / "README.md").read_text()

        await pilot.press("t")  # the stashed side
        await until(
            pilot, lambda: not conflicts.busy and "world" in (repo / "README.md").read_text()
        )
        assert (repo / "README.md").read_text() == "hello\nworld\n"


async def test_no_stashes(tmp_path: Path) -> None:
    repo = tmp_path / "api"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "README.md", "hello\n")
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("S")  # from the dashboard: one line, no empty panel
        await pilot.pause()
        assert app.screen is dashboard(app)
        assert any("api has no stashes" in n.message for n in app._notifications)
        app.push_screen(StashScreen("api"))  # the panel itself, as after the last drop
        await until(pilot, lambda: isinstance(app.screen, StashScreen) and app.screen.loaded)
        screen = app.screen
        assert isinstance(screen, StashScreen)
        assert screen.query_one("#stash-empty").display
        assert "No stashes in api" in plain(screen.query_one("#stash-empty"))
        await pilot.press("d")  # nothing to drop: no dialog
        assert app.screen is screen and "No stashes in api" in message(screen)


# -- snapshots --------------------------------------------------------------------------------


@pytest.fixture()
def snap_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    repo = stashed_repo(tmp_path, monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield config_for(repo)


async def _open_and_settle(pilot: Pilot[int]) -> None:
    await wait_until_read(pilot)
    await pilot.press("S")
    app: GitwatchApp = pilot.app  # type: ignore[assignment]
    await until(pilot, lambda: isinstance(app.screen, StashScreen) and app.screen.loaded)
    await pilot.press("j")  # the older stash: two files, one untracked
    await until(pilot, lambda: "+todo" in plain(app.screen.query_one("#stash-patch")))
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot(snap_compare, snap_repo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    app = make_app(snap_repo, tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=_open_and_settle)
