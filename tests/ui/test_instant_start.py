"""The dashboard opens on the last run's statuses: every row at once, faint and "from 3m ago",
until the repo is read again."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

from textual.app import App
from textual.message import Message
from textual.screen import Screen

from gitwatch_tui.core.config import Config
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.messages import EngineUpdate
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


def fresh(app: GitwatchApp, name: str) -> bool:
    """Whether the repo's row shows a status read by this run."""
    row = dashboard(app).rows.get(name)
    return row is not None and row.status is not None and row.status.as_of is None


async def test_rows_come_from_the_snapshot_before_any_status_is_read(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    first = make_app(repo_set.config, tmp_path)
    async with first.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(first))
    # From now on docs' status never ends (git reads a FIFO for an ignore file).
    (repo_set.clones["docs"] / "sub").mkdir()
    os.mkfifo(repo_set.clones["docs"] / "sub" / ".gitignore")
    defaults = replace(repo_set.config.defaults, status_timeout=300)
    config = replace(repo_set.config, defaults=defaults)
    seen: list[Message] = []
    later = lambda: time.time() + 180  # noqa: E731 (three minutes after the last run)
    app = make_app(config, tmp_path, clock=later)
    async with app.run_test(size=(120, 35), message_hook=seen.append) as pilot:
        await until(pilot, lambda: fresh(app, "api"))
        updates = [m for m in seen if isinstance(m, EngineUpdate) and m.statuses]
        assert all(s.as_of is not None for s in updates[0].statuses.values())
        assert set(updates[0].statuses) == set(dashboard(app).rows)  # every row at once
        docs = dashboard(app).rows["docs"].status
        assert docs is not None and docs.as_of is not None and docs.untracked == 1
        assert "dirty · from 3m ago" in row_text(app, "docs")
        assert "from" not in row_text(app, "api")
        assert any("dim" in str(span.style) for span in table(app).get_row("docs")[0].spans)
        summary = plain(dashboard(app).query_one("#summary"))
        assert f"refreshing {len(dashboard(app).rows) - 1}/{len(dashboard(app).rows)}" in summary


def test_the_engine_is_imported_after_the_first_frame_not_before(tmp_path: Path) -> None:
    """What the dashboard imports and builds before its first frame leaves out the engine and
    what it alone needs (history, results), what only the head start's child runs (discovery,
    status reads, the snapshot file), what only `status` runs (fetch), and the theme files'
    YAML: paid after the first frame, or in the child, on a core of its own."""
    folder = tmp_path / "repos"
    folder.mkdir()
    probe = (
        "import os, sys\n"
        "from pathlib import Path\n"
        f"os.environ['XDG_STATE_HOME'] = {str(tmp_path / 'state')!r}\n"
        "import gitwatch_tui.cli\n"
        "from gitwatch_tui.core.config import Config, ScanRoot\n"
        "from gitwatch_tui.engine.head_start import HeadStart\n"
        "from gitwatch_tui.ui.app import build_app\n"
        f"config = Config(scan=(ScanRoot(path=Path({str(folder)!r})),))\n"
        "head_start = HeadStart.begin(config, snapshot='dashboard')\n"
        "head_start.swept.result(timeout=30)  # the child read everything: nothing left to do\n"
        f"app = build_app(config, state_dir=Path({str(tmp_path)!r}), where='here',\n"
        "                head_start=head_start)\n"
        "late = ('gitwatch_tui.engine.engine', 'gitwatch_tui.engine.history',\n"
        "        'gitwatch_tui.core.results', 'gitwatch_tui.engine.snapshot',\n"
        "        'gitwatch_tui.core.discovery', 'gitwatch_tui.core.status',\n"
        "        'gitwatch_tui.core.remotes', 'sqlite3', 'yaml')\n"
        "early = [m for m in late if m in sys.modules]\n"
        "assert not early, early\n"
        "assert app.theme == 'gitwatch-dark'\n"
        "app.engine  # made when first asked for\n"
        "app.read_theme_files()  # right after the first frame\n"
        "assert all(m in sys.modules for m in late), [m for m in late if m not in sys.modules]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_the_engine_starts_right_after_the_dashboards_first_frame(tmp_path: Path) -> None:
    """The app starts its engine from Textual's `_display` (a private hook, checked here): on
    the loop's turn after the dashboard's first frame, with no other event needed. A call
    inside a batch of updates writes nothing (the first call is one): the engine's imports
    waited on that and came before the frame, 0.2 s of a start at 10,000 repos."""
    assert list(inspect.signature(App._display).parameters) == ["self", "screen", "renderable"]
    assert "self._batch_count" in inspect.getsource(App._display)
    app = make_app(Config(), tmp_path)
    frames: list[str] = []
    started: list[int] = []
    original = App._display

    def display(self: App[object], screen: Screen[object], renderable: object) -> None:
        if renderable is not None and not self._batch_count:  # a frame written
            frames.append(type(screen).__name__)
        original(self, screen, renderable)  # type: ignore[arg-type]

    async def start() -> None:
        started.append(len(frames))

    app._start_engine = start  # type: ignore[method-assign]
    with patch.object(App, "_display", display):
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: bool(started))
    assert started[0] >= 1 and frames[0] == "DashboardScreen"  # after the frame, never before


async def test_the_dashboard_is_the_apps_only_screen_at_start(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    """Not a screen pushed over Textual's blank default one: two screens to compose, style
    and lay out before the first frame took 60 ms more of it."""
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all_read(app))
        assert [type(screen).__name__ for screen in app.screen_stack] == ["DashboardScreen"]
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        assert isinstance(app.screen, type(dashboard(app)))
